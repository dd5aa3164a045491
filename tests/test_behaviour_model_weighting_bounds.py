"""The bounds of what a saved model's skill weighting and band calibration may say (:mod:`forecaster.combine`,
:mod:`forecaster.calibration`): every setting refused just past its bound and accepted at it, so that a
damaged manifest is refused when loaded instead of forecasting nonsense.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.calibration import BandCalibration
from forecaster.combine import SkillWeighting


@pytest.mark.parametrize(
    "kw",
    [
        {"guard_margin": 1.0},
        {"guard_margin": -0.01},
        {"seasonal_weight": -0.1},
        {"guard_window": -1},
        {"seasonal_halfwidth": -1},
        {"season_steps": -1},
        {"half_life_steps": -1.0},
        {"prior": -1.0},
    ],
)
def test_a_weighting_past_its_bounds_is_refused(kw):
    with pytest.raises(ValueError, match="invalid skill weighting"):
        SkillWeighting(**kw)


def test_a_weighting_at_its_bounds_is_accepted():
    w = SkillWeighting(
        eta=0.0, window=1, guard_margin=0.999, seasonal_weight=0.0, guard_window=0, guard_stride=1, prior=1e-9
    )
    assert SkillWeighting.from_dict(w.to_dict()) == w


@pytest.mark.parametrize(
    "kw",
    [
        {"season_steps": -1},
        {"seasonal_halfwidth": -1},
        {"seasonal_days": -1},
        {"half_life_steps": -0.5},
        {"window": -3},
    ],
)
def test_a_band_calibration_past_its_bounds_is_refused(kw):
    with pytest.raises(ValueError, match="invalid band calibration"):
        BandCalibration(prior=np.zeros((2, 4)), **{"half_life_steps": 6.0, "window": 24, **kw})


def test_a_band_calibration_at_its_bounds_is_accepted_and_round_trips():
    cal = BandCalibration(
        prior=np.zeros((2, 4)),
        half_life_steps=1e-6,
        window=1,
        season_steps=0,
        seasonal_halfwidth=0,
        seasonal_days=0,
    )
    back = BandCalibration.from_dict(cal.to_dict())
    assert (
        back.half_life_steps,
        back.window,
        back.season_steps,
        back.seasonal_halfwidth,
        back.seasonal_days,
    ) == (
        1e-6,
        1,
        0,
        0,
        0,
    )
    # Days without a season (or a season without days) read no seasonal scores: the recent window alone.
    assert (
        BandCalibration(
            prior=np.zeros((2, 4)), half_life_steps=6, window=24, seasonal_days=3
        ).lookback_origins(6)
        == 30
    )
    assert (
        BandCalibration(
            prior=np.zeros((2, 4)), half_life_steps=6, window=24, season_steps=288
        ).lookback_origins(6)
        == 30
    )


def test_a_guard_with_nothing_judged_yet_leaves_the_skill_weighted_forecast_alone():
    """At the first origin nothing has been observed to judge the experts by: the guarded forecast is the
    skill-weighted one (the static blend at its prior), not an even mixture with the components."""
    from forecaster.combine import combine, with_guard

    values = np.full(63, 10.0)
    forecasts = {"blend": np.full((60, 3), 11.0), "naive": np.full((60, 3), 30.0)}
    weighting = SkillWeighting(prior=4.0)
    guarded = with_guard(weighting, step_s=300.0)
    plain, plain_w = combine(forecasts, values, first=0, origins=np.array([0]), weighting=weighting)
    point, weights = combine(forecasts, values, first=0, origins=np.array([0]), weighting=guarded)
    np.testing.assert_allclose(point, 0.8 * 11.0 + 0.2 * 30.0)
    np.testing.assert_allclose(point, plain)
    np.testing.assert_allclose(weights["blend"], plain_w["blend"])


@pytest.mark.parametrize("pooled", [False, True])
def test_a_series_below_zero_is_weighted_as_its_mirror_above_zero(pooled):
    """Relative errors divide by the size of the load, not its sign: a series that runs negative (a net
    flow, a temperature) weighs its components as the same series flipped above zero does."""
    from forecaster.combine import combine

    rng = np.random.default_rng(5)
    S, H = 120, 3
    values = 50.0 + rng.normal(0, 5, S + H)
    truth = values[np.arange(S)[:, None] + np.arange(H)]
    forecasts = {"lstm": truth + rng.normal(0, 2, (S, H)), "naive": truth + rng.normal(0, 6, (S, H))}
    weighting = SkillWeighting(pooled=pooled)
    origins = np.array([60, 100])
    up, w_up = combine(forecasts, values, first=0, origins=origins, weighting=weighting)
    down, w_down = combine(
        {k: -v for k, v in forecasts.items()}, -values, first=0, origins=origins, weighting=weighting
    )
    np.testing.assert_allclose(down, -up)
    np.testing.assert_allclose(w_down["lstm"], w_up["lstm"])
    assert (w_up["lstm"] > 0.6).all()  # the closer component leads
