"""Training variants of the network, scored as ``bench/accuracy_lstm.py`` scores them (not a test).

The same protocol as ``bench/accuracy.py`` (train on the first 80%, an origin every hour over the last 20%,
every step up to 30 minutes), the LSTM only, against the last full run's baselines
(``bench/results/accuracy.json``); what changes is how the network is trained. With no variant flag it
reproduces the last full run's LSTM (training is seeded; since session 12 that fine-tunes the shipped pretrained
network, ``train.init: pretrained``; ``--scratch`` trains from scratch as before). The seed alone moves a
Twitter series' ratio by 1-3% (AAPL 0.904 / 0.931 / 0.921 for seeds 0 / 1 / 2,
``bench/results/accuracy-seeds.md``), so compare a variant with main at several seeds.

    python bench/accuracy_training.py --models DIR --seed 1 --weekly-lags --only AAPL,CRM,IBM
    python bench/accuracy_training.py --models DIR --level-weight 1 --only c6585a,5abac7
    python bench/accuracy_training.py --models DIR --drop-first-week --only AAPL   # why weekly lags lose
    python bench/accuracy_training.py --models DIR --init /tmp/fleet --seed 1 --only AAPL,CRM,c6585a

``--weekly-lags``: the network reads last week's values (``model.weekly_lags``). ``--drop-first-week``: no
weekly input, but training windows only from a week into the history, as weekly lags need (their cost in
windows, without the input). ``--level-weight P``: each window's loss weighted by its scale to the power P
(``training._LEVEL_WEIGHT_POWER``; ``--median-only``: the median's loss only, the band's and the peak term
every window alike). ``--lookback``: the network's input window. ``--init DIR``: every target's network starts
from DIR's pretrained ``daily`` network (``bench/pretrain_global.py`` writes one; ``models/_pretrained`` is the
shipped one) and is fine-tuned on the whole training history (``train.init: pretrained``), with
``--ft-level-weight P`` (default 1), ``--ft-lr F`` (a factor on the learning rate), ``--ft-epochs N`` and
``--ft-freeze-lstm`` (the heads only) as the fine-tuning's knobs. Models are kept in
``DIR/<variant>-s<seed>/<series>`` and reused. Appends a line a series to ``--out``
(``bench/results/accuracy-training.log``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy_lstm  # noqa: E402

from forecaster import pretrain, settings, training  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _drop_first_week() -> None:
    plain = training.valid_origins

    def dropped(values: np.ndarray, spec, *, with_target: bool) -> np.ndarray:  # noqa: ANN001
        origins = plain(values, spec, with_target=with_target)
        week = 7 * spec.season
        if not spec.season or len(values) < 2 * week + spec.horizon:
            return origins  # weekly lags would not be given either
        return origins[origins >= week + spec.lookback]

    training.valid_origins = dropped


def _freeze_lstm() -> None:
    """Fine-tune the heads only: the recurrent layer keeps the pretrained weights (no gradient, so Adam skips
    them)."""
    plain = training.fit_early_stopping

    def frozen(network, **kwargs):  # noqa: ANN001, ANN003, ANN202
        for name, p in network.named_parameters():
            if name.startswith("lstm."):
                p.requires_grad_(False)
        return plain(network, **kwargs)

    training.fit_early_stopping = frozen


def _training_summary(manifest: Path) -> str:
    """Epochs, the validation loss at the start and the best, and the training CPU seconds of a saved model."""
    t = json.loads(manifest.read_text()).get("training") or {}
    curve = t.get("validation_curve") or [float("nan")]
    epochs_cpu = ((t.get("phases") or {}).get("epochs") or {}).get("cpu_s", float("nan"))
    return (
        f" | epochs {t.get('epochs_run')} val {curve[0]:.4f} -> {min(curve):.4f}"
        f" (best epoch {curve.index(min(curve))}) epochs cpu {epochs_cpu:.0f} s"
        f" fine-tuned {(t.get('cold_start') or {}).get('fine_tuned')}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, required=True, help="directory of trained models (kept, reused)")
    ap.add_argument("--only", help="comma-separated substrings of series names (default: every series)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weekly-lags", action="store_true")
    ap.add_argument("--drop-first-week", action="store_true")
    ap.add_argument(
        "--level-weight",
        type=float,
        default=training._LEVEL_WEIGHT_POWER,
        help=f"training from scratch (default {training._LEVEL_WEIGHT_POWER:g}, as main trains)",
    )
    ap.add_argument(
        "--init",
        type=Path,
        help="a directory of pretrained networks (bench/pretrain_global.py): every target's network starts from "
        "its 5m-daily network and is fine-tuned on the full training history instead of trained from scratch",
    )
    ap.add_argument(
        "--ft-level-weight",
        type=float,
        default=training._FINE_TUNE_LEVEL_WEIGHT_POWER,
        help="the level weights' power when fine-tuning (--init)",
    )
    ap.add_argument(
        "--ft-lr", type=float, default=1.0, help="fine-tuning learning rate / training's (--init)"
    )
    ap.add_argument("--ft-epochs", type=int, help="at most this many fine-tuning epochs (--init)")
    ap.add_argument(
        "--ft-freeze-lstm",
        action="store_true",
        help="fine-tune the heads only: the pretrained LSTM layer's weights stay as they are (--init)",
    )
    ap.add_argument(
        "--scratch",
        action="store_true",
        help="train every network from scratch (train.init: scratch; the default fine-tunes the shipped network)",
    )
    ap.add_argument("--ensemble", type=int, default=1, help="train.ensemble_members (seed ensemble)")
    ap.add_argument("--median-only", action="store_true", help="the level weights on the median's loss only")
    ap.add_argument("--lookback", default=settings.ModelSettings().lookback)
    ap.add_argument("--value-transform", default=settings.ModelSettings().value_transform)
    ap.add_argument("--baselines", type=Path, default=ROOT / "bench" / "results" / "accuracy.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "accuracy-training.log")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model_kw = {
        "lookback": args.lookback,
        "weekly_lags": args.weekly_lags,
        "value_transform": args.value_transform,
    }
    accuracy_lstm.ModelSettings = lambda: settings.ModelSettings(**model_kw)
    train_kw: dict = {"seed": args.seed, "ensemble_members": args.ensemble}
    if args.scratch and args.init:
        ap.error("--scratch and --init contradict each other")
    if args.scratch:  # what training did before session 12 made train.init: pretrained the default
        train_kw["init"] = "scratch"
    if args.init:  # fine-tune the pretrained network whatever the history's length
        train_kw |= {"pretrained": str(args.init), "init": "pretrained"}
        if args.ft_epochs:
            train_kw["epochs"] = args.ft_epochs
        pretrain.FINE_TUNE_LR_FACTOR = args.ft_lr
        training._FINE_TUNE_LEVEL_WEIGHT_POWER = args.ft_level_weight
        if args.ft_freeze_lstm:
            _freeze_lstm()
    accuracy_lstm.TrainSettings = lambda: settings.TrainSettings(**train_kw)
    training._LEVEL_WEIGHT_POWER = args.level_weight
    training._LEVEL_WEIGHT_MEDIAN_ONLY = args.median_only
    if args.drop_first_week:
        _drop_first_week()
    variant = (
        "-".join(
            part
            for part in (
                "scratch" if args.scratch else "",
                "weekly" if args.weekly_lags else "",
                "dropweek" if args.drop_first_week else "",
                f"level{args.level_weight:g}{'-median' if args.median_only else ''}"
                if args.level_weight != 1 or args.median_only
                else "",
                f"init-{args.init.name}-ftlevel{args.ft_level_weight:g}-lr{args.ft_lr:g}"
                + (f"-ep{args.ft_epochs}" if args.ft_epochs else "")
                + ("-freezelstm" if args.ft_freeze_lstm else "")
                if args.init
                else "",
                f"ens{args.ensemble}" if args.ensemble != 1 else "",
                f"vt-{args.value_transform}"
                if args.value_transform != settings.ModelSettings().value_transform
                else "",
                f"lookback{args.lookback}" if args.lookback != settings.ModelSettings().lookback else "",
            )
            if part
        )
        or "main"
    )
    full = {r["series"]: r for r in json.loads(args.baselines.read_text())["rows"]}
    wanted = args.only.split(",") if args.only else [""]
    names = [n for n in full if any(w in n for w in wanted)]
    models = args.models / f"{variant}-s{args.seed}"
    for name in names:
        cpu = time.process_time()
        row = accuracy_lstm.evaluate(name, models=models, baseline_row=full[name])
        line = (
            f"{variant} seed {args.seed} {name} ratio {row['ratio_vs_best_baseline']:.3f} "
            f"(main seed 0 {row['last_full_run_ratio']:.3f}) wape {row['lstm']['wape']:.4f} "
            f"p90 cov {row['lstm']['coverage']:.2f} peak miss {row['lstm']['peak_miss']:.2f} "
            f"cpu {time.process_time() - cpu:.0f} s at {pd.Timestamp.now(tz='UTC'):%H:%M} UTC"
            + _training_summary(models / name / "manifest.json")
        )
        print(line, flush=True)
        with args.out.open("a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
