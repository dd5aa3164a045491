"""The prescaler's reconcile loop against the fake API server, through the real kubernetes client.

Forecasts are scripted (``FakeForecasts``); the clock is passed in; nothing sleeps.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from forecaster.errors import ModelStoreError
from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION, OWNER_ANNOTATION
from forecaster.prescaler.forecasts import ForecastResult
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import FINALIZER
from tests import prescaler_helpers
from tests.fake_kube_api import FakeKubeApiServer
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    deployment,
    forecast_frame,
    history,
    hpa,
    machine_deployment,
    policy,
    prometheus_down,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


make = prescaler_helpers.controller


def status(fake: FakeKubeApiServer, name: str = "live-api") -> dict[str, Any]:
    obj = fake.get("prescalepolicies", NS, name)
    assert obj is not None
    return obj.get("status") or {}


def conditions(fake: FakeKubeApiServer, name: str = "live-api") -> dict[str, dict[str, str]]:
    return {c["type"]: c for c in status(fake, name).get("conditions", [])}


def hpa_of(fake: FakeKubeApiServer, name: str = "live-api") -> dict[str, Any]:
    obj = fake.get("horizontalpodautoscalers", NS, name)
    assert obj is not None
    return obj


def seed_hpa_workload(fake: FakeKubeApiServer, **policy_spec: Any) -> None:
    fake.put(deployment(replicas=3))
    fake.put(hpa(min_replicas=2))
    fake.put(policy(**policy_spec))


def sample(metrics: PrescalerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


# -- HPA floor -------------------------------------------------------------------------------------------------


def test_raises_the_hpa_floor_ahead_of_the_forecast_and_reports_it(fake_api, kube):
    seed_hpa_workload(fake_api, headroomPercent=10)
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))  # p90 1000 * 1.1 / 100 per replica -> 11

    [outcome] = ctl.tick(NOW)

    assert outcome.ready and outcome.actuator == "HPAFloor" and outcome.desired == 11
    h = hpa_of(fake_api)
    assert h["spec"]["minReplicas"] == 11
    assert h["metadata"]["annotations"][ORIGINAL_FLOOR_ANNOTATION] == "2"
    assert h["metadata"]["annotations"][OWNER_ANNOTATION] == "live/live-api"
    st = status(fake_api)
    assert st["mode"] == "Scale" and st["desiredReplicas"] == 11 and st["currentReplicas"] == 3
    assert st["forecastPeak"] == 1000.0 and st["forecastPeakTime"] == "2024-05-01T20:01:00Z"
    assert st["lastAction"].startswith("FloorRaised HPA live-api minReplicas 2 -> 11")
    assert st["scalingState"]["lastDesired"] == 11
    assert conditions(fake_api)["Ready"]["status"] == "True"
    assert FINALIZER in fake_api.get("prescalepolicies", NS, "live-api")["metadata"]["finalizers"]
    [event] = [e for e in fake_api.events() if e["reason"] == "FloorRaised"]
    assert event["involvedObject"]["kind"] == "Deployment" and event["involvedObject"]["name"] == "live-api"
    assert sample(ctl.metrics, "forecaster_prescaler_desired_replicas", namespace=NS, policy="live-api") == 11
    assert sample(ctl.metrics, "forecaster_prescaler_current_replicas", namespace=NS, policy="live-api") == 3
    assert (
        sample(ctl.metrics, "forecaster_prescaler_forecast", namespace=NS, policy="live-api", quantile="p90")
        == 1000
    )
    assert (
        sample(
            ctl.metrics,
            "forecaster_prescaler_decisions_total",
            namespace=NS,
            policy="live-api",
            reason="forecast",
        )
        == 1
    )


def test_same_inputs_change_nothing_on_the_next_tick(fake_api, kube):
    seed_hpa_workload(fake_api)
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    before = len(fake_api.writes())

    [outcome] = ctl.tick(NOW + MIN)

    later = fake_api.writes()[before:]
    assert outcome.action is None
    # Only the status may change (the stabilisation window's bookkeeping); the HPA, the target, the finalizer
    # and the events are left alone.
    assert {(w.verb, w.resource, w.subresource) for w in later} <= {("patch", "prescalepolicies", "status")}


def test_floor_never_goes_below_the_original_and_is_capped_by_the_hpa_max(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=4, max_replicas=8))
    fake_api.put(policy(minReplicas=1))
    ctl = make(kube, FakeForecasts(**{"live-api": 100.0}))  # 1 replica needed: below the HPA's own floor

    ctl.tick(NOW)
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 4
    assert ORIGINAL_FLOOR_ANNOTATION not in (hpa_of(fake_api)["metadata"].get("annotations") or {})

    ctl.forecasts.by_policy["live-api"] = 2000.0  # 20 needed, but the HPA allows at most 8
    ctl.tick(NOW + MIN)
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 8


def test_forecast_outage_holds_the_last_good_forecast_then_restores_the_original_floor(fake_api, kube):
    """Prometheus goes down: the last good forecast (made at NOW, 30 minutes long) still covers the next
    minutes, so the floor stays while its planning window fits in it (never beyond), then the original floor
    comes back; conditions, Events and status say which is happening and until when."""
    seed_hpa_workload(fake_api)
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    ctl = make(kube, forecasts)
    ctl.tick(NOW)
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 10

    forecasts.by_policy["live-api"] = prometheus_down()
    [outcome] = ctl.tick(NOW + MIN)

    # Holding: the forecast ends at 20:30, the planning window is lead 3m + interval 1m -> usable until 20:26.
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 10
    assert not outcome.ready and outcome.desired == 10
    cond = conditions(fake_api)
    assert cond["Ready"]["status"] == "False" and cond["Ready"]["reason"] == "HoldingLastForecast"
    assert "connection refused" in cond["Ready"]["message"]
    assert "until 2024-05-01T20:26:00Z, then restoring the original floor" in cond["Ready"]["message"]
    assert cond["Degraded"]["status"] == "True" and cond["Degraded"]["reason"] == "HoldingLastForecast"
    assert status(fake_api)["desiredReplicas"] == 10
    assert [e["reason"] for e in fake_api.events() if e["type"] == "Warning"] == ["HoldingLastForecast"]
    assert sample(ctl.metrics, "forecaster_prescaler_errors_total", kind="forecast") == 1

    ctl.tick(NOW + 26 * MIN)  # the last minute the forecast still covers
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 10

    [outcome] = ctl.tick(NOW + 27 * MIN)  # beyond it: the original floor comes back
    h = hpa_of(fake_api)
    assert h["spec"]["minReplicas"] == 2
    assert ORIGINAL_FLOOR_ANNOTATION not in (h["metadata"].get("annotations") or {})
    assert not outcome.ready and outcome.desired == 2 and outcome.action.startswith("FloorRestored")
    cond = conditions(fake_api)
    assert (
        cond["Ready"]["reason"] == "ForecastUnavailable"
        and "original floor 2 restored" in cond["Ready"]["message"]
    )
    st = status(fake_api)
    # What was applied, not what the decision kept: 2, never "keeping 10 replicas".
    assert st["desiredReplicas"] == 2 and "original floor 2 restored" in st["message"]
    assert "keeping" not in st["message"]
    warnings = sorted((e["lastTimestamp"], e["reason"]) for e in fake_api.events() if e["type"] == "Warning")
    assert [reason for _, reason in warnings] == ["HoldingLastForecast", "ForecastUnavailable"]

    # Recovery: the floor goes back up and Ready turns True again, with an event saying so.
    forecasts.by_policy["live-api"] = 1000.0
    ctl.tick(NOW + 28 * MIN)
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 10
    assert conditions(fake_api)["Ready"]["status"] == "True"
    assert any(e["reason"] == "Reconciled" for e in fake_api.events())


@pytest.mark.parametrize(
    ("what", "message"),
    [
        (None, "no forecast available"),
        (ModelStoreError("no promoted model for target 'live-streaming'"), "no promoted model"),
        (
            ForecastResult(
                frame=forecast_frame(NOW, p90=900.0), history=history(NOW - pd.Timedelta(hours=1))
            ),
            "history is stale",
        ),
        (ForecastResult(frame=forecast_frame(NOW, p90=float("nan"))), "NaN"),
        (ForecastResult(frame=forecast_frame(NOW - pd.Timedelta(hours=2), p90=900.0)), "planning window"),
    ],
    ids=["none", "model-missing", "stale", "nan", "too-old"],
)
def test_every_kind_of_missing_forecast_fails_safe(fake_api, kube, what, message):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    # A floor raised earlier by this policy.
    h = hpa(min_replicas=9)
    h["metadata"]["annotations"] = {ORIGINAL_FLOOR_ANNOTATION: "2", OWNER_ANNOTATION: "live/live-api"}
    fake_api.put(h)
    fake_api.put(policy())
    ctl = make(kube, FakeForecasts(**{"live-api": what}))

    [outcome] = ctl.tick(NOW)

    assert hpa_of(fake_api)["spec"]["minReplicas"] == 2
    assert not outcome.ready and message in outcome.message
    assert conditions(fake_api)["Ready"]["reason"] == "ForecastUnavailable"


def test_scale_down_waits_for_the_stabilisation_window_even_across_a_leader_change(fake_api, kube):
    seed_hpa_workload(fake_api, scaleDown={"stabilizationWindow": "3m"})
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    make(kube, forecasts).tick(NOW)
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 10

    # A fresh controller (a new leader) reads the state from the status and keeps stabilising.
    forecasts.by_policy["live-api"] = 300.0
    fresh = make(kube, forecasts)
    [outcome] = fresh.tick(NOW + MIN)
    assert outcome.reason == "stabilizing" and hpa_of(fake_api)["spec"]["minReplicas"] == 10
    fresh.tick(NOW + 2 * MIN)
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 10
    [outcome] = fresh.tick(NOW + 4 * MIN)  # the 10 recommendation left the 3-minute window
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 3
    assert outcome.action.startswith("FloorLowered")


# -- Replicas, node groups ---------------------------------------------------------------------------------------


def test_replicas_actuator_without_hpa_patches_the_scale_subresource(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy())
    ctl = make(kube, FakeForecasts(**{"live-api": 1200.0}))

    [outcome] = ctl.tick(NOW)

    assert outcome.actuator == "Replicas" and outcome.action == "ScaledUp Deployment/live-api 3 -> 12"
    assert fake_api.get("deployments", NS, "live-api")["spec"]["replicas"] == 12
    assert fake_api.requests_matching(verb="patch", resource="deployments", subresource="scale")


def test_replicas_never_below_what_observed_load_needs(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy())
    # The forecast says 400 (4 replicas), but 900 is arriving right now: 9 replicas.
    result = ForecastResult(frame=forecast_frame(NOW, p90=400.0), history=history(NOW, value=900.0))
    ctl = make(kube, FakeForecasts(**{"live-api": result}))

    [outcome] = ctl.tick(NOW)

    assert outcome.desired == 9
    assert fake_api.get("deployments", NS, "live-api")["spec"]["replicas"] == 9


def test_statefulset_target(fake_api, kube):
    from tests.prescaler_helpers import statefulset

    fake_api.put(statefulset("cache", replicas=2))
    fake_api.put(policy("cache", target="cache", kind="StatefulSet"))
    make(kube, FakeForecasts(cache=500.0)).tick(NOW)
    assert fake_api.get("statefulsets", NS, "cache")["spec"]["replicas"] == 5


@pytest.mark.parametrize("kind", ["MachineDeployment", "MachinePool"])
def test_cluster_api_node_group_is_sized_from_the_workload_forecast(fake_api, kube, kind):
    plural = kind.lower() + "s"
    fake_api.put(machine_deployment("workers", replicas=2, kind=kind))
    fake_api.put(
        policy(
            "workers",
            target="workers",
            kind=kind,
            api_version="cluster.x-k8s.io/v1beta1",
            leadTime="5m",
            nodeGroup={"podRequest": "500m", "nodeAllocatable": "2", "minNodes": 1, "maxNodes": 10},
        )
    )
    # 2500/100 = 25 pods of 0.5 CPU on 2-CPU nodes (4 per node) -> 7 nodes.
    ctl = make(kube, FakeForecasts(workers=2500.0))

    [outcome] = ctl.tick(NOW)

    assert outcome.actuator == "NodeGroup" and outcome.desired == 7
    assert fake_api.get(plural, NS, "workers")["spec"]["replicas"] == 7
    assert status(fake_api, "workers")["desiredReplicas"] == 7


def test_capacity_placeholder_reserves_the_pods_the_forecast_will_need(fake_api, kube):
    fake_api.put(deployment(replicas=4))
    fake_api.put(deployment("capacity-placeholder", replicas=0))
    fake_api.put(
        policy(
            "placeholder",
            target="capacity-placeholder",
            actuator="Placeholder",
            workloadRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "live-api"},
        )
    )
    ctl = make(kube, FakeForecasts(placeholder=1000.0))  # 10 pods planned, 4 running -> 6 placeholders

    [outcome] = ctl.tick(NOW)

    assert outcome.action == "PlaceholdersResized Deployment/capacity-placeholder 0 -> 6"
    assert fake_api.get("deployments", NS, "capacity-placeholder")["spec"]["replicas"] == 6


# -- modes -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["spec", "dry-run"])
def test_forecast_mode_computes_and_publishes_but_touches_nothing(fake_api, kube, how):
    seed_hpa_workload(fake_api, **({"mode": "Forecast"} if how == "spec" else {}))
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}), dry_run=how == "dry-run")

    [outcome] = ctl.tick(NOW)

    assert outcome.mode == "Forecast" and outcome.desired == 10 and outcome.action is None
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 2
    touched = {(w.resource, w.subresource) for w in fake_api.writes()}
    assert touched <= {("prescalepolicies", "status"), ("events", None)}
    st = status(fake_api)
    assert st["mode"] == "Forecast" and st["desiredReplicas"] == 10
    assert conditions(fake_api)["ForecastOnly"]["status"] == "True"
    assert sample(ctl.metrics, "forecaster_prescaler_forecast_only", namespace=NS, policy="live-api") == 1


# -- deletion ------------------------------------------------------------------------------------------------


def test_deleting_the_policy_restores_the_floor_then_releases_the_finalizer(fake_api, kube):
    seed_hpa_workload(fake_api)
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 10

    fake_api.delete("prescalepolicies", NS, "live-api")  # kubectl delete
    assert fake_api.get("prescalepolicies", NS, "live-api")["metadata"].get("deletionTimestamp")

    [outcome] = ctl.tick(NOW + MIN)

    assert outcome.reason == "Deleted"
    h = hpa_of(fake_api)
    assert h["spec"]["minReplicas"] == 2
    assert not (h["metadata"].get("annotations") or {})
    assert fake_api.get("prescalepolicies", NS, "live-api") is None
    assert (
        sample(ctl.metrics, "forecaster_prescaler_desired_replicas", namespace=NS, policy="live-api") is None
    )


# -- bad input, API faults ------------------------------------------------------------------------------------


def test_invalid_policies_get_a_clear_condition_while_the_others_keep_working(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(deployment("no-hpa", replicas=1))
    fake_api.put(policy())  # the good one
    fake_api.put(policy("negative", capacityPerReplica=-5))
    fake_api.put(policy("inverted", minReplicas=10, maxReplicas=3))
    fake_api.put(policy("unknown-kind", kind="CronJob", api_version="batch/v1"))
    fake_api.put(policy("missing-hpa", target="no-hpa", actuator="HPAFloor"))
    fake_api.put(policy("missing-target", target="ghost"))
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))

    outcomes = {o.key.split("/")[1]: o for o in ctl.tick(NOW)}

    assert outcomes["live-api"].ready and hpa_of(fake_api)["spec"]["minReplicas"] == 10
    expected = {
        "negative": ("InvalidPolicy", "capacityPerReplica: must be > 0, got -5"),
        "inverted": ("InvalidPolicy", "minReplicas (10) is above maxReplicas (3)"),
        "unknown-kind": ("InvalidPolicy", "unknown kind CronJob"),
        "missing-hpa": ("HPANotFound", "no HorizontalPodAutoscaler in live targets Deployment/no-hpa"),
        "missing-target": ("TargetNotFound", "Deployment/ghost not found in live"),
    }
    for name, (reason, text) in expected.items():
        cond = conditions(fake_api, name)["Ready"]
        assert (cond["status"], cond["reason"]) == ("False", reason), name
        assert text in cond["message"], (name, cond["message"])
        assert not outcomes[name].ready
    warned = {e["involvedObject"]["name"] for e in fake_api.events() if e["type"] == "Warning"}
    assert warned == set(expected)
    assert sample(ctl.metrics, "forecaster_prescaler_errors_total", kind="invalid_policy") == 3
    assert sample(ctl.metrics, "forecaster_prescaler_errors_total", kind="target_not_found") == 2
    # A second tick repeats no warning: events mark transitions, not every tick.
    count = len(fake_api.events())
    ctl.tick(NOW + MIN)
    assert len(fake_api.events()) == count


def test_conflict_rereads_the_hpa_and_retries(fake_api, kube):
    seed_hpa_workload(fake_api)
    fake_api.fail(409, verb="patch", resource="horizontalpodautoscalers")
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))

    [outcome] = ctl.tick(NOW)

    assert outcome.ready and hpa_of(fake_api)["spec"]["minReplicas"] == 10
    assert len(fake_api.requests_matching(verb="patch", resource="horizontalpodautoscalers")) == 2
    assert fake_api.requests_matching(verb="get", resource="horizontalpodautoscalers")


def test_stale_write_is_a_real_409_and_is_redone_on_the_fresh_object(fake_api, kube):
    """Another writer changes the HPA between our read and our write: the fake refuses the stale
    resourceVersion, we re-read, keep their change and apply ours on top."""
    seed_hpa_workload(fake_api)
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    real_list = kube.list

    def list_then_someone_writes(resource, **kw):
        items = real_list(resource, **kw)
        if resource.plural == "horizontalpodautoscalers":
            fake_api.set_field("horizontalpodautoscalers", NS, "live-api", "spec.maxReplicas", 60)
        return items

    kube.list = list_then_someone_writes  # type: ignore[method-assign]
    [outcome] = ctl.tick(NOW)

    h = hpa_of(fake_api)
    assert outcome.ready and h["spec"]["minReplicas"] == 10 and h["spec"]["maxReplicas"] == 60


def test_forbidden_names_the_missing_permission_in_status(fake_api, kube):
    seed_hpa_workload(fake_api)
    fake_api.fail(403, verb="patch", resource="horizontalpodautoscalers")
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))

    [outcome] = ctl.tick(NOW)

    cond = conditions(fake_api)["Ready"]
    assert cond["reason"] == "Forbidden"
    assert (
        "missing permission: patch horizontalpodautoscalers.autoscaling in namespace live" in cond["message"]
    )
    assert not outcome.ready
    assert sample(ctl.metrics, "forecaster_prescaler_errors_total", kind="forbidden") == 1


def test_server_errors_are_retried_with_backoff_then_wait_for_the_next_tick(fake_api, kube):
    seed_hpa_workload(fake_api)
    fake_api.put(deployment("other", replicas=1))
    fake_api.put(policy("other", target="other"))
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0, "other": 300.0}))

    # Two 500s: absorbed by the retry schedule.
    fake_api.fail(500, verb="patch", resource="horizontalpodautoscalers", times=2)
    [first, _] = ctl.tick(NOW)
    assert first.ready and hpa_of(fake_api)["spec"]["minReplicas"] == 10
    assert kube.sleeps == [0.2, 0.5]

    # A longer outage on one resource: that policy waits for the next tick, the other one still acts.
    ctl.forecasts.by_policy["live-api"] = 2000.0
    fake_api.fail(503, verb="patch", resource="horizontalpodautoscalers", times=10, retry_after_s=0.3)
    outcomes = {o.key: o for o in ctl.tick(NOW + MIN)}
    assert not outcomes["live/live-api"].ready and outcomes["live/live-api"].reason == "APIError"
    assert outcomes["live/other"].ready
    assert fake_api.get("deployments", NS, "other")["spec"]["replicas"] == 3
    assert kube.sleeps[2:] == [0.3, 0.5, 1.0]  # Retry-After 0.3 honoured where above the schedule
    assert conditions(fake_api)["Degraded"]["status"] == "True"
    assert sample(ctl.metrics, "forecaster_prescaler_errors_total", kind="api_temporary") == 1

    fake_api.faults.clear()
    ctl.tick(NOW + 2 * MIN)
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 20


# -- the accuracy guard --------------------------------------------------------------------------------------------


def test_accuracy_guard_switches_to_forecast_mode_and_back(fake_api, kube):
    seed_hpa_workload(fake_api, accuracyGuard={"maxError": 0.3, "window": "10m", "minSamples": 5})
    actual = {"value": 500.0}
    forecast_p50 = {"value": 500.0}

    def scripted(now: pd.Timestamp) -> ForecastResult:
        frame = forecast_frame(now, p90=forecast_p50["value"] * 1.2, p50=forecast_p50["value"])
        return ForecastResult(frame=frame, history=history(now, value=actual["value"]))

    ctl = make(kube, FakeForecasts(**{"live-api": scripted}))
    t = NOW
    for _ in range(3):  # accurate: stays in Scale mode
        [outcome] = ctl.tick(t)
        t += MIN
    assert outcome.mode == "Scale" and hpa_of(fake_api)["spec"]["minReplicas"] == 6

    forecast_p50["value"] = 1500.0  # the model now overshoots 3x
    modes = []
    for _ in range(8):
        [outcome] = ctl.tick(t)
        modes.append(outcome.mode)
        t += MIN
    assert modes[-1] == "Forecast"
    st = status(fake_api)
    assert st["accuracy"]["guardActive"] is True and st["accuracy"]["error"] > 0.3
    assert conditions(fake_api)["ForecastOnly"]["reason"] == "AccuracyGuard"
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 2  # the raised floor was handed back to the HPA
    assert any(e["reason"] == "AccuracyGuard" and e["type"] == "Warning" for e in fake_api.events())

    forecast_p50["value"] = 500.0  # accurate again: the window forgets the bad forecasts, Scale mode returns
    for _ in range(15):
        [outcome] = ctl.tick(t)
        t += MIN
    assert outcome.mode == "Scale"
    assert status(fake_api)["accuracy"]["guardActive"] is False
    assert hpa_of(fake_api)["spec"]["minReplicas"] == 6
    assert conditions(fake_api)["ForecastOnly"]["status"] == "False"
