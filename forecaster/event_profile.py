"""Per-kind event profiles: how much load each kind of scheduled event adds, learnt from its past events.

A statistical component beside the network (pure numpy, no torch, no I/O). The network reads the schedule
as inputs and has to learn each kind's effect through an LSTM from a few dozen events; the profile states
that effect directly. For each kind ``k`` and each step ``b`` after a start it holds the relative uplift
``g[k, b]``: a start of kind ``k`` with size ``s`` (its ``expected`` hint relative to the kind's mean
hint in training; 1 without hints) multiplies the load ``b`` steps later by ``1 + s g[k, b]``; events that
overlap add their uplifts.

Fitting (:func:`fit_event_profile`) alternates two least-squares problems on the training range: the load
without events (a daily shape times a per-day level, both medians of the load divided by the uplift
fitted so far) and the uplifts (a ridge regression of ``load / base - 1`` on the sizes of the starts, the
uplift linear in the time since a start between knots a minute apart over the first :data:`FINE_S` and a step
apart after, smoothed along the lag), then once more with each start moved to where the load says it really
began (late streams would blur the rise); the delays read that way give ``late_s``. Nothing about a kind is
assumed: how high, how fast the rise and how long the decay all come from its past events. A kind never seen in training gets the mean profile of the known
kinds (the stated default, :data:`UNSEEN_DEFAULT`).

Forecasting (:meth:`EventProfile.forecast`) at an origin: the level without events is estimated from the
last two hours (the load divided by the daily shape and by the uplift of the events that were running);
each event whose announced start has passed is judged from the evidence (:func:`judge_start`): *started*
when the load after it fits the kind's rise (then followed from its real start, at its announced size until
:data:`CONFIRM_S` after that start), *waiting* while nothing shows but the stream may
still come (the share of the announced size held is P(the stream still comes | no start yet), learnt at fit
time from the delays of the calendar's past entries and the share that never started, ``still_comes``; the
rise is kept ahead of the origin), *cancelled* past that table's end (profiles saved before it: the whole
size held until ``late_s``, a :data:`LATE_CONFIDENCE` bound of the :data:`LATE_QUANTILE` of those delays,
plus :data:`DETECT_S`) without a rise
(dropped at once: its extra capacity is released at the next origin; :func:`judged_by_minute` judges again at every minute of load the prescaler reads, so the release
and a late stream's rise come a minute after the evidence rather than at the next origin). The forecast is
that level times the daily shape times ``1 + uplift`` of every event in the calendar at each step. Axis
convention as in :mod:`forecaster.combine`: origin ``t`` forecasts ``y[t : t + H]`` from ``y[:t]`` and the
schedule.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from forecaster.events import Calendar, Event

__all__ = [
    "CONFIRM_S",
    "DEFAULT_LATE_S",
    "DETECT_S",
    "EventProfile",
    "StartState",
    "UNSEEN_DEFAULT",
    "apply_event_profile",
    "fit_event_profile",
    "judge_start",
    "judged_by_minute",
    "revise_by_minute",
    "still_comes_table",
    "with_event_steps",
    "marking_event_steps",
    "MARK_BEFORE_S",
]

PROFILE_S = 4 * 3600.0
"""How long after a start the profile's uplift reaches."""
USE_BEFORE_S = 30 * 60.0
USE_AFTER_S = 60 * 60.0
"""The forecast steps taken from the profile: from this long before a start to this long after it. Later the
event is in the data, and the network (which reads it) follows its decay at least as well."""
MARK_BEFORE_S = 0.0
"""The steps a live entry marks for the policy's event quantile start this long before its start (see
:meth:`EventProfile.live_steps`): the profile adds no load before a start, and the shift plan sizes the
steps a lead time ahead, so the ramp reads the marked start itself."""
CONFIRM_S = 10 * 60.0
"""A stream that has started is forecast at its announced size until this long after its real start: the
first points of a rise say little about how high it will go (a scale fitted on them overshoots)."""
DETECT_S = 2 * 60.0
"""How long after a real start its rise shows in the load (a few minutes of ramp, sampled every step): an
entry counts as cancelled once its announced start plus ``late_s`` plus this has passed without a rise."""
DEFAULT_LATE_S = 10 * 60.0
"""``late_s`` of a profile whose training starts give no delays to learn from (and of profiles saved
before it was learnt): how late a stream may start before its entry counts as cancelled."""
MAX_LATE_S = 30 * 60.0
"""Delays searched at fit time: a start later than this is not the entry's stream."""
LATE_QUANTILE = 0.95
"""``late_s`` bounds this quantile of the delays of the training starts that showed up (not their maximum,
once there are starts enough, 77 or more: one start misread next to an unannounced spike must not hold every
later entry; with fewer the bound is the largest delay, and a misread holds entries longer, never shorter)."""
LATE_CONFIDENCE = 0.9
"""... with this confidence (:func:`quantile_upper_bound`): a few dozen starts read from 5-minute samples put
their plain 95th percentile a minute or two under the delays to come as often as not, and every late stream
released before it starts is short for a pod start-up."""
STARTED_SCALE = 0.3
"""A start counts as seen when the load after it fits at least this fraction of its announced uplift."""
LEVEL_S = 2 * 3600.0
"""The level without events is estimated over this much recent history."""
UNSEEN_DEFAULT = "the mean profile of the known kinds"
"""What a kind never seen in training is forecast with (its size hint relative to the known kinds' mean)."""
_RIDGE = 1e-2
_SMOOTH = 3.0
_FINE_SMOOTH_POWER = 1.0
_ITERATIONS = 4
_MAX_SCALE = 3.0
_DELAY_STEP_S = 60.0
FINE_S = 10 * 60.0
"""Knots every minute over this long after a start (see :func:`lag_knots`)."""


@dataclass(frozen=True)
class EventProfile:
    """The learnt uplift of each kind per step after a start, and the daily shape of the load without events."""

    kinds: tuple[str, ...]
    size_scale: tuple[float, ...]
    """Mean ``expected`` hint of each kind's training events (0: no hints; every event then counts as 1)."""
    events_seen: tuple[int, ...]
    step_s: float
    uplift: np.ndarray
    """``[K, B]`` relative uplift of a size-1 start of each kind ``b`` steps after it."""
    daily_shape: np.ndarray
    """``[S]`` the load without events at each step of the day relative to the day's level (``[1]``: flat)."""
    upper_ratio: np.ndarray
    """``[2, H]`` the band: in-sample quantile ``upper_quantile`` of load / profile forecast per step ahead, at
    steps a start not yet confirmed reaches (row 0: how big will it be, will it be late) and at the other
    steps around starts (row 1)."""
    upper_quantile: float = 0.9
    late_s: float = DEFAULT_LATE_S
    """How late a stream may start after its announced time: a :data:`LATE_CONFIDENCE` upper bound of the
    :data:`LATE_QUANTILE` of the delays of the training starts, misreads left out (:func:`without_misreads`);
    a start that has not shown by then, plus :data:`DETECT_S`, counts as cancelled."""

    still_comes: tuple[float, ...] | None = None
    """P(the stream still comes | no rise yet) ``m`` minutes after its announced start plus :data:`DETECT_S`,
    for ``m = 0, 1, ...``: learnt from the calendar's past entries (their delays and the share that never
    started, :func:`still_comes_table`). A waiting entry holds this fraction of its announced uplift and is
    dropped past the table's end (None: the whole uplift is held until ``late_s``, as profiles saved before
    the table)."""

    young_upper: tuple[float, ...] | None = None
    """Per kind: the :attr:`upper_quantile` of how big the training starts were over their first
    :data:`CONFIRM_S` relative to their announced uplift (learnt at fit time, at least 1). A young stream is
    forecast at its announced size (the median), but when the load fitted so far says it is bigger, the
    quantiles above the median take that size, up to this one (None: no such band, as profiles saved
    before it)."""

    lag_knots_s: np.ndarray | None = None
    """``[B]`` the lag (seconds after a start) of each column of ``uplift``; the uplift between two knots is
    linear in the lag, so a start at any minute gets the value of its real lag at each step (None: one knot
    per step, as profiles saved before the knots)."""

    @property
    def bins(self) -> int:
        return int(self.uplift.shape[1])

    @property
    def knots_s(self) -> np.ndarray:
        if self.lag_knots_s is not None:
            return np.asarray(self.lag_knots_s, dtype=float)
        return np.arange(self.bins) * self.step_s

    def kind_uplift(self, kind: str) -> np.ndarray:
        """``[B]`` the uplift of ``kind``, or the default for a kind never seen in training."""
        if kind in self.kinds:
            return self.uplift[self.kinds.index(kind)]
        return self.uplift.mean(axis=0)

    def size(self, event: Event) -> float:
        """The start's size: its hint relative to its kind's mean hint in training (a kind never seen: to
        the mean hint of the known kinds), 1 without hints."""
        if event.kind in self.kinds:
            scale = self.size_scale[self.kinds.index(event.kind)]
        else:
            hinted = [v for v in self.size_scale if v > 0]
            scale = float(np.mean(hinted)) if hinted else 0.0
        return float(event.expected / scale) if scale > 0 and event.expected is not None else 1.0

    # -- forecasting -------------------------------------------------------------------------------------
    def shape_at(self, t_s: np.ndarray) -> np.ndarray:
        """The daily shape at epoch seconds ``t_s`` (any shape)."""
        S = len(self.daily_shape)
        if S == 1:
            return np.ones_like(t_s, dtype=float)
        slot = np.floor((t_s % 86400.0) / self.step_s).astype(np.int64) % S
        return self.daily_shape[slot]

    def _events_near(
        self, calendar: Calendar | None, lo_s: float, hi_s: float
    ) -> list[tuple[float, float, np.ndarray]]:
        """(start in epoch seconds, size, uplift [B]) of the events whose profile reaches ``[lo_s, hi_s]``."""
        if calendar is None:
            return []
        reach = float(self.knots_s[-1])
        out = []
        for e in calendar.events:
            s = e.start.timestamp()
            if s + reach < lo_s or s > hi_s:
                continue
            out.append((s, self.size(e), self.kind_uplift(e.kind)))
        return out

    def _uplift(
        self,
        t_s: np.ndarray,
        events: list[tuple[float, float, np.ndarray]],
        scales: list[float],
        hold: list[float] | None = None,
    ) -> np.ndarray:
        """Sum of the events' uplifts at epoch seconds ``t_s`` ``[T]``; ``hold``: the events (1.0) whose uplift
        is held at its running maximum over their first :data:`CONFIRM_S` (the rise may peak later)."""
        out = np.zeros(len(t_s))
        knots = self.knots_s
        young = knots <= CONFIRM_S
        for j, ((start, size, g), a) in enumerate(zip(events, scales, strict=True)):
            if hold is not None and hold[j] > 0:
                g = g.copy()
                g[young] = np.maximum.accumulate(g[young])
            lag = t_s - start
            ok = (lag >= 0) & (lag <= knots[-1])
            out[ok] += a * size * np.interp(lag[ok], knots, g)
        return out

    def forecast(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        origins: np.ndarray,
        *,
        horizon: int,
        calendar: Calendar | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The profile's point forecast ``[N, H]`` at ``origins`` and ``[N, H]``: the part of it that comes
        from starts still a bet at the origin (announced, waiting for a late stream, or started less than
        :data:`CONFIRM_S` ago)."""
        points, pending, _ = self.forecast_with_upper(
            values, index, origins, horizon=horizon, calendar=calendar
        )
        return points, pending

    def forecast_with_upper(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        origins: np.ndarray,
        *,
        horizon: int,
        calendar: Calendar | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`forecast` and ``[N, H]``: the same forecast with each young stream at the size its load says
        so far when that is bigger than announced, up to its kind's :attr:`young_upper`, and each start still
        a bet (announced, waiting, young) held at the running maximum of its uplift over its first
        :data:`CONFIRM_S` (the rise may peak later than the profile says: a floor that dips before the peak
        removes a pod that is not ready again when the peak comes); a lower bound for the quantiles above the
        median. Profiles without :attr:`young_upper` (saved before it): the forecast itself."""
        t0 = pd.Timestamp(index[0]).value / 1e9
        step = self.step_s
        n_level = max(1, int(LEVEL_S / step))
        points = np.zeros((len(origins), horizon))
        pending = np.zeros((len(origins), horizon))
        uppers = np.zeros((len(origins), horizon))
        for i, t in enumerate(np.asarray(origins, dtype=np.int64)):
            lo = max(0, int(t) - n_level)
            past_s = t0 + np.arange(lo, t) * step  # [P] times of the level window
            future_s = t0 + np.arange(t, t + horizon) * step  # [H]
            last_s = t0 + (t - 1) * step
            events = self._events_near(calendar, past_s[0] if len(past_s) else last_s, future_s[-1])
            y = values[lo:t]
            shape_past = self.shape_at(past_s)
            scales = [1.0] * len(events)
            level = float(np.nanmedian(y / shape_past)) if len(y) else 1.0
            timed = events  # with each started event's start moved to its real one
            fresh = [1.0] * len(events)
            big = scales
            for _ in range(2):
                base = np.nanmedian(y / (shape_past * (1.0 + self._uplift(past_s, timed, scales))))
                level = float(base) if np.isfinite(base) and base > 0 else level
                scales, timed, fresh, big = self._rescale(
                    events, y=y, past_s=past_s, shape=shape_past, level=level, last_s=last_s
                )
            events = timed
            total = self._uplift(future_s, events, scales)
            new = self._uplift(future_s, events, [a * f for a, f in zip(scales, fresh, strict=True)])
            shape_future = level * self.shape_at(future_s)
            points[i] = shape_future * (1.0 + total)
            pending[i] = shape_future * new
            uppers[i] = shape_future * (
                1.0
                + self._uplift(future_s, events, big, hold=fresh if self.young_upper is not None else None)
            )
        return points, pending, uppers

    def _rescale(
        self,
        events: list[tuple[float, float, np.ndarray]],
        *,
        y: np.ndarray,
        past_s: np.ndarray,
        shape: np.ndarray,
        level: float,
        last_s: float,
    ) -> tuple[list[float], list[tuple[float, float, np.ndarray]], list[float], list[float]]:
        """Each event's scale (relative to its announced uplift), start, whether it is still a bet (1.0)
        or settled (0.0), and its scale for the quantiles above the median, judged from what the load did
        after its announced start (:func:`judge_start`)."""
        scales = [1.0] * len(events)
        timed = list(events)
        fresh = [1.0] * len(events)
        big = [1.0] * len(events)
        if not len(y) or level <= 0:
            return scales, timed, fresh, big
        observed = y / (level * shape) - 1.0  # [P] relative uplift seen
        for j, (start, size, g) in enumerate(events):
            seen = None
            if start <= last_s:
                others = self._uplift(
                    past_s,
                    [e for k, e in enumerate(timed) if k != j],
                    [a for k, a in enumerate(scales) if k != j],
                )
                seen = self._fit_start((start, size, g), rest=observed - others, past_s=past_s, last_s=last_s)
            state = judge_start(
                announced_s=start,
                last_s=last_s,
                late_s=self.late_s,
                seen=seen,
                still_comes=self.still_comes,
                young_upper=self._young_upper(g),
            )
            scales[j] = state.scale
            timed[j] = (state.start_s, size, g)
            fresh[j] = 1.0 if state.pending else 0.0
            big[j] = state.upper if state.upper is not None else state.scale
        return scales, timed, fresh, big

    def _young_upper(self, g: np.ndarray) -> float | None:
        """:attr:`young_upper` of the kind whose uplift is ``g`` (None for a kind never seen in training)."""
        if self.young_upper is None:
            return None
        for k, row in enumerate(self.uplift):
            if np.array_equal(row, g):
                return self.young_upper[k]
        return None

    def judged_uplift(
        self,
        values: np.ndarray,
        times_s: np.ndarray,
        *,
        last_s: float,
        at_s: np.ndarray,
        calendar: Calendar | None,
        upper: bool = False,
    ) -> np.ndarray:
        """``[T]`` the summed uplift at epoch seconds ``at_s`` of the calendar's events as judged from the load
        ``values`` observed at ``times_s`` (any spacing, e.g. every minute) up to ``last_s`` (pure).

        The same judgement as :meth:`forecast` (level over :data:`LEVEL_S`, :func:`judge_start` for every
        passed start), on whatever points it is given: fed every minute, an entry is settled a minute after
        the evidence allows instead of at the next forecast step. ``upper``: each young stream at its scale for
        the quantiles above the median (:attr:`young_upper`)."""
        both = self._judged_both(values, times_s, last_s=last_s, at_s=at_s, calendar=calendar)
        return both[1] if upper else both[0]

    def _judged_both(
        self,
        values: np.ndarray,
        times_s: np.ndarray,
        *,
        last_s: float,
        at_s: np.ndarray,
        calendar: Calendar | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`judged_uplift` and its ``upper`` version from one judgement."""
        judged = self._judge(values, times_s, last_s=last_s, until_s=float(np.max(at_s)), calendar=calendar)
        if judged is None:
            return np.zeros(len(at_s)), np.zeros(len(at_s))
        timed, scales, fresh, big = judged
        at = np.asarray(at_s, dtype=float)
        return self._uplift(at, timed, scales), self._uplift(
            at, timed, big, hold=fresh if self.young_upper is not None else None
        )

    def _judge(
        self,
        values: np.ndarray,
        times_s: np.ndarray,
        *,
        last_s: float,
        until_s: float,
        calendar: Calendar | None,
    ) -> tuple[list[tuple[float, float, np.ndarray]], list[float], list[float], list[float]] | None:
        """The calendar's events whose profile reaches the load observed up to ``last_s`` (the last
        :data:`LEVEL_S` of it) or the times up to ``until_s``, judged from that load: (start, size, uplift)
        with each start moved to its real one, their scales, whether each is still a bet, and their scales
        for the quantiles above the median (:meth:`_rescale`); None when no event or no load is there."""
        keep = (times_s <= last_s) & (times_s > last_s - LEVEL_S) & np.isfinite(values)
        y, past_s = values[keep], times_s[keep]
        events = self._events_near(calendar, past_s[0] if len(past_s) else last_s, until_s)
        if not events or not len(y):
            return None
        shape_past = self.shape_at(past_s)
        scales = [1.0] * len(events)
        timed = events
        big = fresh = scales
        level = float(np.nanmedian(y / shape_past))
        for _ in range(2):
            base = np.nanmedian(y / (shape_past * (1.0 + self._uplift(past_s, timed, scales))))
            level = float(base) if np.isfinite(base) and base > 0 else level
            scales, timed, fresh, big = self._rescale(
                events, y=y, past_s=past_s, shape=shape_past, level=level, last_s=float(past_s[-1])
            )
        return timed, scales, fresh, big

    def live_steps(
        self,
        values: np.ndarray,
        times_s: np.ndarray,
        *,
        last_s: float,
        at_s: np.ndarray,
        calendar: Calendar | None,
    ) -> np.ndarray:
        """``[T]`` bool: the epoch seconds ``at_s`` (ascending) an entry of ``calendar`` can still add load at,
        as judged from the load ``values`` observed at ``times_s`` up to ``last_s`` (pure): from
        :data:`MARK_BEFORE_S` before each entry's start (its real start once seen; while it is awaited, the
        earliest its rise can still come) to :data:`USE_AFTER_S` after it, for every entry not judged
        cancelled (:func:`judge_start`). An entry whose start is ahead of ``last_s`` marks its announced
        steps; one judged cancelled marks nothing; without load to judge from, every entry counts as live."""
        at = np.asarray(at_s, dtype=float)
        out = np.zeros(len(at), dtype=bool)
        if calendar is None or not len(at) or not len(calendar):
            return out
        starts = np.array([e.start.timestamp() for e in calendar.events], dtype=float)
        # Only the entries whose steps can reach [at[0], at[-1]] (a late stream: up to MAX_LATE_S later).
        near = (starts >= at[0] - USE_AFTER_S - MAX_LATE_S) & (starts <= at[-1] + MARK_BEFORE_S)
        live = list(starts[near & (starts > last_s)])
        if (near & (starts <= last_s)).any():
            judged = self._judge(values, times_s, last_s=last_s, until_s=float(at[-1]), calendar=calendar)
            if judged is None:
                live += list(starts[near & (starts <= last_s)])
            else:
                timed, scales, _, _ = judged
                live += [start for (start, _, _), a in zip(timed, scales, strict=True) if a > 0]
        for start in live:
            lag = at - start
            out |= (lag >= -MARK_BEFORE_S) & (lag < USE_AFTER_S)
        return out

    def _fit_start(
        self,
        event: tuple[float, float, np.ndarray],
        *,
        rest: np.ndarray,
        past_s: np.ndarray,
        last_s: float,
    ) -> tuple[float, float] | None:
        """(scale, real start) that fits best the uplift ``rest`` ``[P]`` seen since the announced start,
        over real starts from the announced one to :data:`MAX_LATE_S` later that have had :data:`DETECT_S`
        to show; None when no such start is possible yet."""
        start, size, g = event
        latest = min(MAX_LATE_S, last_s - start - DETECT_S)
        if latest < 0:
            return None
        seen = past_s >= start
        target = rest[seen]
        best = (np.inf, 0.0, start)
        for delay in np.arange(0.0, latest + 1.0, _DELAY_STEP_S):
            mine = self._uplift(past_s, [(start + delay, size, g)], [1.0])[seen]
            denom = float(np.sum(mine**2))
            if denom <= 1e-6:
                continue
            a = float(np.clip(np.sum(target * mine) / denom, 0.0, _MAX_SCALE))
            err = float(np.sum((target - a * mine) ** 2))
            if err < best[0] * (1 - 1e-3):  # the earliest start wins ties
                best = (err, a, start + delay)
        return (best[1], best[2]) if np.isfinite(best[0]) else None

    def used_steps(
        self, index: pd.DatetimeIndex, origins: np.ndarray, horizon: int, calendar: Calendar | None
    ) -> np.ndarray:
        """``[N, H]``: the forecast steps the profile answers (from :data:`USE_BEFORE_S` before a start of a
        known or unseen kind to :data:`USE_AFTER_S` after it)."""
        t0 = pd.Timestamp(index[0]).value / 1e9
        t_s = t0 + (np.asarray(origins)[:, None] + np.arange(horizon)[None, :]) * self.step_s  # [N, H]
        out = np.zeros(t_s.shape, dtype=bool)
        for e in calendar.events if calendar is not None else ():
            lag = t_s - e.start.timestamp()
            out |= (lag >= -USE_BEFORE_S) & (lag < USE_AFTER_S)
        return out

    # -- persistence -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        return {
            "kinds": list(self.kinds),
            "size_scale": list(self.size_scale),
            "events_seen": list(self.events_seen),
            "step_s": self.step_s,
            "uplift": self.uplift.tolist(),
            "daily_shape": self.daily_shape.tolist(),
            "upper_ratio": self.upper_ratio.tolist(),
            "upper_quantile": self.upper_quantile,
            "late_s": self.late_s,
            "lag_knots_s": self.knots_s.tolist(),
            **({"still_comes": list(self.still_comes)} if self.still_comes is not None else {}),
            **({"young_upper": list(self.young_upper)} if self.young_upper is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> EventProfile:
        kinds = tuple(str(k) for k in data["kinds"])  # type: ignore[union-attr]
        uplift = np.asarray(data["uplift"], dtype=float)
        shape = np.asarray(data["daily_shape"], dtype=float)
        upper = np.asarray(data["upper_ratio"], dtype=float)
        scales = tuple(float(v) for v in data["size_scale"])  # type: ignore[union-attr]
        knots = np.asarray(data["lag_knots_s"], dtype=float) if "lag_knots_s" in data else None
        seen = tuple(int(v) for v in data["events_seen"])  # type: ignore[union-attr]
        still = data.get("still_comes")
        still_comes = tuple(float(v) for v in still) if still is not None else None  # type: ignore[union-attr]
        young = data.get("young_upper")
        young_upper = tuple(float(v) for v in young) if young is not None else None  # type: ignore[union-attr]
        if (
            not kinds
            or uplift.ndim != 2
            or uplift.shape[0] != len(kinds)
            or len(scales) != len(kinds)
            or len(seen) != len(kinds)
            or shape.ndim != 1
            or not len(shape)
            or not np.isfinite(uplift).all()
            or not (np.isfinite(shape).all() and (shape > 0).all())
            or upper.ndim != 2
            or upper.shape[0] != 2
            or not (np.isfinite(upper).all() and (upper > 0).all())
            or not 0 <= float(data.get("late_s", DEFAULT_LATE_S)) <= MAX_LATE_S  # type: ignore[arg-type]
            or (still_comes is not None and not all(0.0 <= v <= 1.0 for v in still_comes))
            or (
                young_upper is not None
                and (len(young_upper) != len(kinds) or not all(1.0 <= v <= _MAX_SCALE for v in young_upper))
            )
            or (
                knots is not None
                and (
                    knots.shape != (uplift.shape[1],)
                    or not np.isfinite(knots).all()
                    or knots[0] != 0
                    or (len(knots) > 1 and not (np.diff(knots) > 0).all())
                )
            )
        ):
            raise ValueError("event_profile: kinds, uplift, daily_shape and upper_ratio do not fit together")
        return cls(
            kinds=kinds,
            size_scale=scales,
            events_seen=seen,
            step_s=float(data["step_s"]),  # type: ignore[arg-type]
            uplift=uplift,
            daily_shape=shape,
            upper_ratio=upper,
            upper_quantile=float(data.get("upper_quantile", 0.9)),  # type: ignore[arg-type]
            late_s=float(data.get("late_s", DEFAULT_LATE_S)),  # type: ignore[arg-type]
            lag_knots_s=knots,
            still_comes=still_comes,
            young_upper=young_upper,
        )


@dataclass(frozen=True)
class StartState:
    """What the forecast makes of one calendar entry at an origin (see :func:`judge_start`)."""

    state: str
    """``announced`` (its start is ahead), ``waiting`` (passed, nothing yet, may still come late),
    ``started`` (the load shows it) or ``cancelled`` (passed by more than the late-start time, nothing)."""
    scale: float
    """Multiplies the entry's announced uplift (0: dropped)."""
    start_s: float
    """Epoch seconds the profile is aligned to: the real start once seen, never before the origin's last
    point less :data:`DETECT_S` while waiting (the rise is still ahead)."""
    pending: bool
    """The capacity for it is still a bet (the profile's wider band applies)."""
    upper: float | None = None
    """Multiplies the announced uplift for the quantiles above the median (None: :attr:`scale`)."""


def judge_start(
    *,
    announced_s: float,
    last_s: float,
    late_s: float,
    seen: tuple[float, float] | None,
    still_comes: tuple[float, ...] | None = None,
    young_upper: float | None = None,
) -> StartState:
    """Decide what an entry is at an origin whose last observed point is at ``last_s`` (pure).

    ``seen`` is the best fit of the load since the announced start, (scale relative to the announced
    uplift, real start), or None when no start could have shown yet. A start is seen when the scale reaches
    :data:`STARTED_SCALE`; it is then followed from its real start, at its announced size until
    :data:`CONFIRM_S` after it. Without a rise, the entry is *waiting* (a stream may be late): with
    ``still_comes`` (P(the stream still comes | no start ``m`` minutes after the announced time), see
    :func:`still_comes_table`) it holds that share of its announced uplift ``m`` minutes after the time its
    rise would have shown (announced + :data:`DETECT_S`) and is dropped past the table's end; without it,
    the whole uplift until ``late_s + DETECT_S`` after the announced start. Then it is cancelled and dropped.
    ``young_upper`` (the kind's :attr:`EventProfile.young_upper`): a young stream whose fitted scale is above
    1 gets that scale, at most ``young_upper``, as its ``upper`` (the median stays at the announced size).
    """
    if announced_s > last_s:
        return StartState("announced", 1.0, announced_s, True)
    if seen is not None and seen[0] >= STARTED_SCALE:
        scale, real_s = seen
        young = last_s - real_s < CONFIRM_S
        # Young: the announced size, neither smaller nor bigger. A scale fitted on the first minutes of a rise
        # overshoots (on the demo's starts: median 1.35x, 10% at the 3x clip, 0-3 minutes in; 1.13x at 8-10):
        # raising to it made the 30 minutes after each start 0.124 WAPE instead of 0.083.
        if not young:
            return StartState("started", scale, real_s, False)
        upper = min(max(scale, 1.0), young_upper) if young_upper is not None else None
        return StartState("started", 1.0, real_s, True, upper=upper)
    waited_s = last_s - announced_s - DETECT_S  # how long after the announced start a rise would show by now
    share = 0.0  # without still_comes: the whole uplift until late_s
    if last_s - announced_s < late_s + DETECT_S:
        share = 1.0
    if still_comes is not None and waited_s < 0:
        share = 1.0
    elif still_comes is not None:
        # A sequential decision: hold the share of the uplift that the stream is still coming with, given
        # that it has not come for this long (a partial floor that shrinks as that probability falls).
        minute = int(waited_s // 60.0)
        share = float(min(still_comes[minute], 1.0)) if minute < len(still_comes) else 0.0
    if share > 0:
        return StartState("waiting", share, max(announced_s, last_s - DETECT_S), True)
    return StartState("cancelled", 0.0, announced_s, False)


def still_comes_table(
    delays_s: list[float], *, never_started: int, max_gap_s: float, max_late_s: float = MAX_LATE_S
) -> tuple[float, ...]:
    """P(a stream still comes | it has not started ``m`` minutes after its announced start), ``m = 0, 1, ...``
    up to the longest delay seen (pure): the past entries that started later than ``m`` minutes against
    those plus the entries that never started. Delays more than ``max_gap_s`` after every shorter one are
    left out (a start misread next to an unannounced spike, not a late stream: it would hold every later
    entry that long). Empty when nothing ever started late (an entry is then dropped as soon as its rise
    could have shown)."""
    d = np.sort(np.asarray([v for v in delays_s if 0 <= v <= max_late_s], dtype=float))
    gaps = np.nonzero(np.diff(d) > max_gap_s)[0]
    d = d[: gaps[0] + 1] if len(gaps) else d
    out: list[float] = []
    for m in range(int(np.ceil(max_late_s / 60.0))):
        later = int(np.sum(d > m * 60.0))
        if later == 0:
            break
        out.append(later / (later + max(never_started, 0)))
    return tuple(out)


RECENT_S = 45 * 60.0
""":func:`judged_by_minute` revisits the entries announced this long before a tick at most (an entry is
settled by then: :data:`MAX_LATE_S` plus :data:`DETECT_S` with room to spare)."""


def judged_by_minute(
    forecast_fn: Callable[[pd.Series, pd.Timestamp], pd.DataFrame | None],
    *,
    profile: EventProfile,
    calendar: Calendar,
) -> Callable[[pd.Series, pd.Timestamp], pd.DataFrame | None]:
    """A forecast function (as the replay and the prescaler call it: ``fn(history, now)``) whose answers are
    revised with every minute of load that came after the forecast's origin, and timed to the minute.

    The model forecasts on its own grid (e.g. every 5 minutes): an entry that did not start is dropped, and
    a late stream is seen, only at the next origin, up to a step late; and the frame between two steps is a
    straight line, so a start at 20:07 ramps in from 20:05 and is only partly there at 20:08. The prescaler
    reads the load every minute; at each tick with an entry announced from :data:`RECENT_S` before to
    :data:`USE_BEFORE_S` after it, every entry is judged again (:meth:`EventProfile.judged_uplift`) from
    ``history`` (the load up to ``now``, any spacing) as of now, and the steps the profile answers are
    scaled by ``(1 + uplift judged now, at each minute) / (1 + uplift judged at the origin, on the model's
    grid and interpolated as the frame is)``: what the new minutes changed, and the rise at its minute. The
    origin is the point before the frame's first row (the frame starts a minute after the last point the
    model read, as :func:`forecaster.simulate.predictor_forecasts` builds it). Steps no entry reaches are
    unchanged; an empty calendar or a frame no entry reaches return the frame as it is.
    """
    starts_s = np.array(sorted(e.start.timestamp() for e in calendar.events), dtype=float)
    at_origin: dict[tuple[float, float], np.ndarray] = {}

    def fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame | None:
        frame = forecast_fn(history, now)
        if frame is None or not len(frame) or not len(history):
            return frame
        at_s = _epoch_s(pd.DatetimeIndex(frame.index))  # [T] minutes
        return _revised(
            frame,
            history=history,
            now=now,
            origin_s=float(at_s[0] - 60.0),
            profile=profile,
            calendar=calendar,
            starts_s=starts_s,
            at_origin=at_origin,
        )

    return fn


def with_event_steps(
    frame: pd.DataFrame,
    calendar: Calendar | None,
    *,
    profile: EventProfile | None = None,
    history: pd.Series | None = None,
) -> pd.DataFrame:
    """``frame`` with the column :data:`forecaster.scaling.EVENT_COLUMN`: 1.0 at the steps a calendar entry
    reaches, 0.0 elsewhere (pure). A policy's ``quantile_outside_events`` plans on its own quantile where it
    is 0. With the model's ``profile`` and ``history`` (the load read up to now, any spacing), the steps of
    the entries still live as judged from that load (:meth:`EventProfile.live_steps`: from their start, real
    or still awaited, to :data:`USE_AFTER_S` after it; an entry judged cancelled marks nothing, so its steps
    go back to the outside quantile at the minute it is judged so); without them, from :data:`USE_BEFORE_S`
    before each announced start to :data:`USE_AFTER_S` after it (the steps the profile answers).
    ``calendar`` None (not read, or unavailable) returns the frame as it is: without the column every step
    is planned on the policy's ``quantile``, the safe side."""
    from forecaster.scaling import EVENT_COLUMN

    if calendar is None or not len(frame):
        return frame
    at_s = _epoch_s(pd.DatetimeIndex(frame.index))  # [T], ascending
    if profile is not None and history is not None and len(history):
        times_s = _epoch_s(pd.DatetimeIndex(history.index))
        used = profile.live_steps(
            history.to_numpy(dtype=float), times_s, last_s=float(times_s[-1]), at_s=at_s, calendar=calendar
        )
    else:
        used = _steps_near(at_s, calendar, before_s=USE_BEFORE_S)
    out = frame.copy()
    out[EVENT_COLUMN] = used.astype(float)
    return out


def _steps_near(at_s: np.ndarray, calendar: Calendar, *, before_s: float) -> np.ndarray:
    """``[T]`` bool: the times ``at_s`` (ascending) from ``before_s`` before a start to :data:`USE_AFTER_S`
    after it; only the entries whose window can reach ``at_s`` are compared (a sorted search), not all."""
    starts_s = np.sort(np.array([e.start.timestamp() for e in calendar.events], dtype=float))  # [E]
    used = np.zeros(len(at_s), bool)
    if not len(starts_s) or not len(at_s):
        return used
    lo = int(np.searchsorted(starts_s, at_s[0] - USE_AFTER_S, side="left"))
    hi = int(np.searchsorted(starts_s, at_s[-1] + before_s, side="right"))
    for start in starts_s[lo:hi]:
        lag = at_s - start
        used |= (lag >= -before_s) & (lag < USE_AFTER_S)
    return used


def marking_event_steps(
    forecast_fn: Callable[[pd.Series, pd.Timestamp], pd.DataFrame | None],
    calendar: Calendar,
    *,
    profile: EventProfile | None = None,
) -> Callable[[pd.Series, pd.Timestamp], pd.DataFrame | None]:
    """A forecast function (``fn(history, now)``) whose answers carry :func:`with_event_steps`' column (with
    ``profile``: the entries judged live from ``history`` at every call); a frame returned again for the next
    tick (a 5-minute model between its origins) with the same marks is returned as the same marked object,
    so that the replay's caches keyed by frame still hit."""
    last: list[tuple[pd.DataFrame, pd.DataFrame]] = []

    def fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame | None:
        frame = forecast_fn(history, now)
        if frame is None:
            return None
        marked = with_event_steps(frame, calendar, profile=profile, history=history)
        if last and last[0][0] is frame and marked is not frame:
            from forecaster.scaling import EVENT_COLUMN

            same = np.array_equal(last[0][1][EVENT_COLUMN].to_numpy(), marked[EVENT_COLUMN].to_numpy())
            if same:
                return last[0][1]
        last[:] = [(frame, marked)]
        return marked

    return fn


def revise_by_minute(
    frame: pd.DataFrame,
    *,
    history: pd.Series,
    now: pd.Timestamp,
    origin: pd.Timestamp,
    profile: EventProfile,
    calendar: Calendar,
) -> pd.DataFrame:
    """``frame`` (a forecast made at ``origin``, the last point its model read, on any grid) with the steps the
    profile answers revised from ``history``, the load read every minute up to ``now`` (pure): the same
    judgement as :func:`judged_by_minute`, for a controller that reads the load every minute and whose model
    forecasts every few (an entry is dropped, or a late stream's rise seen, a minute after the evidence).
    The frame as it is when no entry is announced from :data:`RECENT_S` before ``now`` to
    :data:`USE_BEFORE_S` after it, or when there is no minute of load to judge from."""
    if not len(frame) or not len(history) or not len(calendar):
        return frame
    starts_s = np.array(sorted(e.start.timestamp() for e in calendar.events), dtype=float)
    return _revised(
        frame,
        history=history,
        now=now,
        origin_s=float(_epoch_s(pd.DatetimeIndex([origin]))[0]),
        profile=profile,
        calendar=calendar,
        starts_s=starts_s,
        at_origin={},
    )


def _revised(
    frame: pd.DataFrame,
    *,
    history: pd.Series,
    now: pd.Timestamp,
    origin_s: float,
    profile: EventProfile,
    calendar: Calendar,
    starts_s: np.ndarray,
    at_origin: dict[tuple[float, float], np.ndarray],
) -> pd.DataFrame:
    """The frame scaled at each step the profile answers by ``(1 + uplift judged now) / (1 + uplift judged at
    the origin, on the model's grid and interpolated as the frame is)``; ``at_origin`` caches the latter
    (one entry: a forecast is revised at every minute until the next origin). The quantiles at and above the
    profile's :attr:`~EventProfile.upper_quantile` are at least the revised median with each young stream at
    the size its load says so far (:attr:`~EventProfile.young_upper`), as :func:`apply_event_profile` sets
    them at an origin."""
    now_s = _epoch_s(pd.DatetimeIndex([now]))[0]
    lo, hi = np.searchsorted(starts_s, [now_s - RECENT_S, now_s + USE_BEFORE_S], side="right")
    if lo == hi:
        return frame
    step_s = float(profile.step_s)
    at_s = _epoch_s(pd.DatetimeIndex(frame.index))  # [T]
    recent = history.iloc[-int(LEVEL_S / 60.0) - 1 :]
    times_s = _epoch_s(pd.DatetimeIndex(recent.index))  # [P]
    values = recent.to_numpy(dtype=float)
    # The frame's own grid: the origin's last point, then every model step; a straight line in between.
    grid_s = origin_s + np.arange(0.0, at_s[-1] - origin_s + step_s, step_s)  # [H + 1]
    key = (origin_s, float(at_s[-1]))
    if key not in at_origin:
        at_origin.clear()
        at_origin[key] = profile.judged_uplift(
            values, times_s, last_s=origin_s, at_s=grid_s[1:], calendar=calendar
        )
    now_judged, now_upper = profile._judged_both(
        values,
        times_s,
        last_s=float(times_s[-1]),
        at_s=np.concatenate([[origin_s], at_s]),
        calendar=calendar,
    )  # [1 + T] each
    # The line starts at the observed point, which holds whatever the load really did: judged as of now.
    before = np.interp(at_s, grid_s, np.concatenate([now_judged[:1], at_origin[key]]))  # [T]
    after = now_judged[1:]  # [T]
    lag = at_s[:, None] - starts_s[None, :]  # [T, E]
    used = ((lag >= -USE_BEFORE_S) & (lag < USE_AFTER_S)).any(axis=1)
    factor = np.where(used, np.maximum(1.0 + after, 0.0) / np.maximum(1.0 + before, 0.05), 1.0)  # [T]
    bigger = np.where(used, np.maximum(1.0 + now_upper[1:], 0.0) / np.maximum(1.0 + after, 0.05), 1.0)  # [T]
    uppers = [c for c in frame.columns if _quantile_of(c) >= profile.upper_quantile]
    if np.allclose(factor, 1.0) and (np.allclose(bigger, 1.0) or "p50" not in frame.columns or not uppers):
        return frame
    out = frame.mul(factor, axis=0)
    if "p50" in frame.columns and not np.allclose(bigger, 1.0):
        floor = out["p50"].to_numpy(dtype=float) * bigger
        for c in uppers:
            out[c] = np.maximum(out[c].to_numpy(dtype=float), floor)
    return out


def _quantile_of(column: object) -> float:
    """0.9 for a column named ``p90``; -1 for any other name."""
    name = str(column)
    return int(name[1:]) / 100.0 if name[:1] == "p" and name[1:].isdigit() else -1.0


def _epoch_s(index: pd.DatetimeIndex) -> np.ndarray:
    idx = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    return idx.as_unit("ns").asi8 / 1e9


MISREAD_FENCE = 3.0
"""A delay beyond the late delays' outer fence, Q3 + this x IQR (Tukey's "far out"; the IQR at least one
training step), is a start misread next to an unannounced spike, not a late stream: see :func:`without_misreads`."""


def without_misreads(delays_s: list[float], *, step_s: float) -> list[float]:
    """``delays_s`` without the misread ones (pure): among the late delays (> 0), those above Q3 + :data:`MISREAD_FENCE`
    x max(IQR, ``step_s``) of the late delays. With the bound of :func:`quantile_upper_bound` near the largest
    delay for a few dozen starts, one entry that never started but was followed by a spike (read, say, 27
    minutes late among streams up to 6 minutes late) would otherwise hold every later entry that long."""
    late = np.asarray([d for d in delays_s if d > 0], dtype=float)
    if len(late) == 0:
        return list(delays_s)
    q1, q3 = np.quantile(late, [0.25, 0.75])
    fence = q3 + MISREAD_FENCE * max(q3 - q1, step_s)
    return [d for d in delays_s if d <= fence]


def quantile_upper_bound(values: list[float], q: float, confidence: float) -> float:
    """A distribution-free upper confidence bound of the ``q`` quantile of what ``values`` are a sample of: the
    smallest order statistic ``x_(k)`` with P(x_(k) >= that quantile) >= ``confidence``, i.e. P(Binomial(n,
    q) <= k - 1) >= ``confidence`` (the binomial bound for quantiles); the largest value when no order
    statistic reaches the confidence (n too small: the largest one misses the quantile too often). Pure."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        raise ValueError("quantile_upper_bound needs at least one value")
    below = 0.0  # P(Binomial(n, q) <= k - 1), summed up k by k
    for k in range(1, n + 1):
        j = k - 1  # the binomial term P(exactly j below), in logs: n may be thousands of starts
        below += math.exp(
            math.lgamma(n + 1)
            - math.lgamma(j + 1)
            - math.lgamma(n - j + 1)
            + j * math.log(q)
            + (n - j) * math.log1p(-q)
        )
        if below >= confidence:
            return float(x[k - 1])
    return float(x[-1])


def _fitted_delays(
    values: np.ndarray,
    t_s: np.ndarray,
    calendar: Calendar,
    *,
    profile: EventProfile,
    base: np.ndarray,
) -> tuple[dict[Event, float], int]:
    """The delay (seconds) of each training start that showed up (its fitted scale at least twice
    :data:`STARTED_SCALE`), fitted like :meth:`EventProfile._fit_start` on the hour after its announced
    start, the other events' uplift taken out; and how many entries showed no start (fitted scale below
    :data:`STARTED_SCALE`: never happened)."""
    near = [e for e in calendar.events if t_s[0] <= e.start.timestamp() <= t_s[-1] - USE_AFTER_S]
    if not near:
        return {}, 0
    never = 0
    events = [(e.start.timestamp(), profile.size(e), profile.kind_uplift(e.kind)) for e in near]
    total = profile._uplift(t_s, events, [1.0] * len(events))
    observed = values / base - 1.0
    out: dict[Event, float] = {}
    for e, (start, size, g) in zip(near, events, strict=True):
        sel = (t_s >= start) & (t_s < start + USE_AFTER_S)
        if sel.sum() < 3:
            continue
        mine = profile._uplift(t_s[sel], [(start, size, g)], [1.0])
        rest = observed[sel] - (total[sel] - mine)
        fit = profile._fit_start(
            (start, size, g),
            rest=np.where(np.isfinite(rest), rest, 0.0),
            past_s=t_s[sel],
            last_s=float(t_s[sel][-1]),
        )
        if fit is not None and fit[0] >= 2 * STARTED_SCALE:
            out[e] = fit[1] - start
        elif fit is None or fit[0] < STARTED_SCALE:
            never += 1
    return out, never


def _young_sizes(
    values: np.ndarray,
    t_s: np.ndarray,
    calendar: Calendar,
    *,
    profile: EventProfile,
    base: np.ndarray,
    delays: dict[Event, float],
) -> dict[str, list[float]]:
    """Per kind, how big each training start that showed up (``delays``: its delay) was over its first
    :data:`CONFIRM_S` relative to its announced uplift: the uplift seen there (the other events' taken out,
    each at its real start) over the profile's."""
    moved = [
        (e.start.timestamp() + delays.get(e, 0.0), profile.size(e), profile.kind_uplift(e.kind))
        for e in calendar.events
    ]
    total = profile._uplift(t_s, moved, [1.0] * len(moved))
    observed = values / base - 1.0
    out: dict[str, list[float]] = {k: [] for k in profile.kinds}
    for e, ev in zip(calendar.events, moved, strict=True):
        if e not in delays or e.kind not in out:
            continue
        sel = (t_s >= ev[0]) & (t_s < ev[0] + CONFIRM_S) & np.isfinite(observed)
        mine = profile._uplift(t_s[sel], [ev], [1.0])
        if float(np.sum(mine)) <= 1e-6:
            continue
        rest = observed[sel] - (total[sel] - mine)
        out[e.kind].append(float(np.sum(rest) / np.sum(mine)))
    return out


def _design(
    t_s: np.ndarray,
    calendar: Calendar,
    *,
    kinds: tuple[str, ...],
    sizes: dict[Event, float],
    knots_s: np.ndarray,
) -> np.ndarray:
    """``[T, K B]``: each start of kind ``k`` at each timestamp, its size spread over the two knots around its
    lag there (linear interpolation weights)."""
    B = len(knots_s)
    X = np.zeros((len(t_s), len(kinds) * B))
    rows = np.arange(len(t_s))
    for e in calendar.events:
        if e.kind not in kinds:
            continue
        lag = t_s - e.start.timestamp()
        ok = (lag >= 0) & (lag <= knots_s[-1])
        j = np.clip(np.searchsorted(knots_s, lag[ok], side="right") - 1, 0, max(B - 2, 0))
        if B == 1:
            X[rows[ok], kinds.index(e.kind) * B] += sizes[e]
            continue
        w = np.clip((lag[ok] - knots_s[j]) / (knots_s[j + 1] - knots_s[j]), 0.0, 1.0)
        col = kinds.index(e.kind) * B + j
        np.add.at(X, (rows[ok], col), sizes[e] * (1.0 - w))
        np.add.at(X, (rows[ok], col + 1), sizes[e] * w)
    return X


def lag_knots(step_s: float) -> np.ndarray:
    """The profile's knots: every minute over the first :data:`FINE_S` after a start (a start falls at any
    minute, and the rise takes a few: the step after it may catch any part of it), then every step."""
    fine = np.arange(0.0, min(FINE_S, PROFILE_S) + 1e-9, min(60.0, step_s))
    coarse = np.arange(fine[-1] + step_s, PROFILE_S - step_s + 1e-9, step_s)
    return np.concatenate([fine, coarse])


def _daily(
    values: np.ndarray, t_s: np.ndarray, *, step_s: float, season: int
) -> tuple[np.ndarray, np.ndarray]:
    """The daily shape ``[S]`` (mean 1) and the per-step base (shape x per-day level) of ``values``."""
    day = np.floor(t_s / 86400.0).astype(np.int64)
    if season <= 1:
        shape = np.ones(1)
        slot_shape = np.ones(len(values))
    else:
        slot = np.floor((t_s % 86400.0) / step_s).astype(np.int64) % season
        day_level = pd.Series(values).groupby(day).transform("median").to_numpy()
        rel = values / np.maximum(day_level, 1e-12)
        med = pd.Series(rel).groupby(slot).median()
        shape = np.ones(season)
        shape[med.index.to_numpy()] = med.to_numpy()
        shape = (
            pd.Series(np.concatenate([shape, shape, shape]))
            .rolling(3, center=True)
            .mean()
            .to_numpy()[season : 2 * season]
        )
        shape = np.maximum(shape / np.mean(shape), 1e-3)
        slot_shape = shape[slot]
    level = pd.Series(values / slot_shape).groupby(day).transform("median").to_numpy()
    return shape, slot_shape * level


def fit_event_profile(
    values: np.ndarray,
    index: pd.DatetimeIndex,
    calendar: Calendar,
    *,
    season: int,
    horizon: int,
    upper_quantile: float = 0.9,
    hold_share: bool = False,
) -> EventProfile | None:
    """Learn each kind's uplift from the starts in the training range (None: no start to learn from).

    ``hold_share``: also learn ``still_comes``, so that a waiting entry holds only the share of its uplift
    that the stream still comes with (off by default: on the benchmark's seeds it saved 10% of a cancelled
    entry's cost for 3-4 more short minutes, bench/results/events-hold-share*.md)."""
    index = pd.DatetimeIndex(index)
    step_s = float((index[1] - index[0]).total_seconds())
    t_s = index.as_unit("ns").asi8 / 1e9
    seen = calendar.between(index[0], index[-1])
    if not len(seen):
        return None
    kinds = seen.kinds
    scales = []
    for kind in kinds:
        hints = [e.expected for e in seen.events if e.kind == kind and e.expected is not None]
        scales.append(float(np.mean(hints)) if hints and np.mean(hints) > 0 else 0.0)
    counts = tuple(sum(1 for e in seen.events if e.kind == k) for k in kinds)
    knots = lag_knots(step_s)
    bins = len(knots)

    def size_of(e: Event) -> float:
        sc = scales[kinds.index(e.kind)] if e.kind in kinds else 0.0
        return float(e.expected / sc) if sc > 0 and e.expected is not None else 1.0

    ok = np.isfinite(values) & (values > 0)
    y = np.where(ok, values, np.nan)
    # Smoothness along the lag (changes of slope per step within each kind, whatever the knots' spacing:
    # a rise as sharp on the fine knots as on the coarse ones costs the same) and a small ridge.
    D = np.zeros((len(kinds) * max(bins - 2, 0), len(kinds) * bins))
    for k in range(len(kinds)):
        for b in range(bins - 2):
            r = k * (bins - 2) + b
            h1, h2 = (knots[b + 1] - knots[b]) / step_s, (knots[b + 2] - knots[b + 1]) / step_s
            w = ((h1 + h2) / 2) ** _FINE_SMOOTH_POWER  # fine knots: the rise is sharp, let the data say how
            D[r, k * bins + b : k * bins + b + 3] = (w / h1, -w / h1 - w / h2, w / h2)

    def solve(cal: Calendar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = _design(
            t_s, cal, kinds=kinds, sizes={e: size_of(e) for e in cal.events}, knots_s=knots
        )  # [T, KB]
        uplift_t = np.zeros(len(values))
        g = np.zeros(len(kinds) * bins)
        for _ in range(_ITERATIONS):
            clean = y / (1.0 + uplift_t)
            fill = np.where(np.isfinite(clean), clean, np.nanmedian(clean))
            shape, base = _daily(fill, t_s, step_s=step_s, season=season)
            r = y / base - 1.0
            use = np.isfinite(r)
            Xu = X[use]
            A = Xu.T @ Xu + _SMOOTH * D.T @ D + _RIDGE * np.eye(X.shape[1])
            g = np.linalg.solve(A, Xu.T @ r[use])
            uplift_t = X @ g
        return g, shape, base

    def profile_of(g: np.ndarray, shape: np.ndarray) -> EventProfile:
        return EventProfile(
            kinds=kinds,
            size_scale=tuple(scales),
            events_seen=counts,
            step_s=step_s,
            uplift=g.reshape(len(kinds), bins),
            lag_knots_s=knots,
            daily_shape=shape,
            upper_ratio=np.ones((2, horizon)),
            upper_quantile=upper_quantile,
        )

    g, shape, base = solve(calendar)
    profile = profile_of(g, shape)
    delays, _ = _fitted_delays(y, t_s, calendar, profile=profile, base=base)
    if delays:
        # Fit again with each start moved to where the load says it really started: late streams would
        # otherwise blur each kind's rise (and bias every later delay estimate towards none).
        moved = Calendar.of(
            dataclasses.replace(e, start=e.start + pd.Timedelta(seconds=delays.get(e, 0.0)))
            for e in calendar.events
        )
        g, shape, base = solve(moved)
        profile = profile_of(g, shape)
    delays, never = _fitted_delays(y, t_s, calendar, profile=profile, base=base)
    if len(delays) >= 5:
        kept = without_misreads(list(delays.values()), step_s=max(step_s, 60.0))
        late = quantile_upper_bound(kept, LATE_QUANTILE, LATE_CONFIDENCE)
        late_s = float(np.ceil(late / _DELAY_STEP_S - 1e-9) * _DELAY_STEP_S)
        # The delays are read on the training grid: a gap of more than one step between two is no spread.
        still = (
            still_comes_table(list(delays.values()), never_started=never, max_gap_s=max(step_s, 60.0))
            if hold_share
            else None
        )
    else:
        late_s, still = DEFAULT_LATE_S, None
    young = _young_sizes(y, t_s, calendar, profile=profile, base=base, delays=delays)
    young_upper = tuple(
        float(np.clip(np.quantile(young[k], upper_quantile), 1.0, _MAX_SCALE)) if len(young[k]) >= 5 else 1.0
        for k in kinds
    )
    profile = dataclasses.replace(profile, late_s=late_s, still_comes=still, young_upper=young_upper)
    return _with_upper_ratio(profile, values, index, calendar, horizon=horizon)


def _with_upper_ratio(
    profile: EventProfile, values: np.ndarray, index: pd.DatetimeIndex, calendar: Calendar, *, horizon: int
) -> EventProfile:
    """The band: per step ahead, the quantile of load / forecast at the steps the profile forecasts, apart for
    steps an unconfirmed start reaches and the others (in-sample: the profile has few parameters per kind)."""
    need = int(LEVEL_S / profile.step_s)
    before, after = int(USE_BEFORE_S / profile.step_s), int(USE_AFTER_S / profile.step_s)
    origins: set[int] = set()
    for e in calendar.events:
        at = int(index.searchsorted(e.start.tz_convert("UTC").tz_localize(None)))
        origins.update(range(max(need, at - before), min(len(values) - horizon, at + after)))
    if not origins:
        return profile
    o = np.array(sorted(origins), dtype=np.int64)
    point, pending = profile.forecast(values, index, o, horizon=horizon, calendar=calendar)
    actual = values[o[:, None] + np.arange(horizon)[None, :]]
    used = profile.used_steps(index, o, horizon, calendar) & np.isfinite(actual) & (point > 0)
    fresh = pending > 0.05 * point
    ratio = np.ones((2, horizon))
    for row, mask in enumerate((used & fresh, used & ~fresh)):
        for h in range(horizon):
            r = actual[mask[:, h], h] / point[mask[:, h], h]
            if len(r) >= 10:
                ratio[row, h] = float(np.clip(np.quantile(r, profile.upper_quantile), 1.0, 3.0))
    return EventProfile(**{**profile.__dict__, "upper_ratio": ratio})


def apply_event_profile(
    profile: EventProfile,
    forecast: np.ndarray,
    *,
    values: np.ndarray,
    index: pd.DatetimeIndex,
    origins: np.ndarray,
    quantiles: tuple[float, ...],
    calendar: Calendar,
) -> np.ndarray:
    """``forecast`` ``[N, H, Q]`` with the steps scheduled events reach taken from the profile.

    At those steps the p50 is the profile's point forecast and the quantiles above it are the profile's own
    band (``upper_ratio``, the in-sample spread of load around the profile where announced starts reach: the
    size of a stream is uncertain even with a hint); the network's band there was learnt around a p50 that
    may miss the start, so carried to the profile's p50 it can be far too wide. Lower quantiles keep their
    distance relative to the p50. Steps no event reaches keep the network's combined forecast.
    """
    N, H, _ = forecast.shape
    point, pending, bigger = profile.forecast_with_upper(values, index, origins, horizon=H, calendar=calendar)
    use = profile.used_steps(index, origins, H, calendar)  # [N, H]
    if not use.any():
        return forecast
    i50 = quantiles.index(0.5)
    p50 = forecast[..., i50]  # [N, H]
    below = np.where(np.abs(p50)[..., None] > 0, forecast / np.where(p50 == 0, 1.0, p50)[..., None], 1.0)
    out = forecast.copy()
    upper = np.where(pending > 0.05 * point, profile.upper_ratio[0, :H], profile.upper_ratio[1, :H])  # [N, H]
    z_upper = _z(profile.upper_quantile)
    for i, q in enumerate(quantiles):
        if q > 0.5 and z_upper > 0:
            # The profile's own band: its upper ratio, spread over the quantiles as a normal spread would be.
            new = point * (1.0 + (upper - 1.0) * _z(q) / z_upper)
            if q >= profile.upper_quantile:
                # A young stream bigger than announced: at least the size its load says (its kind's band).
                new = np.maximum(new, bigger)
        else:  # the median, and lower quantiles at the network's relative distance (at most the median)
            new = point * np.minimum(below[..., i], 1.0)
        out[..., i] = np.where(use, new, forecast[..., i])
    return out


def _z(q: float) -> float:
    return NormalDist().inv_cdf(min(max(q, 1e-6), 1 - 1e-6))
