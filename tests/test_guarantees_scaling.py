"""The prescaler's decision at its edges, table-driven with a fixed ``now``: the message operators read for every
reason, the boundaries of stabilisation and rate limits, the rise test, and config errors that name the field.

(``decide`` is shared by the controller and the replay, so what is pinned here holds for both.)
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.scaling import ScalingPolicy, ScalingState, decide, nodes_needed

NOW = pd.Timestamp("2026-01-05 20:00:00")
T = pd.Timedelta
BASE = ScalingPolicy(
    capacity_per_replica=100, min_replicas=2, max_replicas=20, lead_time_s=180, interval_s=60
)
AT = "at 2026-01-05 20:00"


def fc(p90: list[float], p50: list[float] | None = None, *, start: pd.Timestamp = NOW) -> pd.DataFrame:
    index = pd.date_range(start, periods=len(p90), freq="1min")
    p50 = p50 if p50 is not None else [v * 0.8 for v in p90]
    return pd.DataFrame({"p50": p50, "p90": p90}, index=index)


def st(
    last: int | None, recs: list[tuple[float, int]] = (), down_min_ago: float | None = None
) -> ScalingState:
    return ScalingState(
        recommendations=tuple((NOW - T(minutes=m), r) for m, r in recs),
        last_desired=last,
        last_scale_down_at=None if down_min_ago is None else NOW - T(minutes=down_min_ago),
    )


FLAT = fc([500] * 6)
SLOW_DOWN = BASE.replace(scale_down_max_step=2, scale_down_stabilization_s=0)
CASES = [
    # (description, forecast, policy, state) -> (desired, raw, reason, message, last_scale_down_at)
    (
        "plain",
        FLAT,
        BASE,
        st(None),
        (5, 5, "forecast", f"p90 peak 500 {AT} / 100 per replica = 5 replicas", None),
    ),
    (
        "headroom",
        FLAT,
        BASE.replace(headroom=0.1),
        st(None),
        (6, 6, "forecast", f"p90 peak 500 {AT} +10% headroom / 100 per replica = 6 replicas", None),
    ),
    (
        "below min",
        fc([50] * 6),
        BASE,
        st(None),
        (
            2,
            1,
            "bound_min",
            f"p90 peak 50 {AT} / 100 per replica = 1 replicas, raised to min_replicas 2",
            None,
        ),
    ),
    (
        "above max",
        fc([5000] * 6),
        BASE,
        st(None),
        (
            20,
            50,
            "bound_max",
            f"p90 peak 5000 {AT} / 100 per replica = 50 replicas, capped at max_replicas 20",
            None,
        ),
    ),
    (
        "exactly max is a plain forecast",
        fc([2000] * 6),
        BASE,
        st(None),
        (20, 20, "forecast", f"p90 peak 2000 {AT} / 100 per replica = 20 replicas", None),
    ),
    (
        "an idle forecast with min 0 plans 0",
        fc([0] * 6),
        BASE.replace(min_replicas=0),
        st(None),
        (0, 0, "forecast", f"p90 peak 0 {AT} / 100 per replica = 0 replicas", None),
    ),
    (
        "stabilising",
        FLAT,
        BASE,
        st(9, [(2, 9)]),
        (
            9,
            5,
            "stabilizing",
            f"p90 peak 500 {AT} / 100 per replica = 5 replicas; holding 9 (highest recommendation in the "
            "last 300s) before scaling down",
            None,
        ),
    ),
    (
        "a recommendation made at this very instant counts",
        FLAT,
        BASE,
        ScalingState(recommendations=((NOW, 9),), last_desired=9),
        (9, 5, "stabilizing", None, None),
    ),
    (
        "rate limited",
        FLAT,
        SLOW_DOWN,
        st(9),
        (
            7,
            5,
            "rate_limited",
            f"p90 peak 500 {AT} / 100 per replica = 5 replicas; scaling down by at most 2 per 60s: 7",
            NOW,
        ),
    ),
    (
        "rate limited, one per period",
        FLAT,
        BASE.replace(scale_down_max_step=1, scale_down_stabilization_s=0),
        st(9),
        (8, 5, "rate_limited", None, NOW),
    ),
    (
        "a step down exactly the allowed size is not limited",
        FLAT,
        SLOW_DOWN.replace(scale_down_max_step=4),
        st(9),
        (5, 5, "forecast", None, NOW),
    ),
    (
        "inside the rate period: no step down at all",
        FLAT,
        SLOW_DOWN.replace(scale_down_period_s=120),
        st(9, down_min_ago=1),
        (
            9,
            5,
            "rate_limited",
            f"p90 peak 500 {AT} / 100 per replica = 5 replicas; scaling down by at most 2 per 120s: 9",
            NOW - T(minutes=1),
        ),
    ),
    (
        "the rate period just over: step down again",
        FLAT,
        SLOW_DOWN.replace(scale_down_period_s=120),
        st(9, down_min_ago=2),
        (7, 5, "rate_limited", None, NOW),
    ),
    (
        "rise plan, flat median: the floor is released",
        fc([500] * 8, [400] * 8),
        BASE.replace(plan="rise"),
        st(None),
        (
            2,
            5,
            "no_rise",
            "no rise the HPA cannot follow is forecast (p90 peak 500 at 2026-01-05 20:03 / 100 per replica = 5 "
            "replicas): floor released to 2",
            None,
        ),
    ),
    (
        "rise plan: the median at the lead horizon beats the next step's by more than the threshold",
        fc([500, 875, 875, 1000, 1000, 1000, 1000, 1000], [400, 700, 700, 800, 800, 800, 800, 800]),
        BASE.replace(plan="rise", rise_threshold=0.5),
        st(None),
        (10, 10, "forecast", "p90 peak 1000 at 2026-01-05 20:03 / 100 per replica = 10 replicas", None),
    ),
    (
        "rise plan without a usable median: plan on the quantile (never drop a floor for lack of a median)",
        fc([500] * 8, [float("nan")] * 8),
        BASE.replace(plan="rise"),
        st(None),
        (5, 5, "forecast", "p90 peak 500 at 2026-01-05 20:03 / 100 per replica = 5 replicas", None),
    ),
    (
        "held by stabilisation inside a rate period: still 'stabilizing', not rate limited",
        FLAT,
        BASE.replace(scale_down_max_step=2),
        st(9, [(2, 9)], down_min_ago=0.5),
        (9, 5, "stabilizing", None, NOW - T(minutes=0.5)),
    ),
    (
        "no forecast: keep the last desired, and the state",
        None,
        BASE,
        st(7, [(1, 7)], down_min_ago=3),
        (
            7,
            7,
            "no_forecast",
            "no usable forecast for 2026-01-05 20:00 .. +240s (missing, empty, stale or NaN): keeping 7 replicas, "
            "never scaling down without data",
            NOW - T(minutes=3),
        ),
    ),
    (
        "a forecast row at exactly now counts for the peak plan",
        fc([900]),
        BASE,
        st(None),
        (9, 9, "forecast", f"p90 peak 900 {AT} / 100 per replica = 9 replicas", None),
    ),
    (
        "a forecast with only the planned column is enough for the peak plan",
        fc([500] * 6)[["p90"]],
        BASE,
        st(None),
        (5, 5, "forecast", None, None),
    ),
]


@pytest.mark.parametrize(
    ("description", "forecast", "policy", "state", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_decide_reasons_messages_and_state(description, forecast, policy, state, expected):
    d = decide(forecast=forecast, policy=policy, state=state, now=NOW, current_replicas=3)
    desired, raw, reason, message, last_down = expected
    assert (d.desired_replicas, d.raw_replicas, d.reason) == (desired, raw, reason)
    if message is not None:  # rows without one pin numbers only
        assert d.message == message
    assert d.state.last_desired == desired
    assert d.state.last_scale_down_at == last_down
    kept = tuple(
        (t, r) for t, r in state.recommendations if t > NOW - T(seconds=policy.scale_down_stabilization_s)
    )
    if reason == "no_forecast":
        assert d.state.recommendations == kept  # the window's memory survives a forecast outage
    else:
        assert d.state.recommendations[:-1] == kept


@pytest.mark.parametrize(
    ("forecast", "problem"),
    [
        (fc([500] * 6)[["p50"]], "the forecast has no p90 column (it has p50)"),
        (
            fc([500] * 6)[["p50"]].rename(columns={"p50": "p95"}),
            "the forecast has no p90 column (it has p95)",
        ),
        (
            pd.DataFrame(index=pd.date_range(NOW, periods=3, freq="1min")),
            "the forecast has no p90 column (it has none)",
        ),
    ],
)
def test_a_forecast_without_the_planned_quantile_names_what_it_has(forecast, problem):
    with pytest.raises(ConfigError) as err:
        decide(forecast=forecast, policy=BASE, state=ScalingState(), now=NOW, current_replicas=3)
    assert err.value.problem == problem
    assert err.value.hint == "plan on a quantile the model predicts, or retrain the model with that quantile"


def test_capping_at_the_median_needs_a_median():
    with pytest.raises(ConfigError) as err:
        decide(
            forecast=fc([500] * 6)[["p90"]],
            policy=BASE.replace(max_over_median=0.5),
            state=ScalingState(),
            now=NOW,
            current_replicas=3,
        )
    assert err.value.problem == "the forecast has no p50 column (it has p90)"


def _policy_error(**kw) -> tuple[str, str | None]:
    with pytest.raises(ConfigError) as err:
        ScalingPolicy(**{"capacity_per_replica": 100, **kw})
    return err.value.problem, err.value.hint


@pytest.mark.parametrize(
    ("kw", "problem", "hint"),
    [
        (
            {"capacity_per_replica": 0},
            "capacity_per_replica must be a positive number, got 0",
            "the load one replica serves at full use, e.g. 100 (requests/s)",
        ),
        (
            {"capacity_per_replica": "lots"},
            "capacity_per_replica must be a positive number, got 'lots'",
            "the load one replica serves at full use, e.g. 100 (requests/s)",
        ),
        ({"min_replicas": -1}, "min_replicas must be a whole number >= 0, got -1", "e.g. 1"),
        ({"min_replicas": 1.5}, "min_replicas must be a whole number >= 0, got 1.5", "e.g. 1"),
        (
            {"scale_down_max_step": True},
            "scale_down_max_step must be a whole number >= 0, got True",
            "e.g. 1",
        ),
        ({"max_replicas": 0, "min_replicas": 0}, "max_replicas must be at least 1, got 0", "e.g. 100"),
        (
            {"min_replicas": 5, "max_replicas": 4},
            "min_replicas (5) is above max_replicas (4)",
            "lower min_replicas or raise max_replicas",
        ),
        ({"quantile": 0}, "quantile must be between 0 and 1 exclusive, got 0", "e.g. 0.9"),
        ({"quantile": 1}, "quantile must be between 0 and 1 exclusive, got 1", "e.g. 0.9"),
        ({"headroom": -0.1}, "headroom must be a fraction in [0, 10], got -0.1", "0.1 = +10%"),
        ({"headroom": 10.5}, "headroom must be a fraction in [0, 10], got 10.5", "0.1 = +10%"),
        ({"rise_threshold": -0.1}, "rise_threshold must be a fraction >= 0, got -0.1", "e.g. 0.05"),
        ({"max_over_median": 10.5}, "max_over_median must be a fraction in [0, 10], got 10.5", "0 = no cap"),
        ({"max_over_median": -1}, "max_over_median must be a fraction in [0, 10], got -1", "0 = no cap"),
        ({"lead_time_s": -1}, "lead_time_s must be seconds >= 0, got -1", "e.g. 180"),
        (
            {"scale_down_stabilization_s": float("nan")},
            "scale_down_stabilization_s must be seconds >= 0, got nan",
            "e.g. 180",
        ),
        ({"interval_s": 0}, "interval_s must be seconds > 0, got 0", "e.g. 60"),
        ({"scale_down_period_s": 0}, "scale_down_period_s must be seconds > 0, got 0", "e.g. 60"),
        ({"plan": "steady"}, "plan must be one of peak, rise, shift, got 'steady'", "e.g. plan: rise"),
    ],
)
def test_bad_scaling_policy_names_the_field_and_what_to_do(kw, problem, hint):
    assert _policy_error(**kw) == (f"scaling policy: {problem}", hint)


def test_scaling_policy_boundaries_are_accepted():
    ScalingPolicy(
        capacity_per_replica=0.5,
        min_replicas=1,
        max_replicas=1,
        quantile=0.01,
        headroom=10,
        max_over_median=10,
        rise_threshold=0,
        lead_time_s=0,
        scale_down_stabilization_s=0,
        interval_s=0.5,
        scale_down_period_s=0.5,
    )
    assert ScalingPolicy(capacity_per_replica=100, min_replicas=4, max_replicas=4).column == "p90"


@pytest.mark.parametrize(
    ("kw", "nodes"),
    [
        ({"replicas": 9, "pod_request": 0.5, "node_allocatable": 1.0}, 5),
        ({"replicas": 9, "pod_request": 1, "node_allocatable": 4, "max_pods_per_node": 1}, 9),
        ({"replicas": 9, "pod_request": 0.5, "node_allocatable": 0.5}, 9),
        ({"replicas": 0, "pod_request": 1, "node_allocatable": 4, "min_nodes": 2}, 2),
        ({"replicas": 30, "pod_request": 1, "node_allocatable": 4, "max_nodes": 5}, 5),
        ({"replicas": 30, "pod_request": 1, "node_allocatable": 4, "min_nodes": 2, "max_nodes": 2}, 2),
    ],
)
def test_nodes_needed_edges(kw, nodes):
    assert nodes_needed(**kw) == nodes


@pytest.mark.parametrize(
    ("kw", "problem", "hint"),
    [
        ({"replicas": -1}, "nodes_needed: replicas must be a whole number >= 0, got -1", None),
        ({"replicas": 1.5}, "nodes_needed: replicas must be a whole number >= 0, got 1.5", None),
        ({"replicas": True}, "nodes_needed: replicas must be a whole number >= 0, got True", None),
        ({"pod_request": 0}, "nodes_needed: pod_request must be > 0, got 0", "e.g. 0.5 (cores)"),
        ({"pod_request": float("nan")}, "nodes_needed: pod_request must be > 0, got nan", "e.g. 0.5 (cores)"),
        ({"node_allocatable": 0}, "nodes_needed: node_allocatable must be > 0, got 0", None),
        ({"node_allocatable": float("inf")}, "nodes_needed: node_allocatable must be > 0, got inf", None),
        ({"max_pods_per_node": 0}, "nodes_needed: max_pods_per_node must be >= 1, got 0", None),
        (
            {"pod_request": 2, "node_allocatable": 1},
            "nodes_needed: a pod requesting 2 does not fit a node with 1 allocatable",
            "use bigger nodes or smaller pod requests",
        ),
        ({"min_nodes": 3, "max_nodes": 2}, "nodes_needed: max_nodes (2) is below min_nodes (3)", None),
    ],
)
def test_bad_node_sizing_input_names_the_field(kw, problem, hint):
    with pytest.raises(ConfigError) as err:
        nodes_needed(**{"replicas": 3, "pod_request": 1, "node_allocatable": 4, **kw})
    assert (err.value.problem, err.value.hint) == (problem, hint)
