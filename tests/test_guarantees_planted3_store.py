"""Model-store and promotion behaviours that campaign 3 of the planted bugs showed no test held
(bench/results/planted3.md).

Through :func:`forecaster.promotion.train_target` and :class:`forecaster.store.ModelStore`, with tiny models.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

import forecaster.promotion as promotion
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


def test_a_candidate_that_only_ties_the_best_baseline_is_not_promoted(tmp_path, monkeypatch):
    """Promotion needs a strictly better backtest: a tie with the best baseline (here made exact by giving the
    candidate the baseline's own scores) saves the version and leaves the store without a current model."""
    real = promotion.evaluate_candidates

    def tied(*args, **kwargs):
        result = real(*args, **kwargs)
        best = result.best_baseline(exclude=("candidate", "current"))
        result.scores["candidate"] = dataclasses.replace(result.scores[best])
        return result

    monkeypatch.setattr(promotion, "evaluate_candidates", tied)
    store = ModelStore(tmp_path)

    result = train_target(CFG, daily_sine(days=3, noise=0.05), store=store, now=NOW)

    assert result.promoted is False, result.reason
    assert store.current("svc") is None
    assert "does not beat the best baseline" in result.reason
    assert store.versions("svc") == [result.saved.version]  # saved all the same
