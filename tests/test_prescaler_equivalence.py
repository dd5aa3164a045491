"""The replay measures what the controller does: on the same trace and forecasts, the HPA floor the controller
sets each minute (through the fake API server) equals the floor the simulator plans, with the same reasons."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from forecaster.hpa import HPAConfig
from forecaster.prescaler.forecasts import ForecastResult
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy import parse_policy
from forecaster.prescaler.policy_sources import CrdPolicySource
from forecaster.simulate import ReplayConfig, replay
from tests import prescaler_helpers
from tests.prescaler_helpers import NS, FakeForecasts, deployment, hpa, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

START = pd.Timestamp("2024-05-01 18:00:00")
MINUTES = 150
REPLAY_FROM = 30


def trace(minutes: int = MINUTES) -> pd.Series:
    """A daily-ish wave, a spike and a drop: every decision reason (forecast, bounds, stabilising) shows up."""
    t = np.arange(minutes, dtype=float)
    load = 600 + 300 * np.sin(t / 20.0)
    load[70:85] += 1800  # a spike
    load[110:] = 50  # a quiet end: the floor falls to min_replicas, stabilised and rate limited
    return pd.Series(load, index=pd.date_range(START, periods=minutes, freq="1min"))


def forecasts_from(load: pd.Series):
    """Forecast = the true next 30 minutes (p50) and 20% above it (p90): deterministic, never missing."""

    def forecast_fn(history: pd.Series | None, now: pd.Timestamp) -> pd.DataFrame:
        future = load[(load.index > now) & (load.index <= now + pd.Timedelta(minutes=30))]
        return pd.DataFrame({"p50": future.to_numpy(), "p90": future.to_numpy() * 1.2}, index=future.index)

    return forecast_fn


@pytest.mark.parametrize(
    "spec",
    [
        {"plan": "peak"},
        {"plan": "shift", "maxOverMedian": 0.1, "actuator": "HPAFloor"},
        {"plan": "peak", "headroomPercent": 10, "scaleDown": {"stabilizationWindow": "3m", "maxStep": 2}},
    ],
    ids=["peak", "shift-capped", "headroom-rate-limited"],
)
def test_controller_and_simulator_decide_the_same_floor_every_minute(fake_api, kube, spec):
    load = trace()
    forecast_fn = forecasts_from(trace(MINUTES + 40))  # the forecasts see past the replay's end
    obj = policy(minReplicas=1, maxReplicas=25, **spec)
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=1, max_replicas=100))
    fake_api.put(obj)

    def provide(now: pd.Timestamp) -> ForecastResult:
        return ForecastResult(frame=forecast_fn(None, now), history=load[load.index < now])

    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=FakeForecasts(**{"live-api": provide}),
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
    )
    floors, reasons = [], Counter()
    for now in load.index[REPLAY_FROM:]:
        [outcome] = ctl.tick(now)
        assert outcome.ready, outcome.message
        floors.append(fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"])
        reasons[outcome.reason] += 1

    scaling = parse_policy(obj).scaling
    config = ReplayConfig(hpa=HPAConfig(capacity_per_replica=100, max_replicas=100), policy=scaling)
    result = replay(
        load,
        config=config,
        forecast_fn=forecast_fn,
        replay_start=load.index[REPLAY_FROM],
        include=("prescaler",),
    )

    simulated = result.runs["prescaler"].floor
    assert simulated is not None
    assert floors == simulated.astype(int).tolist()
    assert reasons == Counter(result.reasons)
    assert len(set(floors)) > 3  # the scenario moves the floor: the comparison is not between constants
