"""Windows by hand: on series of a few points every model input is computed here independently and compared
exactly (the axis convention of forecaster.windows: origin t, lookback y[t-L:t], target y[t:t+H])."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.windows import Scaler, WindowSpec, calendar_features, make_windows, valid_origins

MONDAY = pd.Timestamp("2026-01-05 00:00")  # a Monday: the week phase starts here
STEP = pd.Timedelta(minutes=5)
UNIT = Scaler(floor=0.01, log_level_mean=0.0, log_level_std=1.0, nonnegative=True)


def _index(n: int) -> pd.DatetimeIndex:
    return pd.date_range(MONDAY, periods=n, freq=STEP, unit="ns")


def _cal(k: int) -> list[float]:
    """Calendar features of the k-th step after Monday 00:00, computed independently."""
    seconds = k * STEP.total_seconds()
    day, week = 2 * np.pi * seconds / 86400, 2 * np.pi * seconds / (7 * 86400)
    return [np.sin(day), np.cos(day), np.sin(week), np.cos(week)]


def test_calendar_features_by_hand():
    index = pd.DatetimeIndex(["2026-01-05 00:00", "2026-01-05 06:00", "2026-01-07 12:00", "2026-01-11 18:00"])
    got = calendar_features(index)
    assert got.shape == (4, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got[0], [0, 1, 0, 1], atol=1e-6)  # Monday midnight
    np.testing.assert_allclose(got[1], [1, 0, np.sin(np.pi / 14), np.cos(np.pi / 14)], atol=1e-6)
    np.testing.assert_allclose(got[2], [0, -1, np.sin(5 * np.pi / 7), np.cos(5 * np.pi / 7)], atol=1e-6)
    np.testing.assert_allclose(got[3][:2], [-1, 0], atol=1e-6)


def test_windows_without_season_by_hand():
    values = np.arange(1.0, 9.0)  # 1..8
    spec = WindowSpec(lookback=3, horizon=2, season=0)
    w = make_windows(
        values, _index(8), spec=spec, scaler=UNIT, origins=np.array([3, 5]), with_target=True, step=STEP
    )
    # origin 3: lookback [1, 2, 3], level 2; origin 5: lookback [3, 4, 5], level 4
    np.testing.assert_allclose(w.scale, [2.0, 4.0])
    np.testing.assert_allclose(w.past[0, :, 0], [0.5, 1.0, 1.5])
    np.testing.assert_allclose(w.past[0, :, 1], [1.5, 1.5, 1.5])  # no season: the last scaled value
    np.testing.assert_allclose(w.future[0, :, 0], [1.5, 1.5])
    np.testing.assert_allclose(w.target, [[2.0, 2.5], [1.5, 1.75]])
    np.testing.assert_allclose(w.level[:, 0], np.log([2.0, 4.0]), rtol=1e-6)
    np.testing.assert_allclose(w.past[0, :, 2:], [_cal(k) for k in (0, 1, 2)], atol=1e-6)
    np.testing.assert_allclose(w.future[1, :, 1:], [_cal(k) for k in (5, 6)], atol=1e-6)
    assert w.origins.tolist() == [3, 5] and w.past.dtype == np.float32 and w.scale.dtype == np.float64
    assert w.past.shape == (2, 3, 6) and w.future.shape == (2, 2, 5) and w.level.shape == (2, 1)


def test_calendar_runs_past_the_end_of_the_series_at_prediction_time():
    values = np.arange(1.0, 7.0)
    spec = WindowSpec(lookback=3, horizon=4, season=0)
    w = make_windows(
        values, _index(6), spec=spec, scaler=UNIT, origins=np.array([6]), with_target=False, step=STEP
    )
    assert w.target is None
    np.testing.assert_allclose(w.future[0, :, 1:], [_cal(k) for k in (6, 7, 8, 9)], atol=1e-6)


def test_daily_lags_by_hand_with_clipping_and_a_horizon_longer_than_a_season():
    values = np.array([1.0, 3.0, 1000.0, 4.0, 6.0, 2.0, 8.0, 9.0])
    spec = WindowSpec(lookback=2, horizon=5, season=4)  # a "day" of 4 steps
    w = make_windows(
        values, _index(8), spec=spec, scaler=UNIT, origins=np.array([6]), with_target=False, step=STEP
    )
    # lookback y[4:6] = [6, 2], level 4; lags y[0:2] = [1, 3], lag level 2
    np.testing.assert_allclose(w.scale, [4.0])
    np.testing.assert_allclose(w.past[0, :, 0], [1.5, 0.5])
    np.testing.assert_allclose(w.past[0, :, 1], [0.5, 1.5])
    # future lags y[2], y[3], y[4], y[5], then y[6 - 4 - 4] = y[2] again (never y[6], the future); 1000/2 clips at 10
    np.testing.assert_allclose(w.future[0, :, 0], [10.0, 2.0, 3.0, 1.0, 10.0])


def test_the_level_input_is_normalised_and_clipped():
    values = np.array([1.0, 1.0, 1.0, 1.0, 1e9, 1e9, 1e9, 1e9])
    scaler = Scaler(floor=0.01, log_level_mean=np.log(10.0), log_level_std=0.5, nonnegative=True)
    spec = WindowSpec(lookback=2, horizon=1, season=0)
    w = make_windows(
        values, _index(8), spec=spec, scaler=scaler, origins=np.array([2, 3, 6]), with_target=False, step=STEP
    )
    low = (np.log(1.0) - np.log(10.0)) / 0.5  # -4.6: clipped to -4
    assert w.level[:, 0].tolist() == pytest.approx([max(low, -4.0), -4.0, 4.0])


def test_idle_windows_use_the_floor():
    values = np.zeros(8)
    spec = WindowSpec(lookback=2, horizon=2, season=2)
    w = make_windows(
        values, _index(8), spec=spec, scaler=UNIT, origins=np.array([4]), with_target=True, step=STEP
    )
    assert w.scale.tolist() == [0.01]
    assert np.isfinite(w.past).all() and np.isfinite(w.future).all() and np.isfinite(w.target).all()


def test_scaler_fit_by_hand():
    values = np.array([1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 3.0])
    scaler = Scaler.fit(values, lookback=2)
    levels = np.array([1.0, 1.0, 1.0, 2.0, 3.0, 3.0])  # mean |y| of the 2 points before indices 2..7
    assert scaler.floor == pytest.approx(2e-3)
    assert scaler.log_level_mean == pytest.approx(np.mean(np.log(levels)))
    assert scaler.log_level_std == pytest.approx(max(np.std(np.log(levels)), 0.5))
    assert scaler.nonnegative is True
    assert scaler.to_dict() == {
        "floor": scaler.floor,
        "log_level_mean": scaler.log_level_mean,
        "log_level_std": scaler.log_level_std,
        "nonnegative": True,
    }
    steady = Scaler.fit(np.full(10, 5.0), lookback=2)
    assert steady.log_level_std == 0.5  # the floor on the spread
    assert steady.log_level_mean == pytest.approx(np.log(5.0))
    spread = Scaler.fit(np.array([1.0, 1.0, 100.0, 100.0, 1.0, 1.0, 100.0, 100.0]), lookback=1)
    assert spread.log_level_std == pytest.approx(np.std(np.log([1.0, 100.0, 100.0, 1.0, 1.0, 100.0, 100.0])))


@pytest.mark.parametrize(
    ("values", "lookback", "mean", "std", "nonnegative"),
    [
        (np.array([2.0, -2.0, 2.0]), 2, np.log(2.0), 1.0, False),  # one level only: spread 1
        (np.array([2.0, 2.0]), 5, 0.0, 1.0, True),  # no complete lookback: neutral statistics
        (np.array([np.nan, 4.0, np.nan, 4.0]), 1, None, None, True),
    ],
)
def test_scaler_fit_edges(values, lookback, mean, std, nonnegative):
    scaler = Scaler.fit(values, lookback=lookback)
    if mean is not None:  # (rows with None check the remaining fields only)
        assert scaler.log_level_mean == pytest.approx(mean)
        assert scaler.log_level_std == pytest.approx(std)
    assert scaler.nonnegative is nonnegative
    assert scaler.floor == pytest.approx(max(1e-3 * np.nanmean(np.abs(values)), 1e-6))


def test_scaler_needs_a_finite_value():
    with pytest.raises(DataError) as err:
        Scaler.fit(np.array([np.nan, np.inf]), lookback=1)
    assert err.value.problem == "cannot fit a scaler on a series with no finite values"
    assert Scaler.fit(np.full(4, 1e-9), lookback=1).floor == 1e-6


@pytest.mark.parametrize(
    ("shape", "need"), [((12, 6, 0), 12), ((12, 6, 288), 300), ((1, 1, 1), 2), ((1, 1, 0), 1)]
)
def test_history_needed(shape, need):
    assert (
        WindowSpec(*shape).history_needed == need
    )  # built here, not at collection: the smallest spec is valid


@pytest.mark.parametrize(("lookback", "horizon", "season"), [(0, 1, 0), (1, 0, 0), (1, 1, -1)])
def test_bad_window_specs_are_named(lookback, horizon, season):
    with pytest.raises(DataError) as err:
        WindowSpec(lookback, horizon, season)
    assert (
        err.value.problem
        == f"invalid window spec WindowSpec(lookback={lookback}, horizon={horizon}, season={season})"
    )
    assert err.value.hint == "lookback and horizon must be at least one step"


def test_valid_origins_without_target_run_to_the_end_and_short_series_have_none():
    values = np.arange(10.0)
    spec = WindowSpec(lookback=3, horizon=2, season=0)
    assert valid_origins(values, spec, with_target=False).tolist() == list(range(3, 11))
    assert valid_origins(values, spec, with_target=True).tolist() == list(range(3, 9))
    empty = valid_origins(values[:2], spec, with_target=False)
    assert empty.tolist() == [] and empty.dtype == np.int64
    seasonal = WindowSpec(lookback=2, horizon=2, season=3)
    assert valid_origins(values, seasonal, with_target=True).tolist() == list(range(5, 9))


def test_inputs_are_float32_for_the_network_and_the_scale_float64():
    values = np.arange(1.0, 9.0)
    spec = WindowSpec(lookback=3, horizon=2, season=0)
    w = make_windows(
        values, _index(8), spec=spec, scaler=UNIT, origins=np.array([3]), with_target=True, step=STEP
    )
    assert (w.past.dtype, w.future.dtype, w.level.dtype, w.target.dtype) == (np.float32,) * 4
    assert w.scale.dtype == np.float64


def test_lags_are_clipped_on_both_sides():
    # A 12-step lookback whose day-ago window is one spike: the spike is 12x the lag level, clipped to 10.
    lag_day = np.zeros(12)
    lag_day[5] = 1000.0
    future_lags = np.array([-5000.0, 1.0])
    values = np.concatenate([lag_day, future_lags, np.ones(12 + 2)])  # season 14: a day ago is y[t-14 ...]
    spec = WindowSpec(lookback=12, horizon=2, season=14)
    w = make_windows(
        values,
        _index(len(values)),
        spec=spec,
        scaler=UNIT,
        origins=np.array([26]),
        with_target=False,
        step=STEP,
    )
    assert w.past[0, 5, 1] == 10.0  # +12 clipped
    assert w.future[0, 0, 0] == -10.0  # -5000 / (1000 / 12) clipped
    negative = make_windows(
        -values,
        _index(len(values)),
        spec=spec,
        scaler=UNIT,
        origins=np.array([26]),
        with_target=False,
        step=STEP,
    )
    assert negative.past[0, 5, 1] == -10.0 and negative.future[0, 0, 0] == 10.0


def test_one_origin_when_the_series_is_exactly_one_window_long():
    spec = WindowSpec(lookback=3, horizon=2, season=0)
    assert valid_origins(np.arange(5.0), spec, with_target=True).tolist() == [3]


def test_scaler_edges_two_levels_and_zeros():
    two = Scaler.fit(np.array([1.0, 1.0, 1.0]), lookback=1)  # levels before indices 1 and 2: two of them
    assert two.log_level_std == 0.5  # their spread (0) floored, not the single-level default of 1
    assert Scaler.fit(np.array([0.0, 1.0, 2.0]), lookback=1).nonnegative is True  # zeros are not negative


def test_weekly_lags_by_hand_come_last_and_never_read_past_the_origin():
    values = np.array([1.0, 3.0, 5.0, 2.0, 6.0, 4.0, 8.0, 9.0, 10.0, 11.0])
    spec = WindowSpec(lookback=2, horizon=2, season=2, week=4)  # a "week" of 4 steps
    assert spec.history_needed == 6
    w = make_windows(
        values, _index(10), spec=spec, scaler=UNIT, origins=np.array([7]), with_target=True, step=STEP
    )
    # lookback y[5:7] = [4, 8]; a week back y[1:3] = [3, 5], level 4; the steps' week-ago values y[3], y[4]
    assert w.past.shape == (1, 2, 7) and w.future.shape == (1, 2, 6)
    np.testing.assert_allclose(w.past[0, :, -1], [0.75, 1.25])
    np.testing.assert_allclose(w.future[0, :, -1], [0.5, 1.5])
    np.testing.assert_allclose(w.past[0, :, 1], [0.5, 1.5])  # the daily lag where it was: y[3:5] / 4
    np.testing.assert_allclose(w.future[0, :, 0], [1.0, 2.0])  # y[5], y[6]
    np.testing.assert_allclose(w.past[0, :, 2:6], [_cal(k) for k in (5, 6)], atol=1e-6)
    changed = values.copy()
    changed[7:] = 1e6  # the origin and after: nothing a window reads may move
    again = make_windows(
        changed, _index(10), spec=spec, scaler=UNIT, origins=np.array([7]), with_target=False, step=STEP
    )
    np.testing.assert_array_equal(again.past, w.past)
    np.testing.assert_array_equal(again.future, w.future)


def test_weekly_lags_are_clipped_and_a_gap_a_week_back_excludes_its_windows():
    values = np.ones(40)
    values[3] = 1000.0  # read a week back (12 steps) as lookback by origins 16-18, as a step by 15 and 14
    spec = WindowSpec(lookback=3, horizon=2, season=4, week=12)
    w = make_windows(
        values, _index(40), spec=spec, scaler=UNIT, origins=np.array([16, 15]), with_target=False, step=STEP
    )
    assert w.past[0, -1, -1] == pytest.approx(1000 / (1002 / 3))  # y[3] / mean(y[1:4]): within the clip
    assert w.future[1, 0, -1] == 10.0  # 1000 / 1 clipped
    gap = values.copy()
    gap[3] = np.nan
    origins = valid_origins(gap, spec, with_target=True).tolist()
    assert origins[0] == 19 and origins[-1] == 38  # 15 (the first a week and a lookback in) to 18 read y[3]
    assert not {15, 16, 17, 18} & set(origins)


@pytest.mark.parametrize(("week", "need"), [(0, 300), (2016, 2028)])
def test_history_needed_with_weekly_lags(week, need):
    assert WindowSpec(12, 6, 288, week).history_needed == need


def test_a_week_shorter_than_the_horizon_is_refused():
    with pytest.raises(DataError) as err:
        WindowSpec(lookback=2, horizon=5, season=0, week=4)
    assert "would lie after the origin" in err.value.problem
    assert repr(WindowSpec(2, 5, 0, 5)) == "WindowSpec(lookback=2, horizon=5, season=0, week=5)"


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_weekly_lags_are_clipped_both_ways_in_the_lookback_and_at_the_steps(sign):
    """A burst (or a negative glitch) a week back is clipped at +-10 times that week's level, in the lookback and
    at every forecast step: an outage or a spike last week must not blow up this week's inputs."""
    spec = WindowSpec(lookback=30, horizon=2, season=0, week=40)
    values = np.ones(140)
    values[35] = sign * 1000.0
    w = make_windows(
        values, _index(140), spec=spec, scaler=UNIT, origins=np.array([75, 95]), with_target=False, step=STEP
    )
    # origin 75: the steps' week-ago values are y[35], y[36]; its lookback a week back y[5:35], all ones
    np.testing.assert_array_equal(w.future[0, :, -1], [sign * 10.0, 1.0])
    # origin 95: the lookback a week back is y[25:55], y[35] at position 10: 1000 / (1029 / 30) = 29 -> 10
    assert w.past[1, 10, -1] == sign * 10.0
    np.testing.assert_allclose(w.past[1, 9, -1], 30 / 1029, rtol=1e-6)  # the others, by the week's level


def test_with_weekly_lags_a_gap_in_the_lookback_still_excludes_its_windows():
    """The week-back check adds to the others: a gap in this week's lookback (not a week back) still excludes
    every origin whose lookback holds it."""
    spec = WindowSpec(lookback=3, horizon=2, season=0, week=40)
    values = np.ones(120)
    values[100] = np.nan
    for with_target in (True, False):
        origins = set(valid_origins(values, spec, with_target=with_target).tolist())
        assert not {101, 102, 103} & origins
        assert {97, 104} <= origins
    assert not {99, 100} & set(valid_origins(values, spec, with_target=True).tolist())


def test_a_week_shorter_than_the_horizon_says_what_to_do():
    with pytest.raises(DataError) as err:
        WindowSpec(lookback=2, horizon=5, season=0, week=4)
    assert err.value.hint == "a week must be longer than the horizon"
