"""Windows and scalers: turn a regular series into model inputs (pure numpy, no torch, no I/O).

Axis convention: ``N`` windows (one per forecast origin), ``L`` lookback steps, ``H`` horizon steps, ``F``
features per step. The origin ``t`` is the index of the first forecast step: the lookback is ``y[t-L:t]``
and the target ``y[t:t+H]``. Every value a window uses comes from before ``t`` except the target and the
*calendar* (time of day, day of week), which is known in advance.

Scaling is per window (divide by the mean level of the lookback), so one set of weights serves night and
prime time and a level shift does not push inputs out of the range seen in training. The only fitted
statistics are those of the log level, kept in :class:`Scaler` and saved with the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from forecaster.errors import DataError

__all__ = ["WindowSpec", "Scaler", "Windows", "calendar_features", "make_windows", "valid_origins"]

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

    def __post_init__(self) -> None:
        if self.lookback < 1 or self.horizon < 1 or self.season < 0:
            raise DataError(
                f"invalid window spec {self}", hint="lookback and horizon must be at least one step"
            )

    @property
    def history_needed(self) -> int:
        """Points of history an origin needs: the lookback, or a season back for the lags."""
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


@dataclass
class Windows:
    """Model inputs for ``N`` origins.

    past:   [N, L, 2 + 4]  y/scale, daily-lag y/lag-scale, calendar
    future: [N, H, 1 + 4]  daily-lag y/lag-scale for each forecast step, calendar
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
) -> Windows:
    """Build the inputs (and targets) for ``origins``; see :class:`Windows` for shapes."""
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

    # Calendar for every position, including steps after the end of the series (prediction time).
    # Calendar for the positions the windows use only, including steps after the end of the series
    # (prediction time): position p is at index[0] + p * step.
    t0, step_ns = int(pd.Timestamp(index[0]).value), int(pd.Timedelta(step).value)
    cal_past = _calendar_at(t0 + past_idx * step_ns)  # [N, L, 4]
    cal_future = _calendar_at(t0 + (origins[:, None] + np.arange(H)[None, :]) * step_ns)  # [N, H, 4]

    past = np.concatenate([y_past[..., None], lag_past[..., None], cal_past], axis=2).astype(np.float32)
    future = np.concatenate([lag_future[..., None], cal_future], axis=2).astype(np.float32)
    level = (np.log(scale) - scaler.log_level_mean) / scaler.log_level_std
    level = np.clip(level, -_LEVEL_CLIP, _LEVEL_CLIP)[:, None].astype(np.float32)  # [N, 1]
    target = None
    if with_target:
        tgt_idx = origins[:, None] + np.arange(H)[None, :]
        target = (values[tgt_idx] / scale[:, None]).astype(np.float32)  # [N, H]
    return Windows(
        past=past, future=future, level=level, scale=scale.astype(np.float64), target=target, origins=origins
    )
