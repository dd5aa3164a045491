"""The band's calibration where a user meets its edges (:mod:`forecaster.calibration`): a target with only a
handful of scored origins keeps the validation band (a p90 needs ten scores), and the band follows the
forecast's level relative to the series' own scale (a series of small values, CPU cores, is carried
relative to its level; one whose level is within ten floors of zero is carried absolute).
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.calibration import BandCalibration, carried_width, conformal_scales, fit_prior

Q = (0.1, 0.5, 0.9)


def _scales(values: np.ndarray, origin: int, *, H: int = 1, validation=(1.5, 1.0, 2.0), prior_spread=1.0):
    """The scales at ``origin`` of one component forecasting 10 everywhere with a band of +-1 around it."""
    S = len(values)
    raw = np.zeros((S, H, 3))
    raw[..., 0], raw[..., 1], raw[..., 2] = 9.0, 10.0, 11.0
    r = np.random.default_rng(0).normal(0, prior_spread, (500, H, 3))
    cal = BandCalibration(prior=fit_prior(r), half_life_steps=12, window=48)
    return conformal_scales(
        cal,
        members={"flat": np.full((S, H), 10.0)},
        weights={"flat": np.ones((1, H))},
        raw=raw,
        values=values,
        first=0,
        origins=np.array([origin]),
        quantiles=Q,
        floor=1e-3,
        validation_scale=list(validation),
    )[0]


@pytest.mark.parametrize("scored", [1, 2, 3, 5, 9])
def test_a_handful_of_scored_origins_keeps_the_validation_band(scored):
    """A new target (or one just after a gap) whose history scores only 2 to 9 past origins: a p90 needs ten
    scores to say anything, so the validation scale decides, whatever those few errors were (here three
    band widths: a real widening would be visible). Never the +infinity of the conformal correction."""
    values = np.full(200, 13.0)  # the truth 3 band widths above the point at every origin
    k = _scales(values, origin=scored)
    assert k[0, 2] == pytest.approx(2.0), k  # the p90: the validation scale, not 100
    assert k[0, 0] == pytest.approx(1.5), k  # the p10 likewise
    assert k[0, 1] == 1.0


def test_ten_scored_origins_are_enough_for_a_p90_to_widen_the_band():
    """The boundary: from ten scores on, three-width errors widen the p90 (but never to the cap)."""
    values = np.full(200, 13.0)
    k = _scales(values, origin=40)
    assert 2.5 <= k[0, 2] <= 4.0, k


@pytest.mark.parametrize(
    ("level", "floor", "relative"),
    [
        (2.0, 0.01, True),  # CPU cores around 2 with a floor of 0.01: 200 floors above zero, relative
        (2.0, 0.5, False),  # the same level with a floor of 0.5 is within ten floors of zero: absolute
        (20.0, 1.0, True),  # a level of 20 with a floor of 1: relative
    ],
)
def test_the_band_is_carried_relative_to_the_level_measured_in_floors_not_units(level, floor, relative):
    raw = np.array([[0.9, 1.0, 1.2]]) * level  # p10 10% under the p50, p90 20% above
    point = np.array([2.0 * level])  # the combination forecasts twice the network's level
    width = carried_width(raw, point, i50=1, floor=floor)
    if relative:  # the band's share of the level, at the forecast's level
        np.testing.assert_allclose(width, [[-0.1 * point[0], 0.0, 0.2 * point[0]]])
    else:  # the network's distances as they are
        np.testing.assert_allclose(width, [[-0.1 * level, 0.0, 0.2 * level]])


def test_a_large_level_within_ten_floors_of_zero_is_carried_absolute():
    """A series in the thousands whose floor is 100 (a level of 500 is near its zero): the band is not scaled
    by the level."""
    raw = np.array([[400.0, 500.0, 700.0]])
    np.testing.assert_allclose(
        carried_width(raw, np.array([900.0]), i50=1, floor=100.0), [[-100.0, 0.0, 200.0]]
    )


def test_without_a_validation_scale_each_tail_is_floored_at_its_own_validation_quantile():
    """A model saved before the bounded validation scale (band_scale None): the band is never narrower than
    the validation scores say, each tail at its own level: the p90 at their 0.9 quantile, the p10 at the 0.9
    quantile of the scores below (its width is negative, so a wider band is a larger scale), never at 0.1."""
    below = np.linspace(0.0, 4.0, 401)  # scores of the p10: up to four band widths below the point
    above = np.linspace(0.0, 2.0, 401)
    prior = fit_prior(np.stack([below, np.zeros_like(below), above], axis=-1)[:, None, :])
    cal = BandCalibration(prior=prior, half_life_steps=12, window=48)
    S = 3  # a cold start: no recent score, the validation scores decide
    raw = np.zeros((S, 1, 3))
    raw[..., 0], raw[..., 1], raw[..., 2] = 9.0, 10.0, 11.0
    k = conformal_scales(
        cal,
        members={"flat": np.full((S, 1), 10.0)},
        weights={"flat": np.ones((1, 1))},
        raw=raw,
        values=np.full(S + 1, 10.0),
        first=0,
        origins=np.array([1]),
        quantiles=Q,
        floor=1e-3,
    )[0, 0]
    assert k[0] == pytest.approx(np.quantile(prior[0], 0.9), rel=1e-9) and k[0] > 3.0, k
    assert k[2] == pytest.approx(np.quantile(prior[2], 0.9), rel=1e-9) and k[2] > 1.5, k
    assert k[1] == 1.0


@pytest.mark.parametrize("days", [11, 10])
def test_a_band_capped_by_few_same_time_errors_reaches_the_largest_of_them(days):
    """A spike every day at the same time, 31 to 41 over the last eleven days, where the network's band had
    collapsed (the scores are huge, so the raw errors cap the widening): with eleven same-time errors a p90
    is their conformal quantile, the 11th of 11 + 1 (the largest, 41), not the 10th (40): the band covers the
    worst spike of those days. Ten is the fewest that make a p90 (10 x (1 - 0.9) is just under 1 in floating
    point: with ten the same-time errors used to be ignored, and the band stayed at its validation width, 1,
    under the spike)."""
    S, H, season = 1000, 3, 50
    values = np.tile(np.linspace(-1, 1, 21), 60)[: S + H].copy()
    origin = 974  # its step h = 1 lands at 975, the spike's time of day
    values[975 - np.arange(1, 12) * season] = [
        35.0,
        41.0,
        31.0,
        38.0,
        33.0,
        40.0,
        32.0,
        36.0,
        34.0,
        39.0,
        37.0,
    ]
    raw = np.zeros((S, H, 3))
    raw[..., 0], raw[..., 2] = -0.01, 0.01  # collapsed at every past origin
    raw[origin], raw[origin, :, 0], raw[origin, :, 2] = 0.0, -1.0, 1.0  # a unit band today
    calm = np.tile(np.linspace(-1, 1, 21), 10)[:200]
    cal = BandCalibration(
        prior=fit_prior(np.stack([-calm, calm, calm], axis=-1)[:, None, :]),
        half_life_steps=12,
        window=24,
        season_steps=season,
        seasonal_halfwidth=0,
        seasonal_days=days,
    )
    from forecaster.calibration import conformal_width

    width = conformal_width(
        cal,
        members={"lstm": np.zeros((S, H))},
        weights={"lstm": np.ones((1, H))},
        raw=raw,
        values=values,
        first=0,
        origins=np.array([origin]),
        point=np.zeros((1, H)),
        quantiles=Q,
        floor=1e-3,
        validation_scale=[1.0, 1.0, 1.0],
    )[0]
    assert width[1, 2] == pytest.approx(41.0), width[:, 2]
    assert width[0, 2] < 5.0 and width[2, 2] < 5.0, width[:, 2]  # the other steps: the calm errors


def test_the_forecast_being_calibrated_counts_as_one_more_score_beyond_all_the_others():
    """The conformal correction: twenty recent errors of 1 to 20 band widths (weighted alike), validation
    errors of none (a quarter of the window's weight, 5, all at 0), and the forecast itself as a score at
    +infinity of weight 1: the p90 is the first score whose running weight reaches 0.9 x 26 = 23.4, the
    19th (5 + 19 = 24), where without the correction it would be 0.9 x 25 = 22.5 (the 18th)."""
    S, W = 100, 20
    values = np.zeros(S + 1)
    values[S - W : S] = np.random.default_rng(3).permutation(np.arange(1.0, W + 1))
    raw = np.zeros((S, 1, 3))
    raw[..., 0], raw[..., 2] = -1.0, 1.0
    cal = BandCalibration(prior=fit_prior(np.zeros((50, 1, 3))), half_life_steps=1e12, window=W)
    k = conformal_scales(
        cal,
        members={"lstm": np.zeros((S, 1))},
        weights={"lstm": np.ones((1, 1))},
        raw=raw,
        values=values,
        first=0,
        origins=np.array([S]),
        quantiles=Q,
        floor=1.0,
        validation_scale=[0.25, 1.0, 0.25],
    )[0, 0]
    assert k[2] == pytest.approx(19.0), k
