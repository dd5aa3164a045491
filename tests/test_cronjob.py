"""The training CronJob's own command, run here: every pod of its Indexed Job, against a real Prometheus.

The command, its environment and the ForecastTarget come from the rendered manifests (``kubectl kustomize
k8s/base``), not from a copy in this test, so a change to the CronJob's arguments or to the declaration in
training/ is exercised. Each pod runs as the Job controller runs it: ``JOB_COMPLETION_INDEX`` = 0..N-1 with
the CronJob's own ``JOB_COMPLETIONS``. What differs from the cluster, and only that: the API server is the
fake one (tests/fake_kube_api.py, reached through ``KUBECONFIG`` instead of the in-cluster config), absolute
paths are remapped under a temporary directory (the model-store volume), the target's Prometheus URL points at
a real Prometheus on 127.0.0.1 backfilled with three days of the live-streaming traffic *as the same counters
its query reads*, and training is made tiny (small network, few epochs) so it takes seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.fleet import shard_index
from forecaster.sources.synthetic import live_streaming
from forecaster.store import ModelStore
from tests.fake_kube_api import FakeKubeApiServer
from tests.prometheus_fixture import MetricSeries
from tests.test_manifests import _expand, one, pod_spec

SCRAPE = pd.Timedelta(seconds=15)
HISTORY_DAYS = 3
GROWTH_PER_DAY = 0.4
"""Traffic grows ~50 % a day (a launch): yesterday's curve is a poor forecast, so a model that tracks the
level beats the seasonal-naive baseline by a wide margin; last value is the bar (see the verdict below)."""


LOSS_BOUND = 1.10
"""The most the trained model may lose to the best baseline on the held-out hours (the accuracy target's bound
for any series, issue 10): beyond it the CronJob's model is broken, whatever the promotion gate then does."""

CALENDAR_END = pd.Timestamp("2026-01-08 16:00")
"""The traffic is the live-streaming calendar up to this Thursday afternoon, moved to end at the wall clock
(the command reads Prometheus up to its own clock): whatever the hour the test runs, the held-out 12 hours are
the same part of the day (the day's rise, 04:00 to 16:00)."""


def _requests_counter(now: pd.Timestamp) -> pd.Series:
    """Cumulative requests of the live-api, sampled every 15 s (a scrape interval) up to ``now``."""
    start = CALENDAR_END - pd.Timedelta(days=HISTORY_DAYS)
    rps = live_streaming(days=HISTORY_DAYS, step=SCRAPE, seed=3, start=start)
    days = (rps.index - rps.index[0]).total_seconds().to_numpy() / 86400
    rps = rps * np.exp(GROWTH_PER_DAY * days)
    return pd.Series(
        np.cumsum(rps.to_numpy() * SCRAPE.total_seconds()), index=rps.index + (now - CALENDAR_END)
    )


def _remap(arg: str, root: Path) -> str:
    return str(root / arg.lstrip("/")) if arg.startswith("/") else arg


@pytest.mark.prometheus
@pytest.mark.slow
def test_training_cronjob_command_trains_and_promotes(prometheus_factory, tmp_path):
    cronjob = one("base", "CronJob", "train-targets")
    job = cronjob["spec"]["jobTemplate"]["spec"]
    pod = pod_spec(cronjob)
    container = pod["containers"][0]
    args = container["args"]
    target = json.loads(json.dumps(one("base", "ForecastTarget", "live-streaming")))
    config = target["spec"]

    # The history the target's query asks for, in a real Prometheus, ending now (the command uses the clock).
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("min")
    server = prometheus_factory(
        [
            MetricSeries(
                "http_requests_total",
                _requests_counter(now),
                labels={"service": "live-api", "pod": "live-api-0"},
                kind="counter",
            )
        ]
    )
    assert 'service="live-api"' in config["prometheus"]["query"], "the backfilled labels follow the query"
    config["prometheus"]["url"] = server.url
    config["prometheus"]["history"] = f"{HISTORY_DAYS * 24 - 2}h"
    config["model"]["hiddenSize"] = 16
    config["train"].update(epochs=3, maxWindowsPerEpoch=2048, backtest="12h")

    root = tmp_path / "pod"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for mount in mounts:
        (root / mount.lstrip("/")).mkdir(parents=True)
    namespace = target["metadata"]["namespace"]
    with FakeKubeApiServer(rbac_checked=False) as fake:
        fake.put(target)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        fields = {"metadata.namespace": namespace}
        env |= {
            e["name"]: fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
            for e in container["env"]
            if "fieldRef" in e.get("valueFrom", {})
        }
        env.update(
            PATH=os.environ.get("PATH", ""),
            HOME=str(root / "tmp"),
            TMPDIR=str(root / "tmp"),
            KUBECONFIG=str(kubeconfig),
            PYTHONPATH=str(
                Path(__file__).resolve().parents[1]
            ),  # this checkout's forecaster, not an installed one
            OMP_NUM_THREADS="1",  # the test machine's budget, not the pod's
            MPLBACKEND="Agg",
        )
        command = [sys.executable, "-m", "forecaster", *(_remap(_expand(a, env), root) for a in args)]
        outputs = []
        for index in range(job["completions"]):  # the pods of the Indexed Job, one after another here
            done = subprocess.run(
                command,
                cwd=root / "tmp",
                env=env | {"JOB_COMPLETION_INDEX": str(index)},
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, f"pod {index}: {' '.join(command)}\n{done.stdout}\n{done.stderr}"
            outputs.append(done.stdout)
        status = fake.get("forecasttargets", namespace, "live-streaming")["status"]

    owner = shard_index("live-streaming", job["completions"])
    assert all("live-streaming" not in out for i, out in enumerate(outputs) if i != owner), (
        "one pod trains it"
    )
    store_dir = Path(_remap(args[args.index("--out") + 1], root))
    store = ModelStore(store_dir)
    [version] = store.versions("live-streaming")  # trained once, by its own shard, saved whatever the verdict
    assert status["lastTraining"]["shard"] == f"{owner}/{job['completions']}"
    assert "lastError" not in status
    # What the CronJob promises is the gate, not a win: it trains, backtests and promotes a model only when it
    # beats the best baseline on the held-out hours. Seconds of training on three days are close to last value
    # there, and which side of it they land on is not a property of the product (session 8: with the traffic
    # moved 1-7 minutes, the single network beat last value at 2 of 8 offsets; a three-member seed ensemble
    # beat it by 6-8% at offsets 0-2). So the verdict is checked either way against the saved scores, and a
    # real loss is not hidden: the candidate is never more than LOSS_BOUND worse than the best baseline.
    scores = store.ref("live-streaming", version).metrics["backtest"]["models"]
    best = min(
        (n for n in scores if n != "candidate" and scores[n]["wape"] is not None),
        key=lambda n: scores[n]["wape"],
    )
    assert scores["candidate"]["wape"] < LOSS_BOUND * scores[best]["wape"], scores
    current = store.current("live-streaming")
    if scores["candidate"]["wape"] < scores[best]["wape"]:
        assert f"live-streaming: Promoted {version}" in outputs[owner], outputs[owner]
        assert current is not None and current.version == version
        assert status["lastPromotion"]["modelVersion"] == version
        assert status["conditions"][0]["status"] == "True"
    else:
        assert f"live-streaming: NotPromoted {version}" in outputs[owner], outputs[owner]
        assert f"does not beat the best baseline ({best} " in outputs[owner]
        assert current is None and "lastPromotion" not in status
    model = store.load("live-streaming", version)
    assert model.step == pd.Timedelta(config["prometheus"]["step"])
    assert model.horizon_steps == 30 and model.quantiles == (0.5, 0.9)
    assert not [p for p in store_dir.rglob(".tmp-*")], "no half-written version left behind"
