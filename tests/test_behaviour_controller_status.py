"""What the controller reports and remembers: status round trips, condition times and Events, which status
changes are written, the persisted stabilisation state, problems by type, and when a forecast is usable.

Pure functions of :mod:`forecaster.prescaler.status`, :mod:`~forecaster.prescaler.status_diff`,
:mod:`~forecaster.prescaler.problems` and :mod:`~forecaster.prescaler.forecasts`; no cluster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError, DataError, SourceError
from forecaster.prescaler.asg import AsgError, AsgNotFoundError
from forecaster.prescaler.forecasts import (
    ForecastResult,
    LastGoodForecast,
    StoreForecastProvider,
    call_provider,
    fetch_forecast,
    forecast_problem,
    load_prometheus_settings,
)
from forecaster.prescaler.kube import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PermanentKubeError,
    TemporaryKubeError,
)
from forecaster.prescaler.policy import parse_policy
from forecaster.prescaler.problems import Problem, as_problem, error_kind
from forecaster.prescaler.status import (
    condition,
    event_body,
    policy_ref,
    stamp_conditions,
    state_from_status,
    state_to_status,
)
from forecaster.prescaler.status_diff import compact, material, widen_after_restart
from forecaster.scaling import ScalingState
from forecaster.settings import PrometheusSettings
from tests.prescaler_helpers import NOW, FakeForecasts, forecast_frame, history, policy

MIN = pd.Timedelta(minutes=1)


# -- the persisted decision state -------------------------------------------------------------------------------


def test_the_scaling_state_round_trips_through_status_in_utc():
    state = ScalingState(
        recommendations=((NOW - 3 * MIN, 7), (NOW - MIN, 5)),
        last_desired=6,
        last_scale_down_at=NOW - 2 * MIN,
    )

    saved = state_to_status(state)

    assert saved == {
        "recommendations": [
            {"time": "2024-05-01T19:57:00Z", "replicas": 7},
            {"time": "2024-05-01T19:59:00Z", "replicas": 5},
        ],
        "lastDesired": 6,
        "lastScaleDownAt": "2024-05-01T19:58:00Z",
    }
    assert state_from_status(saved) == state


def test_an_empty_state_has_no_optional_fields():
    assert state_to_status(ScalingState()) == {"recommendations": []}
    assert state_from_status({"recommendations": []}) == ScalingState()


def test_a_state_with_zero_desired_keeps_it():
    """0 replicas (a placeholder at zero) is a value, not an absence."""
    saved = state_to_status(ScalingState(last_desired=0))
    assert saved["lastDesired"] == 0
    assert state_from_status(saved).last_desired == 0


@pytest.mark.parametrize(
    "data",
    [None, "x", [], {"recommendations": [{"time": "never", "replicas": 3}]}, {"recommendations": [{"t": 1}]}],
)
def test_an_unreadable_state_starts_afresh(data):
    assert state_from_status(data) == ScalingState()


def test_times_with_an_offset_are_read_as_utc():
    state = state_from_status(
        {"recommendations": [{"time": "2024-05-01T22:00:00+02:00", "replicas": 4}], "lastDesired": 4}
    )
    assert state.recommendations == ((NOW, 4),)


# -- conditions and their Events ----------------------------------------------------------------------------------


def test_a_condition_keeps_its_transition_time_until_its_status_or_reason_changes():
    first = {"conditions": [condition("Ready", True, "Reconciled", "ok")]}
    stamp_conditions({}, first, NOW)
    assert first["conditions"][0]["lastTransitionTime"] == "2024-05-01T20:00:00Z"

    same = {"conditions": [condition("Ready", True, "Reconciled", "a new message")]}
    assert stamp_conditions(first, same, NOW + 5 * MIN) == []
    assert same["conditions"][0]["lastTransitionTime"] == "2024-05-01T20:00:00Z"

    other_reason = {"conditions": [condition("Ready", True, "Other", "ok")]}
    stamp_conditions(same, other_reason, NOW + 6 * MIN)
    assert other_reason["conditions"][0]["lastTransitionTime"] == "2024-05-01T20:06:00Z"

    down = {"conditions": [condition("Ready", False, "ForecastUnavailable", "Prometheus is down")]}
    events = stamp_conditions(other_reason, down, NOW + 7 * MIN)
    assert down["conditions"][0]["lastTransitionTime"] == "2024-05-01T20:07:00Z"
    assert events == [("Warning", "ForecastUnavailable", "Prometheus is down", False)]

    up = {"conditions": [condition("Ready", True, "Reconciled", "")]}
    assert stamp_conditions(down, up, NOW + 8 * MIN) == [("Normal", "Reconciled", "Ready is True", False)]


@pytest.mark.parametrize(
    ("cond", "event"),
    [
        (condition("Ready", True, "Reconciled", "ok"), None),
        (condition("Ready", False, "InvalidPolicy", "bad"), ("Warning", "InvalidPolicy", "bad", False)),
        (condition("Degraded", True, "X", "bad"), None),
        (condition("ForecastOnly", True, "ModeForecast", "spec"), None),
        (condition("ForecastOnly", True, "AccuracyGuard", "err"), ("Warning", "AccuracyGuard", "err", False)),
        (condition("CalendarAvailable", False, "Down", "c"), ("Warning", "Down", "c", False)),
        (condition("CalendarAvailable", True, "Read", "c"), None),
    ],
)
def test_on_first_sight_only_bad_news_is_an_event(cond, event):
    events = stamp_conditions({}, {"conditions": [cond]}, NOW)
    assert events == ([event] if event else [])


def test_events_name_the_object_and_are_capped():
    ref = policy_ref({"metadata": {"name": "web", "uid": "u1"}})
    assert ref == {
        "apiVersion": "prescaling.forecaster.io/v1alpha1",
        "kind": "PrescalePolicy",
        "name": "web",
        "namespace": "default",
        "uid": "u1",
    }
    body = event_body(
        involved=ref, type_="Normal", reason="FloorRaised", message="x" * 5000, identity="p-1", now=NOW
    )
    assert body["metadata"] == {"generateName": "web.", "namespace": "default"}
    assert len(body["message"]) == 1024
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2024-05-01T20:00:00Z"
    assert (body["type"], body["reason"], body["count"], body["reportingInstance"]) == (
        "Normal",
        "FloorRaised",
        1,
        "p-1",
    )


# -- what is written and what is kept -----------------------------------------------------------------------------


def test_compact_keeps_exactly_the_recommendations_that_can_still_decide():
    t = [NOW + k * MIN for k in range(6)]
    state = ScalingState(
        recommendations=((t[0], 5), (t[1], 9), (t[2], 7), (t[3], 7), (t[4], 3), (t[5], 4)),
        last_desired=9,
        last_scale_down_at=t[2],
    )

    kept = compact(state)

    assert kept.recommendations == ((t[1], 9), (t[3], 7), (t[5], 4))
    assert (kept.last_desired, kept.last_scale_down_at) == (9, t[2])
    # the highest in any trailing window is the same before and after
    for start in t:
        full = max(r for when, r in state.recommendations if when >= start)
        short = max(r for when, r in kept.recommendations if when >= start)
        assert full == short


def test_a_restart_holds_recommendations_longer_never_shorter():
    state = ScalingState(recommendations=((NOW - 10 * MIN, 9), (NOW - 2 * MIN, 5)), last_desired=9)

    widened = widen_after_restart(state, refresh_s=300, now=NOW)

    assert widened.recommendations == ((NOW - 5 * MIN, 9), (NOW, 5))
    assert widened.last_desired == 9
    assert widen_after_restart(state, refresh_s=0, now=NOW) == state


def _status(**over):
    base = {
        "mode": "Scale",
        "desiredReplicas": 5,
        "forecastPeak": 410.2,
        "forecastPeakTime": "2024-05-01T20:03:00Z",
        "message": "peak 410 at 20:03",
        "conditions": [condition("Ready", True, "Reconciled", "peak 410 at 20:03")],
        "scalingState": {
            "recommendations": [{"time": "2024-05-01T20:00:00Z", "replicas": 5}],
            "lastDesired": 5,
        },
        "accuracy": {"error": 0.1, "samples": 30, "guardActive": False},
        "calendar": {"source": "file", "readAt": "2024-05-01T20:00:00Z", "copy": "current"},
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("change", "material_change"),
    [
        ({"forecastPeak": 420.0, "forecastPeakTime": "2024-05-01T20:04:00Z", "message": "peak 420"}, False),
        ({"conditions": [condition("Ready", True, "Reconciled", "another message")]}, False),
        ({"accuracy": {"error": 0.2, "samples": 31, "guardActive": False}}, False),
        ({"calendar": {"source": "file", "readAt": "2024-05-01T20:01:00Z", "copy": "current"}}, False),
        (
            {
                "scalingState": {
                    "recommendations": [{"time": "2024-05-01T20:01:00Z", "replicas": 5}],
                    "lastDesired": 5,
                }
            },
            False,
        ),
        ({"desiredReplicas": 6}, True),
        ({"mode": "Forecast"}, True),
        ({"conditions": [condition("Ready", False, "Reconciled", "peak")]}, True),
        ({"conditions": [condition("Ready", True, "HoldingLastForecast", "peak")]}, True),
        ({"accuracy": {"error": 0.5, "samples": 30, "guardActive": True}}, True),
        ({"calendar": {"source": "file", "readAt": "2024-05-01T20:00:00Z", "copy": "last-good"}}, True),
        (
            {
                "scalingState": {
                    "recommendations": [{"time": "2024-05-01T20:00:00Z", "replicas": 6}],
                    "lastDesired": 5,
                }
            },
            True,
        ),
        ({"scalingState": {"recommendations": [], "lastDesired": 5, "lastScaleDownAt": "x"}}, True),
        ({"lastAction": "FloorRaised"}, True),
    ],
)
def test_which_status_changes_are_material(change, material_change):
    assert (material(_status()) != material(_status(**change))) is material_change


# -- problems by type ---------------------------------------------------------------------------------------------


def _kube(cls, status):
    return cls(
        "get x: HTTP",
        status=status,
        verb="get",
        resource="horizontalpodautoscalers.autoscaling",
        namespace="ns",
    )


@pytest.mark.parametrize(
    ("exc", "reason", "kind"),
    [
        (_kube(ForbiddenError, 403), "Forbidden", "forbidden"),
        (_kube(ConflictError, 409), "Conflict", "conflict"),
        (_kube(NotFoundError, 404), "TargetNotFound", "target_not_found"),
        (_kube(TemporaryKubeError, 503), "APIError", "api_temporary"),
        (_kube(PermanentKubeError, 405), "APIError", "api"),
        (AsgNotFoundError("no group web"), "TargetNotFound", "target_not_found"),
        (AsgError("throttled"), "CloudError", "cloud"),
        (ConfigError("bad"), "InvalidPolicy", "invalid_policy"),
        (SourceError("down"), "APIError", "internal"),
    ],
)
def test_problems_are_classified_by_type(exc, reason, kind):
    problem = as_problem(exc, target="Deployment/web not found in ns", doing="apply the decision")
    assert (problem.reason, problem.kind) == (reason, kind)
    assert error_kind(exc) == kind


def test_problem_messages_say_what_and_where():
    forbidden = as_problem(_kube(ForbiddenError, 403))
    assert "missing permission: get horizontalpodautoscalers.autoscaling in namespace ns" in forbidden.message
    missing = as_problem(_kube(NotFoundError, 404), target="Deployment/web not found in ns")
    assert missing.message.startswith("Deployment/web not found in ns: ")
    other = as_problem(_kube(TemporaryKubeError, 503), doing="restore the original floor")
    assert other.message.startswith("cannot restore the original floor: ")
    same = Problem("X", "y", kind="internal")
    assert as_problem(same) is same and error_kind(same) == "internal"
    assert error_kind(RuntimeError("bug")) == "internal"


# -- whether a forecast can be used ------------------------------------------------------------------------------


P = parse_policy(policy())  # maxStaleness defaults to 5 minutes


def _result(*, last_point_age_s: float, frame=None, trailing_nan: int = 0):
    h = history(NOW - pd.Timedelta(seconds=last_point_age_s) + MIN, minutes=30)
    if trailing_nan:
        extra = pd.Series(np.nan, index=pd.date_range(h.index[-1] + MIN, periods=trailing_nan, freq="1min"))
        h = pd.concat([h, extra])
    return ForecastResult(frame=forecast_frame(NOW, p90=300.0) if frame is None else frame, history=h)


@pytest.mark.parametrize(
    ("age_s", "usable"),
    [(0, True), (60, True), (300, True), (301, False), (3600, False)],
)
def test_a_forecast_is_stale_once_its_last_point_is_older_than_max_staleness(age_s, usable):
    problem = forecast_problem(_result(last_point_age_s=age_s), P, NOW)
    assert (problem is None) is usable
    if not usable:
        assert "stale" in problem and "limit 300s" in problem


def test_trailing_missing_points_do_not_make_old_data_fresh():
    problem = forecast_problem(_result(last_point_age_s=600, trailing_nan=10), P, NOW)
    assert problem is not None and "stale" in problem


def test_a_policys_own_staleness_limit_is_used():
    lenient = parse_policy(policy(forecast={"target": "live-streaming", "maxStaleness": "15m"}))
    assert forecast_problem(_result(last_point_age_s=600), lenient, NOW) is None
    assert forecast_problem(_result(last_point_age_s=600), P, NOW) is not None


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (ForecastResult(frame=forecast_frame(NOW, p90=1.0).iloc[:0]), "the forecast is empty"),
        (
            ForecastResult(frame=forecast_frame(NOW, p90=1.0), history=history(NOW) * np.nan),
            "no recent history: the forecast is not based on data",
        ),
        (ForecastResult(frame=forecast_frame(NOW, p90=1.0), history=None), None),
    ],
)
def test_what_makes_a_forecast_unusable(result, problem):
    assert forecast_problem(result, P, NOW) == problem


class _Raising:
    def __init__(self, exc):
        self.exc = exc

    def forecast(self, policy, now):
        raise self.exc


@pytest.mark.parametrize(
    ("provider", "problem"),
    [
        (_Raising(SourceError("Prometheus down")), "forecast failed: Prometheus down"),
        (_Raising(DataError("bad")), "forecast failed: bad"),
        (_Raising(ZeroDivisionError("x")), "forecast failed: ZeroDivisionError: x"),
        (FakeForecasts(**{"live-api": None}), "no forecast available"),
    ],
)
def test_every_provider_failure_becomes_a_reason_never_an_exception(provider, problem):
    assert fetch_forecast(provider, P, NOW) == (None, problem)


def test_a_bare_frame_from_a_provider_is_a_forecast():
    class Frame:
        def forecast(self, policy, now):
            return forecast_frame(now, p90=10.0)

    result, problem = call_provider(Frame(), P, NOW)
    assert problem is None and isinstance(result, ForecastResult) and result.history is None


@pytest.mark.parametrize(("lead", "interval"), [("3m", "1m"), ("0", "30s"), ("10m", "2m")])
def test_the_last_good_forecast_covers_until_its_end_minus_the_planning_window(lead, interval):
    p = parse_policy(policy(leadTime=lead, interval=interval))
    frame = forecast_frame(NOW, p90=100.0, minutes=30)  # NOW + 1 .. NOW + 30 minutes
    good = LastGoodForecast(made_at=NOW, frame=frame)
    reach = pd.Timedelta(seconds=p.scaling.lead_time_s + p.scaling.interval_s)

    until = good.usable_until(p)

    assert until == NOW + 30 * MIN - reach
    assert good.covers(p, until) is True
    assert good.covers(p, until + pd.Timedelta(seconds=1)) is False


# -- where the history comes from ---------------------------------------------------------------------------------


class _Model:
    step = pd.Timedelta(minutes=1)
    lookback_steps = 10

    def predict(self, history):
        return forecast_frame(pd.Timestamp(history.index[-1]), p90=300.0)


@pytest.mark.parametrize(
    ("guard", "window"),
    [
        (None, pd.Timedelta(minutes=10)),
        ({"maxError": 0.3, "window": "1h"}, pd.Timedelta(hours=1)),
        ({"maxError": 0.3, "window": "5m"}, pd.Timedelta(minutes=10)),
    ],
)
def test_an_inline_policy_reads_its_query_at_its_step_over_the_lookback_or_the_guard_window(guard, window):
    asked = []

    def fetch(settings, *, now, history):
        asked.append((settings, now, history))
        return recent_history(now)

    configured = PrometheusSettings(url="http://prom:9090", bearer_token_env="TOKEN", timeout_s=7.0)
    provider = StoreForecastProvider(prometheus=configured, fetch=fetch, load_model=lambda path: _Model())
    spec = {"forecast": {"query": "sum(rate(x[1m]))", "modelPath": "/m", "step": "30s"}}
    if guard:
        spec["accuracyGuard"] = guard
    p = parse_policy(policy(**spec))

    result, problem = fetch_forecast(provider, p, NOW)

    assert problem is None and result is not None
    (settings, now, length) = asked[0]
    assert (settings.query, settings.step, settings.url) == ("sum(rate(x[1m]))", "30s", "http://prom:9090")
    assert settings.bearer_token_env == "TOKEN" and settings.timeout_s == 7.0
    assert now == NOW and length == window
    assert provider.queries == 1


def recent_history(now):
    return history(now, minutes=60)


def test_policies_share_a_forecast_only_when_they_read_the_same_thing_over_the_same_window():
    provider = StoreForecastProvider(fetch=lambda *a, **k: None, load_model=lambda path: _Model())
    a = parse_policy(policy("a"))
    b = parse_policy(policy("b"))
    c = parse_policy(policy("c", forecast={"target": "other"}))
    d = parse_policy(policy("d", accuracyGuard={"maxError": 0.3}))
    assert provider.group_key(a) == provider.group_key(b)
    assert provider.group_key(a) != provider.group_key(c)
    assert provider.group_key(a) != provider.group_key(d)


def test_prometheus_settings_for_inline_policies_from_yaml(tmp_path):
    top = tmp_path / "a.yaml"
    top.write_text("url: https://prom:9090\ntimeout_s: 3\n")
    nested = tmp_path / "b.yaml"
    nested.write_text("name: x\nprometheus:\n  url: https://other:9090\n  bearer_token_file: /t\n")
    assert load_prometheus_settings(top).url == "https://prom:9090"
    assert load_prometheus_settings(top).timeout_s == 3
    s = load_prometheus_settings(nested)
    assert (s.url, s.bearer_token_file) == ("https://other:9090", "/t")
    bad = tmp_path / "c.yaml"
    bad.write_text("url: https://prom:9090\npasword: x\n")
    with pytest.raises(ConfigError, match="pasword"):
        load_prometheus_settings(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_prometheus_settings(tmp_path / "missing.yaml")
    scalar = tmp_path / "d.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_prometheus_settings(scalar)
