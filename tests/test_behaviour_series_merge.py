"""Merging samples that land on one grid point (:func:`forecaster.series.regularize`): duplicated timestamps
are averaged (``mean``, the arithmetic mean of all of them, not a middle value) or the last one kept; two
jittered samples snapping to one slot keep the later one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.series import regularize

T0 = pd.Timestamp("2026-03-05 20:00:00")


def _raw(offsets_s, values):
    index = pd.DatetimeIndex([T0 + pd.Timedelta(seconds=s) for s in offsets_s])
    return pd.Series(np.asarray(values, dtype=float), index=index, name="load")


@pytest.mark.parametrize(("policy", "value"), [("mean", 3.0), ("last", 6.0)])
def test_three_duplicates_are_merged_by_their_mean_or_the_last(policy, value):
    # Three samples at 20:01 (1, 2 and 6): mean 3, median 2, last 6.
    raw = _raw([0, 60, 60, 60, 120, 180], [0.0, 1.0, 2.0, 6.0, 4.0, 5.0])
    out = regularize(raw, duplicates=policy)
    assert out.iloc[1] == value
    np.testing.assert_allclose(out.to_numpy()[[0, 2, 3]], [0.0, 4.0, 5.0])


def test_two_jittered_samples_snapping_to_one_slot_keep_the_later():
    raw = _raw([0, 60, 118, 122, 180, 240], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    out = regularize(raw, step="1m")
    assert out.iloc[2] == 3.0 and len(out) == 5
