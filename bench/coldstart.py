"""Cold-start benchmark (not a test): three days of history, fine-tuned pretrained network vs the baselines.

For every series: a few cold-start origins ``T`` spread over the last 20%. At each, the model is trained
(``forecaster.training.fit_forecaster`` with the default settings, which fine-tunes the pretrained network
for a history this short) on ONLY the 3 days before ``T``; the baselines -- last value, daily seasonal naive,
Holt-Winters and MSTL + AutoETS (bench/yardsticks.py, when statsforecast is installed) -- are fitted on the
same 3 days. Then every model forecasts, every 30 minutes for the next hours, every step up to 30 minutes,
each forecast from the data before its origin only (the 3 days plus what has been observed since ``T``; no
model is refitted). WAPE is pooled per series over all of its cold-start origins; the bar is the per-series
best baseline. ``--scratch`` also trains a network from scratch on the same 3 days (pretraining off), to show
what the pretrained start is worth.

    python bench/coldstart.py                       # every CSV in ../shared/data/traffic/
    python bench/coldstart.py --only ec2 --origins 2
    python bench/coldstart.py --csv a.csv b.csv --scratch

Writes ``bench/results/coldstart.md`` and ``bench/results/coldstart.json``.
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

from forecaster.evaluation import forecast_origins, score
from forecaster.predictors import baselines_for
from forecaster.series import parse_duration
from forecaster.settings import TrainSettings
from forecaster.sources.files import read_series
from forecaster.training import fit_forecaster

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yardsticks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "traffic"
HORIZON = pd.Timedelta(minutes=30)
LSTM = "lstm"
SCRATCH = "lstm_scratch"


def evaluate(
    path: Path,
    *,
    history: pd.Timedelta,
    n_origins: int,
    after: pd.Timedelta,
    every: pd.Timedelta,
    train: TrainSettings,
    with_mstl: bool,
    scratch: bool,
) -> dict:
    series = read_series(path, duplicates="mean")
    step = pd.Timedelta(series.index.freq)
    H = int(HORIZON / step)
    n_hist, n_after, stride = int(history / step), int(after / step), max(1, int(every / step))
    split = max(int(len(series) * 0.8), n_hist)
    last_cold = len(series) - n_after - H
    if last_cold < split:
        raise SystemExit(f"{path.name}: too short for {history} of history and {after} of forecasts")
    cold = np.unique(np.linspace(split, last_cold, n_origins).astype(np.int64))
    actual_all: list[np.ndarray] = []
    fc_all: dict[str, list[np.ndarray]] = {}
    fit_s, answered, scratch_s = [], set(), []
    for T in cold:
        past = series.iloc[T - n_hist : T]
        window = series.iloc[T - n_hist : T + n_after + H]  # what the forecasts see and are scored on
        origins = n_hist + np.arange(0, n_after, stride, dtype=np.int64)
        t0 = time.perf_counter()
        model = fit_forecaster(past, train=train, name=LSTM)
        fit_s.append(time.perf_counter() - t0)
        predictors = [model]
        if scratch:
            t0 = time.perf_counter()
            plain = fit_forecaster(past, train=_off(train), name=SCRATCH)
            scratch_s.append(time.perf_counter() - t0)
            predictors.append(plain)
        predictors += baselines_for(past, step=step, horizon_steps=H, quantiles=model.quantiles)
        if with_mstl:
            predictors.append(yardsticks.MSTLETS(step=step, horizon_steps=H).fit(past))
        values = window.to_numpy(dtype=float)
        actual_all.append(np.stack([values[t : t + H] for t in origins]))
        for p in predictors:
            fc_all.setdefault(p.name, []).append(forecast_origins(p, window, origins))
        answered.add(model.predict(window.iloc[: origins[0]]).attrs["answered_by"])
    actual = np.concatenate(actual_all)
    scores = {
        name: score(actual, np.concatenate(fcs), quantiles=model.quantiles).to_dict()
        for name, fcs in fc_all.items()
    }
    return {
        "series": path.stem,
        "step": str(step),
        "cold_origins": len(cold),
        "forecasts": int(len(actual)),
        "fit_s_median": round(statistics.median(fit_s), 1),
        "scratch_fit_s_median": round(statistics.median(scratch_s), 1) if scratch_s else None,
        "answered_by": sorted(answered),
        "cold_start": model.info["training"]["cold_start"]["reason"],
        "scores": scores,
    }


def _off(train: TrainSettings) -> TrainSettings:
    import dataclasses

    return dataclasses.replace(train, pretrained="off")


def summarise(rows: list[dict], *, args_line: str) -> tuple[str, dict]:
    models = list(dict.fromkeys(m for r in rows for m in r["scores"]))
    nets = [m for m in (LSTM, SCRATCH) if m in models]
    baselines = [m for m in models if m not in nets]
    lines = [
        "| series | "
        + " | ".join(f"{m} WAPE" for m in models)
        + " | best baseline | ratio to best | "
        + ("scratch ratio | " if SCRATCH in nets else "")
        + "p90 cov | fit s | answered by |",
        "|" + "---|" * (len(models) + 5 + (SCRATCH in nets)),
    ]
    ratios, scratch_ratios, wins = [], [], 0
    for r in rows:
        sc = r["scores"]
        ok = [b for b in baselines if b in sc and sc[b]["wape"] is not None]
        best = min(ok, key=lambda b: sc[b]["wape"])
        ratio = sc[LSTM]["wape"] / sc[best]["wape"]
        r["best_baseline"], r["ratio_vs_best_baseline"] = best, round(ratio, 3)
        ratios.append(ratio)
        wins += ratio < 1
        cells = [f"{sc[m]['wape']:.3f}" if m in sc and sc[m]["wape"] is not None else "-" for m in models]
        extra = ""
        if SCRATCH in nets:
            sr = sc[SCRATCH]["wape"] / sc[best]["wape"]
            scratch_ratios.append(sr)
            r["scratch_ratio_vs_best_baseline"] = round(sr, 3)
            extra = f" {sr:.3f} |"
        lines.append(
            f"| {r['series']} | "
            + " | ".join(cells)
            + f" | {best} | **{ratio:.3f}** |{extra} {sc[LSTM]['coverage']:.2f} | {r['fit_s_median']} |"
            + f" {', '.join(r['answered_by'])} |"
        )
    summary = {
        "series": len(rows),
        "median_ratio_vs_best_baseline": statistics.median(ratios),
        "target_median_ratio": 0.95,
        "wins_vs_best_baseline": f"{wins}/{len(rows)}",
        "max_ratio_vs_best_baseline": max(ratios),
        "median_p90_coverage": statistics.median(r["scores"][LSTM]["coverage"] for r in rows),
        "median_fit_s": statistics.median(r["fit_s_median"] for r in rows),
        "median_wape": {
            m: statistics.median(
                r["scores"][m]["wape"]
                for r in rows
                if m in r["scores"] and r["scores"][m]["wape"] is not None
            )
            for m in models
        },
    }
    if scratch_ratios:
        summary["scratch_median_ratio_vs_best_baseline"] = statistics.median(scratch_ratios)
        summary["scratch_median_fit_s"] = statistics.median(r["scratch_fit_s_median"] for r in rows)
    text = (
        "\n".join(lines)
        + "\n\n"
        + "\n".join(
            f"- {k}: {v:.3f}" if isinstance(v, float) else f"- {k}: {v}"
            for k, v in summary.items()
            if k != "median_wape"
        )
    )
    text += "\n- median WAPE: " + ", ".join(f"{m} {v:.3f}" for m, v in summary["median_wape"].items())
    return text, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--csv", nargs="*", type=Path, help="CSV files (default: every file in ../shared/data/traffic)"
    )
    ap.add_argument("--only", help="substring filter on file names")
    ap.add_argument("--history", default="3d", help="history before each cold-start origin (default 3d)")
    ap.add_argument("--origins", type=int, default=4, help="cold-start origins per series (in the last 20%%)")
    ap.add_argument("--after", default="6h", help="how long after each cold-start origin forecasts are made")
    ap.add_argument("--every", default="30m", help="distance between forecasts after a cold-start origin")
    ap.add_argument("--epochs", type=int, default=TrainSettings().epochs)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scratch", action="store_true", help="also train from scratch on the same history")
    ap.add_argument("--without-mstl", action="store_true", help="skip MSTL + AutoETS (needs statsforecast)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)
    with_mstl = not args.without_mstl
    if with_mstl and not yardsticks.available():
        print("statsforecast is not installed: running without MSTL + AutoETS", file=sys.stderr)
        with_mstl = False
    torch.set_num_threads(args.threads)
    files = args.csv or sorted(DEFAULT_DATA.glob("*.csv"))
    if args.only:
        files = [f for f in files if args.only in f.name]
    if not files:
        print("no series found: pass --csv FILE or provide ../shared/data/traffic", file=sys.stderr)
        return 2
    train = TrainSettings(epochs=args.epochs, threads=args.threads)
    rows = []
    for f in files:
        row = evaluate(
            f,
            history=parse_duration(args.history),
            n_origins=args.origins,
            after=parse_duration(args.after),
            every=parse_duration(args.every),
            train=train,
            with_mstl=with_mstl,
            scratch=args.scratch,
        )
        print(
            f"{row['series']:42s} "
            + " ".join(f"{m}={s['wape']:.3f}" for m, s in row["scores"].items() if s["wape"] is not None)
            + f" fit={row['fit_s_median']}s {row['answered_by']}",
            flush=True,
        )
        rows.append(row)
        # Written after every series: a run stopped early still reports the series it finished.
        _write(rows, args=args, argv=argv, done=len(rows) == len(files), total=len(files))
    return 0


def _write(
    rows: list[dict], *, args: argparse.Namespace, argv: list[str] | None, done: bool, total: int
) -> None:
    args_line = "python bench/coldstart.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text, summary = summarise(rows, args_line=args_line)
    if done:
        print(text)
    else:
        text = f"**Partial: {len(rows)} of {total} series done.**\n\n" + text
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "coldstart.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    (args.out / "coldstart.md").write_text(
        "# Cold-start benchmark\n\n"
        f"`{args_line.strip()}`\n\n"
        f"{len(rows)} series; at {args.origins} cold-start origins per series in the last 20%, every model is "
        f"trained or fitted on only the {args.history} before the origin, then forecasts every {args.every} for "
        f"the next {args.after}, every step up to 30 minutes. WAPE pooled per series; ratio = LSTM WAPE / the "
        "per-series best baseline's (given the same history). Target (issue 10): median ratio <= 0.95.\n\n"
        + text
        + "\n"
    )


if __name__ == "__main__":
    sys.exit(main())
