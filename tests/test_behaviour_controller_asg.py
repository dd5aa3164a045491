"""Auto Scaling groups as the prescaler drives them (:class:`forecaster.prescaler.asg.AutoScalingGroups`), through
its ``client`` seam with a scripted client: clamps to the group's bounds, at most one instance fewer per tick,
no call when nothing changes, no cooldown, and retries only what may succeed later.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from forecaster.prescaler.asg import ASG_BACKOFF_S, AsgError, AsgNotFoundError, AutoScalingGroups


class _Client:
    def __init__(self, *, min_size=1, max_size=10, desired=4, instances=None, failures=()):
        self.group = {
            "MinSize": min_size,
            "MaxSize": max_size,
            "DesiredCapacity": desired,
            "Instances": instances if instances is not None else [{"LifecycleState": "InService"}] * desired,
        }
        self.failures = list(failures)
        self.calls: list[tuple[str, dict]] = []

    def _maybe_fail(self):
        if self.failures:
            raise self.failures.pop(0)

    def describe_auto_scaling_groups(self, **kw):
        self.calls.append(("describe", kw))
        self._maybe_fail()
        return {"AutoScalingGroups": [self.group] if kw["AutoScalingGroupNames"] == ["workers"] else []}

    def set_desired_capacity(self, **kw):
        self.calls.append(("set", kw))
        self._maybe_fail()
        self.group["DesiredCapacity"] = kw["DesiredCapacity"]
        return {}


def _error(code, status=400, message="nope"):
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SetDesiredCapacity",
    )


def _groups(client, **kw):
    sleeps: list[float] = []
    groups = AutoScalingGroups(client=client, sleep=sleeps.append, **kw)
    return groups, sleeps


def _sets(client):
    return [kw for op, kw in client.calls if op == "set"]


@pytest.mark.parametrize(
    ("desired", "applied", "note"),
    [
        (6, 6, ""),
        (10, 10, ""),
        (12, 10, "capped at the group's MaxSize 10"),
        (3, 3, ""),  # one fewer: within the step
        (2, 3, "lowering by at most 1 per tick"),
        (0, 3, "lowering by at most 1 per tick"),
    ],
)
def test_the_desired_capacity_is_clamped_and_lowered_one_step_at_a_time(desired, applied, note):
    client = _Client(min_size=1, max_size=10, desired=4)
    groups, _ = _groups(client)

    change = groups.set_desired("workers", desired)

    assert (change.requested, change.applied, change.previous, change.note) == (desired, applied, 4, note)
    assert change.changed is True
    assert _sets(client) == [
        {"AutoScalingGroupName": "workers", "DesiredCapacity": applied, "HonorCooldown": False}
    ]


def test_below_the_groups_min_size_is_raised_to_it():
    client = _Client(min_size=5, max_size=10, desired=5)
    (change,) = [_groups(client)[0].set_desired("workers", 2)]
    assert (change.applied, change.changed) == (5, False)
    assert change.note == "raised to the group's MinSize 5"
    assert _sets(client) == []


def test_an_unchanged_capacity_is_not_written():
    client = _Client(desired=4)
    change = _groups(client)[0].set_desired("workers", 4)
    assert change.changed is False and _sets(client) == []


@pytest.mark.parametrize(("step", "desired", "applied"), [(3, 0, 1), (3, 1, 1), (2, 1, 2)])
def test_a_larger_step_down_is_honoured(step, desired, applied):
    client = _Client(min_size=0, desired=4)
    groups, _ = _groups(client, max_step_down=step)
    assert groups.set_desired("workers", desired).applied == applied
    client = _Client(min_size=0, desired=4)
    assert _groups(client)[0].set_desired("workers", desired, max_step_down=step).applied == applied


def test_a_step_below_one_is_refused():
    with pytest.raises(ValueError):
        AutoScalingGroups(client=_Client(), max_step_down=0)


def test_describe_counts_only_instances_in_service():
    client = _Client(
        desired=3,
        instances=[
            {"LifecycleState": "InService"},
            {"LifecycleState": "Pending"},
            {"LifecycleState": "InService"},
            {"LifecycleState": "Terminating"},
        ],
    )
    state = _groups(client)[0].describe("workers")
    assert (state.min_size, state.max_size, state.desired, state.in_service) == (1, 10, 3, 2)


def test_a_missing_group_is_named_with_its_region():
    groups = AutoScalingGroups(client=_Client(), region="eu-west-1")
    with pytest.raises(AsgNotFoundError, match="'other' not found in eu-west-1"):
        groups.describe("other")


@pytest.mark.parametrize(
    "failure",
    [
        _error("Throttling"),
        _error("ThrottlingException"),
        _error("RequestLimitExceeded"),
        _error("InternalFailure", status=500),
        _error("ServiceUnavailable", status=503),
        EndpointConnectionError(endpoint_url="https://autoscaling"),
    ],
)
def test_temporary_failures_are_retried_on_the_schedule(failure):
    client = _Client(failures=[failure] * len(ASG_BACKOFF_S))
    groups, sleeps = _groups(client)
    assert groups.describe("workers").desired == 4
    assert sleeps == list(ASG_BACKOFF_S)

    client = _Client(failures=[failure] * (len(ASG_BACKOFF_S) + 1))
    groups, sleeps = _groups(client)
    with pytest.raises(AsgError) as info:
        groups.describe("workers")
    assert info.value.temporary is True and sleeps == list(ASG_BACKOFF_S)
    assert len(client.calls) == len(ASG_BACKOFF_S) + 1


@pytest.mark.parametrize(
    ("failure", "hint"),
    [
        (_error("AccessDenied", status=403), "grant autoscaling:DescribeAutoScalingGroups"),
        (_error("ValidationError"), None),
    ],
)
def test_permanent_failures_are_raised_at_once(failure, hint):
    client = _Client(failures=[failure])
    groups, sleeps = _groups(client)
    with pytest.raises(AsgError) as info:
        groups.describe("workers")
    assert info.value.temporary is False and sleeps == [] and len(client.calls) == 1
    assert info.value.hint == hint


def test_a_denied_resize_names_the_permission():
    client = _Client(desired=4)
    groups, _ = _groups(client)
    client.failures = []
    original = client.set_desired_capacity

    def denied(**kw):
        client.calls.append(("set", kw))
        raise _error("AccessDenied", status=403)

    client.set_desired_capacity = denied
    with pytest.raises(AsgError) as info:
        groups.set_desired("workers", 6)
    assert info.value.hint == "grant autoscaling:SetDesiredCapacity"
    assert original is not None
