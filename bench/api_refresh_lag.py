"""How long the forecast service's event loop waits while a refresh pass runs, by refresh pool size.

Every request is answered on the event loop; a refresh pass runs in worker threads whose forecast code holds
the GIL most of the time, so the loop waits its turn behind each busy thread. This measures that wait
in-process, without sockets: N targets (an in-memory flat source, the seasonal baseline as the model, i.e.
pandas work like a real refresh), one refresh pass of all of them, and a probe coroutine on the loop that
sleeps 1 ms and records how late it wakes. Pool sizes (and the interpreter's GIL switch interval,
``--switch-ms``) alternate round by round (a busy machine shifts both alike); reported: the probe's
p50/p99/max lateness, the pass's wall time and the process's CPU time, and the garbage collector's pauses
during the pass (count, longest, total: gc.callbacks).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/api_refresh_lag.py [--n 300] [--rounds 3] [--workers 6,2]
        [--switch-ms 5,1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecaster.api.cache import ForecastService, ServingModel, TargetState  # noqa: E402
from forecaster.api.metrics import ServiceMetrics  # noqa: E402
from forecaster.settings import PrometheusSettings, TargetConfig  # noqa: E402

NOW = pd.Timestamp("2026-02-02 00:00:30")


class MemorySource:
    def __init__(self, seed: int) -> None:
        index = pd.date_range(end=NOW.floor("1min") - pd.Timedelta("1min"), periods=3 * 1440, freq="1min")
        rng = np.random.default_rng(seed)
        daily = 100 + 50 * np.sin(np.arange(len(index)) * 2 * np.pi / 1440)
        self.series = pd.Series(daily + rng.normal(0, 5, len(index)), index=index)

    def fetch_recent(self, *, duration, now):
        return self.series.loc[self.series.index > now - duration]


def one_round(n: int, workers: int, *, switch_ms: float | None = None) -> dict:
    states = [
        TargetState(
            config=TargetConfig(
                name=f"t{i}", prometheus=PrometheusSettings(query=f'up{{i="{i}"}}', step="1m")
            ),
            source=MemorySource(i),
            model=ServingModel.baseline("bench"),
        )
        for i in range(n)
    ]
    service = ForecastService(
        states,
        clock=lambda: NOW,
        max_history=pd.Timedelta("6h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
        refresh_workers=workers,
    )

    pauses: list[float] = []
    gc_started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started.append(time.perf_counter())
        elif gc_started:
            pauses.append((time.perf_counter() - gc_started.pop()) * 1000)

    async def run() -> dict:
        lateness: list[float] = []
        task = asyncio.create_task(service.refresh_due())
        wall, cpu = time.perf_counter(), time.process_time()
        while not task.done():
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            lateness.append((time.perf_counter() - asked - 0.001) * 1000)
        done = await task
        assert len(done) == n, f"{n - len(done)} targets failed"
        lat = np.array(lateness)
        return {
            "workers": workers,
            "switch_ms": round(sys.getswitchinterval() * 1000, 2),
            "gc_pauses": len(pauses),
            "gc_max_ms": round(max(pauses, default=0.0), 1),
            "gc_total_ms": round(sum(pauses), 1),
            "pass_wall_s": round(time.perf_counter() - wall, 2),
            "pass_cpu_s": round(time.process_time() - cpu, 2),
            "probes": len(lat),
            "late_p50_ms": round(float(np.percentile(lat, 50)), 1),
            "late_p99_ms": round(float(np.percentile(lat, 99)), 1),
            "late_max_ms": round(float(lat.max()), 1),
        }

    before = sys.getswitchinterval()
    if switch_ms is not None:
        sys.setswitchinterval(switch_ms / 1000)
    gc.callbacks.append(on_gc)
    try:
        return asyncio.run(run())
    finally:
        gc.callbacks.remove(on_gc)
        sys.setswitchinterval(before)
        service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers", default="6,2", help="pool sizes, alternated (6: asyncio's default on 2 cores)"
    )
    parser.add_argument(
        "--switch-ms",
        default="",
        help="GIL switch intervals in ms, alternated with the pool sizes (default: the interpreter's, 5)",
    )
    args = parser.parse_args()
    switches = [float(v) for v in args.switch_ms.split(",") if v] or [None]
    print(
        "| workers | switch ms | pass wall s | pass CPU s | probes | loop late p50 ms | p99 ms | max ms | "
        "GC pauses | longest GC ms | GC total ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for _ in range(args.rounds):
        for workers in (int(w) for w in args.workers.split(",")):
            for switch in switches:
                r = one_round(args.n, workers, switch_ms=switch)
                print(
                    f"| {r['workers']} | {r['switch_ms']} | {r['pass_wall_s']} | {r['pass_cpu_s']} | "
                    f"{r['probes']} | {r['late_p50_ms']} | {r['late_p99_ms']} | {r['late_max_ms']} | "
                    f"{r['gc_pauses']} | {r['gc_max_ms']} | {r['gc_total_ms']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
