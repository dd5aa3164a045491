"""The replay plot: load, each run's ready capacity and the forecast band (matplotlib, Agg backend).

Drawing only: it takes a finished :class:`forecaster.simulate.ReplayResult` and writes one PNG through a temp
file and a rename, so a failed draw leaves nothing half-written. It computes nothing the table does not have.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["plot_replay"]

_STYLE = {
    "hpa": ("HPA alone", "tab:red"),
    "prescaler": ("prescaler + HPA", "tab:green"),
    "oracle": ("oracle", "0.4"),
}


def plot_replay(
    result, path: str | Path, *, title: str = "", window: tuple[pd.Timestamp, pd.Timestamp] | None = None
) -> Path:
    """Write the load, ready capacity (load units) per run and the forecast band to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    cap = result.config.hpa.capacity_per_replica
    load = result.load
    if window is not None:
        load = load.loc[window[0] : window[1]]
    sel = result.load.index.get_indexer(load.index)
    fig = Figure(figsize=(12, 5), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    if result.forecast is not None:
        band = result.forecast.reindex(load.index)
        col = result.config.policy.column
        ax.fill_between(
            band.index,
            band["p50"],
            band[col],
            color="tab:blue",
            alpha=0.2,
            step="post",
            label=f"forecast p50..{col} made lead time earlier",
        )
    ax.plot(load.index, load.to_numpy(), color="black", lw=1.0, label="load")
    for name, run in result.runs.items():
        label, color = _STYLE.get(name, (name, None))
        m = run.metrics
        ax.step(
            load.index,
            run.ready[sel] * cap,
            where="post",
            color=color,
            lw=1.0,
            label=f"{label}: ready capacity ({m['under_provisioned_minutes']} min short, "
            f"{m['replica_minutes']:.0f} replica-min)",
        )
    ax.set_ylabel("load and ready capacity (pods x capacity per replica)")
    ax.set_title(title or "replay: ready capacity against load")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".replay-", suffix=".png", dir=out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
