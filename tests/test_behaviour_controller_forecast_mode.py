"""A node group (actuator NodeGroup) sized in nodes: by its pods-per-node limit when that binds before CPU, never
below its minimum nodes; and in Forecast mode, when the forecast is lost, it keeps recommending the capacity of
the last decision (never a count of nodes read back as replicas), tick after tick, touching nothing.

Through the controller against the fake API server.
"""

from __future__ import annotations

import pandas as pd

from forecaster.errors import SourceError
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, FakeForecasts, controller, machine_deployment, policy, status

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


def test_a_lost_forecast_in_forecast_mode_keeps_recommending_the_last_nodes(fake_api, kube):
    fake_api.put(machine_deployment("workers", replicas=2))
    fake_api.put(
        policy(
            "workers",
            target="workers",
            kind="MachineDeployment",
            api_version="cluster.x-k8s.io/v1beta1",
            actuator="NodeGroup",
            mode="Forecast",
            minReplicas=1,
            maxReplicas=100,
            nodeGroup={"podRequest": "1", "nodeAllocatable": "4"},
        )
    )
    answers = {"workers": 2000.0}  # p90 2000/s at 100/s a pod: 20 pods, 5 nodes of 4
    ctl = controller(kube, FakeForecasts(**answers))

    [first] = ctl.tick(NOW)
    assert first.desired == 5 and status(fake_api, "workers")["desiredReplicas"] == 5

    answers["workers"] = SourceError("Prometheus down")
    ctl.forecasts = FakeForecasts(**answers)
    # Beyond the last good forecast's 30 minutes: nothing to hold on to, the decision keeps its last need.
    desired = [ctl.tick(NOW + k * MIN)[0].desired for k in (40, 41, 42)]

    assert desired == [5, 5, 5]
    assert fake_api.get("machinedeployments", "live", "workers")["spec"]["replicas"] == 2  # nothing touched


def test_a_node_group_is_sized_by_its_pods_per_node_limit_when_that_binds_before_cpu(fake_api, kube):
    fake_api.put(machine_deployment("workers", replicas=1))
    fake_api.put(
        policy(
            "workers",
            target="workers",
            kind="MachineDeployment",
            api_version="cluster.x-k8s.io/v1beta1",
            actuator="NodeGroup",
            minReplicas=1,
            maxReplicas=100,
            # By CPU 40 pods fit a node; the node takes at most 10.
            nodeGroup={"podRequest": "100m", "nodeAllocatable": "4", "maxPodsPerNode": 10, "minNodes": 1},
        )
    )
    ctl = controller(kube, FakeForecasts(workers=2000.0))  # 20 pods
    [outcome] = ctl.tick(NOW)
    assert outcome.desired == 2
    assert fake_api.get("machinedeployments", "live", "workers")["spec"]["replicas"] == 2


def test_a_quiet_node_group_keeps_its_minimum_nodes(fake_api, kube):
    fake_api.put(machine_deployment("workers", replicas=5))
    fake_api.put(
        policy(
            "workers",
            target="workers",
            kind="MachineDeployment",
            api_version="cluster.x-k8s.io/v1beta1",
            actuator="NodeGroup",
            minReplicas=1,
            maxReplicas=100,
            scaleDown={"stabilizationWindow": "0"},
            nodeGroup={"podRequest": "1", "nodeAllocatable": "4", "minNodes": 3},
        )
    )
    ctl = controller(kube, FakeForecasts(workers=100.0))  # 1 pod: 1 node by CPU
    [outcome] = ctl.tick(NOW)
    assert outcome.desired == 3
    assert fake_api.get("machinedeployments", "live", "workers")["spec"]["replicas"] == 3
