"""Per-kind event profiles: how much load each kind of scheduled event adds, learnt from its past events.

A statistical component beside the network (pure numpy, no torch, no I/O). The network reads the schedule
as inputs and has to learn each kind's effect through an LSTM from a few dozen events; the profile states
that effect directly. For each kind ``k`` and each step ``b`` after a start it holds the relative uplift
``g[k, b]``: a start of kind ``k`` with size ``s`` (its ``expected`` hint relative to the kind's mean
hint in training; 1 without hints) multiplies the load ``b`` steps later by ``1 + s g[k, b]``; events that
overlap add their uplifts.

Fitting (:func:`fit_event_profile`) alternates two least-squares problems on the training range: the load
without events (a daily shape times a per-day level, both medians of the load divided by the uplift
fitted so far) and the uplifts (a ridge regression of ``load / base - 1`` on the sizes of the starts at each
lag, smoothed along the lag). Nothing about a kind is assumed: how high, how fast the rise and how long the
decay all come from its past events. A kind never seen in training gets the mean profile of the known
kinds (the stated default, :data:`UNSEEN_DEFAULT`).

Forecasting (:meth:`EventProfile.forecast`) at an origin: the level without events is estimated from the
last two hours (the load divided by the daily shape and by the uplift of the events that were running);
each event that started before the origin has its size and its real start (a delay of up to
:data:`CONFIRM_S`) re-estimated from what it did so far (a cancelled entry or a stream much smaller than
announced fades out of the forecast, a late one is followed from when it really started; a start younger
than :data:`CONFIRM_S` keeps its announced size, since a stream may start late); the forecast is that level
times the daily shape times ``1 + uplift`` of every event in the calendar at each step. Axis convention as in
:mod:`forecaster.combine`: origin ``t`` forecasts ``y[t : t + H]`` from ``y[:t]`` and the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from forecaster.events import Calendar, Event

__all__ = ["CONFIRM_S", "EventProfile", "UNSEEN_DEFAULT", "apply_event_profile", "fit_event_profile"]

PROFILE_S = 4 * 3600.0
"""How long after a start the profile's uplift reaches."""
USE_BEFORE_S = 30 * 60.0
USE_AFTER_S = 60 * 60.0
"""The forecast steps taken from the profile: from this long before a start to this long after it. Later the
event is in the data, and the network (which reads it) follows its decay at least as well."""
CONFIRM_S = 10 * 60.0
"""A start younger than this keeps its announced size: a stream that has not shown up yet may be late."""
LEVEL_S = 2 * 3600.0
"""The level without events is estimated over this much recent history."""
UNSEEN_DEFAULT = "the mean profile of the known kinds"
"""What a kind never seen in training is forecast with (its size hint relative to the known kinds' mean)."""
_RIDGE = 1e-2
_SMOOTH = 3.0
_ITERATIONS = 4
_MAX_SCALE = 3.0
_DELAY_STEP_S = 60.0


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

    @property
    def bins(self) -> int:
        return int(self.uplift.shape[1])

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
        reach = self.bins * self.step_s
        out = []
        for e in calendar.events:
            s = e.start.timestamp()
            if s + reach < lo_s or s > hi_s:
                continue
            out.append((s, self.size(e), self.kind_uplift(e.kind)))
        return out

    def _uplift(
        self, t_s: np.ndarray, events: list[tuple[float, float, np.ndarray]], scales: list[float]
    ) -> np.ndarray:
        """Sum of the events' uplifts at epoch seconds ``t_s`` ``[T]``."""
        out = np.zeros(len(t_s))
        for (start, size, g), a in zip(events, scales, strict=True):
            lag = np.floor((t_s - start) / self.step_s + 1e-9).astype(np.int64)
            ok = (lag >= 0) & (lag < self.bins)
            out[ok] += a * size * g[lag[ok]]
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
        from starts not yet confirmed at the origin (announced, or younger than :data:`CONFIRM_S`)."""
        t0 = pd.Timestamp(index[0]).value / 1e9
        step = self.step_s
        n_level = max(1, int(LEVEL_S / step))
        points = np.zeros((len(origins), horizon))
        pending = np.zeros((len(origins), horizon))
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
            timed = events  # with each confirmed event's start moved by the delay it showed
            for _ in range(2):
                base = np.nanmedian(y / (shape_past * (1.0 + self._uplift(past_s, timed, scales))))
                level = float(base) if np.isfinite(base) and base > 0 else level
                scales, timed = self._rescale(
                    events, y=y, past_s=past_s, shape=shape_past, level=level, last_s=last_s
                )
            fresh = [1.0 if start > last_s - CONFIRM_S else 0.0 for start, _, _ in events]
            events = timed
            total = self._uplift(future_s, events, scales)
            new = self._uplift(future_s, events, [a * f for a, f in zip(scales, fresh, strict=True)])
            points[i] = level * self.shape_at(future_s) * (1.0 + total)
            pending[i] = level * self.shape_at(future_s) * new
        return points, pending

    def _rescale(
        self,
        events: list[tuple[float, float, np.ndarray]],
        *,
        y: np.ndarray,
        past_s: np.ndarray,
        shape: np.ndarray,
        level: float,
        last_s: float,
    ) -> tuple[list[float], list[tuple[float, float, np.ndarray]]]:
        """Each confirmed event's size relative to its announced one and its real start (the announced one
        plus a delay of up to :data:`CONFIRM_S`), from what it did so far."""
        scales = [1.0] * len(events)
        timed = list(events)
        if not len(y) or level <= 0:
            return scales, timed
        observed = y / (level * shape) - 1.0  # [P] relative uplift seen
        delays = np.arange(0.0, CONFIRM_S + 1.0, _DELAY_STEP_S)
        for j, (start, size, g) in enumerate(events):
            if start > last_s - CONFIRM_S:
                continue  # not confirmed yet: keeps its announced size and start
            seen = past_s >= start
            others = self._uplift(
                past_s,
                [e for k, e in enumerate(timed) if k != j],
                [a for k, a in enumerate(scales) if k != j],
            )
            rest = observed[seen] - others[seen]
            best = (np.inf, 1.0, start)
            for delay in delays:
                mine = self._uplift(past_s, [(start + delay, size, g)], [1.0])[seen]
                denom = float(np.sum(mine**2))
                if denom <= 1e-6:
                    continue
                a = float(np.clip(np.sum(rest * mine) / denom, 0.0, _MAX_SCALE))
                err = float(np.sum((rest - a * mine) ** 2))
                if err < best[0] * (1 - 1e-3):  # the earliest start wins ties (a cancelled entry: no delay)
                    best = (err, a, start + delay)
            if np.isfinite(best[0]):
                scales[j] = best[1]
                timed[j] = (best[2], size, g)
        return scales, timed

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
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> EventProfile:
        kinds = tuple(str(k) for k in data["kinds"])  # type: ignore[union-attr]
        uplift = np.asarray(data["uplift"], dtype=float)
        shape = np.asarray(data["daily_shape"], dtype=float)
        upper = np.asarray(data["upper_ratio"], dtype=float)
        scales = tuple(float(v) for v in data["size_scale"])  # type: ignore[union-attr]
        seen = tuple(int(v) for v in data["events_seen"])  # type: ignore[union-attr]
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
        )


def _design(
    t_s: np.ndarray,
    calendar: Calendar,
    *,
    kinds: tuple[str, ...],
    sizes: dict[Event, float],
    step_s: float,
    bins: int,
) -> np.ndarray:
    """``[T, K B]``: the size of each start of kind ``k`` lying ``b`` steps before each timestamp."""
    X = np.zeros((len(t_s), len(kinds) * bins))
    rows = np.arange(len(t_s))
    for e in calendar.events:
        if e.kind not in kinds:
            continue
        lag = np.floor((t_s - e.start.timestamp()) / step_s + 1e-9).astype(np.int64)
        ok = (lag >= 0) & (lag < bins)
        X[rows[ok], kinds.index(e.kind) * bins + lag[ok]] += sizes[e]
    return X


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
) -> EventProfile | None:
    """Learn each kind's uplift from the starts in the training range (None: no start to learn from)."""
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
    bins = max(1, int(PROFILE_S / step_s))
    sizes = {}
    for e in calendar.events:
        sc = scales[kinds.index(e.kind)] if e.kind in kinds else 0.0
        sizes[e] = float(e.expected / sc) if sc > 0 and e.expected is not None else 1.0
    ok = np.isfinite(values) & (values > 0)
    X = _design(t_s, calendar, kinds=kinds, sizes=sizes, step_s=step_s, bins=bins)  # [T, KB]
    # Smoothness along the lag (second differences within each kind) and a small ridge.
    D = np.zeros((len(kinds) * max(bins - 2, 0), len(kinds) * bins))
    for k in range(len(kinds)):
        for b in range(bins - 2):
            r = k * (bins - 2) + b
            D[r, k * bins + b : k * bins + b + 3] = (1.0, -2.0, 1.0)
    uplift_t = np.zeros(len(values))
    g = np.zeros(len(kinds) * bins)
    y = np.where(ok, values, np.nan)
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
    profile = EventProfile(
        kinds=kinds,
        size_scale=tuple(scales),
        events_seen=counts,
        step_s=step_s,
        uplift=g.reshape(len(kinds), bins),
        daily_shape=shape,
        upper_ratio=np.ones((2, horizon)),
        upper_quantile=upper_quantile,
    )
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
    point, pending = profile.forecast(values, index, origins, horizon=H, calendar=calendar)  # [N, H]
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
        else:  # the median, and lower quantiles at the network's relative distance (at most the median)
            new = point * np.minimum(below[..., i], 1.0)
        out[..., i] = np.where(use, new, forecast[..., i])
    return out


def _z(q: float) -> float:
    return NormalDist().inv_cdf(min(max(q, 1e-6), 1 - 1e-6))
