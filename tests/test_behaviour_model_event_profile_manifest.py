"""An event profile read back from a manifest (:meth:`forecaster.event_profile.EventProfile.from_dict`): every
part that must fit the others is checked, one damage at a time, so that a damaged model is refused when it is
loaded rather than forecasting the wrong uplift; values at their bounds are read as they are.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.event_profile import MAX_LATE_S, EventProfile


def _profile(**over) -> EventProfile:  # noqa: ANN003
    base = dict(
        kinds=("concert", "match"),
        size_scale=(1000.0, 0.0),
        events_seen=(12, 20),
        step_s=300.0,
        uplift=np.array([[0.0, 1.0, 0.5], [0.0, 3.0, 1.0]]),
        daily_shape=np.array([0.8, 1.2]),
        upper_ratio=np.array([[1.5] * 6, [1.2] * 6]),
        lag_knots_s=np.array([0.0, 60.0, 300.0]),
        still_comes=(0.9, 0.5),
        young_upper=(1.0, 3.0),
        late_s=MAX_LATE_S,
    )
    base.update(over)
    return EventProfile(**base)


def test_a_profile_at_its_bounds_round_trips():
    p = _profile()
    back = EventProfile.from_dict(p.to_dict())
    assert (back.kinds, back.size_scale, back.events_seen, back.step_s) == (
        p.kinds,
        p.size_scale,
        (12, 20),
        300.0,
    )
    assert (back.late_s, back.still_comes, back.young_upper) == (MAX_LATE_S, (0.9, 0.5), (1.0, 3.0))
    np.testing.assert_array_equal(back.knots_s, [0.0, 60.0, 300.0])
    np.testing.assert_array_equal(back.daily_shape, [0.8, 1.2])
    np.testing.assert_array_equal(back.upper_ratio, p.upper_ratio)
    assert EventProfile.from_dict(_profile(late_s=0.0, still_comes=(1.0, 0.0)).to_dict()).late_s == 0.0
    old = {
        k: v
        for k, v in p.to_dict().items()
        if k not in ("late_s", "still_comes", "young_upper", "lag_knots_s")
    }
    older = EventProfile.from_dict(old)  # saved before those were learnt: their defaults
    assert older.still_comes is None and older.young_upper is None and older.lag_knots_s is None
    np.testing.assert_array_equal(older.knots_s, [0.0, 300.0, 600.0])


@pytest.mark.parametrize(
    "change",
    [
        {"kinds": []},
        {"uplift": [[0.0, 1.0, 0.5]]},
        {"size_scale": [1000.0]},
        {"events_seen": [12]},
        {"daily_shape": [[1.0]]},
        {"daily_shape": []},
        {"daily_shape": [1.0, float("inf")]},
        {"upper_ratio": [[1.5] * 6]},
        {"upper_ratio": [[1.5] * 6, [float("nan")] * 6]},
        {"upper_ratio": [[1.5] * 6, [float("inf")] * 6]},
        {"late_s": -1.0},
        {"late_s": MAX_LATE_S + 1.0},
        {"still_comes": [0.5, -0.1]},
        {"young_upper": [1.0]},
        {"young_upper": [0.99, 2.0]},
        {"young_upper": [1.0, 3.01]},
        {"lag_knots_s": [0.0, 60.0]},
        {"lag_knots_s": [30.0, 60.0, 300.0]},
        {"lag_knots_s": [0.0, 300.0, 60.0]},
        {"lag_knots_s": [0.0, 60.0, float("nan")]},
        {"lag_knots_s": [0.0, 60.0, float("inf")]},
    ],
)
def test_a_damaged_profile_is_refused(change):
    with pytest.raises(ValueError, match="do not fit together"):
        EventProfile.from_dict({**_profile().to_dict(), **change})
