"""The oracle's schedule is optimal and honest, on many small random cases against brute force.

Honest: the ready pods it reports are exactly those its pod schedule gives when pods start ``startup`` minutes
before they are ready and the newest go first (so the replay's "oracle never short" is a fact about a real
schedule, not an accounting artefact). Optimal: no schedule that is never short costs fewer pod-minutes.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.oracle import layer_schedule, oracle_schedule
from tests.test_simulate import brute_force_cost


def ready_of(exist: np.ndarray, *, initial: int, startup: int) -> np.ndarray:
    """Ready pods per minute for a pod-count schedule: new pods need ``startup`` minutes; newest removed first."""
    created = [-(10**6)] * initial
    ready = []
    for m, count in enumerate(exist):
        if count > len(created):
            created += [m] * (int(count) - len(created))
        else:
            del created[int(count) :]
        ready.append(sum(1 for t in created if t + startup <= m))
    return np.array(ready)


def _cases(n: int) -> list[tuple[list[int], int, int]]:
    rng = np.random.default_rng(11)
    out = []
    for _ in range(n):
        startup = int(rng.integers(1, 4))
        initial = int(rng.integers(0, 3))
        # Nothing above the initial pods is needed before a new pod could be ready.
        head = [int(v) for v in rng.integers(0, initial + 1, size=startup)]
        out.append((head + [int(v) for v in rng.integers(0, 3, size=5)], initial, startup))
    return out


@pytest.mark.parametrize(("need", "initial", "startup"), _cases(40))
def test_oracle_is_optimal_and_its_ready_pods_are_real(need, initial, startup):
    ready, exist = layer_schedule(np.array(need), initial=initial, startup_min=startup)
    assert (ready >= np.array(need)).all()
    np.testing.assert_array_equal(ready, ready_of(exist, initial=initial, startup=startup))
    assert int(exist.sum()) == brute_force_cost(
        need, initial=initial, startup=startup, top=max(*need, initial)
    )


@pytest.mark.parametrize(
    ("description", "need", "initial", "startup", "ready", "exist"),
    [
        (
            "a gap exactly as long as the start-up is bridged: the pod stays ready",
            [1, 0, 0, 1],
            1,
            2,
            [1, 1, 1, 1],
            [1, 1, 1, 1],
        ),
        ("a longer gap: delete, restart ahead", [1, 0, 0, 0, 1], 1, 2, [1, 0, 0, 0, 1], [1, 0, 1, 1, 1]),
        ("initial pods bridge to their first need", [0, 0, 1], 1, 2, [1, 1, 1], [1, 1, 1]),
        ("a new pod is started ahead, not ready before", [0, 0, 0, 1], 0, 2, [0, 0, 0, 1], [0, 1, 1, 1]),
        ("two gaps in one layer", [1, 0, 1, 0, 0, 0, 1], 1, 1, [1, 1, 1, 0, 0, 0, 1], [1, 1, 1, 0, 0, 1, 1]),
    ],
)
def test_layer_schedule_by_hand(description, need, initial, startup, ready, exist):
    got_ready, got_exist = layer_schedule(np.array(need), initial=initial, startup_min=startup)
    assert got_ready.tolist() == ready, description
    assert got_exist.tolist() == exist, description


def test_oracle_schedule_counts_actions_and_has_no_nodes_by_default():
    s = oracle_schedule(need=np.array([0, 0, 2, 2, 0, 0, 0, 0]), initial=0, pod_startup_min=1)
    assert s.pods.tolist() == [0, 2, 2, 2, 0, 0, 0, 0]
    assert s.ready.tolist() == [0, 0, 2, 2, 0, 0, 0, 0]
    assert s.actions == 2  # up once, down once
    assert s.nodes.tolist() == [0.0] * 8
    assert s.pods.dtype == float and s.ready.dtype == float and s.nodes.dtype == float


def test_oracle_nodes_follow_the_pods_with_their_own_start_up():
    need = np.array([1, 1, 1, 1, 1, 1, 4, 4, 4, 1, 1, 1])
    s = oracle_schedule(need=need, initial=1, pod_startup_min=1, pods_per_node=2, node_startup_min=2)
    assert s.pods.tolist() == [1, 1, 1, 1, 1, 4, 4, 4, 4, 1, 1, 1]
    assert s.nodes.tolist() == [1, 1, 1, 2, 2, 2, 2, 2, 2, 1, 1, 1]  # the 2nd node starts 2 minutes ahead
    assert s.actions == 2


def test_oracle_nodes_default_to_no_start_up_and_one_pod_per_node_is_one_node_per_pod():
    need = np.array([1, 1, 3, 3, 1])
    instant = oracle_schedule(need=need, initial=1, pod_startup_min=1, pods_per_node=2)
    assert instant.pods.tolist() == [1, 3, 3, 3, 1]
    assert instant.nodes.tolist() == [1, 2, 2, 2, 1]  # nodes start when their pods do
    single = oracle_schedule(need=need, initial=1, pod_startup_min=1, pods_per_node=1)
    assert single.nodes.tolist() == single.pods.tolist()
