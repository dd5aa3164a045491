"""The baselines as users meet them (:mod:`forecaster.predictors`): the yardsticks of every backtest and the
fallback when no trained model fits. Forecasts start one step after the history, yesterday's value is
yesterday's at the same minute, a gap is carried forward from before it (never filled from after), the
fallback needs a day plus a horizon, quantile labels are p0 < q < p100, and a series that goes negative is
not clipped at zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.predictors import (
    LastValue,
    SeasonalNaive,
    baselines_for,
    fallback_baseline,
    parse_quantile_label,
    quantile_label,
)

STEP = pd.Timedelta("5min")
H = 6


def _series(values, start="2026-03-02") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq=STEP)
    return pd.Series(np.asarray(values, dtype=float), index=index)


def test_a_forecast_starts_one_step_after_the_historys_last_point():
    history = _series(np.arange(30.0))
    out = LastValue(step=STEP, horizon_steps=H).fit(history).predict(history)
    assert out.index[0] == history.index[-1] + STEP
    assert list(out.index) == list(pd.date_range(history.index[-1] + STEP, periods=H, freq=STEP))
    np.testing.assert_allclose(out["p50"], 29.0)


def test_seasonal_naive_forecasts_the_same_minutes_of_yesterday():
    day = 288
    values = np.arange(2 * day, dtype=float)  # every point its own value: an off-by-one shows
    history = _series(values)
    out = SeasonalNaive(step=STEP, horizon_steps=H).fit(history).predict(history)
    # The next step is 2 * day; yesterday at that minute is position day.
    np.testing.assert_allclose(out["p50"].to_numpy(), values[day : day + H])


def test_a_horizon_longer_than_the_season_wraps_to_the_latest_season():
    season = pd.Timedelta("30min")  # 6 steps
    values = np.arange(24, dtype=float)
    history = _series(values)
    out = SeasonalNaive(step=STEP, horizon_steps=8, season=season).fit(history).predict(history)
    np.testing.assert_allclose(out["p50"].to_numpy(), [18, 19, 20, 21, 22, 23, 18, 19])


def test_a_gap_is_carried_forward_from_before_it_never_filled_from_after():
    """Yesterday's minutes that the forecast copies fell in a scrape gap: they are the last value before the
    gap (10), as documented, not the first after it (50)."""
    day = 288
    values = np.full(2 * day, 10.0)
    values[day - 2 : day + H + 2] = np.nan  # yesterday at the forecast's minutes
    values[day + H + 2 :] = 50.0
    history = _series(values)
    out = SeasonalNaive(step=STEP, horizon_steps=H).fit(_series(np.full(2 * day, 10.0))).predict(history)
    np.testing.assert_allclose(out["p50"], 10.0)


@pytest.mark.parametrize(("label", "q"), [("p50", 0.5), ("P90", 0.9), ("p97.5", 0.975), (" p1 ", 0.01)])
def test_quantile_labels(label, q):
    assert parse_quantile_label(label) == pytest.approx(q)
    assert parse_quantile_label(quantile_label(q)) == pytest.approx(q)


@pytest.mark.parametrize("label", ["p0", "p100", "p101", "90", "q90", "p", "p-5"])
def test_a_quantile_outside_p0_to_p100_exclusive_is_refused(label):
    with pytest.raises(DataError):
        parse_quantile_label(label)


@pytest.mark.parametrize(("extra", "seasonal"), [(H - 1, False), (H, True)])
def test_the_fallback_is_yesterdays_value_only_with_a_day_and_a_horizon_of_history(extra, seasonal):
    """A day of history plus the horizon: yesterday at each forecast step is known; one step less: last value."""
    history = _series(np.full(288 + extra + 1, 10.0))
    base, note = fallback_baseline(history, step=STEP, horizon_steps=H)
    assert isinstance(base, SeasonalNaive) is seasonal
    assert (note is None) is seasonal


@pytest.mark.parametrize(
    ("days", "names"),
    [
        (1.5, {"last_value", "seasonal_naive_daily"}),
        (2.0, {"last_value", "seasonal_naive_daily", "holt_winters"}),
        (13.9, {"last_value", "seasonal_naive_daily", "holt_winters"}),
        (14.0, {"last_value", "seasonal_naive_daily", "seasonal_naive_weekly", "holt_winters"}),
    ],
)
def test_the_baselines_a_backtest_compares_against_depend_on_the_history_span(days, names, monkeypatch):
    """Holt-Winters from two days, the weekly naive from two weeks (the span is last minus first)."""
    from forecaster import predictors

    for cls in (predictors._Baseline, predictors.HoltWinters):
        monkeypatch.setattr(cls, "fit", lambda self, series, **kw: self)  # which ones, not how they fit
    n = int(pd.Timedelta(days=days) / STEP) + 1
    series = _series(np.full(n, 10.0))
    assert {b.name for b in baselines_for(series, step=STEP, horizon_steps=H)} == names


def test_a_series_that_goes_negative_keeps_its_negative_forecasts():
    history = _series(np.linspace(5.0, -20.0, 60))
    out = LastValue(step=STEP, horizon_steps=H).fit(history).predict(history)
    assert (out["p50"] < 0).all()


def test_baseline_bands_are_learnt_relative_to_the_level_and_never_cross():
    """Errors learnt at a level of 100 with noise of 10%: at a level of 1000 the band is ten times as wide."""
    rng = np.random.default_rng(0)
    train = _series(100.0 * (1 + 0.1 * rng.standard_normal(2000)))
    base = LastValue(step=STEP, horizon_steps=H, quantiles=(0.1, 0.5, 0.9)).fit(train)
    low = base.predict(_series(np.full(50, 100.0)))
    high = base.predict(_series(np.full(50, 1000.0)))
    width_low = (low["p90"] - low["p10"]).to_numpy()
    width_high = (high["p90"] - high["p10"]).to_numpy()
    np.testing.assert_allclose(width_high, 10 * width_low, rtol=1e-9)
    assert (low["p10"] <= low["p50"]).all() and (low["p50"] <= low["p90"]).all()
    assert width_low.min() > 15.0 and width_low.max() < 40.0  # about 2 x 1.28 x 10


def test_a_biased_baselines_quantiles_never_cross():
    """On a steadily rising series the last value is always below what comes: every learnt error is positive,
    so the p10's offset is above the p50's (none); the quantiles are still returned in order."""
    train = _series(np.arange(2000, dtype=float))
    base = LastValue(step=STEP, horizon_steps=H, quantiles=(0.1, 0.5, 0.9)).fit(train)
    out = base.predict(_series(np.arange(50, dtype=float)))
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all(), out
