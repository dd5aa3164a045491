"""The prescaler's decision: forecast + policy + past state + ``now`` -> desired capacity, with its reason (pure).

The in-cluster controller (``forecaster prescale``) and the replay simulator (``forecaster simulate``) both call
:func:`decide`, so what the replay measures is exactly what the controller does (``tests/test_prescaler_equivalence.py``
holds the floors they set equal minute by minute). Everything that sets capacity goes through it: the load
observed now is an input (``observed_load``), not a correction applied afterwards. This module never reads a
clock, a cluster or a model: the forecast, the state carried from the previous decision and ``now`` are passed
in, and the updated state comes back in :class:`Decision`.

Two ways to plan (``ScalingPolicy.plan``):

- ``"peak"`` (the default): capacity for the largest planned-quantile load over
  ``[now, now + lead_time + interval]``. Safe and simple, but as a floor under an HPA it keeps capacity at the
  forecast's upper quantile all the time, which costs more than the HPA alone.
- ``"rise"``: plan only for what the reactive HPA cannot catch in time. Capacity is planned for the window that
  starts at ``now + lead_time`` (what pods started now will face when they are ready), and only when the median
  forecast there rises above the median forecast of the next step by more than ``rise_threshold``; otherwise the
  recommendation is ``min_replicas`` and the HPA handles the level. The scale-down stabilisation window then holds
  a raised floor until the HPA has seen the new load and caught up, and releases it.
- ``"shift"``: capacity for the planned-quantile load over ``[now + lead_time, now + lead_time + interval]``
  only: what pods started now will face when they are ready, and nothing for the minutes before (pods already
  running or starting cover those). As an HPA floor this is the cheapest proactive plan: it does not hold the
  forecast's upper band over the whole lead window, and a floor lowered again costs nothing extra because the
  HPA's own scale-down stabilisation keeps pods it still needs (so ``scale_down_stabilization_s`` can be 0).
  ``max_over_median`` caps the planned quantile at the median x (1 + it), so a band that widens after a spike
  does not hold capacity the median does not ask for. Meant for the HPA-floor actuator only: without an HPA
  underneath (the Replicas actuator) nothing would keep the pods needed before the lead horizon, so use
  ``"peak"`` there.

Fail safe: without a usable forecast (None, empty, NaN, nothing inside the planning window) the decision never
scales down; it keeps the last desired value (or the current replicas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError

__all__ = [
    "EVENT_COLUMN",
    "ScalingPolicy",
    "ScalingState",
    "Decision",
    "REASONS",
    "PLANS",
    "decide",
    "nodes_needed",
    "planned_values",
]

REASONS = (
    "forecast",
    "observed_load",
    "bound_min",
    "bound_max",
    "stabilizing",
    "rate_limited",
    "no_forecast",
    "no_rise",
)
"""Every ``Decision.reason`` code (for metrics labels)."""

PLANS = ("peak", "rise", "shift")

EVENT_COLUMN = "event"
"""A forecast column some forecasts carry: > 0 at the steps a scheduled event can still add load at (from
its start, real or still awaited, to an hour after it; an entry judged cancelled marks none), 0 elsewhere.
Added by the forecasts made with a calendar (:func:`forecaster.event_profile.with_event_steps`);
``ScalingPolicy.quantile_outside_events`` plans on its own quantile where it is 0."""


@dataclass(frozen=True)
class ScalingPolicy:
    """How one workload is pre-scaled. Times in seconds; loads in the forecast's unit (e.g. requests/s)."""

    capacity_per_replica: float
    """Load one replica serves at full use (the same number as the HPA model's and the simulator's; an HPA's
    target utilisation is set on the HPA, separately). The floor is planned at full use plus ``headroom``."""
    min_replicas: int = 1
    max_replicas: int = 100
    quantile: float = 0.9
    """Which forecast column to plan on (0.9 -> ``p90``). A quantile the forecast does not carry is read
    linearly between the two nearest quantiles it does (``p80`` from ``p50`` and ``p90``: ``p50 + (0.8 - 0.5)
    / (0.9 - 0.5) x (p90 - p50)``); one outside them is an error."""
    quantile_outside_events: float | None = None
    """The quantile planned at the forecast steps no scheduled event reaches (the forecast's
    :data:`EVENT_COLUMN` is 0 there); ``quantile`` stays the one planned at the steps around scheduled starts,
    and everywhere in a forecast without that column (made without a calendar, or while the calendar cannot
    be read: the safe side). None: ``quantile`` everywhere. Measured on
    bench/events.py (README, Scheduled events): the shift-p90 plan's margin on ordinary traffic is most of
    what a floor costs over the HPA, while a start's first minutes need the upper band."""
    event_lookahead_s: float = 0.0
    """At the forecast steps a scheduled event reaches (the forecast's :data:`EVENT_COLUMN` > 0), plan each
    step on the largest planned load of the event steps up to this long after it: the capacity for a
    start is then the step's size from its first minute, not a rise interpolated between forecast steps
    (when in a model step a stream ramps is exactly what the forecast does not know). 0: off (each step
    its own value); steps without the column, or outside events, are unchanged."""
    event_lookbehind_s: float = 0.0
    """At the same event steps, plan each step also on the largest planned load of the event steps up to this
    long before it (in the same forecast): a started stream's capacity then steps down this much later than
    its forecast falls after the peak, a stabilisation only inside scheduled events (the steps before an
    entry's start, and those of an entry judged cancelled, are not event steps: they hold nothing). 0: off."""
    event_band_scale: float = 1.0
    """At the same event steps, plan on ``p50 + event_band_scale x (quantile - p50)``: the upper band widened
    where a scheduled stream's size is least known (how big it will be is only seen once viewers arrive, a
    start-up too late). Applied before the look-ahead and look-behind; needs the forecast's ``p50``. 1: off
    (the quantile itself). Pair it with a lower ``quantile_outside_events`` to keep the cost."""
    headroom: float = 0.0
    """Extra fraction on top of the planned load (0.1 = +10%)."""
    lead_time_s: float = 180.0
    """How long new capacity takes to be ready (pod start-up, or node start-up for node groups)."""
    interval_s: float = 60.0
    """Reconcile interval: the decision must hold until the next one."""
    scale_down_stabilization_s: float = 300.0
    """Scale down only to the highest recommendation of this trailing window (like the HPA's)."""
    scale_down_max_step: int = 0
    """At most this many replicas removed per ``scale_down_period_s``; 0 = unlimited."""
    scale_down_period_s: float = 60.0
    plan: str = "peak"
    """Default ``"peak"``: the one valid for every actuator; on an HPA floor the measured best is ``"shift"``
    with ``scale_down_stabilization_s=0`` (``forecaster simulate``'s defaults, bench/results/replay.md).
    ``"peak"``: the largest load over [now, now + lead + interval]; ``"rise"``: only predicted rises the HPA
    cannot follow, planned at the lead-time horizon; ``"shift"``: the load over [now + lead, now + lead +
    interval] only, for the HPA-floor actuator (see the module docstring)."""
    rise_threshold: float = 0.0
    """``plan="rise"``: the median forecast at the lead horizon must exceed the next step's by this fraction."""
    max_over_median: float = 0.0
    """Cap the planned quantile at ``p50 x (1 + max_over_median)`` at each step; 0 = no cap. Needs a p50."""

    def __post_init__(self) -> None:
        def bad(name: str, problem: str, hint: str) -> ConfigError:
            return ConfigError(f"scaling policy: {name} {problem}", hint=hint)

        if not _finite(self.capacity_per_replica) or self.capacity_per_replica <= 0:
            raise bad(
                "capacity_per_replica",
                f"must be a positive number, got {self.capacity_per_replica!r}",
                "the load one replica serves at full use, e.g. 100 (requests/s)",
            )
        for name in ("min_replicas", "max_replicas", "scale_down_max_step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise bad(name, f"must be a whole number >= 0, got {value!r}", "e.g. 1")
        if self.max_replicas < 1:
            raise bad("max_replicas", f"must be at least 1, got {self.max_replicas}", "e.g. 100")
        if self.min_replicas > self.max_replicas:
            raise bad(
                "min_replicas",
                f"({self.min_replicas}) is above max_replicas ({self.max_replicas})",
                "lower min_replicas or raise max_replicas",
            )
        if not _finite(self.quantile) or not 0 < self.quantile < 1:
            raise bad("quantile", f"must be between 0 and 1 exclusive, got {self.quantile!r}", "e.g. 0.9")
        if self.quantile_outside_events is not None and (
            not _finite(self.quantile_outside_events) or not 0 < self.quantile_outside_events < 1
        ):
            raise bad(
                "quantile_outside_events",
                f"must be between 0 and 1 exclusive, got {self.quantile_outside_events!r}",
                "e.g. 0.8, or leave it unset to plan on quantile everywhere",
            )
        if not _finite(self.event_lookahead_s) or not 0 <= self.event_lookahead_s <= 86400:
            raise bad(
                "event_lookahead_s",
                f"must be seconds in [0, 86400], got {self.event_lookahead_s!r}",
                "e.g. 300 (one 5-minute model step), or 0 for none",
            )
        if not _finite(self.event_lookbehind_s) or not 0 <= self.event_lookbehind_s <= 86400:
            raise bad(
                "event_lookbehind_s",
                f"must be seconds in [0, 86400], got {self.event_lookbehind_s!r}",
                "e.g. 180 (one pod start-up), or 0 for none",
            )
        if not _finite(self.event_band_scale) or not 1 <= self.event_band_scale <= 10:
            raise bad(
                "event_band_scale",
                f"must be a factor in [1, 10], got {self.event_band_scale!r}",
                "e.g. 1.15 (the band 15% wider at event steps), or 1 for the quantile itself",
            )
        if not _finite(self.headroom) or not 0 <= self.headroom <= 10:
            raise bad("headroom", f"must be a fraction in [0, 10], got {self.headroom!r}", "0.1 = +10%")
        if not _finite(self.rise_threshold) or self.rise_threshold < 0:
            raise bad("rise_threshold", f"must be a fraction >= 0, got {self.rise_threshold!r}", "e.g. 0.05")
        if not _finite(self.max_over_median) or not 0 <= self.max_over_median <= 10:
            raise bad(
                "max_over_median",
                f"must be a fraction in [0, 10], got {self.max_over_median!r}",
                "0 = no cap",
            )
        for name in ("lead_time_s", "scale_down_stabilization_s"):
            value = getattr(self, name)
            if not _finite(value) or value < 0:
                raise bad(name, f"must be seconds >= 0, got {value!r}", "e.g. 180")
        for name in ("interval_s", "scale_down_period_s"):
            value = getattr(self, name)
            if not _finite(value) or value <= 0:
                raise bad(name, f"must be seconds > 0, got {value!r}", "e.g. 60")
        if self.plan not in PLANS:
            raise bad("plan", f"must be one of {', '.join(PLANS)}, got {self.plan!r}", "e.g. plan: rise")

    @cached_property
    def column(self) -> str:
        """The forecast column planned on: 0.9 -> ``"p90"`` (kept: a replay asks for it every minute)."""
        from forecaster.predictors import quantile_label

        return quantile_label(self.quantile)

    def replace(self, **changes: object) -> ScalingPolicy:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return ScalingPolicy(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ScalingState:
    """What a decision needs from the past; the controller keeps it between ticks (and may persist it)."""

    recommendations: tuple[tuple[pd.Timestamp, int], ...] = ()
    """Bounded recommendations inside the stabilisation window, oldest first."""
    last_desired: int | None = None
    last_scale_down_at: pd.Timestamp | None = None


@dataclass(frozen=True)
class Decision:
    desired_replicas: int
    """What to apply (the HPA floor, or the replicas)."""
    raw_replicas: int
    """The need before bounds and stabilisation."""
    forecast_peak: float | None
    forecast_peak_at: pd.Timestamp | None
    reason: str
    """One of :data:`REASONS`."""
    message: str
    state: ScalingState = field(repr=False)


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _fmt_time(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M")


def _column(forecast: pd.DataFrame, name: str) -> pd.Series:
    if name not in forecast.columns:
        raise ConfigError(
            f"the forecast has no {name} column (it has {', '.join(map(str, forecast.columns)) or 'none'})",
            hint="plan on a quantile the model predicts, or retrain the model with that quantile",
        )
    return forecast[name]


def _float_columns(forecast: pd.DataFrame, *names: str) -> list[np.ndarray]:
    """The named columns as float arrays: one conversion of the whole frame when it is all numbers with
    unique names (a replay reads two columns every simulated minute, and two pandas lookups cost more than
    the rest of the planning window), else column by column."""
    columns = forecast.columns
    try:
        values = forecast.to_numpy(dtype=float)  # [T, C]
    except (TypeError, ValueError):
        values = None
    locs = [columns.get_loc(n) for n in names]
    if values is not None and all(isinstance(i, int) for i in locs):
        return [values[:, i] for i in locs]
    return [forecast[n].to_numpy(dtype=float) for n in names]


def _quantile_columns(columns: object) -> list[tuple[float, str]]:
    """The forecast's quantile columns as (quantile, name), sorted: ``p50`` -> 0.5, read by the one parser of
    quantile labels (:func:`forecaster.predictors.parse_quantile_label`); other names are skipped, and so are
    names not starting with a lower-case ``p`` (which that parser would lower-case: a forecast's own columns
    are :func:`~forecaster.predictors.quantile_label`'s, and ``P90`` was never read as one)."""
    from forecaster.errors import DataError
    from forecaster.predictors import parse_quantile_label

    out = []
    for name in columns:  # type: ignore[attr-defined]
        text = str(name)
        if text[:1] != "p":
            continue
        try:
            out.append((parse_quantile_label(text), text))
        except DataError:
            continue
    return sorted(out)


def _quantile_values(columns: dict[str, np.ndarray], q: float) -> np.ndarray | None:
    """The values of quantile ``q``: its column, else linear between the two nearest quantile columns around
    it; None when it is outside the columns the forecast has."""
    from forecaster.predictors import quantile_label

    exact = columns.get(quantile_label(q))
    if exact is not None:
        return exact
    known = _quantile_columns(columns)
    below = [(k, n) for k, n in known if k < q]
    above = [(k, n) for k, n in known if k > q]
    if not below or not above:
        return None
    (q0, n0), (q1, n1) = below[-1], above[0]
    w = (q - q0) / (q1 - q0)
    return columns[n0] + w * (columns[n1] - columns[n0])


def planned_values(
    columns: dict[str, np.ndarray], policy: ScalingPolicy, times_ns: np.ndarray | None = None
) -> np.ndarray | None:
    """The load the policy plans on at each forecast row (before ``max_over_median``), from the forecast's
    columns as float arrays: the ``quantile`` (interpolated if need be), and with ``quantile_outside_events``
    that quantile where :data:`EVENT_COLUMN` is 0 (a forecast without that column, made without a calendar,
    is planned on ``quantile`` everywhere). With ``event_band_scale``, the event rows' band over ``p50``
    widened that much. With ``event_lookahead_s`` and the rows' times (``times_ns``,
    ascending), each event row holds the largest of that over the event rows up to that long after it
    (:func:`_looked_ahead`), and with ``event_lookbehind_s`` also over the event rows up to that long before it.
    None when a quantile (or, with ``event_band_scale`` and event rows, ``p50``) cannot be read."""
    planned = _quantile_values(columns, policy.quantile)
    if planned is None:
        return None
    event = columns.get(EVENT_COLUMN)
    if policy.quantile_outside_events is not None:
        outside = _quantile_values(columns, policy.quantile_outside_events)
        if outside is None:
            return None
        if event is not None:  # a forecast that knows no calendar cannot say a step is clear of events
            planned = np.where(event <= 0, outside, planned)  # NaN: not known to be clear, the quantile
    if policy.event_band_scale != 1 and event is not None:
        median = columns.get("p50")
        if median is None:
            return None
        planned = np.where(event > 0, median + policy.event_band_scale * (planned - median), planned)
    if policy.event_lookahead_s > 0 and event is not None and times_ns is not None:
        planned = _looked_ahead(planned, event > 0, times_ns, int(policy.event_lookahead_s * 1e9))
    if policy.event_lookbehind_s > 0 and event is not None and times_ns is not None:
        # The same window backwards: reversed rows, times negated (ascending again).
        planned = _looked_ahead(
            planned[::-1], (event > 0)[::-1], -times_ns[::-1], int(policy.event_lookbehind_s * 1e9)
        )[::-1]
    return planned


def _looked_ahead(values: np.ndarray, event: np.ndarray, times_ns: np.ndarray, ahead_ns: int) -> np.ndarray:
    """``values`` with each ``event`` row raised to the largest value of the event rows in [its time, its
    time + ``ahead_ns``] (a row that is NaN stays NaN, a later NaN is not counted); other rows unchanged
    (pure)."""
    if not event.any():
        return values
    masked = np.where(event, values, -np.inf)
    n = len(values)
    steps = np.diff(times_ns)
    out = masked.copy()
    if n > 1 and steps[0] > 0 and (steps == steps[0]).all():
        width = int(ahead_ns // int(steps[0]))  # rows after each one inside the look-ahead
        for k in range(1, min(width, n - 1) + 1):
            np.fmax(out[:-k], masked[k:], out=out[:-k])  # a later step not known: not counted
    else:
        ends = np.searchsorted(times_ns, times_ns + ahead_ns, side="right")
        for i in np.flatnonzero(event):
            out[i] = np.fmax.reduce(masked[i : ends[i]])
    nan = np.isnan(values)
    return np.where(event & ~nan, out, values)


def _no_quantile(forecast: pd.DataFrame, policy: ScalingPolicy) -> ConfigError:
    from forecaster.predictors import quantile_label

    wanted = (
        [policy.quantile]
        + ([policy.quantile_outside_events] if policy.quantile_outside_events is not None else [])
        + ([0.5] if policy.event_band_scale != 1 and EVENT_COLUMN in forecast.columns else [])
    )
    names = ", ".join(quantile_label(q) for q in wanted if quantile_label(q) not in forecast.columns)
    # A quantile between two the forecast has is read between them: this one is outside them all.
    return ConfigError(
        f"the forecast has no {names} column (it has {', '.join(map(str, forecast.columns)) or 'none'})",
        hint="plan on a quantile the model predicts, or retrain the model with that quantile",
    )


def _planning_window(
    forecast: pd.DataFrame | None, policy: ScalingPolicy, now: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(times in ns, planned load, median or None) inside the planning window, or None if unusable.

    Plain arrays: the replay calls this every simulated minute, and pandas masks dominated its run time.
    """
    if forecast is None or len(forecast) == 0:
        return None
    column = policy.column
    columns = forecast.columns
    has_median = "p50" in columns
    index = forecast.index
    # An index already in ns (as precompute_forecasts keeps them) is read as is: a tuning grid asks this
    # for every setting at every simulated minute, and building a new DatetimeIndex was a tenth of its time.
    ns = isinstance(index, pd.DatetimeIndex) and index.unit == "ns"
    times = index.asi8 if ns else pd.DatetimeIndex(index).as_unit("ns").asi8
    lookahead = (
        policy.event_lookahead_s > 0 or policy.event_lookbehind_s > 0 or policy.event_band_scale != 1
    ) and EVENT_COLUMN in columns
    if column in columns and policy.quantile_outside_events is None and not lookahead:
        planned, median_all = _float_columns(forecast, column, "p50" if has_median else column)
    else:
        names = [c for c in dict.fromkeys(map(str, columns)) if c in columns]
        wanted = [n for n in names if n == EVENT_COLUMN or (n[:1] == "p" and _quantile_columns([n]))]
        arrays = dict(zip(wanted, _float_columns(forecast, *wanted), strict=True)) if wanted else {}
        found = planned_values(arrays, policy, times)
        if found is None:
            raise _no_quantile(forecast, policy)
        planned = found
        median_all = arrays["p50"] if has_median else planned
    if policy.max_over_median > 0 and not has_median:
        _column(forecast, "p50")  # raises the clear error
    now_ns = pd.Timestamp(now).as_unit("ns").value
    start = now_ns + int(policy.lead_time_s * 1e9 if policy.plan in ("rise", "shift") else 0)
    end = now_ns + int((policy.lead_time_s + policy.interval_s) * 1e9)
    inside = (times >= start) & (times <= end)
    if not inside.any():
        return None
    window = planned[inside]
    median = median_all[inside] if has_median else None
    if policy.max_over_median > 0:
        assert median is not None
        # A band that widens after a spike must not hold capacity the median does not ask for.
        window = np.minimum(window, median * (1 + policy.max_over_median))
    if not np.isfinite(window).all():
        return None
    return times[inside], window, median


def decide(
    *,
    forecast: pd.DataFrame | None,
    policy: ScalingPolicy,
    state: ScalingState,
    now: pd.Timestamp,
    current_replicas: int,
    observed_load: float | None = None,
) -> Decision:
    """Decide the desired replicas at ``now`` from ``forecast`` (indexed by future timestamps, quantile columns).

    ``observed_load`` (the load measured now, optional) is a lower bound on the recommendation: never fewer
    replicas than it needs with the headroom, even when the forecast is late to a surge. The Replicas actuator
    passes it (nothing else keeps those pods without an HPA); a floor under an HPA leaves it to the HPA.
    """
    now = pd.Timestamp(now)
    usable = _planning_window(forecast, policy, now)
    if usable is None:
        keep = state.last_desired if state.last_desired is not None else int(current_replicas)
        keep = min(max(keep, policy.min_replicas), policy.max_replicas)
        return Decision(
            desired_replicas=keep,
            raw_replicas=keep,
            forecast_peak=None,
            forecast_peak_at=None,
            reason="no_forecast",
            message=(
                f"no usable forecast for {_fmt_time(now)} .. +{policy.lead_time_s + policy.interval_s:.0f}s "
                f"(missing, empty, stale or NaN): keeping {keep} replicas, never scaling down without data"
            ),
            state=ScalingState(
                recommendations=_prune(state.recommendations, now, policy),
                last_desired=keep,
                last_scale_down_at=state.last_scale_down_at,
            ),
        )

    times, window, window_median = usable
    top = int(np.argmax(window))
    peak_at = pd.Timestamp(int(times[top]))
    peak = float(window[top])
    raw = _replicas_for(peak, policy)
    assert raw is not None  # the planning window is finite
    rising = True
    if policy.plan == "rise":
        median = _column(forecast, "p50") if forecast is not None else None
        assert median is not None
        first = median.dropna()
        base = float(first.iloc[0]) if len(first) else float("nan")
        if window_median is None:
            _column(forecast, "p50")  # raises the clear error
        assert window_median is not None
        ahead = float(np.nanmax(window_median)) if np.isfinite(window_median).any() else float("nan")
        # A rise the HPA can follow by itself (or none at all) needs no floor: the reactive path handles levels.
        rising = not math.isfinite(base) or ahead > base * (1 + policy.rise_threshold)
    bounded = min(max(raw if rising else policy.min_replicas, policy.min_replicas), policy.max_replicas)
    observed_need = _replicas_for(observed_load, policy)
    if not rising:
        reason = "no_rise"
    elif raw < policy.min_replicas:
        reason = "bound_min"
    elif raw > policy.max_replicas:
        reason = "bound_max"
    else:
        reason = "forecast"
    if observed_need is not None and min(observed_need, policy.max_replicas) > bounded:
        bounded, reason = min(observed_need, policy.max_replicas), "observed_load"

    recs = _prune(state.recommendations, now, policy) + ((now, bounded),)
    desired = bounded
    last = state.last_desired
    last_down = state.last_scale_down_at
    if last is not None and bounded < last:
        stabilised = max(r for _, r in recs)
        desired = min(last, stabilised)
        if desired > bounded:
            reason = "stabilizing"
        if desired < last and policy.scale_down_max_step > 0:
            period = pd.Timedelta(seconds=policy.scale_down_period_s)
            if last_down is not None and now - last_down < period:
                desired, reason = last, "rate_limited"
            elif last - desired > policy.scale_down_max_step:
                desired, reason = last - policy.scale_down_max_step, "rate_limited"
        if desired < last:
            last_down = now

    q = policy.column
    parts = [f"{q} peak {peak:.4g} at {_fmt_time(peak_at)}"]
    if policy.headroom:
        parts.append(f"+{policy.headroom:.0%} headroom")
    parts.append(f"/ {policy.capacity_per_replica:g} per replica = {raw} replicas")
    text = " ".join(parts)
    if reason == "no_rise":
        text = f"no rise the HPA cannot follow is forecast ({text}): floor released to {policy.min_replicas}"
    elif reason == "bound_min":
        text += f", raised to min_replicas {policy.min_replicas}"
    elif reason == "bound_max":
        text += f", capped at max_replicas {policy.max_replicas}"
    elif reason == "observed_load":
        text += f"; the load observed now ({observed_load:.4g}) needs {bounded}"
    if reason == "stabilizing":
        text += (
            f"; holding {desired} (highest recommendation in the last "
            f"{policy.scale_down_stabilization_s:.0f}s) before scaling down"
        )
    elif reason == "rate_limited":
        text += (
            f"; scaling down by at most {policy.scale_down_max_step} per "
            f"{policy.scale_down_period_s:.0f}s: {desired}"
        )
    return Decision(
        desired_replicas=int(desired),
        raw_replicas=int(raw),
        forecast_peak=peak,
        forecast_peak_at=peak_at,
        reason=reason,
        message=text,
        state=ScalingState(recommendations=recs, last_desired=int(desired), last_scale_down_at=last_down),
    )


def _replicas_for(load: float | None, policy: ScalingPolicy) -> int | None:
    """Replicas a load needs with the policy's headroom (None for no or a non-finite load)."""
    if load is None or not math.isfinite(load):
        return None
    return max(0, math.ceil(load * (1 + policy.headroom) / policy.capacity_per_replica - 1e-9))


def _prune(
    recs: tuple[tuple[pd.Timestamp, int], ...], now: pd.Timestamp, policy: ScalingPolicy
) -> tuple[tuple[pd.Timestamp, int], ...]:
    """Keep recommendations strictly inside the trailing stabilisation window (as the HPA does)."""
    cutoff = now - pd.Timedelta(seconds=policy.scale_down_stabilization_s)
    return tuple((t, r) for t, r in recs if t > cutoff and t <= now)


def nodes_needed(
    *,
    replicas: int,
    pod_request: float,
    node_allocatable: float,
    max_pods_per_node: int | None = None,
    min_nodes: int = 0,
    max_nodes: int | None = None,
) -> int:
    """Nodes that fit ``replicas`` pods of ``pod_request`` each (whole pods per node), within the group's bounds.

    ``pod_request`` and ``node_allocatable`` are in the same unit (e.g. CPU cores). Pods do not split across
    nodes, so a node holds ``floor(allocatable / request)`` of them (capped by ``max_pods_per_node``).
    """
    if isinstance(replicas, bool) or int(replicas) != replicas or replicas < 0:
        raise ConfigError(f"nodes_needed: replicas must be a whole number >= 0, got {replicas!r}")
    if not _finite(pod_request) or pod_request <= 0:
        raise ConfigError(
            f"nodes_needed: pod_request must be > 0, got {pod_request!r}", hint="e.g. 0.5 (cores)"
        )
    if not _finite(node_allocatable) or node_allocatable <= 0:
        raise ConfigError(f"nodes_needed: node_allocatable must be > 0, got {node_allocatable!r}")
    per_node = math.floor(node_allocatable / pod_request + 1e-9)
    if max_pods_per_node is not None:
        if max_pods_per_node < 1:
            raise ConfigError(f"nodes_needed: max_pods_per_node must be >= 1, got {max_pods_per_node!r}")
        per_node = min(per_node, int(max_pods_per_node))
    if per_node < 1:
        raise ConfigError(
            f"nodes_needed: a pod requesting {pod_request:g} does not fit a node with {node_allocatable:g} allocatable",
            hint="use bigger nodes or smaller pod requests",
        )
    if max_nodes is not None and max_nodes < min_nodes:
        raise ConfigError(f"nodes_needed: max_nodes ({max_nodes}) is below min_nodes ({min_nodes})")
    nodes = max(math.ceil(int(replicas) / per_node), int(min_nodes))
    return min(nodes, int(max_nodes)) if max_nodes is not None else nodes
