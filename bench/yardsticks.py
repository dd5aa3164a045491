"""Strong statistical yardsticks for the benchmarks: MSTL + AutoETS (Nixtla's statsforecast).

Not part of the runtime package: statsforecast pins ``pandas<3`` for its distributed front end (fugue),
which the models used here do not need (checked on pandas 3.1), so install it, then put the project's
pandas back:

    pip install 'statsforecast==2.1.*' && pip install -U 'pandas>=3'

``MSTLETS`` decomposes the trailing history into its daily seasonal part with MSTL (a weekly part would
need three weeks in the window, which makes each forecast about ten times slower) and forecasts the
seasonally adjusted rest with AutoETS (model chosen by AICc among additive and
multiplicative error/trend forms, no ETS season). It is fitted once on the training range (model choice and
smoothing weights) and, at each forecast origin, re-run forward over the trailing window before that
origin only (four days, at most 4,032 points) (statsforecast's ``forward``: the same weights, the state from the new data), which is how a
production ETS is used between refits. Its p90 is the upper bound of ETS's 80% prediction interval.

A backtest costs about half a second per origin, so the forecasts are cached on disk (``bench/.cache/``,
keyed by the series' content, the origins and the settings): the yardstick does not change while the
model under test does.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.predictors import future_index, quantile_label

__all__ = ["MSTLETS", "available"]

CACHE = Path(__file__).resolve().parent / ".cache"
_MAX_WINDOW_POINTS = 4032
_VERSION = 2


def available() -> bool:
    try:
        from statsforecast.models import MSTL, AutoETS  # noqa: F401
    except ImportError:
        return False
    return True


class MSTLETS:
    """MSTL + AutoETS behind the Predictor protocol, with ``predict_many`` for backtests."""

    name = "mstl_ets"

    def __init__(
        self, *, step: pd.Timedelta, horizon_steps: int, quantiles: tuple[float, ...] = (0.5, 0.9)
    ) -> None:
        if tuple(sorted(quantiles)) != (0.5, 0.9):
            raise ValueError("MSTLETS answers p50 and p90 only")
        self.step = step
        self.horizon_steps = horizon_steps
        self.quantiles = (0.5, 0.9)
        day = int(pd.Timedelta(days=1) / step)
        self.window = min(4 * day, _MAX_WINDOW_POINTS)
        self.min_history = 2 * day
        self._day = day
        self._model = None

    def _seasons(self, n: int) -> list[int]:
        week = 7 * self._day
        return [self._day, week] if n >= 3 * week else [self._day]

    def _new(self, n: int):
        from statsforecast.models import MSTL, AutoETS

        return MSTL(season_length=self._seasons(n), trend_forecaster=AutoETS(model="ZZN"))

    def fit(self, series: pd.Series) -> MSTLETS:
        y = _filled(series.to_numpy(dtype=float))[-self.window :]
        self._model = self._new(len(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._model.fit(y)
        self._fit_key = hashlib.sha256(y.tobytes()).hexdigest()[:16]
        return self

    def _forecast(self, y: np.ndarray) -> np.ndarray:  # [H, 2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._model.forward(y=y, h=self.horizon_steps, level=[80])
        mean = np.asarray(out["mean"], dtype=float)
        hi = np.maximum(np.asarray(out["hi-80"], dtype=float), mean)
        return np.stack([mean, hi], axis=1)

    def predict_many(self, series: pd.Series, *, origins: np.ndarray) -> list[pd.DataFrame]:
        values = _filled(series.to_numpy(dtype=float))
        nonneg = bool(np.nanmin(values) >= 0)
        key = hashlib.sha256(
            json.dumps(
                [_VERSION, self._fit_key, self.window, self.horizon_steps, [int(t) for t in origins]]
            ).encode()
            + values.tobytes()
        ).hexdigest()[:24]
        path = CACHE / f"mstl_ets-{key}.npy"
        if len(origins) > 1 and path.exists():
            out = np.load(path)
        else:
            out = np.stack([self._forecast(values[max(0, t - self.window) : t]) for t in origins])
            if len(origins) > 1:
                CACHE.mkdir(exist_ok=True)
                np.save(path, out)
        if nonneg:
            out = np.maximum(out, 0.0)
        cols = [quantile_label(q) for q in self.quantiles]
        return [
            pd.DataFrame(
                out[i], index=future_index(series.iloc[: int(t)], self.horizon_steps, self.step), columns=cols
            )
            for i, t in enumerate(origins)
        ]

    def predict(self, history: pd.Series) -> pd.DataFrame:
        return self.predict_many(history, origins=np.array([len(history)]))[0]


def _filled(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).interpolate(limit_direction="both").to_numpy()
