"""What a status write needs (pure): compaction keeps every decision, a restart never shortens the window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.prescaler.status_diff import compact, material, widen_after_restart
from forecaster.scaling import ScalingPolicy, ScalingState, decide

NOW = pd.Timestamp("2026-01-05 20:00:00")
POLICY = ScalingPolicy(
    capacity_per_replica=100,
    min_replicas=1,
    max_replicas=40,
    lead_time_s=180,
    interval_s=60,
    scale_down_stabilization_s=300,
)


def forecast(now: pd.Timestamp, peak: float) -> pd.DataFrame:
    index = pd.date_range(now, periods=10, freq="1min")
    return pd.DataFrame({"p50": [peak * 0.5] * 10, "p90": [peak] * 10}, index=index)


def run(peaks: list[float], *, state: ScalingState, start: pd.Timestamp, squeeze: bool) -> list[int]:
    desired = []
    for k, peak in enumerate(peaks):
        now = start + pd.Timedelta(minutes=k)
        d = decide(forecast=forecast(now, peak), policy=POLICY, state=state, now=now, current_replicas=5)
        state = compact(d.state) if squeeze else d.state
        desired.append(d.desired_replicas)
    return desired


@pytest.mark.parametrize("seed", range(8))
def test_compacted_recommendations_give_every_decision_the_full_ones_give(seed):
    rng = np.random.default_rng(seed)
    peaks = list(rng.choice([150.0, 250.0, 420.0, 900.0, 1300.0], size=60))
    full = run(peaks, state=ScalingState(), start=NOW, squeeze=False)
    assert run(peaks, state=ScalingState(), start=NOW, squeeze=True) == full
    assert len(set(full)) > 2, "the sequence scales up and down"


def test_compaction_keeps_one_entry_for_a_steady_recommendation():
    steady = ScalingState(recommendations=tuple((NOW + pd.Timedelta(minutes=k), 6) for k in range(5)))
    assert compact(steady).recommendations == ((NOW + pd.Timedelta(minutes=4), 6),)
    falling = ScalingState(recommendations=((NOW, 9), (NOW + pd.Timedelta(minutes=1), 7)))
    assert compact(falling) == falling  # 9 is still the window's highest until it leaves


def facts(state: ScalingState) -> tuple:
    """What :func:`material` compares of a saved state: the values, not the times."""
    return ([r for _, r in state.recommendations], state.last_desired, state.last_scale_down_at)


@pytest.mark.parametrize("restart_at", [7, 12, 19, 23])
@pytest.mark.parametrize("seed", range(6))
def test_a_state_read_after_a_restart_never_scales_down_sooner(seed, restart_at):
    """The controller writes the state when its values change, its times only every refresh (5 minutes):
    the saved one lags in time; widened, it holds capacity at least as long as the running one."""
    rng = np.random.default_rng(seed)
    peaks = list(rng.choice([150.0, 420.0, 1300.0], size=25)) + [100.0] * 12  # then a long quiet spell
    state = saved = ScalingState()
    written = NOW
    for k, peak in enumerate(peaks[:restart_at]):
        now = NOW + pd.Timedelta(minutes=k)
        d = decide(forecast=forecast(now, peak), policy=POLICY, state=state, now=now, current_replicas=5)
        state = compact(d.state)
        if facts(state) != facts(saved) or now - written >= pd.Timedelta(minutes=5):
            saved, written = state, now
    start = NOW + pd.Timedelta(minutes=restart_at)
    kept_running = run(peaks[restart_at:], state=state, start=start, squeeze=True)
    widened = widen_after_restart(saved, refresh_s=300, now=start)
    restarted = run(peaks[restart_at:], state=widened, start=start, squeeze=True)
    assert all(r >= k for r, k in zip(restarted, kept_running, strict=True)), (restarted, kept_running)
    assert restarted[-1] == kept_running[-1] == 1, "both let go once the quiet spell outlasts the window"


def test_material_ignores_what_follows_the_clock_and_sees_everything_else():
    status = {
        "desiredReplicas": 3,
        "forecastPeak": 250.0,
        "forecastPeakTime": "2026-01-05T20:03:00Z",
        "message": "p90 peak 250 at 20:03",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "p90 peak 250"}
        ],
        "scalingState": {
            "recommendations": [{"time": "2026-01-05T20:00:00Z", "replicas": 3}],
            "lastDesired": 3,
        },
        "accuracy": {"guardActive": False, "error": 0.1},
    }
    moved = {
        **status,
        "forecastPeak": 251.0,
        "forecastPeakTime": "2026-01-05T20:04:00Z",
        "message": "p90 peak 251 at 20:04",
        "conditions": [{**status["conditions"][0], "message": "p90 peak 251"}],
        "scalingState": {
            "recommendations": [{"time": "2026-01-05T20:01:00Z", "replicas": 3}],
            "lastDesired": 3,
        },
        "accuracy": {"guardActive": False, "error": 0.12},
    }
    assert material(moved) == material(status)
    for change in (
        {"desiredReplicas": 4},
        {"conditions": [{**status["conditions"][0], "status": "False", "reason": "ForecastUnavailable"}]},
        {"scalingState": {"recommendations": [{"time": "x", "replicas": 5}], "lastDesired": 3}},
        {"accuracy": {"guardActive": True}},
        {"modelVersion": "v2"},
    ):
        assert material({**status, **change}) != material(status), change
