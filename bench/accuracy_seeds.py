"""How much the seed moves the LSTM, and what a seed ensemble does about it (not a test).

Same protocol as ``bench/accuracy.py`` (train on the first 80%, an origin every hour over the last 20%, every
step up to 30 minutes), LSTM only, against the baselines of the last full run (``bench/results/accuracy.json``,
as ``bench/accuracy_lstm.py``). Per series: K single networks trained with seeds 0..K-1 (what
``fit_forecaster`` trains alone with ``TrainSettings(seed=k)``), each scored, then the ensembles of the first
2..K of them (:class:`forecaster.nn.EnsembleLSTM`) with the combination and band refitted on the same
validation origins (``bench/accuracy_lstm.recombine``). Member k of an ensemble trained by
``fit_forecaster`` is the network seed k trains alone, so the ensemble of the first two is what training
gives today where the budget allows two members (``training._ENSEMBLE_BUDGET``). Trained networks are kept in
``--models`` and reused.

    python bench/accuracy_seeds.py --models /tmp/seeds --only Twitter_volume_IBM,ec2_cpu_utilization_c6585a

Writes ``bench/results/accuracy-seeds.md`` and ``.json``.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy_lstm  # noqa: E402

from forecaster import training  # noqa: E402
from forecaster.evaluation import mase_scale, rolling_origins, score  # noqa: E402
from forecaster.model import Forecaster  # noqa: E402
from forecaster.nn import EnsembleLSTM  # noqa: E402
from forecaster.settings import ModelSettings, TrainSettings  # noqa: E402
from forecaster.sources.files import read_series  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _score(model: Forecaster, series: pd.Series, split: int):
    H = model.horizon_steps
    origins = np.array(
        rolling_origins(
            series, start=split, every=pd.Timedelta(hours=1), horizon_steps=H, need=model.lookback_steps
        )
    )
    forecasts = np.stack([f.to_numpy() for f in model.predict_many(series, origins=origins)])
    values = series.to_numpy(dtype=float)
    actual = np.stack([values[t : t + H] for t in origins])
    season = int(pd.Timedelta(days=1) / model.step)
    return score(
        actual, forecasts, quantiles=model.quantiles, mase_denominator=mase_scale(values[:split], season)
    )


def evaluate(name: str, *, models: Path, k: int, baseline_row: dict, band: str = "widest") -> dict:
    series = read_series(accuracy_lstm.DATA / f"{name}.csv", duplicates="mean")
    split = int(len(series) * 0.8)
    best = baseline_row["best_baseline"]
    best_wape = baseline_row["scores"][best]["wape"]
    singles, train_cpu_s = [], []
    for seed in range(k):
        path = models / name / f"s{seed}"
        t0 = time.process_time()
        if not (path / "manifest.json").exists():
            training.fit_forecaster(
                series.iloc[:split], model=ModelSettings(), train=TrainSettings(seed=seed), name="lstm"
            ).save(path)
        train_cpu_s.append(round(time.process_time() - t0, 1))
        singles.append(Forecaster.load(path))
    single_scores = [_score(m, series, split) for m in singles]
    row = {
        "series": name,
        "best_baseline": best,
        "best_baseline_wape": best_wape,
        "single": [sc.wape / best_wape for sc in single_scores],
        "single_coverage": [sc.coverage for sc in single_scores],
        "single_peak_miss": [sc.peak_miss for sc in single_scores],
        "train_cpu_s": train_cpu_s,
        "band": band,
        "ensemble": {},
    }
    for n in range(2, k + 1):
        model = Forecaster.load(models / name / "s0")
        model.network = EnsembleLSTM(
            [m.network for m in singles[:n]], band=band, median=model.quantiles.index(0.5)
        ).eval()
        accuracy_lstm.recombine(
            model, series.iloc[:split], validation_fraction=TrainSettings().validation_fraction
        )
        sc = _score(model, series, split)
        row["ensemble"][n] = {
            "ratio": sc.wape / best_wape,
            "coverage": sc.coverage,
            "peak_miss": sc.peak_miss,
        }
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, required=True, help="directory of trained networks (kept, reused)")
    ap.add_argument(
        "--only", help="comma-separated series names (default: every series of the last full run)"
    )
    ap.add_argument("--k", type=int, default=3, help="seeds per series")
    ap.add_argument(
        "--band",
        choices=["widest", "mean"],
        default="widest",
        help="how the members' quantiles combine (forecaster.nn.EnsembleLSTM; training saves widest)",
    )
    ap.add_argument("--baselines", type=Path, default=ROOT / "bench" / "results" / "accuracy.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    full = {r["series"]: r for r in json.loads(args.baselines.read_text())["rows"]}
    names = args.only.split(",") if args.only else list(full)
    rows = []
    for name in names:
        row = evaluate(name, models=args.models, k=args.k, baseline_row=full[name], band=args.band)
        print(
            f"{name:36s} seeds {' '.join(f'{r:.3f}' for r in row['single'])} "
            f"(peak miss {' '.join(f'{r:.3f}' for r in row['single_peak_miss'])}) | "
            + " ".join(
                f"K{n} {e['ratio']:.3f} cov {e['coverage']:.2f} peak miss {e['peak_miss']:.3f}"
                for n, e in row["ensemble"].items()
            ),
            flush=True,
        )
        rows.append(row)
    lines = [
        "| series | best baseline | "
        + " | ".join(f"seed {s}" for s in range(args.k))
        + " | mean of seeds | "
        + " | ".join(f"ensemble of {n} (p90 cov, peak miss)" for n in range(2, args.k + 1))
        + " | seed 0 (p90 cov, peak miss) |",
        "|---|---|" + "---|" * (args.k + 1 + args.k - 1 + 1),
    ]
    for r in rows:
        lines.append(
            f"| {r['series']} | {r['best_baseline']} {r['best_baseline_wape']:.3f} | "
            + " | ".join(f"{v:.3f}" for v in r["single"])
            + f" | {statistics.mean(r['single']):.3f} | "
            + " | ".join(
                f"**{e['ratio']:.3f}** ({e['coverage']:.2f}, {e['peak_miss']:.3f})"
                for e in r["ensemble"].values()
            )
            + f" | ({r['single_coverage'][0]:.2f}, {r['single_peak_miss'][0]:.3f}) |"
        )
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy-seeds.json").write_text(json.dumps(rows, indent=2, default=float))
    (args.out / "accuracy-seeds.md").write_text(
        "# The seed and the seed ensemble: LSTM WAPE over the per-series best baseline\n\n"
        f"`python bench/accuracy_seeds.py --models DIR --k {args.k} --band {args.band}"
        f"{' --only ' + args.only if args.only else ''}`\n\n" + text + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
