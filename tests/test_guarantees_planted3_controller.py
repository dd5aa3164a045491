"""Controller behaviours that campaign 3 of the planted bugs showed no test held (bench/results/planted3.md).

Through public surfaces only: :func:`forecaster.prescaler.forecasts.fetch_forecast` with a scripted provider.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.prescaler.forecasts import ForecastResult, fetch_forecast
from forecaster.prescaler.policy import parse_policy
from tests.prescaler_helpers import NOW, FakeForecasts, forecast_frame, history, policy


@pytest.mark.parametrize(
    ("description", "row", "column"),
    [
        ("one NaN step far beyond the planning window", 25, "p50"),
        ("one NaN in the planned quantile", 2, "p90"),
        ("the first step's median", 0, "p50"),
    ],
)
def test_a_forecast_with_any_nan_is_unusable(description, row, column):
    """A model that returns NaN anywhere is broken: the forecast is reported unusable (the controller then
    fails safe and does not keep it as the last good forecast), not only when every value is NaN."""
    frame = forecast_frame(NOW, p90=300.0)
    frame.iloc[row, list(frame.columns).index(column)] = np.nan
    provider = FakeForecasts(**{"live-api": ForecastResult(frame=frame, history=history(NOW))})

    result, problem = fetch_forecast(provider, parse_policy(policy()), NOW)

    assert result is not None
    assert problem == "the forecast contains NaN", description


def test_a_forecast_without_nan_is_usable():
    provider = FakeForecasts(**{"live-api": 300.0})

    result, problem = fetch_forecast(provider, parse_policy(policy()), NOW)

    assert result is not None and problem is None
    assert pd.Timestamp(result.frame.index[0]) == NOW + pd.Timedelta(minutes=1)
