"""The HPA model's edges, table-driven with a fixed ``now``: every reason it gives, the stabilisation windows'
boundaries, Kubernetes' default behaviour, and config errors that name the field and the allowed range.

Capacity 100 per pod; the HPA's target is all of it. (The replay-level fidelity checks are in
tests/test_guarantees_replay.py.)
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.hpa import (
    HPAConfig,
    HPAPolicy,
    HPARules,
    HPAState,
    default_scale_down,
    default_scale_up,
    hpa_step,
)

NOW = pd.Timestamp("2026-01-05 20:00:00")
CFG = HPAConfig(capacity_per_replica=100, min_replicas=1, max_replicas=50)
UP_WINDOW = HPAConfig(
    capacity_per_replica=100, max_replicas=50, scale_up=HPARules(60, (HPAPolicy("Percent", 100, 15),))
)
DOWN_ONE_PER_MIN = HPAConfig(
    capacity_per_replica=100, max_replicas=50, scale_down=HPARules(0, (HPAPolicy("Pods", 1, 60),))
)


def ago(seconds: float) -> pd.Timestamp:
    return NOW - pd.Timedelta(seconds=seconds)


def recs(*pairs: tuple[float, int]) -> HPAState:
    return HPAState(recommendations=tuple((ago(s), r) for s, r in pairs))


CASES = [
    # (description, config, state, load, current, ready, floor) -> (desired, proposal, reason, ups, downs)
    (
        "above max: down to max at once, no metric used",
        CFG,
        HPAState(),
        100,
        60,
        60,
        None,
        (50, None, "above max_replicas", (), (10,)),
    ),
    (
        "below the floor: up to it at once",
        CFG,
        HPAState(),
        100,
        1,
        1,
        5,
        (5, None, "below min_replicas", (4,), ()),
    ),
    (
        "a floor of 0 still means one pod",
        CFG,
        HPAState(),
        0,
        2,
        2,
        0,
        (1, 0, "rate or min limited", (), (1,)),
    ),
    ("no metric: nothing changes", CFG, HPAState(), None, 4, 4, None, (4, None, "no metrics", (), ())),
    ("a NaN metric is no metric", CFG, HPAState(), float("nan"), 4, 4, None, (4, None, "no metrics", (), ())),
    ("no ready pod: no metric, keep the scale", CFG, HPAState(), 5000, 4, 0, None, (4, 4, "metrics", (), ())),
    (
        "scale-up window: the lowest proposal in it wins",
        UP_WINDOW,
        recs((30, 12)),
        2000,
        10,
        10,
        None,
        (12, 20, "stabilized", (2,), ()),
    ),
    (
        "scale-up window: a proposal exactly window-old is out",
        UP_WINDOW,
        recs((60, 12)),
        2000,
        10,
        10,
        None,
        (20, 20, "metrics", (10,), ()),
    ),
    (
        "scale-down window: a proposal exactly 300 s old is out",
        CFG,
        recs((300, 10)),
        500,
        10,
        10,
        None,
        (5, 5, "metrics", (), (5,)),
    ),
    (
        "scale-down rate: 1 pod per minute",
        DOWN_ONE_PER_MIN,
        HPAState(),
        500,
        10,
        10,
        None,
        (9, 5, "rate or min limited", (), (1,)),
    ),
    (
        "scale-up rate: max(+100%, +4) per 15 s",
        CFG,
        HPAState(),
        4000,
        3,
        3,
        None,
        (7, 40, "rate or max limited", (4,), ()),
    ),
    (
        "at max: capped, no event",
        CFG,
        HPAState(),
        9000,
        50,
        50,
        None,
        (50, 90, "rate or max limited", (), ()),
    ),
    (
        "one pod starting, ratio within the band once it counts",
        CFG,
        HPAState(),
        1050,
        10,
        9,
        None,
        (10, 10, "metrics", (), ()),
    ),
    (
        "scale-up with starting pods that would turn it into a scale-down: keep",
        CFG,
        HPAState(),
        1500,
        20,
        10,
        None,
        (20, 20, "metrics", (), ()),
    ),
]


@pytest.mark.parametrize(
    ("description", "config", "state", "load", "current", "ready", "floor", "expected"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_hpa_step_reasons_and_events(description, config, state, load, current, ready, floor, expected):
    result = hpa_step(
        config=config,
        state=state,
        now=NOW,
        load=load,
        current_replicas=current,
        ready_replicas=ready,
        min_replicas=floor,
    )
    desired, proposal, reason, ups, downs = expected
    assert (result.desired_replicas, result.proposal, result.reason) == (desired, proposal, reason)
    assert result.state.scale_up_events == tuple((NOW, n) for n in ups)
    assert result.state.scale_down_events == tuple((NOW, n) for n in downs)
    if proposal is None:  # no metric used: no proposal is recorded
        assert result.state.recommendations == state.recommendations
    else:
        assert result.state.recommendations[-1] == (NOW, proposal)


def test_unready_pods_are_not_a_reason_to_change_a_metricless_scale():
    # Every pod starting: there is no metric, so nothing is proposed but the current scale.
    result = hpa_step(config=CFG, state=HPAState(), now=NOW, load=800, current_replicas=3, ready_replicas=0)
    assert result.desired_replicas == 3


def test_old_recommendations_and_scale_events_are_forgotten():
    state = HPAState(
        recommendations=((ago(301), 9), (ago(299), 8)),
        scale_up_events=((ago(1801), 3), (ago(1799), 2)),
        scale_down_events=((ago(1800), 1), (ago(60), 1)),
    )
    result = hpa_step(config=CFG, state=state, now=NOW, load=800, current_replicas=8, ready_replicas=8)
    assert result.state.recommendations == ((ago(299), 8), (NOW, 8))
    assert result.state.scale_up_events == ((ago(1799), 2),)
    assert result.state.scale_down_events == ((ago(60), 1),)


def test_kubernetes_default_behaviour():
    """The documented defaults of autoscaling/v2 ``behavior``."""
    assert default_scale_up() == HPARules(
        stabilization_window_s=0.0,
        policies=(HPAPolicy("Percent", 100, 15), HPAPolicy("Pods", 4, 15)),
        select="Max",
    )
    assert default_scale_down() == HPARules(
        stabilization_window_s=300.0, policies=(HPAPolicy("Percent", 100, 15),), select="Max"
    )
    config = HPAConfig(capacity_per_replica=100)
    assert (config.target_utilisation, config.min_replicas, config.max_replicas, config.tolerance) == (
        1.0,
        1,
        100,
        0.1,
    )
    assert (config.sync_period_s, config.metric_window_s, config.metric_lag_s) == (15.0, 60.0, 60.0)
    assert config.scale_up == default_scale_up() and config.scale_down == default_scale_down()


@pytest.mark.parametrize(
    ("make", "problem", "hint"),
    [
        (lambda: HPAPolicy("pods", 1, 15), "HPA policy type must be Pods or Percent, got 'pods'", None),
        (lambda: HPAPolicy("Pods", 0, 15), "HPA policy value must be a whole number > 0, got 0", None),
        (lambda: HPAPolicy("Pods", True, 15), "HPA policy value must be a whole number > 0, got True", None),
        (lambda: HPAPolicy("Pods", 1.5, 15), "HPA policy value must be a whole number > 0, got 1.5", None),
        (lambda: HPAPolicy("Pods", 1, 0), "HPA policy period_s must be in (0, 1800], got 0", None),
        (lambda: HPAPolicy("Pods", 1, 1801), "HPA policy period_s must be in (0, 1800], got 1801", None),
        (lambda: HPARules(0, (), "max"), "HPA selectPolicy must be Max, Min or Disabled, got 'max'", None),
        (lambda: HPARules(-1, ()), "HPA stabilization window must be in [0, 3600] s, got -1", None),
        (lambda: HPARules(3601, ()), "HPA stabilization window must be in [0, 3600] s, got 3601", None),
        (
            lambda: HPAConfig(capacity_per_replica=0),
            "HPA: capacity_per_replica must be > 0, got 0",
            "the load one pod serves at full use (the HPA's target is target_utilisation of it)",
        ),
        (
            lambda: HPAConfig(capacity_per_replica=float("nan")),
            "HPA: capacity_per_replica must be > 0, got nan",
            "the load one pod serves at full use (the HPA's target is target_utilisation of it)",
        ),
        (
            lambda: HPAConfig(capacity_per_replica=100, target_utilisation=0),
            "HPA: target_utilisation must be in (0, 1], got 0",
            "the HPA's target as a fraction of a pod's capacity, e.g. 0.7",
        ),
        (
            lambda: HPAConfig(capacity_per_replica=100, target_utilisation=1.01),
            "HPA: target_utilisation must be in (0, 1], got 1.01",
            "the HPA's target as a fraction of a pod's capacity, e.g. 0.7",
        ),
        (
            lambda: HPAConfig(capacity_per_replica=100, target_utilisation=float("inf")),
            "HPA: target_utilisation must be in (0, 1], got inf",
            "the HPA's target as a fraction of a pod's capacity, e.g. 0.7",
        ),
        (
            lambda: HPAConfig(capacity_per_replica=100, min_replicas=0),
            "HPA: need 1 <= min_replicas <= max_replicas, got 0 and 100",
            None,
        ),
        (
            lambda: HPAConfig(capacity_per_replica=100, min_replicas=5, max_replicas=4),
            "HPA: need 1 <= min_replicas <= max_replicas, got 5 and 4",
            None,
        ),
        (
            lambda: HPAConfig(capacity_per_replica=100, tolerance=1),
            "HPA: tolerance must be in [0, 1), got 1",
            "default 0.1",
        ),
        (
            lambda: HPAConfig(capacity_per_replica=100, tolerance=-0.1),
            "HPA: tolerance must be in [0, 1), got -0.1",
            "default 0.1",
        ),
        *[
            (
                (lambda k=k, v=v: HPAConfig(capacity_per_replica=100, **{k: v})),
                "HPA: sync_period_s and metric_window_s must be > 0 and metric_lag_s >= 0",
                "e.g. sync 15s, window 60s, lag 60s",
            )
            for k, v in (("sync_period_s", 0), ("metric_window_s", 0), ("metric_lag_s", -1))
        ],
    ],
)
def test_bad_hpa_config_names_the_field_and_the_range(make, problem, hint):
    with pytest.raises(ConfigError) as err:
        make()
    assert (err.value.problem, err.value.hint) == (problem, hint)


def test_hpa_config_boundaries_are_accepted():
    HPAPolicy("Pods", 1, 1800)
    HPARules(3600, (), "Disabled")
    HPARules(0, (), "Min")
    HPAConfig(
        capacity_per_replica=0.5,
        target_utilisation=1,
        min_replicas=3,
        max_replicas=3,
        tolerance=0,
        metric_lag_s=0,
    )


def _cfg(*, down: HPARules | None = None, up: HPARules | None = None, **kw) -> HPAConfig:
    extra = {"scale_down": down} if down else {}
    extra |= {"scale_up": up} if up else {}
    return HPAConfig(capacity_per_replica=100, max_replicas=500, **extra, **kw)


PODS2 = HPAPolicy("Pods", 2, 60)
HALF = HPAPolicy("Percent", 50, 60)
RATE_CASES = [
    # (description, config, state, load, current, ready) -> (desired, ups, downs) with events as (seconds ago, n)
    (
        "scale-down Disabled: never down",
        _cfg(down=HPARules(0, (HPAPolicy("Percent", 100, 15),), "Disabled")),
        HPAState(),
        500,
        10,
        10,
        (10, (), ()),
    ),
    (
        "scale-down Max: the policy removing most (50% beats 2 pods)",
        _cfg(down=HPARules(0, (PODS2, HALF), "Max")),
        HPAState(),
        100,
        10,
        10,
        (5, (), ((0, 5),)),
    ),
    (
        "scale-down Min: the policy removing least",
        _cfg(down=HPARules(0, (PODS2, HALF), "Min")),
        HPAState(),
        100,
        10,
        10,
        (8, (), ((0, 2),)),
    ),
    (
        "scale-down: pods removed earlier in the period count",
        _cfg(down=HPARules(0, (PODS2,))),
        HPAState(scale_down_events=((ago(30), 2),)),
        100,
        10,
        10,
        (10, (), ((30, 2),)),
    ),
    (
        "scale-down: a removal a full period ago no longer counts",
        _cfg(down=HPARules(0, (PODS2,))),
        HPAState(scale_down_events=((ago(60), 2),)),
        100,
        10,
        10,
        (8, (), ((60, 2), (0, 2))),
    ),
    (
        "scale-down: pods added in the period are removable on top",
        _cfg(down=HPARules(0, (PODS2,))),
        HPAState(scale_up_events=((ago(30), 3),)),
        100,
        10,
        10,
        (5, ((30, 3),), ((0, 5),)),
    ),
    (
        "scale-down by percent of many pods",
        _cfg(down=HPARules(0, (HALF,))),
        HPAState(),
        100,
        202,
        202,
        (101, (), ((0, 101),)),
    ),
    (
        "scale-up by percent of many pods: +100% of 101",
        _cfg(),
        HPAState(),
        100000,
        101,
        101,
        (202, ((0, 101),), ()),
    ),
    (
        "scale-up Disabled: never up",
        _cfg(up=HPARules(0, (HPAPolicy("Pods", 4, 15),), "Disabled")),
        HPAState(),
        5000,
        10,
        10,
        (10, (), ()),
    ),
    (
        "scale-up Min: the policy adding least",
        _cfg(up=HPARules(0, (HPAPolicy("Pods", 4, 15), HPAPolicy("Percent", 100, 15)), "Min")),
        HPAState(),
        5000,
        10,
        10,
        (14, ((0, 4),), ()),
    ),
    (
        "scale-up: pods added earlier in the period count",
        _cfg(up=HPARules(0, (HPAPolicy("Pods", 4, 60),))),
        HPAState(scale_up_events=((ago(30), 3),)),
        5000,
        10,
        10,
        (11, ((30, 3), (0, 1)), ()),
    ),
    (
        "events of the last 30 minutes are kept and the new one appended",
        _cfg(),
        HPAState(scale_up_events=((ago(600), 2), (ago(1800), 9)), scale_down_events=((ago(900), 1),)),
        2000,
        10,
        10,
        (20, ((600, 2), (0, 10)), ((900, 1),)),
    ),
    (
        "a scale-down event is appended to earlier ones",
        _cfg(down=HPARules(0, (HPAPolicy("Percent", 100, 15),))),
        HPAState(scale_down_events=((ago(600), 1),)),
        100,
        4,
        4,
        (1, (), ((600, 1), (0, 3))),
    ),
    ("exactly at the tolerance (0.5): no change", _cfg(tolerance=0.5), HPAState(), 500, 10, 10, (10, (), ())),
    (
        "starting pods, exactly at the tolerance once counted: no change",
        _cfg(tolerance=0.5),
        HPAState(),
        3000,
        20,
        10,
        (20, (), ()),
    ),
]


@pytest.mark.parametrize(
    ("description", "config", "state", "load", "current", "ready", "expected"),
    RATE_CASES,
    ids=[c[0] for c in RATE_CASES],
)
def test_behavior_policies_and_scale_events(description, config, state, load, current, ready, expected):
    result = hpa_step(
        config=config, state=state, now=NOW, load=load, current_replicas=current, ready_replicas=ready
    )
    desired, ups, downs = expected
    assert result.desired_replicas == desired
    assert result.state.scale_up_events == tuple((ago(s), n) for s, n in ups)
    assert result.state.scale_down_events == tuple((ago(s), n) for s, n in downs)


def test_scaling_down_to_the_minimum_is_a_plain_metrics_decision():
    result = hpa_step(
        config=HPAConfig(capacity_per_replica=100),
        state=HPAState(),
        now=NOW,
        load=50,
        current_replicas=4,
        ready_replicas=4,
    )
    assert (result.desired_replicas, result.reason) == (1, "metrics")


def test_short_periods_and_windows_are_accepted():
    HPAPolicy("Pods", 1, 0.5)
    HPAConfig(capacity_per_replica=100, sync_period_s=0.5, metric_window_s=0.5)
