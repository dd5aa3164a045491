"""Windows and scalers: turn a regular series into model inputs (pure numpy, no torch, no I/O).

Axis convention: ``N`` windows (one per forecast origin), ``L`` lookback steps, ``H`` horizon steps, ``F``
features per step. The origin ``t`` is the index of the first forecast step: the lookback is ``y[t-L:t]``
and the target ``y[t:t+H]``. Every value a window uses comes from before ``t`` except the target and the
*calendar* (time of day, day of week), which is known in advance, and, for models trained with one, the
*schedule* of events (:class:`EventFeatures`): the inputs at a step depend only on that step's timestamp and
the scheduled starts, never on values observed after the origin.

Scaling is per window (divide by the mean level of the lookback), so one set of weights serves night and
prime time and a level shift does not push inputs out of the range seen in training. The only fitted
statistics are those of the log level, kept in :class:`Scaler` and saved with the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from forecaster.errors import DataError
from forecaster.events import Calendar

__all__ = [
    "WindowSpec",
    "Scaler",
    "Windows",
    "EventFeatures",
    "calendar_features",
    "event_features",
    "make_windows",
    "valid_origins",
]

_DAY_S = 86400.0
_WEEK_S = 7 * _DAY_S
_LAG_CLIP = 10.0
_MIN_LOG_LEVEL_STD = 0.5
_LEVEL_CLIP = 4.0
"""Relative daily-lag inputs are clipped: yesterday's outage (a level near zero) must not explode them."""


@dataclass(frozen=True)
class WindowSpec:
    """Shape of a window, in steps of the series."""

    lookback: int
    horizon: int
    season: int  # steps in a day; 0 disables the seasonal-lag inputs
    week: int = 0
    """Steps in a week for the weekly-lag inputs (models trained on two weeks or more); 0: none."""

    def __repr__(self) -> str:  # as before weekly lags when there are none (messages name the spec)
        week = f", week={self.week}" if self.week else ""
        return f"WindowSpec(lookback={self.lookback}, horizon={self.horizon}, season={self.season}{week})"

    def __post_init__(self) -> None:
        if self.lookback < 1 or self.horizon < 1 or self.season < 0 or self.week < 0:
            raise DataError(
                f"invalid window spec {self}", hint="lookback and horizon must be at least one step"
            )
        if self.week and self.week < self.horizon:
            raise DataError(
                f"invalid window spec {self}: the weekly lag of a forecast step would lie after the origin",
                hint="a week must be longer than the horizon",
            )

    @property
    def history_needed(self) -> int:
        """Points of history an origin needs: the lookback, or a season (a week) back for the lags."""
        if self.week:  # the weekly lags reach a week back
            return max(self.week, self.season) + self.lookback
        return max(self.lookback, self.season + self.lookback if self.season else 0)


@dataclass(frozen=True)
class Scaler:
    """Statistics fitted on the training range and saved with the weights.

    ``floor`` keeps the per-window scale away from zero on idle series; ``log_level_mean``/``_std`` normalise
    the log of the window level, an input that tells the model how busy the series is (count noise is
    relatively larger at low levels).
    """

    floor: float
    log_level_mean: float
    log_level_std: float
    nonnegative: bool

    @classmethod
    def fit(cls, values: np.ndarray, *, lookback: int) -> Scaler:
        finite = values[np.isfinite(values)]
        if len(finite) == 0:
            raise DataError("cannot fit a scaler on a series with no finite values")
        mean_abs = float(np.mean(np.abs(finite)))
        floor = max(1e-3 * mean_abs, 1e-6)
        levels = _rolling_level(values, lookback, floor)
        logs = np.log(levels[np.isfinite(levels)])
        std = float(np.std(logs)) if len(logs) > 1 else 1.0
        return cls(
            floor=floor,
            log_level_mean=float(np.mean(logs)) if len(logs) else 0.0,
            # A floor on the spread: on a very steady series a later level shift would otherwise land
            # dozens of deviations outside what training saw, and the network extrapolates wildly.
            log_level_std=max(std, _MIN_LOG_LEVEL_STD),
            nonnegative=bool(np.all(finite >= 0)),
        )

    def to_dict(self) -> dict[str, float | bool]:
        return asdict(self)


def _rolling_level(values: np.ndarray, lookback: int, floor: float) -> np.ndarray:
    """Level of the window ending before each index: mean |y| over the previous ``lookback`` points."""
    s = pd.Series(np.abs(values))
    level = s.rolling(lookback, min_periods=lookback).mean().shift(1).to_numpy()
    return np.maximum(level, floor)


def calendar_features(index: pd.DatetimeIndex) -> np.ndarray:
    """``[T, 4]``: sine and cosine of time of day and of time of week (UTC)."""
    return _calendar_at(index.as_unit("ns").asi8)


def _calendar_at(ns: np.ndarray) -> np.ndarray:
    """``[..., 4]`` calendar features of epoch nanoseconds (any shape)."""
    seconds = ns / 1e9
    day = 2 * np.pi * (seconds % _DAY_S) / _DAY_S
    # 1970-01-01 was a Thursday; shift so the week phase starts on Monday.
    week = 2 * np.pi * ((seconds + 3 * _DAY_S) % _WEEK_S) / _WEEK_S
    return np.stack([np.sin(day), np.cos(day), np.sin(week), np.cos(week)], axis=-1).astype(np.float32)


@dataclass(frozen=True)
class EventFeatures:
    """Which event inputs a model reads: the kinds seen in training and how the inputs are scaled.

    Per kind, at every step (lookback and horizon), five inputs (:func:`event_features`):
    time until the next start (``/ until_cap_s``, 1 when none is that close), time since the last start
    (``/ since_cap_s``, 1 when none), whether the last one is still running (before its end, or an hour
    after its start without one), and the size hints of the next and of the last start relative to the
    kind's mean hint in training (1 without hints; 0 when that start is beyond the cap).
    Saved in the model's manifest (``events``); a model without it reads no event inputs.
    """

    kinds: tuple[str, ...]
    size_scale: tuple[float, ...]
    """Mean size hint of each kind's training events (0: no hints; every event then counts as 1)."""
    events_seen: tuple[int, ...]
    """Training events of each kind: what the model learned each kind's effect from."""
    until_cap_s: float = 2 * 3600.0
    since_cap_s: float = 3 * 3600.0

    PER_KIND = 5

    @property
    def n_features(self) -> int:
        return self.PER_KIND * len(self.kinds)

    @classmethod
    def fit(
        cls, calendar: Calendar, *, start: pd.Timestamp, end: pd.Timestamp, name: str = "model"
    ) -> EventFeatures:
        """The kinds with at least one start in ``[start, end]`` (the training range) and their hint scale."""
        seen = calendar.between(start, end)
        if not len(seen):
            raise DataError(
                f"{name}: the calendar {calendar.source} has no event between {start} and {end}",
                hint="give a calendar covering the training history (past events are how the model learns "
                "each kind's effect), or train without --events",
            )
        kinds = seen.kinds
        scales, counts = [], []
        for kind in kinds:
            hints = [e.expected for e in seen.events if e.kind == kind and e.expected is not None]
            scales.append(float(np.mean(hints)) if hints and np.mean(hints) > 0 else 0.0)
            counts.append(sum(1 for e in seen.events if e.kind == kind))
        return cls(kinds=kinds, size_scale=tuple(scales), events_seen=tuple(counts))

    def unseen(self, calendar: Calendar | None) -> tuple[str, ...]:
        """Kinds in ``calendar`` that this model never saw in training."""
        return tuple(k for k in (calendar.kinds if calendar is not None else ()) if k not in self.kinds)

    def variants(self, calendar: Calendar | None) -> list[Calendar]:
        """Calendars to average the forecast over: the calendar itself, or, when it holds kinds never seen
        in training, one copy per known kind with the unseen kinds relabelled to it (their default effect
        is the average effect of all known kinds)."""
        calendar = calendar if calendar is not None else Calendar()
        unseen = self.unseen(calendar)
        if not unseen:
            return [calendar]
        return [calendar.relabel(dict.fromkeys(unseen, kind)) for kind in self.kinds]

    def to_dict(self) -> dict[str, object]:
        return {
            "kinds": list(self.kinds),
            "size_scale": list(self.size_scale),
            "events_seen": list(self.events_seen),
            "until_cap_s": self.until_cap_s,
            "since_cap_s": self.since_cap_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> EventFeatures:
        kinds = tuple(str(k) for k in data["kinds"])  # type: ignore[union-attr]
        scales = tuple(float(v) for v in data["size_scale"])  # type: ignore[union-attr]
        seen = tuple(int(v) for v in data.get("events_seen") or [0] * len(kinds))  # type: ignore[union-attr]
        if not kinds or len(scales) != len(kinds) or len(seen) != len(kinds):
            raise ValueError(
                "events: kinds, size_scale and events_seen must be non-empty and of equal length"
            )
        return cls(
            kinds=kinds,
            size_scale=scales,
            events_seen=seen,
            until_cap_s=float(data.get("until_cap_s", 2 * 3600.0)),  # type: ignore[arg-type]
            since_cap_s=float(data.get("since_cap_s", 3 * 3600.0)),  # type: ignore[arg-type]
        )


def event_features(index: pd.DatetimeIndex, calendar: Calendar | None, spec: EventFeatures) -> np.ndarray:
    """``[T, 5 K]``: the event inputs of :class:`EventFeatures` at each timestamp of ``index``.

    Depends only on the timestamps and the scheduled starts: the schedule is known in advance, so these
    inputs may describe steps after the forecast origin. Kinds the model does not know are ignored here
    (see :meth:`EventFeatures.variants`).
    """
    t = index.as_unit("ns").asi8.astype(np.float64) / 1e9  # [T] seconds
    events = calendar.events if calendar is not None else ()
    out = np.zeros((len(t), spec.n_features), dtype=np.float64)
    for k, kind in enumerate(spec.kinds):
        mine = [e for e in events if e.kind == kind]
        starts = np.array([e.start.timestamp() for e in mine], dtype=np.float64)  # [E] sorted
        ends = np.array([e.until.timestamp() for e in mine], dtype=np.float64)  # [E]
        scale = spec.size_scale[k]
        sizes = np.array(
            [(e.expected / scale) if (scale > 0 and e.expected is not None) else 1.0 for e in mine],
            dtype=np.float64,
        )  # [E]
        cols = slice(spec.PER_KIND * k, spec.PER_KIND * (k + 1))
        if not len(starts):
            out[:, cols] = [1.0, 1.0, 0.0, 0.0, 0.0]
            continue
        nxt = np.searchsorted(starts, t, side="right")  # [T] first start after t
        last = nxt - 1  # [T] latest start at or before t (-1: none)
        has_next = nxt < len(starts)
        has_last = last >= 0
        until = np.where(has_next, (starts[np.minimum(nxt, len(starts) - 1)] - t) / spec.until_cap_s, 1.0)
        since = np.where(has_last, (t - starts[np.maximum(last, 0)]) / spec.since_cap_s, 1.0)
        until, since = np.clip(until, 0.0, 1.0), np.clip(since, 0.0, 1.0)
        running = has_last & (t < ends[np.maximum(last, 0)])
        size_next = np.where(has_next & (until < 1.0), sizes[np.minimum(nxt, len(starts) - 1)], 0.0)
        size_last = np.where(has_last & (since < 1.0), sizes[np.maximum(last, 0)], 0.0)
        out[:, cols] = np.stack([until, since, running.astype(np.float64), size_next, size_last], axis=1)
    return out.astype(np.float32)


def _time_inputs(ns: np.ndarray, events: Calendar | None, event_spec: EventFeatures | None) -> np.ndarray:
    """``[T, 4 (+ 5K)]``: calendar (and, with ``event_spec``, event) inputs at epoch nanoseconds ``ns`` [T].

    Both depend on the timestamp and the schedule only, never on values.
    """
    cal = _calendar_at(ns)  # [T, 4]
    if event_spec is None:
        return cal
    ev = event_features(pd.to_datetime(ns, unit="ns"), events, event_spec)  # [T, 5K]
    return np.concatenate([cal, ev], axis=1)


@dataclass
class Windows:
    """Model inputs for ``N`` origins.

    past:   [N, L, 2 + 4 (+ 5K) (+ 1)]  y/scale, daily-lag y/lag-scale, calendar (, event inputs)
                                        (, weekly-lag y/its scale)
    future: [N, H, 1 + 4 (+ 5K) (+ 1)]  daily-lag y/lag-scale for each forecast step, calendar (, event
                                        inputs) (, weekly-lag y/its scale)
    level:  [N, 1]         normalised log of the window scale
    scale:  [N]            the per-window scale (multiply outputs by it)
    target: [N, H] | None  y/scale for the forecast steps
    """

    past: np.ndarray
    future: np.ndarray
    level: np.ndarray
    scale: np.ndarray
    target: np.ndarray | None
    origins: np.ndarray


def valid_origins(values: np.ndarray, spec: WindowSpec, *, with_target: bool) -> np.ndarray:
    """Origins whose every input (and target when asked) is finite: no window crosses a masked gap."""
    n = len(values)
    need = spec.history_needed
    last = n - spec.horizon if with_target else n
    if last < need:
        return np.zeros(0, dtype=np.int64)
    bad = (~np.isfinite(values)).astype(np.int64)
    csum = np.concatenate([[0], np.cumsum(bad)])

    def clean(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return (csum[hi] - csum[lo]) == 0

    t = np.arange(need, last + 1)
    ok = clean(t - spec.lookback, t)
    if spec.season:
        # Lags for the lookback and for every forecast step: y[t - L - m : t + H - m].
        ok &= clean(t - spec.lookback - spec.season, np.minimum(t + spec.horizon - spec.season, n))
    if spec.week:  # the same a week back (the horizon is shorter than a week: all before t)
        ok &= clean(t - spec.lookback - spec.week, t + spec.horizon - spec.week)
    if with_target:
        ok &= clean(t, t + spec.horizon)
    return t[ok]


def make_windows(
    values: np.ndarray,
    index: pd.DatetimeIndex,
    *,
    spec: WindowSpec,
    scaler: Scaler,
    origins: np.ndarray,
    with_target: bool,
    step: pd.Timedelta,
    events: Calendar | None = None,
    event_spec: EventFeatures | None = None,
) -> Windows:
    """Build the inputs (and targets) for ``origins``; see :class:`Windows` for shapes.

    With ``event_spec`` (a model trained with a calendar) every step also gets the event inputs computed from
    ``events`` (None: nothing scheduled); without it ``events`` is ignored.
    """
    L, H, m = spec.lookback, spec.horizon, spec.season
    origins = np.asarray(origins, dtype=np.int64)
    past_idx = origins[:, None] + np.arange(-L, 0)[None, :]  # [N, L]
    lvl = np.mean(np.abs(values[past_idx]), axis=1)  # [N]
    scale = np.maximum(lvl, scaler.floor)  # [N]
    y_past = values[past_idx] / scale[:, None]  # [N, L]
    if m:
        # Yesterday's shape relative to yesterday's level at the same time: a level shift since yesterday
        # (a new release doubling CPU, a viral stream) must not drag the forecast back to the old level.
        lag_raw = values[past_idx - m]  # [N, L]
        lag_scale = np.maximum(np.mean(np.abs(lag_raw), axis=1), scaler.floor)  # [N]
        fut_lag_idx = origins[:, None] + np.arange(H)[None, :] - m  # [N, H]
        # A horizon longer than a season wraps back one more season (never reads the future).
        fut_lag_idx = np.where(fut_lag_idx >= origins[:, None], fut_lag_idx - m, fut_lag_idx)
        bound = _LAG_CLIP
        lag_past = np.clip(lag_raw / lag_scale[:, None], -bound, bound)  # [N, L]
        lag_future = np.clip(values[fut_lag_idx] / lag_scale[:, None], -bound, bound)  # [N, H]
    else:
        lag_past = np.repeat(y_past[:, -1:], L, axis=1)
        lag_future = np.repeat(y_past[:, -1:], H, axis=1)

    # Calendar (and event inputs) for the positions the windows use only, including steps after the end of
    # the series (prediction time): position p is at index[0] + p * step.
    t0, step_ns = int(pd.Timestamp(index[0]).value), int(pd.Timedelta(step).value)
    future_idx = origins[:, None] + np.arange(H)[None, :]  # [N, H]
    lo = int(origins.min()) - L if len(origins) else 0
    hi = int(origins.max()) + H if len(origins) else 0
    if hi - lo <= past_idx.size + future_idx.size:
        # Overlapping windows share positions: compute each position once and gather (training builds
        # 20,000 windows an epoch; the sines were most of their cost).
        table = _time_inputs(t0 + np.arange(lo, hi, dtype=np.int64) * step_ns, events, event_spec)  # [P, F]
        cal_past, cal_future = table[past_idx - lo], table[future_idx - lo]  # [N, L, F], [N, H, F]
    else:  # a few origins far apart: per window
        n = len(origins)
        cal_past = _time_inputs((t0 + past_idx * step_ns).ravel(), events, event_spec).reshape(n, L, -1)
        cal_future = _time_inputs((t0 + future_idx * step_ns).ravel(), events, event_spec).reshape(n, H, -1)

    past_parts = [y_past[..., None], lag_past[..., None], cal_past]
    future_parts = [lag_future[..., None], cal_future]
    if spec.week:
        # Last week's shape relative to its own level, as the daily lag: the inputs of a model trained on two
        # weeks or more, last so that every other input keeps its position. Every forecast step's value a
        # week back lies before the origin (a week is longer than the horizon).
        week_raw = values[past_idx - spec.week]  # [N, L]
        week_scale = np.maximum(np.mean(np.abs(week_raw), axis=1), scaler.floor)[:, None]  # [N, 1]
        week_future = values[origins[:, None] + np.arange(H)[None, :] - spec.week]  # [N, H]
        past_parts.append(np.clip(week_raw / week_scale, -_LAG_CLIP, _LAG_CLIP)[..., None])
        future_parts.append(np.clip(week_future / week_scale, -_LAG_CLIP, _LAG_CLIP)[..., None])
    past = np.concatenate(past_parts, axis=2).astype(np.float32)
    future = np.concatenate(future_parts, axis=2).astype(np.float32)
    level = (np.log(scale) - scaler.log_level_mean) / scaler.log_level_std
    level = np.clip(level, -_LEVEL_CLIP, _LEVEL_CLIP)[:, None].astype(np.float32)  # [N, 1]
    target = None
    if with_target:
        tgt_idx = origins[:, None] + np.arange(H)[None, :]
        target = (values[tgt_idx] / scale[:, None]).astype(np.float32)  # [N, H]
    return Windows(
        past=past, future=future, level=level, scale=scale.astype(np.float64), target=target, origins=origins
    )
