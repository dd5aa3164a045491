"""A/B of the recurring-excursion judging on a saved 1-minute model (a benchmark, not a test).

CPU milliseconds per warm ``Forecaster.predict`` call with 14 days of history, the model as saved and the same
model with the judging switched off (``peak_days=0``), in one process, one torch thread:

    python bench/predict_peaks_ab.py --model DIR --csv ../shared/data/traffic/nasa_http_requests_jul95.csv

``DIR`` is a model directory, e.g. one kept by ``python bench/accuracy.py --only nasa --save-models DIRS``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd
import torch

from forecaster.model import Forecaster


def warm_cpu_ms(model: Forecaster, series: pd.Series, *, days: float, calls: int) -> float:
    """Median CPU milliseconds of ``calls`` predict calls (after two warm-up calls), each on the last ``days``
    of history ending 10 steps later than the one before."""
    n = int(days * 1440)
    times = []
    for k in range(calls + 2):
        end = len(series) - 10 * (calls + 2) + 10 * k
        history = series.iloc[end - n : end]
        start = time.process_time()
        model.predict(history)
        times.append(time.process_time() - start)
    return 1000.0 * float(np.median(times[2:]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a saved model directory")
    parser.add_argument("--csv", required=True, help="timestamp,value at the model's step")
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    frame = pd.read_csv(args.csv)
    series = pd.Series(frame["value"].to_numpy(float), index=pd.to_datetime(frame["timestamp"]))
    model = Forecaster.load(args.model)
    print(model.weighting)
    print(
        f"as saved: {warm_cpu_ms(model, series, days=args.days, calls=args.calls):.1f} CPU ms per warm call"
    )
    model.weighting = dataclasses.replace(model.weighting, peak_days=0)
    off = warm_cpu_ms(model, series, days=args.days, calls=args.calls)
    print(f"peak_days=0: {off:.1f} CPU ms per warm call")


if __name__ == "__main__":
    main()
