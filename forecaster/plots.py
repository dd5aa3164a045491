"""PNG plots people would rather look at than read: backtests (forecast bands against actuals).

Uses matplotlib's Agg backend (no display). Writes the file atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from forecaster.evaluation import BacktestResult
from forecaster.predictors import quantile_label

__all__ = ["plot_backtest", "save_figure"]


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


def plot_backtest(
    result: BacktestResult, path: str | Path, *, model: str, baseline: str | None = None, title: str = ""
) -> Path:
    """Actuals over the backtest range, each origin's p50 path and its upper-quantile band."""
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
    scores = result.scores[model]
    subtitle = f"{model}: WAPE {scores.wape:.3f}, {quantile_label(upper_q)} coverage {scores.coverage:.0%}"
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
