"""What a waiting calendar entry holds (:mod:`forecaster.event_profile`): the table of P(the stream still comes |
not yet) learnt from past delays, read at whole minutes of waiting, and the delays it leaves out.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.event_profile import DETECT_S, StartState, judge_start, still_comes_table


def _table(delays_min, never=0):  # noqa: ANN001, ANN202
    return still_comes_table([60.0 * d for d in delays_min], never_started=never, max_gap_s=300.0)


def test_the_table_stops_at_the_first_gap_not_the_last():
    # 0..3 minutes late and one entry that never came, then two misread starts 10 and 20 minutes late, each
    # more than 5 minutes after the one before: both are left out, not only the last.
    np.testing.assert_allclose(_table([0, 1, 2, 3, 10, 20], never=1), [3 / 4, 2 / 3, 1 / 2])
    np.testing.assert_allclose(_table([0, 1, 2, 3], never=1), [3 / 4, 2 / 3, 1 / 2])


def test_delays_outside_the_search_and_a_negative_count_of_cancelled_entries_change_nothing():
    np.testing.assert_allclose(_table([-5, 0, 1, 2, 3, 31], never=1), _table([0, 1, 2, 3], never=1))
    np.testing.assert_allclose(_table([0, 1, 2, 3], never=-4), [1.0, 1.0, 1.0])  # none cancelled: held whole


def test_cancelled_entries_lower_every_share():
    # m = 0: 3 of 4 started later than 0 minutes, against those 3 and 2 that never came: 3 / 5.
    np.testing.assert_allclose(_table([0, 1, 2, 3], never=2), [3 / 5, 2 / 4, 1 / 3])


@pytest.mark.parametrize(
    ("waited_s", "share"),
    [(0.0, 0.8), (59.0, 0.8), (60.0, 0.6), (90.0, 0.6), (119.0, 0.6), (150.0, 0.5), (180.0, 0.0)],
)
def test_a_waiting_entry_holds_the_share_of_the_whole_minutes_it_has_waited(waited_s, share):
    # The rise of a start at 600 s shows from 600 + DETECT_S; past that, m whole minutes of nothing.
    got = judge_start(
        announced_s=600.0,
        last_s=600.0 + DETECT_S + waited_s,
        late_s=360.0,
        seen=(0.0, 600.0),
        still_comes=(0.8, 0.6, 0.5),
    )
    if share:
        assert got == StartState("waiting", share, 600.0 + waited_s, True)
    else:
        assert got == StartState("cancelled", 0.0, 600.0, False)
