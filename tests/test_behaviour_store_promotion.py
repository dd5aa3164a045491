"""The nightly training's promotion as operators read it (:func:`forecaster.promotion.train_target`), with a
budget of three short epochs: what is held out, what the current model is compared with (or why not), what a damaged
or unloadable current model does, and the refusals.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.errors import DataError
from forecaster.promotion import train_target
from forecaster.settings import TargetConfig, TrainSettings
from forecaster.store import POINTER_FILE, ModelStore
from tests.helpers import TINY_MODEL, daily_sine

NOW = pd.Timestamp("2026-03-10")
FAST = TrainSettings(epochs=3, batch_size=32, max_windows_per_epoch=128, patience=1, seed=0, backtest="1d")
"""Three short epochs: enough for the tiny candidate to beat last value on the drifting series (one gradient
step was, until the loss weighted windows by their level; then the static blend kept last value alone)."""
CFG = TargetConfig(name="svc", model=TINY_MODEL, train=FAST)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _drifting(days: int = 3) -> pd.Series:
    base = daily_sine(days=days)
    return base * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.003, len(base))))


def test_a_series_off_a_regular_grid_is_refused(tmp_path):
    series = daily_sine(days=3)
    irregular = pd.Series(series.to_numpy(), index=pd.DatetimeIndex(list(series.index)))
    with pytest.raises(DataError, match="regular grid"):
        train_target(CFG, irregular, store=ModelStore(tmp_path), now=NOW)


def test_a_short_history_holds_out_its_last_fifth_and_the_version_is_always_saved(tmp_path):
    store = ModelStore(tmp_path)
    series = _drifting(days=3)
    cfg = dataclasses.replace(CFG, train=dataclasses.replace(FAST, backtest="2d"))  # 2 of 3 days: too long

    result = train_target(cfg, series, store=store, now=NOW)

    held = series.index[len(series) - len(series) // 5 :]
    assert result.metrics["backtest"]["start"] == str(held[0])
    assert result.metrics["backtest"]["end"] == str(series.index[-1])
    assert store.versions("svc") == [result.saved.version]
    assert store.ref("svc", result.saved.version).metrics["backtest"]["every"] == "1h"


def test_the_held_out_range_is_the_configured_backtest(tmp_path):
    series = _drifting(days=3)
    result = train_target(CFG, series, store=ModelStore(tmp_path), now=NOW)
    assert result.metrics["backtest"]["start"] == str(series.index[-288])


def test_an_incompatible_current_model_is_replaced_not_compared(tmp_path):
    store = ModelStore(tmp_path)
    series = _drifting(days=3)
    first = train_target(CFG, series, store=store, now=NOW)
    store.promote("svc", first.saved.version, reason="by hand", now=NOW)
    other = dataclasses.replace(CFG, model=dataclasses.replace(TINY_MODEL, horizon="1h"))

    result = train_target(other, series, store=store, now=NOW + pd.Timedelta(days=1))

    assert "the current model has a different step, horizon or quantiles and is replaced" in result.reason
    assert "current" not in result.backtest.scores
    assert result.previous_version == first.saved.version


def test_a_candidate_that_only_ties_the_current_model_is_not_promoted(tmp_path):
    """The same data and seed train the same model again: its score equals the current model's, and a tie is
    not an improvement (promoting it would only churn versions)."""
    store = ModelStore(tmp_path)
    series = _drifting(days=3)
    first = train_target(CFG, series, store=store, now=NOW)
    store.promote("svc", first.saved.version, reason="by hand", now=NOW)

    result = train_target(CFG, series, store=store, now=NOW + pd.Timedelta(days=1))

    scores = result.backtest.scores
    assert scores["candidate"].wape == scores["current"].wape
    assert result.promoted is False and result.previous_version == first.saved.version
    assert "does not beat the current model's" in result.reason
    assert store.current("svc").version == first.saved.version
    assert len(store.versions("svc")) == 2  # saved all the same


@pytest.mark.parametrize("damage", ["pointer", "weights"])
def test_a_damaged_or_unloadable_current_model_never_stops_the_training(tmp_path, damage):
    store = ModelStore(tmp_path)
    series = _drifting(days=3)
    first = train_target(CFG, series, store=store, now=NOW)
    store.promote("svc", first.saved.version, reason="by hand", now=NOW)
    if damage == "pointer":
        (tmp_path / "svc" / POINTER_FILE).write_text("{trunc")
    else:
        (tmp_path / "svc" / "versions" / first.saved.version / "weights.safetensors").unlink()

    result = train_target(CFG, series, store=ModelStore(tmp_path), now=NOW + pd.Timedelta(days=1))

    said = "was damaged and is treated as absent" if damage == "pointer" else "could not be loaded"
    assert said in result.reason
    assert "current" not in result.backtest.scores
    assert len(ModelStore(tmp_path).versions("svc")) == 2
