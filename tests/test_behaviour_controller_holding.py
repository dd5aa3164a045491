"""What the status keeps while the prescaler cannot work normally: the model version behind the last good forecast
it still acts on during an outage, and the ForecastOnly condition (and its transition time) through a tick that
fails on the target.

Through :class:`~forecaster.prescaler.loop.Controller` against the fake API server, scripted forecasts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecaster.prescaler.forecasts import ForecastResult
from tests import prescaler_helpers
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    conditions,
    deployment,
    forecast_frame,
    history,
    policy,
    prometheus_down,
    status,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


make = prescaler_helpers.controller


def test_during_an_outage_the_status_names_the_model_behind_the_forecast_still_acted_on(fake_api, kube):
    fake_api.put(deployment(replicas=2))
    fake_api.put(policy())
    answer: dict[str, Any] = {
        "now": lambda now: ForecastResult(
            frame=forecast_frame(now, p90=800.0), history=history(now, value=400.0), model_version="v7"
        )
    }
    ctl = make(kube, FakeForecasts(**{"live-api": lambda now: answer["now"](now)}))
    ctl.tick(NOW)
    assert status(fake_api)["modelVersion"] == "v7"
    answer["now"] = lambda now: (_ for _ in ()).throw(prometheus_down())
    [outcome] = ctl.tick(NOW + MIN)
    assert conditions(fake_api)["Ready"]["reason"] == "HoldingLastForecast"
    assert status(fake_api)["modelVersion"] == "v7", "the forecast acted on is v7's"
    assert outcome.desired == 8


def test_a_failing_tick_keeps_the_forecast_only_condition_and_its_transition_time(fake_api, kube):
    fake_api.put(deployment(replicas=2))
    fake_api.put(policy(mode="Forecast"))
    ctl = make(kube, FakeForecasts(**{"live-api": 800.0}))
    ctl.tick(NOW)
    before = conditions(fake_api)["ForecastOnly"]
    assert before["status"] == "True" and before["reason"] == "ModeForecast"
    fake_api.remove("deployments", NS, "live-api")
    [outcome] = ctl.tick(NOW + MIN)
    assert not outcome.ready
    after = conditions(fake_api)
    assert after["Ready"]["status"] == "False"
    assert after["ForecastOnly"] == before, "still Forecast mode, since the same time"
    fake_api.put(deployment(replicas=2))
    ctl.tick(NOW + 2 * MIN)
    assert conditions(fake_api)["ForecastOnly"]["lastTransitionTime"] == before["lastTransitionTime"]
