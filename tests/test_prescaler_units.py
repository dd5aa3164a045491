"""The prescaler's pure parts, table-driven: floor patches, error classification, the accuracy guard, the last
good forecast's reach, and the observed-load bound of the one decision."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from forecaster.errors import ConfigError, SourceError
from forecaster.prescaler.actuators import (
    ORIGINAL_FLOOR_ANNOTATION,
    OWNER_ANNOTATION,
    ActuatorContext,
    HPAFloor,
    KEDAScaledObject,
)
from forecaster.prescaler.asg import AsgError, AsgNotFoundError
from forecaster.prescaler.forecasts import LastGoodForecast
from forecaster.prescaler.guard import ForecastLog, judge
from forecaster.prescaler.kube import ConflictError, ForbiddenError, NotFoundError, TemporaryKubeError
from forecaster.prescaler.policy import AccuracyGuardSpec, parse_policy
from forecaster.prescaler.problems import Problem, as_problem, error_kind
from forecaster.scaling import ScalingPolicy, ScalingState, decide
from tests.prescaler_helpers import NOW, forecast_frame, policy

POLICY = parse_policy(policy())
MIN = pd.Timedelta(minutes=1)


def floor_obj(field: str, value: int | None, *, original: str | None = None, cap: int | None = None) -> dict:
    spec: dict[str, Any] = {}
    if value is not None:
        spec[field] = value
    if cap is not None:
        spec["maxReplicas" if field == "minReplicas" else "maxReplicaCount"] = cap
    meta: dict[str, Any] = {"name": "x"}
    if original is not None:
        meta["annotations"] = {ORIGINAL_FLOOR_ANNOTATION: original, OWNER_ANNOTATION: "live/live-api"}
    return {"metadata": meta, "spec": spec}


FLOORS = [
    # (description, actuator, object, desired (None = restore), patched spec value or "none", units, verb)
    ("raise an HPA floor", HPAFloor, floor_obj("minReplicas", 2, cap=50), 10, 10, 10, "FloorRaised"),
    ("never below the original", HPAFloor, floor_obj("minReplicas", 4, cap=50), 1, "none", 4, None),
    ("capped by the HPA's max", HPAFloor, floor_obj("minReplicas", 2, cap=8), 20, 8, 8, "FloorRaised"),
    (
        "lower a raised floor",
        HPAFloor,
        floor_obj("minReplicas", 10, original="2", cap=50),
        6,
        6,
        6,
        "FloorLowered",
    ),
    (
        "back to the original",
        HPAFloor,
        floor_obj("minReplicas", 10, original="2", cap=50),
        1,
        2,
        2,
        "FloorRestored",
    ),
    ("restore", HPAFloor, floor_obj("minReplicas", 10, original="2"), None, 2, 2, "FloorRestored"),
    ("restore, nothing raised", HPAFloor, floor_obj("minReplicas", 3), None, "none", 3, None),
    (
        "same floor: no write",
        HPAFloor,
        floor_obj("minReplicas", 10, original="2", cap=50),
        10,
        "none",
        10,
        None,
    ),
    ("KEDA: unset min raised", KEDAScaledObject, floor_obj("minReplicaCount", None), 5, 5, 5, "FloorRaised"),
    (
        "KEDA: default max 100",
        KEDAScaledObject,
        floor_obj("minReplicaCount", 1),
        150,
        100,
        100,
        "FloorRaised",
    ),
    (
        "KEDA: unset restored unset",
        KEDAScaledObject,
        floor_obj("minReplicaCount", 5, original="unset"),
        None,
        None,
        0,
        "FloorRestored",
    ),
    (
        "KEDA: zero original",
        KEDAScaledObject,
        floor_obj("minReplicaCount", 5, original="0"),
        0,
        0,
        0,
        "FloorRestored",
    ),
]


@pytest.mark.parametrize(
    ("desc", "cls", "obj", "desired", "patched", "units", "verb"), FLOORS, ids=[f[0] for f in FLOORS]
)
def test_floor_patches(desc, cls, obj, desired, patched, units, verb):
    actuator = cls(ActuatorContext(kube=None))
    patch, applied = actuator._floor_patch(POLICY, obj, desired)
    assert applied.units == units, desc
    if patched == "none":
        assert patch is None and applied.action is None, desc
        return
    assert patch["spec"][cls.field] == patched, desc
    assert applied.action.startswith(verb), desc
    annotations = patch["metadata"]["annotations"]
    if verb == "FloorRestored":
        assert annotations == {ORIGINAL_FLOOR_ANNOTATION: None, OWNER_ANNOTATION: None}, desc
    else:
        raw = obj["spec"].get(cls.field)
        recorded = (obj["metadata"].get("annotations") or {}).get(ORIGINAL_FLOOR_ANNOTATION)
        expected = recorded or ("unset" if raw is None else str(raw))
        assert annotations == {ORIGINAL_FLOOR_ANNOTATION: expected, OWNER_ANNOTATION: "live/live-api"}, desc


def _kube_error(cls: type, status: int) -> Exception:
    return cls(
        "patch x: HTTP",
        status=status,
        verb="patch",
        resource="horizontalpodautoscalers.autoscaling",
        namespace="live",
        name="x",
    )


ERRORS = [
    (
        _kube_error(ForbiddenError, 403),
        "Forbidden",
        "forbidden",
        "missing permission: patch horizontalpodautoscalers",
    ),
    (_kube_error(ConflictError, 409), "Conflict", "conflict", "patch x"),
    (_kube_error(NotFoundError, 404), "TargetNotFound", "target_not_found", "Deployment/web gone"),
    (_kube_error(TemporaryKubeError, 503), "APIError", "api_temporary", "cannot scale: patch x"),
    (
        AsgNotFoundError("Auto Scaling group 'g' not found"),
        "TargetNotFound",
        "target_not_found",
        "'g' not found",
    ),
    (
        AsgError("autoscaling set_desired_capacity: Throttling", temporary=True),
        "CloudError",
        "cloud",
        "Throttling",
    ),
    (ConfigError("cannot scale CronJob"), "InvalidPolicy", "invalid_policy", "CronJob"),
]


@pytest.mark.parametrize(("exc", "reason", "kind", "text"), ERRORS, ids=[e[1] + "-" + e[2] for e in ERRORS])
def test_errors_are_classified_by_type_not_by_their_text(exc, reason, kind, text):
    problem = as_problem(exc, target="Deployment/web gone", doing="scale")
    assert (problem.reason, problem.kind, error_kind(exc)) == (reason, kind, kind)
    assert text in problem.message


def test_a_not_found_message_does_not_make_a_cloud_error_a_missing_target():
    """controller.py used to look for "not found" in the message; a throttled call that says it is not a 404."""
    problem = as_problem(AsgError("autoscaling: Throttling: group not found in cache, retry"))
    assert problem.reason == "CloudError" and problem.kind == "cloud"
    assert error_kind(SourceError("prometheus down")) == "internal"
    assert error_kind(Problem("X", "y", kind="forecast")) == "forecast"


GUARD = AccuracyGuardSpec(max_error=0.3, window_s=600, min_samples=3, recover_ratio=0.5)


@pytest.mark.parametrize(
    ("desc", "actual", "was_on", "on"),
    [
        ("accurate stays off", 100.0, False, False),
        ("3x over switches on", 33.0, False, True),
        ("still bad stays on", 33.0, True, True),
        ("between recover and max stays on (hysteresis)", 75.0, True, True),
        ("below max x recover switches off", 95.0, True, False),
    ],
)
def test_accuracy_guard(desc, actual, was_on, on):
    log = ForecastLog()
    for m in range(5):
        made = NOW + m * MIN
        log.record(
            made, pd.Series(100.0, index=pd.date_range(made + MIN, periods=10, freq="1min")), keep_s=3600
        )
    now = NOW + 8 * MIN
    history = pd.Series(actual, index=pd.date_range(NOW, now, freq="1min"))
    reading = judge(GUARD, log=log, history=history, was_active=was_on, now=now)
    assert reading.active is on, desc
    assert reading.accuracy["guardActive"] is on and reading.accuracy["samples"] >= 3


def test_the_guard_keeps_its_state_without_history_and_is_off_without_a_spec():
    assert judge(GUARD, log=ForecastLog(), history=None, was_active=True, now=NOW).active is True
    assert judge(None, log=ForecastLog(), history=None, was_active=True, now=NOW).active is False


def test_the_last_good_forecast_reaches_its_end_minus_the_planning_window():
    good = LastGoodForecast(made_at=NOW, frame=forecast_frame(NOW, p90=500.0, minutes=30))
    # ends 20:30; lead 3m + interval 1m
    assert good.usable_until(POLICY) == pd.Timestamp("2024-05-01 20:26:00")
    assert good.covers(POLICY, NOW + 26 * MIN) and not good.covers(POLICY, NOW + 27 * MIN)


@pytest.mark.parametrize(
    ("desc", "observed", "desired", "reason"),
    [
        ("no observation: the forecast decides", None, 4, "forecast"),
        ("below the forecast: no effect", 200.0, 4, "forecast"),
        ("above the forecast: the observed load's need", 900.0, 9, "observed_load"),
        ("bounded by max_replicas", 9000.0, 20, "observed_load"),
        ("NaN is ignored", float("nan"), 4, "forecast"),
    ],
)
def test_decide_takes_the_observed_load_as_a_lower_bound(desc, observed, desired, reason):
    pol = ScalingPolicy(capacity_per_replica=100, min_replicas=1, max_replicas=20)
    d = decide(
        forecast=forecast_frame(NOW, p90=400.0),
        policy=pol,
        state=ScalingState(),
        now=NOW,
        current_replicas=3,
        observed_load=observed,
    )
    assert (d.desired_replicas, d.reason) == (desired, reason), desc
    assert d.state.last_desired == desired and d.state.recommendations[-1][1] == desired
