"""``forecaster tune``: replay a workload's own history over a grid of policies and recommend the cheapest that
meets an SLO; print the HPA-alone and prescaler + HPA frontiers side by side, write JSON and a plot.

Thin: read the trace and fit the forecaster exactly as ``forecaster simulate`` does (so the recommended point's
``simulate_flags`` replay the same range with the same forecasts), compute the forecasts once, and call
:func:`forecaster.tuning.tune`. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from forecaster.cli_simulate import MODELS
from forecaster.errors import ConfigError

__all__ = ["add_parser", "run", "format_frontiers", "margin_line"]

MARGIN_CHOICES = ("hours", "confidence", "prediction", "bootstrap")
"""forecaster.tuning.MARGINS's keys, its default first (spelled out: the heavy imports stay inside run)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="tune the prescaler and the HPA target on a workload's history for an SLO, at the least cost",
        description="Replays the last part of the history (after --train-fraction, the part the forecaster did "
        "not train on) for a grid of settings: the HPA alone at target utilisation 1.0 .. 0.5, and prescaler "
        "policies (plan, quantile, headroom, cap over the median, stabilisation, lead time) on an HPA at 1.0, "
        "0.9 or 0.8. Forecasts are computed once. Recommends the cheapest setting (replica-minutes) whose SLO "
        "rate, with a one-sided upper bound over 2-hour blocks (--margin), is within the SLO; where none is, "
        "dearer settings too (--reach). "
        "--capacity-per-replica is the load one pod serves at full use; the HPA's target is separate. "
        "(No --events yet: an events calendar does not exist in this build.)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", type=Path, help="the load history (timestamp,value)")
    src.add_argument(
        "--config", type=Path, help="a training config (training/X.yaml): its Prometheus query and history"
    )
    p.add_argument(
        "--capacity-per-replica", type=float, required=True, help="load one pod serves at full use"
    )
    p.add_argument("--pod-startup", default="3m", help="scheduling to ready (default 3m)")
    p.add_argument(
        "--slo",
        required=True,
        help="short-minutes=0.5%% (share of minutes with load above ready capacity) or unserved=0.1%% "
        "(share of the load above it)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.9,
        help="one-sided confidence of the SLO margin, 0.5 .. 0.95 (default 0.9; 0.5 = no margin)",
    )
    p.add_argument(
        "--margin",
        choices=MARGIN_CHOICES,
        default=MARGIN_CHOICES[0],
        help=f"the bound the SLO must hold on (default {MARGIN_CHOICES[0]}): hours (the mean rate's, over 2-hour "
        "blocks), confidence (the same over whole days), prediction (the rate of a next period as long as the one "
        "tuned on, over days: sqrt(2) wider), bootstrap (resampled 2-hour blocks)",
    )
    p.add_argument(
        "--grid",
        choices=("default", "joint"),
        default="default",
        help="default (26 settings) or joint (34: also the upper quantile on an HPA keeping 30-40%% spare, "
        "held floors, peak on the median; slower)",
    )
    p.add_argument(
        "--reach",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="when nothing in the grid meets the SLO with the margin, also replay dearer settings (the upper "
        "quantile on an HPA keeping up to 60%% spare, plus 20-80%% headroom, the HPA alone at 0.4 and 0.3) "
        "and recommend the cheapest that does (default on; --no-reach: the grid only)",
    )
    p.add_argument(
        "--train-fraction",
        type=float,
        default=0.75,
        help="first part of the history the forecaster trains on; the rest is replayed (default 0.75: "
        "the last week of four)",
    )
    p.add_argument("--model", choices=MODELS, default="lstm", help="forecaster used by the prescaler")
    p.add_argument(
        "--model-quantiles", default="p50,p90", help="quantiles the model predicts and the grid plans on"
    )
    p.add_argument("--epochs", type=int, help="LSTM epochs (default: as forecaster simulate)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-replicas", type=int, default=1)
    p.add_argument("--max-replicas", type=int, default=100)
    p.add_argument("--json", type=Path, help="write the frontier and the recommendation as JSON here")
    p.add_argument("--plot", type=Path, help="write the frontier plot (PNG) here")
    p.set_defaults(func=run)


def _simulate_args(args: argparse.Namespace, *, start: str | None, end: str | None) -> argparse.Namespace:
    """The namespace ``forecaster simulate``'s helpers read (trace source and split)."""
    return argparse.Namespace(
        csv=args.csv,
        prometheus_config=args.config,
        start=start,
        end=end,
        train_fraction=args.train_fraction,
    )


def base_flags(args: argparse.Namespace, *, start: str | None, end: str | None) -> list[str]:
    """The ``forecaster simulate`` flags for the trace, the model and the capacity (every grid point shares them)."""
    flags = ["--csv", str(args.csv)] if args.csv else ["--prometheus-config", str(args.config)]
    if start and end:
        flags += ["--start", start, "--end", end]
    flags += [
        "--capacity-per-replica",
        repr(float(args.capacity_per_replica)),
        "--pod-startup",
        str(args.pod_startup),
        "--train-fraction",
        repr(float(args.train_fraction)),
        "--model",
        args.model,
        "--model-quantiles",
        args.model_quantiles,
        "--seed",
        str(args.seed),
        "--min-replicas",
        str(args.min_replicas),
        "--max-replicas",
        str(args.max_replicas),
    ]
    if args.epochs is not None:
        flags += ["--epochs", str(args.epochs)]
    return flags


def _grid(name: str, quantiles: Any) -> Any:
    from forecaster.tuning import default_grid, joint_grid

    qs = [float(q) for q in quantiles]
    return joint_grid(quantiles=qs) if name == "joint" else default_grid(quantiles=qs)


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def margin_line(result: Any) -> str:
    """How the margin for finite data was set: the rule, its blocks, and what it added to the recommendation."""
    info = result.margin_info()
    added = info["recommended_margin"]
    return (
        f"margin: {info['margin']} bound at {info['confidence']:.0%} over {info['blocks']} blocks of "
        f"{info['block_minutes']:g} minutes ({info['method']}); "
        + (
            f"it adds {_pct(added)} to the recommended setting's rate"
            if added is not None
            else "nothing meets it"
        )
        + f". Why: {info['why']}"
    )


def format_frontiers(result: Any) -> str:
    """The HPA alone (every target) beside the prescaler + HPA Pareto frontier, cheapest first."""
    oracle = result.oracle_replica_minutes

    def cost(p: Any) -> str:
        return f"{(p.replica_minutes / oracle - 1) * 100:+.0f}%" if oracle else "n/a"

    def mark(p: Any) -> str:
        if p is result.recommended:
            return "<- recommended"
        if p is result.hpa_alone:
            return "<- cheapest HPA alone"
        return "meets" if p.meets else ""

    hpa = sorted((p for p in result.points if not p.setting.prescaler), key=lambda p: p.replica_minutes)
    pre = [p for p in result.points if p.setting.prescaler and p.pareto]
    pre.sort(key=lambda p: p.replica_minutes)
    metric = result.slo.metric
    left_w, right_w = 84, 100
    lines = [
        f"{'HPA alone (target utilisation)':{left_w}}| prescaler + HPA (Pareto frontier)",
        f"{'target':8}{'short min':>10}{'unserved':>10}{'vs oracle':>10}{metric + ' (ub)':>24}".ljust(left_w)
        + "| "
        + f"{'setting':34}{'short min':>10}{'unserved':>10}{'vs oracle':>10}{metric + ' (ub)':>20}",
    ]
    for i in range(max(len(hpa), len(pre))):
        left = ""
        if i < len(hpa):
            p = hpa[i]
            left = (
                f"{p.setting.target_utilisation:<8g}{p.short_minutes:>10}{_pct(p.unserved_fraction):>10}"
                f"{cost(p):>10}{_pct(p.rate) + ' (' + _pct(p.rate_upper) + ')':>24} {mark(p)}"
            )
        right = ""
        if i < len(pre):
            p = pre[i]
            right = (
                f"{p.setting.label:34}{p.short_minutes:>10}{_pct(p.unserved_fraction):>10}{cost(p):>10}"
                f"{_pct(p.rate) + ' (' + _pct(p.rate_upper) + ')':>20} {mark(p)}"
            )
        lines.append(f"{left:{left_w}}| {right:{right_w}}".rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from forecaster.cli_simulate import (
        _seconds,
        _write_json,
        make_forecast_fn,
        model_quantiles,
        replay_inputs,
    )
    from forecaster.simulate import precompute_forecasts
    from forecaster.tuning import SLO, tune

    slo = SLO.parse(args.slo)
    if not 0.5 <= args.confidence <= 0.95:
        raise ConfigError(f"--confidence must be in [0.5, 0.95], got {args.confidence}", hint="e.g. 0.9")
    if args.capacity_per_replica is None or not args.capacity_per_replica > 0:
        raise ConfigError(
            f"--capacity-per-replica must be > 0, got {args.capacity_per_replica}",
            hint="the load one pod serves at full use",
        )
    pod_startup_s = _seconds(args.pod_startup, "--pod-startup", zero_ok=True)
    quantiles = model_quantiles(args.model_quantiles, planned=0.5)
    start = end = None
    if args.config is not None:
        from forecaster.series import parse_duration
        from forecaster.settings import load_target_config

        cfg = load_target_config(args.config)
        now = pd.Timestamp.now(tz="UTC").floor("min").tz_localize(None)
        start = (now - parse_duration(cfg.prometheus.history)).isoformat()
        end = now.isoformat()
    sim_args = _simulate_args(args, start=start, end=end)
    native, trace, split = replay_inputs(sim_args)
    print(f"fitting {args.model} on {native.index[0]} .. {split} ...", file=sys.stderr)
    fn = make_forecast_fn(
        native, split=split, model=args.model, quantiles=quantiles, epochs=args.epochs, seed=args.seed
    )
    forecasts = precompute_forecasts(trace, forecast_fn=fn, replay_start=split)

    def progress(i: int, n: int, setting: Any) -> None:
        print(f"  [{i + 1}/{n}] {setting.label}", file=sys.stderr)

    result = tune(
        trace,
        forecasts=forecasts,
        capacity_per_replica=args.capacity_per_replica,
        pod_startup_s=pod_startup_s,
        slo=slo,
        replay_start=split,
        grid=_grid(args.grid, quantiles),
        confidence=args.confidence,
        margin=args.margin,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        progress=progress if sys.stderr.isatty() else None,
        reach=args.reach,
    )
    result.base_flags = base_flags(args, start=start, end=end)
    print(
        f"tuned on {result.start} .. {result.end} ({result.minutes} minutes), SLO {slo}, "
        f"oracle {result.oracle_replica_minutes:.0f} replica-minutes, forecasts: {args.model}"
    )
    print(margin_line(result))
    if result.reached:
        whose = "" if any(p.reach and p.setting.prescaler for p in result.points) else " with the HPA alone"
        print(
            f"reach: nothing in the grid met {slo}{whose} with the margin, so {result.reached} dearer "
            "settings were replayed too (--no-reach: the grid only)"
        )
    print(format_frontiers(result))
    out = result.to_dict()
    out["model"] = args.model
    rec = out["recommended"]
    if rec is None:
        print(
            f"no setting meets {slo} with the margin on this history: relax the SLO, or raise --max-replicas",
            file=sys.stderr,
        )
        if out["nearest"] is not None:
            near = out["nearest"]
            print(
                f"nearest (not recommended): {near['label']}, {slo.metric} {_pct(near['expected']['slo_rate'])} "
                f"(bound {_pct(near['expected']['slo_rate_upper'])}), "
                f"{near['expected']['replica_minutes']:.0f} replica-minutes"
            )
    else:
        print(f"recommended: {rec['label']}")
        print("  reproduce: forecaster simulate " + shlex.join(rec["simulate_flags"]))
        if rec["policy"] is not None:
            print(f"  PrescalePolicy spec: {rec['policy']}")
        print(f"  HPA target utilisation: {rec['hpa']['targetUtilisation']:g}")
    if out["hpa_alone"] is not None:
        h = out["hpa_alone"]
        print(
            f"cheapest HPA alone meeting the SLO: target {h['hpa']['targetUtilisation']:g}, "
            f"{h['expected']['replica_minutes']:.0f} replica-minutes"
        )
    if args.json:
        _write_json(args.json, out)
    if args.plot:
        from forecaster.plots_tune import plot_tuning

        plot_tuning(result, args.plot, title=f"tuning {args.csv or args.config} for {slo}")
    return 0
