"""``spec.tuning: Apply`` through a forecast outage: while the controller acts on the last good forecast, it keeps
deciding with the recommendation stored with that forecast's model version (it still knows the version), so
the tuning stays applied, and the status says so, rather than falling back as if no model were known.

Through the controller against the fake API server, with the scripted provider of tests/test_prescaler_tuning.py.
"""

from __future__ import annotations

import pandas as pd

from forecaster.errors import SourceError
from tests import prescaler_helpers
from tests.test_prescaler_tuning import (
    V1,
    TunedForecasts,
    floor,
    make,
    seed,
    status,
    tuning_condition,
    tuning_doc,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


def test_while_holding_the_last_good_forecast_its_versions_recommendation_stays_applied(fake_api, kube):
    seed(fake_api, tuning={"slo": "short-minutes=0.5%", "mode": "Apply"})
    forecasts = TunedForecasts({V1: tuning_doc()})
    ctl = make(kube, forecasts)
    [first] = ctl.tick(pd.Timestamp("2024-05-01 20:00:00"))
    assert first.desired == 6 and floor(fake_api) == 6  # shift on p50 + 20%

    forecasts.by_policy["live-api"] = SourceError("Prometheus down")
    [held] = ctl.tick(pd.Timestamp("2024-05-01 20:00:00") + MIN)

    assert held.desired == 6 and floor(fake_api) == 6
    assert "acting on the last good forecast" in held.message
    cond = tuning_condition(fake_api)
    assert (cond["status"], cond["reason"]) == ("True", "Applied")
    st = status(fake_api)
    assert st["tuning"]["modelVersion"] == V1 and st["tuning"]["applied"]["quantile"] == 0.5
    assert st["quantile"] == "p50"
