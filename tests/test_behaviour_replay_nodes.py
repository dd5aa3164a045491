"""The replayed node group (:mod:`forecaster.simulate` with ``pods_per_node``) as the Cluster Autoscaler runs it:
each unneeded node waits its own scale-down delay, counted from when it became unneeded.

Hand-made traces, a fixed clock, numbers worked out by hand in the comments; public functions only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.hpa import HPAConfig, HPAPolicy, HPARules
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, replay

T0 = pd.Timestamp("2026-01-05 08:00")
CAP = 100.0
FAST_DOWN = HPARules(0.0, (HPAPolicy("Percent", 100, 15),))
"""Scale-down without stabilisation: the HPA follows the load down at its next sync. The HPA reads the last
complete minute (no lag, a 1-minute window), every 15 seconds."""


def trace_of(values) -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype=float),
        index=pd.date_range(T0, periods=len(values), freq="1min"),
        name="load",
    )


def config(**cluster) -> ReplayConfig:
    return ReplayConfig(
        hpa=HPAConfig(
            capacity_per_replica=CAP,
            max_replicas=50,
            metric_lag_s=0.0,
            metric_window_s=60.0,
            sync_period_s=15.0,
            scale_down=FAST_DOWN,
        ),
        policy=ScalingPolicy(capacity_per_replica=CAP, max_replicas=50, scale_down_stabilization_s=0),
        cluster=ClusterConfig(**cluster),
    )


def hpa_run(values, **cluster):
    return replay(trace_of(values), config=config(**cluster), forecast_fn=None, include=("hpa",)).runs["hpa"]


def test_a_node_that_becomes_unneeded_as_another_goes_waits_its_own_delay():
    # 2 pods a node. 6 pods (3 nodes) until minute 20; the HPA keeps 4 pods (2 nodes) from minute 21, so one
    # node is unneeded from minute 21 and goes at minute 31 (10 minutes). At minute 31 the load read is 200 and
    # the HPA keeps 2 pods: a second node becomes unneeded at that very minute, and waits its own 10 minutes
    # (minute 41), not the first node's timer, which had already run out.
    load = [600.0] * 20 + [400.0] * 10 + [200.0] * 20
    run = hpa_run(load, pod_startup_s=60, pods_per_node=2, node_startup_s=300, node_scale_down_delay_s=600)
    assert list(run.pods[20:22]) == [6, 4] and list(run.pods[30:32]) == [4, 2]
    assert (run.nodes[:31] == 3).all()
    assert (run.nodes[31:41] == 2).all()
    assert (run.nodes[41:] == 1).all()
    assert run.metrics["node_minutes"] == 31 * 3 + 10 * 2 + 9 * 1


def test_nodes_briefly_needed_again_restart_the_delay_even_when_more_were_added():
    # 6 pods (3 nodes) until minute 20, 2 pods (1 node) from 21, 8 pods at minutes 26-28 (a 4th node added),
    # 2 pods again from minute 29: the three spare nodes wait 10 minutes from minute 29 and go at minute 39.
    load = [600.0] * 20 + [200.0] * 5 + [800.0] * 3 + [200.0] * 20
    run = hpa_run(load, pod_startup_s=60, pods_per_node=2, node_startup_s=300, node_scale_down_delay_s=600)
    assert run.pods[27] == 8 and run.pods[29] == 2
    assert (run.nodes[:26] == 3).all()
    assert (run.nodes[27:39] == 4).all()
    assert (run.nodes[39:] == 1).all()
