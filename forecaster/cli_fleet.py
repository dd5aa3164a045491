"""``forecaster train --all``: the edges of a shard's run (argument checks, the target source, the clock,
Prometheus, the model store, SIGTERM), around the pure :func:`forecaster.fleet.train_shard`.

Not a subcommand module of its own: ``train`` (in :mod:`forecaster.cli_core`) hands ``--all`` over to here.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from forecaster.errors import ConfigError

__all__ = ["run_train_all", "pod_namespace"]

log = logging.getLogger(__name__)

_SERVICEACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_SINGLE_TARGET_FLAGS = ("horizon", "lookback", "epochs", "seed", "plot", "target")


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
    from forecaster.fleet import Shard, train_shard
    from forecaster.prescaler.kube import rfc3339
    from forecaster.promotion import train_target
    from forecaster.sources.prometheus import fetch_history, fetch_history_split
    from forecaster.store import ModelStore
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

    stores: dict[str, ModelStore] = {}

    def train_one(cfg: Any, series: Any = None) -> Any:
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        if series is None:
            series = fetch_history(cfg.prometheus, now=now)
        root = str(args.out or cfg.store)
        store = stores.setdefault(root, ModelStore(root))
        events = None
        if cfg.events.enabled:  # the target's calendar; a failure fails this target only, like its history
            from forecaster.sources.calendar import load_calendar

            events = load_calendar(cfg.events, prometheus=cfg.prometheus, now=now)
        return train_target(cfg, series, store=store, now=now, progress=False, events=events)

    def fetch_split(cfg: Any, template: Any) -> Any:
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        return fetch_history_split(
            cfg.prometheus, now=now, split_by=template.split_by, max_series=template.max_targets
        )

    def finished_at() -> str:
        return rfc3339(pd.Timestamp.now(tz="UTC"))

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        entries = source.list()
        summary = train_shard(
            entries,
            shard=shard,
            train_one=train_one,
            fetch_split=fetch_split,
            record=source.record,
            now=finished_at,
            report=lambda line: print(line, flush=True),
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
        if kube is not None:
            kube.close()
        sys.stdout.flush()
    return summary.exit_code
