"""The nightly promotion's edges (:func:`forecaster.promotion.train_target`) with a one-epoch budget: where the
held-out range starts when the configured backtest is half the history, a candidate that only ties the best
baseline, what the saved version and the pointer record, and that the candidate never trains on the range
it is judged on.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster import promotion
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


def _drifting(days: float) -> pd.Series:
    base = daily_sine(days=days)
    return base * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.003, len(base))))


@pytest.mark.parametrize(
    ("backtest", "held_out"),
    [
        ("1d", 576 // 5),  # 288 of 576 points: half the history is too much, the last fifth is held out
        ("1435m", 287),  # a step less than half: held out as configured
    ],
)
def test_a_backtest_of_half_the_history_or_more_holds_out_the_last_fifth(tmp_path, backtest, held_out):
    series = _drifting(days=2)
    cfg = dataclasses.replace(CFG, train=dataclasses.replace(FAST, backtest=backtest))

    result = train_target(cfg, series, store=ModelStore(tmp_path), now=NOW)

    assert result.metrics["backtest"]["start"] == str(series.index[-held_out])
    assert result.metrics["backtest"]["end"] == str(series.index[-1])


def test_the_candidate_trains_only_before_the_held_out_range_and_the_version_says_what_it_was_judged_on(
    tmp_path,
):
    store = ModelStore(tmp_path)
    series = _drifting(days=3)

    result = train_target(CFG, series, store=store, now=NOW)

    split = len(series) - 288
    manifest = store.ref("svc", result.saved.version).manifest
    assert manifest["training"]["data_end"] == str(series.index[split - 1])
    assert manifest["training"]["points"] == split
    backtest = manifest["metrics"]["backtest"]
    assert backtest["origins"] == len(result.backtest.origins) >= 20  # an origin an hour of the held-out day
    assert set(backtest["models"]) == set(result.backtest.scores) >= {"candidate", "last_value"}
    if result.promoted:
        assert store.pointer("svc")["reason"] == result.reason
        assert result.reason.startswith(f"WAPE {result.backtest.scores['candidate'].wape:.3f} beats")


def test_a_candidate_that_only_ties_the_best_baseline_is_saved_not_promoted(tmp_path, monkeypatch):
    real = promotion.backtest_against_baselines

    def tied(*args, **kwargs):
        result = real(*args, **kwargs)
        best = result.best_baseline(exclude=("candidate", "current"))
        result.scores["candidate"] = dataclasses.replace(
            result.scores["candidate"], wape=result.scores[best].wape
        )
        return result

    monkeypatch.setattr(promotion, "backtest_against_baselines", tied)
    store = ModelStore(tmp_path)

    result = train_target(CFG, _drifting(days=3), store=store, now=NOW)

    assert result.promoted is False
    assert "does not beat the best baseline" in result.reason
    assert store.pointer("svc") is None and len(store.versions("svc")) == 1


def test_a_candidate_just_better_than_the_best_baseline_is_promoted_naming_it(tmp_path, monkeypatch):
    real = promotion.backtest_against_baselines

    def better(*args, **kwargs):
        result = real(*args, **kwargs)
        best = result.best_baseline(exclude=("candidate", "current"))
        result.scores["candidate"] = dataclasses.replace(
            result.scores["candidate"], wape=result.scores[best].wape * 0.999
        )
        return result

    monkeypatch.setattr(promotion, "backtest_against_baselines", better)
    store = ModelStore(tmp_path)

    result = train_target(CFG, _drifting(days=3), store=store, now=NOW)

    best = result.backtest.best_baseline(exclude=("candidate", "current"))
    assert result.promoted is True
    assert f"beats the best baseline ({best} " in result.reason
    assert store.current("svc").version == result.saved.version
    assert store.pointer("svc")["reason"] == result.reason
    assert result.previous_version is None
