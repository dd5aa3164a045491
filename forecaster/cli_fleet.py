"""``forecaster train --all``: the edges of a shard's run (argument checks, the target source, the clock,
Prometheus, the model store, SIGTERM), around the pure :func:`forecaster.fleet.train_shard`.

Not a subcommand module of its own: ``train`` (in :mod:`forecaster.cli_core`) hands ``--all`` over to here.

``--jobs K`` (default: the CPUs the pod may use) trains K targets at once in K worker processes started
with ``spawn`` (a fork of a process that has imported torch can deadlock on its thread pools). A worker
fetches its target's history, trains, and saves; the parent lists targets, fetches templates, and writes
every status, so the Kubernetes client lives in one process only.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from forecaster.errors import ConfigError

__all__ = ["run_train_all", "pod_namespace"]

log = logging.getLogger(__name__)

_SERVICEACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_SINGLE_TARGET_FLAGS = ("horizon", "lookback", "epochs", "seed", "plot", "target")

_WORKER: dict[str, Any] = {"out": None, "stores": {}}
"""The per-process state of :func:`train_one` (the ``--out`` override and the opened stores): set in the
parent for ``--jobs 1``, by :func:`_init_worker` in each worker process otherwise."""


def pod_namespace(environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The namespace this pod runs in: ``POD_NAMESPACE`` (the downward API), else the ServiceAccount's."""
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return _SERVICEACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def _kube_client(kubeconfig: str | None) -> Any:
    from forecaster.prescaler.kube import KubeClient

    if kubeconfig:
        return KubeClient.from_kubeconfig(kubeconfig)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return KubeClient.in_cluster()
    return KubeClient.from_kubeconfig(None)


def _raise_interrupt(signum: int, frame: Any) -> None:
    # Kubernetes stops a pod with SIGTERM (deadline, eviction, a deleted Job). Python's default would end the
    # process at once; as an exception, the store's cleanup runs and no temporary version is left behind.
    raise KeyboardInterrupt(f"signal {signum}")


def run_train_all(args: argparse.Namespace) -> int:
    from forecaster.fleet import Shard, available_cpus, train_shard
    from forecaster.sources.prometheus import fetch_history_split
    from forecaster.target_sources import ClusterTargetSource, FileTargetSource

    given = [f"--{f}" for f in _SINGLE_TARGET_FLAGS if getattr(args, f, None) is not None]
    if given:
        raise ConfigError(
            f"{', '.join(given)} cannot be combined with --all",
            hint="set them in each target's declaration (spec.train, spec.model)",
        )
    if not args.targets and not args.from_cluster:
        raise ConfigError(
            "--all needs --targets DIR or --from-cluster", hint="e.g. --all --targets training/"
        )
    shard = Shard.parse(args.shard) if args.shard else Shard.from_env(os.environ)

    kube = None
    if args.from_cluster:
        namespace = args.namespace or pod_namespace()
        if not namespace:
            raise ConfigError("no namespace for the ForecastTargets", hint="pass --namespace")
        kube = _kube_client(args.kubeconfig)
        source: Any = ClusterTargetSource(kube, namespace=namespace)
    else:
        if args.namespace or args.kubeconfig:
            raise ConfigError("--namespace and --kubeconfig go with --from-cluster")
        source = FileTargetSource(args.targets)

    def fetch_split(cfg: Any, template: Any) -> Any:
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        return fetch_history_split(
            cfg.prometheus, now=now, split_by=template.split_by, max_series=template.max_targets
        )

    jobs = args.jobs if getattr(args, "jobs", None) is not None else available_cpus()
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs} must be at least 1", hint="e.g. --jobs 2 on a pod of 2 CPUs")
    _WORKER.update(out=args.out, stores={})
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    executor: ProcessPoolExecutor | None = None
    interrupted = True  # until train_shard returns: an exception or SIGTERM stops the workers at once
    try:
        entries = source.list()
        if jobs > 1:
            executor = ProcessPoolExecutor(
                max_workers=jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(args.out,),
            )
        log.info("shard %s: training %d target(s) at a time", shard, jobs)
        summary = train_shard(
            entries,
            shard=shard,
            train_one=train_one,
            fetch_split=fetch_split,
            record=source.record,
            now=finished_at,
            report=lambda line: print(line, flush=True),
            executor=executor,
        )
        interrupted = False
    finally:
        signal.signal(signal.SIGTERM, previous)
        if executor is not None:
            _stop_workers(executor, interrupted=interrupted)
        if kube is not None:
            kube.close()
        sys.stdout.flush()
    return summary.exit_code


def train_one(cfg: Any, series: Any = None) -> Any:
    """Fetch (unless given) and train one target, in whichever process runs it (module level: picklable)."""
    from forecaster.promotion import train_target
    from forecaster.sources.prometheus import fetch_history
    from forecaster.store import ModelStore

    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    if series is None:
        series = fetch_history(cfg.prometheus, now=now)
    root = str(_WORKER["out"] or cfg.store)
    store = _WORKER["stores"].setdefault(root, ModelStore(root))
    events = None
    if cfg.events.enabled:  # the target's calendar; a failure fails this target only, like its history
        from forecaster.sources.calendar import load_calendar

        events = load_calendar(cfg.events, prometheus=cfg.prometheus, now=now)
    return train_target(cfg, series, store=store, now=now, progress=False, events=events)


def finished_at() -> str:
    from forecaster.prescaler.kube import rfc3339

    return rfc3339(pd.Timestamp.now(tz="UTC"))


def _init_worker(out: str | None) -> None:
    """A worker process: its own store handles, and SIGTERM as an interrupt (the store's cleanup runs)."""
    _WORKER.update(out=out, stores={})
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # The parent answers SIGINT (Ctrl-C reaches the whole process group): a worker finishes or is stopped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(executor: ProcessPoolExecutor, *, interrupted: bool) -> None:
    """Shut the pool down; on an interrupt, SIGTERM the workers still training (each removes its temporary
    version) rather than wait for their targets."""
    if interrupted:
        for proc in list((getattr(executor, "_processes", None) or {}).values()):
            if proc.is_alive():
                proc.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
