"""Builders and fakes shared by the prescaler tests: Kubernetes objects, a scripted forecast provider, fixtures.

Use the fixtures in a test module with ``fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from forecaster.errors import ForecasterError, SourceError
from forecaster.prescaler.forecasts import ForecastResult
from forecaster.prescaler.kube import KubeClient, KubeSettings
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy import PrescalePolicy
from forecaster.prescaler.policy_sources import CrdPolicySource
from tests.fake_kube_api import FakeKubeApiServer

NOW = pd.Timestamp("2024-05-01 20:00:00")
NS = "live"


def deployment(name: str = "live-api", *, replicas: int = 3, namespace: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}},
        "status": {"replicas": replicas},
    }


def statefulset(name: str, *, replicas: int = 2, namespace: str = NS) -> dict[str, Any]:
    obj = deployment(name, replicas=replicas, namespace=namespace)
    obj["kind"] = "StatefulSet"
    return obj


def machine_deployment(
    name: str, *, replicas: int = 2, namespace: str = NS, kind: str = "MachineDeployment"
) -> dict[str, Any]:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "clusterName": "prod"},
        "status": {"replicas": replicas},
    }


def hpa(
    name: str = "live-api",
    *,
    target: str = "live-api",
    min_replicas: int = 2,
    max_replicas: int = 50,
    namespace: str = NS,
    kind: str = "Deployment",
) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }


def scaled_object(
    name: str = "live-api", *, target: str = "live-api", min_count: int | None = 2, max_count: int | None = 30
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"name": target},  # KEDA's defaults: apps/v1 Deployment
        "triggers": [{"type": "prometheus", "metadata": {"query": "sum(rate(x[1m]))", "threshold": "100"}}],
    }
    if min_count is not None:
        spec["minReplicaCount"] = min_count
    if max_count is not None:
        spec["maxReplicaCount"] = max_count
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def keda_hpa(scaled: str = "live-api", *, target: str = "live-api") -> dict[str, Any]:
    """The HPA KEDA generates for a ScaledObject (it owns it and overwrites changes)."""
    obj = hpa(f"keda-hpa-{scaled}", target=target, min_replicas=2)
    obj["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "name": scaled,
            "uid": "u-1",
            "controller": True,
        }
    ]
    obj["metadata"]["labels"] = {"scaledobject.keda.sh/name": scaled}
    return obj


def policy(
    name: str = "live-api",
    *,
    target: str = "live-api",
    kind: str = "Deployment",
    api_version: str = "apps/v1",
    namespace: str = NS,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": target},
        "forecast": {"target": "live-streaming"},
        "capacityPerReplica": 100,
        "quantile": 0.9,
        "leadTime": "3m",
        "interval": "1m",
        "minReplicas": 2,
        "maxReplicas": 40,
        "scaleDown": {"stabilizationWindow": "5m"},
    }
    body.update(spec)
    return {
        "apiVersion": "prescaling.forecaster.io/v1alpha1",
        "kind": "PrescalePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def forecast_frame(
    now: pd.Timestamp, *, p90: float, p50: float | None = None, minutes: int = 30
) -> pd.DataFrame:
    """A flat forecast starting one minute after ``now``."""
    index = pd.date_range(now + pd.Timedelta(minutes=1), periods=minutes, freq="1min")
    p50 = p90 * 0.8 if p50 is None else p50
    return pd.DataFrame({"p50": np.full(minutes, p50), "p90": np.full(minutes, p90)}, index=index)


def history(now: pd.Timestamp, *, value: float = 100.0, minutes: int = 120) -> pd.Series:
    index = pd.date_range(end=now - pd.Timedelta(minutes=1), periods=minutes, freq="1min")
    return pd.Series(np.full(minutes, value), index=index, dtype=float)


class FakeForecasts:
    """Scripted ForecastProvider: per policy name a peak (p90), an exception, None, or a callable(now)."""

    def __init__(self, **by_policy: Any) -> None:
        self.by_policy = dict(by_policy)
        self.calls: list[tuple[str, pd.Timestamp]] = []

    def forecast(self, policy: PrescalePolicy, now: pd.Timestamp) -> ForecastResult | None:
        self.calls.append((policy.name, now))
        what = self.by_policy.get(policy.name, 250.0)
        if callable(what):
            what = what(now)
        if what is None or isinstance(what, ForecastResult):
            return what
        if isinstance(what, ForecasterError):
            raise what
        return ForecastResult(
            frame=forecast_frame(now, p90=float(what)), history=history(now, value=float(what) * 0.5)
        )


def prometheus_down() -> SourceError:
    return SourceError(
        "GET http://127.0.0.1:9/api/v1/query_range: connection refused", hint="is Prometheus up?"
    )


@pytest.fixture
def fake_api() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def kube(fake_api: FakeKubeApiServer, tmp_path: Any) -> Iterator[KubeClient]:
    path = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    sleeps: list[float] = []
    # No real waiting between retries; tests read the recorded delays.
    client = KubeClient.from_kubeconfig(
        str(path), settings=KubeSettings(request_timeout_s=2.0), sleep=sleeps.append
    )
    client.sleeps = sleeps  # type: ignore[attr-defined]
    with client:
        yield client


def controller(kube: KubeClient, forecasts: Any, **kw: Any) -> Controller:
    """A controller reading PrescalePolicies from ``kube`` (the fake API server), forecasting with
    ``forecasts`` (a :class:`FakeForecasts`), with metrics in a registry of its own; ``kw`` go to
    :class:`Controller` (fleet settings, a clock, a leader, ...)."""
    return Controller(
        policies=CrdPolicySource(kube),
        forecasts=forecasts,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        **kw,
    )


# -- reading what a tick left in the fake cluster ----------------------------------------------------------------


def status(fake: FakeKubeApiServer, name: str = "live-api", *, namespace: str = NS) -> dict[str, Any]:
    """The policy's status as written to the fake API server ({} before the first write)."""
    return fake.get("prescalepolicies", namespace, name).get("status") or {}


def conditions(
    fake: FakeKubeApiServer, name: str = "live-api", *, namespace: str = NS
) -> dict[str, dict[str, str]]:
    """The policy's status conditions by type."""
    return {c["type"]: c for c in status(fake, name, namespace=namespace).get("conditions", [])}


def replicas(fake: FakeKubeApiServer, name: str = "live-api", *, namespace: str = NS) -> int:
    """The Deployment's ``spec.replicas``."""
    return fake.get("deployments", namespace, name)["spec"]["replicas"]


def floor(fake: FakeKubeApiServer, name: str = "live-api", *, namespace: str = NS) -> int | None:
    """The HPA's ``spec.minReplicas`` (None when absent)."""
    return fake.get("horizontalpodautoscalers", namespace, name)["spec"].get("minReplicas")


def gauge(ctl: Controller, name: str, **labels: str) -> float | None:
    """A sample of the controller's metrics registry."""
    return ctl.metrics.registry.get_sample_value(name, labels)
