"""PNG plots people would rather look at than read: backtests (forecast bands against actuals), with the
scheduled events of a calendar marked on them.

Uses matplotlib's Agg backend (no display). Writes the file atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.evaluation import BacktestResult
from forecaster.events import Calendar, Event
from forecaster.predictors import quantile_label

__all__ = ["plot_backtest", "save_figure", "mark_events", "EVENT_COLORS"]

EVENT_COLORS = ("tab:purple", "tab:green", "tab:red", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
"""One per kind, in the calendar's sorted kinds (blue, orange and black draw the forecasts and actuals)."""


def save_figure(fig, path: str | Path) -> Path:  # noqa: ANN001 - matplotlib Figure
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=".png", dir=p.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, p)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return p


def mark_events(ax: Any, calendar: Calendar, *, start: Any, end: Any) -> list[Event]:
    """Draw each event of ``calendar`` starting in ``[start, end]`` on ``ax`` as a dotted vertical line, one
    colour per kind (labelled once for the legend); the events marked. ``start``/``end`` are in the axis' time
    zone (naive timestamps are UTC)."""
    lo, hi = _utc(start), _utc(end)
    naive = getattr(pd.Timestamp(start), "tzinfo", None) is None
    colors = {kind: EVENT_COLORS[i % len(EVENT_COLORS)] for i, kind in enumerate(calendar.kinds)}
    marked: list[Event] = []
    labelled: set[str] = set()
    for event in calendar.events:
        if not lo <= event.start <= hi:
            continue
        x = event.start.tz_localize(None) if naive else event.start
        label = f"scheduled: {event.kind}" if event.kind not in labelled else None
        labelled.add(event.kind)
        ax.axvline(x, color=colors[event.kind], lw=1.0, ls=":", alpha=0.9, label=label)
        marked.append(event)
    return marked


def _utc(ts: Any) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_convert("UTC") if t.tzinfo is not None else t.tz_localize("UTC")


def plot_backtest(
    result: BacktestResult,
    path: str | Path,
    *,
    model: str,
    baseline: str | None = None,
    title: str = "",
    events: Calendar | None = None,
) -> Path:
    """Actuals over the backtest range, each origin's p50 path and its upper-quantile band; with ``events``,
    the scheduled starts in that range marked (see :func:`mark_events`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = result.index
    horizon = result.actual.shape[1]
    start, end = int(result.origins[0]), int(result.origins[-1]) + horizon
    upper_q = result.quantiles[-1]
    p50_i = list(result.quantiles).index(0.5)
    fig, ax = plt.subplots(figsize=(13, 4.8))
    values = np.full(end - start, np.nan)
    for i, t in enumerate(result.origins):
        values[t - start : t - start + horizon] = result.actual[i]
    ax.plot(index[start:end], values, color="black", lw=0.8, label="actual")
    fc = result.forecasts[model]
    for i, t in enumerate(result.origins):
        ts = index[t : t + horizon]
        ax.fill_between(
            ts,
            fc[i, :, p50_i],
            fc[i, :, -1],
            color="tab:blue",
            alpha=0.25,
            lw=0,
            label=f"{model} p50-{quantile_label(upper_q)}" if i == 0 else None,
        )
        ax.plot(ts, fc[i, :, p50_i], color="tab:blue", lw=1.2, label=f"{model} p50" if i == 0 else None)
        if baseline:
            ax.plot(
                ts,
                result.forecasts[baseline][i, :, p50_i],
                color="tab:orange",
                lw=1,
                ls="--",
                label=f"{baseline} p50" if i == 0 else None,
            )
    marked = mark_events(ax, events, start=index[start], end=index[end - 1]) if events is not None else []
    scores = result.scores[model]
    subtitle = f"{model}: WAPE {scores.wape:.3f}, {quantile_label(upper_q)} coverage {scores.coverage:.0%}"
    if events is not None:
        subtitle += f"; {len(marked)} scheduled starts marked"
    if baseline:
        subtitle += f"; {baseline}: WAPE {result.scores[baseline].wape:.3f}"
    ax.set_title((title + "\n" if title else "") + subtitle, fontsize=10)
    ax.set_ylabel("load")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)
