"""Series behaviours that campaign 3 of the planted bugs showed no test held (bench/results/planted3.md).

Through :func:`forecaster.series.infer_step` and :func:`forecaster.series.regularize` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.series import infer_step, regularize


@pytest.mark.parametrize(
    ("description", "spacing"),
    [
        ("a source whose clock runs a few ms fast", pd.Timedelta(seconds=60) - pd.Timedelta(milliseconds=3)),
        ("a spacing just under the half second above", pd.Timedelta(seconds=60, milliseconds=499)),
        ("a spacing just over the half second below", pd.Timedelta(seconds=59, milliseconds=501)),
    ],
)
def test_the_step_is_the_median_spacing_rounded_to_the_nearest_second(description, spacing):
    """A 1-minute source that reports slightly early or late is on a 1-minute grid, not a 59 s one."""
    index = pd.DatetimeIndex([pd.Timestamp("2026-03-02") + i * spacing for i in range(50)])

    assert infer_step(index) == pd.Timedelta(minutes=1), description
    regular = regularize(pd.Series(np.arange(50.0), index=index))
    assert pd.Timedelta(regular.index.freq) == pd.Timedelta(minutes=1)
    assert len(regular) == 50 and not regular.isna().any(), description
