"""The series layer's contract, table-driven: every refusal names the series, the value or timestamp at fault, and
what to do; durations parse and print exactly; samples snap to the grid with the later one winning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.series import format_duration, infer_step, parse_duration, regularize

FORMS = "use forms like '90s', '5m', '1h30m', '28d'"
STAMPS = ["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:02"]


def _raw(stamps, values, name="x") -> pd.Series:
    return pd.Series(values, index=pd.to_datetime(stamps), name=name)


def _refusal(call) -> tuple[str, str | None]:
    with pytest.raises(DataError) as err:
        call()
    return err.value.problem, err.value.hint


@pytest.mark.parametrize(
    ("value", "problem", "hint"),
    [
        ("", "cannot parse duration ''", FORMS),
        ("5", "cannot parse duration '5'", FORMS),
        ("m", "cannot parse duration 'm'", FORMS),
        ("5x", "cannot parse duration '5x'", FORMS),
        ("-5m", "cannot parse duration '-5m'", FORMS),
        ("0m", "cannot parse duration '0m'", FORMS),
        ("1h-", "cannot parse duration '1h-'", FORMS),
        (True, "cannot parse duration True", FORMS),
        (0, "duration 0 must be positive", "give seconds > 0 or e.g. '5m'"),
        (-3.5, "duration -3.5 must be positive", "give seconds > 0 or e.g. '5m'"),
    ],
)
def test_bad_durations_are_named_with_the_accepted_forms(value, problem, hint):
    assert _refusal(lambda: parse_duration(value)) == (problem, hint)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (" 2H ", 7200),
        (1.5, 1.5),
        (1, 1),
        ("1s", 1),
        ("1d1h1m1s", 90061),
        ("2w", 14 * 86400),
        (pd.Timedelta("7s"), 7),
    ],
)
def test_durations_parse(value, seconds):
    assert parse_duration(value) == pd.Timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (61, "1m1s"),
        (3661, "1h1m1s"),
        (90061, "1d1h1m1s"),
        (7 * 86400, "7d"),
    ],
)
def test_durations_print(seconds, text):
    assert format_duration(pd.Timedelta(seconds=seconds)) == text


def test_step_inference():
    assert _refusal(lambda: infer_step(pd.DatetimeIndex(["2026-01-01", "2026-01-02"]))) == (
        "cannot infer the step from 2 timestamps",
        "give at least 3 points",
    )
    assert infer_step(pd.date_range("2026-01-01", periods=3, freq="90s")) == pd.Timedelta("90s")
    # Sub-second spacing rounds up to the smallest step, one second.
    assert infer_step(
        pd.DatetimeIndex(["2026-01-01 00:00:00", "2026-01-01 00:00:00.4", "2026-01-01 00:00:00.8"])
    ) == pd.Timedelta("1s")
    # The median spacing: one long gap does not change the step.
    index = pd.DatetimeIndex(["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:02", "2026-01-01 01:00"])
    assert infer_step(index) == pd.Timedelta("1min")


@pytest.mark.parametrize(
    ("series", "name", "problem", "hint"),
    [
        (
            _raw(STAMPS, [1, np.nan, 3]),
            None,
            "x: missing (NaN) value at 2026-01-01 00:01:00",
            "drop that row; gaps in the timestamps are handled for you",
        ),
        (
            _raw(STAMPS, [1, np.nan, 3]),
            "cpu",
            "cpu: missing (NaN) value at 2026-01-01 00:01:00",
            "drop that row; gaps in the timestamps are handled for you",
        ),
        (
            _raw(STAMPS, [1, np.nan, 3], name=None),
            None,
            "series: missing (NaN) value at 2026-01-01 00:01:00",
            "drop that row; gaps in the timestamps are handled for you",
        ),
        (
            _raw(STAMPS, [1, 2, np.inf]),
            None,
            "x: infinite value at 2026-01-01 00:02:00",
            "remove or fix that row",
        ),
        (
            _raw(STAMPS, [1, "abc", 3]),
            None,
            "x: non-numeric value 'abc' at 2026-01-01 00:01:00",
            "every value must be a number",
        ),
        (
            _raw(["2026-01-01 00:01", "2026-01-01 00:00", "2026-01-01 00:02"], [1, 2, 3]),
            None,
            "x: timestamps are not sorted: 2026-01-01 00:00:00 comes after 2026-01-01 00:01:00",
            "sort the rows by timestamp",
        ),
        (
            # A duplicate first, the disorder later: the message names the disorder, where it is.
            _raw(
                ["2026-01-01 00:00", "2026-01-01 00:00", "2026-01-01 00:02", "2026-01-01 00:01"], [1, 2, 3, 4]
            ),
            None,
            "x: timestamps are not sorted: 2026-01-01 00:01:00 comes after 2026-01-01 00:02:00",
            "sort the rows by timestamp",
        ),
        (
            _raw(["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:01"], [1, 2, 3]),
            None,
            "x: duplicated timestamp 2026-01-01 00:01:00",
            "remove duplicates, or merge them (--on-duplicate mean|last)",
        ),
        (
            pd.Series([], index=pd.DatetimeIndex([]), dtype=float, name="cpu"),
            None,
            "cpu: the series is empty",
            "check the query or file",
        ),
    ],
)
def test_bad_series_are_refused_naming_the_series_and_the_row(series, name, problem, hint):
    assert _refusal(lambda: regularize(series, name=name)) == (problem, hint)


def test_an_index_that_is_not_time_is_refused():
    problem, _ = _refusal(lambda: regularize(pd.Series([1.0, 2.0], index=["a", "b"])))
    assert problem.startswith("series: the index is not made of timestamps (")


def test_two_samples_in_one_slot_the_later_wins():
    s = _raw(
        [
            "2026-01-01 00:00:00",
            "2026-01-01 00:01:00",
            "2026-01-01 00:01:20",
            "2026-01-01 00:02:00",
            "2026-01-01 00:03:00",
        ],
        [1.0, 2.0, 9.0, 3.0, 4.0],
    )
    out = regularize(s, step="1m")
    assert out.tolist() == [1.0, 9.0, 3.0, 4.0]
    assert out.index.freq == pd.Timedelta("1min") and out.name == "x"


def test_duplicates_merge_keeps_the_grid_and_the_values_around():
    s = _raw(
        ["2026-01-01 00:00", "2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:03"], [1.0, 3.0, 5.0, 9.0]
    )
    assert regularize(s, duplicates="mean", step="1m").tolist() == [2.0, 5.0, 7.0, 9.0]
    assert regularize(s, duplicates="last", step="1m").tolist() == [3.0, 5.0, 7.0, 9.0]


def test_no_interpolation_when_the_limit_is_shorter_than_a_step():
    index = pd.date_range("2026-01-01", periods=6, freq="1min")
    keep = [True, True, False, True, True, True]
    out = regularize(pd.Series(np.arange(6.0)[keep], index=index[keep]), step="1m", max_interp_gap="30s")
    assert np.isnan(out.iloc[2]) and out.drop(out.index[2]).tolist() == [0.0, 1.0, 3.0, 4.0, 5.0]
    filled = regularize(pd.Series(np.arange(6.0)[keep], index=index[keep]), step="1m", max_interp_gap="1m")
    assert filled.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_two_gaps_one_short_one_long():
    index = pd.date_range("2026-01-01", periods=20, freq="1min")
    keep = np.ones(20, bool)
    keep[3] = False  # 1 point: filled
    keep[8:12] = False  # 4 points: longer than 3 minutes, stays NaN
    out = regularize(pd.Series(np.arange(20.0)[keep], index=index[keep]), step="1m", max_interp_gap="3m")
    assert out.iloc[3] == 3.0
    assert out.iloc[8:12].isna().all() and out.isna().sum() == 4
