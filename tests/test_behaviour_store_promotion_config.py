"""A target whose model config changed (:func:`forecaster.promotion.train_target`): a current model that
forecasts other quantiles cannot serve the new config (the service would refuse it), so it is replaced, not
compared; a candidate never inherits the old model's quantiles.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.promotion import train_target
from forecaster.settings import TargetConfig, TrainSettings
from forecaster.store import ModelStore
from tests.helpers import TINY_MODEL, daily_sine

NOW = pd.Timestamp("2026-03-10")
FAST = TrainSettings(epochs=1, batch_size=32, max_windows_per_epoch=32, patience=1, seed=0, backtest="1d")
CFG = TargetConfig(name="svc", model=TINY_MODEL, train=FAST)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _drifting(days: int = 3) -> pd.Series:
    base = daily_sine(days=days)
    return base * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.003, len(base))))


def test_a_current_model_with_other_quantiles_is_replaced_not_compared(tmp_path):
    store = ModelStore(tmp_path)
    series = _drifting()
    first = train_target(CFG, series, store=store, now=NOW)
    store.promote("svc", first.saved.version, reason="by hand", now=NOW)
    wider = dataclasses.replace(CFG, model=dataclasses.replace(TINY_MODEL, quantiles=(0.5, 0.9, 0.99)))

    result = train_target(wider, series, store=store, now=NOW + pd.Timedelta(days=1))

    assert "the current model has a different step, horizon or quantiles and is replaced" in result.reason
    assert "current" not in result.backtest.scores
    assert result.previous_version == first.saved.version
    assert tuple(store.load("svc", result.saved.version).quantiles) == (0.5, 0.9, 0.99)


def test_a_current_model_of_another_step_is_replaced_not_compared(tmp_path):
    """The target moved from 5-minute to 1-minute data with the same number of horizon steps (30m / 5m = 6m /
    1m): the old model forecasts another grid, so it is replaced, not backtested on the new one."""
    store = ModelStore(tmp_path)
    first = train_target(CFG, _drifting(), store=store, now=NOW)
    store.promote("svc", first.saved.version, reason="by hand", now=NOW)
    fine = dataclasses.replace(CFG, model=dataclasses.replace(TINY_MODEL, horizon="6m", lookback="12m"))
    minutes = daily_sine(days=3, step="1min")

    result = train_target(fine, minutes, store=store, now=NOW + pd.Timedelta(days=1))

    assert store.load("svc", first.saved.version).horizon_steps == 6
    assert store.load("svc", result.saved.version).horizon_steps == 6
    assert "the current model has a different step, horizon or quantiles and is replaced" in result.reason
    assert "current" not in result.backtest.scores
    assert result.previous_version == first.saved.version
    assert store.load("svc", result.saved.version).step == pd.Timedelta(minutes=1)
