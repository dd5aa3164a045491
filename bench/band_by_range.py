"""The p90 band of one saved model on two parts of its test range (not a test): coverage and width.

Same protocol as ``bench/accuracy_lstm.py`` (an origin every hour over the last 20%, every step to 30
minutes), on a model it saved; the origins are split at ``--split`` (a timestamp: the forecasts made
before it, and those made from it on). For each part: how often the p90 covers the truth and the band's
median width relative to the p50, beside the truth's median distance from the p50 (its 90th percentile):
a band much wider than the errors covers every minute (session 13: ``ec2_cpu_utilization_ac20cd`` pinned at
99% from 2014-04-15 00:50, a band of 13% of the level over errors of 0.7%).

    python bench/band_by_range.py --models DIR --series ec2_cpu_utilization_ac20cd --split "2014-04-15 00:50"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecaster.evaluation import rolling_origins
from forecaster.model import Forecaster
from forecaster.sources.files import read_series

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "traffic"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, required=True, help="directory of saved models, one per series")
    ap.add_argument("--series", required=True, help="series name (a file in the dev data, without .csv)")
    ap.add_argument("--split", required=True, help="timestamp splitting the test origins in two")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    series = read_series(DATA / f"{args.series}.csv", duplicates="mean")
    model = Forecaster.load(args.models / args.series)
    H = model.horizon_steps
    split = int(len(series) * 0.8)
    origins = np.array(
        rolling_origins(
            series, start=split, every=pd.Timedelta(hours=1), horizon_steps=H, need=model.lookback_steps
        )
    )
    values = series.to_numpy(dtype=float)
    actual = np.stack([values[t : t + H] for t in origins])  # [N, H]
    frames = model.predict_many(series, origins=origins)
    p50 = np.stack([f["p50"].to_numpy() for f in frames])
    p90 = np.stack([f["p90"].to_numpy() for f in frames])
    later = series.index[origins] >= pd.Timestamp(args.split)
    print(f"{args.series}: {len(origins)} origins, p90 coverage {np.mean(actual <= p90):.3f}")
    print("| part | origins | p90 coverage | (p90 - p50) / p50, median | abs(y - p50) / p50, p90 |")
    print("|---|---:|---:|---:|---:|")
    for name, part in (("before the split", ~later), ("from the split on", later)):
        if not part.any():
            continue
        rel = (p90[part] - p50[part]) / np.abs(p50[part])
        err = np.abs(actual[part] - p50[part]) / np.abs(p50[part])
        print(
            f"| {name} | {part.sum()} | {np.mean(actual[part] <= p90[part]):.3f} | {np.median(rel):.4f}"
            f" | {np.quantile(err, 0.9):.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
