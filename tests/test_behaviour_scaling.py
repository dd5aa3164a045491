"""The prescaler's decision as users rely on it (:func:`forecaster.scaling.decide`, :func:`nodes_needed`).

Each test pins one promise of the module docstring at the value where it switches: the plans' windows and
their edges, the rise test, the observed load, stabilisation and rate limits over several ticks, the fail-safe
without a forecast, and forecasts whose index is not in nanoseconds (as read back from Parquet or JSON).
"""

from __future__ import annotations

import pandas as pd
import pytest

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


def test_rise_plan_releases_a_raised_floor_once_the_window_has_passed():
    # A rise raises the floor; the forecast then stays high but flat (the HPA follows a level): the floor is
    # held through the stabilisation window, then released to min_replicas, never held at the level's need.
    policy = POLICY.replace(plan="rise", scale_down_stabilization_s=180)
    rise = forecast([100, 100, 100, 800, 800], p50=[100, 100, 100, 800, 800])
    flat = forecast([800] * 5, p50=[800] * 5)
    d = run(rise, policy)
    assert (d.reason, d.desired_replicas) == ("forecast", 8)
    state, seen = d.state, []
    for minute in range(1, 6):
        d = run(flat.set_axis(flat.index + minute * MIN), policy, state=state, now=NOW + minute * MIN)
        state = d.state
        seen.append((d.reason, d.desired_replicas))
    assert seen == [("stabilizing", 8), ("stabilizing", 8), ("no_rise", 2), ("no_rise", 2), ("no_rise", 2)]


# -- forecasts as they arrive ---------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_a_forecast_indexed_in_any_time_unit_gives_the_same_decision(unit):
    fc = forecast([300, 500, 420, 410, 490, 900])
    fc = fc.set_axis(pd.DatetimeIndex(fc.index).as_unit(unit))
    d = run(fc)
    assert (d.reason, d.desired_replicas, d.forecast_peak, d.forecast_peak_at) == (
        "forecast",
        5,
        500.0,
        NOW + MIN,
    )


def test_a_gap_after_the_planning_window_does_not_void_the_forecast():
    nan = float("nan")
    d = run(forecast([300, 500, 420, 410, 490, nan, nan]))
    assert (d.reason, d.desired_replicas) == ("forecast", 5)
    capped = run(
        forecast([300, 500, 420, 410, 490, nan], p50=[300, 400, 400, 400, 400, nan]),
        POLICY.replace(max_over_median=0.1),
    )
    assert (capped.reason, capped.desired_replicas) == ("forecast", 5)  # every step capped at 440: 5 replicas
    assert capped.forecast_peak == pytest.approx(440.0)


def test_a_nan_inside_the_planning_window_never_scales_down():
    nan = float("nan")
    d = run(forecast([300, 500, nan, 410, 490, 900]), state=ScalingState(last_desired=9), current=9)
    assert (d.reason, d.desired_replicas) == ("no_forecast", 9)


def test_the_peak_and_when_are_reported_with_the_headroom():
    d = run(forecast([300, 420, 500, 410, 490, 900]), POLICY.replace(headroom=0.1))
    assert d.forecast_peak == 500.0 and d.forecast_peak_at == NOW + 2 * MIN
    assert d.desired_replicas == 6 and d.raw_replicas == 6
    assert "+10% headroom" in d.message and "= 6 replicas" in d.message
    plain = run(forecast([300, 420, 500, 410, 490, 900]))
    assert "headroom" not in plain.message and plain.desired_replicas == 5


# -- stabilisation and rate limits over several ticks -------------------------------------------------------


def _ticks(loads_per_minute, policy, *, start_state=EMPTY, current=3):
    """Decide once a minute from a flat forecast at each minute's load; (reason, desired) per tick."""
    state, out = start_state, []
    for minute, load in enumerate(loads_per_minute):
        now = NOW + minute * MIN
        fc = (
            None
            if load is None
            else forecast([load] * 6).set_axis(pd.date_range(now, periods=6, freq="1min"))
        )
        d = run(fc, policy, state=state, now=now, current=current)
        state = d.state
        out.append((d.reason, d.desired_replicas))
    return out


def test_a_recommendation_counts_for_exactly_the_stabilisation_window():
    # 900 at minute 0 needs 9; then 300 (3). The 9 is held while it is inside the 180 s window (strictly:
    # at minute 3 it is exactly 180 s old and no longer counts, as in the HPA).
    got = _ticks([900, 300, 300, 300, 300], POLICY.replace(scale_down_stabilization_s=180))
    assert got == [("forecast", 9), ("stabilizing", 9), ("stabilizing", 9), ("forecast", 3), ("forecast", 3)]


def test_missing_forecasts_keep_the_stabilisation_memory():
    # The forecast goes missing for two ticks after a high one: the decision keeps 9, and when data comes
    # back low the 9 recommended at minute 0 is still inside the window: no drop before it has passed.
    got = _ticks([900, None, None, 300, 300, 300, 300], POLICY.replace(scale_down_stabilization_s=300))
    assert got == [
        ("forecast", 9),
        ("no_forecast", 9),
        ("no_forecast", 9),
        ("stabilizing", 9),
        ("stabilizing", 9),
        ("forecast", 3),
        ("forecast", 3),
    ]


def test_scale_down_steps_are_limited_per_period_from_the_last_scale_down():
    policy = POLICY.replace(scale_down_stabilization_s=0, scale_down_max_step=2, scale_down_period_s=120)
    got = _ticks([1000, 300, 300, 300, 300, 300, 300], policy)
    # 10 -> 8 at once; no further step until 120 s after it (minute 3), then 8 -> 6, then 6 -> 4 at minute 5.
    assert got == [
        ("forecast", 10),
        ("rate_limited", 8),
        ("rate_limited", 8),
        ("rate_limited", 6),
        ("rate_limited", 6),
        ("rate_limited", 4),
        ("rate_limited", 4),
    ]


def test_a_scale_down_of_exactly_the_step_is_not_rate_limited():
    policy = POLICY.replace(scale_down_stabilization_s=0, scale_down_max_step=2, scale_down_period_s=60)
    assert _ticks([500, 300], policy) == [("forecast", 5), ("forecast", 3)]


def test_without_a_step_limit_consecutive_scale_downs_all_happen_at_once():
    policy = POLICY.replace(scale_down_stabilization_s=0, scale_down_max_step=0, scale_down_period_s=600)
    assert _ticks([1000, 700, 400, 200], policy) == [
        ("forecast", 10),
        ("forecast", 7),
        ("forecast", 4),
        ("forecast", 2),
    ]


def test_the_stabilisation_window_never_holds_above_what_was_last_applied():
    # A rate-limited scale-down applied 8 while 10 was still recommended in the window: the next tick holds
    # at most 8 (stabilisation never scales up).
    policy = POLICY.replace(scale_down_stabilization_s=600, scale_down_max_step=2, scale_down_period_s=60)
    state = ScalingState(
        recommendations=((NOW - 2 * MIN, 10),), last_desired=8, last_scale_down_at=NOW - 2 * MIN
    )
    d = run(forecast([300] * 6), policy, state=state, current=8)
    assert d.desired_replicas == 8 and d.reason == "stabilizing"


def test_the_observed_load_raises_the_floor_only_up_to_max_replicas():
    d = run(forecast([300] * 6), observed=5000.0)
    assert (d.reason, d.desired_replicas) == ("observed_load", 20)
    same = run(forecast([500] * 6), observed=500.0)
    assert (same.reason, same.desired_replicas) == ("forecast", 5)
    headroom = run(forecast([300] * 6), POLICY.replace(headroom=0.5), observed=400.0)
    assert (headroom.reason, headroom.desired_replicas) == ("observed_load", 6)


def test_a_recommendation_stamped_in_the_future_is_not_held():
    # State written by a replica whose clock ran ahead (a failover): a recommendation stamped after now is
    # outside the trailing window and must not hold the floor up; it is dropped from the state too.
    state = ScalingState(recommendations=((NOW + 10 * MIN, 12),), last_desired=6)
    d = run(forecast([300] * 6), POLICY.replace(scale_down_stabilization_s=300), state=state, current=6)
    assert (d.reason, d.desired_replicas) == ("forecast", 3)
    assert d.state.recommendations == ((NOW, 3),)


def test_the_documented_defaults_of_a_policy():
    """peak on the p90 over [now, now + 3 min + 1 min], the HPA's 5-minute scale-down stabilisation, no
    headroom, no rate limit, no cap over the median, 1..100 replicas."""
    p = ScalingPolicy(capacity_per_replica=50)
    assert (p.plan, p.quantile, p.column, p.headroom) == ("peak", 0.9, "p90", 0.0)
    assert (p.lead_time_s, p.interval_s, p.scale_down_stabilization_s) == (180.0, 60.0, 300.0)
    assert (p.scale_down_max_step, p.scale_down_period_s, p.rise_threshold, p.max_over_median) == (
        0,
        60.0,
        0.0,
        0.0,
    )
    assert (p.min_replicas, p.max_replicas) == (1, 100)


def test_rise_plan_compares_with_the_first_known_median_when_the_next_step_has_none():
    # The median of the next step is missing (NaN), the rest flat: the rise test uses the first median known,
    # finds no rise, and leaves the level to the HPA (no floor raised for a gap in the median).
    nan = float("nan")
    flat = forecast([400, 400, 400, 400, 400], p50=[nan, 300, 300, 300, 300])
    d = run(flat, POLICY.replace(plan="rise", scale_down_stabilization_s=0))
    assert (d.reason, d.desired_replicas) == ("no_rise", 2)
    rise = forecast([400, 400, 400, 900, 900], p50=[nan, 300, 300, 800, 800])
    assert run(rise, POLICY.replace(plan="rise", scale_down_stabilization_s=0)).desired_replicas == 9
