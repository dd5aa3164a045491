"""Fleet benchmark: N targets in a real Prometheus and a fake Kubernetes API; prescaler, API and training.

What it does, all on 127.0.0.1:

1. N synthetic services (``live_streaming`` at seed i, scaled 0.2x..5x) as one metric
   ``http_requests:rate1m{service="svc-i"}``, ``--days`` of 1-minute samples ending now, backfilled into the
   Debian Prometheus with promtool (the way tests/prometheus_fixture.py does);
2. training: K plain targets (by default the production model, hidden 64, for a fixed 8 epochs of up to
   20,000 windows on the 2 days of history: ~10-20 CPU s a target, several times a process's start-up)
   trained by ``forecaster train --all --targets DIR`` as S processes with
   ``JOB_COMPLETION_INDEX``/``JOB_COMPLETIONS`` set, the way the Indexed Job runs them, S = 1 and 2 in the same
   run; a process's start-up is measured alone, and the speed-up is given on the wall time and on the training
   work (each process's span from its first target's start to its last one's end). One tiny model (hidden 16)
   is trained apart and copied into the store under every service's name (the prescaler and API parts need
   a model per target; the same tiny model as in every earlier round, so their figures stay comparable);
3. prescaler: the fake API server holds a template ForecastTarget (``sum by (service) (...)``, splitBy
   service) and N Deployments + PrescalePolicies naming its members (the fake API server in a process of its
   own, as a real one is); one controller (watch cache, bounded pools) ticks ``--ticks`` times a minute
   apart (cold: every status and scale written; warm; then steady ticks). Tick wall time, the prescaler
   process's CPU time (what a busy machine cannot distort as much), Prometheus queries per tick (the
   controller's own metric), API-server writes;
4. API: ``forecaster serve`` as its own process over N targets (one query each) and the store: readiness
   (wall, the CPU it took, the most connections it held open to Prometheus), resident memory,
   ``/v1/targets?limit=500`` and ``/metrics`` latency with the server's CPU per scrape, and the cached
   forecast with the requests spread over all N targets (200, and 304 with each target's own ETag):
   requests/s, p50/p99, CPU per request of the server and of its event-loop thread (bench/api_load.py's
   raw-socket client, ``--connections`` keep-alive connections, as another process).

Results are appended to bench/results/fleet.md with the command. The machine is shared: start small.

    python bench/fleet.py --n 100 [--n 1000] [--train-targets 4] [--days 3]

The one command for an idle 2-core machine (all parts at N = 1,000; about 8-10 minutes there):

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/fleet.py --n 1000 --days 2.5 --train-targets 4 \
        --shards 1,2 --train-jobs 1 --ticks 4 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecaster.sources.synthetic import live_streaming  # noqa: E402
from forecaster.templates import member_name  # noqa: E402
from tests.prometheus_fixture import MetricSeries, start_prometheus  # noqa: E402

METRIC = "http_requests:rate1m"
TEMPLATE_QUERY = f"sum by (service) ({METRIC})"
TINY_MODEL = {"lookback": "2h", "horizon": "30m", "quantiles": [0.5, 0.9], "hiddenSize": 16}
TINY_TRAIN = {"epochs": 2, "batchSize": 256, "patience": 1, "maxWindowsPerEpoch": 2000, "backtest": "6h"}
# The training part's per-target work: the tiny model (the prescaler and API parts run copies of the model it
# trains, so their figures stay comparable), but enough epochs and windows that a target costs several times
# a process's start-up (torch's import), as a production target does (hidden 64, up to 30 epochs of 20,000
# windows: minutes; 2 days of history hold ~2,400 training windows, so epochs set the work). No early stopping (patience = epochs), so every run does the same work.
BENCH_TRAIN = {"epochs": 20, "batchSize": 256, "patience": 20, "maxWindowsPerEpoch": 10000, "backtest": "6h"}
# The training part's default: the production model (hidden 64, up to 20,000 windows per epoch, blend, event
# profile: ModelSettings/TrainSettings defaults) on the bench's 2 days of 1-minute history, a fixed number of
# epochs (no early stopping). A target then costs ~10-20 CPU s, several times a process's start-up, and its
# time goes where a production target's goes (the LSTM's epochs); 28 days and 30 epochs would be minutes.
PRODUCTION_MODEL = {"lookback": "2h", "horizon": "30m", "quantiles": [0.5, 0.9], "hiddenSize": 64}
PRODUCTION_TRAIN = {
    "epochs": 8,
    "batchSize": 256,
    "patience": 8,
    "maxWindowsPerEpoch": 20000,
    "backtest": "6h",
}


def service(i: int) -> str:
    return f"svc-{i:04d}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- data -------------------------------------------------------------------------------------------------


def fleet_series(n: int, *, days: float, end: pd.Timestamp) -> list[MetricSeries]:
    """N services: live_streaming at seed i, scaled 0.2x..5x, ending at ``end``."""
    start = end - pd.Timedelta(days=days) + pd.Timedelta(minutes=1)
    scales = np.geomspace(0.2, 5.0, num=max(n, 2))
    out = []
    for i in range(n):
        values = live_streaming(days=days, step="1m", seed=i, start=start) * float(scales[i])
        out.append(MetricSeries(METRIC, values, labels={"service": service(i)}))
    return out


def target_manifest(
    name: str,
    *,
    query: str,
    prometheus: str,
    store: str,
    labels: dict,
    model: dict | None = None,
    train: dict | None = None,
    **spec,
) -> dict:
    return {
        "apiVersion": "forecasting.forecaster.io/v1alpha1",
        "kind": "ForecastTarget",
        "metadata": {"name": name, "namespace": "forecaster", "labels": labels},
        "spec": {
            "prometheus": {"url": prometheus, "query": query, "step": "1m", "history": "2d", "retries": 1},
            "model": model or TINY_MODEL,
            "train": train or TINY_TRAIN,
            "store": store,
            **spec,
        },
    }


def write_targets(
    directory: Path,
    names: list[str],
    *,
    prometheus: str,
    store: str,
    model: dict | None = None,
    train: dict | None = None,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        manifest = target_manifest(
            name,
            query=f'{METRIC}{{service="{name}"}}',
            prometheus=prometheus,
            store=store,
            labels={"team": ["payments", "search", "video"][i % 3]},
            model=model,
            train=train,
        )
        (directory / f"{name}.yaml").write_text(json.dumps(manifest))


# -- training ---------------------------------------------------------------------------------------------


def _train_command(targets: Path, store: Path, *, jobs: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "forecaster",
        "train",
        "--all",
        "--jobs",
        str(jobs),
        "--targets",
        str(targets),
        "--out",
        str(store),
    ]


_SUMMARY = re.compile(r"^shard \S+: .* in ([0-9.]+)s \(([0-9.]+)s CPU\)$", re.MULTILINE)


def _run_training(work: Path, targets: Path, *, processes: int, jobs: int, tag: str) -> dict:
    """``processes`` pods of one Indexed Job (JOB_COMPLETION_INDEX set) each training with ``--jobs``; wall
    time, the CPU the processes and their workers used (getrusage of the waited children), and the CPU the
    targets' training itself took (the summary lines: without start-up)."""
    store = work / f"train-store-{tag}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    procs, logs = [], []
    for index in range(processes):
        env = dict(
            os.environ,
            JOB_COMPLETION_INDEX=str(index),
            JOB_COMPLETIONS=str(processes),
            OMP_NUM_THREADS="1",
        )
        log_path = work / f"train-{tag}-{index}.log"
        logs.append(log_path)
        with log_path.open("wb") as log:
            procs.append(
                subprocess.Popen(
                    _train_command(targets, store, jobs=jobs),
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )
            )
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    summaries = [_SUMMARY.findall(log.read_text()) for log in logs]
    target_cpu = sum(float(cpu) for found in summaries for _, cpu in found)
    # Each process's training span: the sum of its targets' durations, i.e. from its first target's start
    # to its last one's end when it trains one at a time (jobs = 1); start-up and listing left out.
    spans = [sum(float(took) for took, _ in found) for found in summaries]
    return {
        "processes": processes,
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "target_cpu_s": round(target_cpu, 1),
        "train_span_s": round(max(spans), 1) if jobs == 1 and all(summaries) else None,
        # getrusage's children maximum: the largest any one waited-for process reached so far in this run
        # of the bench (not per row), kilobytes on Linux.
        "max_rss_mb": round(after.ru_maxrss / 1024),
        "exit_codes": codes,
        "store": str(store),
    }


def balanced_names(count: int, *, shards: list[int], available: int) -> list[str]:
    """``count`` service names (of the ``available`` backfilled) that the Indexed Job's hash partition
    spreads evenly over S shards for every S in ``shards``: the first names are not (svc-0000..0003 all hash
    to shard 0 of 2, so "2 processes" trained 4 + 0 targets, and 8 names split 6 + 2: the second and third
    rounds' speed-ups measured that, not the code). Taken in order, each kept while no shard of any S holds
    more than its share."""
    from forecaster.fleet import shard_index

    picked: list[str] = []
    for i in range(available):
        if len(picked) == count:
            break
        name = service(i)
        if all(
            sum(shard_index(p, s) == shard_index(name, s) for p in picked) < -(-count // s) for s in shards
        ):
            picked.append(name)
    if len(picked) < count:
        raise RuntimeError(
            f"only {len(picked)} of {count} names split evenly over {shards} shards among {available} series: "
            "backfill more (--n) or train fewer targets"
        )
    return picked


def bench_training(
    work: Path,
    *,
    prometheus: str,
    available: int,
    count: int,
    shards: list[int],
    jobs: list[int],
    train: dict,
    model: dict,
) -> dict:
    """Training throughput: S processes (one Job's pods) with one job each, and one process with K jobs
    (a pod of K CPUs), against one process with one job; process start-up (interpreter, torch, forecaster
    imports, listing the targets) measured alone, on a folder with no targets."""
    names = balanced_names(count, shards=shards, available=available)
    targets = work / "train-targets"
    write_targets(targets, names, prometheus=prometheus, store=str(work / "unused"), model=model, train=train)
    empty = work / "train-targets-none"
    empty.mkdir()
    startup = _run_training(work, empty, processes=1, jobs=1, tag="startup")
    print(f"training: start-up of one process {startup['wall_s']}s wall, {startup['cpu_s']}s CPU", flush=True)
    out: dict = {
        "targets": count,
        "names": names,
        "train": train,
        "model": model,
        "startup": startup,
        "runs": {},
    }
    plans = [(s, 1) for s in shards] + [(1, k) for k in jobs if k > 1]
    for processes, k in plans:
        tag = f"{processes}x{k}"
        run = _run_training(work, targets, processes=processes, jobs=k, tag=tag)
        out["runs"][tag] = run
        print(f"training: {count} targets, {tag} (processes x jobs): {json.dumps(run)}", flush=True)
    base = out["runs"]["1x1"]
    out["per_target_s"] = round(base["wall_s"] / count, 2)
    out["per_target_cpu_s"] = round(base["target_cpu_s"] / count, 2)
    for run in out["runs"].values():
        run["speedup"] = round(base["wall_s"] / run["wall_s"], 2)
        # The same with each process's start-up taken out of both (a pod starts once per night, and a
        # tiny target's training is short next to torch's import).
        run["speedup_without_startup"] = round(
            (base["wall_s"] - startup["wall_s"]) / max(0.1, run["wall_s"] - startup["wall_s"]), 2
        )
        # On the training work alone: the longest process's span against the one process's (jobs = 1 only).
        if run.get("train_span_s") and base.get("train_span_s"):
            run["speedup_training"] = round(base["train_span_s"] / run["train_span_s"], 2)
    out["store"] = base["store"]
    return out


def bench_production_target(epoch_counts: list[int], *, days: float = 28.0) -> dict:
    """CPU seconds of one target at the production settings (hidden 64, 20,000 windows per epoch, one torch
    thread), trained in this process by the trainer's own entry point (promotion.train_target: fit, backtest
    against the baselines, save) on ``days`` of 1-minute synthetic traffic, with early stopping off and
    ``epochs`` set to each of ``epoch_counts``: the line through the points gives the CPU of one epoch and the
    fixed part (windows, backtest, save), so the 30-epoch upper bound and any early-stopped count follow."""
    from forecaster.promotion import train_target
    from forecaster.settings import TargetConfig, TrainSettings
    from forecaster.sources.synthetic import live_streaming
    from forecaster.store import ModelStore

    series = live_streaming(days=days, step="1m", seed=0)
    now = series.index[-1] + pd.Timedelta(minutes=1)
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for epochs in epoch_counts:
            cfg = TargetConfig(name=f"prod-{epochs}", train=TrainSettings(epochs=epochs, patience=epochs))
            started, cpu = time.perf_counter(), time.process_time()
            train_target(cfg, series, store=ModelStore(tmp), now=now)
            point = {
                "epochs": epochs,
                "cpu_s": round(time.process_time() - cpu, 1),
                "wall_s": round(time.perf_counter() - started, 1),
            }
            points.append(point)
            print(f"production target, {days:g} days: {point}", flush=True)
    out: dict = {"days": days, "points": points}
    if len(points) >= 2:
        (e0, c0), (e1, c1) = (
            (points[0]["epochs"], points[0]["cpu_s"]),
            (points[-1]["epochs"], points[-1]["cpu_s"]),
        )
        per_epoch = (c1 - c0) / (e1 - e0)
        fixed = c0 - e0 * per_epoch
        out |= {"cpu_s_per_epoch": round(per_epoch, 1), "cpu_s_fixed": round(fixed, 1)}
        out["cpu_s_at_30_epochs"] = round(fixed + 30 * per_epoch, 1)
    return out


def fleet_model_store(work: Path, *, prometheus: str) -> str:
    """A store holding one tiny model (TINY_MODEL, TINY_TRAIN) trained for service 0: what the prescaler and
    API parts copy under every name."""
    targets = work / "fleet-model-target"
    write_targets(targets, [service(0)], prometheus=prometheus, store=str(work / "unused"))
    run = _run_training(work, targets, processes=1, jobs=1, tag="fleet-model")
    if run["exit_codes"] != [0]:
        raise RuntimeError(f"training the fleet's model failed: see {work}/train-fleet-model-0.log")
    return run["store"]


def copy_model(store_root: str, *, source: str, names: list[str]) -> None:
    """Save the trained model of ``source`` under every name in ``names`` (promoted)."""
    from forecaster.store import ModelStore

    store = ModelStore(store_root)
    versions = store.versions(source)
    if not versions:
        raise RuntimeError(f"training stored no version of {source}: see the train-*.log files")
    model = store.load(source, sorted(versions)[-1])  # promoted or not: only the tick's cost matters here
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    for name in names:
        ref = store.save(name, model, now=now)
        store.promote(name, ref.version, reason="bench copy", now=now)


# -- prescaler --------------------------------------------------------------------------------------------


class _SeparateApiServer:
    """The fake API server in a process of its own (a manager's), as a real one would be: the prescaler's
    tick then does not share its interpreter (and its GIL), and the tick's CPU time is the prescaler's."""

    def __init__(self) -> None:
        from tests.fake_kube_api import FakeKubeApiServer

        self.fake = FakeKubeApiServer(rbac_checked=False).__enter__()

    def put(self, obj: dict) -> None:
        self.fake.put(obj)

    def write_kubeconfig(self, path: str) -> str:
        return str(self.fake.write_kubeconfig(Path(path)))

    def writes(self) -> int:
        return len(self.fake.writes())

    def stop(self) -> None:
        self.fake.__exit__(None, None, None)


def _api_server_process() -> tuple[object, object]:
    from multiprocessing.managers import BaseManager

    class Manager(BaseManager):
        pass

    Manager.register("ApiServer", _SeparateApiServer)
    manager = Manager()
    manager.start()
    return manager, manager.ApiServer()  # type: ignore[attr-defined]


def bench_prescaler(
    n: int,
    *,
    prometheus: str,
    store: str,
    workers: int,
    ticks: int = 3,
    data_end: pd.Timestamp,
    whole_reads: bool = False,
) -> dict:
    """``ticks`` controller ticks a minute apart, the last one at the backfilled data's end, so that each
    tick has one new point per member (as in production). ``whole_reads``: read each template's whole window
    every tick (the behaviour before forecaster.prescaler.template_window), for an A/B on the same data."""
    from prometheus_client import CollectorRegistry

    from forecaster.prescaler.forecasts import ClusterTargetConfigs, StoreForecastProvider
    from forecaster.prescaler.informer import WatchCache
    from forecaster.prescaler.kube import FORECAST_TARGETS, POLICIES, KubeClient
    from forecaster.prescaler.loop import Controller, FleetSettings, utcnow
    from forecaster.prescaler.metrics import PrescalerMetrics
    from forecaster.prescaler.policy_sources import WatchedPolicySource
    from forecaster.sources.prometheus import fetch_history_split

    manager, fake = _api_server_process()
    with tempfile.TemporaryDirectory() as tmp:
        template = target_manifest(
            "fleet", query=TEMPLATE_QUERY, prometheus=prometheus, store=store, labels={}, splitBy=["service"]
        )
        template["spec"]["maxTargets"] = n
        fake.put(template)
        for i in range(n):
            name = service(i)
            fake.put(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": name, "namespace": "live"},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}},
                }
            )
            fake.put(
                {
                    "apiVersion": "prescaling.forecaster.io/v1alpha1",
                    "kind": "PrescalePolicy",
                    "metadata": {"name": name, "namespace": "live"},
                    "spec": {
                        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                        "forecast": {"target": member_name("fleet", (name,)), "maxStaleness": "1h"},
                        "capacityPerReplica": 50,
                        "quantile": 0.9,
                        "leadTime": "3m",
                        "interval": "1m",
                        "minReplicas": 1,
                        "maxReplicas": 200,
                    },
                }
            )
        kube = KubeClient.from_kubeconfig(fake.write_kubeconfig(str(Path(tmp) / "kubeconfig")))
        metrics = PrescalerMetrics(CollectorRegistry())
        policies = WatchCache(kube, POLICIES, watch_timeout_s=1)
        targets = WatchCache(kube, FORECAST_TARGETS, namespace="forecaster", watch_timeout_s=1)
        provider = StoreForecastProvider(
            targets=ClusterTargetConfigs(targets),
            predict_workers=2,
            fetch_split=fetch_history_split if whole_reads else None,
        )
        ctl = Controller(
            policies=WatchedPolicySource(kube, cache=policies),
            forecasts=provider,
            kube=kube,
            metrics=metrics,
            fleet=FleetSettings(forecast_workers=workers, reconcile_workers=workers),
        )
        done = []
        # The last tick half a minute after the last backfilled sample; the first ticks-1 minutes before.
        now = data_end + pd.Timedelta(seconds=30) - pd.Timedelta(minutes=ticks - 1)
        assert now < utcnow()
        labels = ["cold", "warm"] + [f"steady {i}" for i in range(1, max(0, ticks - 2) + 1)]
        for i, label in enumerate(labels[:ticks]):
            at = now + pd.Timedelta(minutes=i)
            writes = fake.writes()
            started, cpu = time.perf_counter(), time.process_time()
            outcomes = ctl.tick(at)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            queries = metrics.registry.get_sample_value("forecaster_prescaler_tick_prometheus_queries")
            ready = sum(o.ready for o in outcomes)
            tick = {
                "tick": label,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "prometheus_queries": int(queries or 0),
                "ready": ready,
                "policies": len(outcomes),
                "kube_writes": fake.writes() - writes,
            }
            if ready < len(outcomes):
                tick["first_problem"] = next(o.message for o in outcomes if not o.ready)
            done.append(tick)
            print(f"prescaler N={n}: {tick}", flush=True)
            policies.step()  # fold in our own writes, as the cache thread would
        ctl.shutdown(now)
        kube.close()
    fake.stop()
    manager.shutdown()  # type: ignore[attr-defined]
    windows = provider._fetch_split  # TemplateWindows unless whole_reads
    return {
        "n": n,
        "workers": workers,
        "ticks": done,
        "whole_reads": whole_reads,
        "template_reads": {
            "whole": getattr(windows, "reads", None),
            "new_points": getattr(windows, "tail_reads", None),
        },
    }


# -- API --------------------------------------------------------------------------------------------------


def _get(url: str, *, timeout: float = 30.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
        return resp.status, resp.read()


def _latency_ms(url: str, *, count: int) -> dict:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        _get(url)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "max_ms": round(times[-1], 1), "count": count}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _established_to(pid: int, port: int) -> int:
    """TCP connections of process ``pid`` established to 127.0.0.1:``port`` (its sockets' inodes matched in
    /proc/PID/net/tcp): how many connections the service holds open to Prometheus."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[3] == "01" and remote_port == port and fields[9] in inodes:  # 01: ESTABLISHED
                count += 1
    return count


def _scrape_cost(base: str, path: str, *, pid: int, count: int) -> dict:
    """``count`` sequential GETs of ``path``: latency, and the server's CPU per request (all its threads)."""
    cpu = _cpu_s(pid)
    out = _latency_ms(f"{base}{path}", count=count)
    out["server_cpu_ms_per_request"] = round((_cpu_s(pid) - cpu) / count * 1000, 1)
    return out


def _thread_cpu_s(pid: int, tid: int) -> float:
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _under_load(pid: int, *, run_warm, run) -> dict:
    """Warm up (``run_warm()``: every path once, unmeasured), then run the measured load (``run()``, every
    request it sends counted). Adds the CPU during the measured load of the server (all threads), of its
    event-loop thread alone (the main thread: it answers every request; the refresher's work runs in its
    own pool's threads) and of the client process."""
    run_warm()
    server_cpu, loop_cpu = _cpu_s(pid), _thread_cpu_s(pid, pid)
    client = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    load["server_cpu_s"] = round(_cpu_s(pid) - server_cpu, 2)
    load["loop_cpu_s"] = round(_thread_cpu_s(pid, pid) - loop_cpu, 2)
    # The client process's whole life (its start-up included): an upper bound of its share.
    load["client_cpu_s"] = round(after.ru_utime + after.ru_stime - client.ru_utime - client.ru_stime, 2)
    requests = max(1, load["requests"])
    load["server_cpu_us_per_request"] = round(load["server_cpu_s"] / requests * 1e6)
    load["loop_cpu_us_per_request"] = round(load["loop_cpu_s"] / requests * 1e6)
    return load


def _gc_pauses(base: str) -> dict[str, dict[str, float]]:
    """The service's ``forecaster_gc_pause_seconds`` per generation: count, sum, and how many took over
    10 ms (its buckets), from /metrics."""
    body = _get(f"{base}/metrics")[1].decode()
    out: dict[str, dict[str, float]] = {}
    for line in body.splitlines():
        if not line.startswith("forecaster_gc_pause_seconds"):
            continue
        name, value = line.rsplit(" ", 1)
        generation = name.split('generation="', 1)[1].split('"', 1)[0]
        row = out.setdefault(generation, {"count": 0.0, "sum_s": 0.0, "le_10ms": 0.0})
        if name.startswith("forecaster_gc_pause_seconds_count"):
            row["count"] = float(value)
        elif name.startswith("forecaster_gc_pause_seconds_sum"):
            row["sum_s"] = float(value)
        elif 'le="0.01"' in name:
            row["le_10ms"] = float(value)
    return out


def _gc_during(before: dict, after: dict) -> dict:
    """Collections between two :func:`_gc_pauses` readings: count, total ms and how many took over 10 ms."""
    count = sum(after[g]["count"] - before.get(g, {}).get("count", 0.0) for g in after)
    total = sum(after[g]["sum_s"] - before.get(g, {}).get("sum_s", 0.0) for g in after)
    over = sum(
        (after[g]["count"] - after[g]["le_10ms"])
        - (before.get(g, {}).get("count", 0.0) - before.get(g, {}).get("le_10ms", 0.0))
        for g in after
    )
    full = after.get("2", {}).get("count", 0.0) - before.get("2", {}).get("count", 0.0)
    return {
        "collections": int(count),
        "full": int(full),
        "total_ms": round(total * 1000, 1),
        "over_10ms": int(over),
    }


def bench_api(
    n: int,
    *,
    work: Path,
    prometheus: str,
    store: str,
    seconds: float,
    connections: int = 16,
    serve_extra: str = "",
) -> dict:
    """``forecaster serve`` over N targets: readiness (wall and the CPU it took, connections to Prometheus),
    memory, /v1/targets and /metrics (latency and server CPU per scrape), and the cached forecast under load
    with the requests spread over all N targets (200 and 304), server CPU per request."""
    sys.path.insert(0, str(ROOT / "bench"))
    from api_load import run_client

    targets = work / f"api-targets-{n}"
    write_targets(targets, [service(i) for i in range(n)], prometheus=prometheus, store=store)
    port = _free_port()
    prometheus_port = int(prometheus.rsplit(":", 1)[1].strip("/"))
    config = work / f"serve-{n}.yaml"
    config.write_text(
        f"host: 127.0.0.1\nport: {port}\ntargets_dir: {targets}\nstore: {store}\nlog_level: warning\n"
        "auth_token_env: null\nmax_history: 6h\ndefault_history: 6h\n" + serve_extra.replace(";", "\n") + "\n"
    )
    log_path = work / f"serve-{n}.log"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "forecaster", "serve", "--config", str(config)],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    most_connections = 0
    try:
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited: {log_path.read_text()[-2000:]}")
            most_connections = max(most_connections, _established_to(proc.pid, prometheus_port))
            try:
                if _get(f"{base}/readyz", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("serve not ready in 900 s")
            time.sleep(1)
        ready_s = time.perf_counter() - started
        ready_cpu_s = _cpu_s(proc.pid)
        timeouts = log_path.read_text().count("timed out")
        rss = _rss_mb(proc.pid)
        page = _latency_ms(f"{base}/v1/targets?limit=500", count=10)
        selector = _latency_ms(f"{base}/v1/targets?labelSelector=team%3Dsearch&limit=100", count=10)
        metrics = _scrape_cost(base, "/metrics", pid=proc.pid, count=10)
        metrics_bytes = len(_get(f"{base}/metrics")[1])
        paths = [f"/v1/targets/{service(i)}/forecast?history=6h" for i in range(n)]
        idle_cpu, idle_started = _cpu_s(proc.pid), time.perf_counter()
        time.sleep(3.0)
        background = (_cpu_s(proc.pid) - idle_cpu) / (time.perf_counter() - idle_started)

        def client(headers, *, warm: bool) -> dict:
            return run_client(
                port, paths, headers, concurrency=connections, seconds=seconds if not warm else 0, warm=warm
            )

        gc_before = _gc_pauses(base)
        load = _under_load(
            proc.pid, run_warm=lambda: client({}, warm=True), run=lambda: client({}, warm=False)
        )
        # Collections during the warm-up and the measured load (the warm-up is short: every path once).
        load["gc"] = _gc_during(gc_before, _gc_pauses(base))
        etags = [
            {"If-None-Match": urllib.request.urlopen(f"{base}{p}", timeout=30).headers["ETag"]}  # noqa: S310
            for p in paths
        ]
        load_304 = _under_load(
            proc.pid, run_warm=lambda: client(etags, warm=True), run=lambda: client(etags, warm=False)
        )
        metrics_loaded = _scrape_cost(base, "/metrics", pid=proc.pid, count=5)
        rss_after = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    result = {
        "n": n,
        "ready_s": round(ready_s, 1),
        "ready_cpu_s": round(ready_cpu_s, 1),
        "prometheus_connections_max": most_connections,
        "prometheus_timeouts_logged": timeouts,
        "rss_mb": rss,
        "rss_after_load_mb": rss_after,
        "targets_page_500": page,
        "targets_label_selector": selector,
        "metrics": metrics,
        "metrics_after_load": metrics_loaded,
        "metrics_bytes": metrics_bytes,
        "background_cpu_per_s": round(background, 3),
        "connections": connections,
        "cached_forecast": load,
        "cached_forecast_304": load_304,
    }
    print(f"api N={n}: {json.dumps(result)}", flush=True)
    return result


# -- report -----------------------------------------------------------------------------------------------


def report(results: dict, *, command: str, out: Path) -> None:
    lines = [
        f"## Fleet benchmark, {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{command}` on {platform.node()} ({os.cpu_count()} cores, shared with other jobs: numbers are a "
        "floor), Prometheus " + results.get("prometheus_version", "?") + ".",
        f"Load average at the end {os.getloadavg()[0]:.1f}; the whole run {results.get('wall_s_total')} s wall "
        f"(parts: {results.get('part_wall_s')}).",
        "",
    ]
    t = results.get("training")
    if t:
        su = t["startup"]
        lines += [
            "### Training (train --all: P processes with JOB_COMPLETION_INDEX, each with --jobs K)",
            "",
            f"{t['targets']} targets ({', '.join(t.get('names', []))}: the same number in every shard), "
            f"model {t['model']}, training {t['train']}, 2 days of history at 1 "
            f"minute. Start-up of one process alone (no targets): {su['wall_s']} s wall, {su['cpu_s']} s CPU.",
            "",
            "| P x K | wall s | speed-up (wall) | training span s (longest process) | speed-up (training "
            "work) | CPU s (all processes) | CPU s in targets | largest RSS MB of one process so far | exit codes |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for tag, run in t["runs"].items():
            lines.append(
                f"| {tag} | {run['wall_s']} | {run['speedup']} | {run.get('train_span_s') or '-'} | "
                f"{run.get('speedup_training', '-')} | {run['cpu_s']} | {run['target_cpu_s']} | "
                f"{run['max_rss_mb']} | {run['exit_codes']} |"
            )
        lines += [
            "",
            f"Per target in one process: {t['per_target_s']} s wall, {t['per_target_cpu_s']} s CPU. The training "
            "span is each process's targets' durations summed (its first target's start to its last one's end, "
            "one at a time): the speed-up on the training work leaves each process's start-up out.",
            "",
        ]
    prod = results.get("production_target")
    if prod:
        lines += [
            f"### One production-settings target ({prod['days']:g} days at 1 minute, hidden 64, 20,000 windows per epoch, one thread)",
            "",
            "| epochs (no early stop) | CPU s | wall s |",
            "|---|---|---|",
            *[f"| {pt['epochs']} | {pt['cpu_s']} | {pt['wall_s']} |" for pt in prod["points"]],
            "",
        ]
        if "cpu_s_per_epoch" in prod:
            hours = 1000 * prod["cpu_s_at_30_epochs"] / (16 * 2) / 3600
            lines += [
                f"{prod['cpu_s_per_epoch']} CPU s per epoch, {prod['cpu_s_fixed']} s fixed: at most "
                f"{prod['cpu_s_at_30_epochs']} CPU s per target (30 epochs); 1,000 targets on 16 pods x 2 jobs: "
                f"at most {hours:.2f} h if the two jobs of a pod scale perfectly.",
                "",
            ]
    for p in results.get("prescaler", []):
        reads = "the whole window every tick" if p.get("whole_reads") else "new points only after the first"
        lines += [
            f"### Prescaler, N = {p['n']} (template members, {p['workers']} forecast + {p['workers']} reconcile workers; template read: {reads})",
            "",
            "| tick | wall s | CPU s (prescaler process) | Prometheus queries | ready / policies | API-server writes |",
            "|---|---|---|---|---|---|",
        ]
        for tick in p["ticks"]:
            lines.append(
                f"| {tick['tick']} | {tick['wall_s']} | {tick.get('cpu_s', '')} | {tick['prometheus_queries']} | "
                f"{tick['ready']} / {tick['policies']} | {tick['kube_writes']} |"
            )
        lines.append("")
    for a in results.get("api", []):
        load, load_304 = a["cached_forecast"], a.get("cached_forecast_304", {})

        def row(label: str, r: dict) -> str:
            return (
                f"| {label} | {r.get('paths')} | {r.get('rps', 0):.0f} | {r.get('p50_ms', 0):.1f} | "
                f"{r.get('p99_ms', 0):.1f} | {r.get('server_cpu_us_per_request')} | "
                f"{r.get('loop_cpu_us_per_request')} | {r.get('client_cpu_s')} | {r.get('statuses')} |"
            )

        lines += [
            f"### API, N = {a['n']} targets (one process)",
            "",
            f"- ready after {a['ready_s']} s wall, having used {a.get('ready_cpu_s')} CPU s (start-up, every "
            f"model loaded, the first refresh of every target); at most {a.get('prometheus_connections_max')} "
            f"connections open to Prometheus meanwhile; {a.get('prometheus_timeouts_logged')} query timeouts logged",
            f"- resident memory {a['rss_mb']} MB ready, {a['rss_after_load_mb']} MB after the load",
            f"- `/v1/targets?limit=500`: p50 {a['targets_page_500']['p50_ms']} ms, max {a['targets_page_500']['max_ms']} ms",
            f"- `/v1/targets?labelSelector=team=search&limit=100`: p50 {a['targets_label_selector']['p50_ms']} ms",
            f"- `/metrics` ({a['metrics_bytes']} bytes), 10 scrapes one after another: p50 {a['metrics']['p50_ms']} ms, "
            f"max {a['metrics']['max_ms']} ms, server {a['metrics'].get('server_cpu_ms_per_request')} CPU ms per scrape"
            + (
                f"; again after the load: p50 {a['metrics_after_load']['p50_ms']} ms, "
                f"{a['metrics_after_load'].get('server_cpu_ms_per_request')} CPU ms"
                if a.get("metrics_after_load")
                else ""
            ),
            f"- server background (its refresher, no requests): {a.get('background_cpu_per_s')} CPU s per s",
            "",
            f"Cached forecast, {a.get('connections', 32)} keep-alive connections, requests spread over the "
            "paths (each connection walks them from its own offset; every path fetched once before the clock):",
            "",
            "| requests | paths | req/s | p50 ms | p99 ms | server CPU us/request (all threads, its refresher "
            "included) | event-loop thread CPU us/request | "
            "client CPU s | statuses |",
            "|---|---|---|---|---|---|---|---|---|",
            row("200", load),
            row("304 (If-None-Match)", load_304),
            "",
            f"Garbage collections in the server during the 200 run (its warm-up included): {load.get('gc')}",
            "",
        ]
    lines += ["```json", json.dumps(results, indent=1, default=str), "```", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="fleet sizes (repeatable; default 100)")
    parser.add_argument("--days", type=float, default=3.0, help="days of history backfilled (default 3)")
    parser.add_argument("--train-targets", type=int, default=4, help="targets trained (default 4)")
    parser.add_argument("--shards", default="1,2", help="process counts for training (default 1,2)")
    parser.add_argument(
        "--train-jobs", default="2", help="--jobs values tried in one process (default 2; 1: none)"
    )
    parser.add_argument(
        "--train-model",
        choices=("production", "tiny"),
        default="production",
        help="the trained targets' model: production (hidden 64, 8 epochs, up to 20,000 windows; default) "
        "or tiny (hidden 16, 20 epochs, 10,000 windows: the second and third rounds' figures)",
    )
    parser.add_argument("--train-epochs", type=int, help="epochs per target (no early stop)")
    parser.add_argument("--train-windows", type=int, help="training windows per epoch")
    parser.add_argument(
        "--connections", type=int, default=16, help="cached-forecast load connections (default 16)"
    )
    parser.add_argument("--workers", type=int, default=4, help="prescaler pool sizes (default 4)")
    parser.add_argument(
        "--ticks",
        type=int,
        default=3,
        help="prescaler ticks a minute apart: cold, warm, steady... (default 3)",
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="cached-forecast load duration (default 5)"
    )
    parser.add_argument("--skip", default="", help="comma list of parts to skip: prescaler,api")
    parser.add_argument(
        "--serve-extra",
        default="",
        help="serve settings added to the API part's config, ';'-separated YAML lines (e.g. 'gc_freeze: false')",
    )
    parser.add_argument(
        "--production-epochs",
        default="",
        help="also time one production-settings target (28 days, hidden 64) at these epoch counts, e.g. 1,3",
    )
    parser.add_argument(
        "--prescaler-whole-reads",
        action="store_true",
        help="read each template's whole window every tick (the old behaviour, for an A/B)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fleet.md")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)  # one line per policy event would drown the figures
    sizes = args.n or [100]
    skip = set(filter(None, args.skip.split(",")))
    command = "python bench/fleet.py " + " ".join(sys.argv[1:])
    results: dict = {"prescaler": [], "api": []}
    end = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("1min") - pd.Timedelta(minutes=1)
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        started = time.perf_counter()
        server = start_prometheus(work / "prometheus", fleet_series(max(sizes), days=args.days, end=end))
        print(
            f"prometheus with {max(sizes)} series ready in {time.perf_counter() - started:.0f}s", flush=True
        )
        parts = results["part_wall_s"] = {"prometheus": round(time.perf_counter() - started)}
        try:
            version = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout
            results["prometheus_version"] = version.split("\n")[0].split(" ")[2] if version else "?"
            shards = [int(s) for s in args.shards.split(",")]
            count = max(1, args.train_targets)
            train = dict(PRODUCTION_TRAIN if args.train_model == "production" else BENCH_TRAIN)
            if args.train_epochs:
                train |= {"epochs": args.train_epochs, "patience": args.train_epochs}
            if args.train_windows:
                train["maxWindowsPerEpoch"] = args.train_windows
            training = bench_training(
                work,
                prometheus=server.url,
                available=max(sizes),
                count=count,
                shards=shards,
                jobs=[int(k) for k in args.train_jobs.split(",")],
                train=train,
                model=PRODUCTION_MODEL if args.train_model == "production" else TINY_MODEL,
            )
            results["training"] = training
            parts["training"] = round(time.perf_counter() - started - sum(parts.values()))
            if args.production_epochs:
                results["production_target"] = bench_production_target(
                    [int(e) for e in args.production_epochs.split(",")]
                )
            if not skip >= {"prescaler", "api"}:
                # The prescaler and API parts run copies of one tiny model (hidden 16, as in every round so
                # far, so their figures stay comparable), trained apart from the training part's targets.
                store = fleet_model_store(work, prometheus=server.url)
                names = [service(i) for i in range(max(sizes))]
                copy_model(
                    store, source=service(0), names=[member_name("fleet", (n,)) for n in names] + names[1:]
                )
                parts["fleet_model"] = round(time.perf_counter() - started - sum(parts.values()))
            for n in sizes:
                if "prescaler" not in skip:
                    results["prescaler"].append(
                        bench_prescaler(
                            n,
                            prometheus=server.url,
                            store=store,
                            workers=args.workers,
                            ticks=args.ticks,
                            data_end=end,
                            whole_reads=args.prescaler_whole_reads,
                        )
                    )
                    parts[f"prescaler_{n}"] = round(time.perf_counter() - started - sum(parts.values()))
                if "api" not in skip:
                    results["api"].append(
                        bench_api(
                            n,
                            work=work,
                            prometheus=server.url,
                            store=store,
                            seconds=args.seconds,
                            connections=args.connections,
                            serve_extra=args.serve_extra,
                        )
                    )
                    parts[f"api_{n}"] = round(time.perf_counter() - started - sum(parts.values()))
        finally:
            server.stop()
        results["wall_s_total"] = round(time.perf_counter() - started)
        print(f"whole run: {results['wall_s_total']} s wall; parts: {results['part_wall_s']}", flush=True)
        report(results, command=command, out=args.out)
        print(f"results appended to {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
