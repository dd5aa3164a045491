"""Holt-Winters (:class:`forecaster.predictors.HoltWinters`), the blend member and baseline, on a pure daily
cycle: every forecast continues the cycle exactly, whether asked one origin at a time, for a range of origins
in one pass, or resumed from the state a previous pass left; the fitted state round-trips through a manifest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.predictors import HoltWinters
from tests.helpers import daily_sine

STEP = pd.Timedelta("5min")
H = 6


@pytest.fixture(scope="module")
def cycle():
    series = daily_sine(days=4)
    hw = HoltWinters(step=STEP, horizon_steps=H, fit_seasons=2).fit(series.iloc[: 3 * 288], bands=False)
    return series, hw


def _truth(series: pd.Series, origins) -> np.ndarray:  # noqa: ANN001
    values = series.to_numpy()
    return np.stack([values[t : t + H] for t in origins])


def test_a_pure_daily_cycle_is_continued_exactly_from_any_origin(cycle):
    series, hw = cycle
    for t in (3 * 288, 3 * 288 + 7, 4 * 288 - H):
        frame = hw.predict(series.iloc[:t])
        assert frame.index[0] == series.index[t]
        np.testing.assert_allclose(frame["p50"].to_numpy(), series.to_numpy()[t : t + H], atol=1e-6)


def test_a_range_of_origins_in_one_pass_is_the_same_cycle(cycle):
    series, hw = cycle
    index = pd.DatetimeIndex(series.index)
    first, last = 3 * 288, 4 * 288 - H
    many = hw.points_range(series.to_numpy(), index, first=first, last=last)
    assert many.shape == (last - first + 1, H)
    np.testing.assert_allclose(many, _truth(series, range(first, last + 1)), atol=1e-6)


def test_a_pass_resumed_from_the_last_state_continues_where_it_stopped(cycle):
    series, hw = cycle
    index, values = pd.DatetimeIndex(series.index), series.to_numpy()
    first, middle, last = 3 * 288, 3 * 288 + 100, 4 * 288 - H
    head, state = hw.range_state(values, index, first=first, last=middle)
    assert state is not None and state.origin == middle
    tail, _ = hw.range_state(values, index, first=middle + 1, last=last, state=state)
    whole = hw.points_range(values, index, first=first, last=last)
    np.testing.assert_allclose(np.concatenate([head, tail]), whole, atol=1e-9)


def test_the_fitted_state_round_trips_and_forecasts_the_same(cycle):
    series, hw = cycle
    back = HoltWinters.from_state(hw.to_state(), step=STEP, horizon_steps=H)
    assert (back.alpha, back.beta, back.gamma, back.phi, back.fit_seasons) == (
        hw.alpha,
        hw.beta,
        hw.gamma,
        hw.phi,
        hw.fit_seasons,
    )
    t = 3 * 288 + 50
    np.testing.assert_allclose(
        back.predict(series.iloc[:t]).to_numpy(), hw.predict(series.iloc[:t]).to_numpy(), atol=1e-5
    )
    bad = {**hw.to_state(), "profile": hw.to_state()["profile"][:-1]}
    with pytest.raises(DataError, match="profile has 287 points, expected 288"):
        HoltWinters.from_state(bad, step=STEP, horizon_steps=H)


def test_without_a_fitted_profile_two_seasons_of_history_are_needed():
    hw = HoltWinters(step=STEP, horizon_steps=H)  # never fitted: no seasonal profile
    series = daily_sine(days=3)
    assert hw.min_history == 2 * 288
    values = series.to_numpy()
    with pytest.raises(DataError, match="needs two seasons"):
        hw._point_at(values[: 2 * 288 - 1], series.index[2 * 288 - 2])
    out = hw._point_at(values[: 2 * 288], series.index[2 * 288 - 1])
    assert out.shape == (H,) and np.isfinite(out).all()


def test_a_range_starting_early_in_the_history_is_aligned_to_its_own_phase(cycle):
    series, hw = cycle
    index, values = pd.DatetimeIndex(series.index), series.to_numpy()
    first = 288 + 37  # less than two seasons in: the recursion starts at the series' first point
    many = hw.points_range(values, index, first=first, last=first + 20)
    np.testing.assert_allclose(many, _truth(series, range(first, first + 21)), atol=1e-6)
    with pytest.raises(DataError, match="needs a season"):
        hw.points_range(values, index, first=287, last=300)


def _textbook(y: np.ndarray, m: int, horizon: int, a: float, b: float, g: float, phi: float) -> np.ndarray:
    """Additive damped Holt-Winters (Hyndman and Athanasopoulos, 8.3), started from the first two seasons."""
    level = y[:m].mean()
    trend = (y[m : 2 * m].mean() - y[:m].mean()) / m
    season = list(y[:m] - level)
    for t in range(m, len(y)):
        s = season[t - m]
        last_level = level
        level = a * (y[t] - s) + (1 - a) * (last_level + phi * trend)
        trend = b * (level - last_level) + (1 - b) * phi * trend
        season.append(g * (y[t] - level) + (1 - g) * s)
    return np.array(
        [
            level + sum(phi**j for j in range(1, h + 1)) * trend + season[len(season) - m + (h - 1) % m]
            for h in range(1, horizon + 1)
        ]
    )


def test_the_recursions_are_additive_damped_holt_winters():
    step = pd.Timedelta("1h")
    rng = np.random.default_rng(7)
    y = 50.0 + 3.0 * np.arange(40) + np.tile([5.0, -2.0, 8.0, -11.0], 10) + rng.normal(0, 1.0, 40)
    index = pd.date_range("2026-03-02", periods=len(y), freq=step)
    hw = HoltWinters(
        step=step,
        horizon_steps=6,
        season=pd.Timedelta(hours=4),
        alpha=0.4,
        beta=0.2,
        gamma=0.3,
        phi=0.8,
        fit_seasons=10,
    )
    expected = _textbook(y, 4, 6, 0.4, 0.2, 0.3, 0.8)
    np.testing.assert_allclose(hw._point_at(y, index[-1]), expected, rtol=1e-12)


def test_a_range_pass_runs_the_same_recursions_as_one_origin():
    """With a fitted profile both start a fixed number of seasons before the first origin, from the profile,
    with no trend: the first origin of a range pass is the single origin's forecast, trend and damping too."""
    step = pd.Timedelta("1h")
    rng = np.random.default_rng(3)
    y = 50.0 + 2.0 * np.arange(60) + np.tile([5.0, -2.0, 8.0, -11.0], 15) + rng.normal(0, 1.0, 60)
    index = pd.date_range("2026-03-02", periods=len(y), freq=step)
    state = {
        "alpha": 0.4,
        "beta": 0.3,
        "gamma": 0.2,
        "phi": 0.8,
        "fit_seasons": 3,
        "season_s": 4 * 3600.0,
        "profile": [4.0, -1.0, 7.0, -10.0],
    }
    hw = HoltWinters.from_state(state, step=step, horizon_steps=6)
    for t in (20, 33, 50):
        single = hw._point_at(y[:t], index[t - 1])
        np.testing.assert_allclose(hw.points_range(y, index, first=t, last=t + 3)[0], single, rtol=1e-12)
