"""The KEDAScaledObject actuator against the fake API server: raise a ScaledObject's minReplicaCount ahead of
the forecast, keep the original in an annotation and restore it exactly (finalizer, forecast loss)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION, OWNER_ANNOTATION
from forecaster.prescaler.policy_sources import FINALIZER
from tests import prescaler_helpers
from tests.fake_kube_api import FakeKubeApiServer
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    deployment,
    keda_hpa,
    policy,
    prometheus_down,
    scaled_object,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


make = prescaler_helpers.controller


def seed(fake: FakeKubeApiServer, *, actuator: str = "KEDAScaledObject", **so: Any) -> None:
    fake.put(deployment(replicas=3))
    fake.put(scaled_object(**so))
    fake.put(keda_hpa())
    fake.put(policy(actuator=actuator))


def so_of(fake: FakeKubeApiServer, name: str = "live-api") -> dict[str, Any]:
    obj = fake.get("scaledobjects", NS, name)
    assert obj is not None
    return obj


def conditions(fake: FakeKubeApiServer) -> dict[str, dict[str, str]]:
    st = fake.get("prescalepolicies", NS, "live-api").get("status") or {}
    return {c["type"]: c for c in st.get("conditions", [])}


@pytest.mark.parametrize("actuator", ["KEDAScaledObject", "Auto"])
def test_raises_the_scaled_objects_min_replica_count_and_keeps_the_original(fake_api, kube, actuator):
    seed(fake_api, actuator=actuator)
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))  # p90 1000 / 100 per replica -> 10

    [outcome] = ctl.tick(NOW)

    assert outcome.ready and outcome.actuator == "KEDAScaledObject" and outcome.desired == 10
    so = so_of(fake_api)
    assert so["spec"]["minReplicaCount"] == 10 and so["spec"]["maxReplicaCount"] == 30
    assert so["metadata"]["annotations"] == {
        ORIGINAL_FLOOR_ANNOTATION: "2",
        OWNER_ANNOTATION: "live/live-api",
    }
    assert outcome.action == "FloorRaised ScaledObject live-api minReplicaCount 2 -> 10"
    # KEDA's own HPA is left to KEDA.
    assert fake_api.get("horizontalpodautoscalers", NS, "keda-hpa-live-api")["spec"]["minReplicas"] == 2
    assert not fake_api.requests_matching(verb="patch", resource="horizontalpodautoscalers")
    assert FINALIZER in fake_api.get("prescalepolicies", NS, "live-api")["metadata"]["finalizers"]
    assert fake_api.get("prescalepolicies", NS, "live-api")["status"]["actuator"] == "KEDAScaledObject"


def test_same_inputs_change_nothing_and_the_floor_is_capped_by_max_replica_count(fake_api, kube):
    seed(fake_api, max_count=8)
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    [first] = ctl.tick(NOW)
    assert so_of(fake_api)["spec"]["minReplicaCount"] == 8 and first.desired == 8  # what was applied
    patches = len(fake_api.requests_matching(verb="patch", resource="scaledobjects"))

    [again] = ctl.tick(NOW + MIN)

    assert again.action is None and again.desired == 8
    assert len(fake_api.requests_matching(verb="patch", resource="scaledobjects")) == patches


def test_deleting_the_policy_restores_the_original_exactly_then_releases_the_finalizer(fake_api, kube):
    seed(fake_api)
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    fake_api.delete("prescalepolicies", NS, "live-api")

    [outcome] = ctl.tick(NOW + MIN)

    assert outcome.reason == "Deleted" and outcome.action.startswith("FloorRestored ScaledObject live-api")
    so = so_of(fake_api)
    assert so["spec"]["minReplicaCount"] == 2 and not so["metadata"].get("annotations")
    assert fake_api.get("prescalepolicies", NS, "live-api") is None


def test_an_unset_min_replica_count_is_restored_unset(fake_api, kube):
    """KEDA's default minReplicaCount is 0 when absent: restoring must remove the field, not write 0."""
    seed(fake_api, min_count=None)
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    ctl = make(kube, forecasts)
    ctl.tick(NOW)
    so = so_of(fake_api)
    assert (
        so["spec"]["minReplicaCount"] == 10
        and so["metadata"]["annotations"][ORIGINAL_FLOOR_ANNOTATION] == "unset"
    )

    forecasts.by_policy["live-api"] = prometheus_down()
    make(kube, forecasts).tick(NOW + MIN)  # a new leader: no last good forecast to hold on to

    so = so_of(fake_api)
    assert "minReplicaCount" not in so["spec"] and not so["metadata"].get("annotations")
    assert so["spec"]["maxReplicaCount"] == 30


def test_forecast_loss_holds_the_last_good_forecast_then_restores(fake_api, kube):
    seed(fake_api)
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    ctl = make(kube, forecasts)
    ctl.tick(NOW)
    forecasts.by_policy["live-api"] = prometheus_down()

    [holding] = ctl.tick(NOW + 10 * MIN)
    assert so_of(fake_api)["spec"]["minReplicaCount"] == 10 and holding.desired == 10
    assert conditions(fake_api)["Ready"]["reason"] == "HoldingLastForecast"

    [restored] = ctl.tick(NOW + 27 * MIN)
    assert so_of(fake_api)["spec"]["minReplicaCount"] == 2 and restored.desired == 2
    ready = conditions(fake_api)["Ready"]
    assert ready["reason"] == "ForecastUnavailable" and "original floor 2 restored" in ready["message"]


def test_dry_run_touches_nothing(fake_api, kube):
    seed(fake_api)
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1000.0}), dry_run=True).tick(NOW)
    assert outcome.mode == "Forecast" and outcome.desired == 10 and outcome.action is None
    assert so_of(fake_api)["spec"]["minReplicaCount"] == 2
    assert {w.resource for w in fake_api.writes()} <= {"prescalepolicies", "events"}
    assert not fake_api.requests_matching(verb="patch", resource="scaledobjects")


def test_conflict_rereads_the_scaled_object_and_retries(fake_api, kube):
    seed(fake_api)
    fake_api.fail(409, verb="patch", resource="scaledobjects")
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1000.0})).tick(NOW)
    assert outcome.ready and so_of(fake_api)["spec"]["minReplicaCount"] == 10
    assert len(fake_api.requests_matching(verb="patch", resource="scaledobjects")) == 2
    assert fake_api.requests_matching(verb="get", resource="scaledobjects")


def test_forbidden_names_the_missing_permission(fake_api, kube):
    seed(fake_api)
    fake_api.fail(403, verb="patch", resource="scaledobjects")
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1000.0})).tick(NOW)
    ready = conditions(fake_api)["Ready"]
    assert not outcome.ready and ready["reason"] == "Forbidden"
    assert "missing permission: patch scaledobjects.keda.sh in namespace live" in ready["message"]


def test_missing_scaled_object_and_hpa_floor_on_a_keda_hpa_are_clear_errors(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(actuator="KEDAScaledObject"))
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1000.0})).tick(NOW)
    assert outcome.reason == "ScaledObjectNotFound"
    assert "no ScaledObject in live targets Deployment/live-api" in outcome.message

    fake_api.put(keda_hpa())
    fake_api.put(policy(actuator="HPAFloor"))
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1000.0})).tick(NOW)
    assert outcome.reason == "InvalidPolicy" and "generated by KEDA ScaledObject live-api" in outcome.message
    assert not fake_api.requests_matching(verb="patch", resource="horizontalpodautoscalers")


def test_every_registered_actuator_is_in_the_crd_enum_and_the_parser_accepts_keda():
    from pathlib import Path

    import yaml

    from forecaster.prescaler.actuators import ACTUATORS
    from forecaster.prescaler.policy import parse_policy

    crd = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "k8s/base/crd-prescalepolicy.yaml").read_text()
    )
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert set(spec["actuator"]["enum"]) == {"Auto", *ACTUATORS}
    parsed = parse_policy(policy(actuator="KEDAScaledObject", plan="shift"))  # a floor: shift is allowed
    assert parsed.actuator == "KEDAScaledObject" and parsed.scaling.plan == "shift"


def test_deletion_restores_the_floor_even_when_status_never_recorded_the_actuator(fake_api, kube):
    """Auto on a KEDA workload, its status write lost: deletion looks at every floor for the target's kind."""
    seed(fake_api, actuator="Auto")
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    assert so_of(fake_api)["spec"]["minReplicaCount"] == 10
    fake_api.set_field("prescalepolicies", NS, "live-api", "status", {})
    fake_api.delete("prescalepolicies", NS, "live-api")

    [outcome] = ctl.tick(NOW + MIN)

    assert outcome.reason == "Deleted"
    assert so_of(fake_api)["spec"]["minReplicaCount"] == 2 and not so_of(fake_api)["metadata"].get(
        "annotations"
    )
    assert fake_api.get("prescalepolicies", NS, "live-api") is None
