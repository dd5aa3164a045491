"""Where `forecaster tune`'s time goes on one trace, in CPU seconds of this one-threaded process, and the grid
replayed both ways: setting by setting through forecaster.simulate.replay (how tuning ran before
forecaster.replay_batch) and in lockstep (forecaster.replay_batch.replay_many, what tuning runs now), with the
points checked equal.

Does what `forecaster tune --csv FILE` does, phase by phase: read and prepare the trace, fit the forecaster on
the first --train-fraction, compute its forecasts for the rest once, replay the grid, the oracle. CPU time
(time.process_time) is reported because the machine is shared: wall time says more about the neighbours.

    OMP_NUM_THREADS=1 nice -n 10 python bench/tune_speed.py \
        --csv shared/data/traffic/nasa_http_requests_jul95.csv --capacity-per-replica 10.8 --sequential

``--compare-to REV`` times the whole ``forecaster tune`` command instead, this tree's and REV's (its
``forecaster/`` from ``git archive``), one after the other in child processes (one thread each), and checks
that both wrote the same JSON (every setting's numbers, the recommendation, the HPA alone):

    nice -n 10 python bench/tune_speed.py --csv shared/data/traffic/nasa_http_requests_jul95.csv \
        --capacity-per-replica 10.8 --compare-to 64d9e0e
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import load_table, save_table  # noqa: E402

from forecaster.cli_simulate import make_forecast_fn, replay_inputs
from forecaster.hpa import HPAConfig
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, precompute_forecasts, replay
from forecaster.tuning import SLO, default_grid, evaluate, joint_grid, oracle_cost, point_from


def sequential_points(trace, *, grid, table, split, cap, slo):
    """The grid replayed one setting at a time with simulate.replay (tuning.evaluate before replay_batch)."""
    points = []
    for s in grid:
        hpa = HPAConfig(capacity_per_replica=cap, target_utilisation=s.target_utilisation)
        policy = (
            s.policy(capacity_per_replica=cap, pod_startup_s=180.0)
            if s.prescaler
            else ScalingPolicy(capacity_per_replica=cap)
        )
        run = "prescaler" if s.prescaler else "hpa"
        result = replay(
            trace,
            config=ReplayConfig(hpa=hpa, policy=policy, cluster=ClusterConfig(pod_startup_s=180.0)),
            forecast_fn=None,
            forecasts=table if s.prescaler else None,
            replay_start=split,
            include=(run,),
        )
        points.append(point_from(result, setting=s, slo=slo))
    return points


ROOT = Path(__file__).resolve().parent.parent


def cli_tune(package_root: Path, *, csv: Path, capacity: float, out: Path, label: str) -> dict:
    """Run ``forecaster tune`` with the ``forecaster`` package under ``package_root``; its CPU seconds and
    peak memory (this child's own rusage), and the JSON it wrote."""
    env = {**os.environ, "PYTHONPATH": str(package_root), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    json_out, log = out / f"{label}.json", out / f"{label}.log"
    cmd = [sys.executable, "-m", "forecaster", "tune", "--csv", str(csv), "--capacity-per-replica"]
    cmd += [repr(capacity), "--pod-startup", "3m", "--slo", "short-minutes=0.5%", "--json", str(json_out)]
    cmd += ["--plot", str(out / f"{label}.png")]
    with open(log, "w") as f:
        # cwd: the output folder, so that ``-m`` finds the package on PYTHONPATH, not the current directory's.
        child = subprocess.Popen(cmd, env=env, cwd=out, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{label}: forecaster tune failed ({child.returncode}), see {log}")
    return {
        "label": label,
        "user": usage.ru_utime,
        "system": usage.ru_stime,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_gb": usage.ru_maxrss / 2**20,
        "json": json.loads(json_out.read_text()),
        "log": log,
    }


def differences(a: object, b: object, path: str = "") -> list[str]:
    """Where two JSON documents differ (paths), exact comparison."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only on one side" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += differences(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"[:200]]


def compare(args: argparse.Namespace) -> None:
    csv = Path(args.csv).resolve()
    with tempfile.TemporaryDirectory(prefix="tune_speed_") as tmp:
        work = Path(tmp)
        old_root = work / "old"
        old_root.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.compare_to, "forecaster"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        (work / "old.tar").write_bytes(archive)
        with tarfile.open(work / "old.tar") as tar:
            tar.extractall(old_root, filter="data")
        (old_root / "models").symlink_to(ROOT / "models")  # the shipped pretrained networks
        out = Path(args.keep) if args.keep else work
        out.mkdir(parents=True, exist_ok=True)
        runs = [
            cli_tune(ROOT, csv=csv, capacity=args.capacity_per_replica, out=out, label="this-tree"),
            cli_tune(old_root, csv=csv, capacity=args.capacity_per_replica, out=out, label=args.compare_to),
        ]
    new, old = runs
    diff = differences(old["json"], new["json"])
    rec = new["json"]["recommended"]
    print(
        f"forecaster tune --csv {csv.name} --capacity-per-replica {args.capacity_per_replica:g} (one thread)"
    )
    for r in (old, new):
        print(
            f"  {r['label']:12} {r['cpu']:7.1f} CPU s (user {r['user']:.1f}, system {r['system']:.1f}), "
            f"peak {r['peak_gb']:.2f} GB"
        )
    print(f"  ratio {old['cpu'] / new['cpu']:.2f}x; JSON identical: {not diff}")
    for d in diff[:20]:
        print("    " + d)
    print(f"  recommended: {rec['label'] if rec else None}")
    if args.out:
        with open(args.out, "a") as f:
            f.write(
                f"| {csv.stem} | {old['cpu']:.1f} ({old['user']:.1f} + {old['system']:.1f}) | "
                f"{old['peak_gb']:.1f} GB | {new['cpu']:.1f} ({new['user']:.1f} + {new['system']:.1f}) | "
                f"{new['peak_gb']:.1f} GB | {old['cpu'] / new['cpu']:.2f}x | "
                f"{'identical' if not diff else f'{len(diff)} differences'} | {rec['label'] if rec else '-'} |\n"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", required=True)
    p.add_argument("--capacity-per-replica", type=float, required=True)
    p.add_argument("--train-fraction", type=float, default=0.75)
    p.add_argument("--model", default="lstm")
    p.add_argument("--epochs", type=int, help="LSTM epochs (default: forecaster tune's)")
    p.add_argument("--grid", choices=("default", "joint"), default="default")
    p.add_argument("--sequential", action="store_true", help="also replay the grid setting by setting")
    p.add_argument("--profile", help="write the lockstep grid's cProfile top functions here")
    p.add_argument("--out", help="append the result as a markdown table row here")
    p.add_argument(
        "--cache",
        help="npz file of the forecasts (bench/replay.py's save_table format): written after fitting, read instead "
        "of fitting when it exists (then fit and forecasts are not timed)",
    )
    p.add_argument(
        "--compare-to",
        metavar="REV",
        help="time the whole forecaster tune command, this tree's and REV's, and check their JSON is the same",
    )
    p.add_argument("--keep", help="with --compare-to: keep both runs' JSON, logs and plots in this folder")
    args = p.parse_args()
    if args.compare_to:
        compare(args)
        return
    import torch

    torch.set_num_threads(1)
    slo = SLO.parse("short-minutes=0.5%")
    times: dict[str, float] = {}
    c = time.process_time()
    ns = argparse.Namespace(
        csv=Path(args.csv), prometheus_config=None, start=None, end=None, train_fraction=args.train_fraction
    )
    native, trace, split = replay_inputs(ns)
    times["read"] = time.process_time() - c
    if args.cache and Path(args.cache).exists():
        table = load_table(Path(args.cache))
    else:
        c = time.process_time()
        fn = make_forecast_fn(native, split=split, model=args.model, quantiles=(0.5, 0.9), epochs=args.epochs)
        times["fit"] = time.process_time() - c
        c = time.process_time()
        table = precompute_forecasts(trace, forecast_fn=fn, replay_start=split)
        times["forecasts"] = time.process_time() - c
        if args.cache:
            save_table(table, Path(args.cache))
    grid = joint_grid() if args.grid == "joint" else default_grid()
    common = {
        "capacity_per_replica": args.capacity_per_replica,
        "pod_startup_s": 180.0,
        "slo": slo,
        "replay_start": split,
    }
    profiler = cProfile.Profile() if args.profile else None
    c = time.process_time()
    if profiler:
        profiler.enable()
    batched = evaluate(trace, settings=grid, forecasts=table, **common)
    if profiler:
        profiler.disable()
    times["grid (lockstep)"] = time.process_time() - c
    c = time.process_time()
    oracle_cost(
        trace, capacity_per_replica=args.capacity_per_replica, pod_startup_s=180.0, replay_start=split
    )
    times["oracle"] = time.process_time() - c
    if args.sequential:
        c = time.process_time()
        old = sequential_points(
            trace, grid=grid, table=table, split=split, cap=args.capacity_per_replica, slo=slo
        )
        times["grid (setting by setting)"] = time.process_time() - c
        same = all(
            (a.short_minutes, a.replica_minutes, a.rate_upper, a.metrics)
            == (b.short_minutes, b.replica_minutes, b.rate_upper, b.metrics)
            for a, b in zip(batched, old, strict=True)
        )
        print(f"points equal both ways: {same}")
        if not same:
            raise SystemExit("the lockstep replay differs from simulate.replay")
    minutes = len(trace.loc[split:])
    print(f"{Path(args.csv).stem}: {minutes} minutes replayed, {len(grid)} settings, model {args.model}")
    for name, value in times.items():
        print(f"  {name:28} {value:8.1f} CPU s")
    total = sum(v for k, v in times.items() if k != "grid (setting by setting)")
    print(f"  {'forecaster tune, all phases':28} {total:8.1f} CPU s")
    if profiler:
        with open(args.profile, "w") as f:
            pstats.Stats(profiler, stream=f).sort_stats("tottime").print_stats(25)
    if args.out:
        with open(args.out, "a") as f:
            cells = " | ".join(
                f"{times.get(k, float('nan')):.1f}"
                for k in (
                    "read",
                    "fit",
                    "forecasts",
                    "grid (lockstep)",
                    "oracle",
                    "grid (setting by setting)",
                )
            )
            f.write(f"| {Path(args.csv).stem} | {minutes} | {len(grid)} | {cells} | {total:.1f} |\n")


if __name__ == "__main__":
    main()
