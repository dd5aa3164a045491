"""An Auto Scaling group already at its MaxSize when the forecast asks for more: nothing is written, and the status
says what the group runs (its MaxSize), not the unclamped ask; the same when a step-down limit holds it.

Through the controller with policies from a file and the Auto Scaling client seam (no cloud).
"""

from __future__ import annotations

import pandas as pd
import yaml
from prometheus_client import CollectorRegistry

from forecaster.prescaler.asg import AutoScalingGroups
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import FilePolicySource
from tests.prescaler_helpers import NOW, FakeForecasts, policy
from tests.test_behaviour_controller_asg import _Client


def _controller(tmp_path, client, forecast):
    path = tmp_path / "policies.yaml"
    path.write_text(
        yaml.safe_dump(
            policy(
                "workers",
                target="workers",
                kind="AutoScalingGroup",
                api_version="autoscaling.amazonaws.com/v1",
                minReplicas=1,
                maxReplicas=100,
                scaleDown={"stabilizationWindow": "0"},
                nodeGroup={"podRequest": "1", "nodeAllocatable": "4", "region": "eu-west-1"},
            )
        )
    )
    source = FilePolicySource(path)
    ctl = Controller(
        policies=source,
        forecasts=FakeForecasts(workers=forecast),
        kube=None,
        metrics=PrescalerMetrics(CollectorRegistry()),
        asg_factory=lambda region: AutoScalingGroups(client=client, sleep=lambda s: None),
    )
    return ctl, source


def test_a_group_at_its_max_size_reports_its_max_size_and_is_not_written(tmp_path):
    client = _Client(min_size=1, max_size=6, desired=6)
    ctl, source = _controller(tmp_path, client, 4000.0)  # 40 pods: 10 nodes asked, MaxSize 6

    [outcome] = ctl.tick(NOW)

    assert [op for op, _ in client.calls if op == "set"] == []
    assert outcome.desired == 6 and outcome.action is None
    assert source.statuses["live/workers"]["desiredReplicas"] == 6


def test_a_group_held_by_the_step_down_limit_reports_what_it_runs(tmp_path):
    client = _Client(min_size=1, max_size=20, desired=8)
    ctl, source = _controller(tmp_path, client, 400.0)  # 4 pods: 1 node asked, at most 1 fewer a tick

    [outcome] = ctl.tick(NOW)
    assert outcome.desired == 7 and client.group["DesiredCapacity"] == 7
    [outcome] = ctl.tick(NOW + pd.Timedelta(minutes=1))
    assert outcome.desired == 6 and source.statuses["live/workers"]["desiredReplicas"] == 6
