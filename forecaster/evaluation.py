"""Forecast metrics and rolling-origin backtests (pure: predictors and series in, numbers out).

A backtest picks origins on the last part of a series (by default one every hour) and asks each predictor
for a forecast from the data *before* the origin only, then scores the forecasts against what happened:

- ``wape``: sum |actual - p50| / sum |actual| over every forecast step (lower is better);
- ``wape_last``: the same for the last step only (the 30-minute-ahead point);
- ``mase``: mean |actual - p50| over the mean absolute daily-seasonal-naive error in the training range;
- ``coverage``: share of steps with actual <= the upper quantile (p90 should cover ~90%);
- ``peak_miss``: share of windows whose true peak exceeds the forecast peak (upper quantile) by > 10%;
- ``peak_miss_p50``: the same against the p50 forecast's peak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from forecaster.errors import DataError
from forecaster.predictors import Predictor, quantile_label

__all__ = [
    "Scores",
    "BacktestResult",
    "score",
    "wape",
    "mase_scale",
    "rolling_origins",
    "forecast_origins",
    "backtest",
    "backtest_against_baselines",
]

PEAK_TOLERANCE = 0.10


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    denom = float(np.sum(np.abs(actual)))
    if denom == 0:
        return math.nan
    return float(np.sum(np.abs(actual - forecast)) / denom)


def mase_scale(values: np.ndarray, season_steps: int) -> float:
    """Mean absolute error of the seasonal-naive forecast in-sample (NaN-aware); the MASE denominator."""
    if season_steps <= 0 or len(values) <= season_steps:
        return math.nan
    diffs = np.abs(values[season_steps:] - values[:-season_steps])
    diffs = diffs[np.isfinite(diffs)]
    return float(np.mean(diffs)) if len(diffs) else math.nan


@dataclass(frozen=True)
class Scores:
    wape: float
    wape_last: float
    mase: float
    coverage: float
    peak_miss: float
    peak_miss_p50: float
    origins: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def score(
    actual: np.ndarray,
    forecast: np.ndarray,
    *,
    quantiles: Sequence[float],
    mase_denominator: float = math.nan,
) -> Scores:
    """Score forecasts ``[N, H, Q]`` (quantiles ascending) against actuals ``[N, H]``."""
    if actual.shape != forecast.shape[:2]:
        raise DataError(f"actuals {actual.shape} and forecasts {forecast.shape} do not line up")
    qs = list(quantiles)
    p50 = forecast[..., qs.index(0.5)]
    upper = forecast[..., -1]
    ok = np.isfinite(actual).all(axis=1)
    actual, p50, upper = actual[ok], p50[ok], upper[ok]
    if len(actual) == 0:
        nan = math.nan
        return Scores(nan, nan, nan, nan, nan, nan, 0)
    true_peak = actual.max(axis=1)
    return Scores(
        wape=wape(actual, p50),
        wape_last=wape(actual[:, -1], p50[:, -1]),
        mase=float(np.mean(np.abs(actual - p50)) / mase_denominator) if mase_denominator else math.nan,
        coverage=float(np.mean(actual <= upper)),
        peak_miss=float(np.mean(true_peak > (1 + PEAK_TOLERANCE) * upper.max(axis=1))),
        peak_miss_p50=float(np.mean(true_peak > (1 + PEAK_TOLERANCE) * p50.max(axis=1))),
        origins=int(len(actual)),
    )


def rolling_origins(
    series: pd.Series, *, start: int, every: pd.Timedelta, horizon_steps: int, need: int = 0
) -> np.ndarray:
    """Origins (positions) from ``start`` every ``every`` whose forecast window fits in the series."""
    step = (
        pd.Timedelta(series.index.freq)
        if series.index.freq is not None
        else series.index[1] - series.index[0]
    )
    stride = max(1, int(every / step))
    first = max(start, need)
    return np.arange(first, len(series) - horizon_steps + 1, stride, dtype=np.int64)


def forecast_origins(predictor: Predictor, series: pd.Series, origins: np.ndarray) -> np.ndarray:
    """``[N, H, Q]`` forecasts, each from ``series.iloc[:origin]`` only."""
    many = getattr(predictor, "predict_many", None)
    if many is not None:
        frames = many(series, origins=origins)
    else:
        frames = [predictor.predict(series.iloc[:t]) for t in origins]
    cols = [quantile_label(q) for q in sorted(predictor.quantiles)]
    return np.stack([f[cols].to_numpy(dtype=float) for f in frames])


@dataclass
class BacktestResult:
    """Forecasts of several predictors at the same origins, their actuals and their scores."""

    origins: np.ndarray
    index: pd.DatetimeIndex  # the series' index, to place origins in time
    actual: np.ndarray  # [N, H]
    forecasts: dict[str, np.ndarray]  # name -> [N, H, Q]
    quantiles: tuple[float, ...]
    scores: dict[str, Scores]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({name: s.to_dict() for name, s in self.scores.items()}).T

    def best_baseline(self, exclude: Sequence[str] = ()) -> str:
        candidates = {
            n: s.wape for n, s in self.scores.items() if n not in exclude and not math.isnan(s.wape)
        }
        return min(candidates, key=candidates.__getitem__)


def backtest(
    predictors: Sequence[Predictor],
    series: pd.Series,
    *,
    origins: np.ndarray,
    mase_denominator: float = math.nan,
) -> BacktestResult:
    """Run every predictor at ``origins`` of ``series`` and score them on the same windows."""
    if len(origins) == 0:
        raise DataError("backtest has no origins", hint="use a longer series or a shorter backtest range")
    horizon = predictors[0].horizon_steps
    quantiles = tuple(sorted(predictors[0].quantiles))
    for p in predictors:
        if p.horizon_steps != horizon or tuple(sorted(p.quantiles)) != quantiles:
            raise DataError(
                f"predictor {p.name} has a different horizon or quantiles than {predictors[0].name}"
            )
    values = series.to_numpy(dtype=float)
    actual = np.stack([values[t : t + horizon] for t in origins])  # [N, H]
    forecasts = {p.name: forecast_origins(p, series, origins) for p in predictors}
    scores = {
        name: score(actual, fc, quantiles=quantiles, mase_denominator=mase_denominator)
        for name, fc in forecasts.items()
    }
    return BacktestResult(
        origins=origins,
        index=pd.DatetimeIndex(series.index),
        actual=actual,
        forecasts=forecasts,
        quantiles=quantiles,
        scores=scores,
    )


def backtest_against_baselines(
    model: Predictor,
    series: pd.Series,
    *,
    split: int,
    every: pd.Timedelta,
    others: Sequence[Predictor] = (),
) -> BacktestResult:
    """``model`` (and ``others``) against every baseline fitted on ``series[:split]``, an origin every
    ``every`` after ``split``, MASE on the training range's daily seasonal-naive scale. The one wiring the
    promotion and ``forecaster backtest`` share."""
    from forecaster.predictors import baselines_for

    train_part = series.iloc[:split]
    baselines = baselines_for(
        train_part, step=model.step, horizon_steps=model.horizon_steps, quantiles=model.quantiles
    )
    predictors: list[Predictor] = [model, *baselines, *others]
    # What each one needs to answer, not all it would like: a 1-minute model's calibration reads three
    # days of past forecasts when it has them and does without at the first origins of a short series.
    need = max(
        getattr(p, "min_history_steps", getattr(p, "lookback_steps", getattr(p, "min_history", 1)))
        for p in predictors
    )
    origins = rolling_origins(series, start=split, every=every, horizon_steps=model.horizon_steps, need=need)
    season = int(pd.Timedelta(days=1) / model.step)
    return backtest(
        predictors, series, origins=origins, mase_denominator=mase_scale(train_part.to_numpy(), season)
    )
