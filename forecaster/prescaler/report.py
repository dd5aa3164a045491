"""Writes what the prescaler says: a policy's status (only when it changed) and its Events.

Status goes through the policy source (the cluster, or memory for policy files); Events are best effort: a
failure is counted and logged, never fails a tick. What to write is built by :mod:`forecaster.prescaler.status`;
this module must not decide what to say, only deliver it.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from forecaster.prescaler.actuators import ACTUATORS
from forecaster.prescaler.kube import EVENTS, KubeClient, KubeError
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy import PrescalePolicy
from forecaster.prescaler.policy_sources import PolicySource
from forecaster.prescaler.problems import error_kind
from forecaster.prescaler.status import Event, event_body, policy_ref, stamp_conditions, target_ref
from forecaster.prescaler.status_diff import material

__all__ = ["Reporter"]

log = logging.getLogger(__name__)


class Reporter:
    def __init__(
        self, *, policies: PolicySource, kube: KubeClient | None, metrics: PrescalerMetrics, identity: str
    ) -> None:
        self.policies = policies
        self.kube = kube
        self.metrics = metrics
        self.identity = identity

    def write_status(
        self,
        obj: dict[str, Any],
        old: dict[str, Any],
        status: dict[str, Any],
        now: pd.Timestamp,
        *,
        events: list[Event] | None = None,
        policy: PrescalePolicy | None = None,
        only_material: bool = False,
    ) -> bool:
        """Stamp the conditions, write the status if it changed, then post the events (transitions first).

        ``only_material``: skip a change to the clock-following parts alone
        (:func:`~forecaster.prescaler.status_diff.material`). True when the status was written.
        """
        events = list(events or []) + stamp_conditions(old, status, now)
        written = False
        if status != old and not (only_material and material(status) == material(old)):
            try:
                self.policies.patch_status(obj, status)
                written = True
            except KubeError as exc:
                self.metrics.errors.labels(kind=error_kind(exc)).inc()
                log.warning("cannot write status of %s: %s", policy_ref(obj).get("name"), exc)
            else:
                self.metrics.status_writes.inc()
        elif status != old:
            self.metrics.status_writes_skipped.inc()
        for type_, reason, message, on_target in events:
            involved = self.about_target(policy) if on_target else policy_ref(obj)
            self.event(type_, reason, message, involved=involved or policy_ref(obj), now=now)
        return written

    def event(
        self, type_: str, reason: str, message: str, *, involved: dict[str, Any], now: pd.Timestamp
    ) -> None:
        log.log(logging.WARNING if type_ == "Warning" else logging.INFO, "%s: %s", reason, message)
        if self.kube is None:
            return
        body = event_body(
            involved=involved, type_=type_, reason=reason, message=message, identity=self.identity, now=now
        )
        try:
            self.kube.create(EVENTS, namespace=body["metadata"]["namespace"], body=body)
        except KubeError as exc:  # events are best effort: never fail a tick for one
            self.metrics.errors.labels(kind=error_kind(exc)).inc()
            log.warning("cannot post event %s: %s", reason, exc)

    @staticmethod
    def about_target(policy: PrescalePolicy | None) -> dict[str, Any] | None:
        """The target as an involvedObject, when it is a Kubernetes object (not a cloud node group)."""
        if policy is None:
            return None
        actuator = ACTUATORS.get(policy.actuator)
        if actuator is not None and not actuator.in_cluster:
            return None
        t = policy.target
        return target_ref(api_version=t.api_version, kind=t.kind, name=t.name, namespace=policy.namespace)
