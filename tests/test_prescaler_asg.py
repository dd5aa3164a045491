"""EC2 Auto Scaling groups against moto: clamping, gradual decreases, retries, and the controller path."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from prometheus_client import CollectorRegistry

from forecaster.prescaler.asg import ASG_BACKOFF_S, AsgError, AsgNotFoundError, AutoScalingGroups
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import FilePolicySource
from tests.prescaler_helpers import NOW, FakeForecasts, policy

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def aws_account():
    """One mocked AWS account per module (moto's first launch configuration costs seconds)."""
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(_ENV)
    try:
        with mock_aws():
            client = boto3.client("autoscaling", region_name=REGION)
            client.create_launch_configuration(
                LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="m5.xlarge"
            )
            yield client
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def aws(aws_account):
    aws_account.create_auto_scaling_group(
        AutoScalingGroupName="live-nodes",
        LaunchConfigurationName="lc",
        MinSize=2,
        MaxSize=10,
        DesiredCapacity=4,
        AvailabilityZones=[f"{REGION}a"],
    )
    yield aws_account
    aws_account.delete_auto_scaling_group(AutoScalingGroupName="live-nodes", ForceDelete=True)


_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def desired(client) -> int:
    return client.describe_auto_scaling_groups(AutoScalingGroupNames=["live-nodes"])["AutoScalingGroups"][0][
        "DesiredCapacity"
    ]


def test_describe(aws):
    state = AutoScalingGroups(region=REGION).describe("live-nodes")
    assert (state.min_size, state.max_size, state.desired) == (2, 10, 4)
    assert state.in_service == 4
    with pytest.raises(AsgNotFoundError, match="'nope' not found in eu-west-1"):
        AutoScalingGroups(region=REGION).describe("nope")


@pytest.mark.parametrize(
    ("ask", "applied", "note"),
    [
        (7, 7, ""),
        (4, 4, ""),  # already there: no call at all
        (25, 10, "capped at the group's MaxSize 10"),
        (0, 3, "lowering by at most 1 per tick"),  # MinSize 2, but never more than one instance at a time
        (3, 3, ""),
    ],
)
def test_set_desired_clamps_and_never_drops_abruptly(aws, ask, applied, note):
    change = AutoScalingGroups(region=REGION).set_desired("live-nodes", ask)
    assert (change.previous, change.applied, change.note) == (4, applied, note)
    assert change.changed == (applied != 4)
    assert desired(aws) == applied


def test_scaling_down_walks_to_the_min_size_one_step_per_call(aws):
    groups = AutoScalingGroups(region=REGION, max_step_down=2)
    steps = [groups.set_desired("live-nodes", 0).applied for _ in range(3)]
    assert steps == [2, 2, 2]
    assert groups.set_desired("live-nodes", 0).note == "raised to the group's MinSize 2"


class Flaky:
    """Wraps the moto client: the first ``failures`` calls of ``operation`` fail with ``code``."""

    def __init__(self, client: Any, operation: str, code: str, failures: int, status: int = 400) -> None:
        self.client, self.operation, self.code, self.failures, self.status = (
            client,
            operation,
            code,
            failures,
            status,
        )
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.client, name)
        if name != self.operation:
            return real

        def call(**kwargs: Any) -> Any:
            self.calls += 1
            if self.calls <= self.failures:
                raise ClientError(
                    {
                        "Error": {"Code": self.code, "Message": "slow down"},
                        "ResponseMetadata": {"HTTPStatusCode": self.status},
                    },
                    name,
                )
            return real(**kwargs)

        return call


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("InternalFailure", 500)])
def test_throttling_and_server_errors_are_retried_on_the_schedule(aws, code, status):
    sleeps: list[float] = []
    flaky = Flaky(aws, "set_desired_capacity", code, failures=2, status=status)
    groups = AutoScalingGroups(client=flaky, sleep=sleeps.append)
    assert groups.set_desired("live-nodes", 6).applied == 6
    assert sleeps == list(ASG_BACKOFF_S[:2]) and desired(aws) == 6


def test_persistent_throttling_gives_up_as_temporary(aws):
    sleeps: list[float] = []
    groups = AutoScalingGroups(
        client=Flaky(aws, "describe_auto_scaling_groups", "Throttling", 99), sleep=sleeps.append
    )
    with pytest.raises(AsgError, match="Throttling") as info:
        groups.describe("live-nodes")
    assert info.value.temporary and sleeps == list(ASG_BACKOFF_S)


def test_access_denied_is_permanent_and_names_the_permission(aws):
    groups = AutoScalingGroups(
        client=Flaky(aws, "set_desired_capacity", "AccessDenied", 99), sleep=lambda s: None
    )
    with pytest.raises(AsgError, match="autoscaling:SetDesiredCapacity") as info:
        groups.set_desired("live-nodes", 6)
    assert not info.value.temporary


def test_controller_sizes_the_asg_from_the_workload_forecast(aws, tmp_path):
    import yaml

    path = tmp_path / "policies.yaml"
    path.write_text(
        yaml.safe_dump(
            policy(
                "live-nodes",
                target="live-nodes",
                kind="AutoScalingGroup",
                api_version="autoscaling.amazonaws.com/v1",
                leadTime="5m",
                nodeGroup={"podRequest": "1", "nodeAllocatable": "3800m", "region": REGION},
            )
        )
    )
    source = FilePolicySource(path)
    ctl = Controller(
        policies=source,
        forecasts=FakeForecasts(**{"live-nodes": 2000.0}),  # 20 pods, 3 per node -> 7 nodes
        kube=None,
        metrics=PrescalerMetrics(CollectorRegistry()),
    )
    [outcome] = ctl.tick(NOW)
    assert outcome.actuator == "AutoScalingGroup" and outcome.desired == 7
    assert outcome.action == "NodeGroupResized AutoScalingGroup/live-nodes 4 -> 7 nodes"
    assert desired(aws) == 7
    assert source.statuses["live/live-nodes"]["desiredReplicas"] == 7

    # The forecast falls: the group shrinks one node per tick, once the stabilisation window allows it.
    ctl.forecasts.by_policy["live-nodes"] = 300.0
    sizes = []
    for minute in range(1, 10):
        ctl.tick(NOW + minute * pd.Timedelta(minutes=1))
        sizes.append(desired(aws))
    assert sizes[:4] == [7, 7, 7, 7]  # 5-minute stabilisation
    assert all(a - b in (0, 1) for a, b in zip(sizes, sizes[1:], strict=False))
    assert sizes[-1] < 7
