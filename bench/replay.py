"""Replay benchmark: HPA alone vs prescaler + HPA vs oracle on the synthetic scenario and the real traces.

Each trace is scaled so that its replayed peak needs about 30 replicas, interpolated to 1 minute, and its last
``--replay-fraction`` (20%) replayed; the forecaster (the project's LSTM by default, a few epochs) is fitted on
everything before. Pod start-up 3 minutes; every prescaler variant in ``VARIANTS`` is measured, and the default
one again with a node group (4 pods per node, 5-minute node start-up). Writes ``bench/results/replay.md``,
``replay.json`` and ``replay.png``; the first table of replay.md is the README summary.

    python bench/replay.py [--traffic ../shared/data/traffic] [--model lstm|holt-winters] [--variants a,b]
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

# Every prescaler variant measured (fields of ScalingPolicy on top of lead 3m, interval 1m). See
# forecaster/scaling.py for the plans; "shift" plans only for the load at the lead-time horizon, so the floor
# costs nothing where the HPA already has the pods, and needs no stabilisation of its own (the HPA's keeps pods).
VARIANTS = {
    "peak": {"plan": "peak", "scale_down_stabilization_s": 300.0},
    "rise": {"plan": "rise", "scale_down_stabilization_s": 180.0},
    "shift-p90": {"plan": "shift", "scale_down_stabilization_s": 0.0},
    "shift-p90-stab5m": {"plan": "shift", "scale_down_stabilization_s": 300.0},
    "shift-p90-cap100": {"plan": "shift", "max_over_median": 1.0, "scale_down_stabilization_s": 0.0},
    "shift-p90-cap40": {"plan": "shift", "max_over_median": 0.4, "scale_down_stabilization_s": 0.0},
    "shift-p50": {"plan": "shift", "quantile": 0.5, "scale_down_stabilization_s": 0.0},
    "shift-p50+20": {"plan": "shift", "quantile": 0.5, "headroom": 0.2, "scale_down_stabilization_s": 0.0},
}
DEFAULT_VARIANT = "shift-p90"
"""The bench's default policy, chosen on the real traces together (see bench/results/replay.md)."""


def traces(folder: Path) -> dict[str, pd.Series]:
    out = {"synthetic_live_streaming": live_streaming(days=21, step="5m", seed=0)}
    if folder.is_dir():
        for path in sorted(folder.glob("*.csv")):
            out[path.stem] = read_series(path, duplicates="mean")
    else:
        print(f"note: {folder} not found, synthetic scenario only", file=sys.stderr)
    return out


def _config(cap: float, variant: str, nodes: int) -> ReplayConfig:
    return ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=cap, max_replicas=200),
        policy=ScalingPolicy(
            capacity_per_replica=cap, max_replicas=200, lead_time_s=180, **VARIANTS[variant]
        ),
        cluster=ClusterConfig(pod_startup_s=180, pods_per_node=nodes, node_startup_s=300),
    )


def run_one(
    name: str, native: pd.Series, *, model: str, variants: list[str], replay_fraction: float, out: Path
) -> dict:
    native = native.astype(float)
    if native.isna().any():
        # A long gap (the DST hour of ec2_network_in) cannot be replayed: keep the part after the last one.
        native = native.loc[native.index[native.isna().to_numpy()][-1] :].iloc[1:]
    # The last part is replayed; the forecaster is trained on everything before it (as the issue asks).
    split = native.index[int(len(native) * (1 - replay_fraction))]
    trace = prepare_trace(native, name=name)
    # The peak of the replayed part needs ~30 replicas at the target utilisation.
    cap = float(trace.loc[split:].max()) / REPLICAS_AT_PEAK
    t0 = time.perf_counter()
    fn = make_forecast_fn(native, split=split, model=model)
    fit_s = time.perf_counter() - t0
    rows = {}
    # The HPA and the oracle do not depend on the prescaler's policy: run them once per cluster shape.
    base = {}
    for nodes in (0, 4):
        result = replay(
            trace,
            config=_config(cap, variants[0], nodes),
            forecast_fn=fn,
            replay_start=split,
            include=("hpa", "oracle"),
        )
        base[nodes] = result.to_dict()["runs"]
    # Every variant without nodes; the default one also with the node group.
    jobs = [(v, 0) for v in variants] + [(DEFAULT_VARIANT, 4)] * (DEFAULT_VARIANT in variants)
    for variant, nodes in jobs:
        t1 = time.perf_counter()
        result = replay(
            trace,
            config=_config(cap, variant, nodes),
            forecast_fn=fn,
            replay_start=split,
            include=("prescaler",),
        )
        key = f"{variant}{'+nodes' if nodes else ''}"
        runs = {**base[nodes], **result.to_dict()["runs"]}
        rows[key] = {"runs": runs, "reasons": result.reasons, "seconds": time.perf_counter() - t1}
        if name == "synthetic_live_streaming" and variant == DEFAULT_VARIANT and not nodes:
            from forecaster.plots_replay import plot_replay

            full = replay(trace, config=_config(cap, variant, 0), forecast_fn=fn, replay_start=split)
            day = full.load.index[0].normalize() + pd.Timedelta(days=1)
            plot_replay(
                full,
                out / "replay.png",
                title=f"synthetic live streaming, {variant}: one evening (show start at 20:00)",
                window=(day + pd.Timedelta(hours=17), day + pd.Timedelta(hours=23)),
            )
    return {
        "minutes": len(trace.loc[split:]),
        "capacity_per_replica": cap,
        "load_replica_minutes": float(trace.loc[split:].sum()) / cap,
        "fit_seconds": fit_s,
        "variants": rows,
    }


def pct(a: float, b: float) -> str:
    return f"{(a / b - 1) * 100:+.0f}%" if b else "n/a"


def cut(a: float, b: float) -> str:
    return f"{(1 - a / b) * 100:.0f}%" if b else "n/a"


def summarise(results: dict, variant: str, names: list[str]) -> dict:
    """Totals over ``names``: minutes and replica-minutes summed, unserved load pooled and averaged.

    ``unserved`` pools the load: unserved replica-minutes over all load in replica-minutes (each trace's load in
    units of its own capacity per replica, so a trace weighs what it costs, as for replica-minutes).
    ``unserved_mean`` is the plain mean of the per-trace fractions, where a small, spiky trace weighs as much as
    a busy one.
    """
    keys = ("under_provisioned_minutes", "unserved", "unserved_mean", "replica_minutes")
    tot = {run: dict.fromkeys(keys, 0.0) for run in ("hpa", "prescaler", "oracle")}
    load = sum(results[n]["load_replica_minutes"] for n in names)
    for name in names:
        r = results[name]["variants"][variant]["runs"]
        weight = results[name]["load_replica_minutes"]
        for run in tot:
            tot[run]["under_provisioned_minutes"] += r[run]["under_provisioned_minutes"]
            tot[run]["replica_minutes"] += r[run]["replica_minutes"]
            tot[run]["unserved"] += r[run]["unserved_fraction"] * weight / load
            tot[run]["unserved_mean"] += r[run]["unserved_fraction"] / len(names)
    return tot


def _meets(t: dict) -> bool:
    h, p, o = t["hpa"], t["prescaler"], t["oracle"]
    return (
        p["under_provisioned_minutes"] <= 0.2 * h["under_provisioned_minutes"]
        and p["unserved"] <= 0.2 * h["unserved"]
        and p["replica_minutes"] <= 1.10 * h["replica_minutes"]
        and p["replica_minutes"] <= 1.25 * o["replica_minutes"]
    )


def _summary_row(label: str, t: dict) -> str:
    h, p, o = t["hpa"], t["prescaler"], t["oracle"]
    return (
        f"| {label} | {cut(p['under_provisioned_minutes'], h['under_provisioned_minutes'])} "
        f"({h['under_provisioned_minutes']:.0f} -> {p['under_provisioned_minutes']:.0f}) | "
        f"{cut(p['unserved'], h['unserved'])} | {cut(p['unserved_mean'], h['unserved_mean'])} | "
        f"{pct(p['replica_minutes'], h['replica_minutes'])} | "
        f"{pct(p['replica_minutes'], o['replica_minutes'])} | {'yes' if _meets(t) else 'no'} |"
    )


def report(results: dict, *, model: str, replay_fraction: float) -> str:
    real = [n for n in results if n != "synthetic_live_streaming"]
    variants = list(results[next(iter(results))]["variants"])
    head = (
        "| {first} | short minutes cut | unserved cut (pooled) | unserved cut (mean of traces) | cost vs HPA | "
        "cost vs oracle | meets targets |"
    )
    lines = [
        f"# Replay benchmark (forecasts: {model}; pod start-up 3m; node group 4 pods/node, 5m start-up)",
        "",
        "Capacity = ready pods x capacity per replica (the load a pod serves at the HPA's target utilisation); "
        "each trace scaled so its replayed peak needs 30 replicas; the last "
        f"{replay_fraction:.0%} of each trace replayed minute by minute, the forecaster fitted on everything "
        "before. HPA: Kubernetes defaults (tolerance 0.1, sync 15s, scale-down stabilisation 5m), metric = load "
        "averaged over 1m, read 1m late. Cost = replica-minutes (starting pods included). "
        f"Default variant: `{DEFAULT_VARIANT}`.",
        "",
        "## Real traces together (targets: cut >= 80% short minutes and unserved, <= +10% vs HPA, <= +25% vs "
        "oracle)",
        "",
        "Short minutes and replica-minutes are summed over the traces. Unserved load pooled: all unserved load "
        "over all load, each trace in units of its own replicas (a trace weighs what it costs); 'meets targets' "
        "uses it. Mean of traces: the per-trace fractions averaged (a small spiky trace weighs as much as a busy "
        "one).",
        "",
        head.format(first="variant"),
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    if real:
        lines += [_summary_row(v, summarise(results, v, real)) for v in variants]
    else:
        lines.append("| (no real traces found) | | | | | | |")
    if "synthetic_live_streaming" in results:
        t = (
            summarise(results, DEFAULT_VARIANT, ["synthetic_live_streaming"])
            if DEFAULT_VARIANT in variants
            else None
        )
        if t is not None:
            h, p, o = t["hpa"], t["prescaler"], t["oracle"]
            lines += [
                "",
                f"Synthetic live-streaming scenario, `{DEFAULT_VARIANT}`: short minutes cut "
                f"{cut(p['under_provisioned_minutes'], h['under_provisioned_minutes'])} "
                f"({h['under_provisioned_minutes']:.0f} -> {p['under_provisioned_minutes']:.0f}), unserved cut "
                f"{cut(p['unserved'], h['unserved'])}, cost {pct(p['replica_minutes'], h['replica_minutes'])} vs "
                f"HPA and {pct(p['replica_minutes'], o['replica_minutes'])} vs oracle: meets the targets "
                f"{'yes' if _meets(t) else 'no'}.",
            ]
    if real and DEFAULT_VARIANT in variants:
        total_hpa = sum(
            results[n]["variants"][DEFAULT_VARIANT]["runs"]["hpa"]["replica_minutes"] for n in real
        )
        rows = []
        for name in real:
            r = results[name]["variants"][DEFAULT_VARIANT]["runs"]
            extra = r["prescaler"]["replica_minutes"] - r["hpa"]["replica_minutes"]
            saved = r["hpa"]["under_provisioned_minutes"] - r["prescaler"]["under_provisioned_minutes"]
            rows.append((extra, name, saved, r["hpa"]["replica_minutes"]))
        lines += [
            "",
            f"## Where the extra cost of `{DEFAULT_VARIANT}` goes (real traces)",
            "",
            "| trace | extra replica-minutes | share of all HPA replica-minutes | vs its own HPA cost | short minutes saved |",
            "|---|---:|---:|---:|---:|",
        ]
        for extra, name, saved, own in sorted(rows, reverse=True):
            lines.append(
                f"| {name} | {extra:.0f} | {extra / total_hpa:+.1%} | {pct(own + extra, own)} | {saved:.0f} |"
            )
    for variant in variants:
        lines += [
            "",
            f"## {variant}: "
            + ", ".join(
                f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in VARIANTS[variant.removesuffix("+nodes")].items()
            )
            + (" with the node group" if variant.endswith("+nodes") else ""),
            "",
            "| trace | HPA short min | pre short min | HPA unserved | pre unserved | HPA repl-min | pre repl-min | "
            "oracle repl-min | short cut | unserved cut | cost vs HPA | cost vs oracle | actions HPA/pre |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, res in results.items():
            h, p, o = (res["variants"][variant]["runs"][k] for k in ("hpa", "prescaler", "oracle"))
            lines.append(
                f"| {name} | {h['under_provisioned_minutes']} | {p['under_provisioned_minutes']} | "
                f"{h['unserved_fraction']:.3%} | {p['unserved_fraction']:.3%} | {h['replica_minutes']:.0f} | "
                f"{p['replica_minutes']:.0f} | {o['replica_minutes']:.0f} | "
                f"{cut(p['under_provisioned_minutes'], h['under_provisioned_minutes'])} | "
                f"{cut(p['unserved_fraction'], h['unserved_fraction'])} | "
                f"{pct(p['replica_minutes'], h['replica_minutes'])} | "
                f"{pct(p['replica_minutes'], o['replica_minutes'])} | {h['scaling_actions']}/{p['scaling_actions']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--traffic", type=Path, default=HERE.parent.parent / "shared" / "data" / "traffic")
    ap.add_argument("--model", default="lstm", choices=("lstm", "holt-winters", "seasonal-naive"))
    ap.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}"
    )
    ap.add_argument("--replay-fraction", type=float, default=0.2, help="last part of each trace replayed")
    ap.add_argument("--only", help="comma-separated trace names")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for replay.md/json/png")
    ap.add_argument(
        "--render-only", action="store_true", help="rewrite replay.md from the replay.json already in --out"
    )
    args = ap.parse_args()
    if args.render_only:
        saved = json.loads((args.out / "replay.json").read_text())
        text = report(saved["results"], model=saved["model"], replay_fraction=saved["replay_fraction"])
        (args.out / "replay.md").write_text(text)
        print(text)
        return 0
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    if not 0 < args.replay_fraction < 1:
        ap.error("--replay-fraction must be in (0, 1)")
    args.out.mkdir(parents=True, exist_ok=True)
    series = traces(args.traffic)
    if args.only:
        series = {k: v for k, v in series.items() if k in args.only.split(",")}
    results = {}
    for name, s in series.items():
        t0 = time.perf_counter()
        results[name] = run_one(
            name, s, model=args.model, variants=variants, replay_fraction=args.replay_fraction, out=args.out
        )
        print(f"{name}: {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    text = report(results, model=args.model, replay_fraction=args.replay_fraction)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "replay.md").write_text(text)
    saved = {"model": args.model, "replay_fraction": args.replay_fraction, "results": results}
    (out / "replay.json").write_text(json.dumps(saved, indent=2, default=str))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
