"""``forecaster serve``'s start-up at N targets, phase by phase, in-process: CPU seconds of every thread
(time.process_time) for parsing the target files, ``labels_in``, loading the models, building the sources,
and the first refresh of every target (what /readyz waits for). N copies of one tiny trained model, N series
(1 day at 1 minute) in the test Prometheus.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/api_ready.py 300 [--profile]
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fleet  # noqa: E402

from tests.prometheus_fixture import start_prometheus  # noqa: E402


def _phase(name, fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    print(
        f"{name}: {time.process_time() - cpu:.2f} CPU s, {time.perf_counter() - wall:.1f} s wall", flush=True
    )
    return result


def main() -> None:
    from forecaster.api import app as api
    from forecaster.api.cache import ForecastService, TargetState
    from forecaster.api.metrics import ServiceMetrics
    from forecaster.settings import load_target_configs

    n, profile = int(sys.argv[1]), "--profile" in sys.argv
    work = Path(tempfile.mkdtemp(prefix="api-ready-"))
    end = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("1min") - pd.Timedelta(minutes=1)
    server = start_prometheus(work / "prom", fleet.fleet_series(n, days=1.0, end=end))
    try:
        one = work / "one"
        fleet.write_targets(one, [fleet.service(0)], prometheus=server.url, store=str(work / "unused"))
        store = work / "store"
        subprocess.run(
            [sys.executable, "-m", "forecaster", "train", "--all", "--jobs", "1", "--targets", str(one)]
            + ["--out", str(store)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env=dict(os.environ, OMP_NUM_THREADS="1"),
        )
        names = [fleet.service(i) for i in range(n)]
        fleet.copy_model(str(store), source=fleet.service(0), names=names)
        targets = work / "targets"
        fleet.write_targets(targets, names, prometheus=server.url, store=str(store))
        configs = _phase("target files", lambda: list(load_target_configs(targets).values()))
        labels = _phase("labels_in", lambda: api.labels_in(str(targets)))
        loader = api.StoreModels(str(store))
        models = _phase("load models", lambda: [api._load_model(c, loader, where="store") for c in configs])
        sources = _phase("sources", lambda: [api.default_source_factory(c) for c in configs])
        states = [
            TargetState(config=c, source=s, model=m, labels=labels.get(c.name, {}))
            for c, s, m in zip(configs, sources, models, strict=True)
        ]
        service = ForecastService(
            states,
            clock=api.utc_now,
            max_history=pd.Timedelta("6h"),
            refresh_delay=pd.Timedelta("10s"),
            retry_interval=pd.Timedelta("15s"),
            stale_after_steps=3,
            metrics=ServiceMetrics(),
            model_refresher=api._model_refresher(loader),
        )
        service.models_loaded = True
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        done = _phase("first refresh of every target", lambda: asyncio.run(service.refresh_due()))
        if profiler:
            profiler.disable()
        print(f"refreshed {len(done)} of {n}; ready={service.readiness()[0]}")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
