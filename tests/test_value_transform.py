"""The variance-stabilising unit the network reads: chosen from the training data, stated in the manifest."""

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.model import Forecaster, choose_value_transform, from_network_scale, to_network_scale
from forecaster.settings import ModelSettings
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine


@pytest.mark.parametrize(
    "description, values, expected",
    [
        ("request counts", np.array([0.0, 3, 17, 250, 4, 9]), "anscombe"),
        ("CPU percent", np.array([12.5, 13.1, 40.2, 7.7]), "none"),
        ("negative values", np.array([-2.0, 3, 5, 8]), "none"),
        ("a constant count", np.array([5.0, 5, 5, 5]), "none"),
        ("counts with masked gaps", np.array([1.0, np.nan, 7, 30]), "anscombe"),
        ("no finite value", np.array([np.nan, np.nan]), "none"),
    ],
)
def test_count_like_series_get_the_anscombe_transform(description, values, expected):
    assert choose_value_transform(values) == expected, description


def test_the_transform_round_trips_and_keeps_the_order_of_quantiles():
    y = np.array([0.0, 0.5, 1, 10, 1000, 1e6])
    for kind in ("none", "anscombe"):
        np.testing.assert_allclose(from_network_scale(to_network_scale(y, kind), kind), y, atol=1e-9)
    net = np.array([-1.0, 0.0, 1.0, 1.3, 5.0])  # below the transform's range maps to zero, order kept
    back = from_network_scale(net, "anscombe")
    assert (back >= 0).all() and (np.diff(back) >= 0).all()


def test_unknown_transform_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="value_transform"):
        ModelSettings(value_transform="log")


@pytest.fixture(scope="module")
def counts():
    base = daily_sine(days=5, noise=0.05)
    rng = np.random.default_rng(0)
    return pd.Series(rng.poisson(np.maximum(base.to_numpy(), 0) * 0.2).astype(float), index=base.index)


def test_a_model_trained_on_counts_states_the_transform_and_round_trips(counts):
    settings = ModelSettings(**{**TINY_MODEL.__dict__, "value_transform": "auto"})
    model = fit_forecaster(counts, model=settings, train=TINY_TRAIN)
    assert model.value_transform == "anscombe"
    files = model.to_bytes()
    assert b'"value_transform": "anscombe"' in files["manifest.json"]
    loaded = Forecaster.from_bytes(files)
    a, b = model.predict(counts), loaded.predict(counts)
    pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(a.to_numpy()).all() and (a.to_numpy() >= 0).all()
    assert (a["p90"] >= a["p50"]).all()
    # The forecast is in the series' unit, not the network's: near the recent level.
    assert 0.3 < a["p50"].mean() / counts.iloc[-12:].mean() < 3
    # A short history still answers (the fallback reads untransformed values).
    short = model.predict(counts.iloc[:50])
    assert np.isfinite(short.to_numpy()).all() and short.attrs["answered_by"].startswith("fallback")


def test_by_default_counts_get_the_transform_and_other_series_none(counts):
    assert ModelSettings().value_transform == "auto"  # since session 13 (README, issue 10)
    model = fit_forecaster(counts, model=TINY_MODEL, train=TINY_TRAIN)
    assert model.value_transform == "anscombe" and model.architecture["value_transform"] == "anscombe"
    fractional = counts + 0.5 * np.random.default_rng(1).random(len(counts))
    model = fit_forecaster(fractional, model=TINY_MODEL, train=TINY_TRAIN)
    assert model.value_transform == "none" and "value_transform" not in model.architecture
    off = ModelSettings(**{**TINY_MODEL.__dict__, "value_transform": "none"})
    model = fit_forecaster(counts, model=off, train=TINY_TRAIN)
    assert model.value_transform == "none" and "value_transform" not in model.architecture
