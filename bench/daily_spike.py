"""Daily-spike benchmark (not a test): is a spike that recurs at the same minute every day pre-scaled in time?

The synthetic service has a daily cycle, a one-hour 3x spike at 20:00 every day, a level drifting a few
percent a day and 3% noise, at 1-minute steps. The LSTM trains on the first 13 days; on each later day the
forecast made 25 minutes before the spike is compared with the spike minutes inside its 30-minute horizon:
how often its p90 covers the load (issue 10's target: >= 80% of the minutes), and its p50 against the load,
beside yesterday's value at the same minute (the seasonal-naive yardstick).

    python bench/daily_spike.py [--days 15] [--epochs 10]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
import torch

from forecaster.settings import TrainSettings
from forecaster.training import fit_forecaster


def daily_spike_series(days: int, *, seed: int = 0) -> pd.Series:
    idx = pd.date_range("2026-01-01", periods=days * 1440, freq="1min")
    rng = np.random.default_rng(seed)
    minute = idx.hour * 60 + idx.minute
    base = 100 * (1 + 0.3 * np.sin(2 * np.pi * (minute - 360) / 1440))
    drift = np.exp(np.cumsum(rng.normal(0.02 / 1440, 0.03 / np.sqrt(1440), len(idx))))
    spike = np.where((minute >= 20 * 60) & (minute < 21 * 60), 3.0, 1.0)
    return pd.Series(base * drift * spike * (1 + rng.normal(0, 0.03, len(idx))), index=idx)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=15)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    series = daily_spike_series(args.days)
    train_days = args.days - 2
    t0 = time.perf_counter()
    model = fit_forecaster(
        series.iloc[: train_days * 1440], train=TrainSettings(epochs=args.epochs), name="spike"
    )
    print(f"trained in {time.perf_counter() - t0:.0f} s", flush=True)
    covered, p50_ratio, yesterday_ratio = [], [], []
    for day in range(train_days, args.days):
        origin = day * 1440 + 20 * 60 - 25
        forecast = model.predict(series.iloc[:origin])
        actual = series.iloc[origin : origin + model.horizon_steps]
        spike = actual.index.hour == 20
        covered += list((forecast["p90"].to_numpy() >= actual.to_numpy())[spike])
        p50_ratio += list((forecast["p50"].to_numpy() / actual.to_numpy())[spike])
        yesterday = series.iloc[origin - 1440 : origin - 1440 + model.horizon_steps].to_numpy()
        yesterday_ratio += list((yesterday / actual.to_numpy())[spike])
    print(
        f"p90 covers {sum(covered)} of {len(covered)} spike minutes ({np.mean(covered):.0%}; target 80%); "
        f"p50 / load {np.mean(p50_ratio):.2f}; yesterday / load {np.mean(yesterday_ratio):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
