"""The forecast's band, calibrated at prediction time from the errors of recent and same-time-of-day forecasts."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.calibration import (
    MAX_SCALE,
    BandCalibration,
    conformal_scales,
    conformal_width,
    fit_prior,
    scores,
)
from forecaster.model import Forecaster
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

H = 6
QUANTILES = (0.5, 0.9)
DAY = 48  # a short "day" keeps the hand-made series small


def _setup(values: np.ndarray, first: int) -> dict:
    """One component forecasting 100 everywhere, a network band of +1 (1%) around it."""
    S = len(values) - first
    raw = np.stack([np.full((S, H), 100.0), np.full((S, H), 101.0)], axis=-1)  # [S, H, Q]
    return {
        "members": {"flat": np.full((S, H), 100.0)},
        "raw": raw,
        "values": values,
        "first": first,
        "quantiles": QUANTILES,
        "floor": 1e-3,
    }


def _calibration(
    *, prior_spread: float = 1.0, seasonal_days: int = 0, halfwidth: int = 5, align: str = "origin"
) -> BandCalibration:
    """A prior of validation scores spread like N(0, prior_spread) (its 0.9 quantile ~ 1.28 * spread)."""
    rng = np.random.default_rng(1)
    r = rng.normal(0, prior_spread, (2000, H, 1))
    r = np.concatenate([np.full_like(r, np.nan), r], axis=-1)  # the median is never scaled
    return BandCalibration(
        prior=fit_prior(r),
        half_life_steps=12,
        window=36,
        season_steps=DAY if seasonal_days else 0,
        seasonal_halfwidth=halfwidth if seasonal_days else 0,
        seasonal_days=seasonal_days,
        seasonal_align=align,
    )


def _scale(cal: BandCalibration, values: np.ndarray, origin: int, first: int = 10) -> np.ndarray:
    kw = _setup(values, first)
    weights = {"flat": np.ones((1, H))}
    return conformal_scales(cal, weights=weights, origins=np.array([origin]), **kw)[0]  # [H, Q]


@pytest.mark.parametrize(
    ("description", "noise", "expect_low", "expect_high"),
    [
        # Recent errors as large as validation's: the validation scale (~1.28 band widths) holds.
        ("steady, as on validation", 1.0, 1.1, 1.5),
        # Recent errors five times larger than the band says: the band widens to cover them.
        ("noisier than on validation", 5.0, 4.0, 8.5),
        # Recent errors a little smaller (95% of their sizes reach 1.47 band widths): the band keeps the
        # validation scale.
        ("a little quieter than on validation", 0.75, 1.1, 1.5),
        # Recent errors ten times smaller: a band that holds 95% of their sizes (~0.2), no wider.
        ("much quieter than on validation", 0.1, 0.17, 0.23),
    ],
)
def test_the_band_scale_follows_recent_errors_but_keeps_validation_unless_they_all_fit_inside_less(
    description, noise, expect_low, expect_high
):
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, noise, 400)
    k = _scale(_calibration(), values, origin=390)
    assert np.all(k[:, 0] == 1.0), description  # the median is never scaled
    assert expect_low <= k[0, 1] <= expect_high, (description, k[0, 1])
    assert np.all(k[:, 1] == k[0, 1])  # one scale for the whole horizon


def test_the_bounded_validation_scale_is_the_floor_when_the_model_has_one():
    """Recent errors of 2.4 band widths (their p90, joined by validation's, ~2.3; 95% of their sizes within
    ~3.5 in this draw): a validation scale of 3 is the band's; of 6, more than even the large recent errors
    needed, it gives way to them."""
    rng = np.random.default_rng(0)
    noisier = 100 + rng.normal(0, 2.4, 400)
    kw = _setup(noisier, 10)
    weights = {"flat": np.ones((1, H))}
    cal = _calibration()
    k = conformal_scales(cal, weights=weights, origins=np.array([390]), validation_scale=[1.0, 3.0], **kw)
    assert k[0, :, 1] == pytest.approx(np.full(H, 3.0))
    k = conformal_scales(cal, weights=weights, origins=np.array([390]), validation_scale=[1.0, 6.0], **kw)
    assert 3.2 <= k[0, 0, 1] <= 4.2 and np.all(k[0, :, 1] == k[0, 0, 1])


def test_a_widened_band_covers_what_it_says_on_a_noisier_regime():
    rng = np.random.default_rng(3)
    values = 100 + rng.normal(0, 4.0, 1200)  # four band widths of noise; validation said one
    cal = _calibration()
    origins = np.arange(100, 1190, 7)
    kw = _setup(values, 10)
    weights = {"flat": np.ones((len(origins), H))}
    k = conformal_scales(cal, weights=weights, origins=origins, **kw)[..., 1]  # [N, H]
    p90 = 100 + 1.0 * k
    actual = np.stack([values[t : t + H] for t in origins])
    assert 0.85 <= np.mean(actual <= p90) <= 0.95


def test_only_errors_observed_before_the_origin_count():
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 1.0, 400)
    before = _scale(_calibration(), values, origin=300)
    changed = values.copy()
    changed[300:] = 1e6  # the future changes wildly; the scale at origin 300 must not
    np.testing.assert_array_equal(before, _scale(_calibration(), changed, origin=300))


def test_errors_at_the_same_time_on_previous_days_widen_the_band_at_that_time_only():
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 1.0, 8 * DAY)
    burst_at = 30  # a burst of large errors at the same time every day
    for day in range(8):
        values[day * DAY + burst_at : day * DAY + burst_at + 6] += 8.0
    cal = _calibration(seasonal_days=3)
    at_burst = 7 * DAY + burst_at - 2  # the burst falls inside this forecast
    assert (
        _scale(cal, values, origin=at_burst)[:, 1].max()
        > 2 * _scale(_calibration(), values, origin=at_burst)[:, 1].max()
    )
    before = 7 * DAY + burst_at - 20  # hours before it: yesterday's errors at this time were ordinary
    assert _scale(cal, values, origin=before)[:, 1] == pytest.approx(
        _scale(_calibration(), values, origin=before)[:, 1], rel=0.25
    )
    assert cal.lookback_origins(H) == 3 * DAY + 5


def test_same_minute_scores_cover_a_one_minute_burst_that_same_origin_scores_dilute():
    # One step a day far above the forecast, at the same minute. The forecasts made around the same time on
    # the last days, each at the same step (origin-aligned), reach that minute once in 2 * H + 1: their p90
    # is an ordinary error. The forecasts *of* that minute (target-aligned), at every lead, all missed it.
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 1.0, 8 * DAY)
    burst_at = 30
    values[burst_at::DAY] += 8.0
    origin = 7 * DAY + burst_at - 4  # the burst is this forecast's step 4
    same_origin = _calibration(seasonal_days=3, halfwidth=H)
    same_minute = _calibration(seasonal_days=3, halfwidth=H, align="target")
    by_origin = _scale(same_origin, values, origin=origin)[:, 1]
    by_target = _scale(same_minute, values, origin=origin)[:, 1]
    plain = _scale(_calibration(), values, origin=origin)[:, 1]
    assert by_target[4] >= 7.0, "the band reaches the burst (8 band widths above) at its step"
    assert by_target[4] > 2 * by_origin[4], "same-origin scores: one burst score in 13 a day"
    # The other steps' targets were ordinary minutes on every day: the band stays about as the recent errors
    # say (18 scores a step: their p90 is noisy), where same-origin scores widened every step alike.
    others = np.arange(H) != 4
    assert np.median(by_target[others]) == pytest.approx(plain[0], rel=0.3)
    assert by_origin[others].min() > 1.5 * plain[0]
    # The same scores, through the round trip a saved model makes.
    back = BandCalibration.from_dict(_calibration(seasonal_days=3, halfwidth=H, align="target").to_dict())
    assert back.seasonal_align == "target"
    saved_before = {k: v for k, v in back.to_dict().items() if k != "seasonal_align"}
    assert BandCalibration.from_dict(saved_before).seasonal_align == "origin", "models saved before it"
    with pytest.raises(ValueError, match="seasonal_align"):
        BandCalibration.from_dict({**back.to_dict(), "seasonal_align": "minute"})


def test_without_enough_scores_the_validation_scale_decides():
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 5.0, 400)
    floor = np.quantile(_calibration().prior[1], 0.9)
    # No origin kept before this one (a cold start): nothing recent, nothing seasonal to judge.
    k = _scale(_calibration(seasonal_days=3), values, origin=11)
    assert k[:, 1] == pytest.approx(np.full(H, floor))


def test_a_burst_from_an_idle_level_gives_a_bounded_band():
    values = np.full(400, 100.0)
    values[350:380] = 1e6
    k = _scale(_calibration(), values, origin=390)
    assert np.isfinite(k).all() and k[0, 1] == MAX_SCALE


def test_the_widened_band_never_reaches_beyond_the_errors_themselves():
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 0.1, 400)
    values[340:390] += 50.0  # the load jumped by 50 where the network's band had collapsed to 0.01
    kw = _setup(values, 10)
    kw["raw"][:370, :, 1] = 100.01  # scores there are 5000 band widths: the scale alone would hit its cap
    origin = 390
    width = conformal_width(
        _calibration(),
        weights={"flat": np.ones((1, H))},
        origins=np.array([origin]),
        point=np.full((1, H), 100.0),
        **kw,
    )[0, :, 1]
    assert width.min() >= 40.0 and width.max() <= 50.5  # about the jump, not 100 of today's band widths


def test_scores_skip_what_cannot_be_scored():
    r = scores(np.array([110.0, np.nan]), np.array([100.0, 100.0]), np.array([[0.0, 5.0], [0.0, 5.0]]))
    assert np.isnan(r[:, 0]).all()  # a zero-width median
    assert r[0, 1] == 2.0 and np.isnan(r[1, 1])  # a missing target


def test_calibration_round_trips_through_json():
    cal = _calibration(seasonal_days=2)
    back = BandCalibration.from_dict(cal.to_dict())
    np.testing.assert_allclose(back.prior, cal.prior, atol=1e-5, equal_nan=True)
    assert (back.half_life_steps, back.window, back.season_steps, back.seasonal_days) == (12, 36, DAY, 2)
    with pytest.raises(ValueError):
        BandCalibration(prior=np.zeros((2, 3, 4)), half_life_steps=1, window=1)


# -- the model ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noisier():
    """Six quiet days of a daily cycle (training), then a day whose noise is four times larger."""
    quiet = daily_sine(days=7, noise=0.02, seed=4)
    rng = np.random.default_rng(5)
    values = quiet.to_numpy().copy()
    values[-288:] *= 1 + rng.normal(0, 0.08, 288)
    return pd.Series(values, index=quiet.index, name="load")


@pytest.fixture(scope="module")
def model(noisier):
    torch.set_num_threads(1)
    return fit_forecaster(noisier.iloc[:-288], model=TINY_MODEL, train=TINY_TRAIN, name="svc")


def test_the_calibrated_band_covers_a_noisier_day_that_the_fixed_scale_misses(model, noisier):
    assert model.calibration is not None
    fixed = copy.copy(model)
    fixed.calibration = None  # the validation-fitted scale alone, as models trained before
    fixed.reset()
    origins = np.arange(len(noisier) - 288 + 48, len(noisier) - H, 3)
    actual = np.stack([noisier.to_numpy()[t : t + H] for t in origins])

    def coverage(m: Forecaster) -> float:
        frames = m.predict_many(noisier, origins=origins)
        return float(np.mean(actual <= np.stack([f["p90"].to_numpy() for f in frames])))

    calibrated, old = coverage(model), coverage(fixed)
    assert calibrated >= 0.8 and calibrated > old + 0.1, (calibrated, old)


def test_the_calibration_is_saved_and_the_model_asks_for_the_history_it_reads(model, noisier, tmp_path):
    loaded = Forecaster.load(model.save(tmp_path / "m"))
    assert loaded.calibration is not None
    history = noisier.iloc[:-100]
    model.reset()  # forget the components kept from the other tests' calls, as the loaded model has none
    pd.testing.assert_frame_equal(loaded.predict(history), model.predict(history))
    need = max(model.weighting.lookback_origins(H), model.calibration.lookback_origins(H))
    assert model.lookback_steps == model.min_history_steps + need


def test_a_series_pinned_at_a_level_gets_a_band_as_narrow_as_its_errors(model, noisier):
    """After the training days the load is pinned at 140 (a CPU at its ceiling) with errors of 0.1%: the
    validation scale's band, ~2% of the level, held every minute; the calibrated band narrows to what held
    95% of the recent errors, once the window holds only the pinned regime, and still covers."""
    rng = np.random.default_rng(6)
    values = noisier.to_numpy().copy()
    values[-288:] = 140 * (1 + rng.normal(0, 0.001, 288))
    pinned = pd.Series(values, index=noisier.index, name="load")
    origins = np.arange(len(pinned) - 288 + 150, len(pinned) - H, 2)  # the window (36 origins) is pinned
    actual = np.stack([values[t : t + H] for t in origins])
    fixed = copy.copy(model)
    fixed.calibration = None  # the validation-fitted scale alone
    fixed.reset()
    model.reset()

    def band(m: Forecaster) -> tuple[float, float]:
        frames = m.predict_many(pinned, origins=origins)
        p50 = np.stack([f["p50"].to_numpy() for f in frames])
        p90 = np.stack([f["p90"].to_numpy() for f in frames])
        return float(np.mean(actual <= p90)), float(np.median((p90 - p50) / p50))

    (covered, width), (fixed_covered, fixed_width) = band(model), band(fixed)
    model.reset()
    assert fixed_covered == 1.0 and fixed_width > 0.01, (fixed_covered, fixed_width)
    assert width < 0.25 * fixed_width and width < 0.005, (width, fixed_width)
    assert covered >= 0.85, covered
