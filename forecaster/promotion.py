"""Train a target and promote the new model only if it wins (the training CronJob's job).

``train_target`` holds out the most recent ``train.backtest`` of the history, trains on what comes before,
and backtests the new model, the baselines and the currently promoted model on the held-out range (an
origin every hour). The new version is always saved, but becomes *current* only when it beats the
best of the baselines (last value, seasonal naive, Holt-Winters: whichever scores best on this series)
and the current model on the same data. The result says which happened
and why. I/O is limited to the store passed in.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecaster import recommendation
from forecaster.errors import DataError, ForecasterError, ModelStoreError
from forecaster.evaluation import BacktestResult, backtest_against_baselines
from forecaster.events import Calendar, bind_calendar
from forecaster.predictors import Predictor
from forecaster.series import format_duration, parse_duration
from forecaster.settings import TargetConfig
from forecaster.store import POINTER_FILE, DamagedPointerError, ModelRef, ModelStore
from forecaster.training import fit_forecaster

__all__ = ["PromotionResult", "train_target", "evaluate_candidates"]

log = logging.getLogger(__name__)

CANDIDATE = "candidate"
CURRENT = "current"
BACKTEST_EVERY = pd.Timedelta(hours=1)


@dataclass
class PromotionResult:
    target: str
    saved: ModelRef
    promoted: bool
    reason: str
    backtest: BacktestResult
    previous_version: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    tuning: str | None = None
    """What became of the prescaler tuning (tuned, carried forward, failed); None: the target asks for none."""

    def summary(self) -> str:
        verdict = "promoted" if self.promoted else "saved, NOT promoted"
        tuning = f"; prescaler tuning: {self.tuning}" if self.tuning else ""
        return f"{self.target}: version {self.saved.version} {verdict}: {self.reason}{tuning}"


def _split(series: pd.Series, holdout: pd.Timedelta) -> int:
    step = pd.Timedelta(series.index.freq)
    n = int(holdout / step)
    if n >= len(series) // 2:
        n = len(series) // 5  # short histories: hold out the last fifth rather than fail
    return len(series) - n


def evaluate_candidates(
    candidate: Predictor,
    series: pd.Series,
    *,
    split: int,
    current: Predictor | None,
) -> BacktestResult:
    """Backtest the candidate, the baselines and (when compatible) the current model after ``split``."""
    return backtest_against_baselines(
        candidate, series, split=split, every=BACKTEST_EVERY, others=[current] if current is not None else []
    )


class _Renamed:
    """A predictor under another name (the current model is scored as 'current')."""

    def __init__(self, inner: Predictor, name: str) -> None:
        self._inner = inner
        self.name = name
        self.step = inner.step
        self.horizon_steps = inner.horizon_steps
        self.quantiles = inner.quantiles
        self.lookback_steps = getattr(inner, "lookback_steps", 1)
        self.min_history_steps = getattr(inner, "min_history_steps", self.lookback_steps)
        if hasattr(inner, "predict_many"):
            self.predict_many = inner.predict_many  # type: ignore[attr-defined]

    def predict(self, history: pd.Series) -> pd.DataFrame:
        return self._inner.predict(history)


def train_target(
    cfg: TargetConfig,
    series: pd.Series,
    *,
    store: ModelStore,
    now: pd.Timestamp,
    progress: bool = False,
    events: Calendar | None = None,
) -> PromotionResult:
    """Train ``cfg``'s model on ``series``, save it, and promote it if it beats the baseline and current.

    ``events``: the target's calendar; the candidate (and a current model that reads one) use it.
    """
    if series.index.freq is None:
        raise DataError(
            "series must be on a regular grid", hint="pass it through forecaster.series.regularize"
        )
    split = _split(series, parse_duration(cfg.train.backtest))
    model = fit_forecaster(
        series.iloc[:split], model=cfg.model, train=cfg.train, name=cfg.name, progress=progress, events=events
    )
    candidate = _Renamed(bind_calendar(model, events), CANDIDATE)

    current_ref: ModelRef | None = None
    current: Predictor | None = None
    note = ""
    try:
        current_ref = store.current(cfg.name)
        if current_ref is not None:
            loaded = store.load(cfg.name, current_ref.version)
            if (
                loaded.step == model.step
                and loaded.horizon_steps == model.horizon_steps
                and tuple(loaded.quantiles) == tuple(model.quantiles)
            ):
                current = _Renamed(bind_calendar(loaded, events), CURRENT)
            else:
                note = " (the current model has a different step, horizon or quantiles and is replaced)"
    except DamagedPointerError as exc:
        note = f" ({POINTER_FILE} was damaged and is treated as absent; this promotion replaces it: {exc.problem})"
        log.warning("target %s: %s; treating it as absent", cfg.name, exc.problem)
    except ModelStoreError as exc:
        note = f" (the current model could not be loaded: {exc.problem})"
        log.warning("target %s: %s", cfg.name, exc)

    result = evaluate_candidates(candidate, series, split=split, current=current)
    scores = result.scores
    new = scores[CANDIDATE].wape
    try:
        best_name = result.best_baseline(exclude=(CANDIDATE, CURRENT))
    except ValueError:  # no baseline scored either (an idle held-out range: every WAPE is 0/0)
        best_name = None
    reasons = []
    promoted = not math.isnan(new) and best_name is not None
    if math.isnan(new) or best_name is None:
        reasons.append("the backtest produced no score")
    elif not new < scores[best_name].wape:
        promoted = False
        reasons.append(
            f"WAPE {new:.3f} does not beat the best baseline ({best_name} {scores[best_name].wape:.3f})"
        )
    if current is not None and CURRENT in scores and promoted and not new < scores[CURRENT].wape:
        promoted = False
        reasons.append(f"WAPE {new:.3f} does not beat the current model's {scores[CURRENT].wape:.3f}")
    if promoted:
        beat = f"the best baseline ({best_name} {scores[str(best_name)].wape:.3f})"
        if current is not None and CURRENT in scores:
            beat += f" and current {current_ref.version if current_ref else ''} {scores[CURRENT].wape:.3f}"
        reason = f"WAPE {new:.3f} beats {beat}" + note
    else:
        reason = "; ".join(reasons) + note

    holdout_index = series.index[split:]
    metrics = {
        "backtest": {
            "start": str(holdout_index[0]),
            "end": str(holdout_index[-1]),
            "every": format_duration(BACKTEST_EVERY),
            "origins": int(len(result.origins)),
            "models": {name: s.to_dict() for name, s in scores.items()},
        }
    }
    extra, tuning = _tuning_files(
        cfg, bind_calendar(model, events), series, tune_start=holdout_index[0], store=store, now=now
    )
    saved = store.save(cfg.name, model, metrics=metrics, now=now, extra_files=extra)
    if promoted:
        store.promote(cfg.name, saved.version, reason=reason, now=now)
    return PromotionResult(
        target=cfg.name,
        saved=saved,
        promoted=promoted,
        reason=reason,
        backtest=result,
        previous_version=current_ref.version if current_ref else None,
        metrics=metrics,
        tuning=tuning,
    )


def _tuning_files(
    cfg: TargetConfig,
    model: Predictor,
    series: pd.Series,
    *,
    tune_start: pd.Timestamp,
    store: ModelStore,
    now: pd.Timestamp,
) -> tuple[dict[str, bytes], str | None]:
    """The ``tuning.json`` to store with the new version (see :mod:`forecaster.recommendation`) and what
    happened: tuned on the held-out range (which ``model`` did not see) when due, else the last recommendation
    carried forward. A failed tuning never fails the training: the model is what matters most."""
    if not cfg.tuning.enabled:
        return {}, None
    previous = recommendation.latest(store, cfg.name)
    go, why = recommendation.due(previous[1] if previous else None, cfg.tuning, now=now)
    if go:
        try:
            doc = recommendation.tune_document(
                model, series, settings=cfg.tuning, tune_start=tune_start, now=now
            )
        except Exception as exc:  # noqa: BLE001 - recorded below; the model is saved either way
            if not isinstance(exc, ForecasterError):
                log.exception("target %s: tuning failed", cfg.name)
            failed = f"tuning failed ({type(exc).__name__}: {exc})"
            if previous is None:
                return {}, f"{failed}; no recommendation stored"
            return _carried(previous, failed)
        chosen = (doc["result"].get("recommended") or {}).get("label") or "no setting of the grid meets it"
        return {recommendation.TUNING_FILE: recommendation.encode(doc)}, (
            f"tuned for {doc['inputs']['slo']} ({why}): {chosen}"
        )
    assert previous is not None
    return _carried(previous, f"not re-tuned ({why})")


def _carried(previous: tuple[str, dict[str, Any]], why: str) -> tuple[dict[str, bytes], str]:
    version, doc = previous
    carried = recommendation.carried_document(doc, version=version)
    return {recommendation.TUNING_FILE: recommendation.encode(carried)}, (
        f"{why}; the recommendation of {carried['carriedFrom']} is carried forward"
    )
