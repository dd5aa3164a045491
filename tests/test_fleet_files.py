"""``forecaster train --all --targets DIR`` outside a cluster, with real (tiny) training: a bad declaration
fails alone, and a shard stopped by SIGTERM midway (what Kubernetes sends at the deadline or on eviction)
leaves no half-written model; the next run trains the target again."""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest

import forecaster.sources.prometheus as prometheus_source
import forecaster.store as store_module
from forecaster.cli import main
from forecaster.fleet import EXIT_SOME_FAILED
from forecaster.sources.synthetic import live_streaming
from forecaster.store import ModelStore

TINY = """apiVersion: forecasting.forecaster.io/v1alpha1
kind: ForecastTarget
metadata: {{name: {name}}}
spec:
  prometheus: {{query: 'sum(rate(http_requests_total{{service="{name}"}}[1m]))', step: 5m, history: 4d}}
  model: {{lookback: 2h, horizon: 30m, hiddenSize: 8}}
  train: {{epochs: 1, maxWindowsPerEpoch: 256, backtest: 12h, blend: false}}
"""


@pytest.fixture
def targets(tmp_path, monkeypatch):
    """Two tiny targets and a broken one; Prometheus answers with synthetic live-streaming traffic."""
    directory = tmp_path / "targets"
    directory.mkdir()
    for name in ("alpha", "beta"):
        (directory / f"{name}.yaml").write_text(TINY.format(name=name))
    (directory / "broken.yaml").write_text(
        TINY.format(name="broken").replace("horizon: 30m", "horizon: soon")
    )
    (directory / "kustomization.yaml").write_text("resources: [alpha.yaml, beta.yaml, broken.yaml]\n")

    def fetch_history(settings, *, now, history=None):
        seed = sum(map(ord, settings.query))
        return live_streaming(
            days=4,
            step=settings.step,
            seed=seed,
            start=now.floor("D") - pd.Timedelta(days=4),
        )

    monkeypatch.setattr(prometheus_source, "fetch_history", fetch_history)
    return directory


def test_a_bad_declaration_fails_alone(targets, tmp_path, capsys):
    code = main(
        ["train", "--all", "--jobs", "1", "--targets", str(targets), "--out", str(tmp_path / "models")]
    )
    out = capsys.readouterr().out
    assert code == EXIT_SOME_FAILED
    store = ModelStore(tmp_path / "models")
    assert sorted(store.targets()) == ["alpha", "beta"]
    assert all(len(store.versions(t)) == 1 for t in ("alpha", "beta"))
    assert "broken: Failed" in out and "spec.model.horizon" in out
    assert "shard 0/1: 3 of 3 targets:" in out and "1 failed (broken)" in out


def test_sigterm_midway_leaves_no_half_written_model(targets, tmp_path, monkeypatch):
    (targets / "broken.yaml").unlink()
    (targets / "beta.yaml").unlink()
    real_fsync = os.fsync
    calls = []

    def fsync_then_sigterm(fd):
        real_fsync(fd)
        calls.append(fd)
        if len(calls) == 2:  # the second file of the version is on disk, the version is not complete yet
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(store_module.os, "fsync", fsync_then_sigterm)
    models = tmp_path / "models"
    handler = signal.getsignal(signal.SIGTERM)
    code = main(["train", "--all", "--jobs", "1", "--targets", str(targets), "--out", str(models)])
    assert code == 130 and len(calls) >= 2, "stopped by the signal, while writing the version"
    assert ModelStore(models).versions("alpha") == [], "no version, complete or partial"
    assert ModelStore(models).pointer("alpha") is None
    assert not [p for p in models.rglob("*") if p.name.startswith(".tmp-")], "no temporary files left"
    assert signal.getsignal(signal.SIGTERM) == handler, "the default SIGTERM handling is back"

    monkeypatch.setattr(store_module.os, "fsync", real_fsync)
    assert main(["train", "--all", "--jobs", "1", "--targets", str(targets), "--out", str(models)]) == 0
    assert len(ModelStore(models).versions("alpha")) == 1, "the next run redoes the target"
