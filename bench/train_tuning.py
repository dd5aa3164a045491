"""What tuning adds to the training job: the time of the prescaler tuning on the held-out backtest range, and
what it recommends, for one real trace.

Does what :func:`forecaster.promotion.train_target` does for a target with a ``tuning`` section: fit the model
on everything before the held-out range (``--backtest``, 3d as in the committed target), then
:func:`forecaster.recommendation.tune_document` on that range with the default grid. Training is shortened
(``--epochs``): the tuning's cost does not depend on how well the model is trained. Times are reported as
CPU seconds of this one-threaded process (and wall seconds, which on a shared machine say more about the
neighbours).

    nice -n 10 python bench/train_tuning.py --csv shared/data/traffic/nasa_http_requests_jul95.csv
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from forecaster.recommendation import tune_document
from forecaster.series import parse_duration
from forecaster.settings import ModelSettings, TrainSettings, TuningSettings
from forecaster.sources.files import read_series
from forecaster.training import fit_forecaster


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", required=True)
    p.add_argument("--backtest", default="3d", help="held-out range tuned on (the target's train.backtest)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--slo", default="short-minutes=0.5%")
    p.add_argument("--pods", type=float, default=10.0, help="capacity per replica = the load's p95 / this")
    p.add_argument("--json", help="write the stored document here")
    args = p.parse_args()
    torch.set_num_threads(1)

    series = read_series(args.csv)
    step = pd.Timedelta(series.index.freq)
    split = len(series) - int(parse_duration(args.backtest) / step)
    capacity = float(series.quantile(0.95)) / args.pods
    started, cpu = time.perf_counter(), time.process_time()
    model = fit_forecaster(
        series.iloc[:split],
        model=ModelSettings(),
        train=TrainSettings(epochs=args.epochs),
        name=Path(args.csv).stem,
    )
    trained_s, trained_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    settings = TuningSettings(slo=args.slo, capacity_per_replica=round(capacity, 3), pod_startup="3m")
    started, cpu = time.perf_counter(), time.process_time()
    doc = tune_document(
        model, series, settings=settings, tune_start=series.index[split], now=series.index[-1]
    )
    tuned_s, tuned_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    result = doc["result"]
    rec, alone = result["recommended"], result["hpa_alone"]
    print(
        f"trace: {args.csv} ({len(series)} points, step {step}); held out {args.backtest} from {series.index[split]}"
    )
    print(f"capacity per replica {capacity:.3f} (p95 / {args.pods:g}); SLO {doc['inputs']['slo']}")
    print(
        f"training ({args.epochs} epochs): {trained_cpu_s:.1f}s CPU ({trained_s:.1f}s wall); tuning "
        f"({len(result['frontier'])} settings, {result['tuned_on']['minutes']} minutes): {tuned_cpu_s:.1f}s CPU "
        f"({tuned_s:.1f}s wall), one thread"
    )
    for name, choice in (("recommended", rec), ("cheapest HPA alone", alone)):
        if choice is None:
            print(f"{name}: none meets the SLO")
            continue
        e = choice["expected"]
        print(
            f"{name}: {choice['label']}: short-minute rate {e['short_minute_rate']:.4f} (bound "
            f"{e['slo_rate_upper']:.4f}), replica-minutes {e['replica_minutes']:.0f}, vs oracle "
            f"{e['cost_vs_oracle']:+.1%}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
