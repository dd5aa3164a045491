"""Subcommand ``pretrain``: build the pretrained networks that cold-start targets fine-tune.

Thin: parse arguments, call :func:`forecaster.pretrain.pretrain`, save each variant with the model format
(safetensors + JSON) and rewrite the directory's model card from the manifests there.

    forecaster pretrain --step 5m --out models/_pretrained     # the 5m-daily and 5m-flat networks
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

__all__ = ["add_parser", "write_model_card"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    from forecaster.pretrain import DEFAULT_PRETRAINED_DIR

    p = sub.add_parser(
        "pretrain",
        help="pretrain the cold-start networks on many synthetic series (and optional CSVs)",
    )
    p.add_argument("--step", action="append", help="series step, e.g. 5m (repeatable; default 5m and 1m)")
    p.add_argument(
        "--variant",
        choices=["daily", "flat", "both"],
        default="both",
        help="daily: reads yesterday's values (needs a day + lookback); flat: the lookback only",
    )
    p.add_argument(
        "--out", type=Path, default=DEFAULT_PRETRAINED_DIR, help="directory of pretrained networks"
    )
    p.add_argument("--series", type=int, help="synthetic series in the corpus")
    p.add_argument("--days", type=float, help="days per synthetic series")
    p.add_argument("--windows-per-series", type=int, help="windows drawn from each series")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--csv",
        type=Path,
        nargs="*",
        default=[],
        help="real series to add to the corpus (those at the same step); keep evaluation series out",
    )
    p.add_argument(
        "--targets",
        type=Path,
        help="fleet-wide: also every target declared in this directory, its history fetched from Prometheus "
        "(up to its promotion backtest, which stays unseen)",
    )
    p.add_argument(
        "--from-cluster",
        action="store_true",
        help="fleet-wide: also every ForecastTarget in --namespace (a CronJob's pod: its own namespace)",
    )
    p.add_argument("--namespace", help="with --from-cluster: the ForecastTargets' namespace")
    p.add_argument("--kubeconfig", help="with --from-cluster: outside the cluster")
    p.add_argument("--replace", action="store_true", help="overwrite variants that already exist")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_pretrain)


def run_pretrain(args: argparse.Namespace) -> int:
    import dataclasses

    import pandas as pd
    import torch

    from forecaster.errors import ConfigError
    from forecaster.pretrain import PretrainSettings, pretrain, variant_name
    from forecaster.series import parse_duration
    from forecaster.sources.files import read_series

    torch.set_num_threads(max(1, args.threads))
    steps = [parse_duration(s) for s in (args.step or ["5m", "1m"])]
    variants = {"daily": [True], "flat": [False], "both": [True, False]}[args.variant]
    extra = [read_series(p, duplicates="mean") for p in args.csv]
    if args.targets or args.from_cluster:
        extra += fleet_series(args)
    progress = not args.no_progress and sys.stderr.isatty()
    for step in steps:
        base = PretrainSettings()
        if step < pd.Timedelta(minutes=5):
            # Finer steps: five times the lookback per window; fewer windows keep a run to minutes.
            base = dataclasses.replace(base, series=120, windows_per_series=100)
        changes = {
            k: v
            for k, v in {
                "series": args.series,
                "days": args.days,
                "windows_per_series": args.windows_per_series,
                "epochs": args.epochs,
                "seed": args.seed,
            }.items()
            if v is not None
        }
        settings = dataclasses.replace(base, **changes)
        same_step = [s for s in extra if pd.Timedelta(s.index.freq) == step]
        for daily in variants:
            name = variant_name(step, daily=daily)
            target = args.out / name
            if target.exists() and not args.replace:
                raise ConfigError(f"{target} exists", hint="pass --replace to rebuild it")
            net = pretrain(step=step, daily=daily, settings=settings, extra=same_step, progress=progress)
            given = sys.argv[sys.argv.index("pretrain") + 1 :] if "pretrain" in sys.argv else []
            net.info["pretrained"]["command"] = " ".join(["forecaster pretrain", *given])
            # Written beside it and swapped in: a training run reading the directory meanwhile finds the old
            # network or the new one, never half of one (a fleet's CronJob rewrites it under the trainers).
            fresh = target.with_name(f".{target.name}.new")
            if fresh.exists():
                shutil.rmtree(fresh)
            net.save(fresh)
            if target.exists():
                old = target.with_name(f".{target.name}.old")
                if old.exists():
                    shutil.rmtree(old)
                target.rename(old)
                fresh.rename(target)
                shutil.rmtree(old)
            else:
                fresh.rename(target)
            info = net.info["pretrained"]
            print(
                f"{name}: {info['corpus']['windows']} windows from {info['corpus']['synthetic_series']} synthetic "
                f"+ {info['corpus']['extra_series']} real series, {info['epochs_run']} epochs, validation pinball "
                f"{info['validation_pinball_untrained']:.4f} (persistence start) -> {info['validation_pinball']:.4f}, "
                f"{info['seconds']}s -> {target}"
            )
    write_model_card(args.out)
    print(f"model card: {args.out / 'MODEL_CARD.md'}")
    return 0


def fleet_series(args: argparse.Namespace) -> list:
    """Every declared target's history from Prometheus, up to its promotion backtest (so that the range a
    candidate is judged on stays unseen by the network it starts from). Templates give each of their series.
    A target that cannot be fetched is skipped and named (one target never stops the fleet's pretraining)."""
    import pandas as pd

    from forecaster.cli_fleet import _kube_client, pod_namespace
    from forecaster.errors import ConfigError, ForecasterError
    from forecaster.series import parse_duration
    from forecaster.sources.prometheus import fetch_history, fetch_history_split
    from forecaster.target_sources import ClusterTargetSource, FileTargetSource

    if args.targets and args.from_cluster:
        raise ConfigError("--targets and --from-cluster are exclusive", hint="name one source of targets")
    kube = None
    if args.from_cluster:
        namespace = args.namespace or pod_namespace()
        if not namespace:
            raise ConfigError("no namespace for the ForecastTargets", hint="pass --namespace")
        kube = _kube_client(args.kubeconfig)
        source = ClusterTargetSource(kube, namespace=namespace)
    else:
        source = FileTargetSource(args.targets)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    out: list[pd.Series] = []
    try:
        for entry in source.list():
            cfg = entry.config
            if cfg is None:
                print(f"pretrain: skipped {entry.name}: {entry.error}", file=sys.stderr)
                continue
            try:
                if entry.template is not None:
                    got = list(
                        fetch_history_split(
                            cfg.prometheus,
                            now=now,
                            split_by=entry.template.split_by,
                            max_series=entry.template.max_targets,
                        ).values()
                    )
                else:
                    got = [fetch_history(cfg.prometheus, now=now)]
            except ForecasterError as exc:
                print(f"pretrain: skipped {entry.name}: {exc}", file=sys.stderr)
                continue
            held_out = parse_duration(cfg.train.backtest)
            for series in got:
                if not len(series):
                    continue
                kept = series.iloc[: int(series.index.searchsorted(series.index[-1] - held_out))]
                if len(kept):
                    out.append(kept)
            print(f"pretrain: {entry.name}: {len(got)} series", flush=True)
    finally:
        if kube is not None:
            kube.close()
    return out


def write_model_card(root: Path) -> Path:
    """``MODEL_CARD.md`` describing every pretrained network under ``root`` (from their manifests)."""
    rows = []
    for manifest_path in sorted(root.glob("*/manifest.json")):
        m = json.loads(manifest_path.read_text())
        info = m.get("pretrained") or {}
        corpus = info.get("corpus") or {}
        size_kb = (manifest_path.parent / "weights.safetensors").stat().st_size / 1024
        rows.append(
            f"| {manifest_path.parent.name} | {m['step_s']:.0f}s | {m['lookback_steps']} | {m['horizon_steps']} | "
            f"{m['season_steps'] or '-'} | {m['quantiles']} | {m['architecture']['hidden_size']} | "
            f"{corpus.get('synthetic_series')} + {corpus.get('extra_series')} | {corpus.get('windows')} | "
            f"{info.get('epochs_run')} | {info.get('validation_pinball_untrained')} -> {info.get('validation_pinball')} | "
            f"{size_kb:.0f} KB | `{info.get('command', '')}` |"
        )
    text = f"""# Pretrained cold-start networks

What they are for: a target with less history than `train.cold_start_span` (7 days by default) fine-tunes one
of these instead of training from scratch (`forecaster train` says so, and the version's manifest records it
under `training.cold_start`); with `train.init: pretrained` a target with a longer history fine-tunes the
`daily` one on its whole history too; a forecast asked with a history too short for the target's own network
is answered by the `flat` variant (`answered_by: fallback:pretrained:<variant>`).

How they were trained: one quantile LSTM (the same architecture as every target's, p50 and p90, pinball loss
with the peak term) across many synthetic series from `forecaster.pretrain.synthetic_series` -- random daily
profiles and weekends, drifts, level shifts, recurring and surprise spikes, outages, multiplicative,
Poisson-like and flat CPU-like noise, quantised readings, and the live-streaming scenario with random knobs
-- one seed per series. Inputs are scale-free (each window divided by its own level, the log-level input
normalised per series), which is what lets the weights transfer. 10% of the series are held out for early
stopping; "validation pinball" is on them, starting from the network's persistence initialisation.
Real series join only when given (`--csv`, `--targets`, `--from-cluster`: the "real" count below); the
shipped networks used none, and never the benchmark series in `../shared/data/traffic`.

Variants: `daily` reads yesterday's values at the same time (needs a day plus the lookback before each
window; used from two days of history), `flat` the lookback only.

| variant | step | lookback | horizon | season | quantiles | hidden | series (synthetic + real) | windows | epochs | validation pinball | weights | command |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Format: `manifest.json` + `weights.safetensors` per variant, the model format of `forecaster.model` (loaded
with `Forecaster.load`: tensors only, checksum-checked, never unpickled). The manifest's `scaler` is a
placeholder: a target fits its own. Limits: trained on synthetic shapes only; a series unlike all of them
(e.g. a sawtooth batch job) gains little from the start it gives, and fine-tuning keeps the network only
when it beats that start on the target's own held-out windows.
"""
    out = root / "MODEL_CARD.md"
    out.write_text(text)
    return out
