"""The vectorised HPA (forecaster.hpa_batch) against forecaster.hpa.hpa_step, the model it must equal: random
loads, replicas, readiness and floors, fed sync after sync to both, for several ``behavior`` rule sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.hpa import HPAConfig, HPAPolicy, HPARules, HPAState, hpa_step
from forecaster.hpa_batch import HPABatch, PodsBatch

T0 = pd.Timestamp("2026-01-05 20:00:00")

RULES = [
    ("kubernetes defaults", {}),
    (
        "scale-up held 60 s, Pods 2 per 60 s or 50% per 30 s (Min)",
        {
            "scale_up": HPARules(60.0, (HPAPolicy("Pods", 2, 60), HPAPolicy("Percent", 50, 30)), "Min"),
        },
    ),
    (
        "scale-down held 45 s, Pods 1 per 60 s or 10% per 45 s (Max)",
        {
            "scale_down": HPARules(45.0, (HPAPolicy("Pods", 1, 60), HPAPolicy("Percent", 10, 45)), "Max"),
        },
    ),
    (
        "scale-down Disabled, scale-up Percent 100 per 15 s only, sync every 10 s",
        {
            "scale_down": HPARules(0.0, (HPAPolicy("Percent", 100, 15),), "Disabled"),
            "scale_up": HPARules(0.0, (HPAPolicy("Percent", 100, 15),), "Max"),
            "sync_period_s": 10.0,
        },
    ),
]


def configs(rules: dict, rng: np.random.Generator, count: int) -> list[HPAConfig]:
    out = []
    for _ in range(count):
        lo = int(rng.integers(1, 4))
        out.append(
            HPAConfig(
                capacity_per_replica=float(rng.choice([1.0, 7.3, 100.0])),
                target_utilisation=float(rng.choice([1.0, 0.9, 0.8, 0.7, 0.55])),
                min_replicas=lo,
                max_replicas=int(rng.integers(lo + 2, 40)),
                tolerance=float(rng.choice([0.1, 0.0, 0.25])),
                **rules,
            )
        )
    return out


@pytest.mark.parametrize(("description", "rules"), RULES, ids=[r[0] for r in RULES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_equals_hpa_step_sync_after_sync(description: str, rules: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfgs = configs(rules, rng, 12)
    batch = HPABatch(cfgs)
    states = [HPAState() for _ in cfgs]
    sync = pd.Timedelta(seconds=cfgs[0].sync_period_s)
    current = np.array([int(rng.integers(0, c.max_replicas + 3)) for c in cfgs])
    decided = 0
    for j in range(400):
        now = T0 + j * sync
        # Loads around what the pods serve (so the tolerance band, up and down all happen), sometimes missing.
        load = current * np.array([c.capacity_per_replica for c in cfgs]) * rng.uniform(0.3, 2.2, len(cfgs))
        load[rng.random(len(cfgs)) < 0.05] = np.nan
        # Usually all pods ready; otherwise some still starting (none ready at times).
        starting = np.array([int(rng.integers(0, c + 1)) if c > 0 else 0 for c in current])
        ready = np.where(rng.random(len(cfgs)) < 0.6, current, starting)
        floors = np.where(rng.random(len(cfgs)) < 0.5, -1, rng.integers(0, 45, len(cfgs)))
        desired, proposal = batch.step(
            load=load, current_replicas=current, ready_replicas=ready, min_replicas=floors
        )
        for i, cfg in enumerate(cfgs):
            r = hpa_step(
                config=cfg,
                state=states[i],
                now=now,
                load=None if np.isnan(load[i]) else float(load[i]),
                current_replicas=int(current[i]),
                ready_replicas=int(ready[i]),
                min_replicas=None if floors[i] < 0 else int(floors[i]),
            )
            states[i] = r.state
            assert desired[i] == r.desired_replicas, (description, j, i, r.reason)
            assert proposal[i] == (-1 if r.proposal is None else r.proposal), (description, j, i)
            decided += r.proposal is not None
        # What the Deployment does next is the simulator's business: mostly follow, sometimes not.
        follow = rng.random(len(cfgs)) < 0.8
        current = np.where(follow, desired, rng.integers(0, 45, len(cfgs)))
    assert decided > 2000  # most syncs went through the metric path, not only the min/max shortcuts


def test_batch_refuses_hpas_that_cannot_sync_together() -> None:
    a = HPAConfig(capacity_per_replica=10)
    b = HPAConfig(capacity_per_replica=10, sync_period_s=30)
    with pytest.raises(ConfigError, match="sync period"):
        HPABatch([a, b])
    with pytest.raises(ConfigError, match="no HPA"):
        HPABatch([])


def test_pods_batch_ready_after_startup_newest_removed_first() -> None:
    pods = PodsBatch(initial=np.array([2, 1]), width=6, pod_startup_s=180.0)
    assert pods.ready_count(0.0).tolist() == [2, 1]
    pods.scale_to(np.array([4, 1]), 0.0)  # two pods start at 0 s: ready at 180 s
    pods.scale_to(np.array([5, 3]), 60.0)  # more start at 60 s: ready at 240 s
    assert pods.replicas.tolist() == [5, 3]
    assert pods.ready_count(179.0).tolist() == [2, 1]
    assert pods.ready_count(180.0).tolist() == [4, 1]
    pods.scale_to(np.array([3, 2]), 200.0)  # the newest go first: the one started at 60 s, then one of 0 s
    assert pods.ready_count(240.0).tolist() == [3, 2]
    pods.scale_to(np.array([6, 2]), 240.0)
    assert pods.ready_count(419.0).tolist() == [3, 2]
    assert pods.ready_count(420.0).tolist() == [6, 2]
    with pytest.raises(ConfigError, match="width"):
        pods.scale_to(np.array([7, 2]), 300.0)
