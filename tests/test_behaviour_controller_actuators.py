"""What the actuators read and say about the target: the pods a workload runs are those its scale subresource
reports in status (a rollout under way has not started the rest), and a floor whose field is absent starts
from the owner's implicit default (KEDA: 0, the HPA: 1), which is what the action and the Event say.

Through :class:`~forecaster.prescaler.loop.Controller` against the fake API server, scripted forecasts.
"""

from __future__ import annotations

from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION
from tests import prescaler_helpers
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    deployment,
    hpa,
    keda_hpa,
    policy,
    scaled_object,
    status,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


make = prescaler_helpers.controller


def events(fake) -> list[str]:
    return [e["message"] for e in fake.events()]


def test_the_current_pods_are_those_running_not_those_asked_for(fake_api, kube):
    rolling = deployment(replicas=10)
    rolling["status"]["replicas"] = 6  # scaled to 10 a moment ago: 6 pods exist so far
    fake_api.put(rolling)
    fake_api.put(policy())  # Replicas
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1200.0})).tick(NOW)
    assert outcome.current == 6 and status(fake_api)["currentReplicas"] == 6
    # The write compares with what was asked for (spec), so it says what it changed.
    assert outcome.action == "ScaledUp Deployment/live-api 10 -> 12"


def test_a_floor_reports_the_pods_running_under_it(fake_api, kube):
    rolling = deployment(replicas=9)
    rolling["status"]["replicas"] = 4
    fake_api.put(rolling)
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(actuator="HPAFloor"))
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1000.0})).tick(NOW)
    assert outcome.current == 4 and status(fake_api)["currentReplicas"] == 4


def test_an_absent_keda_floor_starts_from_zero(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(scaled_object(min_count=None))
    fake_api.put(keda_hpa())
    fake_api.put(policy(actuator="KEDAScaledObject"))
    [outcome] = make(kube, FakeForecasts(**{"live-api": 600.0})).tick(NOW)
    assert outcome.action == "FloorRaised ScaledObject live-api minReplicaCount 0 -> 6"
    assert status(fake_api)["lastAction"] == outcome.action
    assert any("minReplicaCount 0 -> 6" in m for m in events(fake_api))
    so = fake_api.get("scaledobjects", NS, "live-api")
    assert so["metadata"]["annotations"][ORIGINAL_FLOOR_ANNOTATION] == "unset"


def test_an_absent_hpa_floor_starts_from_one(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    unset = hpa()
    del unset["spec"]["minReplicas"]
    fake_api.put(unset)
    fake_api.put(policy(actuator="HPAFloor"))
    [outcome] = make(kube, FakeForecasts(**{"live-api": 600.0})).tick(NOW)
    assert outcome.action == "FloorRaised HPA live-api minReplicas 1 -> 6"
    h = fake_api.get("horizontalpodautoscalers", NS, "live-api")
    assert (
        h["spec"]["minReplicas"] == 6 and h["metadata"]["annotations"][ORIGINAL_FLOOR_ANNOTATION] == "unset"
    )
