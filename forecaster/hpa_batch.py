"""Many HPAs syncing in lockstep, one numpy pass per sync: :func:`forecaster.hpa.hpa_step` vectorised over settings.

A tuning grid replays the same trace under dozens of HPA settings (target utilisation, a prescaler floor under
each); :func:`forecaster.hpa.hpa_step` decides for one of them at a time, in Python, and was half of
``forecaster tune``'s time. :class:`HPABatch` keeps the state of ``S`` HPAs as arrays and decides all of them at
each sync with the same rules, step for step: the tolerance, the unready pods counted idle on a scale-up, the
stabilisation windows (the highest proposal of the scale-down window, the lowest of the scale-up one), the rate
policies counted from the scale events inside each period, min/max (the prescaler's floor as ``minReplicas``).
``tests/test_hpa_batch.py`` holds it equal to :func:`~forecaster.hpa.hpa_step` over random inputs.

What it needs that ``hpa_step`` does not: the HPAs sync together, every ``sync_period_s``, one call per sync (the
clock is the call count, so no timestamps are built), and they share the sync period and the ``behavior`` rules
(the window lengths and policies). Target utilisation, capacity, tolerance and min/max may differ per HPA.

:class:`PodsBatch` is the Deployment beside it (pods ready ``pod_startup_s`` after they are scheduled, the newest
removed first), without a node model or start-up jitter: the cases the tuning grid replays. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError
from forecaster.hpa import HPAConfig, HPARules

__all__ = ["HPABatch", "PodsBatch", "batch_key"]

_NONE = -1
"""A proposal or floor that is not there (``None`` in :func:`forecaster.hpa.hpa_step`)."""


def batch_key(config: HPAConfig) -> tuple:
    """What HPAs must share to sync in one :class:`HPABatch`."""
    return (
        float(config.sync_period_s),
        float(config.metric_window_s),
        float(config.metric_lag_s),
        config.scale_up,
        config.scale_down,
    )


def _syncs_within(seconds: float, sync_ns: int) -> int:
    """How many earlier syncs lie strictly inside a trailing window of ``seconds`` (``t > now - seconds``)."""
    window_ns = pd.Timedelta(seconds=seconds).value
    d = 0
    while (d + 1) * sync_ns < window_ns:
        d += 1
    return d


class HPABatch:
    """``S`` HPAs (one :class:`~forecaster.hpa.HPAConfig` each) deciding together at consecutive syncs."""

    def __init__(self, configs: Sequence[HPAConfig]) -> None:
        if not configs:
            raise ConfigError("HPA batch: no HPA given", hint="pass at least one HPAConfig")
        keys = {batch_key(c) for c in configs}
        if len(keys) != 1:
            raise ConfigError(
                "HPA batch: the HPAs must share the sync period, metric window and lag and the behavior rules",
                hint="group the configs by forecaster.hpa_batch.batch_key and run one batch per group",
            )
        first = configs[0]
        self.size = len(configs)
        self.sync_ns = pd.Timedelta(seconds=first.sync_period_s).value
        # The HPA's target per pod, as hpa_step computes it (the same float operations, so the same rounding).
        self.target = np.array([c.capacity_per_replica * c.target_utilisation for c in configs], dtype=float)
        self.tolerance = np.array([c.tolerance for c in configs], dtype=float)
        self.min_replicas = np.array([c.min_replicas for c in configs], dtype=np.int64)
        self.max_replicas = np.array([c.max_replicas for c in configs], dtype=np.int64)
        self.up_rules: HPARules = first.scale_up
        self.down_rules: HPARules = first.scale_down
        self.up_window = _syncs_within(first.scale_up.stabilization_window_s, self.sync_ns)
        self.down_window = _syncs_within(first.scale_down.stabilization_window_s, self.sync_ns)
        periods = [p.period_s for r in (first.scale_up, first.scale_down) for p in r.policies]
        self.up_periods = [_syncs_within(p.period_s, self.sync_ns) for p in first.scale_up.policies]
        self.down_periods = [_syncs_within(p.period_s, self.sync_ns) for p in first.scale_down.policies]
        recs = max(self.up_window, self.down_window, 1)
        events = max([_syncs_within(p, self.sync_ns) for p in periods] + [1])
        s = self.size
        # Most recent first: column d-1 holds what was recorded d syncs ago.
        self._rec_high = np.full((s, recs), _NONE, dtype=np.int64)  # proposals; _NONE where none was made
        self._rec_low = np.full((s, recs), np.iinfo(np.int64).max, dtype=np.int64)  # the same, for min
        self._ups = np.zeros((s, events), dtype=np.int64)  # scale-up events (pods added), 0 where none
        self._downs = np.zeros((s, events), dtype=np.int64)  # scale-down events (pods removed)

    def _proposal(self, load: np.ndarray, current: np.ndarray, ready: np.ndarray) -> np.ndarray:  # [S] each
        """hpa._proposal for every HPA."""
        target, tol = self.target, self.tolerance
        some = ready > 0
        safe_ready = np.where(some, ready, 1)
        ratio = load / (safe_ready * target)
        unready = np.maximum(current - ready, 0)
        # No pod starting: the plain proposal.
        plain = np.where(
            np.abs(1.0 - ratio) <= tol, current, np.ceil(ratio * safe_ready - 1e-9).astype(np.int64)
        )
        # Pods starting: on a scale-up they count as idle.
        up = ratio > 1.0
        pods = np.where(up, safe_ready + unready, safe_ready)
        new_ratio = np.where(up, load / (pods * target), ratio)
        keep = (
            (np.abs(1.0 - new_ratio) <= tol)
            | ((ratio < 1.0) & (new_ratio > 1.0))
            | ((ratio > 1.0) & (new_ratio < 1.0))
        )
        proposal = np.ceil(new_ratio * pods - 1e-9).astype(np.int64)
        keep |= ((new_ratio < 1.0) & (proposal > current)) | ((new_ratio > 1.0) & (proposal < current))
        starting = np.where(keep, current, proposal)
        out = np.where(unready <= 0, plain, starting)
        return np.where(some, out, current)

    def _limit(self, rules: HPARules, periods: list[int], *, up: bool, current: np.ndarray) -> np.ndarray:
        """hpa._limit for every HPA."""
        if rules.select == "Disabled" or not rules.policies:
            return current
        values = []
        for policy, within in zip(rules.policies, periods, strict=True):
            added = self._ups[:, :within].sum(axis=1)
            removed = self._downs[:, :within].sum(axis=1)
            start = current - added + removed
            if up:
                value = (
                    start + policy.value
                    if policy.type == "Pods"
                    else np.ceil(start * (1 + policy.value / 100)).astype(np.int64)
                )
            else:
                value = (
                    start - policy.value
                    if policy.type == "Pods"
                    else np.trunc(start * (1 - policy.value / 100)).astype(np.int64)
                )
            values.append(value)
        stack = np.stack(values)
        if up:
            return stack.max(axis=0) if rules.select == "Max" else stack.min(axis=0)
        return stack.min(axis=0) if rules.select == "Max" else stack.max(axis=0)

    def step(
        self,
        *,
        load: np.ndarray,
        current_replicas: np.ndarray,
        ready_replicas: np.ndarray,
        min_replicas: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One sync of every HPA, one sync period after the previous call: (desired replicas, proposal) [S].

        The arguments are ``hpa_step``'s, one entry per HPA: ``load`` NaN for "metrics unavailable";
        ``min_replicas`` < 0 (or None for all) for "no override". A proposal that was not made is -1.
        """
        load = np.asarray(load, dtype=float)
        current = np.asarray(current_replicas, dtype=np.int64)
        ready = np.asarray(ready_replicas, dtype=np.int64)
        hi = self.max_replicas
        if min_replicas is None:
            lo = self.min_replicas
        else:
            floor = np.asarray(min_replicas, dtype=np.int64)
            lo = np.where(floor < 0, self.min_replicas, np.maximum(1, floor))
        lo = np.minimum(lo, hi)
        above = current > hi
        below = ~above & (current < lo)
        no_metric = ~above & ~below & ~np.isfinite(load)
        decides = ~(above | below | no_metric)

        proposal = self._proposal(np.where(decides, load, 0.0), current, ready)
        # stabilizeRecommendationWithBehaviors: the earlier proposals inside each window, and this one.
        up_rec = proposal
        if self.up_window:
            up_rec = np.minimum(proposal, self._rec_low[:, : self.up_window].min(axis=1))
        down_rec = proposal
        if self.down_window:
            down_rec = np.maximum(proposal, self._rec_high[:, : self.down_window].max(axis=1))
        stabilised = np.minimum(np.maximum(current, up_rec), down_rec)
        # convertDesiredReplicasWithBehaviorRate, with the events before this sync.
        going_up = stabilised > current
        going_down = stabilised < current
        top = hi
        bottom = lo
        if going_up.any():
            up_limit = self._limit(self.up_rules, self.up_periods, up=True, current=current)
            top = np.where(going_up, np.minimum(hi, np.maximum(up_limit, current)), hi)
        if going_down.any():
            down_limit = self._limit(self.down_rules, self.down_periods, up=False, current=current)
            bottom = np.where(going_down, np.maximum(lo, np.minimum(down_limit, current)), lo)
        desired = np.where(stabilised < bottom, bottom, np.where(stabilised > top, top, stabilised))
        desired = np.where(above, hi, np.where(below, lo, np.where(no_metric, current, desired)))

        # Record this sync's proposal (only where one was made) and its scale event (not without metrics).
        self._rec_high[:, 1:] = self._rec_high[:, :-1]
        self._rec_low[:, 1:] = self._rec_low[:, :-1]
        self._rec_high[:, 0] = np.where(decides, proposal, _NONE)
        self._rec_low[:, 0] = np.where(decides, proposal, np.iinfo(np.int64).max)
        self._ups[:, 1:] = self._ups[:, :-1]
        self._downs[:, 1:] = self._downs[:, :-1]
        self._ups[:, 0] = np.maximum(desired - current, 0)
        self._downs[:, 0] = np.maximum(current - desired, 0)
        return desired.astype(np.int64), np.where(decides, proposal, _NONE)


class PodsBatch:
    """``S`` Deployments: pods become ready ``pod_startup_s`` after they are scheduled; scale-down removes the
    newest first (``simulate._Deployment`` without nodes or jitter). Times in seconds from the replay start."""

    def __init__(self, *, initial: np.ndarray, width: int, pod_startup_s: float) -> None:
        initial = np.asarray(initial, dtype=np.int64)
        width = max(int(width), int(initial.max(initial=0)), 1)
        self.pod_startup_s = float(pod_startup_s)
        self._columns = np.arange(width)[None, :]  # [1, W]
        # [S, W]: when each pod is (or was) ready; +inf past the last pod. Pods there at the start are ready.
        self.ready_at = np.where(self._columns < initial[:, None], -np.inf, np.inf)
        self.replicas = initial.copy()

    def ready_count(self, t: float) -> np.ndarray:
        return (self.ready_at <= t).sum(axis=1)

    def scale_to(self, replicas: np.ndarray, t: float) -> None:
        replicas = np.asarray(replicas, dtype=np.int64)
        if replicas.max(initial=0) > self._columns.shape[1]:
            raise ConfigError(
                f"pods batch: {int(replicas.max())} replicas is beyond the batch's width "
                f"{self._columns.shape[1]}",
                hint="size the batch for the largest max_replicas",
            )
        old = self.replicas[:, None]
        new = replicas[:, None]
        started = t + self.pod_startup_s
        self.ready_at = np.where(
            self._columns < new, np.where(self._columns < old, self.ready_at, started), np.inf
        )
        self.replicas = replicas.copy()
