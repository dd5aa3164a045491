"""Model-store behaviours that campaign 2 of the planted bugs showed no test held (bench/results/planted2.md).

Through :class:`forecaster.store.ModelStore`'s public methods on a directory store, with a tiny trained model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.errors import ModelStoreError
from forecaster.model import WEIGHTS_FILE
from forecaster.promotion import train_target
from forecaster.settings import TargetConfig, TrainSettings
from forecaster.store import ModelStore, resolve_model_dir
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 00:00")
DAY = pd.Timedelta(days=1)
FAST = TrainSettings(epochs=3, batch_size=32, max_windows_per_epoch=128, patience=1, seed=0, backtest="1d")
"""Three short epochs: enough for the tiny candidate to beat last value on the drifting series (one gradient
step was, until the loss weighted windows by their level; then the static blend kept last value alone)."""


def _drifting(days: int = 3) -> pd.Series:
    """A daily cycle with a slow drift: a three-epoch candidate beats every baseline on it."""
    base = daily_sine(days=days)
    return base * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.003, len(base))))


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return fit_forecaster(daily_sine(days=6, noise=0.03), model=TINY_MODEL, train=TINY_TRAIN, name="tiny")


@pytest.mark.parametrize(
    ("description", "factor"),
    [
        ("the target's config asks for a finer step than the model forecasts in", 0.2),
        ("the target's config asks for a coarser step than the model forecasts in", 5.0),
    ],
)
def test_a_model_on_another_grid_than_the_config_is_refused_either_way(tmp_path, model, description, factor):
    """A forecast on the wrong grid is wrong numbers at the wrong times, whichever way the step differs."""
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW)
    store.promote("svc", ref.version, reason="t", now=NOW)
    other_step = pd.Timedelta(model.step) * factor
    with pytest.raises(ModelStoreError, match="retrain") as info:
        store.load_for("svc", step=other_step)
    assert f"the target's step is {other_step}" in str(info.value), description
    assert store.load_for("svc", step=model.step) is not None  # the right step still loads


def test_a_store_with_several_promoted_targets_asks_which_one(tmp_path, model):
    """``--model DIR`` on a store of several targets must not silently load one of them."""
    store = ModelStore(tmp_path)
    for target in ("checkout", "search"):
        ref = store.save(target, model, now=NOW)
        store.promote(target, ref.version, reason="t", now=NOW)
    with pytest.raises(ModelStoreError, match="several promoted targets") as info:
        resolve_model_dir(tmp_path)
    assert "checkout" in str(info.value) and "search" in str(info.value)
    assert resolve_model_dir(tmp_path / "search") == store.current("search").path  # naming one works


def test_a_current_model_that_no_longer_loads_is_replaced_not_fatal(tmp_path):
    """The nightly training must recover from a current version whose weights were lost, not fail every night."""
    torch.set_num_threads(1)
    store = ModelStore(tmp_path)
    old = store.save(
        "svc", fit_forecaster(daily_sine(days=3), model=TINY_MODEL, train=FAST, name="svc"), now=NOW
    )
    store.promote("svc", old.version, reason="seeded", now=NOW)
    (old.path / WEIGHTS_FILE).unlink()
    store = ModelStore(tmp_path)  # the next night's job: a new process, nothing cached

    result = train_target(
        TargetConfig(name="svc", model=TINY_MODEL, train=FAST), _drifting(), store=store, now=NOW + DAY
    )

    assert "the current model could not be loaded" in result.reason
    assert "current" not in result.backtest.scores
    assert result.promoted is True, result.reason
    assert store.current("svc").version == result.saved.version
    assert store.pointer("svc")["previous"] == old.version
