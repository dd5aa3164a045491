"""The forecast body's timestamps: formatted in one numpy call, exactly as ``strftime`` formats them."""

import pandas as pd
import pytest

from forecaster.api.cache import json_timestamps

STRFTIME = "%Y-%m-%dT%H:%M:%SZ"


@pytest.mark.parametrize(
    ("description", "index"),
    [
        ("a 6-hour view at 1 minute", pd.date_range("2026-01-01", periods=360, freq="1min")),
        ("empty", pd.DatetimeIndex([])),
        ("sub-seconds are cut, across a day", pd.date_range("1999-12-31 23:59:59.9", periods=3, freq="1s")),
        ("before 1970, sub-seconds cut", pd.date_range("1960-01-01 00:00:00.5", periods=2, freq="1s")),
        ("a second-resolution index", pd.DatetimeIndex(["2026-03-01 12:34:56"]).as_unit("s")),
        ("irregular", pd.DatetimeIndex(["2026-01-01 00:00", "2026-01-01 00:07:30", "2026-02-01 23:59:59"])),
        (
            "tz-aware (never in the service): strftime's meaning",
            pd.date_range("2026-01-01", periods=3, freq="1h", tz="Europe/Paris"),
        ),
    ],
)
def test_timestamps_are_formatted_as_strftime_formats_them(description, index):
    got = json_timestamps(index)
    assert got == list(index.strftime(STRFTIME)), description
    assert all(isinstance(t, str) for t in got)
