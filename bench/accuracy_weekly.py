"""Would a weekly component help the skill weighting? (not a test; measured in session 10, not built)

Adds ``weekly_mean`` to the components the skill weighting judges: today's level (the last hour) plus the
deviation from their own level at the same time one and two weeks ago (those kept; where no week is kept,
the daily ``seasonal_mean``), the weekly counterpart of :func:`forecaster.model.smoothed_points`'
``seasonal_mean``. The saved networks of ``bench/accuracy_lstm.py`` are recombined (the static blend, the
skill weighting with its guard and the band refitted on the same validation origins) with and without it and
scored on the same protocol, against the last full run's baselines.

    python bench/accuracy_weekly.py --models DIR weekly Twitter_volume_IBM,ec2_network_in_5abac7
    python bench/accuracy_weekly.py --models DIR plain Twitter_volume_IBM,ec2_network_in_5abac7
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy_lstm  # noqa: E402

from forecaster import model as model_module  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
_smoothed_points = model_module.smoothed_points


def weekly_points(
    values: np.ndarray, origins: np.ndarray, *, horizon: int, season: int, step: pd.Timedelta
) -> dict[str, np.ndarray]:
    out = _smoothed_points(values, origins, horizon=horizon, season=season, step=step)
    if not season or horizon > season or "seasonal_mean" not in out:
        return out
    csum = np.concatenate([[0.0], np.cumsum(values)])

    def mean_before(end: np.ndarray, n: int) -> np.ndarray:
        start = np.maximum(end - n, 0)
        return (csum[end] - csum[start]) / np.maximum(end - start, 1)

    hour = max(1, int(pd.Timedelta(hours=1) / step))
    level_now = mean_before(origins, hour)
    steps = np.arange(horizon)
    total = np.zeros((len(origins), horizon))
    count = np.zeros((len(origins), 1))
    for k in (1, 2):
        back = origins - 7 * k * season
        ok = back - hour >= 0
        b = np.where(ok, back, hour)
        dev = values[b[:, None] + steps[None, :]] - mean_before(b, hour)[:, None]
        total += np.where(ok[:, None], dev, 0.0)
        count += ok[:, None]
    if count.max() == 0:
        return out
    weekly = level_now[:, None] + total / np.maximum(count, 1)
    out["weekly_mean"] = np.where(count > 0, weekly, out["seasonal_mean"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, required=True, help="bench/accuracy_lstm.py's saved networks")
    ap.add_argument("mode", choices=["weekly", "plain"])
    ap.add_argument("series", help="comma-separated series names")
    ap.add_argument("--baselines", type=Path, default=ROOT / "bench" / "results" / "accuracy.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.mode == "weekly":
        model_module.smoothed_points = weekly_points
    full = {r["series"]: r for r in json.loads(args.baselines.read_text())["rows"]}
    for name in args.series.split(","):
        row = accuracy_lstm.evaluate(name, models=args.models, baseline_row=full[name], refit=True)
        print(
            f"{args.mode:7s} {name:38s} ratio {row['last_full_run_ratio']:.3f} -> {row['ratio_vs_best_baseline']:.3f}"
            f"  p90 cov {row['last_full_run_coverage']:.3f} -> {row['lstm']['coverage']:.3f}"
            f"  peak miss {full[name]['scores']['lstm']['peak_miss']:.3f} -> {row['lstm']['peak_miss']:.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
