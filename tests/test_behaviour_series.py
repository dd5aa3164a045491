"""The series layer as every source and model relies on it (:mod:`forecaster.series`): durations, steps,
grids, gaps, duplicates and the refusal of what no output can carry (NaN, infinity).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.series import format_duration, infer_step, parse_duration, regularize, require_finite_forecast

T0 = pd.Timestamp("2026-03-05 20:00:00")
MIN = pd.Timedelta(minutes=1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("28d", 28 * 86400),
        ("2w", 14 * 86400),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4),
        (" 5M ", 300),
        (45, 45),
        (0.5, 0.5),
        (pd.Timedelta(minutes=3), 180),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pd.Timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["1h30", "30", "m", "", "0m", "0", 0, -5, "1.5h", "5 m", "5min", "-5m", True, "1y"]
)
def test_a_bad_duration_is_refused_saying_the_forms(text):
    with pytest.raises(DataError) as info:
        parse_duration(text)
    assert "duration" in str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (90 * 60, "1h30m"),
        (0, "0s"),
        (-5, "0s"),
        (86401, "1d1s"),
        (59, "59s"),
        (3600, "1h"),
        (7 * 86400, "7d"),
    ],
)
def test_format_duration_is_the_inverse(seconds, text):
    assert format_duration(pd.Timedelta(seconds=seconds)) == text
    if seconds > 0:
        assert parse_duration(text) == pd.Timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("spacing_s", "step_s"),
    [(60.0, 60), (59.997, 60), (60.4, 60), (300.2, 300), (0.2, 1), (15.0, 15)],
)
def test_the_step_is_the_median_spacing_rounded_to_whole_seconds(spacing_s, step_s):
    index = T0 + pd.to_timedelta(np.arange(10) * spacing_s, unit="s")
    assert infer_step(pd.DatetimeIndex(index)) == pd.Timedelta(seconds=step_s)


def test_the_median_ignores_a_few_gaps():
    index = pd.DatetimeIndex([T0 + k * MIN for k in (0, 1, 2, 3, 10, 11, 12)])
    assert infer_step(index) == MIN


def test_the_step_needs_three_timestamps():
    with pytest.raises(DataError, match="at least 3"):
        infer_step(pd.DatetimeIndex([T0, T0 + MIN]))


def _raw(offsets_s, values=None):
    index = pd.DatetimeIndex([T0 + pd.Timedelta(seconds=s) for s in offsets_s])
    values = np.arange(len(index), dtype=float) if values is None else values
    return pd.Series(values, index=index, name="load")


def test_a_regular_series_keeps_its_grid_values_and_name():
    out = regularize(_raw([0, 60, 120, 180]))
    assert out.index.freq == MIN and out.index[0] == T0
    assert out.tolist() == [0.0, 1.0, 2.0, 3.0] and out.name == "load" and out.dtype == float


def test_jittered_timestamps_snap_to_the_grid_anchored_at_the_first_point():
    out = regularize(_raw([7, 68, 126, 188, 247]))
    assert list(out.index) == [T0 + pd.Timedelta(seconds=7) + k * MIN for k in range(5)]
    assert out.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_a_utc_offset_becomes_utc_naive():
    index = pd.date_range("2026-03-05 21:00", periods=4, freq="1min", tz="Europe/Paris")
    out = regularize(pd.Series([1.0, 2, 3, 4], index=index))
    assert out.index.tz is None and out.index[0] == T0


@pytest.mark.parametrize(("gap_points", "filled"), [(15, True), (16, False), (1, True)])
def test_gaps_up_to_max_interp_gap_are_interpolated_longer_ones_stay_missing(gap_points, filled):
    offsets = [0, 60, *(60 * k for k in range(2 + gap_points, 6 + gap_points))]
    values = np.array([0.0, 10.0] + [10.0 + 10 * (gap_points + 1 + k) for k in range(4)])
    out = regularize(_raw(offsets, values), max_interp_gap="15m")
    missing = out.iloc[2 : 2 + gap_points]
    assert len(out) == gap_points + 6
    if filled:
        np.testing.assert_allclose(missing.to_numpy(), 10.0 + 10 * np.arange(1, gap_points + 1))
    else:
        assert missing.isna().all()


def test_a_step_given_explicitly_wins_and_no_interpolation_when_the_limit_is_below_a_step():
    out = regularize(_raw([0, 300, 900]), step="5m", max_interp_gap="4m")
    assert out.index.freq == pd.Timedelta(minutes=5) and np.isnan(out.iloc[2]) and len(out) == 4


@pytest.mark.parametrize(("policy", "value"), [("mean", 2.0), ("last", 3.0)])
def test_duplicated_timestamps_are_merged_only_when_asked(policy, value):
    raw = _raw([0, 60, 60, 120], np.array([0.0, 1.0, 3.0, 4.0]))
    with pytest.raises(DataError, match="duplicated timestamp"):
        regularize(raw)
    assert regularize(raw, duplicates=policy).iloc[1] == value


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (pd.Series([], dtype=float, index=pd.DatetimeIndex([])), "empty"),
        (_raw([0, 60, 120], np.array([1.0, np.inf, 2.0])), "infinite value at 2026-03-05 20:01:00"),
        (_raw([0, 60, 120], np.array([1.0, -np.inf, 2.0])), "infinite"),
        (_raw([0, 60, 120], np.array([1.0, np.nan, 2.0])), "missing (NaN) value at 2026-03-05 20:01:00"),
        (_raw([0, 120, 60]), "not sorted"),
        (pd.Series(["1", "x", "2"], index=_raw([0, 60, 120]).index), "non-numeric value 'x'"),
        (pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"]), "not made of timestamps"),
    ],
)
def test_bad_input_is_refused_naming_what_and_where(raw, said):
    with pytest.raises(DataError) as info:
        regularize(raw, name="history")
    assert said in str(info.value) and "history" in str(info.value)


def test_numeric_strings_are_numbers():
    out = regularize(pd.Series(["1", "2.5", "3"], index=_raw([0, 60, 120]).index))
    assert out.tolist() == [1.0, 2.5, 3.0]


def test_a_finite_forecast_passes_unchanged():
    frame = pd.DataFrame({"p50": [1.0, 2.0], "p90": [2.0, 3.0]}, index=[T0, T0 + MIN])
    assert require_finite_forecast(frame) is frame


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_forecast_with_nan_or_infinity_is_refused_naming_the_first(bad):
    frame = pd.DataFrame({"p50": [1.0, 2.0], "p90": [2.0, bad]}, index=[T0, T0 + MIN])
    history = pd.Series([1.0, 5e30], index=[T0 - MIN, T0])
    with pytest.raises(DataError) as info:
        require_finite_forecast(frame, history=history)
    text = str(info.value)
    assert "p90 at 2026-03-05 20:01:00" in text and "5e+30" in text
