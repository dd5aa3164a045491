"""Series-layer behaviours that campaign 2 of the planted bugs showed no test held (bench/results/planted2.md).

Through the public functions of :mod:`forecaster.series`: a setting mistyped is an error naming it, and no
forecast that is not a finite number leaves the output layers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.series import parse_duration, require_finite_forecast


@pytest.mark.parametrize("text", ["1h30", "90", "5m3", "2d 4"])
def test_a_duration_ending_in_a_bare_number_is_an_error_not_truncated(text):
    """'1h30' is a typo for 1h30m (or 1h30s): silently reading it as 1h would change a setting unseen."""
    with pytest.raises(DataError, match="cannot parse duration") as info:
        parse_duration(text)
    assert "1h30m" in str(info.value)  # the hint shows the forms that work


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_forecast_with_an_infinite_or_missing_value_is_refused(bad):
    index = pd.date_range("2026-03-02", periods=3, freq="5min")
    frame = pd.DataFrame({"p50": [1.0, bad, 3.0], "p90": [2.0, 3.0, 4.0]}, index=index)
    with pytest.raises(DataError, match="not a finite number") as info:
        require_finite_forecast(frame)
    assert f"p50 at {index[1]}" in str(info.value)
    finite = frame.fillna(0.0).replace([np.inf, -np.inf], 0.0)
    assert require_finite_forecast(finite) is finite
