"""Accuracy benchmark (not a test): the LSTM against the baselines on real traffic series.

For every series: train on the first 80%, then one origin every hour over the last 20%, each forecast (all
steps up to 30 minutes) made from data before the origin only. The bar is the per-series best baseline:
last value, seasonal naive (daily; weekly with two weeks), Holt-Winters and MSTL + AutoETS
(bench/yardsticks.py, statsforecast), computed in the same run. Reports per series and overall: WAPE over
all steps, WAPE of the 30-minute point, MASE (daily seasonal-naive scale), p90 coverage, the share of
30-minute windows whose true peak exceeds the forecast peak by more than 10%, training time and the
latency of one forecast on one core.

    python bench/accuracy.py                      # every CSV in ../shared/data/traffic/
    python bench/accuracy.py --csv a.csv b.csv    # any CSVs
    python bench/accuracy.py --only nasa --epochs 5
    python bench/accuracy.py --save-models DIR      # keep the models (bench/accuracy_lstm.py --models DIR)

Writes ``bench/results/accuracy.md`` and ``bench/results/accuracy.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from forecaster.evaluation import backtest, mase_scale, rolling_origins
from forecaster.predictors import baselines_for
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.files import read_series
from forecaster.training import fit_forecaster

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yardsticks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "traffic"
HORIZON = "30m"
LSTM = "lstm"
LSTM_PLAIN = "lstm_plain"


def evaluate(
    path: Path,
    *,
    model: ModelSettings,
    train: TrainSettings,
    with_mstl: bool = True,
    save_models: Path | None = None,
) -> dict:
    series = read_series(path, duplicates="mean")
    step = pd.Timedelta(series.index.freq)
    horizon_steps = int(pd.Timedelta(HORIZON) / step)
    split = int(len(series) * 0.8)
    train_part = series.iloc[:split]
    t0 = time.perf_counter()
    lstm = fit_forecaster(train_part, model=model, train=train, name=LSTM)
    train_s = time.perf_counter() - t0
    if save_models is not None:  # as bench/accuracy_lstm.py keeps them: re-scored or recombined later
        lstm.save(save_models / path.stem)
    t0 = time.perf_counter()
    baselines = baselines_for(train_part, step=step, horizon_steps=horizon_steps, quantiles=model.quantiles)
    baselines_fit_s = time.perf_counter() - t0
    if with_mstl:
        baselines.append(yardsticks.MSTLETS(step=step, horizon_steps=horizon_steps).fit(train_part))
    season = int(pd.Timedelta(days=1) / step)
    need = max(lstm.lookback_steps, max(getattr(b, "min_history", 1) for b in baselines))
    origins = rolling_origins(
        series, start=split, every=pd.Timedelta(hours=1), horizon_steps=horizon_steps, need=need
    )
    # The same network without the validation-fitted blend: what a plain per-series LSTM does.
    plain = copy.copy(lstm)
    plain.name, plain.blend, plain.weighting = LSTM_PLAIN, {"lstm": 1.0}, None
    result = backtest(
        [lstm, plain, *baselines],
        series,
        origins=origins,
        mase_denominator=mase_scale(train_part.to_numpy(), season),
    )
    # Latency of one forecast on one core, from the history a live call would pass: 14 days (or all
    # there is before the test range), through the public predict, skill weighting included.
    history = series.iloc[:split][-int(pd.Timedelta(days=14) / step) :]
    hw = next(b for b in baselines if b.name == "holt_winters")
    hw_history = series.iloc[:split][-2 * hw.min_history :]
    latency_ms, latency_cpu_ms = _latency_ms(lstm, history)
    cold_latency_ms, cold_latency_cpu_ms = _latency_ms(lstm, history, cold=True)
    hw_latency_ms, hw_latency_cpu_ms = _latency_ms(hw, hw_history)
    return {
        "series": path.stem,
        "points": len(series),
        "step": str(step),
        "origins": len(origins),
        "train_s": round(train_s, 1),
        "epochs_run": lstm.info["training"]["epochs_run"],
        "latency_ms": round(latency_ms, 2),
        "cold_latency_ms": round(cold_latency_ms, 2),
        "holt_winters_latency_ms": round(hw_latency_ms, 2),
        "latency_ratio_vs_holt_winters": round(latency_ms / hw_latency_ms, 2),
        "latency_cpu_ms": round(latency_cpu_ms, 2),
        "cold_latency_cpu_ms": round(cold_latency_cpu_ms, 2),
        "holt_winters_latency_cpu_ms": round(hw_latency_cpu_ms, 2),
        "baselines_fit_s": round(baselines_fit_s, 1),
        "train_ratio_vs_baselines_fit": round(train_s / baselines_fit_s, 1),
        "scores": {name: s.to_dict() for name, s in result.scores.items()},
    }


def _latency_ms(predictor, history: pd.Series, reps: int = 50, *, cold: bool = False) -> tuple[float, float]:
    """Median wall and CPU time (ms) of one forecast on the threads set for the run, as the service and the
    prescaler call it: once a step, on a history that grew by one step since the last call (after a warm-up
    call). ``cold``: drop what the model kept from its previous call first (a restart, or a first call).
    The CPU time is the figure to compare on a shared machine: wall time there counts the other jobs' turns."""
    histories = [history.iloc[: len(history) - reps + i] for i in range(reps + 1)]
    predictor.predict(histories[0])
    wall, cpu = [], []
    for h in histories[1:]:
        if cold and hasattr(predictor, "reset"):
            predictor.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        predictor.predict(h)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def summarise(rows: list[dict]) -> tuple[str, dict]:
    models = list(dict.fromkeys(m for r in rows for m in r["scores"]))  # weekly naive only where it fits
    baselines = [m for m in models if m not in (LSTM, LSTM_PLAIN)]
    lines = [
        "| series | "
        + " | ".join(f"{m} WAPE" for m in models)
        + " | ratio to best | LSTM WAPE@30m | LSTM MASE | p90 cov | peak miss p90 | best baseline peak miss (p50) | train s |"
    ]
    lines.append("|" + "---|" * (len(models) + 8))
    wins = plain_wins = 0
    per_best = []
    ratios = []
    accuracy_92 = []
    for r in rows:
        sc = r["scores"]
        best = min(
            (b for b in baselines if b in sc and sc[b]["wape"] is not None), key=lambda b: sc[b]["wape"]
        )
        per_best.append(sc[best]["wape"])
        ratios.append(sc[LSTM]["wape"] / sc[best]["wape"])
        r["ratio_vs_best_baseline"] = round(ratios[-1], 3)
        r["best_baseline"] = best
        if sc[best]["wape"] <= 0.08:
            accuracy_92.append(f"{r['series']}: {sc[LSTM]['wape']:.3f} vs {best} {sc[best]['wape']:.3f}")
        if sc[LSTM]["wape"] < sc[best]["wape"]:
            wins += 1
        if sc[LSTM_PLAIN]["wape"] < sc[best]["wape"]:
            plain_wins += 1
        cells = [f"{sc[m]['wape']:.3f}" if m in sc and sc[m]["wape"] is not None else "-" for m in models]
        lines.append(
            f"| {r['series']} | "
            + " | ".join(cells)
            + f" | **{r['ratio_vs_best_baseline']:.3f}** ({best})"
            + f" | {sc[LSTM]['wape_last']:.3f} | {sc[LSTM]['mase']:.3f} | {sc[LSTM]['coverage']:.2f}"
            + f" | {sc[LSTM]['peak_miss']:.2f} | {sc[best]['peak_miss_p50']:.2f} ({best}) | {r['train_s']} |"
        )
    med = {
        m: statistics.median(
            r["scores"][m]["wape"] for r in rows if m in r["scores"] and r["scores"][m]["wape"] is not None
        )
        for m in models
    }
    best_baseline = min(baselines, key=med.__getitem__)
    summary = {
        "series": len(rows),
        "median_wape": med,
        "best_baseline": best_baseline,
        "lstm_vs_best_baseline_median": med[LSTM] / med[best_baseline] - 1,
        "lstm_wins_vs_best_per_series": f"{wins}/{len(rows)}",
        "median_ratio_vs_best_baseline_per_series": statistics.median(ratios),
        "max_ratio_vs_best_baseline_per_series": max(ratios),
        "series_where_a_baseline_is_within_0.08": "; ".join(accuracy_92) or "none",
        "p90_coverage_range": f"{min(r['scores'][LSTM]['coverage'] for r in rows):.2f}-"
        f"{max(r['scores'][LSTM]['coverage'] for r in rows):.2f}",
        "lstm_plain_vs_best_baseline_median": med[LSTM_PLAIN] / med[best_baseline] - 1,
        "lstm_plain_wins_vs_best_per_series": f"{plain_wins}/{len(rows)}",
        "median_p90_coverage": statistics.median(r["scores"][LSTM]["coverage"] for r in rows),
        "median_peak_miss_p90": statistics.median(r["scores"][LSTM]["peak_miss"] for r in rows),
        "median_train_s": statistics.median(r["train_s"] for r in rows),
        "median_latency_ms": statistics.median(r["latency_ms"] for r in rows),
        "max_latency_ms": max(r["latency_ms"] for r in rows),
        "median_cold_latency_ms": statistics.median(r["cold_latency_ms"] for r in rows),
        "median_latency_cpu_ms": statistics.median(r["latency_cpu_ms"] for r in rows),
        "max_latency_cpu_ms": max(r["latency_cpu_ms"] for r in rows),
        "median_cold_latency_cpu_ms": statistics.median(r["cold_latency_cpu_ms"] for r in rows),
        "median_latency_ratio_vs_holt_winters": statistics.median(
            r["latency_ratio_vs_holt_winters"] for r in rows
        ),
        "median_train_ratio_vs_baselines_fit": statistics.median(
            r["train_ratio_vs_baselines_fit"] for r in rows
        ),
    }
    text = "\n".join(lines)
    text += "\n\n" + "\n".join(
        f"- {k}: {v:.3f}" if isinstance(v, float) else f"- {k}: {v}"
        for k, v in summary.items()
        if k != "median_wape"
    )
    text += "\n- median WAPE: " + ", ".join(f"{m} {v:.3f}" for m, v in med.items())
    return text, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--csv", nargs="*", type=Path, help="CSV files (default: every file in ../shared/data/traffic)"
    )
    ap.add_argument("--only", help="substring filter on file names")
    ap.add_argument("--epochs", type=int, default=TrainSettings().epochs)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (training and the latency measurement)"
    )
    ap.add_argument("--peak-weight", type=float, default=TrainSettings().peak_weight)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument(
        "--save-models",
        type=Path,
        help="keep each trained model in DIR/<series> (the layout bench/accuracy_lstm.py --models reads)",
    )
    ap.add_argument(
        "--without-mstl",
        action="store_true",
        help="skip the MSTL + AutoETS yardstick (it needs statsforecast, see bench/yardsticks.py)",
    )
    args = ap.parse_args(argv)
    if not args.without_mstl and not yardsticks.available():
        print(
            "the MSTL + AutoETS yardstick needs statsforecast: "
            "pip install 'statsforecast==2.1.*' && pip install -U 'pandas>=3' (or pass --without-mstl)",
            file=sys.stderr,
        )
        return 2
    torch.set_num_threads(args.threads)
    files = args.csv or sorted(DEFAULT_DATA.glob("*.csv"))
    if args.only:
        files = [f for f in files if args.only in f.name]
    if not files:
        print("no series found: pass --csv FILE or provide ../shared/data/traffic", file=sys.stderr)
        return 2
    model = ModelSettings()
    train = TrainSettings(epochs=args.epochs, peak_weight=args.peak_weight, threads=args.threads)
    rows = []
    for f in files:
        row = evaluate(
            f, model=model, train=train, with_mstl=not args.without_mstl, save_models=args.save_models
        )
        sc = row["scores"]
        print(
            f"{row['series']:45s} "
            + " ".join(f"{m}={s['wape']:.3f}" for m, s in sc.items() if s["wape"] is not None)
            + f" cov={sc[LSTM]['coverage']:.2f} miss={sc[LSTM]['peak_miss']:.2f} train={row['train_s']}s",
            flush=True,
        )
        rows.append(row)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "accuracy.partial.json").write_text(json.dumps(rows, indent=1, default=float))
    text, summary = summarise(rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy.json").write_text(
        json.dumps({"summary": summary, "rows": rows}, indent=2, default=float)
    )
    (args.out / "accuracy.partial.json").unlink(missing_ok=True)
    (args.out / "accuracy.md").write_text(
        "# Accuracy benchmark\n\n`python bench/accuracy.py`\n\n" + text + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
