"""Why a policy only forecasts, as its status says: the policy's own Forecast mode, ``--dry-run`` or the accuracy
guard. A policy that forecasts only by choice says so even when its guard is on too (the guard is not what
stops it acting), and the guard's reading is still published.

Through :class:`~forecaster.prescaler.loop.Controller` against the fake API server with scripted forecasts
(p50 always 800 while the load is 100: 700% wrong, the guard trips once it has its samples).
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.prescaler.forecasts import ForecastResult
from tests import prescaler_helpers
from tests.prescaler_helpers import (
    NOW,
    FakeForecasts,
    conditions,
    deployment,
    forecast_frame,
    history,
    hpa,
    status,
)
from tests.prescaler_helpers import policy as policy_object

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


def wrong(now: pd.Timestamp) -> ForecastResult:
    return ForecastResult(frame=forecast_frame(now, p90=1000.0, p50=800.0), history=history(now, value=100.0))


@pytest.mark.parametrize(
    ("mode", "dry_run", "reason", "why"),
    [
        pytest.param("Forecast", False, "ModeForecast", "spec.mode is Forecast", id="Forecast mode"),
        pytest.param("Scale", True, "ModeForecast", "--dry-run", id="dry run"),
        pytest.param("Scale", False, "AccuracyGuard", "accuracy guard", id="the guard"),
    ],
)
def test_forecast_only_names_its_cause_first_the_choice_then_the_guard(
    fake_api, kube, mode, dry_run, reason, why
):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy_object(mode=mode, accuracyGuard={"maxError": 0.3, "minSamples": 3}))
    ctl = prescaler_helpers.controller(kube, FakeForecasts(**{"live-api": wrong}), dry_run=dry_run)
    for k in range(6):
        [outcome] = ctl.tick(NOW + k * MIN)
    st = status(fake_api)
    assert st["accuracy"]["guardActive"] is True, "the guard's reading is published in every mode"
    assert st["mode"] == "Forecast" and outcome.mode == "Forecast"
    only = conditions(fake_api)["ForecastOnly"]
    assert only["status"] == "True" and only["reason"] == reason
    assert only["message"].startswith(why)
