"""The reconcile loop end to end against the fake API server: what one tick writes to the target and to the
policy's status, what it exports as metrics, and how it fails safe, policy by policy.

Through :class:`~forecaster.prescaler.loop.Controller` with scripted forecasts and a fixed clock; the
cluster is tests/fake_kube_api.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from forecaster.errors import ConfigError
from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION, OWNER_ANNOTATION
from forecaster.prescaler.forecasts import ForecastResult
from forecaster.prescaler.loop import Controller, FleetSettings
from forecaster.prescaler.metrics import PrescalerMetrics, make_app
from forecaster.prescaler.policy_sources import FINALIZER, FilePolicySource
from tests import prescaler_helpers
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    conditions,
    deployment,
    floor,
    forecast_frame,
    gauge,
    history,
    hpa,
    policy,
    prometheus_down,
    replicas,
    scaled_object,
    status,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


make = prescaler_helpers.controller


def result(now, *, p90, p50=None, last=None, version=None):
    h = history(now, value=(p90 * 0.5) if last is None else last)
    return ForecastResult(frame=forecast_frame(now, p90=p90, p50=p50), history=h, model_version=version)


# -- Replicas (no autoscaler underneath) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p90", "headroom", "expected"),
    [(250.0, 0, 3), (300.0, 0, 3), (301.0, 0, 4), (300.0, 10, 4), (5000.0, 0, 40), (10.0, 0, 2)],
)
def test_replicas_follow_the_planned_quantile_with_headroom_within_the_bounds(
    fake_api, kube, p90, headroom, expected
):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(headroomPercent=headroom, minReplicas=2, maxReplicas=40))
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: result(now, p90=p90, last=10.0)}))

    [outcome] = ctl.tick(NOW)

    assert outcome.actuator == "Replicas" and outcome.desired == expected
    assert replicas(fake_api) == expected


def test_the_planned_quantile_is_the_policys(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(quantile=0.5))
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: result(now, p90=900.0, p50=420.0, last=10.0)}))
    [outcome] = ctl.tick(NOW)
    assert outcome.desired == 5 and status(fake_api)["quantile"] == "p50"


def test_the_observed_load_now_is_a_floor_for_replicas_ignoring_trailing_gaps(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(forecast={"target": "live-streaming", "maxStaleness": "10m"}))
    h = history(NOW, value=100.0)
    h.iloc[-3] = 1500.0  # the newest measured point; the two after it are missing
    h.iloc[-2:] = np.nan
    res = ForecastResult(frame=forecast_frame(NOW, p90=200.0), history=h)
    ctl = make(kube, FakeForecasts(**{"live-api": res}))

    [outcome] = ctl.tick(NOW)

    assert outcome.desired == 15 and outcome.reason == "observed_load"


def test_a_forecast_outage_keeps_the_current_replicas_and_says_so(fake_api, kube):
    fake_api.put(deployment(replicas=7))
    fake_api.put(policy())
    ctl = make(kube, FakeForecasts(**{"live-api": prometheus_down()}))

    [outcome] = ctl.tick(NOW)

    assert outcome.ready is False and outcome.desired == 7
    assert replicas(fake_api) == 7
    assert "keeping 7, never scaling down without data" in outcome.message
    c = conditions(fake_api)
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "ForecastUnavailable")
    assert (c["Degraded"]["status"], c["Degraded"]["reason"]) == ("True", "ForecastUnavailable")
    assert status(fake_api)["scalingState"]["lastDesired"] == 7
    assert gauge(ctl, "forecaster_prescaler_degraded", namespace=NS, policy="live-api") == 1


def test_holding_the_last_good_forecast_never_lowers_replicas(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(scaleDown={"stabilizationWindow": "0"}))
    answers = {"now": lambda now: result(now, p90=500.0, last=10.0)}
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: answers["now"](now)}))
    ctl.tick(NOW)
    assert replicas(fake_api) == 5
    fake_api.set_field("deployments", NS, "live-api", "spec.replicas", 9)  # someone scaled up by hand
    fake_api.set_field("deployments", NS, "live-api", "status.replicas", 9)
    answers["now"] = lambda now: (_ for _ in ()).throw(prometheus_down())

    [outcome] = ctl.tick(NOW + MIN)

    assert replicas(fake_api) == 9 and outcome.desired == 9
    assert conditions(fake_api)["Ready"]["reason"] == "HoldingLastForecast"
    assert "acting on the last good forecast (made 2024-05-01T20:00:00Z) until" in outcome.message


# -- the HPA floor ---------------------------------------------------------------------------------------------


def test_a_floor_is_raised_lowered_and_restored_never_below_the_original(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=4, max_replicas=12))
    fake_api.put(policy(scaleDown={"stabilizationWindow": "0"}))
    peak = {"p90": 1000.0}
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: result(now, p90=peak["p90"])}))

    ctl.tick(NOW)
    h = fake_api.get("horizontalpodautoscalers", NS, "live-api")
    assert h["spec"]["minReplicas"] == 10
    assert h["metadata"]["annotations"] == {ORIGINAL_FLOOR_ANNOTATION: "4", OWNER_ANNOTATION: "live/live-api"}

    peak["p90"] = 5000.0  # beyond the HPA's max: capped there
    ctl.tick(NOW + MIN)
    assert floor(fake_api) == 12

    peak["p90"] = 600.0  # lowered (no stabilisation window here); the original is still recorded
    [outcome] = ctl.tick(NOW + 2 * MIN)
    assert floor(fake_api) == 6 and outcome.action.startswith("FloorLowered HPA live-api minReplicas 12 -> 6")
    assert (
        fake_api.get("horizontalpodautoscalers", NS, "live-api")["metadata"]["annotations"][
            ORIGINAL_FLOOR_ANNOTATION
        ]
        == "4"
    )

    peak["p90"] = 100.0  # needs 1: the floor goes back to the original, annotations removed
    [outcome] = ctl.tick(NOW + 3 * MIN)
    h = fake_api.get("horizontalpodautoscalers", NS, "live-api")
    assert h["spec"]["minReplicas"] == 4 and not (h["metadata"].get("annotations") or {})
    assert outcome.action.startswith("FloorRestored")


def test_a_lost_forecast_restores_the_original_floor(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    answers = {"now": lambda now: result(now, p90=1000.0)}
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: answers["now"](now)}))
    ctl.tick(NOW)
    assert floor(fake_api) == 10
    answers["now"] = lambda now: None

    [outcome] = ctl.tick(NOW + pd.Timedelta(minutes=40))  # beyond the last good forecast's reach

    assert floor(fake_api) == 2 and outcome.desired == 2
    assert "original floor 2 restored, the autoscaler scales on load" in outcome.message


def test_a_keda_generated_hpa_gets_its_floor_on_the_scaled_object(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(scaled_object(min_count=None, max_count=30))
    fake_api.put(prescaler_helpers.keda_hpa())
    fake_api.put(policy())
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: result(now, p90=800.0)}))

    [outcome] = ctl.tick(NOW)

    assert outcome.actuator == "KEDAScaledObject"
    so = fake_api.get("scaledobjects", NS, "live-api")
    assert so["spec"]["minReplicaCount"] == 8
    assert so["metadata"]["annotations"][ORIGINAL_FLOOR_ANNOTATION] == "unset"
    assert fake_api.get("horizontalpodautoscalers", NS, "keda-hpa-live-api")["spec"]["minReplicas"] == 2


def test_hpa_floor_named_on_a_keda_hpa_is_refused_in_status(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(scaled_object())
    fake_api.put(prescaler_helpers.keda_hpa())
    fake_api.put(policy(actuator="HPAFloor"))
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: result(now, p90=800.0)}))

    [outcome] = ctl.tick(NOW)

    assert outcome.ready is False and "generated by KEDA" in outcome.message
    assert fake_api.get("horizontalpodautoscalers", NS, "keda-hpa-live-api")["spec"]["minReplicas"] == 2


def test_a_missing_hpa_for_hpa_floor_is_target_not_found(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(actuator="HPAFloor"))
    ctl = make(kube, FakeForecasts(**{"live-api": 800.0}))
    [outcome] = ctl.tick(NOW)
    assert outcome.ready is False and outcome.reason == "HPANotFound"
    assert conditions(fake_api)["Ready"]["reason"] == "HPANotFound"


# -- modes, dry run, the guard ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["mode", "dry-run"])
def test_forecast_only_publishes_the_recommendation_and_touches_nothing(fake_api, kube, how):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(mode="Forecast") if how == "mode" else policy())
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}), dry_run=how == "dry-run")

    [outcome] = ctl.tick(NOW)

    assert floor(fake_api) == 2 and replicas(fake_api) == 3
    assert outcome.desired == 10 and outcome.action is None
    if how == "mode":
        st = status(fake_api)
        assert st["mode"] == "Forecast" and st["desiredReplicas"] == 10
        assert conditions(fake_api)["ForecastOnly"]["reason"] == "ModeForecast"
        assert FINALIZER not in (
            fake_api.get("prescalepolicies", NS, "live-api")["metadata"].get("finalizers") or []
        )
    assert gauge(ctl, "forecaster_prescaler_forecast_only", namespace=NS, policy="live-api") == 1


def test_dry_run_without_a_forecast_touches_nothing_and_says_so(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    writes = len(fake_api.writes())
    ctl = make(kube, FakeForecasts(**{"live-api": None}), dry_run=True)
    [outcome] = ctl.tick(NOW)
    assert outcome.desired == 3 and "never scaling down without data" in outcome.message
    assert {w.resource for w in fake_api.writes()[writes:]} <= {"prescalepolicies", "events"}


def test_the_accuracy_guard_switches_to_forecast_only_and_restores_the_floor(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(accuracyGuard={"maxError": 0.3, "minSamples": 3}))
    # p50 always 800 while the load is 100: the forecasts made are 700% wrong
    ctl = make(
        kube, FakeForecasts(**{"live-api": lambda now: result(now, p90=1000.0, p50=800.0, last=100.0)})
    )
    ctl.tick(NOW)
    assert floor(fake_api) == 10
    for k in range(1, 6):
        [outcome] = ctl.tick(NOW + k * MIN)
    st = status(fake_api)
    assert st["mode"] == "Forecast" and st["accuracy"]["guardActive"] is True
    assert conditions(fake_api)["ForecastOnly"]["reason"] == "AccuracyGuard"
    assert floor(fake_api) == 2
    assert gauge(
        ctl, "forecaster_prescaler_forecast_error", namespace=NS, policy="live-api"
    ) == pytest.approx(7.0)


# -- status and metrics ---------------------------------------------------------------------------------------------


def test_the_status_says_what_was_decided_with_what(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    obj = policy(accuracyGuard={"maxError": 0.5})
    obj["metadata"]["generation"] = 7
    fake_api.put(obj)
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: result(now, p90=420.0, version="v-42")}))

    ctl.tick(NOW)

    st = status(fake_api)
    assert st["observedGeneration"] == 7 and st["actuator"] == "Replicas" and st["mode"] == "Scale"
    assert (st["desiredReplicas"], st["currentReplicas"], st["quantile"]) == (5, 3, "p90")
    assert st["forecastPeak"] == 420.0 and st["forecastPeakTime"] == "2024-05-01T20:01:00Z"
    assert st["modelVersion"] == "v-42"
    assert st["lastAction"] == "ScaledUp Deployment/live-api 3 -> 5"
    assert st["lastActionTime"] == "2024-05-01T20:00:00Z"
    assert st["accuracy"]["guardActive"] is False
    assert st["message"] == conditions(fake_api)["Ready"]["message"]
    assert gauge(ctl, "forecaster_prescaler_desired_replicas", namespace=NS, policy="live-api") == 5
    assert gauge(ctl, "forecaster_prescaler_current_replicas", namespace=NS, policy="live-api") == 3
    assert gauge(ctl, "forecaster_prescaler_policies") == 1


def test_the_last_action_and_peak_stay_in_status_until_replaced(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(forecast={"target": "live-streaming"}))
    answers = {"now": lambda now: result(now, p90=420.0, last=10.0)}
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: answers["now"](now)}))
    ctl.tick(NOW)
    answers["now"] = lambda now: None
    ctl.tick(NOW + pd.Timedelta(hours=1))
    st = status(fake_api)
    assert st["lastAction"] == "ScaledUp Deployment/live-api 3 -> 5"
    assert st["lastActionTime"] == "2024-05-01T20:00:00Z"
    assert st["forecastPeak"] == 420.0 and st["forecastPeakTime"] == "2024-05-01T20:01:00Z"


def test_the_forecast_metric_is_the_peak_over_the_planning_window_only(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(leadTime="3m", interval="1m"))
    frame = forecast_frame(NOW, p90=100.0, p50=80.0)
    frame.iloc[3, 1] = 300.0  # NOW + 4 min: the window's last step
    frame.iloc[4, 1] = 900.0  # NOW + 5 min: beyond it
    ctl = make(
        kube, FakeForecasts(**{"live-api": ForecastResult(frame=frame, history=history(NOW, value=10.0))})
    )
    ctl.tick(NOW)
    assert (
        gauge(ctl, "forecaster_prescaler_forecast", namespace=NS, policy="live-api", quantile="p90") == 300.0
    )
    assert (
        gauge(ctl, "forecaster_prescaler_forecast", namespace=NS, policy="live-api", quantile="p50") == 80.0
    )


def test_a_deleted_policys_metrics_are_forgotten(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(deployment("other", replicas=3))
    fake_api.put(policy())
    fake_api.put(policy("other", target="other"))
    ctl = make(kube, FakeForecasts(**{"live-api": 400.0, "other": 400.0}))
    ctl.tick(NOW)
    assert gauge(ctl, "forecaster_prescaler_desired_replicas", namespace=NS, policy="other") is not None
    fake_api.remove("prescalepolicies", NS, "other")
    ctl.tick(NOW + MIN)
    assert gauge(ctl, "forecaster_prescaler_desired_replicas", namespace=NS, policy="other") is None
    assert gauge(ctl, "forecaster_prescaler_desired_replicas", namespace=NS, policy="live-api") is not None
    assert gauge(ctl, "forecaster_prescaler_policies") == 1


# -- one policy's failure is its own ----------------------------------------------------------------------------------


def test_a_provider_bug_in_one_policy_fails_it_safe_and_the_others_act(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(deployment("other", replicas=3))
    fake_api.put(policy())
    fake_api.put(policy("other", target="other"))

    def bug(now):
        raise ZeroDivisionError("model bug")

    ctl = make(kube, FakeForecasts(**{"live-api": bug, "other": 700.0}))
    outcomes = {o.key: o for o in ctl.tick(NOW)}
    assert (
        outcomes["live/live-api"].ready is False and "ZeroDivisionError" in outcomes["live/live-api"].message
    )
    assert replicas(fake_api) == 3
    assert outcomes["live/other"].ready is True and replicas(fake_api, "other") == 7


def test_a_missing_target_is_reported_and_the_others_act(fake_api, kube):
    fake_api.put(deployment("other", replicas=3))
    fake_api.put(policy())
    fake_api.put(policy("other", target="other"))
    ctl = make(kube, FakeForecasts(**{"live-api": 700.0, "other": 700.0}))
    outcomes = {o.key: o for o in ctl.tick(NOW)}
    assert outcomes["live/live-api"].reason == "TargetNotFound"
    assert "Deployment/live-api not found in live" in outcomes["live/live-api"].message
    assert outcomes["live/other"].ready is True


def test_a_tick_that_cannot_list_policies_does_nothing(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy())
    fake_api.fail(403, verb="list", resource="prescalepolicies")
    ctl = make(kube, FakeForecasts(**{"live-api": 700.0}))
    assert ctl.tick(NOW) == []
    assert replicas(fake_api) == 3
    assert gauge(ctl, "forecaster_prescaler_errors_total", kind="forbidden") == 1


def test_a_standby_replica_does_nothing(fake_api, kube):
    from forecaster.prescaler.leader import LeaderElector

    fake_api.put(deployment(replicas=3))
    fake_api.put(policy())
    LeaderElector(kube, namespace="forecaster", identity="other").ensure(NOW)
    elector = LeaderElector(kube, namespace="forecaster", identity="me")
    ctl = make(kube, FakeForecasts(**{"live-api": 700.0}), elector=elector)
    writes = len(fake_api.writes())
    assert ctl.tick(NOW) == []
    assert [w for w in fake_api.writes()[writes:] if w.resource != "leases"] == []
    assert gauge(ctl, "forecaster_prescaler_leader") == 0


def test_policies_from_a_file_are_reconciled_and_their_status_kept_in_memory(fake_api, kube, tmp_path):
    import yaml

    fake_api.put(deployment(replicas=3))
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(policy()))
    source = FilePolicySource(path)
    ctl = Controller(
        policies=source,
        forecasts=FakeForecasts(**{"live-api": 700.0}),
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
    )
    [outcome] = ctl.tick(NOW)
    assert outcome.desired == 7 and replicas(fake_api) == 7
    assert source.statuses["live/live-api"]["desiredReplicas"] == 7
    assert source.list()[0]["status"]["desiredReplicas"] == 7


@pytest.mark.parametrize(
    "kw",
    [
        {"forecast_workers": 0},
        {"reconcile_workers": 0},
        {"status_refresh_s": -1},
        {"forecast_deadline_s": 0},
    ],
)
def test_fleet_settings_out_of_range_are_refused(kw):
    with pytest.raises(ConfigError):
        FleetSettings(**kw)


def test_health_before_and_after_the_first_turn(fake_api, kube):
    import threading

    ctl = make(kube, FakeForecasts())
    assert ctl.health("healthz") == (True, "starting")
    assert ctl.health("readyz") == (False, "starting")
    stop = threading.Event()
    calls = []

    def clock():
        calls.append(1)
        if len(calls) > 1:
            stop.set()
        return NOW

    ctl.run(stop=stop, interval_s=0.01, clock=clock)
    assert ctl.health("healthz")[0] is True and ctl.health("readyz") == (True, "leader")
    app = make_app(ctl.metrics, health=ctl.health)
    seen = {}
    body = b"".join(app({"PATH_INFO": "/readyz"}, lambda s, h: seen.setdefault("s", s)))
    assert seen["s"] == "200 OK" and body == b"leader"
    seen.clear()
    app({"PATH_INFO": "/nope"}, lambda s, h: seen.setdefault("s", s))
    assert seen["s"].startswith("404")


def test_a_planned_quantile_the_model_does_not_forecast_fails_safe_and_says_so(fake_api, kube):
    fake_api.put(deployment(replicas=6))
    fake_api.put(policy(quantile=0.95))
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: result(now, p90=100.0, last=10.0)}))

    [outcome] = ctl.tick(NOW)

    assert outcome.ready is False and "p95" in outcome.message
    assert replicas(fake_api) == 6 and outcome.desired == 6


def test_policies_reconciled_in_parallel_give_the_same_outcomes_in_list_order(fake_api, kube):
    names = ["a-svc", "b-svc", "c-svc"]
    for name in names:
        fake_api.put(deployment(name, replicas=3))
        fake_api.put(policy(name, target=name))
    peaks = {name: 300.0 + 200 * i for i, name in enumerate(names)}
    ctl = make(kube, FakeForecasts(**peaks), fleet=FleetSettings(reconcile_workers=3, forecast_workers=2))
    outcomes = ctl.tick(NOW)
    assert [o.key for o in outcomes] == [f"live/{n}" for n in names]
    assert [o.desired for o in outcomes] == [3, 5, 7]
    assert [replicas(fake_api, n) for n in names] == [3, 5, 7]


def test_a_deleted_policy_whose_floor_cannot_be_restored_keeps_its_finalizer(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    assert floor(fake_api) == 10
    fake_api.delete("prescalepolicies", NS, "live-api")
    fake_api.fail(403, verb="patch", resource="horizontalpodautoscalers", times=1)

    [outcome] = ctl.tick(NOW + MIN)

    assert outcome.ready is False and outcome.reason == "Forbidden"
    assert FINALIZER in fake_api.get("prescalepolicies", NS, "live-api")["metadata"]["finalizers"]
    [outcome] = ctl.tick(NOW + 2 * MIN)  # the API lets it through now
    assert outcome.reason == "Deleted" and floor(fake_api) == 2
    assert fake_api.get("prescalepolicies", NS, "live-api") is None


def test_releasing_a_deleted_policys_floor_reads_only_its_own_namespace(fake_api, kube):
    """The controller's RBAC is namespaced where it can be: finding the HPA a deleted policy raised lists
    HPAs in the policy's namespace, never cluster-wide (which the Role forbids: the deletion would hang)."""
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    fake_api.delete("prescalepolicies", NS, "live-api")
    [outcome] = ctl.tick(NOW + MIN)
    assert outcome.reason == "Deleted" and floor(fake_api) == 2
    lists = fake_api.requests_matching(verb="list", resource="horizontalpodautoscalers")
    assert lists and {r.namespace for r in lists} == {NS}
