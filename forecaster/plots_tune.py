"""The tuning frontier plot: cost over the oracle against the SLO rate, HPA alone vs prescaler + HPA.

Drawing only (matplotlib imported inside, Agg backend); the numbers come from
:class:`forecaster.tuning.TuneResult`. The file is written to a temporary name and moved into place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_tuning"]


def plot_tuning(result: Any, path: Path, *, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    oracle = result.oracle_replica_minutes or 1.0

    def xy(points: list[Any]) -> tuple[list[float], list[float]]:
        return (
            [(p.replica_minutes / oracle - 1) * 100 for p in points],
            [p.rate * 100 for p in points],
        )

    hpa = sorted((p for p in result.points if not p.setting.prescaler), key=lambda p: p.replica_minutes)
    pre = [p for p in result.points if p.setting.prescaler]
    front = sorted((p for p in pre if p.pareto), key=lambda p: p.replica_minutes)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    x, y = xy(hpa)
    ax.plot(x, y, "s-", color="tab:gray", label="HPA alone, target utilisation 1.0 .. 0.5")
    for p, px, py in zip(hpa, x, y, strict=True):
        ax.annotate(f"{p.setting.target_utilisation:g}", (px, py), textcoords="offset points", xytext=(4, 4))
    x, y = xy(pre)
    ax.scatter(x, y, color="tab:blue", alpha=0.35, s=18, label="prescaler + HPA, every setting")
    x, y = xy(front)
    ax.plot(x, y, "o-", color="tab:blue", label="prescaler + HPA, Pareto frontier")
    ax.axhline(result.slo.limit * 100, color="tab:red", ls="--", lw=1, label=f"SLO {result.slo}")
    for p, marker, label in (
        (result.recommended, "*", "recommended"),
        (result.hpa_alone, "D", "cheapest HPA alone meeting the SLO"),
    ):
        if p is not None:
            (px,), (py,) = xy([p])
            ax.scatter([px], [py], marker=marker, s=160, color="tab:green", zorder=5, label=label)
    ax.set_xlabel("replica-minutes over the perfect-foresight oracle (%)")
    ax.set_ylabel(
        "short minutes (% of minutes)" if result.slo.metric == "short-minutes" else "unserved load (%)"
    )
    ax.set_yscale("symlog", linthresh=max(result.slo.limit * 100 / 10, 1e-3))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
