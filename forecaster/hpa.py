"""The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) algorithm as a pure model, for the replay simulator.

It follows the controller in ``kubernetes/pkg/controller/podautoscaler`` (horizontal.go, replica_calculator.go):

- below ``minReplicas`` / above ``maxReplicas`` the target is set to the bound at once, without metrics;
- the proposal is ``ceil(usage_ratio x ready pods)`` with ``usage_ratio = metric / target``, nothing when the
  ratio is within the tolerance (default 0.1); on a scale-up, pods that are not ready yet count as idle (and
  the proposal is dropped if that brings the ratio back within the tolerance); with no ready pod there is no
  metric and nothing changes;
- ``behavior``: the proposal is stabilised (scale-down: the highest proposal of the window, default 300 s;
  scale-up: the lowest, default 0 s), then rate-limited by the policies (Pods or Percent per period, select
  Max/Min/Disabled) counted from the scale events inside each period, then clipped to min/max.

Here the metric is the load (e.g. requests/s): ``capacity_per_replica`` is the load one pod serves at full use and
the HPA's target per pod is ``target_utilisation x capacity_per_replica``, so
``usage_ratio = load / (ready pods x capacity_per_replica x target_utilisation)``. Which load the HPA
sees (averaged over the metric window, seen with the metrics pipeline's lag) is the simulator's business; this
module only decides, with ``now`` passed in. It keeps no clock and does no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from forecaster.errors import ConfigError

__all__ = [
    "HPAPolicy",
    "HPARules",
    "HPAConfig",
    "HPAState",
    "HPAResult",
    "hpa_step",
    "default_scale_up",
    "default_scale_down",
]


@dataclass(frozen=True)
class HPAPolicy:
    """One ``behavior`` policy: at most ``value`` pods (``Pods``) or percent (``Percent``) per ``period_s``."""

    type: str
    value: int
    period_s: float

    def __post_init__(self) -> None:
        if self.type not in ("Pods", "Percent"):
            raise ConfigError(f"HPA policy type must be Pods or Percent, got {self.type!r}")
        if isinstance(self.value, bool) or int(self.value) != self.value or self.value <= 0:
            raise ConfigError(f"HPA policy value must be a whole number > 0, got {self.value!r}")
        if not 0 < self.period_s <= 1800:
            raise ConfigError(f"HPA policy period_s must be in (0, 1800], got {self.period_s!r}")


@dataclass(frozen=True)
class HPARules:
    """``behavior.scaleUp`` or ``behavior.scaleDown``."""

    stabilization_window_s: float
    policies: tuple[HPAPolicy, ...]
    select: str = "Max"

    def __post_init__(self) -> None:
        if self.select not in ("Max", "Min", "Disabled"):
            raise ConfigError(f"HPA selectPolicy must be Max, Min or Disabled, got {self.select!r}")
        if not 0 <= self.stabilization_window_s <= 3600:
            raise ConfigError(
                f"HPA stabilization window must be in [0, 3600] s, got {self.stabilization_window_s!r}"
            )


def default_scale_up() -> HPARules:
    """Kubernetes' default: no stabilisation; +100% or +4 pods per 15 s, whichever is more."""
    return HPARules(0.0, (HPAPolicy("Percent", 100, 15), HPAPolicy("Pods", 4, 15)), "Max")


def default_scale_down() -> HPARules:
    """Kubernetes' default: 300 s stabilisation; down to 0% per 15 s (no rate limit)."""
    return HPARules(300.0, (HPAPolicy("Percent", 100, 15),), "Max")


@dataclass(frozen=True)
class HPAConfig:
    """An HPA on one Deployment. Times in seconds."""

    capacity_per_replica: float
    """Load one pod serves at full use (above it, the pod is under-provisioned)."""
    target_utilisation: float = 1.0
    """The HPA's target as a fraction of ``capacity_per_replica`` (0.7 = scale to keep pods 70% busy)."""
    min_replicas: int = 1
    max_replicas: int = 100
    tolerance: float = 0.1
    sync_period_s: float = 15.0
    """``--horizontal-pod-autoscaler-sync-period``."""
    metric_window_s: float = 60.0
    """The metric is the load averaged over this window (metrics-server's resolution)."""
    metric_lag_s: float = 60.0
    """How old the newest metric is when the HPA reads it (scrape + metrics-server)."""
    scale_up: HPARules = field(default_factory=default_scale_up)
    scale_down: HPARules = field(default_factory=default_scale_down)

    def __post_init__(self) -> None:
        if not math.isfinite(self.capacity_per_replica) or self.capacity_per_replica <= 0:
            raise ConfigError(
                f"HPA: capacity_per_replica must be > 0, got {self.capacity_per_replica!r}",
                hint="the load one pod serves at full use (the HPA's target is target_utilisation of it)",
            )
        if not math.isfinite(self.target_utilisation) or not 0 < self.target_utilisation <= 1:
            raise ConfigError(
                f"HPA: target_utilisation must be in (0, 1], got {self.target_utilisation!r}",
                hint="the HPA's target as a fraction of a pod's capacity, e.g. 0.7",
            )
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ConfigError(
                f"HPA: need 1 <= min_replicas <= max_replicas, got {self.min_replicas} and {self.max_replicas}"
            )
        if not 0 <= self.tolerance < 1:
            raise ConfigError(f"HPA: tolerance must be in [0, 1), got {self.tolerance!r}", hint="default 0.1")
        if self.sync_period_s <= 0 or self.metric_window_s <= 0 or self.metric_lag_s < 0:
            raise ConfigError(
                "HPA: sync_period_s and metric_window_s must be > 0 and metric_lag_s >= 0",
                hint="e.g. sync 15s, window 60s, lag 60s",
            )


@dataclass(frozen=True)
class HPAState:
    recommendations: tuple[tuple[pd.Timestamp, int], ...] = ()
    """Unstabilised proposals, as the controller keeps them."""
    scale_up_events: tuple[tuple[pd.Timestamp, int], ...] = ()
    scale_down_events: tuple[tuple[pd.Timestamp, int], ...] = ()


@dataclass(frozen=True)
class HPAResult:
    desired_replicas: int
    proposal: int | None
    """The metric-based proposal before stabilisation and limits (None when no metric was used)."""
    reason: str
    state: HPAState


def _proposal(*, config: HPAConfig, load: float, current: int, ready: int, unready: int) -> int:
    """replica_calculator.GetResourceReplicas / GetMetricReplicas for an average-value metric."""
    if ready <= 0:
        return current  # no metrics from ready pods: the controller errors out and keeps the scale
    target = config.capacity_per_replica * config.target_utilisation
    ratio = load / (ready * target)
    if unready <= 0:
        if abs(1.0 - ratio) <= config.tolerance:
            return current
        return math.ceil(ratio * ready - 1e-9)
    if ratio > 1.0:
        # Scale-up: pods not ready yet count as idle, so pods already starting are not asked for twice.
        new_ratio = load / ((ready + unready) * target)
        pods = ready + unready
    else:
        new_ratio, pods = ratio, ready
    if abs(1.0 - new_ratio) <= config.tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposal = math.ceil(new_ratio * pods - 1e-9)
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


def _changes_in(events: tuple[tuple[pd.Timestamp, int], ...], now: pd.Timestamp, period_s: float) -> int:
    cutoff = now - pd.Timedelta(seconds=period_s)
    return sum(change for t, change in events if t > cutoff)


def _limit(rules: HPARules, *, up: bool, current: int, state: HPAState, now: pd.Timestamp) -> int:
    """calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors."""
    if rules.select == "Disabled":
        return current
    proposals = []
    for policy in rules.policies:
        added = _changes_in(state.scale_up_events, now, policy.period_s)
        removed = _changes_in(state.scale_down_events, now, policy.period_s)
        start = current - added + removed
        if up:
            value = (
                start + policy.value if policy.type == "Pods" else math.ceil(start * (1 + policy.value / 100))
            )
        else:
            value = start - policy.value if policy.type == "Pods" else int(start * (1 - policy.value / 100))
        proposals.append(value)
    if not proposals:
        return current
    # Max = the largest change: the highest limit going up, the lowest going down.
    if up:
        return max(proposals) if rules.select == "Max" else min(proposals)
    return min(proposals) if rules.select == "Max" else max(proposals)


def hpa_step(
    *,
    config: HPAConfig,
    state: HPAState,
    now: pd.Timestamp,
    load: float | None,
    current_replicas: int,
    ready_replicas: int,
    min_replicas: int | None = None,
) -> HPAResult:
    """One HPA sync at ``now``: the new ``spec.replicas`` of the target.

    ``load`` is the metric the HPA reads (None: metrics unavailable, nothing changes); ``current_replicas`` the
    target's spec replicas, ``ready_replicas`` how many of them are ready. ``min_replicas`` overrides the
    config's (the prescaler raises the HPA floor this way).
    """
    lo = config.min_replicas if min_replicas is None else max(1, int(min_replicas))
    hi = config.max_replicas
    lo = min(lo, hi)
    current = int(current_replicas)
    if current > hi:
        return _apply(state, now, current, hi, None, "above max_replicas")
    if current < lo:
        return _apply(state, now, current, lo, None, "below min_replicas")
    if load is None or not math.isfinite(load):
        return HPAResult(current, None, "no metrics", state)
    unready = max(current - int(ready_replicas), 0)
    proposal = _proposal(
        config=config, load=float(load), current=current, ready=int(ready_replicas), unready=unready
    )

    # stabilizeRecommendationWithBehaviors
    up_cut = now - pd.Timedelta(seconds=config.scale_up.stabilization_window_s)
    down_cut = now - pd.Timedelta(seconds=config.scale_down.stabilization_window_s)
    up_rec = down_rec = proposal
    for t, rec in state.recommendations:
        if t > up_cut:
            up_rec = min(up_rec, rec)
        if t > down_cut:
            down_rec = max(down_rec, rec)
    stabilised = min(max(current, up_rec), down_rec)
    keep_after = min(up_cut, down_cut)
    recs = tuple((t, r) for t, r in state.recommendations if t > keep_after) + ((now, proposal),)
    state = HPAState(recs, state.scale_up_events, state.scale_down_events)

    # convertDesiredReplicasWithBehaviorRate
    reason = "metrics"
    if stabilised > current:
        top = min(hi, max(_limit(config.scale_up, up=True, current=current, state=state, now=now), current))
        bottom = lo
    elif stabilised < current:
        bottom = max(
            lo, min(_limit(config.scale_down, up=False, current=current, state=state, now=now), current)
        )
        top = hi
    else:
        bottom, top = lo, hi
    desired = stabilised
    if desired < bottom:
        desired, reason = bottom, "rate or min limited"
    elif desired > top:
        desired, reason = top, "rate or max limited"
    elif stabilised != proposal:
        reason = "stabilized"
    return _apply(state, now, current, desired, proposal, reason)


def _apply(
    state: HPAState, now: pd.Timestamp, current: int, desired: int, proposal: int | None, reason: str
) -> HPAResult:
    """Record a scale event (kept 30 min, longer than any policy period) when the replicas change."""
    cutoff = now - pd.Timedelta(minutes=30)
    ups = tuple(e for e in state.scale_up_events if e[0] > cutoff)
    downs = tuple(e for e in state.scale_down_events if e[0] > cutoff)
    if desired > current:
        ups += ((now, desired - current),)
    elif desired < current:
        downs += ((now, current - desired),)
    return HPAResult(int(desired), proposal, reason, HPAState(state.recommendations, ups, downs))
