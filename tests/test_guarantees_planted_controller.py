"""Controller behaviours that planted bugs showed no test held (bench/planted_bugs.py, bench/results/planted.md).

Each test states a promise to operators and checks it through a public surface: the Kubernetes client against
the fake API server, the policy parser, the Auto Scaling wrapper against a recording client, the controller's
``tick``. None of them reads the controller's private helpers, so they survive its redesign.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from forecaster.errors import ConfigError
from forecaster.prescaler.asg import AutoScalingGroups
from forecaster.prescaler.forecasts import ForecastResult
from forecaster.prescaler.kube import HPAS, KubeClient, KubeSettings, TemporaryKubeError
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy import parse_policy, parse_quantity
from forecaster.prescaler.policy_sources import CrdPolicySource
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
    policy,
    prometheus_down,
    statefulset,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


# -- the Kubernetes client --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "retry_after_s", "expected_sleep_s"),
    [
        ("a short Retry-After is honoured over the shorter schedule", 2.5, 2.5),
        ("a long Retry-After is capped so one busy server cannot stall the tick", 120.0, 5.0),
    ],
)
def test_retry_after_is_honoured_up_to_its_cap(fake_api, kube, description, retry_after_s, expected_sleep_s):
    fake_api.put(hpa())
    fake_api.fail(503, verb="get", times=1, retry_after_s=retry_after_s)

    assert kube.get(HPAS, namespace=NS, name="live-api")["metadata"]["name"] == "live-api"

    assert kube.sleeps == [expected_sleep_s], description


def test_throttling_is_retried_like_a_server_error(fake_api, kube):
    """429 Too Many Requests is temporary: retried along the schedule, and the call succeeds."""
    fake_api.put(hpa())
    fake_api.fail(429, verb="get", times=2)

    assert kube.get(HPAS, namespace=NS, name="live-api")["metadata"]["name"] == "live-api"
    assert len(kube.sleeps) == 2


def test_every_retry_of_the_schedule_is_made_before_giving_up(fake_api, tmp_path):
    schedule = (0.1, 0.2, 0.3)
    path = fake_api.write_kubeconfig(tmp_path / "kc")
    sleeps: list[float] = []
    with KubeClient.from_kubeconfig(
        str(path), settings=KubeSettings(request_timeout_s=2.0, backoff_s=schedule), sleep=sleeps.append
    ) as client:
        fake_api.put(hpa())
        fake_api.fail(500, verb="get", times=len(schedule))  # fails on every attempt but the last
        assert client.get(HPAS, namespace=NS, name="live-api")["metadata"]["name"] == "live-api"
        assert sleeps == list(schedule)

        fake_api.fail(500, verb="get", times=len(schedule) + 1)  # fails on every attempt
        with pytest.raises(TemporaryKubeError, match="HTTP 500"):
            client.get(HPAS, namespace=NS, name="live-api")


# -- policies -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("512Mi", 512 * 2**20), ("1Ki", 1024.0), ("3Ti", 3 * 2**40), ("2M", 2e6), ("250m", 0.25)],
)
def test_binary_and_decimal_quantities_are_read_as_kubernetes_does(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value, rel=1e-12)


# -- conditions ---------------------------------------------------------------------------------------------------


def _controller(kube: KubeClient, forecasts: FakeForecasts) -> Controller:
    return Controller(
        policies=CrdPolicySource(kube),
        forecasts=forecasts,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
    )


def _conditions(fake: FakeKubeApiServer) -> dict[str, dict[str, str]]:
    obj = fake.get("prescalepolicies", NS, "live-api")
    assert obj is not None
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}


def test_a_condition_keeps_its_transition_time_until_it_changes(fake_api, kube):
    """kubectl's "since" must say when a condition last changed, not when the controller last looked."""
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    ctl = _controller(kube, forecasts)
    ctl.tick(NOW)
    first = _conditions(fake_api)
    assert (
        first["Ready"]["status"] == "True" and first["Ready"]["lastTransitionTime"] == "2024-05-01T20:00:00Z"
    )

    for minute in (1, 2, 3):
        ctl.tick(NOW + minute * MIN)
    assert _conditions(fake_api)["Ready"]["lastTransitionTime"] == "2024-05-01T20:00:00Z"

    forecasts.by_policy["live-api"] = prometheus_down()  # Ready turns False: a new transition
    for minute in range(4, 40):  # past the last good forecast's horizon
        ctl.tick(NOW + minute * MIN)
    ready = _conditions(fake_api)["Ready"]
    assert ready["status"] == "False"
    changed_at = ready["lastTransitionTime"]
    assert changed_at > "2024-05-01T20:03:00Z"
    ctl.tick(NOW + 41 * MIN)
    assert _conditions(fake_api)["Ready"]["lastTransitionTime"] == changed_at


# -- EC2 Auto Scaling -----------------------------------------------------------------------------------------------


class _RecordingAutoScaling:
    """The few Auto Scaling calls the wrapper makes, answered from memory, each recorded with its arguments."""

    def __init__(self, *, desired: int, min_size: int = 1, max_size: int = 20) -> None:
        self.group = {"MinSize": min_size, "MaxSize": max_size, "DesiredCapacity": desired, "Instances": []}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_auto_scaling_groups(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("describe_auto_scaling_groups", kwargs))
        return {"AutoScalingGroups": [dict(self.group)]}

    def set_desired_capacity(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("set_desired_capacity", kwargs))
        self.group["DesiredCapacity"] = kwargs["DesiredCapacity"]
        return {}


def test_a_planned_scale_up_does_not_wait_for_the_groups_cooldown():
    """The prescaler asks ahead of the spike: honouring a cooldown would deliver the nodes after it."""
    client = _RecordingAutoScaling(desired=3)
    change = AutoScalingGroups(client=client, sleep=lambda s: None).set_desired("live-nodes", 8)
    assert change.applied == 8
    [(_, kwargs)] = [c for c in client.calls if c[0] == "set_desired_capacity"]
    assert kwargs == {"AutoScalingGroupName": "live-nodes", "DesiredCapacity": 8, "HonorCooldown": False}


# -- the Placeholder actuator ---------------------------------------------------------------------------------------


def test_placeholders_go_to_zero_when_the_workload_already_runs_what_the_forecast_needs(fake_api, kube):
    """10 pods planned, 14 running: no placeholder is needed, and a negative size is never asked for."""
    fake_api.put(deployment(replicas=14))
    fake_api.put(deployment("capacity-placeholder", replicas=3))
    fake_api.put(
        policy(
            "placeholder",
            target="capacity-placeholder",
            actuator="Placeholder",
            workloadRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "live-api"},
        )
    )
    ctl = _controller(kube, FakeForecasts(placeholder=1000.0))

    [outcome] = ctl.tick(NOW)

    assert outcome.ready, outcome.message
    assert outcome.action == "PlaceholdersResized Deployment/capacity-placeholder 3 -> 0"
    assert fake_api.get("deployments", NS, "capacity-placeholder")["spec"]["replicas"] == 0


# -- which HPA a policy acts on -------------------------------------------------------------------------------------


def test_the_floor_goes_on_the_hpa_of_the_policys_kind_not_a_namesake(fake_api, kube):
    """Deployment live-api and StatefulSet live-api each have an HPA; the policy names the Deployment."""
    fake_api.put(deployment(replicas=3))
    fake_api.put(statefulset("live-api", replicas=3))
    fake_api.put(hpa("a-statefulset-hpa", kind="StatefulSet", min_replicas=2))  # listed first
    fake_api.put(hpa("b-deployment-hpa", min_replicas=2))
    fake_api.put(policy())  # HPAFloor (Auto) on Deployment live-api
    ctl = _controller(kube, FakeForecasts(**{"live-api": 1000.0}))

    [outcome] = ctl.tick(NOW)

    assert outcome.ready, outcome.message
    assert fake_api.get("horizontalpodautoscalers", NS, "b-deployment-hpa")["spec"]["minReplicas"] == 10
    assert fake_api.get("horizontalpodautoscalers", NS, "a-statefulset-hpa")["spec"]["minReplicas"] == 2


def test_an_hpa_on_a_namesake_of_another_kind_is_not_the_targets_hpa(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(statefulset("live-api", replicas=3))
    fake_api.put(hpa("statefulset-hpa", kind="StatefulSet", min_replicas=2))
    fake_api.put(policy(actuator="HPAFloor"))
    ctl = _controller(kube, FakeForecasts(**{"live-api": 1000.0}))

    [outcome] = ctl.tick(NOW)

    assert (outcome.ready, outcome.reason) == (False, "HPANotFound")
    assert fake_api.get("horizontalpodautoscalers", NS, "statefulset-hpa")["spec"]["minReplicas"] == 2


# -- stale history ------------------------------------------------------------------------------------------------


def test_a_history_whose_recent_points_are_missing_is_stale_and_fails_safe(fake_api, kube):
    """Prometheus answers with the last 20 minutes as NaN (the exporter stopped): no floor is raised on it."""
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    recent = history(NOW, value=500.0)
    recent.iloc[-20:] = float("nan")
    result = ForecastResult(frame=forecast_frame(NOW, p90=1000.0), history=recent)
    ctl = _controller(kube, FakeForecasts(**{"live-api": lambda now: result}))

    [outcome] = ctl.tick(NOW)

    assert outcome.ready is False
    assert "history is stale" in outcome.message, outcome.message
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 2


# -- defaults --------------------------------------------------------------------------------------------------------


def test_an_hpa_floor_without_scale_down_settings_follows_the_forecast_down_at_once(fake_api, kube):
    """The documented default for floors: plan shift with no stabilisation of the prescaler's own (the HPA's
    own scale-down stabilisation keeps the pods it still needs), so a lowered forecast lowers the floor at the
    next tick instead of holding the raise for five minutes."""
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(actuator="HPAFloor", scaleDown=None))
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    ctl = _controller(kube, forecasts)
    ctl.tick(NOW)
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 10

    forecasts.by_policy["live-api"] = 300.0
    [outcome] = ctl.tick(NOW + MIN)

    assert outcome.desired == 3, outcome.message
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 3


@pytest.mark.parametrize(
    ("ratio", "accepted"), [(0.5, True), (1, True), (1.5, False), (0, False), (-0.2, False)]
)
def test_the_guards_recover_ratio_must_be_a_fraction_of_its_threshold(ratio, accepted):
    """Above 1 the guard would switch off at an error above the one that switched it on: it would flap."""
    obj = policy(accuracyGuard={"maxError": 0.3, "recoverRatio": ratio})
    if accepted:
        assert parse_policy(obj).guard is not None
        return
    with pytest.raises(ConfigError, match=r"accuracyGuard\.recoverRatio.*must be in \(0, 1\]"):
        parse_policy(obj)
