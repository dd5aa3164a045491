"""The decision at its limits: a forecast already capped at max_replicas says so even when the load observed
now is above the cap too (the observed load adds nothing there), and node counts whose pods-per-node ratio is
a whole number in decimal but not in binary floating point (3.8 cores / 0.2 per pod = 19 pods, 18.999... as a
float) fill their nodes.

Through the pure :func:`~forecaster.scaling.decide` and :func:`~forecaster.scaling.nodes_needed`.
"""

from __future__ import annotations

import pytest

from forecaster.scaling import nodes_needed
from tests.test_behaviour_scaling import POLICY, forecast, run


def test_a_forecast_capped_at_max_replicas_is_reported_as_capped_whatever_the_observed_load():
    d = run(forecast([5000] * 6), observed=8000.0)  # both need more than max_replicas (20)
    assert (d.reason, d.desired_replicas) == ("bound_max", 20)
    assert "capped at max_replicas 20" in d.message
    # The observed load above the forecast but under the cap still raises the floor, and says so.
    d = run(forecast([300] * 6), observed=1500.0)
    assert (d.reason, d.desired_replicas) == ("observed_load", 15)
    assert POLICY.max_replicas == 20


@pytest.mark.parametrize(
    ("pod_request", "node_allocatable", "per_node"),
    [(0.2, 3.8, 19), (0.1, 0.7, 7), (0.1, 0.3, 3), (0.3, 2.4, 8)],
)
def test_a_node_holds_every_whole_pod_its_allocatable_fits(pod_request, node_allocatable, per_node):
    assert nodes_needed(replicas=per_node, pod_request=pod_request, node_allocatable=node_allocatable) == 1
    assert (
        nodes_needed(replicas=per_node + 1, pod_request=pod_request, node_allocatable=node_allocatable) == 2
    )
    assert (
        nodes_needed(replicas=3 * per_node, pod_request=pod_request, node_allocatable=node_allocatable) == 3
    )
