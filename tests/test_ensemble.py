"""The seed ensemble (forecaster.nn.EnsembleLSTM, trained by fit_forecaster within a cost budget)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster import training
from forecaster.errors import ConfigError, ModelStoreError
from forecaster.model import Forecaster
from forecaster.nn import EnsembleLSTM, QuantileLSTM
from forecaster.settings import ModelSettings, TrainSettings, target_config_from_dict
from forecaster.sources.synthetic import live_streaming


def _members(k: int, *, n_quantiles: int = 2) -> list[QuantileLSTM]:
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        net = QuantileLSTM(
            past_features=6, future_features=5, horizon=4, n_quantiles=n_quantiles, hidden_size=8
        )
        with torch.no_grad():  # away from the persistence start, so that members differ
            for p in net.parameters():
                p.add_(0.3 * torch.randn_like(p))
        out.append(net.eval())
    return out


def test_fused_forecast_is_the_mean_of_the_members():
    members = _members(3)
    ensemble = EnsembleLSTM(members).eval()
    past, future, level = torch.randn(5, 12, 6), torch.randn(5, 4, 5), torch.randn(5, 1)
    with torch.no_grad():
        each = torch.stack([m(past, future, level) for m in members])
    with torch.inference_mode():
        fused = ensemble(past, future, level)  # one LSTM with the members side by side
    assert torch.allclose(fused, each.mean(0), atol=1e-5)
    assert not torch.allclose(each[0], each[1]), "members differ, so the mean is not one of them"
    assert torch.all(fused[..., 1] >= fused[..., 0]), "quantiles do not cross"
    # Changed weights are fused again (the fused copy is derived, never stale): loaded, or edited in place.
    members[1].load_state_dict(members[0].state_dict())
    with torch.no_grad():
        members[2].head[-1].bias.add_(0.5)
    with torch.inference_mode():
        again = ensemble(past, future, level)
    with torch.no_grad():
        expected = torch.stack([m(past, future, level) for m in members]).mean(0)
    assert torch.allclose(again, expected, atol=1e-5)


def test_widest_band_keeps_every_members_peak_around_the_mean_median():
    # Averaging the members' p90 paths lowers their peak where the members peak at different steps (the
    # true 30-minute peak then beats the p90's peak more often); the widest member's distance keeps it.
    members = _members(3, n_quantiles=3)
    past, future, level = torch.randn(5, 12, 6), torch.randn(5, 4, 5), torch.randn(5, 1)
    with torch.no_grad():
        each = torch.stack([m(past, future, level) for m in members])  # [K, B, H, Q]
    ensemble = EnsembleLSTM(members, band="widest", median=1).eval()
    with torch.inference_mode():
        fused = ensemble(past, future, level)
    with torch.no_grad():
        unfused = ensemble._together(each)
    assert torch.allclose(fused, unfused, atol=1e-5), "the fused pass combines the members alike"
    p50 = each[..., 1].mean(0)
    assert torch.allclose(fused[..., 1], p50, atol=1e-5), "the median is the members' mean"
    up = (each[..., 2] - each[..., 1]).amax(0)
    down = (each[..., 0] - each[..., 1]).amin(0)
    assert torch.allclose(fused[..., 2], p50 + up, atol=1e-5)
    assert torch.allclose(fused[..., 0], p50 + down, atol=1e-5)
    assert torch.all(fused[..., 2] >= fused[..., 1]) and torch.all(fused[..., 1] >= fused[..., 0])
    # Wider than the mean of the bands wherever the members' widths differ, and never narrower.
    mean = each.mean(0)
    assert torch.all(fused[..., 2] - fused[..., 1] >= mean[..., 2] - mean[..., 1] - 1e-6)
    assert torch.any(fused[..., 2] - fused[..., 1] > mean[..., 2] - mean[..., 1] + 1e-3)
    with pytest.raises(ValueError, match="median"):
        EnsembleLSTM(members, band="widest")
    with pytest.raises(ValueError, match="band"):
        EnsembleLSTM(members, band="max")


@pytest.fixture(scope="module")
def series() -> pd.Series:
    return live_streaming(days=4, seed=5)


def test_members_within_budget_and_saved_as_one_model(series, tmp_path, monkeypatch):
    model = training.fit_forecaster(
        series,
        model=ModelSettings(hidden_size=8, lookback="30m"),
        train=TrainSettings(epochs=2, max_windows_per_epoch=256, blend=False, ensemble_members=2),
    )
    assert isinstance(model.network, EnsembleLSTM) and model.architecture["ensemble"] == 2
    assert model.architecture["ensemble_band"] == "widest" and model.network.band == "widest"
    assert len(model.info["training"]["ensemble_members"]) == 2
    saved = model.save(tmp_path / "m")
    loaded = Forecaster.load(saved)
    assert isinstance(loaded.network, EnsembleLSTM) and loaded.network.band == "widest"
    history = series.iloc[:-30]
    np.testing.assert_allclose(
        loaded.predict(history).to_numpy(), model.predict(history).to_numpy(), rtol=1e-5
    )
    # An ensemble saved before the band was named averaged every quantile, and still does.
    manifest = json.loads((saved / "manifest.json").read_text())
    del manifest["architecture"]["ensemble_band"]
    (saved / "manifest.json").write_text(json.dumps(manifest))
    assert Forecaster.load(saved).network.band == "mean"
    # A budget too small for a second member keeps one network, saved as before (no ``ensemble`` key).
    monkeypatch.setattr(training, "_ENSEMBLE_BUDGET", 1)
    single = training.fit_forecaster(
        series,
        model=ModelSettings(hidden_size=8, lookback="30m"),
        train=TrainSettings(epochs=2, max_windows_per_epoch=256, blend=False, ensemble_members=2),
    )
    assert isinstance(single.network, QuantileLSTM) and "ensemble" not in single.architecture


def test_a_manifest_declaring_absurd_members_is_refused(series, tmp_path):
    model = training.fit_forecaster(
        series, model=ModelSettings(hidden_size=8, lookback="30m"), train=TrainSettings(epochs=1, blend=False)
    )
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["architecture"]["ensemble"] = 100000
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelStoreError, match="ensemble"):
        Forecaster.load(path)


@pytest.mark.parametrize("members", [0, 9, 1.5, True])
def test_a_member_count_outside_one_to_eight_is_refused_before_training(series, members):
    with pytest.raises(ConfigError, match="ensemble_members"):
        training.fit_forecaster(
            series,
            model=ModelSettings(hidden_size=8, lookback="30m"),
            train=TrainSettings(ensemble_members=members),
        )
    config = {"name": "web", "train": {"ensemble_members": members}}
    with pytest.raises(ConfigError, match="ensemble_members"):
        target_config_from_dict(config)
