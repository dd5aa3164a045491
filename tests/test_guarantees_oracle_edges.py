"""The oracle's public functions at their edges: whole unit counts, an empty need, and nodes for the pods.

The brute-force tests (tests/test_guarantees_oracle.py) pin optimality on small random cases; these pin what the
replay and the benchmarks read from the schedule: integer counts from ``layer_schedule``, no crash on an empty
need, and a node schedule that exists whenever a pod does, whatever pods exist at the start.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.oracle import layer_schedule, oracle_schedule


def test_layer_schedule_counts_whole_units():
    ready, exist = layer_schedule(np.array([0, 2, 1, 3]), initial=1, startup_min=1)
    assert ready.dtype.kind == "i" and exist.dtype.kind == "i"
    # Layer 2 bridges its one-minute gap (cheaper than a restart); layer 3 starts a minute before minute 3.
    assert list(ready) == [1, 2, 2, 3] and list(exist) == [2, 2, 3, 3]


@pytest.mark.parametrize("initial", [0, 3])
def test_an_empty_need_is_an_empty_schedule(initial):
    ready, exist = layer_schedule(np.array([], dtype=np.int64), initial=initial, startup_min=2)
    assert len(ready) == 0 and len(exist) == 0
    s = oracle_schedule(
        need=np.array([], dtype=np.int64), initial=initial, pod_startup_min=2, pods_per_node=2
    )
    assert len(s.pods) == 0 and len(s.nodes) == 0 and s.actions == 0


@pytest.mark.parametrize("initial", [0, 1, 2, 5])
def test_nodes_exist_under_every_pod_whatever_exists_at_the_start(initial):
    need = np.array([2, 2, 0, 0, 0, 0, 4, 4, 1, 0, 3])
    s = oracle_schedule(need=need, initial=initial, pod_startup_min=1, pods_per_node=2, node_startup_min=2)
    assert (s.nodes * 2 >= s.pods).all()
    # Nodes are never kept beyond what the pods need, except to bridge a gap shorter than the node start-up or
    # to start a node early for a pod.
    assert s.nodes.sum() <= np.ceil(s.pods / 2).sum() + 2 * 2 * int((np.diff(np.ceil(s.pods / 2)) > 0).sum())
    assert s.ready.dtype == np.float64 and s.pods.dtype == np.float64 and s.nodes.dtype == np.float64


def test_without_a_node_model_there_are_no_nodes():
    s = oracle_schedule(need=np.array([1, 3, 3, 1]), initial=1, pod_startup_min=1)
    assert list(s.nodes) == [0.0, 0.0, 0.0, 0.0]
    assert list(s.pods) == [3.0, 3.0, 3.0, 1.0] and s.actions == 2
