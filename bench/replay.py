"""Replay benchmark: HPA alone vs prescaler + HPA vs oracle on the synthetic scenario and the real traces.

Each trace is scaled so that its peak needs about 30 replicas, interpolated to 1 minute, and replayed over its
last ``--replay-days`` days (the forecaster is fitted on everything before), with pod start-up 3 minutes, once
without and once with a node group (4 pods per node, 5-minute node start-up). Writes
``bench/results/replay.md``, ``replay.json`` and ``replay.png``, and prints the README summary.

    python bench/replay.py [--traffic ../shared/data/traffic] [--model holt-winters] [--plans peak,rise]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from forecaster.cli_simulate import make_forecast_fn
from forecaster.hpa import HPAConfig
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, prepare_trace, replay
from forecaster.sources.files import read_series
from forecaster.sources.synthetic import live_streaming

HERE = Path(__file__).resolve().parent
REPLICAS_AT_PEAK = 30

# The two plans measured; "rise" is the cost-aware one (see forecaster/scaling.py).
PLANS = {
    "peak": {"plan": "peak", "scale_down_stabilization_s": 300.0},
    "rise": {"plan": "rise", "scale_down_stabilization_s": 180.0},
}


def traces(folder: Path) -> dict[str, pd.Series]:
    out = {"synthetic_live_streaming": live_streaming(days=21, step="5m", seed=0)}
    if folder.is_dir():
        for path in sorted(folder.glob("*.csv")):
            out[path.stem] = read_series(path, duplicates="mean")
    else:
        print(f"note: {folder} not found, synthetic scenario only", file=sys.stderr)
    return out


def run_one(name: str, native: pd.Series, *, model: str, plans: list[str], replay_days: float) -> dict:
    native = native.astype(float)
    if native.isna().any():
        # A long gap (the DST hour of ec2_network_in) cannot be replayed: keep the part after the last one.
        native = native.loc[native.index[native.isna().to_numpy()][-1] :].iloc[1:]
    split = max(native.index[-1] - pd.Timedelta(days=replay_days), native.index[len(native) // 2])
    split = native.index[native.index.searchsorted(split)]
    trace = prepare_trace(native, name=name)
    # The peak of the replayed part needs ~30 replicas at the target utilisation.
    cap = float(trace.loc[split:].max()) / REPLICAS_AT_PEAK
    t0 = time.perf_counter()
    fn = make_forecast_fn(native, split=split, model=model)
    fit_s = time.perf_counter() - t0
    rows = {}
    for plan in plans:
        for nodes in (0, 4):
            cfg = ReplayConfig(
                hpa=HPAConfig(capacity_per_replica=cap, max_replicas=200),
                policy=ScalingPolicy(
                    capacity_per_replica=cap, max_replicas=200, lead_time_s=180, **PLANS[plan]
                ),
                cluster=ClusterConfig(pod_startup_s=180, pods_per_node=nodes, node_startup_s=300),
            )
            t1 = time.perf_counter()
            result = replay(trace, config=cfg, forecast_fn=fn, replay_start=split)
            key = f"{plan}{'+nodes' if nodes else ''}"
            rows[key] = {
                "runs": result.to_dict()["runs"],
                "reasons": result.reasons,
                "seconds": time.perf_counter() - t1,
            }
            if name == "synthetic_live_streaming" and plan == plans[-1] and not nodes:
                from forecaster.plots_replay import plot_replay

                day = result.load.index[0].normalize() + pd.Timedelta(days=1)
                plot_replay(
                    result,
                    HERE / "results" / "replay.png",
                    title=f"synthetic live streaming, plan={plan}: one evening (show start at 20:00)",
                    window=(day + pd.Timedelta(hours=17), day + pd.Timedelta(hours=23)),
                )
    return {
        "minutes": len(trace.loc[split:]),
        "capacity_per_replica": cap,
        "fit_seconds": fit_s,
        "variants": rows,
    }


def pct(a: float, b: float) -> str:
    return f"{(a / b - 1) * 100:+.0f}%" if b else "n/a"


def cut(a: float, b: float) -> str:
    return f"{(1 - a / b) * 100:.0f}%" if b else "n/a"


def summarise(results: dict, variant: str, names: list[str]) -> dict:
    tot = {
        run: {k: 0.0 for k in ("under_provisioned_minutes", "unserved", "load", "replica_minutes")}
        for run in ("hpa", "prescaler", "oracle")
    }
    for name in names:
        r = results[name]["variants"][variant]["runs"]
        for run in tot:
            tot[run]["under_provisioned_minutes"] += r[run]["under_provisioned_minutes"]
            tot[run]["replica_minutes"] += r[run]["replica_minutes"]
            # unserved_fraction weighs traces equally: each trace's peak is 30 replicas.
            tot[run]["unserved"] += r[run]["unserved_fraction"]
    return tot


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--traffic", type=Path, default=HERE.parent.parent / "shared" / "data" / "traffic")
    ap.add_argument("--model", default="holt-winters", choices=("lstm", "holt-winters", "seasonal-naive"))
    ap.add_argument("--plans", default="peak,rise")
    ap.add_argument("--replay-days", type=float, default=3.0)
    ap.add_argument("--only", help="comma-separated trace names")
    args = ap.parse_args()
    plans = args.plans.split(",")
    series = traces(args.traffic)
    if args.only:
        series = {k: v for k, v in series.items() if k in args.only.split(",")}
    results = {}
    for name, s in series.items():
        t0 = time.perf_counter()
        results[name] = run_one(name, s, model=args.model, plans=plans, replay_days=args.replay_days)
        print(f"{name}: {time.perf_counter() - t0:.0f}s", file=sys.stderr)

    real = [n for n in results if n != "synthetic_live_streaming"]
    lines = [
        f"# Replay benchmark (forecasts: {args.model}; pod start-up 3m; node group 4 pods/node, 5m start-up)",
        "",
        "Capacity = ready pods x capacity per replica (the load a pod serves at the HPA's target utilisation); "
        "each trace scaled so its replayed peak needs 30 replicas; last "
        f"{args.replay_days:g} days replayed minute by minute, the forecaster fitted on everything before.",
        "",
        "| trace | variant | HPA short min | pre short min | oracle short | HPA unserved | pre unserved | HPA repl-min | pre repl-min | oracle repl-min | pre vs HPA cost | pre vs oracle cost | actions HPA/pre |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in results.items():
        for variant, v in res["variants"].items():
            h, p, o = (v["runs"][k] for k in ("hpa", "prescaler", "oracle"))
            lines.append(
                f"| {name} | {variant} | {h['under_provisioned_minutes']} | {p['under_provisioned_minutes']} | "
                f"{o['under_provisioned_minutes']} | {h['unserved_fraction']:.3%} | {p['unserved_fraction']:.3%} | "
                f"{h['replica_minutes']:.0f} | {p['replica_minutes']:.0f} | {o['replica_minutes']:.0f} | "
                f"{pct(p['replica_minutes'], h['replica_minutes'])} | {pct(p['replica_minutes'], o['replica_minutes'])} | "
                f"{h['scaling_actions']}/{p['scaling_actions']} |"
            )
    summary = [
        "",
        "## Real traces together (targets: cut >= 80% short minutes and unserved, <= +10% vs HPA, <= +25% vs oracle)",
        "",
    ]
    summary.append(
        "| variant | short minutes cut | unserved cut | cost vs HPA | cost vs oracle | meets targets |"
    )
    summary.append("|---|---:|---:|---:|---:|---|")
    for variant in results[next(iter(results))]["variants"]:
        if not real:
            break
        t = summarise(results, variant, real)
        h, p, o = t["hpa"], t["prescaler"], t["oracle"]
        ok = (
            p["under_provisioned_minutes"] <= 0.2 * h["under_provisioned_minutes"]
            and p["unserved"] <= 0.2 * h["unserved"]
            and p["replica_minutes"] <= 1.10 * h["replica_minutes"]
            and p["replica_minutes"] <= 1.25 * o["replica_minutes"]
        )
        summary.append(
            f"| {variant} | {cut(p['under_provisioned_minutes'], h['under_provisioned_minutes'])} "
            f"({h['under_provisioned_minutes']:.0f} -> {p['under_provisioned_minutes']:.0f}) | "
            f"{cut(p['unserved'], h['unserved'])} | {pct(p['replica_minutes'], h['replica_minutes'])} | "
            f"{pct(p['replica_minutes'], o['replica_minutes'])} | {'yes' if ok else 'no'} |"
        )
    text = "\n".join(lines + summary) + "\n"
    out = HERE / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "replay.md").write_text(text)
    (out / "replay.json").write_text(json.dumps(results, indent=2, default=str))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
