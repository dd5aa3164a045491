"""The model's statistical components (:mod:`forecaster.model`) by hand: last value, seasonal naive, the
recent mean and the re-levelled seasonal mean a skill weighting leans on, the static blend, and the parts of
a saved model's manifest that are checked when it is loaded (band scale, calibration, ensemble size).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.calibration import BandCalibration
from forecaster.errors import ModelStoreError
from forecaster.model import MANIFEST_FILE, Forecaster, baseline_points, blend_points, smoothed_points
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

FIVE = pd.Timedelta("5min")


def test_last_value_repeats_the_point_before_each_origin():
    values = np.arange(20.0)
    out = baseline_points(values, np.array([10, 15]), horizon=3, season=0)
    np.testing.assert_array_equal(out["last_value"], [[9, 9, 9], [14, 14, 14]])
    np.testing.assert_array_equal(out["seasonal_naive"], out["last_value"])  # no season: the same


def test_seasonal_naive_reads_one_season_back_and_wraps_to_the_latest_season_it_has_seen():
    values = np.arange(20.0)
    out = baseline_points(values, np.array([10]), horizon=3, season=4)
    np.testing.assert_array_equal(out["seasonal_naive"], [[6, 7, 8]])
    longer = baseline_points(values, np.array([10]), horizon=6, season=4)
    # Steps 4 and 5 would read 10 and 11, at or after the origin: the season before instead.
    np.testing.assert_array_equal(longer["seasonal_naive"], [[6, 7, 8, 9, 6, 7]])


def _mean(values: np.ndarray, lo: int, hi: int) -> float:
    return float(np.mean(values[max(lo, 0) : hi]))


def test_the_recent_mean_is_the_mean_of_the_last_15_minutes_before_the_origin():
    values = np.random.default_rng(0).uniform(0, 100, 40)
    origins = np.array([2, 3, 20, 40])
    out = smoothed_points(values, origins, horizon=4, season=0, step=FIVE)
    expected = [_mean(values, t - 3, t) for t in origins]  # 3 five-minute points; fewer at the start
    np.testing.assert_allclose(out["recent_mean"], np.repeat(np.array(expected)[:, None], 4, axis=1))
    one = smoothed_points(values, origins, horizon=2, season=0, step=pd.Timedelta("1h"))
    np.testing.assert_allclose(one["recent_mean"][:, 0], values[origins - 1])  # coarser than 15 minutes
    assert "seasonal_mean" not in out  # no season


@pytest.mark.parametrize("days", [1, 2, 3, 4])
def test_the_seasonal_mean_is_todays_level_plus_the_same_times_deviation_over_up_to_three_days(days):
    season, hour, H = 24, 12, 3
    rng = np.random.default_rng(days)
    values = rng.uniform(10, 100, hour + days * season + 5)
    t = hour + days * season  # exactly `days` seasons (and an hour before the oldest) behind it
    out = smoothed_points(values, np.array([t]), horizon=H, season=season, step=FIVE)
    devs = [
        values[t - k * season : t - k * season + H] - _mean(values, t - k * season - hour, t - k * season)
        for k in range(1, min(days, 3) + 1)
    ]
    expected = _mean(values, t - hour, t) + np.mean(devs, axis=0)
    np.testing.assert_allclose(out["seasonal_mean"][0], expected)


def test_no_seasonal_mean_without_a_day_and_an_hour_of_history_or_beyond_a_season():
    season = 24
    values = np.arange(100.0)
    short = smoothed_points(values, np.array([season + 11]), horizon=3, season=season, step=FIVE)
    assert "seasonal_mean" not in short  # the day before lacks its hour of level
    enough = smoothed_points(values, np.array([season + 12]), horizon=3, season=season, step=FIVE)
    assert "seasonal_mean" in enough
    long = smoothed_points(values, np.array([60]), horizon=season + 1, season=season, step=FIVE)
    assert "seasonal_mean" not in long


def test_the_static_blend_is_the_weighted_sum_of_the_members_it_names():
    members = {
        "lstm": np.array([10.0, 20.0]),
        "last_value": np.array([0.0, 4.0]),
        "other": np.array([1e9, 1e9]),
    }
    np.testing.assert_allclose(blend_points(members, {"lstm": 0.75, "last_value": 0.25}), [7.5, 16.0])
    np.testing.assert_allclose(blend_points(members, {"lstm": 1.0, "other": 0.0}), [10.0, 20.0])


# -- what a saved model's manifest may hold -----------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    train = dataclasses.replace(TINY_TRAIN, epochs=1, max_windows_per_epoch=64)
    return fit_forecaster(daily_sine(days=2, noise=0.02), model=TINY_MODEL, train=train, name="tiny")


def _load_with(model, **changes):
    files = model.to_bytes()
    manifest = json.loads(files[MANIFEST_FILE])
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    return Forecaster.from_bytes({**files, MANIFEST_FILE: json.dumps(manifest).encode()}, where="m")


@pytest.mark.parametrize(
    ("band_scale", "ok"),
    [([1.0, 99.9], True), ([0.01, 1.0], True), ([1.0, 100.0], False), ([0.0, 1.0], False), ([1.0], False)],
)
def test_a_band_scale_must_be_one_positive_factor_under_100_per_quantile(model, band_scale, ok):
    if ok:
        assert _load_with(model, band_scale=band_scale).band_scale == band_scale
    else:
        with pytest.raises(ModelStoreError, match="manifest is incomplete"):
            _load_with(model, band_scale=band_scale)


def test_a_calibration_must_have_one_row_per_quantile(model):
    prior = np.linspace(-2.0, 2.0, 2 * 8).reshape(2, 8)
    calibration = BandCalibration(
        prior=prior, half_life_steps=6.0, window=24, season_steps=288, seasonal_halfwidth=6, seasonal_days=3
    )
    state = calibration.to_dict()
    loaded = _load_with(model, calibration=state)
    np.testing.assert_allclose(loaded.calibration.prior, prior, atol=1e-5)
    assert dataclasses.replace(loaded.calibration, prior=prior) == dataclasses.replace(
        calibration, prior=prior
    )
    with pytest.raises(ModelStoreError, match="calibration prior"):
        _load_with(model, calibration={**state, "prior": state["prior"][:1]})


@pytest.mark.parametrize(("members", "ok"), [(1, True), (8, False), (0, False), (9, False)])
def test_an_ensemble_of_one_to_eight_networks_is_read_and_the_weights_must_fit_it(model, members, ok):
    architecture = {**model.architecture, "ensemble": members}
    if ok:
        assert _load_with(model, architecture=architecture).network is not None
        return
    # 8 networks: within bounds, but the weights hold one network (they do not fit); 0 and 9: out of bounds.
    with pytest.raises(ModelStoreError, match="ensemble|do not fit"):
        _load_with(model, architecture=architecture)


def test_the_manifest_round_trips_what_a_forecast_depends_on(model):
    loaded = Forecaster.from_bytes(model.to_bytes())
    assert loaded.weighting == model.weighting
    assert loaded.band_scale == model.band_scale
    assert loaded.blend == model.blend
    assert loaded.quantiles == model.quantiles and loaded.step == model.step
    history = daily_sine(days=2, noise=0.02)
    pd.testing.assert_frame_equal(loaded.predict(history), model.predict(history))


def test_a_non_negative_series_is_never_forecast_below_zero():
    torch.set_num_threads(1)
    train = dataclasses.replace(TINY_TRAIN, epochs=1, max_windows_per_epoch=64, blend=False)
    settings = dataclasses.replace(TINY_MODEL, quantiles=(0.1, 0.5, 0.9))
    trained = fit_forecaster(daily_sine(days=2, noise=0.02), model=settings, train=train, name="low")
    # Its p50 is the last value (a static blend of it alone), every quantile shifted with it: after an
    # outage to zero the p10 would lie below zero, and a count of requests never does.
    model = _load_with(trained, blend={"last_value": 1.0})
    history = daily_sine(days=2, noise=0.02)
    history.iloc[-12:] = 0.0
    frame = model.predict(history)
    assert (frame["p50"] == 0.0).all()
    assert (frame["p10"] == 0.0).all() and (frame["p90"] > 0).all()


def test_holt_winters_joins_the_blend_only_with_two_days_of_training_range(model):
    # Two days of history, of which 85% is the training range: short of the two seasons Holt-Winters needs.
    assert model.holt_winters is None
    scores = model.info["training"]["blend_validation_wape"]
    assert "holt_winters" not in scores and {"lstm", "last_value"} <= set(scores)
