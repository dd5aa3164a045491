"""Failing safe when forecasts go away, and saying what was actually done.

While forecasts are unavailable the controller keeps acting on the last good forecast for the part of its
horizon not yet passed (never beyond), then restores the original floor; status, outcome, printer columns,
conditions and Events describe what was applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from forecaster.errors import ModelStoreError
from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION, OWNER_ANNOTATION
from forecaster.prescaler.forecasts import ForecastResult
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
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)
CRD = Path(__file__).resolve().parents[1] / "k8s" / "base" / "crd-prescalepolicy.yaml"


make = prescaler_helpers.controller


def status(fake: FakeKubeApiServer) -> dict[str, Any]:
    return fake.get("prescalepolicies", NS, "live-api").get("status") or {}


def ready(fake: FakeKubeApiServer) -> dict[str, str]:
    return {c["type"]: c for c in status(fake)["conditions"]}["Ready"]


def floor(fake: FakeKubeApiServer) -> int:
    return fake.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"]


def printer_columns(obj: dict[str, Any]) -> dict[str, Any]:
    """The values ``kubectl get prescalepolicies`` shows (simple ``.a.b`` JSONPaths of the CRD)."""
    crd = yaml.safe_load(CRD.read_text())
    out = {}
    for col in crd["spec"]["versions"][0]["additionalPrinterColumns"]:
        path = col["jsonPath"]
        if "[" in path:
            continue
        value: Any = obj
        for part in path.strip(".").split("."):
            value = (value or {}).get(part)
        out[col["name"]] = value
    return out


def test_a_restored_floor_is_what_status_outcome_and_columns_report(fake_api, kube):
    """The issue's case: a floor of 8 raised earlier, the original 3; forecasts unavailable (a new leader has no
    last good forecast): the floor goes back to 3 and nothing claims 8 any more."""
    fake_api.put(deployment(replicas=8))
    raised = hpa(min_replicas=8)
    raised["metadata"]["annotations"] = {ORIGINAL_FLOOR_ANNOTATION: "3", OWNER_ANNOTATION: "live/live-api"}
    fake_api.put(raised)
    obj = policy()
    obj["status"] = {"desiredReplicas": 8, "scalingState": {"recommendations": [], "lastDesired": 8}}
    fake_api.put(obj)

    [outcome] = make(kube, FakeForecasts(**{"live-api": prometheus_down()})).tick(NOW)

    assert floor(fake_api) == 3
    assert (
        outcome.desired == 3 and outcome.action == "FloorRestored HPA live-api minReplicas 8 -> 3 (original)"
    )
    st = status(fake_api)
    assert st["desiredReplicas"] == 3 and st["currentReplicas"] == 8
    assert "original floor 3 restored" in st["message"] and "keeping 8" not in st["message"]
    assert st["scalingState"]["lastDesired"] == 3  # a later forecast starts from what is in effect
    columns = printer_columns(fake_api.get("prescalepolicies", NS, "live-api"))
    assert columns["Desired"] == 3 and columns["Current"] == 8 and columns["Mode"] == "Scale"
    assert "original floor 3 restored" in ready(fake_api)["message"]


def test_without_a_floor_to_restore_status_reports_the_capacity_kept(fake_api, kube):
    fake_api.put(deployment(replicas=5))
    obj = policy()
    obj["status"] = {"scalingState": {"recommendations": [], "lastDesired": 9}}
    fake_api.put(obj)

    [outcome] = make(kube, FakeForecasts(**{"live-api": prometheus_down()})).tick(NOW)

    assert outcome.actuator == "Replicas" and outcome.action is None
    assert fake_api.get("deployments", NS, "live-api")["spec"]["replicas"] == 5
    assert outcome.desired == 5 and status(fake_api)["desiredReplicas"] == 5
    assert "keeping 5, never scaling down without data" in status(fake_api)["message"]


@pytest.mark.parametrize(
    "lost",
    [
        prometheus_down(),
        ModelStoreError("current.json is damaged"),
        ForecastResult(frame=forecast_frame(NOW, p90=900.0), history=history(NOW - pd.Timedelta(hours=1))),
        ForecastResult(frame=forecast_frame(NOW, p90=float("nan")), history=history(NOW)),
        None,
    ],
    ids=["prometheus-down", "model-unloadable", "stale", "nan", "none"],
)
def test_every_kind_of_loss_holds_the_last_good_forecast_and_says_until_when(fake_api, kube, lost):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    ctl = make(kube, forecasts)
    ctl.tick(NOW)

    forecasts.by_policy["live-api"] = lambda now: lost
    [outcome] = ctl.tick(NOW + 5 * MIN)

    assert floor(fake_api) == 10 and outcome.desired == 10 and not outcome.ready
    cond = ready(fake_api)
    assert cond["reason"] == "HoldingLastForecast"
    assert (
        "acting on the last good forecast (made 2024-05-01T20:00:00Z) until 2024-05-01T20:26:00Z"
        in cond["message"]
    )
    [event] = [e for e in fake_api.events() if e["reason"] == "HoldingLastForecast"]
    assert event["type"] == "Warning" and "until 2024-05-01T20:26:00Z" in event["message"]


def test_a_spike_in_the_last_good_forecast_is_still_prescaled_during_the_outage(fake_api, kube):
    """The reason to hold: the spike the last forecast saw coming still gets its floor, in time."""
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    frame = forecast_frame(NOW, p90=300.0)
    frame.loc[frame.index >= NOW + 15 * MIN, ["p50", "p90"]] = [1600.0, 2000.0]  # a spike at 20:15
    forecasts = FakeForecasts(**{"live-api": ForecastResult(frame=frame, history=history(NOW))})
    ctl = make(kube, forecasts)
    ctl.tick(NOW)
    assert floor(fake_api) == 3

    forecasts.by_policy["live-api"] = prometheus_down()
    ctl.tick(NOW + MIN)
    assert floor(fake_api) == 3  # the spike is beyond lead time + interval still
    [outcome] = ctl.tick(NOW + 11 * MIN)  # 20:11 + 3m lead + 1m interval reaches 20:15
    assert floor(fake_api) == 20 and outcome.action.startswith("FloorRaised")
    assert ready(fake_api)["reason"] == "HoldingLastForecast"


def test_holding_without_an_autoscaler_underneath_never_lowers_capacity(fake_api, kube):
    """Replicas actuator: a last good forecast that falls is not followed down (no HPA would catch a miss),
    and once it has run out the replicas are kept, never scaled down without data."""
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(scaleDown={"stabilizationWindow": "1m"}))
    index = pd.date_range(NOW + MIN, periods=30, freq="1min")
    falling = np.where(index < NOW + 5 * MIN, 1200.0, 300.0)
    frame = pd.DataFrame({"p50": falling * 0.8, "p90": falling}, index=index)
    forecasts = FakeForecasts(**{"live-api": ForecastResult(frame=frame, history=history(NOW, value=500.0))})
    ctl = make(kube, forecasts)
    ctl.tick(NOW)
    replicas = fake_api.get("deployments", NS, "live-api")["spec"]["replicas"]
    assert replicas == 12

    forecasts.by_policy["live-api"] = prometheus_down()
    [holding] = ctl.tick(NOW + 10 * MIN)  # the old forecast now says 3
    assert fake_api.get("deployments", NS, "live-api")["spec"]["replicas"] == 12 and holding.desired == 12
    assert "then holding capacity" in holding.message

    [after] = ctl.tick(NOW + 40 * MIN)  # beyond the forecast's horizon
    assert fake_api.get("deployments", NS, "live-api")["spec"]["replicas"] == 12
    assert after.desired == 12 and "keeping 12, never scaling down without data" in after.message
    assert ready(fake_api)["reason"] == "ForecastUnavailable"
