"""The HPA model against hand-worked cases (capacity 100 per pod; the HPA's target is all of it unless a case
sets ``target_utilisation``)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.hpa import HPAConfig, HPAPolicy, HPARules, HPAState, hpa_step

NOW = pd.Timestamp("2026-01-05 20:00:00")
CFG = HPAConfig(capacity_per_replica=100, min_replicas=1, max_replicas=50)


def ago(seconds: float) -> pd.Timestamp:
    return NOW - pd.Timedelta(seconds=seconds)


def recs(*pairs: tuple[float, int]) -> HPAState:
    """Past proposals as (seconds ago, replicas)."""
    return HPAState(recommendations=tuple((ago(s), r) for s, r in pairs))


CASES = [
    # (description, config, state, load, current, ready, floor, desired)
    ("step up: 10 pods at 150% -> ceil(10 x 1.5) = 15", CFG, HPAState(), 1500, 10, 10, None, 15),
    ("inside the tolerance band (ratio 1.09): no change", CFG, HPAState(), 1090, 10, 10, None, 10),
    ("inside the tolerance band (ratio 0.91): no change", CFG, HPAState(), 910, 10, 10, None, 10),
    ("just outside the band (ratio 1.11) scales up", CFG, HPAState(), 1110, 10, 10, None, 12),
    ("step down, but a higher proposal 200 s ago holds it", CFG, recs((200, 10)), 500, 10, 10, None, 10),
    (
        "step down to the highest proposal inside the window",
        CFG,
        recs((400, 10), (200, 8)),
        500,
        10,
        10,
        None,
        8,
    ),
    ("step down after the 300 s window", CFG, recs((400, 10)), 500, 10, 10, None, 5),
    (
        "rate-limited scale-up: default policies allow max(+100%, +4) per 15 s",
        CFG,
        HPAState(),
        4000,
        3,
        3,
        None,
        7,
    ),
    (
        "rate-limited scale-up: Pods 2 per 60 s with 2 pods already added 30 s ago",
        HPAConfig(
            capacity_per_replica=100, max_replicas=50, scale_up=HPARules(0, (HPAPolicy("Pods", 2, 60),))
        ),
        HPAState(scale_up_events=((ago(30), 2),)),
        2000,
        6,
        6,
        None,
        6,
    ),
    (
        "select Min picks the smaller of +50% and +4",
        HPAConfig(
            capacity_per_replica=100,
            max_replicas=50,
            scale_up=HPARules(0, (HPAPolicy("Percent", 50, 15), HPAPolicy("Pods", 4, 15)), "Min"),
        ),
        HPAState(),
        3000,
        4,
        4,
        None,
        6,
    ),
    (
        "scale-down policy Pods 1 per 60 s",
        HPAConfig(
            capacity_per_replica=100, max_replicas=50, scale_down=HPARules(0, (HPAPolicy("Pods", 1, 60),))
        ),
        HPAState(),
        200,
        10,
        10,
        None,
        9,
    ),
    (
        "unready pods count as idle on a scale-up: 10 ready + 5 starting at 1300 -> ratio 0.87, no change",
        CFG,
        HPAState(),
        1300,
        15,
        10,
        None,
        15,
    ),
    (
        "unready pods count as idle: 10 ready + 2 starting at 1500 -> ceil(15) = 15",
        CFG,
        HPAState(),
        1500,
        12,
        10,
        None,
        15,
    ),
    (
        "target utilisation 0.5: 10 pods serving 700 of 1000 -> ratio 700 / 500 = 1.4 -> 14",
        HPAConfig(capacity_per_replica=100, target_utilisation=0.5, max_replicas=50),
        HPAState(),
        700,
        10,
        10,
        None,
        14,
    ),
    (
        "target utilisation 0.8: 10 pods at 760 -> ratio 0.95, inside the tolerance",
        HPAConfig(capacity_per_replica=100, target_utilisation=0.8, max_replicas=50),
        HPAState(),
        760,
        10,
        10,
        None,
        10,
    ),
    ("no ready pod, no metric: unchanged", CFG, HPAState(), 5000, 4, 0, None, 4),
    ("below the floor goes to the floor at once", CFG, HPAState(), 100, 3, 3, 12, 12),
    ("a floor does not stop a higher metric proposal", CFG, HPAState(), 2000, 12, 12, 12, 20),
    ("max_replicas caps", CFG, HPAState(), 99999, 40, 40, None, 50),
    ("min_replicas floors", CFG, HPAState(), 0, 3, 3, None, 1),
    ("missing metric: unchanged", CFG, HPAState(), None, 7, 7, None, 7),
]


@pytest.mark.parametrize(
    ("config", "state", "load", "current", "ready", "floor", "desired"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_hpa_table(config, state, load, current, ready, floor, desired) -> None:
    result = hpa_step(
        config=config,
        state=state,
        now=NOW,
        load=load,
        current_replicas=current,
        ready_replicas=ready,
        min_replicas=floor,
    )
    assert result.desired_replicas == desired, result.reason


def test_scale_events_limit_the_next_step_within_the_period() -> None:
    config = HPAConfig(
        capacity_per_replica=100, max_replicas=50, scale_up=HPARules(0, (HPAPolicy("Pods", 4, 60),))
    )
    state = HPAState()
    current = 2
    seen = []
    for i in range(5):  # every 15 s, load needs 30 pods
        now = NOW + pd.Timedelta(seconds=15 * i)
        r = hpa_step(
            config=config, state=state, now=now, load=3000, current_replicas=current, ready_replicas=current
        )
        state, current = r.state, r.desired_replicas
        seen.append(current)
    # +4 within any 60 s: 6 at t=0, held until the event leaves the period at t=60.
    assert seen == [6, 6, 6, 6, 10]


def test_recommendations_are_recorded_and_old_ones_dropped() -> None:
    state = recs((1000, 9), (100, 7))
    r = hpa_step(config=CFG, state=state, now=NOW, load=500, current_replicas=7, ready_replicas=7)
    assert [x for _, x in r.state.recommendations] == [7, 5]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capacity_per_replica": 0},
        {"capacity_per_replica": 1, "min_replicas": 5, "max_replicas": 2},
        {"capacity_per_replica": 1, "tolerance": 1.5},
        {"capacity_per_replica": 1, "sync_period_s": 0},
        {"capacity_per_replica": 1, "target_utilisation": 0},
        {"capacity_per_replica": 1, "target_utilisation": 1.2},
    ],
)
def test_bad_config_is_rejected(kwargs) -> None:
    with pytest.raises(ConfigError):
        HPAConfig(**kwargs)


def test_bad_policy_is_rejected() -> None:
    with pytest.raises(ConfigError, match="Pods or Percent"):
        HPAPolicy("Replicas", 1, 15)
