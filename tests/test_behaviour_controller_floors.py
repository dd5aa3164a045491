"""A floor under an autoscaler plans for what the forecast needs, not for the load right now (the HPA above it
answers that), and the prescaler's finalizer is added once, beside other controllers' finalizers, and never
again on later ticks.

Through :class:`~forecaster.prescaler.loop.Controller` against the fake API server, scripted forecasts.
"""

from __future__ import annotations

import pandas as pd

from forecaster.prescaler.forecasts import ForecastResult
from forecaster.prescaler.policy_sources import FINALIZER
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, forecast_frame, history, hpa, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


make = prescaler_helpers.controller


def test_a_floor_follows_the_forecast_not_the_load_of_this_minute(fake_api, kube):
    """900/s now, a forecast of 300/s: the HPA serves the 900 (9 pods) on its own metric; the floor the
    prescaler sets is the forecast's 3, and a Replicas target (nothing underneath) would get the 9."""
    fake_api.put(deployment(replicas=9))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(actuator="HPAFloor"))
    busy = ForecastResult(frame=forecast_frame(NOW, p90=300.0), history=history(NOW, value=900.0))
    [outcome] = make(kube, FakeForecasts(**{"live-api": busy})).tick(NOW)
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 3
    assert outcome.desired == 3 and outcome.reason != "observed_load"


def test_without_an_autoscaler_the_load_of_this_minute_is_a_lower_bound(fake_api, kube):
    fake_api.put(deployment(replicas=2))
    fake_api.put(policy())  # Replicas
    busy = ForecastResult(frame=forecast_frame(NOW, p90=300.0), history=history(NOW, value=900.0))
    [outcome] = make(kube, FakeForecasts(**{"live-api": busy})).tick(NOW)
    assert outcome.desired == 9 and outcome.reason == "observed_load"


def test_the_finalizer_is_added_once_beside_other_controllers_finalizers(fake_api, kube):
    fake_api.put(deployment(replicas=2))
    obj = policy()
    obj["metadata"]["finalizers"] = ["example.com/backup"]
    fake_api.put(obj)
    ctl = make(kube, FakeForecasts(**{"live-api": 500.0}))
    for minute in range(3):
        ctl.tick(NOW + minute * MIN)
    finalizers = fake_api.get("prescalepolicies", NS, "live-api")["metadata"]["finalizers"]
    assert finalizers == ["example.com/backup", FINALIZER]
    patches = [w for w in fake_api.writes() if w.resource == "prescalepolicies" and w.subresource is None]
    assert len(patches) == 1, "the finalizer is written once, not on every tick"


def test_a_policy_being_deleted_is_not_forecast_only_released(fake_api, kube):
    fake_api.put(deployment(replicas=2))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(actuator="HPAFloor"))
    forecasts = FakeForecasts(**{"live-api": 900.0})
    ctl = make(kube, forecasts)
    ctl.tick(NOW)
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 9
    fake_api.delete("prescalepolicies", NS, "live-api")
    forecasts.calls.clear()
    [outcome] = ctl.tick(NOW + MIN)
    assert outcome.reason == "Deleted"
    assert forecasts.calls == [], "no Prometheus read for a policy on its way out"
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 2
