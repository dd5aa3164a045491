"""The forecast service's Prometheus metrics: the forecasts themselves as gauges, and the service's own health.

Forecast gauges are produced at scrape time from the cache (:func:`render_forecasts`, a fast path that keeps
each forecast's lines once made, so a scrape of 1,000 targets stays in milliseconds; :class:`ForecastCollector`
gives the same families through the client library), so they always show the latest cached forecast and
cost nothing between scrapes:

- ``forecaster_forecast{target, quantile, horizon}``: the forecast for ``horizon`` ahead (5m, 10m, 15m, 30m
  where the model's step and horizon allow) made at the last refresh. Grafana overlays it on the actual with
  ``forecaster_forecast{horizon="30m"} offset 30m``;
- ``forecaster_actual{target}``: the newest actual the forecast was made from.

Own metrics: request latency per route, cache hits, forecast age and staleness, source (Prometheus) query
errors, refreshes, model age and which model serves, and the garbage collector's pauses (every thread waits
for them, requests included: at 1,000 targets a full collection of every loaded model's objects took
0.1-1 s; see ``gc_freeze`` in the serve settings). The registry is a parameter (tests pass their own);
nothing registers in the global default registry.
"""

from __future__ import annotations

import functools
import gc
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from forecaster.series import format_duration

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.api.cache import ForecastService

__all__ = ["ServiceMetrics", "ForecastCollector", "render_forecasts", "HORIZONS"]

HORIZONS = (
    pd.Timedelta(minutes=5),
    pd.Timedelta(minutes=10),
    pd.Timedelta(minutes=15),
    pd.Timedelta(minutes=30),
)
"""Forecast points exported as gauges; the full curve is in the JSON API."""


class ServiceMetrics:
    """Counters and histograms the service updates; ``registry`` defaults to a fresh private one."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_duration = Histogram(
            "forecaster_http_request_duration_seconds",
            "HTTP request latency by route template, method and status code.",
            ["route", "method", "status"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.cache_requests = Counter(
            "forecaster_cache_requests_total",
            "Forecast requests by cache result: hit, not_modified (304) or miss (no forecast yet).",
            ["target", "result"],
            registry=r,
        )
        self.source_errors = Counter(
            "forecaster_source_errors_total",
            "Failed history queries (Prometheus unreachable, errors, unusable answers).",
            ["target"],
            registry=r,
        )
        self.refreshes = Counter(
            "forecaster_refreshes_total",
            "Background forecast refreshes by result.",
            ["target", "result"],
            registry=r,
        )
        # One histogram for all targets: a histogram per target is 14 series each, most of /metrics at 1,000
        # targets; forecaster_refreshes_total{target} still says which target fails.
        self.refresh_duration = Histogram(
            "forecaster_refresh_duration_seconds",
            "Time to query the history and compute one target's forecast (all targets).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=r,
        )

        self.source_queries = Counter(
            "forecaster_source_queries_total",
            "History queries this replica sent to its sources (with an elected refresher: the leader's only).",
            registry=r,
        )
        self.calendar_up = Gauge(
            "forecaster_calendar_up",
            "1 when the target's calendar was read at the last refresh (readable, not stale), else 0 "
            "(targets with an events: section only).",
            ["target"],
            registry=r,
        )
        self.calendar_age = Gauge(
            "forecaster_calendar_age_seconds",
            "Seconds since the calendar copy in use (or the last good one) was read; +Inf when none ever was.",
            ["target"],
            registry=r,
        )
        self.calendar_entries = Gauge(
            "forecaster_calendar_entries",
            "Entries of the calendar in use by outcome: upcoming, past, duplicate (dropped), overlapping (kept).",
            ["target", "outcome"],
            registry=r,
        )
        self.leader = Gauge(
            "forecaster_refresher_leader",
            "1 while this replica holds the refresher Lease (refresher: elected), else 0.",
            registry=r,
        )

        self.gc_pause = Histogram(
            "forecaster_gc_pause_seconds",
            "Pauses of Python's cyclic garbage collector by generation (no thread runs meanwhile).",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self._gc_pending: deque[tuple[int, float]] = deque(maxlen=100_000)
        self._gc_started = 0.0

        self.service: ForecastService | None = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # Called by the collector itself: no lock may be taken here (the thread that triggered the
        # collection may hold the histogram's), so the pause is queued and observed at the next scrape.
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._gc_pending.append((int(info.get("generation", -1)), time.perf_counter() - self._gc_started))

    def watch_gc(self) -> None:
        """Record every collection's pause from now on (until :meth:`unwatch_gc`)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _drain_gc(self) -> None:
        while self._gc_pending:
            generation, seconds = self._gc_pending.popleft()
            self.gc_pause.labels(str(generation)).observe(seconds)

    def attach(self, service: ForecastService) -> None:
        """Export ``service``'s forecasts and ages at every scrape (see :meth:`render`)."""
        self.service = service

    def render(self) -> bytes:
        """The ``/metrics`` body: the registry, then the forecast families (:func:`render_forecasts`)."""
        self._drain_gc()
        body = generate_latest(self.registry)
        if self.service is None:
            return body
        return body + render_forecasts(self.service)


_FAMILIES = (
    ("forecaster_forecast", "Forecast value at the given horizon, made at the last refresh."),
    ("forecaster_actual", "Newest actual value the forecast was made from."),
    ("forecaster_forecast_age_seconds", "Seconds since the served forecast was computed."),
    ("forecaster_forecast_stale", "1 when the served forecast is stale."),
    ("forecaster_model_age_seconds", "Seconds since the serving model was trained."),
    ("forecaster_model_info", "The model that produced the served forecast (value always 1)."),
    ("forecaster_model_fallback", "1 when a baseline serves instead of a trained model."),
)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _line(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} {floatToGoString(value)}\n"


def _fixed_lines(state: Any, entry: Any) -> dict[str, str]:
    """The lines of one cached forecast that only change with the forecast (or the model): made once."""
    cached = entry.metric_lines
    if cached is not None and cached[0] is state.model:
        return cached[1]
    model = state.model
    t = state.name
    ran_baseline = entry.model_name != model.name or model.kind == "baseline"
    lines = {
        "forecaster_forecast": "".join(
            _line("forecaster_forecast", {"target": t, "quantile": q, "horizon": h}, v)
            for (q, h), v in _horizon_samples(entry, state.step)
        ),
        "forecaster_actual": ""
        if entry.last_actual is None
        else _line("forecaster_actual", {"target": t}, entry.last_actual),
        "forecaster_model_info": _line(
            "forecaster_model_info",
            {
                "target": t,
                "kind": "baseline" if ran_baseline else "model",
                "name": entry.model_name,
                "version": model.version or "",
            },
            1.0,
        ),
        "forecaster_model_fallback": _line(
            "forecaster_model_fallback", {"target": t}, 1.0 if ran_baseline else 0.0
        ),
    }
    entry.metric_lines = (model, lines)
    return lines


def render_forecasts(service: ForecastService) -> bytes:
    """The forecast families in the Prometheus text format, as :class:`ForecastCollector` would give them.

    Rendered here rather than through the registry because at 1,000 targets the client library's generic
    path (a sample object per value, then formatting) took ~0.4 s per scrape; the lines that only change
    with a forecast are made once per refresh and kept on it, so a scrape only formats ages and staleness.
    """
    now = service.clock()
    parts: dict[str, list[str]] = {name: [] for name, _ in _FAMILIES}
    for state in list(service.targets.values()):
        entry = state.entry
        model = state.model
        if model.trained_at:
            trained = _parse_time(model.trained_at)
            if trained is not None:
                parts["forecaster_model_age_seconds"].append(
                    _line(
                        "forecaster_model_age_seconds",
                        {"target": state.name},
                        max(0.0, (now - trained).total_seconds()),
                    )
                )
        if entry is None:
            continue
        fixed = _fixed_lines(state, entry)
        for name in (
            "forecaster_forecast",
            "forecaster_actual",
            "forecaster_model_info",
            "forecaster_model_fallback",
        ):
            parts[name].append(fixed[name])
        age = max(0.0, (now - entry.generated_at).total_seconds())
        parts["forecaster_forecast_age_seconds"].append(
            _line("forecaster_forecast_age_seconds", {"target": state.name}, age)
        )
        stale = 0.0 if service.stale_reason(state, now) is None else 1.0
        parts["forecaster_forecast_stale"].append(
            _line("forecaster_forecast_stale", {"target": state.name}, stale)
        )
    out = []
    for name, help_text in _FAMILIES:
        out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
        out.extend(parts[name])
    return "".join(out).encode()


class ForecastCollector(Collector):
    """Gauges computed from the cache when scraped (the same families as :func:`render_forecasts`, through the
    client library: for a registry of one's own; ``/metrics`` uses the faster renderer)."""

    def __init__(self, service: ForecastService) -> None:
        self.service = service

    def describe(self) -> list:
        return []  # no collect() at registration: the service may not have forecasts yet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        svc = self.service
        now = svc.clock()
        forecast = GaugeMetricFamily(
            "forecaster_forecast",
            "Forecast value at the given horizon, made at the last refresh.",
            labels=["target", "quantile", "horizon"],
        )
        actual = GaugeMetricFamily(
            "forecaster_actual", "Newest actual value the forecast was made from.", labels=["target"]
        )
        age = GaugeMetricFamily(
            "forecaster_forecast_age_seconds",
            "Seconds since the served forecast was computed.",
            labels=["target"],
        )
        stale = GaugeMetricFamily(
            "forecaster_forecast_stale", "1 when the served forecast is stale.", labels=["target"]
        )
        model_age = GaugeMetricFamily(
            "forecaster_model_age_seconds", "Seconds since the serving model was trained.", labels=["target"]
        )
        info = GaugeMetricFamily(
            "forecaster_model_info",
            "The model that produced the served forecast (value always 1).",
            labels=["target", "kind", "name", "version"],
        )
        fallback = GaugeMetricFamily(
            "forecaster_model_fallback",
            "1 when a baseline serves instead of a trained model.",
            labels=["target"],
        )
        for state in list(svc.targets.values()):
            entry = state.entry
            model = state.model
            if model.trained_at:
                trained = _parse_time(model.trained_at)
                if trained is not None:
                    model_age.add_metric([state.name], max(0.0, (now - trained).total_seconds()))
            if entry is None:
                continue
            ran_baseline = entry.model_name != model.name or model.kind == "baseline"
            info.add_metric(
                [state.name, "baseline" if ran_baseline else "model", entry.model_name, model.version or ""],
                1.0,
            )
            fallback.add_metric([state.name], 1.0 if ran_baseline else 0.0)
            age.add_metric([state.name], max(0.0, (now - entry.generated_at).total_seconds()))
            stale.add_metric([state.name], 0.0 if svc.stale_reason(state, now) is None else 1.0)
            last = entry.last_actual
            if last is not None:
                actual.add_metric([state.name], last)
            for labels, value in _horizon_samples(entry, state.step):
                forecast.add_metric([state.name, *labels], value)
        yield from (forecast, actual, age, stale, model_age, info, fallback)


@functools.lru_cache(maxsize=4096)
def _parse_time(text: str) -> pd.Timestamp | None:
    """A model's ``trained_at`` as tz-naive UTC, parsed once per distinct value (every scrape reads it)."""
    try:
        t = pd.Timestamp(text)
    except ValueError:
        return None
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo else t


def _horizon_samples(entry: Any, step: pd.Timedelta) -> list[tuple[tuple[str, str], float]]:
    """((quantile, horizon), value) of one cached forecast at :data:`HORIZONS`: computed at its first scrape
    and kept on the entry (immutable once published), so a scrape of 1,000 targets does no pandas work."""
    cached: list[tuple[tuple[str, str], float]] | None = entry.horizon_samples
    if cached is not None:
        return cached
    out: list[tuple[tuple[str, str], float]] = []
    for horizon in HORIZONS:
        steps, rest = divmod(horizon.value, step.value)
        if rest or steps < 1 or steps > len(entry.forecast):
            continue
        row = entry.forecast.iloc[int(steps) - 1]
        for label, value in row.items():
            out.append(((str(label), format_duration(horizon)), float(value)))
    entry.horizon_samples = out
    return out
