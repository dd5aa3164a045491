"""A raised HPA floor through a forecast outage: while the last good forecast still covers the planning window the
floor stays where that forecast puts it (a short outage must not drop capacity just before a predicted peak); once
it no longer does, the original floor is restored and the HPA scales on load.

Through the controller against the fake API server, scripted forecasts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecaster.prescaler.forecasts import ForecastResult
from tests import prescaler_helpers
from tests.prescaler_helpers import (
    NOW,
    FakeForecasts,
    conditions,
    controller,
    deployment,
    floor,
    forecast_frame,
    history,
    hpa,
    policy,
    prometheus_down,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


def test_a_raised_floor_is_held_on_the_last_good_forecast_then_restored(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(actuator="HPAFloor", leadTime="3m", interval="1m"))
    answer: dict[str, Any] = {
        "now": lambda now: ForecastResult(
            frame=forecast_frame(now, p90=1000.0, minutes=30), history=history(now, value=400.0)
        )
    }
    ctl = controller(kube, FakeForecasts(**{"live-api": lambda now: answer["now"](now)}))
    ctl.tick(NOW)
    assert floor(fake_api) == 10

    answer["now"] = lambda now: (_ for _ in ()).throw(prometheus_down())
    for minutes in (1, 5, 26):  # the 30-minute forecast covers now + 3 + 1 until NOW + 26 min
        [outcome] = ctl.tick(NOW + minutes * MIN)
        assert floor(fake_api) == 10, minutes
        assert conditions(fake_api)["Ready"]["reason"] == "HoldingLastForecast"
        assert "acting on the last good forecast" in outcome.message

    [outcome] = ctl.tick(NOW + 27 * MIN)
    assert floor(fake_api) == 2, "beyond the last good forecast: the original floor is back"
    assert conditions(fake_api)["Ready"]["reason"] == "ForecastUnavailable"
