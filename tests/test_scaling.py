"""The prescaler's pure decision: table-driven, fixed ``now``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.scaling import REASONS, Decision, ScalingPolicy, ScalingState, decide, nodes_needed

NOW = pd.Timestamp("2026-01-05 20:00:00")
T = pd.Timedelta


def fc(p90: list[float], p50: list[float] | None = None, *, start: pd.Timestamp = NOW) -> pd.DataFrame:
    """A 1-minute forecast whose first row is at ``start``."""
    index = pd.date_range(start, periods=len(p90), freq="1min")
    p50 = p50 if p50 is not None else [v * 0.8 for v in p90]
    return pd.DataFrame({"p50": p50, "p90": p90}, index=index)


BASE = ScalingPolicy(
    capacity_per_replica=100, min_replicas=2, max_replicas=20, lead_time_s=180, interval_s=60
)


def state(
    last: int | None, recs: list[tuple[int, int]] = (), last_down_min_ago: int | None = None
) -> ScalingState:
    """``recs`` as (minutes ago, replicas)."""
    return ScalingState(
        recommendations=tuple((NOW - T(minutes=m), r) for m, r in recs),
        last_desired=last,
        last_scale_down_at=None if last_down_min_ago is None else NOW - T(minutes=last_down_min_ago),
    )


CASES = [
    # (description, forecast, policy, state, current, desired, raw, reason)
    (
        "peak inside [now, now + lead + interval] sets the need; +5 min is outside",
        fc([300, 500, 420, 410, 490, 900]),
        BASE,
        state(None),
        3,
        5,
        5,
        "forecast",
    ),
    (
        "a peak after now + lead + interval is ignored",
        fc([300, 300, 300, 300, 300, 2000]),
        BASE,
        state(None),
        3,
        3,
        3,
        "forecast",
    ),
    (
        "headroom is applied before rounding up",
        fc([500] * 6),
        BASE.replace(headroom=0.1),
        state(None),
        3,
        6,
        6,
        "forecast",
    ),
    ("exact multiples do not round up", fc([400] * 6), BASE, state(None), 3, 4, 4, "forecast"),
    (
        "quantile picks the column",
        fc([400] * 6, p50=[150] * 6),
        BASE.replace(quantile=0.5),
        state(None),
        3,
        2,
        2,
        "forecast",
    ),
    ("below min_replicas is raised", fc([50] * 6), BASE, state(None), 3, 2, 1, "bound_min"),
    ("above max_replicas is capped", fc([5000] * 6), BASE, state(None), 3, 20, 50, "bound_max"),
    ("scale up happens at once", fc([900] * 6), BASE, state(4, [(1, 4)]), 4, 9, 9, "forecast"),
    (
        "scale down waits for the stabilisation window",
        fc([300] * 6),
        BASE,
        state(8, [(4, 8), (2, 6)]),
        8,
        8,
        3,
        "stabilizing",
    ),
    (
        "scale down to the highest recommendation still inside the window",
        fc([300] * 6),
        BASE,
        state(8, [(6, 8), (2, 6)]),
        8,
        6,
        3,
        "stabilizing",
    ),
    ("scale down after the window has passed", fc([300] * 6), BASE, state(8, [(6, 8)]), 8, 3, 3, "forecast"),
    (
        "scale down by at most the step",
        fc([300] * 6),
        BASE.replace(scale_down_max_step=2, scale_down_stabilization_s=0),
        state(8, [(6, 8)]),
        8,
        6,
        3,
        "rate_limited",
    ),
    (
        "no second scale down inside the period",
        fc([300] * 6),
        BASE.replace(scale_down_max_step=2, scale_down_period_s=120, scale_down_stabilization_s=0),
        state(6, [], last_down_min_ago=1),
        6,
        6,
        3,
        "rate_limited",
    ),
    ("no forecast keeps the last desired value", None, BASE, state(9), 4, 9, 9, "no_forecast"),
    ("no forecast and no past keeps the current replicas", None, BASE, state(None), 7, 7, 7, "no_forecast"),
    ("an empty forecast is no forecast", fc([]), BASE, state(9), 9, 9, 9, "no_forecast"),
    (
        "NaN inside the window is no forecast",
        fc([300, math.nan, 300, 300, 300]),
        BASE,
        state(9),
        9,
        9,
        9,
        "no_forecast",
    ),
    (
        "a stale forecast that ended before now is no forecast",
        fc([300] * 5, start=NOW - T(minutes=30)),
        BASE,
        state(9),
        9,
        9,
        9,
        "no_forecast",
    ),
    (
        "rise plan: a predicted rise at the lead horizon raises the floor",
        fc([400, 400, 400, 1100, 1100, 1100], p50=[300, 300, 300, 900, 900, 900]),
        BASE.replace(plan="rise"),
        state(None),
        3,
        11,
        11,
        "forecast",
    ),
    (
        "rise plan: a flat forecast leaves the level to the HPA",
        fc([400] * 6, p50=[300] * 6),
        BASE.replace(plan="rise", scale_down_stabilization_s=0),
        state(None),
        3,
        2,
        4,
        "no_rise",
    ),
    (
        "rise plan: a rise below the threshold leaves it to the HPA",
        fc([400] * 3 + [440] * 3, p50=[300] * 3 + [320] * 3),
        BASE.replace(plan="rise", rise_threshold=0.1, scale_down_stabilization_s=0),
        state(None),
        3,
        2,
        5,
        "no_rise",
    ),
    (
        "rise plan: a peak before the lead horizon is the HPA's job",
        fc([400, 1500, 400, 400, 400, 400], p50=[300, 1400, 300, 300, 300, 300]),
        BASE.replace(plan="rise", scale_down_stabilization_s=0),
        state(None),
        3,
        2,
        4,
        "no_rise",
    ),
    (
        "rise plan: a raised floor is held by the stabilisation window after the rise",
        fc([1100] * 6, p50=[900] * 6),
        BASE.replace(plan="rise", scale_down_stabilization_s=180),
        state(11, [(1, 11)]),
        11,
        11,
        11,
        "stabilizing",
    ),
    (
        "shift plan: only [now + lead, now + lead + interval] counts; a spike before it is the running pods' job",
        fc([300, 1500, 1500, 600, 650, 300]),
        BASE.replace(plan="shift", scale_down_stabilization_s=0),
        state(None),
        3,
        7,
        7,
        "forecast",
    ),
    (
        "shift plan: a rise at the lead horizon raises the floor before it arrives",
        fc([300, 300, 300, 1100, 1200, 1300]),
        BASE.replace(plan="shift", scale_down_stabilization_s=0),
        state(3, [(1, 3)]),
        3,
        12,
        12,
        "forecast",
    ),
    (
        "shift plan without stabilisation releases the floor at once (the HPA's own window keeps needed pods)",
        fc([300] * 6),
        BASE.replace(plan="shift", scale_down_stabilization_s=0),
        state(12, [(1, 12)]),
        12,
        3,
        3,
        "forecast",
    ),
    (
        "max_over_median caps a wide band at p50 x (1 + cap)",
        fc([2000] * 6, p50=[500] * 6),
        BASE.replace(plan="shift", max_over_median=0.2, scale_down_stabilization_s=0),
        state(None),
        3,
        6,
        6,
        "forecast",
    ),
    (
        "max_over_median leaves a band narrower than the cap alone",
        fc([550] * 6, p50=[500] * 6),
        BASE.replace(plan="shift", max_over_median=0.2, scale_down_stabilization_s=0),
        state(None),
        3,
        6,
        6,
        "forecast",
    ),
    (
        "max_over_median applies per step: the cap of one step does not lift another",
        fc([300, 300, 300, 900, 2000, 300], p50=[300, 300, 300, 850, 400, 300]),
        BASE.replace(plan="shift", max_over_median=0.25, scale_down_stabilization_s=0),
        state(None),
        3,
        9,
        9,
        "forecast",
    ),
]


@pytest.mark.parametrize(
    ("forecast", "policy", "st", "current", "desired", "raw", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide_table(forecast, policy, st, current, desired, raw, reason) -> None:
    d = decide(forecast=forecast, policy=policy, state=st, now=NOW, current_replicas=current)
    assert isinstance(d, Decision)
    assert (d.desired_replicas, d.raw_replicas, d.reason) == (desired, raw, reason), d.message
    assert d.reason in REASONS
    assert d.message
    assert d.state.last_desired == desired


def test_decision_reports_peak_and_when() -> None:
    d = decide(
        forecast=fc([300, 500, 420, 410]), policy=BASE, state=ScalingState(), now=NOW, current_replicas=3
    )
    assert d.forecast_peak == 500
    assert d.forecast_peak_at == NOW + T(minutes=1)
    assert "p90 peak 500 at 2026-01-05 20:01" in d.message


def test_state_carries_recommendations_and_prunes_old_ones() -> None:
    st = state(8, [(10, 8), (2, 6)])
    d = decide(forecast=fc([300] * 6), policy=BASE, state=st, now=NOW, current_replicas=8)
    assert [r for _, r in d.state.recommendations] == [6, 3]
    assert d.state.recommendations[-1][0] == NOW


def test_sequence_scales_up_then_down_after_window() -> None:
    policy = BASE.replace(scale_down_stabilization_s=120)
    st = ScalingState()
    out = []
    loads = [900, 900, 300, 300, 300, 300]
    for i, load in enumerate(loads):
        now = NOW + T(minutes=i)
        d = decide(forecast=fc([load] * 6, start=now), policy=policy, state=st, now=now, current_replicas=0)
        st = d.state
        out.append(d.desired_replicas)
    # Recommendations 9,9,3,...: the 9 of minute 1 leaves the 120 s window at minute 3.
    assert out == [9, 9, 9, 3, 3, 3]


def test_no_forecast_never_scales_down_even_after_a_high_value() -> None:
    d = decide(forecast=None, policy=BASE, state=state(15), now=NOW, current_replicas=3)
    assert d.desired_replicas == 15


def test_missing_quantile_column_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="p95"):
        decide(
            forecast=fc([1] * 5),
            policy=BASE.replace(quantile=0.95),
            state=ScalingState(),
            now=NOW,
            current_replicas=1,
        )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"capacity_per_replica": 0}, "capacity_per_replica"),
        ({"capacity_per_replica": float("nan")}, "capacity_per_replica"),
        ({"min_replicas": 5, "max_replicas": 3}, "min_replicas"),
        ({"min_replicas": -1}, "min_replicas"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"quantile": 1.0}, "quantile"),
        ({"headroom": -0.1}, "headroom"),
        ({"lead_time_s": -1}, "lead_time_s"),
        ({"interval_s": 0}, "interval_s"),
        ({"scale_down_max_step": 1.5}, "scale_down_max_step"),
        ({"plan": "magic"}, "plan"),
        ({"max_over_median": -0.1}, "max_over_median"),
        ({"max_over_median": float("inf")}, "max_over_median"),
    ],
)
def test_policy_validation_names_the_field(changes, field) -> None:
    values = {"capacity_per_replica": 100.0, **changes}
    with pytest.raises(ConfigError, match=field):
        ScalingPolicy(**values)


@pytest.mark.parametrize(
    ("kwargs", "nodes"),
    [
        ({"replicas": 0, "pod_request": 0.5, "node_allocatable": 4}, 0),
        ({"replicas": 8, "pod_request": 0.5, "node_allocatable": 4}, 1),
        ({"replicas": 9, "pod_request": 0.5, "node_allocatable": 4}, 2),
        ({"replicas": 9, "pod_request": 1.5, "node_allocatable": 4}, 5),  # 2 pods per node, no splitting
        ({"replicas": 9, "pod_request": 0.5, "node_allocatable": 4, "max_pods_per_node": 3}, 3),
        ({"replicas": 1, "pod_request": 0.5, "node_allocatable": 4, "min_nodes": 2}, 2),
        ({"replicas": 100, "pod_request": 0.5, "node_allocatable": 4, "max_nodes": 5}, 5),
    ],
)
def test_nodes_needed(kwargs, nodes) -> None:
    assert nodes_needed(**kwargs) == nodes


def test_nodes_needed_rejects_a_pod_bigger_than_a_node() -> None:
    with pytest.raises(ConfigError, match="does not fit"):
        nodes_needed(replicas=1, pod_request=8, node_allocatable=4)


def test_max_over_median_needs_a_median_column() -> None:
    forecast = pd.DataFrame({"p90": [500.0] * 6}, index=pd.date_range(NOW, periods=6, freq="1min"))
    with pytest.raises(ConfigError, match="p50"):
        decide(
            forecast=forecast,
            policy=BASE.replace(plan="shift", max_over_median=0.2),
            state=ScalingState(),
            now=NOW,
            current_replicas=1,
        )


def test_decision_is_deterministic_for_random_forecasts() -> None:
    rng = np.random.default_rng(1)
    f = fc(list(rng.uniform(100, 900, 10)))
    a = decide(forecast=f, policy=BASE, state=ScalingState(), now=NOW, current_replicas=3)
    b = decide(forecast=f, policy=BASE, state=ScalingState(), now=NOW, current_replicas=3)
    assert a == b
