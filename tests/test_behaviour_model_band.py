"""The band's calibration and the skill weighting at the edges users meet (:mod:`forecaster.calibration`,
:mod:`forecaster.combine`): validation scores weigh a quarter of a full window of recent ones, same-time
scores come from the previous days (not today), a collapsed band is capped by the errors on its own side,
a negative forecast keeps its upper band above it, and pooled weights are one per origin even at a cold
start.
"""

from __future__ import annotations

import numpy as np

from forecaster.calibration import (
    BandCalibration,
    carried_width,
    conformal_scales,
    conformal_width,
    fit_prior,
)
from forecaster.combine import SkillWeighting, combine

Q = (0.1, 0.5, 0.9)


def _unit_band(S: int, H: int = 1, *, half: float = 1.0) -> np.ndarray:
    raw = np.zeros((S, H, 3))
    raw[..., 0], raw[..., 2] = -half, half
    return raw


def test_validation_scores_weigh_a_quarter_of_a_full_window_of_recent_ones():
    """Recent errors within one band width, validation errors ten widths wide: the validation scores are a
    fifth of the pooled weight (0.25 / 1.25), more than the p90's tenth, so the p90 reaches them."""
    S, window = 400, 200
    calm = np.tile(np.linspace(-1, 1, 21), 25)[: S + 1]
    wide = np.full((100, 1, 3), 10.0)  # scores: 10 widths above (p90) and below (p10)
    cal = BandCalibration(prior=fit_prior(wide), half_life_steps=1e9, window=window)
    k = conformal_scales(
        cal,
        members={"lstm": np.zeros((S, 1))},
        weights={"lstm": np.ones((1, 1))},
        raw=_unit_band(S),
        values=calm,
        first=0,
        origins=np.array([S]),
        quantiles=Q,
        floor=1.0,
        validation_scale=[1.0, 1.0, 1.0],
    )[0, 0]
    assert k[1] == 1.0
    assert k[2] >= 9.0 and k[0] >= 9.0, k


def test_same_time_scores_come_from_the_previous_day_not_from_today():
    """One burst yesterday around this time (11 steps at 40 of a 50-step day), calm otherwise: with one day of
    same-time scores the band at the step that lands on it is widened; the recent window holds no burst."""
    S, H, season = 1000, 3, 50
    values = np.tile(np.linspace(-1, 1, 21), 60)[: S + H].copy()
    values[920:931] = 40.0  # yesterday, day positions 20..30; the origin 974 is today's position 24
    calm = np.tile(np.linspace(-1, 1, 21), 10)[:200]
    cal = BandCalibration(
        prior=fit_prior(np.stack([-calm, calm, calm], axis=-1)[:, None, :]),
        half_life_steps=12,
        window=24,
        season_steps=season,
        seasonal_halfwidth=5,
        seasonal_days=1,
    )
    k = conformal_scales(
        cal,
        members={"lstm": np.zeros((S, H))},
        weights={"lstm": np.ones((1, H))},
        raw=_unit_band(S, H),
        values=values,
        first=0,
        origins=np.array([974]),
        quantiles=Q,
        floor=1.0,
        validation_scale=[1.0, 1.0, 1.0],
    )[0]
    assert k[1, 2] >= 30, k[:, 2]


def test_a_collapsed_band_is_capped_by_the_errors_on_its_own_side():
    """Past bands 100 times narrower than today's, and the truth always below the point (by up to 5): the
    p10 widens to about the errors below (not to nothing), the p90 stays at the validation scale."""
    S = 400
    below = -np.tile(np.linspace(0, 5, 51), 9)[: S + 1]
    raw = _unit_band(S)
    raw[: S - 1] = _unit_band(S - 1, half=0.01)
    cal = BandCalibration(
        prior=fit_prior(np.stack([-below, below, below], axis=-1)[:S, None, :]),
        half_life_steps=1e9,
        window=200,
    )
    width = conformal_width(
        cal,
        members={"lstm": np.zeros((S, 1))},
        weights={"lstm": np.ones((1, 1))},
        raw=raw,
        values=below,
        first=0,
        origins=np.array([S - 1]),
        point=np.zeros((1, 1)),
        quantiles=Q,
        floor=1.0,
        validation_scale=[1.0, 1.0, 1.0],
    )[0, 0]
    assert -5.0 <= width[0] <= -4.0, width
    assert width[1] == 0.0 and width[2] == 1.0, width


def test_a_negative_forecast_keeps_its_upper_band_above_and_its_lower_band_below():
    raw = np.array([[80.0, 100.0, 130.0]])  # p10 20% below the p50, p90 30% above
    np.testing.assert_allclose(carried_width(raw, np.array([-200.0]), i50=1, floor=1.0), [[-40.0, 0.0, 60.0]])
    np.testing.assert_allclose(carried_width(raw, np.array([200.0]), i50=1, floor=1.0), [[-40.0, 0.0, 60.0]])


def test_pooled_weights_are_one_per_origin_even_before_every_step_was_judged():
    """At the third origin only steps 0 and 1 have an observed target; pooled, every step still gets the same
    weights (the one judgement of the origin), not the prior at the steps nothing was judged for."""
    S, H = 60, 3
    values = np.full(S + H, 10.0)
    forecasts = {"lstm": np.full((S, H), 11.0), "naive": np.full((S, H), 14.0)}
    _, weights = combine(
        forecasts, values, first=0, origins=np.array([2]), weighting=SkillWeighting(pooled=True)
    )
    assert np.ptp(weights["lstm"]) < 1e-12, weights["lstm"]
    assert weights["lstm"][0, 0] > 0.9


def test_errors_older_than_the_window_never_widen_the_band():
    """Recent origins look back ``window`` at most: a burst of errors just before that (24 origins of 6x) is
    forgotten, the band is the one of the calm window alone."""
    S, window = 400, 50
    calm = np.tile(np.linspace(-1, 1, 21), 25)[: S + 1]
    burst = calm.copy()
    burst[S - window - 24 : S - window] *= 6.0  # targets of the 24 origins just older than the window
    cal = BandCalibration(
        prior=fit_prior(np.stack([-calm, calm, calm], axis=-1)[:S, None, :]),
        half_life_steps=1e9,
        window=window,
    )

    def scales(values):
        return conformal_scales(
            cal,
            members={"lstm": np.zeros((S, 1))},
            weights={"lstm": np.ones((1, 1))},
            raw=_unit_band(S),
            values=values,
            first=0,
            origins=np.array([S]),
            quantiles=Q,
            floor=1.0,
            validation_scale=[0.25, 1.0, 0.25],
        )

    np.testing.assert_allclose(scales(burst), scales(calm))
    assert not np.allclose(scales(np.concatenate([calm[:-10], calm[-10:] * 6.0])), scales(calm))
