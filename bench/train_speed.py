"""Training-speed benchmark (not a test): CPU seconds per phase of one target's training, on one core.

Trains the first 80% of a real series (NASA's 27.6 days of 1-minute requests by default: four weeks of
1-minute history) with the production settings through the public path, :func:`forecaster.promotion.train_target`
(what ``forecaster train --csv`` and the fleet's training job call): fit on all but the held-out backtest
range, backtest against the baselines, store. One torch thread (``TrainSettings.threads``), OMP_NUM_THREADS=1.

Reports CPU seconds of this process (the cost on one core, whatever the neighbours on a shared machine do)
and wall seconds, per phase: the fit's own phases as recorded in the manifest (``training.phases``: data
preparation and validation windows, training windows, gradient epochs, validation, Holt-Winters, blend and
skill weighting, band calibration, relative band) and, around it, the backtest, the tuning (when the target
asks for one) and writing the model. ``--coldstart`` fine-tunes the pretrained network on the 3 days before
the split instead (what a new service's first training costs). The fleet projection: 1,000 such targets on
16 pods of 2 CPUs, each pod training two at once, one per CPU.

    OMP_NUM_THREADS=1 nice -n 10 python bench/train_speed.py                 # NASA, production settings
    OMP_NUM_THREADS=1 nice -n 10 python bench/train_speed.py --coldstart
    OMP_NUM_THREADS=1 nice -n 10 python bench/train_speed.py --epochs 2 --profile /tmp/train.prof

Writes ``bench/results/train_speed[-coldstart].md`` and ``.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from forecaster import promotion, training
from forecaster.series import format_duration, parse_duration
from forecaster.settings import ModelSettings, TargetConfig, TrainSettings
from forecaster.sources.files import read_series
from forecaster.store import ModelStore
from forecaster.training import fit_forecaster

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "traffic" / "nasa_http_requests_jul95.csv"
FLEET_TARGETS = 1000
FLEET_PODS = 16
FLEET_CPUS_PER_POD = 2
FLEET_GOAL_S = 2 * 3600.0


_ORDER = [
    *(
        f"fit: {p}"
        for p in (
            "prepare",
            "windows",
            "epochs",
            "validation",
            "holt_winters",
            "blend",
            "calibration",
            "relative_band",
            "event_profile",
            "other",
        )
    ),
    "backtest",
    "tuning",
    "save",
]


class _Timed:
    """Wraps a function, charging its CPU and wall seconds to a phase."""

    def __init__(self, fn: Any, phases: dict[str, dict[str, float]], name: str) -> None:
        self.fn, self.phases, self.name = fn, phases, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            slot = self.phases.setdefault(self.name, {"cpu_s": 0.0, "wall_s": 0.0})
            slot["cpu_s"] += time.process_time() - cpu
            slot["wall_s"] += time.perf_counter() - wall


def run_public(series: pd.Series, *, train: TrainSettings, name: str) -> tuple[dict, dict]:
    """``train_target`` on ``series`` in a throw-away store; returns (phases, facts)."""
    outer: dict[str, dict[str, float]] = {}
    patched = {
        "fit_forecaster": "fit",
        "evaluate_candidates": "backtest",
        "_tuning_files": "tuning",
    }
    saved = {attr: getattr(promotion, attr) for attr in patched}
    for attr, phase in patched.items():
        setattr(promotion, attr, _Timed(saved[attr], outer, phase))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = ModelStore(Path(tmp))
            store.save = _Timed(store.save, outer, "save")  # type: ignore[method-assign]
            store.promote = _Timed(store.promote, outer, "save")  # type: ignore[method-assign]
            cfg = TargetConfig(name=name, model=ModelSettings(), train=train, store=tmp)
            result = promotion.train_target(cfg, series, store=store, now=series.index[-1])
            manifest = result.saved.manifest
    finally:
        for attr, fn in saved.items():
            setattr(promotion, attr, fn)
    training = manifest["training"]
    phases = {f"fit: {k}": v for k, v in training["phases"].items()}
    fit = outer.pop("fit")
    listed = sum(v["cpu_s"] for v in training["phases"].values())
    phases["fit: other"] = {"cpu_s": fit["cpu_s"] - listed, "wall_s": 0.0}
    phases.update(outer)
    facts = {
        "fit_points": training["points"],
        "epochs_run": training["epochs_run"],
        "train_windows": training["train_windows"],
        "validation_windows": training["validation_windows"],
        "best_validation_pinball": round(training["best_validation_pinball"], 5),
        "validation_curve": training.get("validation_curve"),
        "cold_start": training["cold_start"]["reason"],
        "backtest_wape": {k: round(v["wape"], 4) for k, v in result.metrics["backtest"]["models"].items()},
        "promoted": result.promoted,
    }
    return phases, facts


def run_fit(series: pd.Series, *, train: TrainSettings, name: str) -> tuple[dict, dict]:
    """``fit_forecaster`` alone (the cold start: a short history fine-tunes the pretrained network)."""
    model = fit_forecaster(series, model=ModelSettings(), train=train, name=name)
    training = model.info["training"]
    phases = {f"fit: {k}": v for k, v in training["phases"].items()}
    facts = {
        "fit_points": training["points"],
        "epochs_run": training["epochs_run"],
        "train_windows": training["train_windows"],
        "validation_windows": training["validation_windows"],
        "best_validation_pinball": round(training["best_validation_pinball"], 5),
        "validation_curve": training.get("validation_curve"),
        "cold_start": training["cold_start"]["reason"],
    }
    return phases, facts


def fleet_projection(cpu_s_per_target: float) -> dict[str, float | str]:
    """1,000 targets on 16 pods x 2 CPUs, two targets at once per pod (one per CPU), perfectly balanced."""
    slots = FLEET_PODS * FLEET_CPUS_PER_POD
    hours = FLEET_TARGETS * cpu_s_per_target / slots / 3600
    return {
        "targets": FLEET_TARGETS,
        "pods": FLEET_PODS,
        "cpus_per_pod": FLEET_CPUS_PER_POD,
        "hours": round(hours, 2),
        "goal_hours": FLEET_GOAL_S / 3600,
        "max_cpu_s_per_target_for_goal": round(FLEET_GOAL_S * slots / FLEET_TARGETS, 1),
        "meets_goal": "yes" if hours * 3600 <= FLEET_GOAL_S else "no",
    }


def render(row: dict) -> str:
    lines = [
        f"# Training speed: {row['series']} ({row['mode']})",
        "",
        f"`{row['command']}`",
        "",
        f"{row['history']} of {row['step']} history ({row['points']} points), production settings "
        f"(hidden {row['hidden_size']}, up to {row['epochs']} epochs of at most {row['max_windows_per_epoch']} "
        f"windows, patience {row['patience']}, or {row.get('turned_up', '-')}), one torch thread. CPU seconds of "
        "this process; wall seconds on "
        f"a shared machine ({os.cpu_count()} cores, load average {row['load_average']}).",
        "",
        "| phase | CPU s | wall s |",
        "|---|---|---|",
    ]
    for phase, v in row["phases"].items():
        lines.append(f"| {phase} | {v['cpu_s']:.1f} | {v['wall_s']:.1f} |")
    lines.append(f"| **total** | **{row['cpu_s']:.1f}** | **{row['wall_s']:.1f}** |")
    lines.append("")
    for k, v in row["facts"].items():
        lines.append(f"- {k}: {v}")
    if row.get("fleet"):
        f = row["fleet"]
        lines.append(
            f"- fleet: {f['targets']} such targets on {f['pods']} pods x {f['cpus_per_pod']} CPUs (two at once "
            f"per pod): {f['hours']} h (goal <= {f['goal_hours']:g} h, i.e. <= {f['max_cpu_s_per_target_for_goal']} "
            f"CPU s per target): {'met' if f['meets_goal'] == 'yes' else 'NOT met'}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--coldstart", action="store_true", help="fine-tune on the 3 days before the split")
    ap.add_argument(
        "--fit-only",
        action="store_true",
        help="fit_forecaster on the first 80%% (what bench/accuracy.py trains), no backtest or store",
    )
    ap.add_argument("--history", default="3d", help="cold-start history (with --coldstart)")
    ap.add_argument("--epochs", type=int, help="override TrainSettings.epochs (a quick subset)")
    ap.add_argument("--max-windows", type=int, help="override TrainSettings.max_windows_per_epoch")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    ap.add_argument(
        "--allocator",
        choices=("tuned", "default"),
        default="tuned",
        help="'default': leave glibc's heap thresholds alone (training.keep_freed_memory), for an A/B",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="'-': write nothing")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.allocator == "default":
        training._malloc_tuned = False  # as if already decided: keep_freed_memory changes nothing
    train = TrainSettings(threads=1)
    if args.epochs is not None:
        train = dataclasses.replace(train, epochs=args.epochs)
    if args.max_windows is not None:
        train = dataclasses.replace(train, max_windows_per_epoch=args.max_windows)
    series = read_series(args.csv, duplicates="mean")
    step = pd.Timedelta(series.index.freq)
    split = int(len(series) * 0.8)
    name = args.csv.stem.replace("_", "-").lower()
    if args.coldstart:
        part = series.iloc[split - int(parse_duration(args.history) / step) : split]
        runner, mode = run_fit, f"cold start: fit_forecaster on the {args.history} before the 80% split"
    elif args.fit_only:
        part = series.iloc[:split]
        runner, mode = run_fit, "fit_forecaster on the first 80% (as bench/accuracy.py)"
    else:
        part = series.iloc[:split]
        runner, mode = run_public, "train_target on the first 80% (fit, backtest, store)"
    profiler = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    phases, facts = runner(part, train=train, name=name)
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    usage = resource.getrusage(resource.RUSAGE_SELF)
    phases = {
        k: {"cpu_s": round(v["cpu_s"], 2), "wall_s": round(v["wall_s"], 2)}
        for k, v in sorted(phases.items(), key=lambda kv: _ORDER.index(kv[0]) if kv[0] in _ORDER else 99)
    }
    row = {
        "series": args.csv.stem,
        "mode": mode,
        "command": "python bench/train_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "points": len(part),
        "step": format_duration(step),
        "history": format_duration(part.index[-1] - part.index[0] + step),
        "hidden_size": ModelSettings().hidden_size,
        "epochs": train.epochs,
        "max_windows_per_epoch": train.max_windows_per_epoch,
        "patience": train.patience,
        "turned_up": f"{training._TURNED_UP_EPOCHS} stale epochs all more than {training._TURNED_UP_MARGIN:.1%} "
        "above the best",
        "cpu_s": round(cpu_s, 1),
        "wall_s": round(wall_s, 1),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "phases": phases,
        "facts": {
            **facts,
            "allocator": args.allocator,
            "page_faults_whole_process": usage.ru_minflt,
            "peak_resident_mb": round(usage.ru_maxrss / 1024),
        },
        "fleet": None if args.coldstart or args.fit_only else fleet_projection(cpu_s),
    }
    text = render(row)
    print(text)
    if str(args.out) != "-":
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "train_speed" + ("-coldstart" if args.coldstart else "-fit" if args.fit_only else "")
        (args.out / f"{stem}.md").write_text(text)
        (args.out / f"{stem}.json").write_text(json.dumps(row, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
