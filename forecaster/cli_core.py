"""Subcommands of the forecasting core: ``train``, ``predict``, ``backtest``, ``demo``.

Thin: parse arguments, call the pure core and the sources, print. Heavy imports happen inside ``run_*``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from forecaster.errors import ConfigError

__all__ = ["add_parser", "resolve_model_dir"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (from Prometheus with --config, or from a CSV)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--config", type=Path, help="target config YAML (training/<target>.yaml): history from Prometheus"
    )
    src.add_argument("--csv", type=Path, help="history from a CSV/Parquet file (timestamp,value)")
    src.add_argument(
        "--all",
        action="store_true",
        help="every declared target this shard owns (--targets DIR or --from-cluster), one after another; "
        "one target's failure never stops the others (exit 3 when some failed, after all ran)",
    )
    fleet = p.add_argument_group("--all: where targets are declared and which shard this is")
    where = fleet.add_mutually_exclusive_group()
    where.add_argument(
        "--targets", type=Path, metavar="DIR", help="directory of target YAMLs or ForecastTargets (training/)"
    )
    where.add_argument(
        "--from-cluster",
        action="store_true",
        help="ForecastTarget resources in --namespace; each one's status records the run",
    )
    fleet.add_argument(
        "--shard",
        metavar="I/N",
        help="train the targets whose SHA-256 name hash mod N is I (default: from JOB_COMPLETION_INDEX and "
        "JOB_COMPLETIONS, else all)",
    )
    fleet.add_argument(
        "--jobs",
        type=int,
        metavar="K",
        help="train K targets at once, each in a worker process (default: the CPUs this process may use, "
        "from its affinity and cgroup CPU quota)",
    )
    fleet.add_argument("--namespace", help="namespace of the ForecastTargets (default: the pod's own)")
    fleet.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster config, else ~/.kube/config)"
    )
    p.add_argument(
        "--out",
        help="model store: a directory or s3://bucket/prefix (default: the config's store, or ./models)",
    )
    p.add_argument("--target", help="target name for --csv (default: the file name)")
    p.add_argument(
        "--events",
        type=Path,
        help="calendar of scheduled events (CSV with a header start,kind,end,expected, or YAML); with "
        "--config it replaces the config's events: section",
    )
    p.add_argument("--horizon", help="forecast horizon, e.g. 30m (default from config, else 30m)")
    p.add_argument("--lookback", help="history the model reads, e.g. 2h")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--on-duplicate",
        choices=["error", "mean", "last"],
        default="error",
        help="what to do with duplicated timestamps in a file",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plot", type=Path, help="write the promotion backtest plot to this PNG")
    p.set_defaults(func=run_train)

    p = sub.add_parser("predict", help="forecast the steps after the last timestamp of a history")
    p.add_argument(
        "--model",
        type=Path,
        required=True,
        help="a model version directory, a target directory, or a store with one target",
    )
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument(
        "--events",
        type=Path,
        help="calendar of scheduled events (CSV with a header start,kind,end,expected, or YAML)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--on-duplicate", choices=["error", "mean", "last"], default="error")
    p.set_defaults(func=run_predict)

    p = sub.add_parser("backtest", help="rolling-origin evaluation of a model and the baselines")
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--model", type=Path, help="model to evaluate (default: train one on the first part)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="last part of the series to evaluate on")
    p.add_argument("--every", default="1h", help="distance between forecast origins")
    p.add_argument("--epochs", type=int, help="epochs when training here")
    p.add_argument(
        "--events",
        type=Path,
        help="calendar of scheduled events (CSV with a header start,kind,end,expected, or YAML)",
    )
    p.add_argument("--plot", type=Path, default=Path("backtest.png"))
    p.add_argument("--json", type=Path, help="also write the scores as JSON")
    p.add_argument("--on-duplicate", choices=["error", "mean", "last"], default="error")
    p.set_defaults(func=run_backtest)

    p = sub.add_parser(
        "demo", help="the main job on synthetic live-streaming traffic: no Prometheus, no cluster"
    )
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="where the store, plot and CSV go")
    p.add_argument("--days", type=float, default=21)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--no-events",
        action="store_true",
        help="the old scenario (a show at the same time every day) and one model, without a calendar",
    )
    p.set_defaults(func=run_demo)


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def _settings_for_csv(args: argparse.Namespace, name: str):
    from forecaster.settings import ModelSettings, TargetConfig, TrainSettings, target_config_from_dict

    model = ModelSettings()
    train = TrainSettings()
    cfg = TargetConfig(name=name, model=model, train=train, store=args.out or "models")
    data = cfg.to_dict()
    if args.horizon:
        data["model"]["horizon"] = args.horizon
    if getattr(args, "lookback", None):
        data["model"]["lookback"] = args.lookback
    if args.epochs is not None:
        data["train"]["epochs"] = args.epochs
    if args.seed is not None:
        data["train"]["seed"] = args.seed
    return target_config_from_dict(data, source="command line")


def _read_events(path: Path | None):
    """The calendar file given on the command line, or None."""
    if path is None:
        return None
    from forecaster.events import read_calendar

    calendar = read_calendar(path)
    print(
        f"calendar: {len(calendar)} events of kind(s) {', '.join(calendar.kinds) or '-'} from {path}"
        + (
            f" ({calendar.duplicates} duplicate(s) dropped, {calendar.overlapping} overlapping)"
            if calendar.duplicates or calendar.overlapping
            else ""
        )
    )
    return calendar


def _target_name(path: Path) -> str:
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")[:63].strip("-")
    return name or "target"


def _print_table(result) -> None:  # noqa: ANN001
    table = result.table()
    cols = ["wape", "wape_last", "mase", "coverage", "peak_miss", "peak_miss_p50", "origins"]
    print(table[cols].to_string(float_format=lambda v: f"{v:.3f}" if not math.isnan(v) else "-"))


def run_train(args: argparse.Namespace) -> int:
    from forecaster.promotion import train_target
    from forecaster.settings import load_target_config
    from forecaster.store import ModelStore

    if args.all:
        from forecaster.cli_fleet import run_train_all

        return run_train_all(args)
    for flag in ("targets", "from_cluster", "shard", "jobs", "namespace", "kubeconfig"):
        if getattr(args, flag):
            raise ConfigError(
                f"--{flag.replace('_', '-')} goes with --all", hint="add --all, or leave it out"
            )
    if args.config:
        cfg = load_target_config(args.config)
        overrides = {
            k: getattr(args, k) for k in ("horizon", "epochs", "seed", "lookback") if getattr(args, k)
        }
        if overrides:
            from forecaster.settings import target_config_from_dict

            data = cfg.to_dict()
            for key, value in overrides.items():
                section = "train" if key in {"epochs", "seed"} else "model"
                data[section][key] = value
            cfg = target_config_from_dict(data, source=str(args.config))
        from forecaster.sources.prometheus import fetch_history

        now = _now()
        series = fetch_history(cfg.prometheus, now=now)
        store_root = args.out or cfg.store
        events = _read_events(args.events)
        if events is None and cfg.events.enabled:
            from forecaster.sources.calendar import load_calendar

            events = load_calendar(cfg.events, prometheus=cfg.prometheus, now=now)
    else:
        from forecaster.sources.files import read_series

        name = args.target or _target_name(args.csv)
        cfg = _settings_for_csv(args, name)
        series = read_series(args.csv, duplicates=args.on_duplicate)
        store_root = args.out or "models"
        now = _now()
        events = _read_events(args.events)
    store = ModelStore(store_root)
    result = train_target(
        cfg,
        series,
        store=store,
        now=now,
        progress=not args.no_progress and sys.stderr.isatty(),
        events=events,
    )
    cold = (result.saved.manifest.get("training") or {}).get("cold_start") or {}
    if cold.get("reason"):
        print(f"cold start: {cold['reason']}")
    _print_table(result.backtest)
    if args.plot:
        from forecaster.plots import plot_backtest

        plot_backtest(
            result.backtest, args.plot, model="candidate", baseline="seasonal_naive_daily", title=cfg.name
        )
        print(f"plot: {args.plot}")
    print(result.summary())
    print(f"stored at: {result.saved.location}")
    return 0


def resolve_model_dir(path: Path) -> Path:
    """A model version directory from: itself, a target directory (its current), or a one-target store."""
    from forecaster.store import resolve_model_dir as resolve

    return resolve(path)


def run_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from forecaster.model import Forecaster
    from forecaster.series import require_finite_forecast
    from forecaster.sources.files import read_series

    model = Forecaster.load(resolve_model_dir(args.model))
    # A history at another step is refused, as POST /v1/forecast does, rather than snapped onto the model's.
    history = read_series(args.csv, step=model.step, duplicates=args.on_duplicate)
    events = _read_events(args.events) if args.events else None
    with np.errstate(over="ignore", invalid="ignore"):  # checked below, and said in one line
        forecast = require_finite_forecast(model.predict(history, events=events), history=history)
    if args.json:
        out = {
            "model": model.name,
            "step_s": model.step.total_seconds(),
            "history_end": history.index[-1].isoformat(),
            "note": forecast.attrs.get("note"),
            "forecast": [
                {"timestamp": ts.isoformat(), **{c: round(float(v), 6) for c, v in row.items()}}
                for ts, row in forecast.iterrows()
            ],
        }
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(forecast.to_string(float_format=lambda v: f"{v:.2f}"))
        if forecast.attrs.get("note"):
            print(f"note: {forecast.attrs['note']}")
    return 0


def run_backtest(args: argparse.Namespace) -> int:
    from forecaster.evaluation import backtest_against_baselines
    from forecaster.events import bind_calendar
    from forecaster.model import Forecaster
    from forecaster.plots import plot_backtest
    from forecaster.series import parse_duration
    from forecaster.settings import TrainSettings
    from forecaster.sources.files import read_series
    from forecaster.training import fit_forecaster

    if not 0 < args.test_fraction < 1:
        raise ConfigError(f"--test-fraction {args.test_fraction} must be between 0 and 1")
    series = read_series(args.csv, duplicates=args.on_duplicate)
    split = int(len(series) * (1 - args.test_fraction))
    events = _read_events(args.events)
    if args.model:
        model = Forecaster.load(resolve_model_dir(args.model))
        model.name = "lstm"
        if events is not None and model.events is None:
            print("note: the model was trained without a calendar: --events is ignored")
    else:
        train = TrainSettings(epochs=args.epochs or TrainSettings().epochs)
        model = fit_forecaster(
            series.iloc[:split], train=train, name="lstm", progress=sys.stderr.isatty(), events=events
        )
    model = bind_calendar(model, events)
    result = backtest_against_baselines(model, series, split=split, every=parse_duration(args.every))
    _print_table(result)
    best = result.best_baseline(exclude=("lstm",))
    plot_backtest(result, args.plot, model="lstm", baseline=best, title=str(args.csv))
    print(f"plot: {args.plot}")
    if args.json:
        args.json.write_text(json.dumps({n: s.to_dict() for n, s in result.scores.items()}, indent=2))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    if args.no_events:
        return _run_demo_plain(args)
    return _run_demo_events(args)


def _run_demo_events(args: argparse.Namespace) -> int:
    """Synthetic traffic with irregularly scheduled streams: one model with the calendar, one without."""
    from forecaster.event_scores import event_window_wape
    from forecaster.events import bind_calendar, calendar_to_csv
    from forecaster.plots import plot_backtest
    from forecaster.promotion import train_target
    from forecaster.settings import TargetConfig, TrainSettings
    from forecaster.sources.files import write_csv
    from forecaster.sources.synthetic import live_streaming_events
    from forecaster.store import ModelStore

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"1/4 generating {args.days:g} days of synthetic live-streaming traffic with scheduled streams "
        f"(1-minute steps, seed {args.seed})"
    )
    scenario = live_streaming_events(days=args.days, step="1m", seed=args.seed)
    series, calendar = scenario.series, scenario.calendar
    write_csv(series, out / "live-streaming.csv")
    (out / "events.csv").write_text(calendar_to_csv(calendar))
    print(
        f"    calendar: {len(calendar)} entries ({', '.join(f'{k} {n}' for k, n in calendar.summary()['kinds'].items())}); "
        f"{len(scenario.cancelled)} cancelled, {sum(1 for e in scenario.actual_starts)} streamed, "
        f"{len(scenario.surprises)} unannounced spikes"
    )
    backtest = "3d" if args.days >= 12 else "1d"
    store = ModelStore(out / "models")
    progress = not args.no_progress and sys.stderr.isatty()
    results = {}
    for name, events in (("live-streaming", calendar), ("live-streaming-no-calendar", None)):
        cfg = TargetConfig(
            name=name, train=TrainSettings(epochs=args.epochs, seed=args.seed, backtest=backtest)
        )
        print(
            f"2/4 training {name} on all but the last {backtest} ({'with' if events else 'without'} the calendar)"
        )
        results[name] = train_target(cfg, series, store=store, now=_now(), progress=progress, events=events)
    print("3/4 backtests against the baselines (30-minute forecasts every hour)")
    for name, result in results.items():
        print(f"--- {name}")
        _print_table(result.backtest)
    print(
        "    WAPE (p50) in the 30 minutes after each scheduled start, from every origin up to 30 minutes before:"
    )
    for name, result in results.items():
        model = bind_calendar(store.load(name, result.saved.version), calendar)
        split = int(min(result.backtest.origins))  # the held-out range the backtest scored
        score = event_window_wape(model, series, calendar, start=split, stride=5)
        print(
            f"    {name:28} in windows {score.wape_in_windows:.3f}   elsewhere {score.wape_outside:.3f}   "
            f"({score.events} scheduled starts)"
        )
    main = results["live-streaming"]
    plot = plot_backtest(
        main.backtest,
        out / "backtest.png",
        model="candidate",
        baseline="holt_winters",
        title="forecaster demo: synthetic live-streaming traffic with a calendar, 30-minute forecasts every hour",
        events=calendar,
    )
    for name, result in results.items():
        print(f"4/4 {name}: {result.summary()}")
    print(f"model: {main.saved.location}")
    print(f"plot:  {plot} (scheduled starts marked, one colour per kind)")
    print(
        f"try:   forecaster predict --model {out / 'models' / 'live-streaming'} --csv {out / 'live-streaming.csv'} "
        f"--events {out / 'events.csv'}"
    )
    return 0


def _run_demo_plain(args: argparse.Namespace) -> int:
    from forecaster.plots import plot_backtest
    from forecaster.promotion import train_target
    from forecaster.settings import TargetConfig, TrainSettings
    from forecaster.sources.files import write_csv
    from forecaster.sources.synthetic import live_streaming
    from forecaster.store import ModelStore

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"1/4 generating {args.days:g} days of synthetic live-streaming traffic (1-minute steps, seed {args.seed})"
    )
    series = live_streaming(days=args.days, step="1m", seed=args.seed)
    write_csv(series, out / "live-streaming.csv")
    cfg = TargetConfig(
        name="live-streaming", train=TrainSettings(epochs=args.epochs, seed=args.seed, backtest="3d")
    )
    print("2/4 training the LSTM on all but the last 3 days; 3/4 backtesting it against the baselines")
    store = ModelStore(out / "models")
    result = train_target(
        cfg, series, store=store, now=_now(), progress=not args.no_progress and sys.stderr.isatty()
    )
    _print_table(result.backtest)
    plot = plot_backtest(
        result.backtest,
        out / "backtest.png",
        model="candidate",
        baseline="holt_winters",
        title="forecaster demo: synthetic live-streaming traffic, 30-minute forecasts every hour",
    )
    print(f"4/4 {result.summary()}")
    print(f"model: {result.saved.location}")
    print(f"plot:  {plot}")
    print(f"try:   forecaster predict --model {out / 'models'} --csv {out / 'live-streaming.csv'}")
    return 0
