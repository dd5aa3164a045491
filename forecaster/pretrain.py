"""Cold start: one network pretrained across many synthetic series, fine-tuned per target on a short history.

A new service has hours or days of history, not weeks. The network reads only scale-free inputs (every
window divided by its own level, see :mod:`forecaster.windows`; the log-level input normalised per series),
so weights learnt on thousands of windows of many shapes transfer to a series they never saw. This module

- generates the pretraining corpus (:func:`synthetic_series`: random daily profiles, weekends, drifts,
  level shifts, recurring and surprise spikes, outages, multiplicative, Poisson and flat CPU-like noise,
  quantised values; plus the live-streaming scenario with random knobs), optionally with real series;
- pretrains the network on it (:func:`pretrain`), saved in the model format (safetensors + JSON manifest,
  never pickle) under ``models/_pretrained/<step>-<daily|flat>/``;
- decides whether a training run starts from a pretrained network (:func:`cold_start_plan`) and finds the
  network a too-short history falls back to at prediction time (:func:`fallback_network`).

Two variants per step: ``daily`` reads yesterday's values (needs a day plus the lookback of history before
each window) and ``flat`` reads the lookback only (answers from two hours of history). The directory name
starts with ``_`` so the model store never lists it as a target. No I/O except reading and writing the
artifacts asked for.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecaster.errors import ConfigError, DataError, ModelStoreError
from forecaster.model import Forecaster
from forecaster.series import format_duration, parse_duration
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.synthetic import LiveStreamingShape, live_streaming
from forecaster.windows import Scaler, WindowSpec, make_windows, valid_origins

__all__ = [
    "PRETRAINED_ENV",
    "DEFAULT_PRETRAINED_DIR",
    "ColdStartPlan",
    "PretrainSettings",
    "cold_start_plan",
    "fallback_network",
    "find_pretrained",
    "pretrain",
    "pretrained_root",
    "synthetic_series",
    "variant_name",
]

log = logging.getLogger(__name__)

PRETRAINED_ENV = "FORECASTER_PRETRAINED"
"""Environment variable naming the directory of pretrained networks (default :data:`DEFAULT_PRETRAINED_DIR`)."""
DEFAULT_PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "models" / "_pretrained"
DAILY_MIN_SPAN = pd.Timedelta(days=2)
"""Fine-tune the ``daily`` variant from two days of history (a day + lookback before the first window leaves
about half a day of windows); below that the ``flat`` one."""
FINE_TUNE_LR_FACTOR = 1.0
"""Fine-tuning uses the training learning rate: on six real series with three days of history (two origins
each) it beat a quarter of it (median ratio to the best baseline 0.831 vs 0.843, the network alone 0.935
vs 0.947). Early stopping still starts from the pretrained network, so it is kept unless fine-tuning beats
it on the target's own held-out windows."""
MIN_FINE_TUNE_WINDOWS = 16


@dataclass(frozen=True)
class PretrainSettings:
    """The pretraining run: corpus size and optimisation. Defaults take a few minutes on one core at 5m."""

    series: int = 160
    """Synthetic series in the corpus (each a new random shape; 10% of them held out for early stopping)."""
    days: float = 9.0
    """Length of each synthetic series: a week plus the day the daily lags need, so weekends appear."""
    windows_per_series: int = 250
    """Windows drawn once per series (evenly spread origins): bounds memory and epoch time."""
    extra_windows_per_series: int | None = None
    """Windows drawn from each real (``extra``) series; None: ``windows_per_series``. Real series are
    weeks long where a synthetic one is 9 days, so they can give more windows than 250."""
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 2e-3
    patience: int = 4
    seed: int = 0
    peak_weight: float = TrainSettings().peak_weight
    level_weight_power: float = 0.0
    """Each window's weight in the loss: its scale to this power relative to the mean over its own series'
    windows (0: every window alike, how the shipped networks were trained). Real series have windows whose
    scaled targets run into the thousands where the level is near zero (``ec2_network_in_5abac7`` up to
    50,000); at 1 they weigh what their absolute error does, as when a target trains
    (``forecaster.training._LEVEL_WEIGHT_POWER``)."""


# -- the corpus ----------------------------------------------------------------------------------------------
def synthetic_series(
    rng: np.random.Generator, *, step: pd.Timedelta, days: float, start: pd.Timestamp | None = None
) -> pd.Series:
    """One random series of a random shape: what a service's load, CPU or request count may look like."""
    n = int(pd.Timedelta(days=days) / step)
    if start is None:
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=int(rng.integers(0, 365 * 1440)))
        start = start.floor(step)
    if rng.random() < 0.2:
        shape = LiveStreamingShape(
            base_rps=float(np.exp(rng.uniform(np.log(5), np.log(2000)))),
            prime_time_rps=float(np.exp(rng.uniform(np.log(5), np.log(4000)))),
            weekend_factor=float(rng.uniform(0.7, 1.5)),
            show_start_hour=float(rng.uniform(0, 24)),
            show_jump=float(rng.uniform(0.0, 1.5)),
            weekend_event_hour=float(rng.uniform(8, 22)),
            surprise_spikes_per_week=float(rng.uniform(0, 4)),
            noise=float(rng.uniform(0.01, 0.12)),
        )
        return live_streaming(
            days=days, step=step, seed=int(rng.integers(0, 2**31)), start=start, shape=shape
        ).rename("value")
    index = pd.date_range(start, periods=n, freq=step, unit="ns")
    t_days = np.arange(n) * (step / pd.Timedelta(days=1))  # [T]
    hour = (t_days % 1.0) * 24.0
    log_mean = np.zeros(n)
    if rng.random() < 0.85:  # a daily profile: a few harmonics of random strength and phase
        for k, top in ((1, 0.9), (2, 0.35), (3, 0.15)):
            log_mean += rng.uniform(0, top) * np.cos(2 * np.pi * k * (hour - rng.uniform(0, 24)) / 24.0)
    if rng.random() < 0.3:  # a prime-time bump
        centre, width = rng.uniform(0, 24), rng.uniform(0.5, 3.0)
        dist = np.minimum(np.abs(hour - centre), 24 - np.abs(hour - centre))
        log_mean += rng.uniform(0.2, 1.0) * np.exp(-0.5 * (dist / width) ** 2)
    if rng.random() < 0.6:  # weekends differ
        weekend = index.day_of_week.to_numpy() >= 5
        log_mean += np.where(weekend, np.log(rng.uniform(0.5, 1.5)), 0.0)
    log_mean += rng.uniform(-0.05, 0.05) * t_days  # drift per day
    for _ in range(rng.poisson(0.4 * days / 7)):  # level shifts (a launch, a migration)
        at = rng.integers(0, n)
        log_mean[at:] += rng.normal(0, 0.5)
    mean = np.exp(log_mean)
    spikes = np.zeros(n)
    minutes = t_days * 1440.0
    if rng.random() < 0.3:  # a spike at the same time every day
        at_min, jump = rng.uniform(0, 1440), rng.uniform(0.3, 2.0)
        rise, decay = rng.uniform(1, 10), rng.uniform(10, 120)
        since = (minutes - at_min) % 1440.0
        spikes += jump * _ramp_decay(since, rise_min=rise, decay_min=decay)
    for at in rng.uniform(0, minutes[-1] if n else 0, size=rng.poisson(rng.uniform(0, 1.5) * days)):
        spikes += rng.uniform(0.2, 1.5) * _ramp_decay(
            minutes - at, rise_min=rng.uniform(1, 10), decay_min=rng.uniform(5, 60)
        )
    mean = mean * (1.0 + spikes)
    kind = rng.choice(["multiplicative", "counts", "cpu"], p=[0.45, 0.35, 0.2])
    if kind == "counts":  # request or mention counts: Poisson around a low-to-moderate level, overdispersed
        level = np.exp(rng.uniform(np.log(0.5), np.log(300)))
        k = rng.uniform(5, 100)  # gamma mixing with mean 1: variance above Poisson's
        lam = level * mean / np.mean(mean) * rng.gamma(shape=k, scale=1.0 / k, size=n)
        values = rng.poisson(np.maximum(lam, 0)).astype(float)
    else:
        sd = rng.uniform(0.005, 0.15)
        ar = _ar1(rng, n, phi=rng.uniform(0.8, 0.99), sd=rng.uniform(0.0, 0.1))
        values = mean * np.exp(rng.normal(0, sd, size=n) + ar)
        if kind == "cpu":  # a percentage: mostly flat, small or large, with occasional bursts
            values = values / np.max(values) * rng.uniform(0.5, 95)
            values = np.clip(values, 0, 100)
        else:
            values = values * np.exp(rng.uniform(np.log(1), np.log(5000)))
    if rng.random() < 0.3:  # quantised readings (CPU to 0.1%, coarse exporters)
        grid = np.mean(values) * rng.uniform(0.001, 0.05)
        values = np.round(values / grid) * grid
    if rng.random() < 0.1:  # an outage: a stretch near zero
        at, length = rng.integers(0, n), rng.integers(1, max(2, n // 20))
        values[at : at + length] *= rng.uniform(0, 0.1)
    return pd.Series(np.maximum(values, 0.0), index=index, name="value")


def _ramp_decay(minutes_since: np.ndarray, *, rise_min: float, decay_min: float) -> np.ndarray:
    on = minutes_since >= 0
    t = np.where(on, minutes_since, 0.0)
    return np.where(on, np.clip(t / rise_min, 0, 1) * np.exp(-np.maximum(t - rise_min, 0) / decay_min), 0.0)


def _ar1(rng: np.random.Generator, n: int, *, phi: float, sd: float) -> np.ndarray:
    eps = rng.normal(0, sd * np.sqrt(1 - phi**2), size=n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):  # a plain recursion: a few thousand points per series
        acc = phi * acc + eps[i]
        out[i] = acc
    return out


def corpus(settings: PretrainSettings, *, step: pd.Timedelta) -> Iterator[pd.Series]:
    """The synthetic corpus: ``settings.series`` series, the same ones for the same seed."""
    rng = np.random.default_rng(settings.seed)
    for _ in range(settings.series):
        yield synthetic_series(rng, step=step, days=settings.days)


# -- pretraining ---------------------------------------------------------------------------------------------
def variant_name(step: pd.Timedelta, *, daily: bool) -> str:
    return f"{format_duration(step)}-{'daily' if daily else 'flat'}"


def spec_for(step: pd.Timedelta, *, model: ModelSettings, daily: bool) -> WindowSpec:
    return WindowSpec(
        lookback=max(1, int(parse_duration(model.lookback) / step)),
        horizon=max(1, int(parse_duration(model.horizon) / step)),
        season=int(pd.Timedelta(days=1) / step) if daily else 0,
    )


def _windows(
    series: pd.Series,
    *,
    spec: WindowSpec,
    step: pd.Timedelta,
    n_windows: int,
    rng: np.random.Generator,
    level_weight_power: float = 0.0,
) -> tuple[np.ndarray, ...] | None:
    """``(past, future, level, target, weight)`` of up to ``n_windows`` windows; ``weight`` [N]: each window's
    scale to ``level_weight_power`` over the mean of the series' (ones at 0)."""
    values = series.to_numpy(dtype=float)
    origins = valid_origins(values, spec, with_target=True)
    if len(origins) == 0:
        return None
    if len(origins) > n_windows:
        origins = np.sort(rng.choice(origins, size=n_windows, replace=False))
    scaler = Scaler.fit(values, lookback=spec.lookback)
    w = make_windows(
        values,
        pd.DatetimeIndex(series.index),
        spec=spec,
        scaler=scaler,
        origins=origins,
        with_target=True,
        step=step,
    )
    assert w.target is not None
    log_scale = w.level[:, 0].astype(np.float64) * scaler.log_level_std  # up to a constant
    weight = np.exp(level_weight_power * (log_scale - log_scale.max()))
    return w.past, w.future, w.level, w.target, (weight / weight.mean()).astype(np.float32)


def pretrain(
    *,
    step: pd.Timedelta,
    daily: bool,
    model: ModelSettings | None = None,
    settings: PretrainSettings | None = None,
    extra: Sequence[pd.Series] = (),
    progress: bool = False,
    device: torch.device | None = None,
) -> Forecaster:
    """Train one network on the synthetic corpus (plus ``extra`` real series at the same step).

    The result is a :class:`Forecaster` whose scaler is a placeholder: a target that uses the network fits
    its own (the level input is normalised per series). Its ``info["pretrained"]`` records the corpus.
    """
    from forecaster.training import (  # imports this lazily
        _EVAL_BATCH,
        _progress,
        fit_early_stopping,
        training_loss,
    )

    model = model or ModelSettings()
    settings = settings or PretrainSettings()
    started = time.perf_counter()
    spec = spec_for(step, model=model, daily=daily)
    quantiles = tuple(sorted(model.quantiles))
    rng = np.random.default_rng(settings.seed + 1)
    torch.manual_seed(settings.seed)
    parts: list[tuple[np.ndarray, ...]] = []
    kept_extra = 0
    bar = _progress(
        settings.series + len(extra), enabled=progress, desc=f"corpus {variant_name(step, daily=daily)}"
    )
    n_extra = settings.extra_windows_per_series or settings.windows_per_series
    tagged = [(s, False) for s in corpus(settings, step=step)] + [(s, True) for s in extra]
    for s, is_extra in tagged:
        n_windows = n_extra if is_extra else settings.windows_per_series
        w = _windows(
            s,
            spec=spec,
            step=step,
            n_windows=n_windows,
            rng=rng,
            level_weight_power=settings.level_weight_power,
        )
        if w is not None:
            parts.append(w)
            kept_extra += int(is_extra)
        bar.update(1)
    bar.close()
    if len(parts) < 2:
        raise DataError(
            "pretraining corpus has fewer than two usable series",
            hint=f"give series longer than {format_duration(step * (spec.history_needed + spec.horizon))}",
        )
    n_val = max(1, len(parts) // 10)
    order = rng.permutation(len(parts))
    val_parts = [parts[i] for i in order[:n_val]]
    train_parts = [parts[i] for i in order[n_val:]]
    device = device or (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))

    def stack(ps: list[tuple[np.ndarray, ...]]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(np.concatenate([p[i] for p in ps])).to(device) for i in range(5))

    train_t, val_t = stack(train_parts), stack(val_parts)
    architecture = {
        "type": "QuantileLSTM",
        "hidden_size": model.hidden_size,
        "num_layers": model.num_layers,
        "dropout": model.dropout,
    }
    network = Forecaster.build_network(spec=spec, n_quantiles=len(quantiles), architecture=architecture).to(
        device
    )
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    q = torch.tensor(quantiles, dtype=torch.float32, device=device)

    def val_loss() -> float:  # called in eval mode without gradients (fit_early_stopping)
        total = 0.0
        for s in range(0, len(val_t[0]), _EVAL_BATCH):
            sl = slice(s, s + _EVAL_BATCH)
            pred = network(val_t[0][sl], val_t[1][sl], val_t[2][sl])
            weights = val_t[4][sl] / val_t[4].mean() if settings.level_weight_power else None
            loss = training_loss(pred, val_t[3][sl], q, peak_weight=settings.peak_weight, weights=weights)
            total += float(loss) * len(val_t[0][sl])
        return total / len(val_t[0])

    n = len(train_t[0])

    def epoch_batches() -> Iterator[tuple[torch.Tensor, ...]]:
        perm = torch.from_numpy(rng.permutation(n)).to(device)
        for s in range(0, n, settings.batch_size):
            batch = perm[s : s + settings.batch_size]
            if settings.level_weight_power:
                yield tuple(t[batch] for t in train_t)
            else:
                yield train_t[0][batch], train_t[1][batch], train_t[2][batch], train_t[3][batch]

    run = fit_early_stopping(
        network,
        optimiser=optimiser,
        quantiles=q,
        peak_weight=settings.peak_weight,
        epochs=settings.epochs,
        patience=settings.patience,
        epoch_batches=epoch_batches,
        validation_loss=val_loss,
        bar=_progress(settings.epochs, enabled=progress, desc=f"pretrain {variant_name(step, daily=daily)}"),
    )
    info = {
        "pretrained": {
            "variant": variant_name(step, daily=daily),
            "corpus": {
                "synthetic_series": settings.series,
                "extra_series": kept_extra,
                "days_per_series": settings.days,
                "windows": int(n + len(val_t[0])),
                "validation_series": n_val,
                "seed": settings.seed,
            },
            "epochs_run": run.epochs_run,
            "validation_pinball": round(run.best_loss, 5),
            "validation_pinball_untrained": round(run.initial_loss, 5),
            "seconds": round(time.perf_counter() - started, 1),
            "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        }
    }
    return Forecaster(
        name=variant_name(step, daily=daily),
        step=step,
        spec=spec,
        scaler=Scaler(floor=1e-6, log_level_mean=0.0, log_level_std=1.0, nonnegative=True),
        quantiles=quantiles,
        network=network.cpu().eval(),
        architecture=architecture,
        info=info,
    )


# -- using it ------------------------------------------------------------------------------------------------
def pretrained_root(setting: str | None = None) -> Path | None:
    """Where pretrained networks are looked up: the setting's path, ``$FORECASTER_PRETRAINED``, the default.

    ``"off"``: nowhere (always train from scratch).
    """
    if setting == "off":
        return None
    if setting and setting != "auto":
        return Path(setting)
    env = os.environ.get(PRETRAINED_ENV)
    return Path(env) if env else DEFAULT_PRETRAINED_DIR


@functools.lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int) -> Forecaster:
    net = Forecaster.load(path)
    manifest = json.loads((Path(path) / "manifest.json").read_text())
    net.info["weights_sha256"] = (manifest.get("weights") or {}).get(
        "sha256"
    )  # which weights a target started from
    net.info["loaded_from"] = str(Path(path).resolve())
    return net


def find_pretrained(
    root: Path | None,
    *,
    step: pd.Timedelta,
    spec: WindowSpec,
    quantiles: tuple[float, ...],
    architecture: dict | None = None,
) -> tuple[Forecaster | None, str]:
    """The pretrained network in ``root`` for this step and window shape, or None and why not.

    Loaded once per file (cached); the artifact is checked like any model (format, checksum, shapes).
    """
    daily = spec.season > 0
    if root is None:
        return None, "pretrained networks are turned off"
    where = root / variant_name(step, daily=daily)
    manifest = where / "manifest.json"
    if not manifest.is_file():
        return None, (
            f"no pretrained network {where.name} ({'daily' if daily else 'flat'} variant for a "
            f"{format_duration(step)} step) in {root}"
        )
    try:
        net = _load(str(where), manifest.stat().st_mtime_ns)
    except ModelStoreError as exc:
        log.warning("pretrained network %s unusable: %s", where, exc)
        return None, f"the pretrained network {where} is unusable: {exc.problem}"
    wanted = (spec.lookback, spec.horizon, spec.season, tuple(quantiles))
    have = (net.spec.lookback, net.spec.horizon, net.spec.season, tuple(net.quantiles))
    if wanted != have:
        return None, (
            f"the pretrained network {net.name} reads {format_duration(step * net.spec.lookback)} and forecasts "
            f"{format_duration(step * net.spec.horizon)} at quantiles {list(net.quantiles)}; the settings ask "
            f"{format_duration(step * spec.lookback)}, {format_duration(step * spec.horizon)}, {list(quantiles)}"
        )
    if architecture is not None:
        mine = {k: architecture.get(k) for k in ("hidden_size", "num_layers")}
        theirs = {k: net.architecture.get(k) for k in ("hidden_size", "num_layers")}
        if mine != theirs:
            return None, f"the pretrained network {net.name} has {theirs}, the settings ask {mine}"
    return net, f"pretrained network {net.name} from {where}"


@dataclass(frozen=True)
class ColdStartPlan:
    """Whether a training run fine-tunes a pretrained network, and why (recorded in the manifest)."""

    pretrained: Forecaster | None
    reason: str
    span: pd.Timedelta
    full_history: bool = False
    """Fine-tuned on a history of ``cold_start_span`` or more (``train.init: pretrained``), not a cold start."""

    @property
    def fine_tune(self) -> bool:
        return self.pretrained is not None


def cold_start_plan(
    series: pd.Series,
    *,
    step: pd.Timedelta,
    model: ModelSettings,
    train: TrainSettings,
    with_events: bool = False,
) -> ColdStartPlan:
    """Fine-tune when the history spans less than ``train.cold_start_span`` (or whatever its span with
    ``train.init: pretrained``) and a matching network exists.

    From two days of history the ``daily`` variant (it reads yesterday), below that the ``flat`` one.
    """
    index = pd.DatetimeIndex(series.index)
    span = (index[-1] - index[0] + step) if len(index) else pd.Timedelta(0)
    try:
        limit = parse_duration(train.cold_start_span)
    except (ValueError, DataError) as exc:
        raise ConfigError(
            f"train.cold_start_span {train.cold_start_span!r} is not a duration", hint="e.g. 7d"
        ) from exc
    if train.pretrained == "off":
        return ColdStartPlan(None, "pretrained networks are turned off (train.pretrained: off)", span)
    full_history = span >= limit
    if full_history and train.init != "pretrained":
        return ColdStartPlan(
            None,
            f"{format_duration(span)} of history is at least {format_duration(limit)}: trained from scratch",
            span,
        )
    if with_events:
        return ColdStartPlan(None, "the pretrained networks read no calendar: trained from scratch", span)
    if full_history and model.weekly_lags:
        return ColdStartPlan(None, "the pretrained networks read no weekly lags: trained from scratch", span)
    spec = spec_for(step, model=model, daily=span >= DAILY_MIN_SPAN)
    architecture = {"hidden_size": model.hidden_size, "num_layers": model.num_layers}
    net, why = find_pretrained(
        pretrained_root(train.pretrained),
        step=step,
        spec=spec,
        quantiles=tuple(sorted(model.quantiles)),
        architecture=architecture,
    )
    if net is None:
        return ColdStartPlan(None, f"{why}: trained from scratch", span, full_history)
    if full_history:
        return ColdStartPlan(
            net,
            f"train.init: pretrained: fine-tuned the {why} on {format_duration(span)} of history",
            span,
            True,
        )
    return ColdStartPlan(
        net,
        f"{format_duration(span)} of history is less than {format_duration(limit)}: fine-tuned the {why}",
        span,
    )


def fallback_network(
    *, step: pd.Timedelta, horizon_steps: int, quantiles: tuple[float, ...], setting: str | None = None
) -> Forecaster | None:
    """The ``flat`` pretrained network a too-short history falls back to (None when there is none)."""
    root = pretrained_root(setting)
    if root is None:
        return None
    where = root / variant_name(step, daily=False)
    manifest = where / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        net = _load(str(where), manifest.stat().st_mtime_ns)
    except ModelStoreError as exc:
        log.warning("pretrained network %s unusable: %s", where, exc)
        return None
    if net.spec.horizon != horizon_steps or tuple(net.quantiles) != tuple(quantiles) or net.spec.season:
        return None
    return net
