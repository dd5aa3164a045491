"""The skill weighting where a user meets its edges (:mod:`forecaster.combine`): a gap left in the history
(NaN) is skipped, not allowed to blind the judgement of every origin whose window holds it.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.combine import SkillWeighting, combine, recent_losses


def _two(S=120, H=3):
    """``good`` exact, ``bad`` 50% off, on a series of 10 everywhere."""
    values = np.full(S + H, 10.0)
    return {"lstm": np.full((S, H), 15.0), "good": np.full((S, H), 10.0)}, values


@pytest.mark.parametrize("pooled", [False, True])
def test_a_gap_in_the_recent_window_is_skipped_and_the_rest_still_judges(pooled):
    forecasts, values = _two()
    values[95:98] = np.nan  # a scrape gap inside every step's recent window
    w = SkillWeighting(pooled=pooled)
    losses = recent_losses(forecasts, values, first=0, origins=np.array([100]), weighting=w)
    np.testing.assert_allclose(losses["good"], 0.0, atol=1e-12)
    np.testing.assert_allclose(losses["lstm"], 0.5, rtol=1e-9)
    point, weights = combine(forecasts, values, first=0, origins=np.array([100]), weighting=w)
    assert np.all(weights["good"] > 0.98), weights  # judged on the rest of the window, not the prior
    assert np.all(point < 10.1)


def test_a_window_that_is_all_gap_falls_back_to_the_prior():
    forecasts, values = _two()
    values[:100] = np.nan
    _, weights = combine(
        forecasts, values, first=0, origins=np.array([100]), weighting=SkillWeighting(prior=3.0)
    )
    np.testing.assert_allclose(weights["lstm"], 0.75)


def test_same_time_errors_never_read_the_value_at_the_origin():
    """With a short season and a wide same-time window a judged origin's target can fall on the forecast's own
    origin: that value is the future when the forecast is made (a backtest holds it, the service does not),
    so the weights must not change when it does."""
    S, H = 400, 3
    rng = np.random.default_rng(0)
    values = 10.0 + rng.normal(0, 1, S + H)
    forecasts = {"lstm": 10.0 + rng.normal(0, 1, (S, H)), "naive": 10.0 + rng.normal(0, 2, (S, H))}
    w = SkillWeighting(season_steps=4, seasonal_days=3, seasonal_halfwidth=2, window=6)
    origin = np.array([300])
    point, weights = combine(forecasts, values, first=0, origins=origin, weighting=w)
    future = values.copy()
    future[300:] = 1e4
    point_f, weights_f = combine(forecasts, future, first=0, origins=origin, weighting=w)
    np.testing.assert_allclose(weights_f["lstm"], weights["lstm"])
    np.testing.assert_allclose(point_f, point)


def test_same_time_errors_weigh_a_quarter_of_the_recent_window_in_all():
    """With seasonal memory (as training sets it: the last 3 days, a horizon either side, at a quarter of the
    recent window's weight), a component wrong by 1 over the whole recent window scores four times worse
    than one wrong by 1 at every same-time origin: the 15 same-time errors together weigh a quarter of the
    window, not a quarter each."""
    from forecaster.combine import with_seasonal_memory

    S, H, origin = 400, 2, 300
    w = with_seasonal_memory(SkillWeighting(window=10), season_steps=50, horizon=H)
    assert (w.seasonal_days, w.seasonal_halfwidth, w.seasonal_weight) == (3, 2, 0.25)
    values = np.full(S + H, 10.0)
    recent = np.zeros(S, dtype=bool)
    recent[origin - H - 10 : origin] = True  # the recent window's origins, every step
    same_time = np.zeros(S, dtype=bool)
    for d in (1, 2, 3):
        same_time[origin - d * 50 - 2 : origin - d * 50 + 3] = True
    forecasts = {
        "lstm": np.where(recent, 11.0, 10.0)[:, None].repeat(H, axis=1),
        "naive": np.where(same_time, 11.0, 10.0)[:, None].repeat(H, axis=1),
    }
    losses = recent_losses(forecasts, values, first=0, origins=np.array([origin]), weighting=w)
    np.testing.assert_allclose(losses["lstm"] / losses["naive"], 4.0, rtol=1e-9)


def test_a_component_that_could_not_forecast_recently_does_not_poison_the_weights():
    """A component without forecasts at the recent origins (NaN: not enough history for it there) cannot be
    judged against the others: the prior decides, and the forecast stays a number."""
    forecasts, values = _two()
    forecasts["naive"] = np.full_like(forecasts["good"], 12.0)
    forecasts["naive"][90:100] = np.nan
    point, weights = combine(
        forecasts, values, first=0, origins=np.array([100]), weighting=SkillWeighting(prior=2.0)
    )
    assert np.isfinite(point).all(), point
    np.testing.assert_allclose(weights["lstm"], 0.5)
    np.testing.assert_allclose(weights["good"] + weights["naive"], 0.5)


def test_on_a_tie_over_the_guard_window_the_skill_weighted_forecast_keeps_the_larger_share():
    """Two components forecasting the same: the skill-weighted forecast ties with the network over the guard
    window, and its margin (GUARD_MARGIN) gives it the larger share: the other component, reachable only
    through it, keeps more than a quarter of the weight (half of the skill-weighted share)."""
    from dataclasses import replace

    rng = np.random.default_rng(1)
    S, H = 200, 2
    values = 10.0 + rng.normal(0, 1, S + H)
    same = 10.0 + rng.normal(0, 1, (S, H))
    forecasts = {"lstm": same, "naive": same + 0.0}
    w = replace(SkillWeighting(), guard_window=40, guard_stride=1, guard_margin=0.03)
    _, weights = combine(forecasts, values, first=0, origins=np.array([150]), weighting=w)
    np.testing.assert_allclose(weights["lstm"] + weights["naive"], 1.0)
    assert np.all(weights["naive"] > 0.25) and np.all(weights["naive"] < 0.5), weights
