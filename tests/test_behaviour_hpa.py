"""The replayed HPA against the Kubernetes algorithm, boundary by boundary (:func:`forecaster.hpa.hpa_step`).

A replay is only as honest as its reactive baseline: each row is one rule of horizontal.go /
replica_calculator.go at the value where it switches (tolerance, stabilisation windows, policy periods,
rounding of Percent policies, min/max and a raised floor).
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

NOW = pd.Timestamp("2026-03-05 20:00:00")
S = pd.Timedelta(seconds=1)


EMPTY = HPAState()


def step(load, current, ready=None, *, state=EMPTY, min_replicas=None, **config):
    cfg = HPAConfig(capacity_per_replica=100.0, **config)
    return hpa_step(
        config=cfg,
        state=state,
        now=NOW,
        load=load,
        current_replicas=current,
        ready_replicas=current if ready is None else ready,
        min_replicas=min_replicas,
    )


@pytest.mark.parametrize(
    ("description", "load", "current", "kwargs", "desired"),
    [
        ("ratio 1.09: inside the tolerance", 1090.0, 10, {}, 10),
        ("ratio 1.11: outside, ceil(11.1)", 1110.0, 10, {}, 12),
        (
            "ratio exactly 0.9: inside the tolerance",
            900.0,
            10,
            {"scale_down": HPARules(0, default_scale_down().policies)},
            10,
        ),
        (
            "ratio 0.89: down to ceil(8.9)",
            890.0,
            10,
            {"scale_down": HPARules(0, default_scale_down().policies)},
            9,
        ),
        ("target utilisation halves the target per pod", 300.0, 2, {"target_utilisation": 0.5}, 6),
        ("at the target utilisation: nothing", 100.0, 2, {"target_utilisation": 0.5}, 2),
        ("tolerance 0: any excess scales", 1001.0, 10, {"tolerance": 0.0}, 11),
        ("above max_replicas: to the max", 0.0, 12, {"max_replicas": 10}, 10),
        ("below min_replicas: to the min", 0.0, 1, {"min_replicas": 3}, 3),
        ("scale-up capped at max_replicas", 5000.0, 8, {"max_replicas": 10}, 10),
        (
            "scale-down stops at min_replicas",
            10.0,
            8,
            {"min_replicas": 4, "scale_down": HPARules(0, default_scale_down().policies)},
            4,
        ),
    ],
)
def test_proposal_tolerance_and_bounds(description, load, current, kwargs, desired):
    assert step(load, current, **kwargs).desired_replicas == desired, description


def test_no_metric_changes_nothing():
    r = step(None, 5)
    assert (r.desired_replicas, r.proposal, r.reason) == (5, None, "no metrics")
    assert step(float("nan"), 5).desired_replicas == 5


def test_no_ready_pod_keeps_the_scale():
    assert step(10_000.0, 4, ready=0).desired_replicas == 4


def test_starting_pods_count_as_idle_when_scaling_up_only():
    # 10 pods, 5 ready, load 800: ready-only ratio 1.6; counting the 5 starting pods as idle: 0.8 -> no scale-up
    assert step(800.0, 10, ready=5).desired_replicas == 10
    # load 1500: with the starting pods as idle the ratio is 1.5 on 10 pods -> 15
    assert step(1500.0, 10, ready=5).desired_replicas == 15


@pytest.mark.parametrize(
    ("current", "rules", "limit"),
    [
        (2, default_scale_up(), 6),  # max(+100% = 4, +4 = 6)
        (10, default_scale_up(), 20),  # max(+100% = 20, +4 = 14)
        (2, HPARules(0, default_scale_up().policies, "Min"), 4),
        (2, HPARules(0, default_scale_up().policies, "Disabled"), 2),
        (1, HPARules(0, (HPAPolicy("Percent", 50, 60),)), 2),  # ceil(1.5): one pod can grow
        (3, HPARules(0, (HPAPolicy("Percent", 10, 60),)), 4),  # ceil(3.3)
        (3, HPARules(0, (HPAPolicy("Pods", 1, 60),)), 4),
    ],
)
def test_scale_up_policies_limit_the_step(current, rules, limit):
    assert step(100_000.0, current, scale_up=rules, max_replicas=1000).desired_replicas == limit


@pytest.mark.parametrize(
    ("current", "rules", "limit"),
    [
        (10, HPARules(0, (HPAPolicy("Percent", 15, 60),)), 8),  # int(8.5): Kubernetes rounds the limit down
        (10, HPARules(0, (HPAPolicy("Percent", 50, 60),)), 5),
        (10, HPARules(0, (HPAPolicy("Pods", 3, 60),)), 7),
        (10, HPARules(0, (HPAPolicy("Pods", 3, 60), HPAPolicy("Percent", 50, 60))), 5),  # Max: most removed
        (10, HPARules(0, (HPAPolicy("Pods", 3, 60), HPAPolicy("Percent", 50, 60)), "Min"), 7),
        (10, HPARules(0, (HPAPolicy("Pods", 3, 60),), "Disabled"), 10),
    ],
)
def test_scale_down_policies_limit_the_step(current, rules, limit):
    assert step(1.0, current, scale_down=rules).desired_replicas == limit


@pytest.mark.parametrize(
    ("age_s", "limit"),
    [(59, 6), (60, 8)],  # 2 pods added 59 s ago use up the period's +4; at exactly 60 s they are out of it
)
def test_scale_events_use_up_their_policy_period(age_s, limit):
    rules = HPARules(0, (HPAPolicy("Pods", 4, 60),))
    state = HPAState(scale_up_events=((NOW - age_s * S, 2),))
    assert step(100_000.0, 4, state=state, scale_up=rules).desired_replicas == limit


def test_scale_down_events_raise_the_base_of_the_period():
    """Removed in the period count back: from 8 after removing 2, Pods 3 per 60 s allows 10 - 3 = 7 only."""
    rules = HPARules(0, (HPAPolicy("Pods", 3, 60),))
    state = HPAState(scale_down_events=((NOW - 10 * S, 2),))
    assert step(1.0, 8, state=state, scale_down=rules).desired_replicas == 7


@pytest.mark.parametrize(("age_s", "desired"), [(299, 9), (300, 3)])
def test_scale_down_waits_for_the_highest_proposal_of_the_window(age_s, desired):
    state = HPAState(recommendations=((NOW - age_s * S, 9),))
    r = step(250.0, 10, state=state)
    assert r.proposal == 3 and r.desired_replicas == desired
    if desired == 9:
        assert r.reason == "stabilized"


def test_scale_up_stabilisation_keeps_the_lowest_proposal():
    rules = HPARules(120, default_scale_up().policies)
    state = HPAState(recommendations=((NOW - 60 * S, 5),))
    assert step(1000.0, 4, state=state, scale_up=rules).desired_replicas == 5
    state = HPAState(recommendations=((NOW - 120 * S, 5),))
    assert step(1000.0, 4, state=state, scale_up=rules).desired_replicas == 8


def test_proposals_and_events_are_recorded():
    r = step(1000.0, 4)
    assert r.state.recommendations == ((NOW, 10),)
    assert r.state.scale_up_events == ((NOW, 4),)  # 4 -> 8 (+4 or +100% per 15 s)
    down = step(1.0, 8, scale_down=HPARules(0, default_scale_down().policies))
    assert down.state.scale_down_events == ((NOW, 7),)


def test_events_older_than_half_an_hour_are_forgotten():
    state = HPAState(scale_up_events=((NOW - 1801 * S, 3), (NOW - 1799 * S, 2)))
    r = step(1000.0, 10, state=state)  # inside the tolerance? 1000/1000 = 1: a no-op sync
    assert r.state.scale_up_events == ((NOW - 1799 * S, 2),)


@pytest.mark.parametrize(
    ("floor", "current", "desired"),
    [
        (6, 3, 6),  # a raised floor applies at once
        (12, 10, 10),  # a floor above max_replicas is the max: no flapping
        (12, 8, 10),
        (0, 1, 1),  # a floor below 1 is 1
    ],
)
def test_a_raised_floor(floor, current, desired):
    assert step(100.0 * current, current, min_replicas=floor, max_replicas=10).desired_replicas == desired


def test_repeated_syncs_with_a_floor_above_max_stay_at_max():
    state, current = HPAState(), 10
    for k in range(5):
        cfg = HPAConfig(capacity_per_replica=100.0, max_replicas=10)
        r = hpa_step(
            config=cfg,
            state=state,
            now=NOW + k * 15 * S,
            load=300.0,
            current_replicas=current,
            ready_replicas=current,
            min_replicas=14,
        )
        state, current = r.state, r.desired_replicas
        assert current == 10


@pytest.mark.parametrize(
    "make",
    [
        lambda: HPAPolicy("Replicas", 1, 15),
        lambda: HPAPolicy("Pods", 0, 15),
        lambda: HPAPolicy("Pods", 1.5, 15),
        lambda: HPAPolicy("Pods", 1, 0),
        lambda: HPAPolicy("Pods", 1, 1801),
        lambda: HPARules(0, (), "Maximum"),
        lambda: HPARules(3601, ()),
        lambda: HPAConfig(capacity_per_replica=0),
        lambda: HPAConfig(capacity_per_replica=100, target_utilisation=0),
        lambda: HPAConfig(capacity_per_replica=100, target_utilisation=1.01),
        lambda: HPAConfig(capacity_per_replica=100, min_replicas=0),
        lambda: HPAConfig(capacity_per_replica=100, min_replicas=5, max_replicas=4),
        lambda: HPAConfig(capacity_per_replica=100, tolerance=1.0),
        lambda: HPAConfig(capacity_per_replica=100, metric_lag_s=-1),
    ],
)
def test_invalid_hpa_settings_are_refused(make):
    with pytest.raises(ConfigError):
        make()


def test_valid_boundaries_are_accepted():
    HPAPolicy("Pods", 1, 1800)
    HPARules(3600, ())
    HPAConfig(
        capacity_per_replica=100,
        target_utilisation=1.0,
        min_replicas=5,
        max_replicas=5,
        tolerance=0.0,
        metric_lag_s=0,
    )
