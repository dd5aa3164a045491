"""EC2 Auto Scaling groups as prescaler node groups: read a group, set its desired capacity safely.

``set_desired_capacity`` does not clamp to the group's MinSize/MaxSize (it fails or, with some SDKs, is
silently adjusted), so :meth:`AutoScalingGroups.set_desired` clamps first and reports which bound it hit. It
never lowers what the group already runs abruptly: a decrease removes at most ``max_step_down`` instances per
call (the prescaler calls once per tick), and a group whose desired capacity already matches is not touched
(idempotent ticks). This module is the one retry point for the Auto Scaling API: throttling and 5xx answers
are retried on :data:`ASG_BACKOFF_S`, with botocore's own retries switched off so the two never multiply.

It must not decide capacity (that is :mod:`forecaster.scaling`) nor import anything from Kubernetes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forecaster.errors import ForecasterError

__all__ = ["ASG_BACKOFF_S", "AsgError", "AsgNotFoundError", "AsgState", "AsgChange", "AutoScalingGroups"]

log = logging.getLogger(__name__)

ASG_BACKOFF_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
"""Delays before each retry of a throttled or 5xx call (AWS asks clients to back off exponentially)."""

_THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}


class AsgError(ForecasterError):
    """An Auto Scaling API call failed; ``temporary`` says whether the next tick may do better."""

    def __init__(self, problem: str, *, hint: str | None = None, temporary: bool = False) -> None:
        super().__init__(problem, hint=hint)
        self.temporary = temporary


class AsgNotFoundError(AsgError):
    """No Auto Scaling group by that name in the region."""


@dataclass(frozen=True)
class AsgState:
    name: str
    min_size: int
    max_size: int
    desired: int
    in_service: int


@dataclass(frozen=True)
class AsgChange:
    name: str
    requested: int
    applied: int
    previous: int
    note: str = ""
    """Why ``applied`` differs from ``requested`` (a bound, or the step-down limit)."""

    @property
    def changed(self) -> bool:
        return self.applied != self.previous


class AutoScalingGroups:
    """Reads and resizes Auto Scaling groups in one region. ``client`` and ``sleep`` are test seams."""

    def __init__(
        self,
        *,
        region: str | None = None,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff_s: tuple[float, ...] = ASG_BACKOFF_S,
        max_step_down: int = 1,
    ) -> None:
        if max_step_down < 1:
            raise ValueError(f"max_step_down must be >= 1, got {max_step_down}")
        self.region = region
        self._client = client
        self._sleep = sleep
        self.backoff_s = backoff_s
        self.max_step_down = max_step_down

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # One retry point (ours): botocore's retries off.
            config = Config(retries={"max_attempts": 1, "mode": "standard"})
            self._client = boto3.client("autoscaling", region_name=self.region, config=config)
        return self._client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(len(self.backoff_s) + 1):
            try:
                return getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                temporary = code in _THROTTLING or status >= 500
                problem = f"autoscaling {operation}: {code or status}: {exc.response.get('Error', {}).get('Message', '')}"
                if not temporary:
                    hint = (
                        "grant autoscaling:"
                        + operation[0].upper()
                        + "".join(w.capitalize() for w in operation.split("_"))[1:]
                        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
                        else None
                    )
                    raise AsgError(problem, hint=hint) from exc
                if attempt >= len(self.backoff_s):
                    raise AsgError(
                        problem, hint="throttled or failing; the next tick tries again", temporary=True
                    ) from exc
            except BotoCoreError as exc:  # connection errors, timeouts
                if attempt >= len(self.backoff_s):
                    raise AsgError(f"autoscaling {operation}: {exc}", temporary=True) from exc
            delay = self.backoff_s[attempt]
            log.info("autoscaling %s failed temporarily; retry %d in %.1fs", operation, attempt + 1, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def describe(self, name: str) -> AsgState:
        answer = self._call("describe_auto_scaling_groups", AutoScalingGroupNames=[name])
        groups = answer.get("AutoScalingGroups") or []
        if not groups:
            raise AsgNotFoundError(
                f"Auto Scaling group {name!r} not found in {self.region or 'the default region'}",
                hint="check spec.scaleTargetRef.name and spec.nodeGroup.region",
            )
        g = groups[0]
        in_service = sum(1 for i in g.get("Instances") or [] if i.get("LifecycleState") == "InService")
        return AsgState(
            name=name,
            min_size=int(g["MinSize"]),
            max_size=int(g["MaxSize"]),
            desired=int(g["DesiredCapacity"]),
            in_service=in_service,
        )

    def set_desired(self, name: str, desired: int, *, max_step_down: int | None = None) -> AsgChange:
        """Ask for ``desired`` instances: clamped to [MinSize, MaxSize], decreases limited to a step."""
        state = self.describe(name)
        step = self.max_step_down if max_step_down is None else max_step_down
        target, note = int(desired), ""
        if target < state.min_size:
            target, note = state.min_size, f"raised to the group's MinSize {state.min_size}"
        elif target > state.max_size:
            target, note = state.max_size, f"capped at the group's MaxSize {state.max_size}"
        if target < state.desired - step:
            target, note = state.desired - step, f"lowering by at most {step} per tick"
        if target == state.desired:
            return AsgChange(name, int(desired), target, state.desired, note)
        # HonorCooldown=False: the prescaler plans ahead; a cooldown would delay capacity until the spike.
        self._call(
            "set_desired_capacity", AutoScalingGroupName=name, DesiredCapacity=target, HonorCooldown=False
        )
        return AsgChange(name, int(desired), target, state.desired, note)
