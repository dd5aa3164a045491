"""Perfect foresight: the cheapest pod (and node) schedule that is never short, given start-up delays (pure).

Why it is optimal: the cost of a schedule is its pod-minutes, start-up minutes included. Any schedule can be
cut into layers (the k-th pod slot: "at least k pods exist"); its cost is the sum of the layers' costs, and a
layer only has to cover the minutes where the need is at least k. Inside one layer the only choice is, for each
gap between two needed intervals, to keep the pod through the gap (costs the gap's length) or to delete it and
start a new one ``startup`` minutes before the next interval (costs ``startup`` minutes). Bridging exactly the
gaps no longer than the start-up is therefore optimal per layer, and the layers chosen that way are nested, so
together they form a valid schedule whose cost is the sum of the per-layer minima: the global minimum. The tests
check this against brute force on small cases.

Pods that exist at the start are free and ready; nodes are planned the same way from the pods that exist (a
pod needs a ready node when it is created), which is the cheapest node schedule *for that pod schedule*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OracleSchedule", "layer_schedule", "oracle_schedule"]


@dataclass(frozen=True)
class OracleSchedule:
    ready: np.ndarray  # [M] ready pods per minute
    pods: np.ndarray  # [M] existing pods (starting or ready)
    nodes: np.ndarray  # [M] existing nodes (0 without a node model)
    actions: int  # minutes at which the pod count changes


def layer_schedule(need: np.ndarray, *, initial: int, startup_min: int) -> tuple[np.ndarray, np.ndarray]:
    """(ready, existing) per minute for the cheapest schedule covering ``need`` with ``startup_min`` delays.

    ``initial`` units exist and are ready before minute 0. A unit needed less than ``startup_min`` minutes into
    the schedule above ``initial`` cannot be ready in time; it is started at minute 0 (the caller chooses
    ``initial`` so that this does not happen).
    """
    need = np.asarray(need)
    m = len(need)
    ready = np.zeros(m, dtype=np.int64)
    exist = np.zeros(m, dtype=np.int64)
    top = int(max(need.max(initial=0), initial))
    for k in range(1, top + 1):
        on = need >= k
        covered = on.copy()
        idx = np.flatnonzero(on)
        if len(idx) == 0:
            continue
        # Needed intervals of this layer: [starts[i], ends[i]) in minutes.
        breaks = np.flatnonzero(np.diff(idx) > 1)
        starts = np.concatenate([[idx[0]], idx[breaks + 1]])
        ends = np.concatenate([idx[breaks] + 1, [idx[-1] + 1]])
        layer_exist = np.zeros(m, dtype=bool)
        prev_end = 0 if k <= initial else None  # an initial unit is "needed" just before minute 0
        for s, e in zip(starts, ends, strict=True):
            if prev_end is not None and s - prev_end <= startup_min:
                covered[prev_end:s] = True  # keep it through the gap: cheaper than a restart
            else:
                layer_exist[max(0, s - startup_min) : s] = True  # started ahead so it is ready at s
            prev_end = e
        layer_exist |= covered
        ready += covered
        exist += layer_exist
    return ready, exist


def _changes(counts: np.ndarray, initial: int) -> int:
    return int((np.diff(np.concatenate([[initial], counts])) != 0).sum())


def oracle_schedule(
    *,
    need: np.ndarray,
    initial: int,
    pod_startup_min: int,
    pods_per_node: int = 0,
    node_startup_min: int = 0,
) -> OracleSchedule:
    """The oracle run: pods covering ``need`` (replicas per minute), and nodes for those pods."""
    ready, pods = layer_schedule(need, initial=initial, startup_min=pod_startup_min)
    nodes = np.zeros_like(pods)
    if pods_per_node > 0:
        # Only the nodes that exist are reported, and which of them were there at the start changes when they
        # are ready, never how many exist (a node is either kept through a short gap or started just as early),
        # so the node layers need no initial units.
        _, nodes = layer_schedule(-(-pods // pods_per_node), initial=0, startup_min=node_startup_min)
    return OracleSchedule(
        ready=ready.astype(float),
        pods=pods.astype(float),
        nodes=nodes.astype(float),
        actions=_changes(pods, initial),
    )
