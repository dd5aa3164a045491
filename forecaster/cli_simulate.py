"""``forecaster simulate``: replay a trace against the HPA, the prescaler + HPA and the oracle; print, JSON, plot.

Thin: read the trace (CSV or a Prometheus range), fit the forecaster on the part before the replay, build the
configs from the flags, call :func:`forecaster.simulate.replay`. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from forecaster.errors import ConfigError, DataError

__all__ = [
    "add_parser",
    "run",
    "make_forecast_fn",
    "model_quantiles",
    "build_config",
    "read_trace",
    "replay_inputs",
    "MODELS",
]

MODELS = ("lstm", "holt-winters", "seasonal-naive")
REPLAY_EPOCHS = 8


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay a load trace: HPA alone vs prescaler + HPA vs a perfect-foresight oracle",
        description="Replays a trace minute by minute against a Deployment + HPA model. Capacity is ready pods x "
        "--capacity-per-replica (the load one pod serves at full use); a minute is under-provisioned when the "
        "load exceeds it. The HPA keeps pods at --target-utilisation of that capacity; the prescaler's floor "
        "plans at full capacity (plus --headroom).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", type=Path, help="the load trace (timestamp,value)")
    src.add_argument("--prometheus-config", type=Path, help="target config YAML: the trace from Prometheus")
    p.add_argument("--start", help="with --prometheus-config: range start (ISO time)")
    p.add_argument("--end", help="with --prometheus-config: range end (ISO time)")
    p.add_argument(
        "--capacity-per-replica", type=float, required=True, help="load one pod serves at full use"
    )
    p.add_argument("--pod-startup", default="3m", help="scheduling to ready (default 3m)")
    p.add_argument("--train-fraction", type=float, default=0.5, help="first part of the trace to train on")
    p.add_argument("--model", choices=MODELS, default="lstm", help="forecaster used by the prescaler")
    p.add_argument(
        "--model-quantiles",
        help="quantiles the model is trained to predict, e.g. p50,p90 (default: p50 and --quantile); "
        "the same set gives the same forecasts, so `forecaster tune` passes it",
    )
    p.add_argument("--retrain-daily", action="store_true", help="refit the model every day of the replay")
    p.add_argument("--epochs", type=int, help="LSTM epochs (default from the training settings)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    p.add_argument("--plot", type=Path, help="write a PNG of load, capacity and forecast band here")
    p.add_argument(
        "--timeline",
        type=Path,
        help="write one CSV row per replayed minute here: timestamp, load, and each run's ready capacity",
    )
    p.add_argument(
        "--events",
        type=Path,
        help="calendar of scheduled events (CSV or YAML) the LSTM trains and forecasts with (--model lstm)",
    )
    h = p.add_argument_group("HPA")
    h.add_argument(
        "--target-utilisation",
        type=float,
        default=1.0,
        help="the HPA's target as a fraction of --capacity-per-replica (default 1.0; 0.7 keeps 30%% spare); "
        "`forecaster tune` picks it with the policy",
    )
    h.add_argument("--min-replicas", type=int, default=1)
    h.add_argument("--max-replicas", type=int, default=100)
    h.add_argument("--tolerance", type=float, default=0.1)
    h.add_argument("--sync-period", default="15s")
    h.add_argument("--metric-window", default="1m")
    h.add_argument("--metric-lag", default="1m")
    h.add_argument("--hpa-scale-down-window", default="5m", help="HPA scale-down stabilisation")
    h.add_argument("--hpa-scale-up-pods", type=int, default=4, help="scale-up policy: pods per period")
    h.add_argument(
        "--hpa-scale-up-percent", type=int, default=100, help="scale-up policy: percent per period"
    )
    h.add_argument("--hpa-scale-up-period", default="15s")
    h.add_argument("--hpa-scale-down-percent", type=int, default=100)
    h.add_argument("--hpa-scale-down-period", default="15s")
    s = p.add_argument_group("prescaler policy")
    s.add_argument(
        "--plan",
        choices=("peak", "rise", "shift"),
        default="shift",
        help="see forecaster.scaling (default shift: the load at the lead-time horizon, the measured best as "
        "an HPA floor, bench/results/replay.md)",
    )
    s.add_argument("--quantile", default="p90")
    s.add_argument(
        "--quantile-outside-events",
        default=None,
        help="with --events: the quantile planned at forecast steps no calendar entry reaches (e.g. p80; "
        "default: --quantile everywhere); the policy field quantileOutsideEvents",
    )
    s.add_argument(
        "--event-lookahead",
        default="0",
        help="with --events: at the steps a calendar entry reaches, plan the largest of those steps up to this "
        "long ahead (e.g. 3m; default 0, off); the policy field eventLookahead",
    )
    s.add_argument(
        "--event-lookbehind",
        default="0",
        help="with --events: ... and up to this long before (e.g. 2m; default 0, off); the policy field "
        "eventLookbehind",
    )
    s.add_argument(
        "--event-band-scale",
        type=float,
        default=1.0,
        help="with --events: at those steps plan p50 + this x (quantile - p50) (e.g. 1.15; default 1, the "
        "quantile itself); the policy field eventBandScale",
    )
    s.add_argument("--headroom", type=float, default=0.0, help="fraction, 0.1 = +10%%")
    s.add_argument("--lead-time", help="default: the pod start-up")
    s.add_argument("--interval", default="1m")
    s.add_argument(
        "--stabilization",
        default="0",
        help="prescaler scale-down stabilisation (default 0: with plan shift the HPA's own stabilisation "
        "keeps the pods it still needs; measured in bench/results/replay.md)",
    )
    s.add_argument("--max-step-down", type=int, default=0, help="replicas per --step-down-period (0 = any)")
    s.add_argument("--step-down-period", default="1m")
    s.add_argument("--rise-threshold", type=float, default=0.0)
    s.add_argument(
        "--max-over-median",
        type=float,
        default=0.0,
        help="cap the planned quantile at p50 x (1 + this); 0 = no cap",
    )
    n = p.add_argument_group("node group")
    n.add_argument("--pods-per-node", type=int, default=0, help="0 = no node model")
    n.add_argument("--node-startup", default="5m")
    p.set_defaults(func=run)


def _seconds(text: str, flag: str, *, zero_ok: bool = False) -> float:
    from forecaster.series import parse_duration

    if zero_ok and str(text).strip() in ("0", "0s", "0m"):
        return 0.0
    try:
        return parse_duration(text).total_seconds()
    except DataError as exc:
        raise ConfigError(f"{flag}: {exc.problem}", hint=exc.hint) from exc


def build_config(args: argparse.Namespace) -> Any:
    """ReplayConfig from the parsed flags."""
    from forecaster.hpa import HPAConfig, HPAPolicy, HPARules
    from forecaster.predictors import parse_quantile_label
    from forecaster.simulate import ClusterConfig, ReplayConfig

    pod_startup_s = _seconds(args.pod_startup, "--pod-startup", zero_ok=True)
    up_period = _seconds(args.hpa_scale_up_period, "--hpa-scale-up-period")
    down_period = _seconds(args.hpa_scale_down_period, "--hpa-scale-down-period")
    hpa = HPAConfig(
        capacity_per_replica=args.capacity_per_replica,
        target_utilisation=args.target_utilisation,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        tolerance=args.tolerance,
        sync_period_s=_seconds(args.sync_period, "--sync-period"),
        metric_window_s=_seconds(args.metric_window, "--metric-window"),
        metric_lag_s=_seconds(args.metric_lag, "--metric-lag", zero_ok=True),
        scale_up=HPARules(
            0.0,
            (
                HPAPolicy("Percent", args.hpa_scale_up_percent, up_period),
                HPAPolicy("Pods", args.hpa_scale_up_pods, up_period),
            ),
        ),
        scale_down=HPARules(
            _seconds(args.hpa_scale_down_window, "--hpa-scale-down-window", zero_ok=True),
            (HPAPolicy("Percent", args.hpa_scale_down_percent, down_period),),
        ),
    )
    try:
        quantile = parse_quantile_label(args.quantile)
    except DataError as exc:
        raise ConfigError(f"--quantile: {exc.problem}", hint="e.g. p90") from exc
    outside = getattr(args, "quantile_outside_events", None)
    if outside is not None:
        if getattr(args, "events", None) is None:
            raise ConfigError(
                "--quantile-outside-events needs --events (without a calendar every step is planned on --quantile)",
                hint="give the calendar with --events FILE, or drop --quantile-outside-events",
            )
        try:
            outside = parse_quantile_label(outside)
        except DataError as exc:
            raise ConfigError(f"--quantile-outside-events: {exc.problem}", hint="e.g. p80") from exc
    event_flags = {
        "--event-lookahead": _seconds(
            getattr(args, "event_lookahead", "0"), "--event-lookahead", zero_ok=True
        ),
        "--event-lookbehind": _seconds(
            getattr(args, "event_lookbehind", "0"), "--event-lookbehind", zero_ok=True
        ),
        "--event-band-scale": float(getattr(args, "event_band_scale", 1.0)),
    }
    unused = [flag for flag, v in event_flags.items() if v != (1.0 if flag == "--event-band-scale" else 0.0)]
    if unused and getattr(args, "events", None) is None:
        raise ConfigError(
            f"{unused[0]} needs --events (without a calendar no forecast step is an event step)",
            hint=f"give the calendar with --events FILE, or drop {unused[0]}",
        )
    try:
        policy = _policy(args, quantile, outside, event_flags, pod_startup_s)
    except ConfigError as exc:  # the policy's own range checks, told with the flag a user typed
        fields = {
            "event_lookahead_s": "--event-lookahead",
            "event_lookbehind_s": "--event-lookbehind",
            "event_band_scale": "--event-band-scale",
        }
        for field, flag in fields.items():
            if exc.problem.startswith(f"scaling policy: {field} "):
                raise ConfigError(
                    flag + exc.problem.removeprefix(f"scaling policy: {field}"), hint=exc.hint
                ) from exc
        raise
    cluster = ClusterConfig(
        pod_startup_s=pod_startup_s,
        pods_per_node=args.pods_per_node,
        node_startup_s=_seconds(args.node_startup, "--node-startup", zero_ok=True),
    )
    return ReplayConfig(hpa=hpa, policy=policy, cluster=cluster, seed=args.seed)


def _policy(
    args: argparse.Namespace, quantile: float, outside: float | None, event_flags: dict, pod_startup_s: float
) -> Any:
    """The prescaler policy from the parsed flags (its own checks raise ConfigError)."""
    from forecaster.scaling import ScalingPolicy

    return ScalingPolicy(
        capacity_per_replica=args.capacity_per_replica,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        quantile=quantile,
        quantile_outside_events=outside,
        event_lookahead_s=event_flags["--event-lookahead"],
        event_lookbehind_s=event_flags["--event-lookbehind"],
        event_band_scale=event_flags["--event-band-scale"],
        headroom=args.headroom,
        lead_time_s=_seconds(args.lead_time, "--lead-time") if args.lead_time else pod_startup_s,
        interval_s=_seconds(args.interval, "--interval"),
        scale_down_stabilization_s=_seconds(args.stabilization, "--stabilization", zero_ok=True),
        scale_down_max_step=args.max_step_down,
        scale_down_period_s=_seconds(args.step_down_period, "--step-down-period"),
        plan=args.plan,
        rise_threshold=args.rise_threshold,
        max_over_median=args.max_over_median,
    )


def model_quantiles(text: str | None, *, planned: float) -> tuple[float, ...]:
    """The quantiles the replay's model predicts: ``--model-quantiles`` (which must hold the planned one), or
    p50 and the planned quantile."""
    from forecaster.predictors import parse_quantile_label, quantile_label

    if not text:
        return tuple(sorted({0.5, planned}))
    try:
        qs = tuple(sorted({parse_quantile_label(part.strip()) for part in text.split(",") if part.strip()}))
    except DataError as exc:
        raise ConfigError(f"--model-quantiles: {exc.problem}", hint="e.g. p50,p90") from exc
    if planned not in qs:
        raise ConfigError(
            f"--model-quantiles {text} does not include the planned quantile {quantile_label(planned)}",
            hint=f"add {quantile_label(planned)}, or plan on one of them with --quantile",
        )
    return tuple(sorted(set(qs) | {0.5}))


def make_forecast_fn(
    native: pd.Series,
    *,
    split: pd.Timestamp,
    model: str,
    quantiles: tuple[float, ...] = (0.5, 0.9),
    retrain_daily: bool = False,
    epochs: int | None = None,
    seed: int = 0,
    events: Any = None,
) -> Any:
    """Fit ``model`` on the native-step trace before ``split`` and wrap it as the replay's forecast_fn.

    ``events`` (a :class:`~forecaster.events.Calendar`, LSTM only): trained on and read at every forecast;
    with the model's event profile, its entries are judged again at every replayed minute
    (:func:`forecaster.event_profile.judged_by_minute`; not with ``retrain_daily``, whose profile changes daily).
    """
    from forecaster.events import bind_calendar
    from forecaster.simulate import predictor_forecasts

    if events is not None and model != "lstm":
        raise ConfigError(f"--events needs --model lstm ({model} reads no calendar)", hint="use --model lstm")

    step = (
        pd.Timedelta(native.index.freq)
        if native.index.freq is not None
        else native.index[1] - native.index[0]
    )
    horizon = max(1, int(pd.Timedelta(minutes=30) / step))
    qs = tuple(sorted(set(quantiles) | {0.5}))

    def fit(train: pd.Series) -> Any:
        if len(train) < 3:
            raise DataError(
                "simulate: no history before the replay to train on", hint="raise --train-fraction"
            )
        if model == "lstm":
            import torch

            from forecaster.settings import ModelSettings, TrainSettings
            from forecaster.training import fit_forecaster

            # One thread: replays run beside other work, and a small LSTM gains little from more.
            torch.set_num_threads(1)
            # A few epochs on a bounded sample: the replay needs a forecaster like the nightly one, quickly.
            train_settings = TrainSettings(
                seed=seed, epochs=REPLAY_EPOCHS if epochs is None else epochs, max_windows_per_epoch=8000
            )
            fitted = fit_forecaster(
                train,
                model=ModelSettings(quantiles=qs),
                train=train_settings,
                name="replay",
                progress=False,
                events=events,
            )
            return bind_calendar(fitted, events)
        from forecaster.predictors import HoltWinters, SeasonalNaive

        cls = HoltWinters if model == "holt-winters" else SeasonalNaive
        need = pd.Timedelta(days=2 if cls is HoltWinters else 1) + step * horizon
        if train.index[-1] - train.index[0] < need:
            raise DataError(
                f"simulate: {model} needs {need} of history before the replay",
                hint="raise --train-fraction or give a longer trace",
            )
        return cls(step=step, horizon_steps=horizon, quantiles=qs).fit(train)

    first = fit(native.loc[native.index < split])
    fn = predictor_forecasts(
        first,
        native,
        start=split,
        refit=fit if retrain_daily else None,
        refit_every=pd.Timedelta(days=1) if retrain_daily else None,
    )
    if events is None:
        return fn
    from forecaster.event_profile import judged_by_minute, marking_event_steps

    profile = getattr(first, "event_profile", None)
    if profile is not None and not retrain_daily:
        # The replay reads the load every minute: judge each calendar entry (started, late, cancelled) from
        # every minute, not only at the model's origins, as bench/events.py measures it.
        fn = judged_by_minute(fn, profile=profile, calendar=events)
    # The steps the calendar's entries reach, for --quantile-outside-events (as the live prescaler marks them).
    return marking_event_steps(fn, events, profile=profile if not retrain_daily else None)


def read_trace(args: argparse.Namespace) -> pd.Series:
    if args.csv is not None:
        from forecaster.sources.files import read_series

        return read_series(args.csv)
    try:
        from forecaster.settings import load_target_config
        from forecaster.sources.prometheus import PrometheusSource
    except ModuleNotFoundError as exc:  # pragma: no cover - shipped together
        raise ConfigError("this build has no Prometheus source", hint="use --csv") from exc
    if not args.start or not args.end:
        raise ConfigError(
            "--prometheus-config needs --start and --end", hint="e.g. --start 2026-01-01 --end 2026-01-15"
        )
    cfg = load_target_config(args.prometheus_config)
    with PrometheusSource(cfg.prometheus) as source:
        return source.fetch(start=pd.Timestamp(args.start), end=pd.Timestamp(args.end))


def format_table(result_dict: dict[str, Any]) -> str:
    runs = result_dict["runs"]
    rows = [
        ("under-provisioned minutes", "under_provisioned_minutes", "{:.0f}"),
        ("unserved load", "unserved_fraction", "{:.3%}"),
        ("replica-minutes", "replica_minutes", "{:.0f}"),
        ("node-minutes", "node_minutes", "{:.0f}"),
        ("scaling actions", "scaling_actions", "{:.0f}"),
        ("mean utilisation", "mean_utilisation", "{:.1%}"),
    ]
    names = list(runs)
    lines = [f"{'':28}" + "".join(f"{n:>16}" for n in names)]
    for label, key, fmt in rows:
        lines.append(f"{label:28}" + "".join(f"{fmt.format(runs[n][key]):>16}" for n in names))
    return "\n".join(lines)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".simulate-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=str)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as CSV atomically: a half-written timeline never replaces a whole one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".timeline-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            frame.to_csv(f, index=False, float_format="%.6g")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def replay_inputs(args: argparse.Namespace) -> tuple[pd.Series, pd.Series, pd.Timestamp]:
    """(native trace, 1-minute replay trace, replay start) from ``--csv``/``--prometheus-config`` and
    ``--train-fraction``; ``forecaster tune`` uses the same so its ``simulate_flags`` replay the same range."""
    from forecaster.simulate import prepare_trace

    if not 0 < args.train_fraction < 1:
        raise ConfigError(f"--train-fraction must be in (0, 1), got {args.train_fraction}", hint="e.g. 0.5")
    native = read_trace(args)
    if native.isna().any():
        raise DataError(
            f"the trace has {int(native.isna().sum())} points missing in long gaps",
            hint="replay a range without long gaps",
        )
    trace = prepare_trace(native, name=str(args.csv or args.prometheus_config))
    split = native.index[int(len(native) * args.train_fraction)]
    return native, trace, split


def run(args: argparse.Namespace) -> int:
    from forecaster.simulate import replay

    config = build_config(args)
    native, trace, split = replay_inputs(args)
    events = None
    if getattr(args, "events", None) is not None:
        from forecaster.events import read_calendar

        events = read_calendar(args.events)
    forecast_fn = make_forecast_fn(
        native,
        split=split,
        model=args.model,
        quantiles=model_quantiles(args.model_quantiles, planned=config.policy.quantile),
        retrain_daily=args.retrain_daily,
        epochs=args.epochs,
        seed=args.seed,
        events=events,
    )
    result = replay(trace, config=config, forecast_fn=forecast_fn, replay_start=split)
    out = result.to_dict()
    out["model"] = args.model
    if events is not None:
        out["events"] = events.summary(now=split)
    calendar_note = f", calendar {args.events} ({len(events)} events)" if events is not None else ""
    print(
        f"replay {out['start']} .. {out['end']} ({out['minutes']} minutes), forecasts: {args.model}{calendar_note}"
    )
    print(format_table(out))
    if args.json:
        _write_json(args.json, out)
    if args.timeline:
        _write_csv(args.timeline, result.timeline())
        print(f"timeline: {args.timeline}")
    if args.plot:
        from forecaster.plots_replay import plot_replay

        plot_replay(result, args.plot, title=f"replay of {args.csv or args.prometheus_config}")
    return 0
