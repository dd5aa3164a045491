"""The prescaler tuning the training job stores with each version (:func:`forecaster.promotion.train_target`):
it re-tunes when ``tuning.every`` has passed since the stored recommendation (or its inputs changed), and a
version trained in between carries that recommendation forward (tuning is hours of CPU per target: every
nightly training must not repeat it). The tuning itself is replaced by a fast stand-in here; what is tested is
when the job tunes and what it stores.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import torch

from forecaster import recommendation
from forecaster.promotion import train_target
from forecaster.recommendation import TUNING_FILE
from forecaster.settings import TargetConfig, TuningSettings
from forecaster.store import ModelStore
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 00:00")
TRAIN = dataclasses.replace(TINY_TRAIN, backtest="8h", epochs=1)
TUNING = TuningSettings(slo="short-minutes=2%", capacity_per_replica=20.0, pod_startup="3m", every="24h")
CFG = TargetConfig(name="svc", model=TINY_MODEL, train=TRAIN, tuning=TUNING)


@pytest.fixture(scope="module")
def series() -> pd.Series:
    torch.set_num_threads(1)
    return daily_sine(days=3, noise=0.05, seed=3)


class _Runs(list):
    """The times the job tuned at, and for each whether it tuned on the held-out range (the last
    ``train.backtest``, which the candidate did not see) from its first point."""

    def __init__(self) -> None:
        super().__init__()
        self.held_out: list[bool] = []


@pytest.fixture
def tunings(monkeypatch) -> _Runs:
    """Every tuning run, by its time; each finds no setting that meets the SLO (no replay: this is about when
    the job tunes, not what it finds)."""
    runs = _Runs()
    held_out = pd.Timedelta(TRAIN.backtest)

    def fake(model, series, *, settings, tune_start, now):
        runs.append(pd.Timestamp(now))
        runs.held_out.append(pd.Timestamp(tune_start) == series.index[-1] - held_out + series.index.freq)
        return {
            "format": recommendation.FORMAT,
            "inputs": recommendation.inputs_of(settings),
            "tunedAt": pd.Timestamp(now).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "carriedFrom": None,
            "result": {"recommended": None},
        }

    monkeypatch.setattr(recommendation, "tune_document", fake)
    return runs


def _stored(store: ModelStore, version: str) -> dict:
    raw = store.read_file("svc", version, TUNING_FILE)
    assert raw is not None, f"{version} has no {TUNING_FILE}"
    return json.loads(raw)


def test_the_job_retunes_only_when_every_has_passed_since_the_stored_recommendation(
    tmp_path, series, tunings
):
    """Tuned at 00:00 with every=24h: the versions trained at 06:00 and 23:00 carry that recommendation (its
    time, where it was made), the one of 00:00 the next day tunes again; changed inputs tune at once."""
    store = ModelStore(tmp_path / "store")
    first = train_target(CFG, series, store=store, now=NOW)
    assert tunings == [NOW] and _stored(store, first.saved.version)["carriedFrom"] is None
    for hours in (6, 23):
        later = train_target(CFG, series, store=store, now=NOW + pd.Timedelta(hours=hours))
        doc = _stored(store, later.saved.version)
        assert tunings == [NOW], hours  # not tuned again
        assert doc["carriedFrom"] == first.saved.version and doc["tunedAt"] == "2026-03-10T00:00:00Z"
        assert "not re-tuned" in (later.tuning or "")

    due = NOW + pd.Timedelta(hours=24)
    again = train_target(CFG, series, store=store, now=due)
    assert tunings == [NOW, due]
    doc = _stored(store, again.saved.version)
    assert doc["carriedFrom"] is None and doc["tunedAt"] == "2026-03-11T00:00:00Z"

    stricter = dataclasses.replace(CFG, tuning=dataclasses.replace(TUNING, slo="unserved=0.5%"))
    changed = NOW + pd.Timedelta(hours=25)
    result = train_target(stricter, series, store=store, now=changed)
    assert tunings == [NOW, due, changed]
    assert "the tuning inputs changed" in (result.tuning or "")
    assert tunings.held_out == [True, True, True]
