"""Controller behaviours that campaign 3 of the planted bugs showed no test held (bench/results/planted3.md).

Through public surfaces only: :func:`forecaster.prescaler.forecasts.fetch_forecast` with a scripted provider
(and the real :class:`~forecaster.prescaler.forecasts.StoreForecastProvider` with a recording fetcher), the
accuracy guard's :func:`~forecaster.prescaler.guard.judge`, and the controller's ``tick`` against the fake API
server.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.prescaler.forecasts import ForecastResult, fetch_forecast
from forecaster.prescaler.policy import parse_policy
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, FakeForecasts, forecast_frame, history, policy
from tests.prescaler_helpers import history as recent

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


@pytest.mark.parametrize(
    ("description", "row", "column"),
    [
        ("one NaN step far beyond the planning window", 25, "p50"),
        ("one NaN in the planned quantile", 2, "p90"),
        ("the first step's median", 0, "p50"),
    ],
)
def test_a_forecast_with_any_nan_is_unusable(description, row, column):
    """A model that returns NaN anywhere is broken: the forecast is reported unusable (the controller then
    fails safe and does not keep it as the last good forecast), not only when every value is NaN."""
    frame = forecast_frame(NOW, p90=300.0)
    frame.iloc[row, list(frame.columns).index(column)] = np.nan
    provider = FakeForecasts(**{"live-api": ForecastResult(frame=frame, history=history(NOW))})

    result, problem = fetch_forecast(provider, parse_policy(policy()), NOW)

    assert result is not None
    assert problem == "the forecast contains NaN", description


def test_a_forecast_without_nan_is_usable():
    provider = FakeForecasts(**{"live-api": 300.0})

    result, problem = fetch_forecast(provider, parse_policy(policy()), NOW)

    assert result is not None and problem is None
    assert pd.Timestamp(result.frame.index[0]) == NOW + pd.Timedelta(minutes=1)


class _FlatModel:
    """A stand-in model file: 1-minute steps, a 10-step lookback, a flat forecast."""

    step = pd.Timedelta(minutes=1)
    lookback_steps = 10

    def predict(self, history: pd.Series) -> pd.DataFrame:
        return forecast_frame(pd.Timestamp(history.index[-1]) + pd.Timedelta(minutes=1), p90=300.0)


@pytest.mark.parametrize(
    ("description", "url", "keeps_credentials"),
    [
        ("the configured server (a trailing slash is the same URL)", "http://prom.monitoring:9090/", True),
        ("another server a policy names", "http://elsewhere.example:9090", False),
        ("the configured host on another port", "http://prom.monitoring:9091", False),
    ],
)
def test_credentials_go_only_to_the_prometheus_they_were_configured_for(description, url, keeps_credentials):
    """Anyone who may create a PrescalePolicy must not be able to send the operator's token or password to a
    server of their choosing: a policy's own prometheusUrl gets no bearer token (file or variable) and no
    basic auth unless it is the configured server."""
    from forecaster.prescaler.forecasts import StoreForecastProvider
    from forecaster.settings import PrometheusSettings

    configured = PrometheusSettings(
        url="http://prom.monitoring:9090",
        bearer_token_file="/var/run/secrets/prometheus/token",
        bearer_token_env="PROM_TOKEN",
        basic_auth_user="prescaler",
        basic_auth_password_env="PROM_PASSWORD",
    )
    seen: list[PrometheusSettings] = []

    def fetch(settings, *, now, history):
        seen.append(settings)
        return recent(now, minutes=30)  # (``history`` is the window asked for)

    provider = StoreForecastProvider(prometheus=configured, fetch=fetch, load_model=lambda path: _FlatModel())
    obj = policy(
        forecast={
            "query": "sum(rate(http_requests_total[1m]))",
            "modelPath": "/models/x",
            "prometheusUrl": url,
        }
    )

    result, problem = fetch_forecast(provider, parse_policy(obj), NOW)

    assert problem is None and result is not None
    (settings,) = seen
    assert settings.url.rstrip("/") == url.rstrip("/")
    credentials = (
        settings.bearer_token_file,
        settings.bearer_token_env,
        settings.basic_auth_user,
        settings.basic_auth_password_env,
    )
    if keeps_credentials:
        assert credentials == (
            configured.bearer_token_file,
            configured.bearer_token_env,
            configured.basic_auth_user,
            configured.basic_auth_password_env,
        ), description
    else:
        assert credentials == (None, None, None, None), description


def test_the_accuracy_guard_counts_over_and_under_forecasts_alike():
    """The guard's error is a WAPE: absolute errors. A model alternately 50% over and 50% under the load is
    50% wrong (the guard switches on above maxError 0.3), not right on average."""
    from forecaster.prescaler.guard import ForecastLog, judge
    from forecaster.prescaler.policy import AccuracyGuardSpec

    spec = AccuracyGuardSpec(max_error=0.3, window_s=3600.0, min_samples=5, recover_ratio=0.8)
    log = ForecastLog()
    start = NOW - pd.Timedelta(minutes=40)
    for k in range(30):
        made = start + pd.Timedelta(minutes=k)
        value = 150.0 if k % 2 else 50.0
        p50 = pd.Series([value], index=[made + pd.Timedelta(minutes=1)])
        log.record(made, p50, keep_s=7200)
    actual = pd.Series(100.0, index=pd.date_range(start, NOW - pd.Timedelta(minutes=1), freq="1min"))

    reading = judge(spec, log=log, history=actual, was_active=False, now=NOW)

    assert reading.error == pytest.approx(0.5)
    assert reading.active is True


@pytest.mark.parametrize(("points", "active"), [(4, False), (5, True), (6, True)])
def test_the_accuracy_guard_acts_from_exactly_min_samples_points(points, active):
    """minSamples 5: four compared points are too few to judge (the guard keeps its state), five are enough."""
    from forecaster.prescaler.guard import ForecastLog, judge
    from forecaster.prescaler.policy import AccuracyGuardSpec

    spec = AccuracyGuardSpec(max_error=0.3, window_s=3600.0, min_samples=5, recover_ratio=0.8)
    log = ForecastLog()
    made = NOW - pd.Timedelta(minutes=10)
    p50 = pd.Series(200.0, index=pd.date_range(made + pd.Timedelta(minutes=1), periods=points, freq="1min"))
    log.record(made, p50, keep_s=7200)
    actual = pd.Series(100.0, index=pd.date_range(made - pd.Timedelta(minutes=30), NOW, freq="1min"))

    reading = judge(spec, log=log, history=actual, was_active=False, now=NOW)

    assert reading.accuracy["samples"] == points
    assert reading.error == pytest.approx(1.0)
    assert reading.active is active


def test_a_fresh_observed_surge_bounds_the_replicas_by_the_load_now(fake_api, kube):
    """The Replicas actuator never plans below what the load observed *now* needs: the history's newest point
    (900: 9 replicas), not an older one of its window (100), even when the forecast says less (400: 4)."""
    from prometheus_client import CollectorRegistry

    from forecaster.prescaler.loop import Controller
    from forecaster.prescaler.metrics import PrescalerMetrics
    from forecaster.prescaler.policy_sources import CrdPolicySource
    from tests.prescaler_helpers import NS, deployment

    fake_api.put(deployment(replicas=3))
    fake_api.put(policy())
    rising = recent(NOW, value=100.0)
    rising.iloc[-1] = 900.0
    result = ForecastResult(frame=forecast_frame(NOW, p90=400.0), history=rising)
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=FakeForecasts(**{"live-api": result}),
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
    )

    [outcome] = ctl.tick(NOW)

    assert outcome.desired == 9
    assert fake_api.get("deployments", NS, "live-api")["spec"]["replicas"] == 9


def test_a_lost_recommendation_never_plans_below_the_specs_own_settings(fake_api, kube):
    """When the recommendation applied before cannot be used, the controller decides with the spec and with the
    last applied settings and keeps the *higher*: here the spec's own p90 plan (1000 / 100 = 10) is above the
    last recommendation (p50 500 + 20% = 6), so 10, never the lower 6."""
    from tests.test_prescaler_tuning import V1, TunedForecasts, floor, make, seed, tuning_doc

    seed(
        fake_api,
        quantile=0.9,
        scaleDown={"stabilizationWindow": "0"},
        tuning={"slo": "short-minutes=0.5%", "mode": "Apply"},
    )
    recs = {V1: tuning_doc()}
    ctl = make(kube, TunedForecasts(recs))
    ctl.tick(NOW)
    assert floor(fake_api) == 6  # the recommendation applied: p50 + 20%

    recs[V1] = None  # the new model version has no recommendation
    [outcome] = ctl.tick(NOW + pd.Timedelta(minutes=1))

    assert outcome.desired == 10 and floor(fake_api) == 10


@pytest.mark.parametrize(
    ("description", "ts", "expected"),
    [
        ("a +02:00 wall clock", "2024-05-01T22:00:00+02:00", "2024-05-01T20:00:00Z"),
        ("a -05:00 wall clock across midnight", "2024-05-01T21:30:00-05:00", "2024-05-02T02:30:00Z"),
        ("UTC already", "2024-05-01T20:00:00Z", "2024-05-01T20:00:00Z"),
        ("tz-naive UTC, as the controller keeps it", "2024-05-01T20:00:00", "2024-05-01T20:00:00Z"),
    ],
)
def test_times_written_to_kubernetes_are_utc(description, ts, expected):
    """Status and lease times end in Z, so they must be UTC whatever offset the timestamp carried."""
    from forecaster.prescaler.kube import micro_time, rfc3339

    assert rfc3339(pd.Timestamp(ts)) == expected, description
    assert micro_time(pd.Timestamp(ts)) == expected.replace("Z", ".000000Z"), description


def test_a_leader_that_cannot_read_its_lease_stops_acting(fake_api, kube):
    """Any failure to renew means "do not act": a leader whose lease read fails (the API server answers 500
    through every retry) is no longer the leader, so it cannot act alongside the replica that takes over."""
    from forecaster.prescaler.leader import LeaderElector

    elector = LeaderElector(kube, namespace="forecaster", identity="a", lease_duration_s=15)
    assert elector.ensure(NOW) is True and elector.leading

    fake_api.fail(500, verb="get", resource="leases", times=50)

    assert elector.ensure(NOW + pd.Timedelta(seconds=5)) is False
    assert elector.leading is False


@pytest.mark.parametrize(
    ("actuator", "ok"),
    [
        ("Auto", False),  # resolves to Replicas when no HPA targets the workload: nothing underneath
        ("Placeholder", False),
        ("Replicas", False),
        ("KEDAScaledObject", True),
        ("HPAFloor", True),
    ],
)
def test_plan_shift_is_accepted_only_on_a_floor_actuator(actuator, ok):
    """shift plans only for what pods started now will face when ready: without an autoscaler underneath that
    is known when the policy is read, nothing keeps the pods the current load needs, so it is refused."""
    from forecaster.errors import ConfigError

    spec = {"plan": "shift", "actuator": actuator}
    if actuator == "Placeholder":
        spec["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "live-api"}
        spec["scaleTargetRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "placeholder"}
    obj = policy(**spec)
    if ok:
        assert parse_policy(obj).scaling.plan == "shift"
    else:
        with pytest.raises(ConfigError, match="shift needs the HPAFloor actuator"):
            parse_policy(obj)


def test_a_policy_without_a_quantile_plans_on_p90():
    """The documented default (the CRD's and ScalingPolicy's): the forecast's p90, not its median."""
    obj = policy()
    del obj["spec"]["quantile"]

    parsed = parse_policy(obj)

    assert parsed.scaling.quantile == 0.9 and parsed.scaling.column == "p90"
