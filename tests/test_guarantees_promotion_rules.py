"""The promotion rules with a one-second training budget: what is promoted, what is only saved, and the verdict
text operators read (tests/test_guarantees_promotion.py holds the slower cases with fully trained models).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.errors import DataError
from forecaster.promotion import train_target
from forecaster.settings import ModelSettings, TargetConfig, TrainSettings
from forecaster.store import ModelStore
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, daily_sine

NOW = pd.Timestamp("2026-03-10")
FAST = TrainSettings(epochs=3, batch_size=32, max_windows_per_epoch=128, patience=1, seed=0, backtest="1d")
"""Three short epochs: enough for the tiny candidate to beat last value on the drifting series (one gradient
step was, until the loss weighted windows by their level; then the static blend kept last value alone)."""
CFG = TargetConfig(name="svc", model=TINY_MODEL, train=FAST)
WAPE = r"\d\.\d{3}"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _drifting(days: int = 3) -> pd.Series:
    base = daily_sine(days=days)
    # A drift small enough that the daily shape, not the last value, is what a forecast must get right:
    # even a three-short-epoch candidate (its combination with the seasonal components) beats every baseline.
    return base * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.003, len(base))))


def _wapes(reason: str) -> list[float]:
    return [float(x) for x in re.findall(WAPE, reason)]


def test_a_candidate_that_loses_to_seasonal_naive_is_saved_not_promoted(tmp_path):
    store = ModelStore(tmp_path)
    series = daily_sine(days=3)  # perfectly periodic: seasonal naive is exact

    result = train_target(CFG, series, store=store, now=NOW)

    assert result.promoted is False and store.current("svc") is None
    assert re.fullmatch(
        f"WAPE {WAPE} does not beat the best baseline \\(seasonal_naive_daily 0.000\\)", result.reason
    )
    assert result.summary() == f"svc: version {result.saved.version} saved, NOT promoted: {result.reason}"
    assert result.previous_version is None and result.target == "svc"
    backtest = result.metrics["backtest"]
    assert (backtest["start"], backtest["end"]) == ("2026-03-04 00:00:00", "2026-03-04 23:55:00")
    assert backtest["every"] == "1h" and backtest["origins"] == 24 == len(result.backtest.origins)
    # (Holt-Winters needs two days before the held-out one; this history has two days in all)
    assert {"candidate", "last_value", "seasonal_naive_daily"} == set(backtest["models"])
    assert backtest["models"]["seasonal_naive_daily"]["wape"] == 0.0
    assert store.ref("svc", result.saved.version).metrics == result.metrics  # saved with its evidence


def test_a_winner_over_seasonal_naive_is_promoted_into_an_empty_store(tmp_path):
    store = ModelStore(tmp_path)

    result = train_target(CFG, _drifting(), store=store, now=NOW)

    assert result.promoted is True, result.reason
    assert re.fullmatch(f"WAPE {WAPE} beats the best baseline \\(\\w+ {WAPE}\\)", result.reason)
    new, baseline = _wapes(result.reason)
    assert new < baseline
    scores = result.backtest.scores
    best = result.backtest.best_baseline(exclude=("candidate", "current"))
    assert result.reason == (
        f"WAPE {scores['candidate'].wape:.3f} beats the best baseline ({best} {scores[best].wape:.3f})"
    )
    assert store.current("svc").version == result.saved.version
    assert store.pointer("svc")["reason"] == result.reason
    assert store.pointer("svc")["promoted_at"] == NOW.isoformat()
    # The saved model is the one the config asked for, and its backtest evidence is complete.
    manifest = result.saved.manifest
    assert (manifest["name"], manifest["horizon_steps"], manifest["architecture"]["hidden_size"]) == (
        "svc",
        6,
        8,
    )
    trained = manifest["training"]
    assert trained["settings"]["max_windows_per_epoch"] == 128 and trained["settings"]["epochs"] == 3
    assert trained["data_end"] == str(_drifting().index[-289])  # the day before the held-out one
    assert isinstance(result.metrics["backtest"]["models"]["candidate"]["mase"], float)
    assert result.summary() == f"svc: version {result.saved.version} promoted: {result.reason}"


def test_a_candidate_no_better_than_the_current_model_is_not_promoted(tmp_path):
    """Training is deterministic: the same data and settings give the same model, a tie, and a tie keeps the
    current model (a new version must win, not draw)."""
    store = ModelStore(tmp_path)
    first = train_target(CFG, _drifting(), store=store, now=NOW)
    assert first.promoted

    again = train_target(CFG, _drifting(), store=store, now=NOW + pd.Timedelta(days=1))

    scores = again.backtest.scores
    assert scores["candidate"].wape == scores["current"].wape
    assert again.promoted is False
    assert re.fullmatch(f"WAPE {WAPE} does not beat the current model's {WAPE}", again.reason)
    assert store.current("svc").version == first.saved.version
    assert again.previous_version == first.saved.version


def test_a_winner_over_the_current_model_names_both_in_the_verdict(tmp_path):
    store = ModelStore(tmp_path)
    stale = fit_forecaster(daily_sine(days=3, level=20.0), model=TINY_MODEL, train=FAST, name="svc")
    # A current model that really is worse: its own network only, forecasting 30% of the level too high.
    stale.blend, stale.weighting = {"lstm": 1.0}, None
    with torch.no_grad():
        for net in getattr(stale.network, "members", [stale.network]):  # a seed ensemble: every member
            net.head[-1].bias.view(stale.horizon_steps, -1)[:, 0] += 0.3
    old = store.save("svc", stale, now=NOW)
    store.promote("svc", old.version, reason="seeded", now=NOW)

    result = train_target(CFG, _drifting(), store=store, now=NOW + pd.Timedelta(days=1))

    assert result.promoted is True, result.reason
    assert re.fullmatch(
        f"WAPE {WAPE} beats the best baseline \\(\\w+ {WAPE}\\) and current {old.version} {WAPE}",
        result.reason,
    )
    assert store.pointer("svc")["previous"] == old.version


def test_an_incompatible_current_model_is_replaced_and_the_verdict_says_so(tmp_path):
    store = ModelStore(tmp_path)
    other = ModelSettings(lookback="1h", horizon="15m", quantiles=(0.5, 0.9), hidden_size=8)
    ref = store.save("svc", fit_forecaster(daily_sine(days=3), model=other, train=FAST, name="svc"), now=NOW)
    store.promote("svc", ref.version, reason="seeded", now=NOW)

    result = train_target(CFG, _drifting(), store=store, now=NOW + pd.Timedelta(days=1))

    assert "current" not in result.backtest.scores
    assert result.reason.endswith(
        " (the current model has a different step, horizon or quantiles and is replaced)"
    )
    assert result.promoted is True and store.current("svc").version == result.saved.version


def test_a_damaged_pointer_is_reported_and_replaced_not_fatal(tmp_path):
    store = ModelStore(tmp_path)
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "current.json").write_text("garbage")

    result = train_target(CFG, _drifting(), store=store, now=NOW)

    assert "current.json was damaged and is treated as absent" in result.reason
    assert result.promoted is True and store.current("svc").version == result.saved.version
    assert (tmp_path / "svc" / "current.json.damaged").read_text() == "garbage"  # nothing stored is lost


def test_a_short_history_holds_out_its_last_fifth(tmp_path):
    series = _drifting(days=2)  # a day of backtest would be half of it
    result = train_target(CFG, series, store=ModelStore(tmp_path), now=NOW)
    held = series.index[len(series) - len(series) // 5 :]
    assert result.metrics["backtest"]["start"] == str(held[0])
    assert result.metrics["backtest"]["end"] == str(held[-1])


def test_a_series_off_the_grid_is_refused(tmp_path):
    series = _drifting().asfreq(None)
    series.index.freq = None
    with pytest.raises(DataError) as err:
        train_target(CFG, series, store=ModelStore(tmp_path), now=NOW)
    assert (err.value.problem, err.value.hint) == (
        "series must be on a regular grid",
        "pass it through forecaster.series.regularize",
    )


def test_an_idle_held_out_day_gives_no_score_and_no_promotion(tmp_path):
    series = daily_sine(days=3)
    series.iloc[-288:] = 0.0
    store = ModelStore(tmp_path)
    result = train_target(CFG, series, store=store, now=NOW)
    assert result.promoted is False and result.reason == "the backtest produced no score"
    assert store.current("svc") is None


def test_without_a_day_of_history_the_best_baseline_is_the_bar(tmp_path):
    series = _drifting(days=1.2)  # too short for a seasonal-naive baseline before the held-out fifth
    result = train_target(CFG, series, store=ModelStore(tmp_path), now=NOW)
    scores = result.backtest.scores
    assert "seasonal_naive_daily" not in scores
    bar = min(s.wape for name, s in scores.items() if name != "candidate")
    assert f" {bar:.3f}" in result.reason
