"""The training job tunes the prescaler after training and stores the recommendation with the model version.

- a target whose config has ``tuning.slo`` gets ``tuning.json`` in its new version, written with the weights,
  tuned on the held-out range: the recommendation there is what ``recommend_for_model`` finds for that model;
- it re-tunes at most every ``tuning.every``: a version trained in between carries the last recommendation
  forward (saying where it was made), a later one re-tunes; changed inputs re-tune at once;
- a failed tuning never fails the training; a damaged ``tuning.json`` is reported by name and skipped;
- a target without ``tuning`` gets no file.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import torch

from forecaster import recommendation, tuning
from forecaster.errors import DataError
from forecaster.promotion import train_target
from forecaster.recommendation import TUNING_FILE, RecommendationError
from forecaster.settings import TargetConfig, TuningSettings
from forecaster.store import ModelStore
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 00:00")
TRAIN = dataclasses.replace(TINY_TRAIN, backtest="8h", epochs=2)
TUNING = TuningSettings(slo="short-minutes=2%", capacity_per_replica=20.0, pod_startup="3m", every="24h")
CFG = TargetConfig(name="svc", model=TINY_MODEL, train=TRAIN, tuning=TUNING)


def _small_grid(*, quantiles=(0.5, 0.9)):
    """A few points of each kind: the replay of the full grid takes minutes on a busy machine."""
    q = max(quantiles)
    return [
        *tuning.hpa_grid((1.0, 0.8, 0.6)),
        tuning.Setting(1.0, "shift", 0.5, headroom=0.2),
        tuning.Setting(1.0, "shift", q, max_over_median=0.4),
        tuning.Setting(1.0, "shift", q),
    ]


@pytest.fixture(autouse=True)
def small_grid(monkeypatch):
    monkeypatch.setattr(tuning, "default_grid", _small_grid)


@pytest.fixture(scope="module")
def series() -> pd.Series:
    torch.set_num_threads(1)
    return daily_sine(days=5, noise=0.05, seed=3)


def _doc(store: ModelStore, version: str) -> dict:
    raw = store.read_file("svc", version, TUNING_FILE)
    assert raw is not None, f"{version} has no {TUNING_FILE}"
    return json.loads(raw)


def test_training_stores_a_recommendation_then_respects_every(tmp_path, series):
    store = ModelStore(tmp_path / "store")

    first = train_target(CFG, series, store=store, now=NOW)

    doc = _doc(store, first.saved.version)
    rec = recommendation.parse(doc)
    assert doc["tunedAt"] == "2026-03-10T00:00:00Z" and doc["carriedFrom"] is None
    assert doc["inputs"] == {
        "slo": "short-minutes=2%",
        "capacityPerReplica": 20.0,
        "podStartup": "3m",
        "minReplicas": 1,
        "maxReplicas": 100,
    }
    # Tuned on the held-out day only (the model did not see it), every minute of it.
    assert pd.Timestamp(doc["result"]["tuned_on"]["start"]) == series.index[-96]
    assert doc["result"]["tuned_on"]["minutes"] >= 475
    frontier = doc["result"]["frontier"]
    assert len(frontier) == 6 and {p["kind"] for p in frontier} == {"hpa", "prescaler+hpa"}
    # The recommendation is the cheapest frontier point meeting the SLO with the margin.
    meeting = [p for p in frontier if p["meets_slo"]]
    assert meeting, "a 2% SLO is reachable on a smooth daily cycle"
    cheapest = min(meeting, key=lambda p: (p["replica_minutes"], p["slo_rate_upper"]))
    assert rec.label == cheapest["label"]
    assert rec.expected["replica_minutes"] == cheapest["replica_minutes"]
    assert rec.expected["slo_rate_upper"] <= 0.02
    assert rec.hpa_alone is not None and rec.hpa_alone["replica_minutes"] >= rec.expected["replica_minutes"]
    assert "prescaler tuning: tuned for short-minutes=2% (no earlier recommendation)" in first.summary()
    assert store.ref("svc", first.saved.version).manifest, "the version loads as before"

    # Six hours later: not due, the new version carries the recommendation, saying where it was made.
    second = train_target(CFG, series, store=store, now=NOW + pd.Timedelta(hours=6))
    carried = _doc(store, second.saved.version)
    assert carried["carriedFrom"] == first.saved.version
    assert carried["tunedAt"] == doc["tunedAt"] and carried["result"] == doc["result"]
    assert "not re-tuned (tuned 6.0h ago" in (second.tuning or "")

    # A day after the tuning: due again.
    third = train_target(CFG, series, store=store, now=NOW + pd.Timedelta(hours=24))
    again = _doc(store, third.saved.version)
    assert again["tunedAt"] == "2026-03-11T00:00:00Z" and again["carriedFrom"] is None

    # Another SLO: re-tuned at once, whatever every says.
    stricter = dataclasses.replace(CFG, tuning=dataclasses.replace(TUNING, slo="unserved=0.5%"))
    fourth = train_target(stricter, series, store=store, now=NOW + pd.Timedelta(hours=25))
    changed = _doc(store, fourth.saved.version)
    assert changed["inputs"]["slo"] == "unserved=0.5%" and changed["carriedFrom"] is None
    assert "the tuning inputs changed" in (fourth.tuning or "")


def test_a_failed_tuning_never_fails_the_training(tmp_path, series, monkeypatch):
    store = ModelStore(tmp_path / "store")

    def broken(*args, **kwargs):
        raise DataError("tune: the history has 12 missing points", hint="tune on a range without long gaps")

    monkeypatch.setattr(recommendation, "tune_document", broken)
    result = train_target(CFG, series, store=store, now=NOW)

    assert store.read_file("svc", result.saved.version, TUNING_FILE) is None
    assert result.tuning == (
        "tuning failed (DataError: tune: the history has 12 missing points (tune on a range without long gaps)); "
        "no recommendation stored"
    )
    assert store.load("svc", result.saved.version) is not None


def test_a_damaged_recommendation_is_named_and_skipped(tmp_path, series):
    store = ModelStore(tmp_path / "store")
    first = train_target(CFG, series, store=store, now=NOW)
    path = tmp_path / "store" / "svc" / "versions" / first.saved.version / TUNING_FILE
    path.write_text('{"format": 1, "tunedAt": "2026-03-10T00:00:00Z"')  # truncated

    with pytest.raises(RecommendationError, match=f"svc/{first.saved.version}/tuning.json is not valid JSON"):
        recommendation.read(store, "svc", first.saved.version)
    assert recommendation.latest(store, "svc") is None
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(RecommendationError, match="format 99"):
        recommendation.read(store, "svc", first.saved.version)

    # The next training finds no usable recommendation, so it tunes rather than carry the damaged one.
    second = train_target(CFG, series, store=store, now=NOW + pd.Timedelta(hours=1))
    assert _doc(store, second.saved.version)["carriedFrom"] is None


def test_no_tuning_section_no_file(tmp_path, series):
    store = ModelStore(tmp_path / "store")
    plain = dataclasses.replace(CFG, tuning=TuningSettings())
    result = train_target(plain, series, store=store, now=NOW)
    assert store.read_file("svc", result.saved.version, TUNING_FILE) is None
    assert result.tuning is None and "tuning" not in result.summary()


# -- end to end: the training job's recommendation in the policy's status --------------------------------------


def test_the_controller_shows_what_the_training_job_stored(tmp_path, series):
    """train_target writes tuning.json; the real StoreForecastProvider finds it for the promoted version and
    the controller puts it in the PrescalePolicy's status (fake API server, fixed clock)."""
    import yaml
    from prometheus_client import CollectorRegistry

    from forecaster.prescaler.forecasts import StoreForecastProvider
    from forecaster.prescaler.kube import KubeClient
    from forecaster.prescaler.loop import Controller
    from forecaster.prescaler.metrics import PrescalerMetrics
    from forecaster.prescaler.policy_sources import CrdPolicySource
    from tests.fake_kube_api import FakeKubeApiServer
    from tests.prescaler_helpers import deployment, hpa, policy

    store = ModelStore(tmp_path / "store")
    end = series.index[-1] + pd.Timedelta(minutes=5)
    cfg = dataclasses.replace(CFG, name="live-streaming", store=str(tmp_path / "store"))
    trained = train_target(cfg, series, store=store, now=end)
    store.promote(
        "live-streaming", trained.saved.version, reason="test", now=end
    )  # whatever the backtest said
    training = tmp_path / "training"
    training.mkdir()
    (training / "live-streaming.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "live-streaming",
                "prometheus": {"query": "sum(rate(x[1m]))", "step": "5m"},
                "model": {"lookback": "1h", "quantiles": [0.5, 0.9]},
                "tuning": {"slo": "short-minutes=2%", "capacity_per_replica": 20.0},
                "store": str(tmp_path / "store"),
            }
        )
    )

    def fetch(settings, *, now, history):
        return series.loc[(series.index >= now - history) & (series.index < now)]

    provider = StoreForecastProvider(training_dir=training, fetch=fetch)
    with FakeKubeApiServer() as fake:
        path = fake.write_kubeconfig(tmp_path / "kubeconfig")
        with KubeClient.from_kubeconfig(str(path)) as kube:
            fake.put(deployment(replicas=3))
            fake.put(hpa(min_replicas=1))
            fake.put(policy(capacityPerReplica=20.0, minReplicas=1, tuning={"slo": "short-minutes=2%"}))
            ctl = Controller(
                policies=CrdPolicySource(kube),
                forecasts=provider,
                kube=kube,
                metrics=PrescalerMetrics(CollectorRegistry()),
            )
            [outcome] = ctl.tick(end)
            status = fake.get("prescalepolicies", "live", "live-api")["status"]

    assert outcome.ready, outcome.message
    rec = recommendation.read(store, "live-streaming", trained.saved.version)
    assert rec is not None and rec.label is not None
    tuning_status = status["tuning"]
    assert tuning_status["modelVersion"] == trained.saved.version
    assert tuning_status["tunedAt"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tuning_status["recommended"]["setting"] == rec.label
    assert tuning_status["expected"]["replicaMinutes"] == pytest.approx(rec.expected["replica_minutes"])
    [cond] = [c for c in status["conditions"] if c["type"] == "TuningApplied"]
    assert (cond["status"], cond["reason"]) == ("False", "ModeRecommend")


def test_an_old_gap_in_the_history_does_not_stop_the_tuning(series):
    from forecaster.training import fit_forecaster

    split = len(series) - 96
    model = fit_forecaster(series.iloc[:split], model=TINY_MODEL, train=TRAIN, name="svc")
    gappy = series.copy()
    gappy.iloc[10:40] = float("nan")  # a Prometheus outage on the first day

    doc = recommendation.tune_document(model, gappy, settings=TUNING, tune_start=series.index[split], now=NOW)
    assert recommendation.parse(doc).label is not None

    gappy.iloc[split + 5] = float("nan")  # inside the range replayed: refused, by name
    with pytest.raises(DataError, match="the history has 1 missing points"):
        recommendation.tune_document(model, gappy, settings=TUNING, tune_start=series.index[split], now=NOW)
