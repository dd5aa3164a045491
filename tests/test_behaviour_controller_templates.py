"""Policies whose forecast is a member of a template ForecastTarget (``<template>--<value>``): what the one shared
Prometheus read of the template covers, and that each member's accuracy guard judges its whole window.

Through :class:`~forecaster.prescaler.loop.Controller` and the real
:class:`~forecaster.prescaler.forecasts.StoreForecastProvider` against the fake API server; the template's read
(``fetch_split``) answers like Prometheus (only the range asked for) and a stand-in model forecasts.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from forecaster.prescaler.forecasts import ClusterTargetConfigs, StoreForecastProvider
from forecaster.prescaler.informer import WatchCache
from forecaster.prescaler.kube import FORECAST_TARGETS
from forecaster.prescaler.loop import Controller, FleetSettings
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import CrdPolicySource
from forecaster.templates import member_name
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, deployment, forecast_frame, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)
WRONG_UNTIL = NOW - 40 * MIN
"""The stand-in model forecasts twice the load when asked before this time, the load itself after."""


class _Model:
    step = "1min"
    lookback_steps = 20  # 20 minutes: far shorter than the guard windows below

    def predict(self, series: pd.Series) -> pd.DataFrame:
        last = float(series.dropna().iloc[-1])
        made = pd.Timestamp(series.index[-1]) + MIN
        level = 2 * last if made < WRONG_UNTIL else last
        return forecast_frame(pd.Timestamp(series.index[-1]), p90=level, p50=level)


class _Store:
    def load_for(self, target: str, **kw: Any) -> Any:
        return SimpleNamespace(model=_Model(), ref=SimpleNamespace(version=f"{target}-v1"))


def _template(
    fake, services: list[str], *, token_env: str | None = None, store: str = "/models"
) -> list[str]:
    prometheus = {"url": "http://127.0.0.1:1", "query": "sum by (service) (rate(http_requests_total[1m]))"}
    if token_env:
        prometheus["bearerTokenEnv"] = token_env
    fake.put(
        {
            "apiVersion": "forecasting.forecaster.io/v1alpha1",
            "kind": "ForecastTarget",
            "metadata": {"name": "web", "namespace": "forecaster"},
            "spec": {
                "prometheus": prometheus,
                "store": store,
                "splitBy": ["service"],
            },
        }
    )
    return [member_name("web", (s,)) for s in services]


def _setup(fake, kube, *, guard: dict[str, Any] | None):
    services = ["cart", "search"]
    members = _template(fake, services)
    for i, member in enumerate(members):
        fake.put(deployment(f"d{i}", replicas=2))
        spec = {"accuracyGuard": guard} if guard else {}
        fake.put(policy(f"p{i}", target=f"d{i}", forecast={"target": member}, **spec))
    reads: list[pd.Timedelta] = []

    def fetch_split(settings, *, now, split_by, max_series, history):
        """Like Prometheus: the flat load of 100/s of every service, only over the range asked for."""
        reads.append(history)
        full = prescaler_helpers.history(now, value=100.0, minutes=24 * 60)
        return {(s,): full[full.index >= now - history] for s in services}

    provider = StoreForecastProvider(
        targets=ClusterTargetConfigs(WatchCache(kube, FORECAST_TARGETS, namespace="forecaster")),
        fetch_split=fetch_split,
        stores=lambda root: _Store(),
    )
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=provider,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        fleet=FleetSettings(forecast_workers=2),
    )
    return ctl, reads


@pytest.mark.parametrize(
    ("guard", "read"),
    [
        (None, 20 * MIN),  # the model's lookback
        ({"maxError": 0.5, "window": "2h"}, 120 * MIN),  # the guard judges two hours: read two hours
        ({"maxError": 0.5, "window": "5m"}, 20 * MIN),  # a short guard window never shortens the lookback
    ],
)
def test_the_template_read_covers_the_members_lookback_and_guard_window(fake_api, kube, guard, read):
    ctl, reads = _setup(fake_api, kube, guard=guard)
    try:
        outcomes = ctl.tick(NOW)
        assert all(o.ready for o in outcomes) and len(outcomes) == 2
        assert reads == [read], "one read of the template for both members, over the longest window needed"
    finally:
        ctl.shutdown(NOW)


def test_a_members_guard_judges_every_forecast_of_its_window_not_only_the_lookback(fake_api, kube):
    """The model was twice the load for 80 of the last 120 minutes and right for the last 40: over its two-hour
    window its error is well above maxError, so the guard stays on (the last 20 minutes alone look perfect)."""
    ctl, _ = _setup(fake_api, kube, guard={"maxError": 0.5, "window": "2h"})
    try:
        for minutes in range(120, -1, -10):
            ctl.tick(NOW - minutes * MIN)
        for name in ("p0", "p1"):
            accuracy = fake_api.get("prescalepolicies", NS, name)["status"]["accuracy"]
            assert accuracy["guardActive"] is True
            assert accuracy["window"] == "7200s"
            assert accuracy["error"] > 0.5
            assert accuracy["samples"] > 200, "every forecast made in the window, with its actuals"
    finally:
        ctl.shutdown(NOW)


def test_a_member_policy_with_its_own_prometheus_gets_its_own_read_without_the_templates_credentials(
    fake_api, kube
):
    """A policy may point its member at another Prometheus (spec.forecast.prometheusUrl): its series are read
    there, in a read of their own, and the template's token never goes to a server a policy names."""
    members = _template(fake_api, ["cart", "search"], token_env="PROM_TOKEN")
    fake_api.put(deployment("d0", replicas=2))
    fake_api.put(policy("p0", target="d0", forecast={"target": members[0]}))
    fake_api.put(deployment("d1", replicas=2))
    fake_api.put(
        policy("p1", target="d1", forecast={"target": members[1], "prometheusUrl": "http://127.0.0.1:2"})
    )
    reads: list[tuple[str, str | None]] = []

    def fetch_split(settings, *, now, split_by, max_series, history):
        reads.append((settings.url, settings.bearer_token_env))
        full = prescaler_helpers.history(now, value=100.0)
        return {(s,): full for s in ("cart", "search")}

    provider = StoreForecastProvider(
        targets=ClusterTargetConfigs(WatchCache(kube, FORECAST_TARGETS, namespace="forecaster")),
        fetch_split=fetch_split,
        stores=lambda root: _Store(),
    )
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=provider,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        fleet=FleetSettings(forecast_workers=2),
    )
    try:
        outcomes = ctl.tick(NOW)
        assert all(o.ready for o in outcomes) and len(outcomes) == 2
        assert sorted(reads) == [("http://127.0.0.1:1", "PROM_TOKEN"), ("http://127.0.0.1:2", None)]
    finally:
        ctl.shutdown(NOW)


def test_a_template_members_tuning_is_read_from_the_templates_store(fake_api, kube, tmp_path):
    """A member (``web--cart``) has no ForecastTarget of its own: its recommendation is read from the store
    the template's ForecastTarget names."""
    from forecaster.prescaler.policy import parse_policy

    members = _template(fake_api, ["cart"], store=str(tmp_path / "models"))
    roots: list[str] = []

    class Store(_Store):
        def read_file(self, target, version, name):
            return None

    def stores(root):
        roots.append(root)
        return Store()

    provider = StoreForecastProvider(
        targets=ClusterTargetConfigs(WatchCache(kube, FORECAST_TARGETS, namespace="forecaster")),
        stores=stores,
    )
    p = parse_policy(policy("p0", forecast={"target": members[0]}, tuning={"slo": "short-minutes=0.5%"}))
    assert provider.recommendation(p, "web--cart-v1") is None
    assert roots == [str(tmp_path / "models")]
