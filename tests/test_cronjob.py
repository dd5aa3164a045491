"""The training CronJob's own command, run here: it trains from a real Prometheus and promotes into a store.

The command and the target config come from the rendered manifests (``kubectl kustomize k8s/base``), not
from a copy in this test, so a change to the CronJob's arguments or to the config it mounts is exercised.
What differs from the cluster, and only that: absolute paths are remapped under a temporary directory (the
ConfigMap mount and the model-store volume), the config's Prometheus URL points at a real Prometheus on
127.0.0.1 backfilled with three days of the live-streaming traffic *as the same counters the config's
query reads*, and training is made tiny (small network, few epochs) so it takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from forecaster.sources.synthetic import live_streaming
from forecaster.store import ModelStore
from tests.prometheus_fixture import MetricSeries
from tests.test_manifests import one, pod_spec

SCRAPE = pd.Timedelta(seconds=15)
HISTORY_DAYS = 3
GROWTH_PER_DAY = 0.4
"""Traffic grows ~50 % a day (a launch): yesterday's curve is a poor forecast, so a model that tracks the
level beats the seasonal-naive baseline by a wide margin and is promoted even after seconds of training."""


def _requests_counter(now: pd.Timestamp) -> pd.Series:
    """Cumulative requests of the live-api, sampled every 15 s (a scrape interval) up to ``now``."""
    start = now - pd.Timedelta(days=HISTORY_DAYS)
    rps = live_streaming(days=HISTORY_DAYS, step=SCRAPE, seed=3, start=start)
    days = (rps.index - rps.index[0]).total_seconds().to_numpy() / 86400
    rps = rps * np.exp(GROWTH_PER_DAY * days)
    return pd.Series(np.cumsum(rps.to_numpy() * SCRAPE.total_seconds()), index=rps.index)


def _remap(arg: str, root: Path) -> str:
    return str(root / arg.lstrip("/")) if arg.startswith("/") else arg


@pytest.mark.prometheus
@pytest.mark.slow
def test_training_cronjob_command_trains_and_promotes(prometheus_factory, tmp_path):
    cronjob = one("base", "CronJob", "train-live-streaming")
    pod = pod_spec(cronjob)
    container = pod["containers"][0]
    args = container["args"]
    config_path = args[args.index("--config") + 1]

    # The config the job reads is the one the ConfigMap mounted at its --config path holds.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_mount = mounts[str(Path(config_path).parent)]
    volume = next(v for v in pod["volumes"] if v["name"] == config_mount["name"])
    configmap = one("base", "ConfigMap", volume["configMap"]["name"])
    config = yaml.safe_load(configmap["data"][Path(config_path).name])

    # The history the config's query asks for, in a real Prometheus, ending now (the command uses the clock).
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
    config["model"]["hidden_size"] = 16
    config["train"].update(epochs=3, max_windows_per_epoch=2048, backtest="12h")

    root = tmp_path / "pod"
    for mount in mounts:
        (root / mount.lstrip("/")).mkdir(parents=True)
    (root / config_path.lstrip("/")).write_text(yaml.safe_dump(config))

    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    env.update(
        PATH=os.environ.get("PATH", ""),
        HOME=str(root / "tmp"),
        TMPDIR=str(root / "tmp"),
        OMP_NUM_THREADS="1",  # the test machine's budget, not the pod's
        MPLBACKEND="Agg",
    )
    command = [sys.executable, "-m", "forecaster", *(_remap(a, root) for a in args)]
    done = subprocess.run(
        command, cwd=root / "tmp", env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    assert "saved, NOT promoted" not in done.stdout and " promoted:" in done.stdout, done.stdout

    store_dir = Path(_remap(args[args.index("--out") + 1], root))
    store = ModelStore(store_dir)
    current = store.current("live-streaming")
    assert current is not None, f"nothing promoted in {store_dir}"
    assert store.versions("live-streaming") == [current.version]
    scores = current.metrics["backtest"]["models"]
    assert scores["candidate"]["wape"] < scores["seasonal_naive_daily"]["wape"]
    model = store.load_current("live-streaming")
    assert model.step == pd.Timedelta(config["prometheus"]["step"])
    assert model.horizon_steps == 30 and model.quantiles == (0.5, 0.9)
