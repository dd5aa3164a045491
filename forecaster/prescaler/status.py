"""What the prescaler says about a policy (pure): conditions, the status object, Events, the tick's Outcome.

Conditions follow the Kubernetes convention (``type``, ``status``, ``reason``, ``message``,
``lastTransitionTime`` kept while nothing changes). Events mark transitions, not ticks: :func:`stamp_conditions`
returns the ones worth telling. The decision's state is persisted in the status (``scalingState``) so a new
leader continues the stabilisation window where the old one stopped.

This module must not talk to anything: :mod:`forecaster.prescaler.report` writes what is built here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecaster.prescaler.kube import rfc3339
from forecaster.scaling import ScalingState

__all__ = [
    "COMPONENT",
    "Outcome",
    "condition",
    "stamp_conditions",
    "policy_ref",
    "target_ref",
    "event_body",
    "state_to_status",
    "state_from_status",
    "utc_naive",
]

COMPONENT = "forecaster-prescaler"


def utc_naive(ts: Any) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


@dataclass
class Outcome:
    """What happened to one policy in one tick (for logs, tests and the --once summary)."""

    key: str
    ready: bool
    mode: str = "Scale"
    actuator: str = ""
    desired: int | None = None
    """What the prescaler has in effect on the target after this tick (Scale mode), or recommends (Forecast)."""
    current: int | None = None
    action: str | None = None
    reason: str = ""
    message: str = ""
    conditions: dict[str, str] = field(default_factory=dict)


Event = tuple[str, str, str, bool]
"""(type, reason, message, about the target rather than the policy)."""


def condition(type_: str, ok: bool, reason: str, message: str) -> dict[str, str]:
    return {"type": type_, "status": "True" if ok else "False", "reason": reason, "message": message}


def _noteworthy(cond: dict[str, str], before: dict[str, Any] | None) -> bool:
    if before is None:
        # First sight: only bad news is worth an event.
        return (
            (cond["type"] == "Ready" and cond["status"] == "False")
            or (
                cond["type"] == "ForecastOnly"
                and cond["status"] == "True"
                and cond["reason"] == "AccuracyGuard"
            )
            or (cond["type"] == "CalendarAvailable" and cond["status"] == "False")
        )
    return cond["type"] in ("Ready", "ForecastOnly", "CalendarAvailable")


def stamp_conditions(old: dict[str, Any], status: dict[str, Any], now: pd.Timestamp) -> list[Event]:
    """Set each condition's ``lastTransitionTime`` (kept unless it changed); the Events its changes deserve."""
    events: list[Event] = []
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    for cond in status.get("conditions") or []:
        before = previous.get(cond["type"])
        changed = (
            before is None or before.get("status") != cond["status"] or before.get("reason") != cond["reason"]
        )
        cond["lastTransitionTime"] = (
            rfc3339(now) if changed else before.get("lastTransitionTime", rfc3339(now))
        )  # type: ignore[union-attr]
        if changed and _noteworthy(cond, before):
            warn = (cond["type"] in ("Ready", "CalendarAvailable") and cond["status"] == "False") or (
                cond["type"] == "ForecastOnly" and cond["status"] == "True"
            )
            text = cond["message"] or f"{cond['type']} is {cond['status']}"
            events.append(("Warning" if warn else "Normal", cond["reason"], text, False))
    return events


def policy_ref(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": "prescaling.forecaster.io/v1alpha1",
        "kind": "PrescalePolicy",
        "name": str(meta.get("name")),
        "namespace": meta.get("namespace") or "default",
    }
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    return ref


def target_ref(*, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace}


def event_body(
    *, involved: dict[str, Any], type_: str, reason: str, message: str, identity: str, now: pd.Timestamp
) -> dict[str, Any]:
    stamp = rfc3339(now)
    return {
        "metadata": {
            "generateName": f"{involved['name']}.",
            "namespace": involved.get("namespace") or "default",
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message[:1024],
        "type": type_,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": identity,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def state_to_status(state: ScalingState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "recommendations": [{"time": rfc3339(t), "replicas": int(r)} for t, r in state.recommendations]
    }
    if state.last_desired is not None:
        out["lastDesired"] = int(state.last_desired)
    if state.last_scale_down_at is not None:
        out["lastScaleDownAt"] = rfc3339(state.last_scale_down_at)
    return out


def state_from_status(data: Any) -> ScalingState:
    """The decision state a previous leader persisted; anything unreadable starts afresh (safe: no history
    only means no stabilisation memory, and the HPA floor/replicas are read from the cluster)."""
    if not isinstance(data, dict):
        return ScalingState()
    try:
        recs = tuple((utc_naive(r["time"]), int(r["replicas"])) for r in data.get("recommendations") or [])
        last = data.get("lastDesired")
        down = data.get("lastScaleDownAt")
        return ScalingState(
            recommendations=recs,
            last_desired=int(last) if last is not None else None,
            last_scale_down_at=utc_naive(down) if down else None,
        )
    except (TypeError, ValueError, KeyError):
        return ScalingState()
