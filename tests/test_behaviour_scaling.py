"""The prescaler's decision as users rely on it (:func:`forecaster.scaling.decide`, :func:`nodes_needed`).

Each test pins one promise of the module docstring at the value where it switches: the plans' windows and
their edges, the rise test, the observed load, stabilisation and rate limits over several ticks, the fail-safe
without a forecast, and forecasts whose index is not in nanoseconds (as read back from Parquet or JSON).
"""

from __future__ import annotations

import pandas as pd

from forecaster.scaling import ScalingPolicy, ScalingState, decide

NOW = pd.Timestamp("2026-04-06 12:00:00")
MIN = pd.Timedelta(minutes=1)

# lead 3 min + interval 1 min: peak plans over minutes 0..4, rise and shift over minutes 3..4.
POLICY = ScalingPolicy(
    capacity_per_replica=100, min_replicas=2, max_replicas=20, lead_time_s=180, interval_s=60
)


def forecast(p90: list[float], p50: list[float] | None = None) -> pd.DataFrame:
    """One row a minute from NOW."""
    index = pd.date_range(NOW, periods=len(p90), freq="1min")
    return pd.DataFrame({"p50": p50 if p50 is not None else p90, "p90": p90}, index=index)


EMPTY = ScalingState()


def run(fc, policy=POLICY, state=EMPTY, now=NOW, current=3, observed=None):
    return decide(
        forecast=fc, policy=policy, state=state, now=now, current_replicas=current, observed_load=observed
    )


# -- the rise plan ------------------------------------------------------------------------------------------


def test_rise_plan_sees_a_rise_anywhere_in_its_lead_window() -> None:
    # The median is flat at the next step and at the lead horizon, then rises at its last minute (now + lead +
    # interval): pods started now are needed by then, so the floor is raised for it.
    fc = forecast([100, 100, 100, 100, 700], p50=[100, 100, 100, 100, 600])
    d = run(fc, POLICY.replace(plan="rise", scale_down_stabilization_s=0))
    assert (d.reason, d.desired_replicas) == ("forecast", 7)
    assert d.forecast_peak_at == NOW + 4 * MIN


def test_rise_plan_compares_with_the_next_step_not_the_end_of_the_forecast() -> None:
    # A rise at the lead horizon counts even when the forecast later climbs higher still (beyond the window).
    fc = forecast([100, 100, 100, 400, 400, 900, 900], p50=[100, 100, 100, 400, 400, 900, 900])
    d = run(fc, POLICY.replace(plan="rise", scale_down_stabilization_s=0))
    assert (d.reason, d.desired_replicas) == ("forecast", 4)


def test_rise_plan_threshold_is_strict_and_relative_to_the_next_step() -> None:
    policy = POLICY.replace(plan="rise", rise_threshold=0.5, scale_down_stabilization_s=0)
    # 150 is exactly +50% over 100: not more than the threshold, the HPA follows it.
    at = run(forecast([100, 100, 100, 150, 150], p50=[100, 100, 100, 150, 150]), policy)
    assert (at.reason, at.desired_replicas) == ("no_rise", 2)
    above = run(forecast([100, 100, 100, 151, 151], p50=[100, 100, 100, 151, 151]), policy)
    assert (above.reason, above.desired_replicas) == ("forecast", 2)
    big = run(forecast([100, 100, 100, 500, 500], p50=[100, 100, 100, 500, 500]), policy)
    assert (big.reason, big.desired_replicas) == ("forecast", 5)
