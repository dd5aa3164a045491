"""The prescaler's own Prometheus metrics, on an injectable ``CollectorRegistry``, and the ``/metrics`` server.

Metric names start with ``forecaster_prescaler_``; labels are the policy's namespace and name (never a
free-form string such as an error message, so cardinality stays bounded by the number of policies). Tests pass
their own registry; the CLI serves it (with the liveness and readiness probes) from a small WSGI server. Nothing is registered at
import time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

__all__ = ["PrescalerMetrics", "serve_metrics", "make_app", "ERROR_KINDS"]

ERROR_KINDS = (
    "invalid_policy",
    "forecast",
    "target_not_found",
    "forbidden",
    "conflict",
    "api_temporary",
    "api",
    "cloud",
    "calendar",
    "internal",
)
"""Values of the ``kind`` label of ``forecaster_prescaler_errors_total``."""


class PrescalerMetrics:
    """Forecast per quantile, desired/current capacity, decisions by reason, reconcile duration, errors."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        policy = ["namespace", "policy"]
        r = self.registry
        self.forecast = Gauge(
            "forecaster_prescaler_forecast",
            "Largest forecast load over the planning window [now, now + lead time + interval], per quantile.",
            [*policy, "quantile"],
            registry=r,
        )
        self.desired = Gauge(
            "forecaster_prescaler_desired_replicas",
            "Capacity the prescaler wants (replicas, HPA floor or nodes, per the policy's actuator).",
            policy,
            registry=r,
        )
        self.current = Gauge(
            "forecaster_prescaler_current_replicas", "Capacity the target reports now.", policy, registry=r
        )
        self.decisions = Counter(
            "forecaster_prescaler_decisions",
            "Decisions taken, by reason (forecast, bound_min, bound_max, stabilizing, rate_limited, no_forecast...).",
            [*policy, "reason"],
            registry=r,
        )
        self.forecast_only = Gauge(
            "forecaster_prescaler_forecast_only",
            "1 while a policy only forecasts (spec mode Forecast, --dry-run or the accuracy guard), else 0.",
            policy,
            registry=r,
        )
        self.degraded = Gauge(
            "forecaster_prescaler_degraded",
            "1 while a policy cannot do its job (invalid, target missing, forbidden, no forecast), else 0.",
            policy,
            registry=r,
        )
        self.forecast_error = Gauge(
            "forecaster_prescaler_forecast_error",
            "WAPE of past p50 forecasts against what happened, over the accuracy guard's window.",
            policy,
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "forecaster_prescaler_reconcile_duration_seconds",
            "Time to reconcile one policy (fetch, predict, decide, act).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.errors = Counter(
            "forecaster_prescaler_errors",
            "Failures by kind: " + ", ".join(ERROR_KINDS) + ".",
            ["kind"],
            registry=r,
        )
        self.tick_duration = Histogram(
            "forecaster_prescaler_tick_duration_seconds",
            "Wall time of one tick over every policy (list from the cache, forecasts, reconciles).",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120),
            registry=r,
        )
        self.tick_queries = Gauge(
            "forecaster_prescaler_tick_prometheus_queries",
            "Prometheus history reads made by the last tick (one per forecast group, not per policy).",
            registry=r,
        )
        self.policies = Gauge(
            "forecaster_prescaler_policies", "PrescalePolicies seen by the last tick.", registry=r
        )
        self.deadline_exceeded = Counter(
            "forecaster_prescaler_forecast_deadline_exceeded",
            "Policies whose forecast was not ready by their deadline (they failed safe for that tick).",
            registry=r,
        )
        self.leader = Gauge(
            "forecaster_prescaler_leader", "1 while this replica holds the leader lease.", registry=r
        )
        self.calendar_up = Gauge(
            "forecaster_prescaler_calendar_up",
            "1 when the policy's forecast read its target's calendar this tick (readable, not stale), else 0.",
            policy,
            registry=r,
        )
        self.calendar_age = Gauge(
            "forecaster_prescaler_calendar_age_seconds",
            "Seconds since the calendar copy in use (or, with none in use, the last good copy) was read; "
            "+Inf when none ever was.",
            policy,
            registry=r,
        )
        self.calendar_entries = Gauge(
            "forecaster_prescaler_calendar_entries",
            "Entries of the calendar in use by outcome: upcoming, past, duplicate (dropped), overlapping (kept).",
            [*policy, "outcome"],
            registry=r,
        )
        self.calendar_hold = Gauge(
            "forecaster_prescaler_calendar_hold",
            "1 while capacity is not lowered because the calendar is unavailable and an event is expected.",
            policy,
            registry=r,
        )
        self.status_writes = Counter(
            "forecaster_prescaler_status_writes",
            "PrescalePolicy status writes (a material change, or the refresh of the clock-following parts).",
            registry=r,
        )
        self.status_writes_skipped = Counter(
            "forecaster_prescaler_status_writes_skipped",
            "Status changes left unwritten until the refresh interval (only the clock-following parts changed).",
            registry=r,
        )
        for kind in ERROR_KINDS:
            self.errors.labels(kind=kind)  # export zeros, so rate() works from the first error

    def forget(self, namespace: str, policy: str) -> None:
        """Drop a deleted policy's series."""
        for metric in (
            self.desired,
            self.current,
            self.forecast_only,
            self.degraded,
            self.forecast_error,
            self.calendar_up,
            self.calendar_age,
            self.calendar_hold,
        ):
            with contextlib.suppress(KeyError):
                metric.remove(namespace, policy)
        for metric in (self.forecast, self.decisions, self.calendar_entries):
            for labels in [s.labels for fam in metric.collect() for s in fam.samples]:
                if labels.get("namespace") == namespace and labels.get("policy") == policy:
                    extra = labels.get("quantile") or labels.get("reason") or labels.get("outcome")
                    if extra is not None:
                        with contextlib.suppress(KeyError):
                            metric.remove(namespace, policy, extra)


def make_app(metrics: PrescalerMetrics, *, health: Callable[[str], tuple[bool, str]] | None = None) -> Any:
    """A WSGI app: ``/metrics`` (the registry), ``/healthz`` and ``/readyz`` (``health("healthz")`` etc.)."""
    metrics_app = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO") or "/"
        if path in ("/healthz", "/readyz"):
            ok, text = health(path[1:]) if health is not None else (True, "ok")
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [text.encode()]
        if path == "/metrics":
            return metrics_app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics, /healthz or /readyz\n"]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # probes every few seconds would drown the controller's own log


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve_metrics(
    metrics: PrescalerMetrics,
    *,
    port: int,
    addr: str = "0.0.0.0",
    health: Callable[[str], tuple[bool, str]] | None = None,
) -> Any:
    """Serve :func:`make_app` on ``addr:port`` in a daemon thread; returns the server (``.shutdown()``)."""
    server = make_server(
        addr, port, make_app(metrics, health=health), _ThreadingWSGIServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
