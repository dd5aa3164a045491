"""Forecast mode on a node group (``spec.mode: Forecast``, actuator NodeGroup): the controller publishes what it
would do, in nodes, and when the forecast is lost it keeps recommending the capacity of the last decision (never
fewer, never a count of nodes read back as replicas), tick after tick, touching nothing.

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
