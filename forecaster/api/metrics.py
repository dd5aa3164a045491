"""The forecast service's Prometheus metrics: the forecasts themselves as gauges, and the service's own health.

Forecast gauges are produced at scrape time from the cache (a custom collector), so they always show the
latest cached forecast and cost nothing between scrapes:

- ``forecaster_forecast{target, quantile, horizon}``: the forecast for ``horizon`` ahead (5m, 10m, 15m, 30m
  where the model's step and horizon allow) made at the last refresh. Grafana overlays it on the actual with
  ``forecaster_forecast{horizon="30m"} offset 30m``;
- ``forecaster_actual{target}``: the newest actual the forecast was made from.

Own metrics: request latency per route, cache hits, forecast age and staleness, source (Prometheus) query
errors, refreshes, model age and which model serves. The registry is a parameter (tests pass their own);
nothing registers in the global default registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from forecaster.series import format_duration

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.api.cache import ForecastService

__all__ = ["ServiceMetrics", "ForecastCollector", "HORIZONS"]

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
        self.refresh_duration = Histogram(
            "forecaster_refresh_duration_seconds",
            "Time to query the history and compute one target's forecast.",
            ["target"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=r,
        )

        self.source_queries = Counter(
            "forecaster_source_queries_total",
            "History queries this replica sent to its sources (with an elected refresher: the leader's only).",
            registry=r,
        )
        self.leader = Gauge(
            "forecaster_refresher_leader",
            "1 while this replica holds the refresher Lease (refresher: elected), else 0.",
            registry=r,
        )

    def attach(self, service: ForecastService) -> None:
        """Export ``service``'s forecasts and ages at every scrape."""
        self.registry.register(ForecastCollector(service))


class ForecastCollector(Collector):
    """Gauges computed from the cache when scraped."""

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
                try:
                    trained = pd.Timestamp(model.trained_at)
                    trained = trained.tz_convert("UTC").tz_localize(None) if trained.tzinfo else trained
                    model_age.add_metric([state.name], max(0.0, (now - trained).total_seconds()))
                except ValueError:
                    pass
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
            for horizon in HORIZONS:
                steps, rest = divmod(horizon.value, state.step.value)
                if rest or steps < 1 or steps > len(entry.forecast):
                    continue
                row = entry.forecast.iloc[int(steps) - 1]
                for label, value in row.items():
                    forecast.add_metric([state.name, str(label), format_duration(horizon)], float(value))
        yield from (forecast, actual, age, stale, model_age, info, fallback)
