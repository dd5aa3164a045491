"""Pretrain one 5-minute network across the synthetic corpus and the development series' training parts.

Issue 10, point 4: one network pretrained across many series, fine-tuned per target. The corpus is
``forecaster.pretrain``'s synthetic one plus the first 80% (the accuracy protocol's training part, never its
test range) of every 5-minute series in ``../shared/data/traffic``. A series is cut earlier when another
series whose dates overlap it has its 80% point earlier (the Twitter series share dates, and so do groups of
the CPU series): no series' pretraining data lies in the test range of another. Not a test.

    python bench/pretrain_global.py --out DIR [--extra-windows 1000] [--no-real]

Writes ``DIR/5m-daily`` (the model format: safetensors + JSON; a ``train.pretrained`` directory) and
prints each series' cut and the CPU seconds the pretraining took.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from forecaster.pretrain import PretrainSettings, pretrain
from forecaster.sources.files import read_series

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "traffic"
STEP = pd.Timedelta(minutes=5)


def training_parts(data: Path = DATA, *, fraction: float = 0.8) -> dict[str, pd.Series]:
    """Each 5-minute series' first ``fraction``, cut at the earliest such point of any series overlapping it."""
    full = {}
    for path in sorted(data.glob("*.csv")):
        s = read_series(path, duplicates="mean")
        if pd.Timedelta(s.index.freq) == STEP:
            full[path.stem] = s
    split_at = {n: s.index[int(len(s) * fraction)] for n, s in full.items()}
    parts = {}
    for name, s in full.items():
        overlapping = [m for m, o in full.items() if o.index[0] <= s.index[-1] and s.index[0] <= o.index[-1]]
        cut = min(split_at[m] for m in overlapping)
        parts[name] = s[s.index < cut]
    return parts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="directory of pretrained networks to write")
    ap.add_argument("--extra-windows", type=int, default=1000, help="windows drawn from each real series")
    ap.add_argument("--no-real", action="store_true", help="the synthetic corpus only")
    ap.add_argument(
        "--level-weight",
        type=float,
        default=0.0,
        help="each window's loss weighted by its scale to this power, within its series (PretrainSettings)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=PretrainSettings().epochs)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    parts = {} if args.no_real else training_parts()
    for name, s in parts.items():
        own = read_series(DATA / f"{name}.csv", duplicates="mean")
        own_cut = own.index[int(len(own) * 0.8)]
        print(
            f"{name:42s} {s.index[0]} .. {s.index[-1]}  {len(s)} points"
            f"{'' if s.index[-1] + STEP >= own_cut else f' (cut {own_cut - s.index[-1] - STEP} before its own 80%)'}"
        )
    settings = dataclasses.replace(
        PretrainSettings(),
        seed=args.seed,
        epochs=args.epochs,
        extra_windows_per_series=args.extra_windows,
        level_weight_power=args.level_weight,
    )
    cpu = time.process_time()
    net = pretrain(step=STEP, daily=True, settings=settings, extra=list(parts.values()))
    cpu = time.process_time() - cpu
    info = net.info["pretrained"]
    info["command"] = "python bench/pretrain_global.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    info["cpu_seconds"] = round(cpu, 1)
    info["real_series"] = {n: [str(s.index[0]), str(s.index[-1])] for n, s in parts.items()}
    net.save(args.out / "5m-daily")
    print(json.dumps({k: info[k] for k in ("corpus", "epochs_run", "validation_pinball", "seconds")}))
    print(f"pretrained in {cpu:.0f} CPU s -> {args.out / '5m-daily'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
