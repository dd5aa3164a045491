"""How well forecasts carry scheduled events: WAPE in the windows after each scheduled start (pure).

A backtest with an origin every hour barely looks at the minutes that matter for a scheduled stream. Here
every origin from a horizon before a start to the end of its window is scored, and only on the forecast steps
that land in ``[start, start + window)``: the question is whether the forecast already carried the event
when the capacity had to be ordered. Everything else is scored separately (no worse outside the windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.evaluation import forecast_origins
from forecaster.events import Calendar

__all__ = ["EVENT_WINDOW", "EventWindowScore", "event_window_mask", "event_window_wape"]

EVENT_WINDOW = pd.Timedelta(minutes=30)
"""The window after a scheduled start that event scores judge (the issue's target: 30 minutes)."""


@dataclass(frozen=True)
class EventWindowScore:
    wape_in_windows: float
    """p50 WAPE over forecast steps inside the windows after scheduled starts."""
    wape_outside: float
    """p50 WAPE over the other forecast steps of the same origins."""
    events: int
    origins: int


def event_window_mask(index: pd.DatetimeIndex, calendar: Calendar, *, window: pd.Timedelta) -> np.ndarray:
    """``[T]``: whether each timestamp lies in ``[start, start + window)`` of some scheduled start."""
    t = pd.DatetimeIndex(index).as_unit("ns").asi8
    mask = np.zeros(len(t), dtype=bool)
    for event in calendar.events:
        s = pd.Timestamp(event.start).tz_convert("UTC").tz_localize(None).as_unit("ns").value
        mask |= (t >= s) & (t < s + window.value)
    return mask


def event_window_wape(
    predictor,  # noqa: ANN001 - any Predictor (bind a calendar first for a model that reads one)
    series: pd.Series,
    calendar: Calendar,
    *,
    start: int,
    window: pd.Timedelta = EVENT_WINDOW,
    stride: int = 1,
) -> EventWindowScore:
    """Score ``predictor``'s p50 at origins around the scheduled starts after position ``start``."""
    index = pd.DatetimeIndex(series.index)
    H = predictor.horizon_steps
    step = index[1] - index[0]
    need = max(start, getattr(predictor, "lookback_steps", 1))
    in_window = event_window_mask(index, calendar, window=window)
    chosen: set[int] = set()
    events = 0
    for event in calendar.events:
        at = int(index.searchsorted(pd.Timestamp(event.start).tz_convert("UTC").tz_localize(None)))
        lo, hi = at - H, at + int(window / step)
        if lo < need or hi + H > len(index):
            continue
        events += 1
        chosen.update(range(lo, hi, stride))
    if not chosen:
        return EventWindowScore(float("nan"), float("nan"), 0, 0)
    origins = np.array(sorted(chosen), dtype=np.int64)
    fc = forecast_origins(predictor, series, origins)  # [N, H, Q]
    p50 = fc[..., sorted(predictor.quantiles).index(0.5)]  # [N, H]
    pos = origins[:, None] + np.arange(H)[None, :]  # [N, H]
    actual = series.to_numpy(dtype=float)[pos]
    inside = in_window[pos]
    err = np.abs(p50 - actual)

    def wape(mask: np.ndarray) -> float:
        total = float(np.abs(actual[mask]).sum())
        return float(err[mask].sum() / total) if total > 0 else float("nan")

    return EventWindowScore(wape(inside), wape(~inside), events, len(origins))
