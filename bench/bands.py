"""Band benchmark (not a test): the p90 calibrated at prediction time against the validation-fitted scale.

Same protocol as ``bench/accuracy.py`` (train on the first 80%, an origin every hour over the last 20%, every
step to 30 minutes), on the LSTM only: the trained network is the same either way, so each series is trained
once and kept in ``bench/.cache/band-models/`` (safetensors + JSON, as ``Forecaster.save`` writes them); the
calibration is refitted on the validation split with the code under test at every run. For each series:
coverage of the p90, the share of 30-minute windows whose true peak exceeds the p90's peak by > 10%, and
the band's width (p90 - p50) relative to the p50 (median) and relative to the load (sum over all steps),
for the calibrated band ("conformal") and for the validation scale alone ("validation").

    python bench/bands.py                       # every CSV in ../shared/data/traffic/
    python bench/bands.py --only ec2_cpu asg    # a subset

Writes ``bench/results/bands.md``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecaster.evaluation import forecast_origins, rolling_origins, score
from forecaster.model import Forecaster
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.files import read_series
from forecaster.training import calibrate, fit_forecaster
from forecaster.windows import valid_origins

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "traffic"
MODELS = ROOT / "bench" / ".cache" / "band-models"


def trained(path: Path, series: pd.Series, split: int) -> Forecaster:
    """The series' network, trained as bench/accuracy.py trains it (once), with the calibration refitted."""
    where = MODELS / path.stem
    if not where.exists():
        t0 = time.perf_counter()
        fit_forecaster(
            series.iloc[:split], model=ModelSettings(), train=TrainSettings(threads=1), name="lstm"
        ).save(where)
        print(f"{path.stem}: trained in {time.perf_counter() - t0:.0f} s", flush=True)
    model = Forecaster.load(where)
    part = series.iloc[:split]
    values, index = part.to_numpy(dtype=float), pd.DatetimeIndex(part.index).as_unit("ns")
    origins = valid_origins(values, model.spec, with_target=True)
    val = origins[origins >= int(len(values) * (1 - TrainSettings().validation_fraction))]
    model.reset()
    calibrate(model, values, index, val)
    return model


def evaluate(path: Path) -> dict:
    series = read_series(path, duplicates="mean")
    split = int(len(series) * 0.8)
    model = trained(path, series, split)
    H = model.horizon_steps
    origins = rolling_origins(
        series, start=split, every=pd.Timedelta(hours=1), horizon_steps=H, need=model.lookback_steps
    )
    values = series.to_numpy(dtype=float)
    actual = np.stack([values[t : t + H] for t in origins])  # [N, H]
    validation = copy.copy(model)
    validation.calibration = None
    validation.reset()
    row = {"series": path.stem, "band_scale": model.band_scale[-1]}
    for name, m in (("validation", validation), ("conformal", model)):
        fc = forecast_origins(m, series, origins)  # [N, H, Q]
        s = score(actual, fc, quantiles=m.quantiles)
        p50, p90 = fc[..., m.quantiles.index(0.5)], fc[..., -1]
        row[name] = {
            "wape": s.wape,
            "coverage": s.coverage,
            "peak_miss": s.peak_miss,
            "median_rel_width": float(np.median((p90 - p50) / np.maximum(np.abs(p50), 1e-9))),
            "width_vs_load": float(np.sum(p90 - p50) / np.sum(np.abs(actual))),
        }
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| series | p90 cov validation | p90 cov conformal | peak miss validation | peak miss conformal "
        "| median (p90-p50)/p50 validation | conformal | sum(p90-p50)/sum(load) validation | conformal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        v, c = r["validation"], r["conformal"]
        lines.append(
            f"| {r['series']} | {v['coverage']:.3f} | **{c['coverage']:.3f}** | {v['peak_miss']:.3f} | "
            f"{c['peak_miss']:.3f} | {v['median_rel_width']:.3f} | {c['median_rel_width']:.3f} | "
            f"{v['width_vs_load']:.3f} | {c['width_vs_load']:.3f} |"
        )
    for name in ("validation", "conformal"):
        cov = [r[name]["coverage"] for r in rows]
        lines.append(
            f"\n- {name}: median p90 coverage {statistics.median(cov):.3f}, range {min(cov):.3f}-{max(cov):.3f}, "
            f"median peak miss {statistics.median(r[name]['peak_miss'] for r in rows):.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="substring filters on file names (any of them)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bands.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    files = sorted(DEFAULT_DATA.glob("*.csv"))
    if args.only:
        files = [f for f in files if any(o in f.name for o in args.only)]
    if not files:
        print("no series found in ../shared/data/traffic", file=sys.stderr)
        return 2
    rows = []
    for f in files:
        rows.append(evaluate(f))
        c, v = rows[-1]["conformal"], rows[-1]["validation"]
        print(f"{f.stem:40s} coverage {v['coverage']:.3f} -> {c['coverage']:.3f}", flush=True)
    text = table(rows)
    print(text)
    args.out.write_text("# Band calibration benchmark\n\n`python bench/bands.py`\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
