"""Regular grids, gaps and validation (forecaster.series), table-driven."""

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.series import format_duration, infer_step, parse_duration, regularize


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("28d", 28 * 86400), ("1w", 7 * 86400), (60, 60)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pd.Timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "-5m", 0, "1h-"])
def test_parse_duration_rejects(text):
    with pytest.raises(DataError):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(90, "1m30s"), (3600, "1h"), (86400 + 60, "1d1m")])
def test_format_duration_round_trips(seconds, text):
    assert format_duration(pd.Timedelta(seconds=seconds)) == text
    assert parse_duration(text) == pd.Timedelta(seconds=seconds)


def _raw(stamps, values):
    return pd.Series(values, index=pd.to_datetime(stamps), name="x")


def test_regular_series_is_kept_and_gets_a_freq():
    s = _raw(["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:02"], [1.0, 2.0, 3.0])
    out = regularize(s)
    assert out.index.freq == pd.Timedelta("1min")
    assert out.tolist() == [1.0, 2.0, 3.0]


def test_offset_grid_is_kept_and_jitter_snaps():
    # Tweets are stamped :x2:53; CloudWatch jitters by seconds: both land on the grid anchored at the start.
    s = _raw(
        ["2026-01-01 00:02:53", "2026-01-01 00:07:53", "2026-01-01 00:12:55", "2026-01-01 00:17:51"],
        [1.0, 2.0, 3.0, 4.0],
    )
    out = regularize(s)
    assert out.index[0] == pd.Timestamp("2026-01-01 00:02:53")
    assert out.index[-1] == pd.Timestamp("2026-01-01 00:17:53")
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("missing", "max_gap", "nan_expected"),
    [
        (2, "15m", 0),  # short gap: interpolated
        (20, "15m", 20),  # long gap: masked, never zero
        (15, "15m", 0),  # exactly the limit: interpolated
        (16, "15m", 16),
    ],
)
def test_gaps(missing, max_gap, nan_expected):
    index = pd.date_range("2026-01-01", periods=100, freq="1min")
    values = np.arange(1, 101, dtype=float)
    keep = np.ones(100, bool)
    keep[40 : 40 + missing] = False
    out = regularize(pd.Series(values[keep], index=index[keep]), step="1m", max_interp_gap=max_gap)
    assert len(out) == 100
    assert int(out.isna().sum()) == nan_expected
    if nan_expected == 0:
        np.testing.assert_allclose(out.to_numpy(), values)  # linear data: interpolation is exact
    assert not (out == 0).any()  # nothing is invented as zero


@pytest.mark.parametrize(
    ("stamps", "values", "message"),
    [
        (["2026-01-01 00:01", "2026-01-01 00:00", "2026-01-01 00:02"], [1, 2, 3], "not sorted"),
        (["2026-01-01 00:00", "2026-01-01 00:00", "2026-01-01 00:01"], [1, 2, 3], "duplicated timestamp"),
        (["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:02"], [1, np.nan, 3], "missing (NaN)"),
        (["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:02"], [1, np.inf, 3], "infinite"),
        (["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:02"], [1, "abc", 3], "non-numeric"),
    ],
)
def test_bad_input_is_named(stamps, values, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        regularize(_raw(stamps, values))


def test_duplicates_can_be_merged():
    s = _raw(
        ["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:01", "2026-01-01 00:02"], [1.0, 2.0, 4.0, 5.0]
    )
    assert regularize(s, duplicates="mean").tolist() == [1.0, 3.0, 5.0]
    assert regularize(s, duplicates="last").tolist() == [1.0, 4.0, 5.0]


def test_empty_and_too_short():
    with pytest.raises(DataError, match="empty"):
        regularize(pd.Series([], index=pd.DatetimeIndex([]), dtype=float))
    with pytest.raises(DataError, match="infer the step"):
        infer_step(pd.DatetimeIndex(["2026-01-01"]))


def test_timezone_aware_input_becomes_utc_naive():
    idx = pd.date_range("2026-01-01 01:00", periods=3, freq="1min", tz="Europe/Berlin")
    out = regularize(pd.Series([1.0, 2.0, 3.0], index=idx))
    assert out.index.tz is None
    assert out.index[0] == pd.Timestamp("2026-01-01 00:00")
