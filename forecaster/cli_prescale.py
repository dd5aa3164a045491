"""``forecaster prescale``: run the prescaler controller (in a cluster, or outside one with policy files).

In a cluster it reads PrescalePolicy resources with the pod's ServiceAccount and elects a leader on a Lease,
so two replicas can run and only one acts. Outside one, ``--kubeconfig`` picks the cluster and ``--policies``
reads the policies from YAML files instead (statuses are printed); ``--once`` runs one tick and exits;
``--dry-run`` forces Forecast mode (compute and publish, touch nothing). Running in a cluster, policies (and,
with ``--targets-from-cluster``, ForecastTargets) are kept in caches fed by list + watch; forecasts run on a
bounded pool (``--forecast-workers``) with a per-policy deadline. Heavy imports stay inside ``run``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "prescale",
        help="run the prescaler controller: raise capacity ahead of forecast spikes",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster config, else ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("--namespace", help="only policies in this namespace (default: all namespaces)")
    p.add_argument(
        "--policies",
        action="append",
        metavar="FILE",
        help="read PrescalePolicies from this YAML file instead of the cluster (repeatable)",
    )
    p.add_argument("--once", action="store_true", help="one reconcile pass, print the outcomes as JSON, exit")
    p.add_argument("--dry-run", action="store_true", help="Forecast mode for every policy: touch nothing")
    p.add_argument("--interval", default="1m", help="time between reconcile passes (default 1m)")
    p.add_argument("--training-dir", default="training", help="target configs (default: training/)")
    p.add_argument("--store", help="model store (directory or s3://...), overriding the targets' own")
    p.add_argument(
        "--targets-from-cluster",
        action="store_true",
        help="read the targets policies name (spec.forecast.target) from ForecastTarget resources instead of "
        "--training-dir",
    )
    p.add_argument(
        "--targets-namespace",
        default=None,
        help="namespace of the ForecastTargets (default: the pod's namespace, else 'forecaster')",
    )
    p.add_argument(
        "--forecast-workers",
        type=int,
        default=8,
        help="forecasts (Prometheus reads) in flight at once (default 8)",
    )
    p.add_argument(
        "--reconcile-workers",
        type=int,
        default=1,
        help="policies reconciled at once against the API server (default 1)",
    )
    p.add_argument(
        "--predict-workers",
        type=int,
        default=2,
        help="chunks of one fleet template's members predicted at once (default 2; each chunk's networks "
        "run as one stacked forward pass)",
    )
    p.add_argument(
        "--status-refresh",
        default="5m",
        help="how long a policy's status may go unwritten while only its clock-following parts (forecast "
        "peak and time, message numbers) change; any other change is written at once (default 5m; 0: "
        "write every change)",
    )
    p.add_argument(
        "--forecast-deadline",
        default=None,
        help="how long a policy waits for its forecast after a tick starts (default: half its interval)",
    )
    p.add_argument(
        "--prometheus-config",
        metavar="FILE",
        help="YAML with Prometheus connection settings (url, auth, TLS, timeouts) for policies that give their "
        "own query and modelPath (keys as in a target's prometheus: section; default: the built-in defaults)",
    )
    p.add_argument(
        "--metrics-port", type=int, default=9102, help="serve /metrics here (0: off; default 9102)"
    )
    p.add_argument("--metrics-address", default="0.0.0.0", help="address for /metrics (default 0.0.0.0)")
    p.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="elect a leader on a Lease (default: on in a cluster, off with --policies or --once)",
    )
    p.add_argument("--lease-name", default="forecaster-prescaler")
    p.add_argument(
        "--lease-namespace",
        default=None,
        help="namespace of the Lease (default: the pod's namespace, else 'forecaster')",
    )
    p.add_argument("--lease-duration", default="15s", help="lease duration (default 15s)")
    p.add_argument("--renew-period", default="5s", help="how often the leader renews (default 5s)")
    p.add_argument(
        "--identity", default=None, help="this replica's name in the Lease (default: the hostname)"
    )
    p.set_defaults(func=run)


def _pod_namespace() -> str | None:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def _kube_client(args: argparse.Namespace) -> Any:
    from forecaster.errors import ConfigError
    from forecaster.prescaler.kube import KubeClient

    if args.kubeconfig or args.context:
        return KubeClient.from_kubeconfig(args.kubeconfig, context=args.context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return KubeClient.in_cluster()
    try:
        return KubeClient.from_kubeconfig(None)
    except ConfigError:
        if args.policies:
            return None  # policy files that only need the cloud API (or --dry-run) can run without a cluster
        raise


def run(args: argparse.Namespace) -> int:
    from forecaster.errors import ConfigError, DataError
    from forecaster.prescaler.forecasts import (
        ClusterTargetConfigs,
        StoreForecastProvider,
        load_prometheus_settings,
    )
    from forecaster.prescaler.informer import WatchCache
    from forecaster.prescaler.kube import FORECAST_TARGETS, POLICIES
    from forecaster.prescaler.leader import LeaderElector
    from forecaster.prescaler.loop import Controller, FleetSettings, utcnow
    from forecaster.prescaler.metrics import PrescalerMetrics, serve_metrics
    from forecaster.prescaler.policy_sources import CrdPolicySource, FilePolicySource, WatchedPolicySource
    from forecaster.series import parse_duration

    try:
        interval_s = parse_duration(args.interval).total_seconds()
        lease_s = parse_duration(args.lease_duration).total_seconds()
        renew_s = parse_duration(args.renew_period).total_seconds()
        deadline_s = (
            parse_duration(args.forecast_deadline).total_seconds() if args.forecast_deadline else None
        )
        refresh_s = (
            parse_duration(args.status_refresh).total_seconds()
            if args.status_refresh not in ("0", "")
            else 0.0
        )
    except DataError as exc:
        raise ConfigError(exc.problem, hint=exc.hint) from exc
    if renew_s >= lease_s:
        raise ConfigError(
            f"--renew-period ({args.renew_period}) must be shorter than --lease-duration ({args.lease_duration})"
        )

    fleet = FleetSettings(
        forecast_workers=args.forecast_workers,
        reconcile_workers=args.reconcile_workers,
        forecast_deadline_s=deadline_s,
        status_refresh_s=refresh_s,
    )
    prometheus = load_prometheus_settings(args.prometheus_config) if args.prometheus_config else None
    kube = _kube_client(args)
    caches: list[Any] = []
    if args.policies:
        source: Any = FilePolicySource(*args.policies)
        source.list()  # a missing or unreadable file is the command's error, not a silent pass with nothing
    elif kube is None:
        raise ConfigError(
            "no cluster to read PrescalePolicies from", hint="pass --kubeconfig or --policies FILE"
        )
    elif args.once:
        source = CrdPolicySource(kube, namespace=args.namespace)  # one pass: one list, no watch
    else:
        policy_cache = WatchCache(kube, POLICIES, namespace=args.namespace)
        caches.append(policy_cache)
        source = WatchedPolicySource(kube, cache=policy_cache)
    targets = None
    if args.targets_from_cluster:
        if kube is None:
            raise ConfigError("--targets-from-cluster needs a cluster", hint="pass --kubeconfig")
        target_cache = WatchCache(
            kube, FORECAST_TARGETS, namespace=args.targets_namespace or _pod_namespace() or "forecaster"
        )
        if not args.once:
            caches.append(target_cache)
        targets = ClusterTargetConfigs(target_cache)
    leader_elect = args.leader_elect
    if leader_elect is None:
        leader_elect = kube is not None and not args.policies and not args.once
    elector = None
    identity = args.identity or socket.gethostname()
    if leader_elect:
        if kube is None:
            raise ConfigError("--leader-elect needs a cluster", hint="pass --kubeconfig")
        elector = LeaderElector(
            kube,
            namespace=args.lease_namespace or _pod_namespace() or "forecaster",
            name=args.lease_name,
            identity=identity,
            lease_duration_s=lease_s,
        )
    metrics = PrescalerMetrics()
    controller = Controller(
        policies=source,
        forecasts=StoreForecastProvider(
            training_dir=args.training_dir,
            store=args.store,
            prometheus=prometheus,
            targets=targets,
            predict_workers=args.predict_workers,
        ),
        fleet=fleet,
        kube=kube,
        metrics=metrics,
        elector=elector,
        dry_run=args.dry_run,
        identity=identity,
    )
    server = None
    try:
        if args.once:
            outcomes = controller.tick(utcnow())
            for outcome in outcomes:
                print(json.dumps(outcome.__dict__, default=str, sort_keys=True))
            if isinstance(source, FilePolicySource):
                for key, status in sorted(source.statuses.items()):
                    print(json.dumps({"policy": key, "status": status}, default=str, sort_keys=True))
            controller.shutdown(utcnow())
            return 0 if all(o.ready for o in outcomes) else 1
        if args.metrics_port:
            server = serve_metrics(
                metrics, port=args.metrics_port, addr=args.metrics_address, health=controller.health
            )
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            log.warning("signal %d: releasing the lease and stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        for cache in caches:
            cache.start(stop)  # list, then watch, until stopped
        log.warning(
            "prescaler %s running: %s, every %ss%s",
            identity,
            "policy files" if args.policies else f"policies in {args.namespace or 'all namespaces'}",
            f"{interval_s:g}",
            " (dry run)" if args.dry_run else "",
        )
        controller.run(stop=stop, interval_s=interval_s, renew_s=renew_s)
        return 0
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if kube is not None:
            kube.close()
        sys.stdout.flush()
