"""The LSTM half of bench/accuracy.py, for when a full run does not fit the machine (not a test).

Same protocol as ``bench/accuracy.py`` (train on the first 80%, an origin every hour over the last 20%,
every step up to 30 minutes), but only the LSTM is trained and scored: the baselines' scores, which do not
depend on the model code, are read from the last full run in ``bench/results/accuracy.json``. Trained models
are kept in ``--models`` (one directory per series) and reused when present, so a series is trained once.

    python bench/accuracy_lstm.py --models /tmp/acc-models              # every series of the last full run
    python bench/accuracy_lstm.py --models /tmp/acc-models --only ec2_
    python bench/accuracy_lstm.py --models /tmp/acc-models --recombine   # saved networks, current combination

``--recombine`` refits what training fits after the network (the static blend, the skill weighting and its
guard, the band's calibration: ``training.fit_blend`` and ``training.calibrate`` on the same validation
origins) with the code of this checkout, so a change of the combination is measured on the saved networks
without retraining them.

Writes ``bench/results/accuracy-lstm.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecaster.evaluation import mase_scale, rolling_origins, score
from forecaster.model import Forecaster
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.files import read_series
from forecaster.training import calibrate, fit_blend, fit_forecaster
from forecaster.windows import valid_origins

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "traffic"


def recombine(model: Forecaster, train_part: pd.Series, *, validation_fraction: float) -> None:
    """Refit the combination and the band on the validation origins training used (network unchanged)."""
    values = train_part.to_numpy(dtype=float)
    index = pd.DatetimeIndex(train_part.index).as_unit("ns")
    origins = valid_origins(values, model.spec, with_target=True)
    val = origins[origins >= int(len(values) * (1 - validation_fraction))]
    model.blend, model.weighting, _ = fit_blend(model, values, index, val, guard=True)
    model.reset()
    if model.weighting is not None:
        calibrate(model, values, index, val)
    model.reset()


def evaluate(name: str, *, models: Path, baseline_row: dict, refit: bool = False) -> dict:
    series = read_series(DATA / f"{name}.csv", duplicates="mean")
    split = int(len(series) * 0.8)
    t0 = time.process_time()
    if not (models / name / "manifest.json").exists():
        fit_forecaster(series.iloc[:split], model=ModelSettings(), train=TrainSettings(), name="lstm").save(
            models / name
        )
    model = Forecaster.load(models / name)
    if refit:
        recombine(model, series.iloc[:split], validation_fraction=TrainSettings().validation_fraction)
    train_cpu_s = time.process_time() - t0
    H = model.horizon_steps
    origins = np.array(
        rolling_origins(
            series, start=split, every=pd.Timedelta(hours=1), horizon_steps=H, need=model.lookback_steps
        )
    )
    forecasts = np.stack([f.to_numpy() for f in model.predict_many(series, origins=origins)])  # [N, H, Q]
    values = series.to_numpy(dtype=float)
    actual = np.stack([values[t : t + H] for t in origins])  # [N, H]
    season = int(pd.Timedelta(days=1) / model.step)
    sc = score(
        actual, forecasts, quantiles=model.quantiles, mase_denominator=mase_scale(values[:split], season)
    )
    best = baseline_row["best_baseline"]
    best_wape = baseline_row["scores"][best]["wape"]
    return {
        "series": name,
        "lstm": sc.to_dict(),
        "best_baseline": best,
        "best_baseline_wape": best_wape,
        "ratio_vs_best_baseline": sc.wape / best_wape,
        "last_full_run_ratio": baseline_row["ratio_vs_best_baseline"],
        "last_full_run_coverage": baseline_row["scores"]["lstm"]["coverage"],
        "value_transform": model.value_transform,
        "seasonal_weighting": bool(model.weighting is not None and model.weighting.seasonal),
        "guard_window": model.weighting.guard_window if model.weighting is not None else 0,
        "recombined": refit,
        "train_cpu_s": round(train_cpu_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, required=True, help="directory of trained models (kept, reused)")
    ap.add_argument("--only", help="substring filter on series names")
    ap.add_argument(
        "--recombine", action="store_true", help="refit the combination and band of saved networks first"
    )
    ap.add_argument("--baselines", type=Path, default=ROOT / "bench" / "results" / "accuracy.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    full = {r["series"]: r for r in json.loads(args.baselines.read_text())["rows"]}
    names = [n for n in full if not args.only or args.only in n]
    rows = []
    for name in names:
        row = evaluate(name, models=args.models, baseline_row=full[name], refit=args.recombine)
        print(
            f"{name:40s} ratio {row['last_full_run_ratio']:.3f} -> {row['ratio_vs_best_baseline']:.3f}"
            f"  p90 cov {row['last_full_run_coverage']:.2f} -> {row['lstm']['coverage']:.2f}"
            f"  {row['value_transform']}",
            flush=True,
        )
        rows.append(row)
    ratios = [r["ratio_vs_best_baseline"] for r in rows]
    cover = [r["lstm"]["coverage"] for r in rows]
    summary = {
        "series": len(rows),
        "median_ratio_vs_best_baseline": statistics.median(ratios),
        "max_ratio_vs_best_baseline": max(ratios),
        "wins": f"{sum(r < 1 for r in ratios)}/{len(rows)}",
        "p90_coverage_median": statistics.median(cover),
        "p90_coverage_range": f"{min(cover):.2f}-{max(cover):.2f}",
        "median_peak_miss_p90": statistics.median(r["lstm"]["peak_miss"] for r in rows),
    }
    lines = [
        "| series | LSTM WAPE | best baseline | ratio (last full run) | ratio now | p90 cov (last) | p90 cov now"
        " | peak miss now | unit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['series']} | {r['lstm']['wape']:.3f} | {r['best_baseline']} {r['best_baseline_wape']:.3f}"
            f" | {r['last_full_run_ratio']:.3f} | **{r['ratio_vs_best_baseline']:.3f}**"
            f" | {r['last_full_run_coverage']:.2f} | {r['lstm']['coverage']:.2f} | {r['lstm']['peak_miss']:.2f}"
            f" | {r['value_transform']} |"
        )
    text = "\n".join(lines) + "\n\n" + "\n".join(f"- {k}: {v}" for k, v in summary.items())
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy-lstm.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    (args.out / "accuracy-lstm.md").write_text(
        "# Accuracy, the LSTM re-scored against the last full run's baselines\n\n"
        f"`python bench/accuracy_lstm.py --models DIR{' --only ' + args.only if args.only else ''}"
        f"{' --recombine' if args.recombine else ''}`\n\n" + text + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
