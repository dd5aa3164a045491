"""The output layers' last check, found untested by mutation testing (bench/mutation.py series).

:func:`forecaster.series.require_finite_forecast` passes a finite forecast through untouched and refuses one
holding NaN or infinity with an error naming the first bad value (column, time, value), the size the history
reached when there is one, and what to do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.series import require_finite_forecast

INDEX = pd.date_range("2026-03-02 12:05", periods=3, freq="5min")
HINT = "check the history's values and their unit; a model forecasts values of the size it was trained on"


def _forecast(p50, p90) -> pd.DataFrame:
    return pd.DataFrame({"p50": p50, "p90": p90}, index=INDEX)


def test_a_finite_forecast_passes_through_unchanged():
    frame = _forecast([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert require_finite_forecast(frame) is frame
    assert require_finite_forecast(frame, history=pd.Series([np.nan, 5.0])) is frame


@pytest.mark.parametrize(
    ("description", "p50", "p90", "history", "problem"),
    [
        (
            "a NaN, no history: named by column and time",
            [1.0, np.nan, 3.0],
            [2.0, 3.0, 4.0],
            None,
            "the forecast is not a finite number (p50 at 2026-03-02 12:10:00 is nan)",
        ),
        (
            "the first bad value in time order, then column order",
            [1.0, 2.0, np.inf],
            [2.0, -np.inf, np.nan],
            None,
            "the forecast is not a finite number (p90 at 2026-03-02 12:10:00 is -inf)",
        ),
        (
            "with a history: the largest absolute value it reached (NaN skipped)",
            [np.nan, 2.0, 3.0],
            [2.0, 3.0, 4.0],
            pd.Series([3.0, np.nan, -12345.0, 7.0]),
            "the forecast is not a finite number (p50 at 2026-03-02 12:05:00 is nan): the history's values "
            "reach 1.23e+04, beyond what the model can forecast",
        ),
        (
            "a history of NaN only says nothing about its size",
            [1.0, 2.0, 3.0],
            [2.0, 3.0, np.nan],
            pd.Series([np.nan, np.nan]),
            "the forecast is not a finite number (p90 at 2026-03-02 12:15:00 is nan)",
        ),
    ],
)
def test_a_non_finite_forecast_is_refused_naming_the_first_bad_value(description, p50, p90, history, problem):
    with pytest.raises(DataError) as err:
        require_finite_forecast(_forecast(p50, p90), history=history)
    assert (err.value.problem, err.value.hint) == (problem, HINT), description


def test_integer_forecasts_are_checked_as_numbers():
    frame = pd.DataFrame({"p50": [1, 2, 3]}, index=INDEX)
    assert require_finite_forecast(frame) is frame
