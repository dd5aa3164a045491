"""Which status changes are worth a write to the API server, and the stabilisation state kept small.

Every tick changes a policy's status a little even when nothing it decides changes: the forecast's peak
and its time move with the clock, the message carries those numbers, and the stabilisation window gains a
recommendation stamped ``now``. Written every tick, 1,000 policies are 1,000 status writes a minute (and
1,000 watch events to every watcher) that nobody acts on. :func:`material` is the part of a status whose
change is written at once; the rest (:data:`VOLATILE`, condition messages, the window's timestamps) is
brought up to date at the controller's refresh interval (:class:`~forecaster.prescaler.loop.FleetSettings`).

:func:`compact` drops the recommendations that can never decide anything: the stabilisation takes the
highest recommendation in a trailing window, so one followed by a later, at least as high one is never
that maximum again (the later one is in every window the earlier one is in). A steady recommendation is
then one entry, not one per tick, and the stored values only change when the decision's inputs do.

Pure; this module must not write anything.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecaster.scaling import ScalingState

__all__ = ["VOLATILE", "compact", "material", "widen_after_restart"]

VOLATILE = frozenset({"forecastPeak", "forecastPeakTime", "message"})
"""Status fields that follow the clock: refreshed at the refresh interval, not written for themselves
(likewise ``calendar.readAt``, the time of each tick's read)."""


def compact(state: ScalingState) -> ScalingState:
    """``state`` without the recommendations that a later, at least as high one dominates (decisions equal)."""
    kept: list[tuple[pd.Timestamp, int]] = []
    for t, r in state.recommendations:  # oldest first: a monotone stack of decreasing values
        while kept and kept[-1][1] <= r:
            kept.pop()
        kept.append((t, r))
    return ScalingState(
        recommendations=tuple(kept),
        last_desired=state.last_desired,
        last_scale_down_at=state.last_scale_down_at,
    )


def material(status: dict[str, Any]) -> dict[str, Any]:
    """The part of a status whose change is written at once (see the module docstring)."""
    out = {
        k: v
        for k, v in status.items()
        if k not in VOLATILE and k not in ("conditions", "scalingState", "accuracy")
    }
    out["conditions"] = [
        (c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []
    ]
    saved = status.get("scalingState") or {}
    out["scalingState"] = (
        [r.get("replicas") for r in saved.get("recommendations") or []],
        saved.get("lastDesired"),
        saved.get("lastScaleDownAt"),
    )
    calendar = status.get("calendar")
    if isinstance(calendar, dict):  # re-read every tick: when it was read follows the clock
        out["calendar"] = {k: v for k, v in calendar.items() if k != "readAt"}
    accuracy = status.get("accuracy")
    out["accuracy"] = accuracy.get("guardActive") if isinstance(accuracy, dict) else accuracy
    return out


def widen_after_restart(state: ScalingState, *, refresh_s: float, now: pd.Timestamp) -> ScalingState:
    """A state read from a status that may be up to ``refresh_s`` behind (another replica's, or this one's
    before a restart): each recommendation is taken as made ``refresh_s`` later (at most ``now``), so the
    stabilisation window holds capacity at least as long as it would have, never shorter."""
    if refresh_s <= 0 or not state.recommendations:
        return state
    shift = pd.Timedelta(seconds=refresh_s)
    recs = tuple((min(t + shift, now), r) for t, r in state.recommendations)
    return compact(
        ScalingState(
            recommendations=recs,
            last_desired=state.last_desired,
            last_scale_down_at=state.last_scale_down_at,
        )
    )
