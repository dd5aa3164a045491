"""One Predictor protocol for every forecaster: the LSTM and the baselines (pure, no I/O).

A predictor maps a history (a regular series, see :mod:`forecaster.series`) to a forecast: a DataFrame
indexed by the next ``horizon_steps`` timestamps after the history's last one, with one column per quantile
named ``p50``, ``p90``... Baselines are the yardsticks in every backtest and the fallback when no trained
model fits. Their quantiles come from the empirical distribution of their own errors on the history they
were fitted on, scaled by the recent level so that bands widen and narrow with traffic.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from forecaster.errors import DataError

__all__ = [
    "Predictor",
    "quantile_label",
    "parse_quantile_label",
    "future_index",
    "LastValue",
    "SeasonalNaive",
    "HoltWinters",
    "baselines_for",
    "fallback_baseline",
]


def quantile_label(q: float) -> str:
    """0.9 -> ``"p90"``, 0.5 -> ``"p50"``, 0.975 -> ``"p97.5"``."""
    pct = round(q * 100, 6)
    return f"p{int(pct)}" if float(pct).is_integer() else f"p{pct:g}"


def parse_quantile_label(label: str) -> float:
    """``"p90"`` -> 0.9; raises :class:`DataError` for anything else."""
    text = label.strip().lower()
    try:
        if not text.startswith("p"):
            raise ValueError
        q = float(text[1:]) / 100
    except ValueError:
        raise DataError(
            f"quantile {label!r} is not of the form p50, p90", hint="e.g. quantiles=p50,p90"
        ) from None
    if not 0 < q < 1:
        raise DataError(f"quantile {label!r} must be between p0 and p100 exclusive")
    return q


def future_index(history: pd.Series, horizon_steps: int, step: pd.Timedelta) -> pd.DatetimeIndex:
    """The ``horizon_steps`` timestamps that follow the history's last one."""
    last = history.index[-1]
    return pd.date_range(last + step, periods=horizon_steps, freq=step, unit="ns")


@runtime_checkable
class Predictor(Protocol):
    """What every forecaster offers. ``predict`` must use nothing after ``history``'s last timestamp."""

    name: str
    step: pd.Timedelta
    horizon_steps: int
    quantiles: tuple[float, ...]

    def predict(self, history: pd.Series) -> pd.DataFrame: ...


def _check_history(history: pd.Series, *, need: int, who: str) -> np.ndarray:
    if len(history) < need:
        raise DataError(
            f"{who} needs at least {need} points of history, got {len(history)}",
            hint="give a longer history",
        )
    values = history.to_numpy(dtype=float)
    return values


def _fill_nan(values: np.ndarray) -> np.ndarray:
    """Carry the last valid value into masked gaps (a baseline must still answer after an outage)."""
    if not np.isnan(values).any():
        return values
    s = pd.Series(values).ffill().bfill()
    return s.to_numpy()


@dataclass
class _ResidualBands:
    """Per-horizon-step quantiles of relative errors, learnt from a predictor's own backtest on its history.

    Errors are divided by the mean level of the last hour before each origin, so that the bands scale with
    traffic (a band learnt at night still fits prime time).
    """

    quantiles: tuple[float, ...]
    table: np.ndarray | None = None  # [H, Q] relative error quantiles

    def fit(
        self, predictor: _Baseline, values: np.ndarray, index: pd.DatetimeIndex, *, origins: int = 400
    ) -> None:
        h = predictor.horizon_steps
        need = predictor.min_history
        last = len(values) - h
        if last <= need:
            self.table = np.zeros((h, len(self.quantiles)))
            return
        rng = np.random.default_rng(0)
        candidates = np.arange(need, last + 1)
        picks = np.sort(rng.choice(candidates, size=min(origins, len(candidates)), replace=False))
        errors = []
        for t in picks:
            hist = values[:t]
            point = predictor._point_at(hist, index[t - 1])
            scale = _level(hist, predictor.steps_per_hour)
            actual = values[t : t + h]
            if np.isnan(actual).any():
                continue
            errors.append((actual - point) / scale)
        if not errors:
            self.table = np.zeros((h, len(self.quantiles)))
            return
        err = np.asarray(errors)  # [N, H]
        # Quantiles of the error around the point forecast; p50 is the point itself.
        self.table = np.stack(
            [np.quantile(err, q, axis=0) if q != 0.5 else np.zeros(h) for q in self.quantiles], 1
        )

    def apply(self, point: np.ndarray, scale: float) -> np.ndarray:
        table = self.table if self.table is not None else np.zeros((len(point), len(self.quantiles)))
        out = point[:, None] + table * scale  # [H, Q]
        out = np.maximum.accumulate(out, axis=1)  # quantiles must not cross
        return out


def _level(values: np.ndarray, window: int) -> float:
    recent = values[-max(1, window) :]
    recent = recent[~np.isnan(recent)]
    level = float(np.mean(np.abs(recent))) if len(recent) else 1.0
    return max(level, 1e-9)


@dataclass
class _Baseline:
    step: pd.Timedelta
    horizon_steps: int
    quantiles: tuple[float, ...] = (0.5, 0.9)
    name: str = "baseline"
    bands: _ResidualBands = field(init=False)

    def __post_init__(self) -> None:
        if 0.5 not in self.quantiles:
            raise DataError("quantiles must include 0.5 (the point forecast)")
        self.quantiles = tuple(sorted(self.quantiles))
        self.bands = _ResidualBands(self.quantiles)

    @property
    def steps_per_hour(self) -> int:
        return max(1, int(pd.Timedelta(hours=1) / self.step))

    @property
    def min_history(self) -> int:
        return 1

    def _point(self, values: np.ndarray) -> np.ndarray:  # [H]
        raise NotImplementedError

    def _point_at(self, values: np.ndarray, last: pd.Timestamp) -> np.ndarray:  # [H]
        """The point forecast after ``values``, whose last sample is at ``last`` (for phase-aware models)."""
        return self._point(values)

    def fit(self, series: pd.Series) -> _Baseline:
        """Learn the error bands from a backtest of this predictor over ``series``."""
        self.bands.fit(self, series.to_numpy(dtype=float), pd.DatetimeIndex(series.index))
        return self

    def predict(self, history: pd.Series) -> pd.DataFrame:
        values = _check_history(history, need=self.min_history, who=self.name)
        values = _fill_nan(values)
        point = self._point_at(values, history.index[-1])
        out = self.bands.apply(point, _level(values, self.steps_per_hour))
        out = np.maximum(out, 0.0) if np.nanmin(values) >= 0 else out
        cols = [quantile_label(q) for q in self.quantiles]
        return pd.DataFrame(out, index=future_index(history, self.horizon_steps, self.step), columns=cols)


@dataclass
class LastValue(_Baseline):
    """Tomorrow looks like now: the last observed value for every step."""

    name: str = "last_value"

    def _point(self, values: np.ndarray) -> np.ndarray:
        return np.full(self.horizon_steps, values[-1])


@dataclass
class SeasonalNaive(_Baseline):
    """The value one season ago (a day, or a week) for every future step."""

    season: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(days=1))
    name: str = "seasonal_naive_daily"

    @property
    def season_steps(self) -> int:
        return int(self.season / self.step)

    @property
    def min_history(self) -> int:
        return self.season_steps

    def _point(self, values: np.ndarray) -> np.ndarray:
        m = self.season_steps
        n = len(values)
        idx = n - m + np.arange(self.horizon_steps)
        # Beyond one season back (horizon longer than a season) wrap to the latest available season.
        idx = np.where(idx >= n, idx - m, idx)
        return values[idx]


@dataclass(frozen=True)
class HoltWintersState:
    """The Holt-Winters recursion at a forecast origin: enough to resume it one step later."""

    origin: int
    level: float
    trend: float
    season: np.ndarray  # [m] the last season's seasonal terms


@dataclass
class HoltWinters(_Baseline):
    """Additive Holt-Winters (level, damped trend, daily season), smoothing weights fitted by statsmodels.

    ``fit`` estimates the weights once on a training series; ``predict`` re-runs the recursions over the last
    ``fit_seasons`` seasons of the given history, so the state always reflects the latest data.
    """

    season: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(days=1))
    name: str = "holt_winters"
    alpha: float = 0.3
    beta: float = 0.01
    gamma: float = 0.1
    phi: float = 0.9
    fit_seasons: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        self._profile: np.ndarray | None = None

    @property
    def season_steps(self) -> int:
        return int(self.season / self.step)

    @property
    def min_history(self) -> int:
        return 2 * self.season_steps

    def fit(self, series: pd.Series, *, bands: bool = True) -> HoltWinters:
        """Fit the weights and the seasonal profile; ``bands``: also the error bands that ``predict`` uses
        (a backtest of 400 forecasts; a blend member, which contributes its point forecast only, skips it)."""
        values = _fill_nan(series.to_numpy(dtype=float))
        m = self.season_steps
        recent = values[-(self.fit_seasons + 1) * m :]
        self._profile = None
        if len(recent) >= 2 * m:
            try:
                from statsmodels.tsa.holtwinters import ExponentialSmoothing

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fitted = ExponentialSmoothing(
                        recent,
                        trend="add",
                        damped_trend=True,
                        seasonal="add",
                        seasonal_periods=m,
                        initialization_method="estimated",
                    ).fit(optimized=True)
                p = fitted.params
                self.alpha = float(p["smoothing_level"])
                self.beta = float(p.get("smoothing_trend") or 0.0)
                self.gamma = float(p.get("smoothing_seasonal") or 0.0)
                self.phi = float(p.get("damping_trend") or 1.0)
                # The fitted seasonal profile, keyed by phase of day, seeds every later re-run.
                season = np.asarray(fitted.season)[-m:]
                phases = self._phases(series.index[-m:])
                profile = np.zeros(m)
                profile[phases] = season
                self._profile = profile
            except (ValueError, np.linalg.LinAlgError):  # pragma: no cover - statsmodels numerical failure
                pass
        return super().fit(series) if bands else self

    def to_state(self) -> dict[str, Any]:
        """Fitted weights and seasonal profile as JSON-able data (saved inside a model's manifest)."""
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
            "phi": self.phi,
            "fit_seasons": self.fit_seasons,
            "season_s": self.season.total_seconds(),
            "profile": None if self._profile is None else [round(float(v), 6) for v in self._profile],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, step: pd.Timedelta, horizon_steps: int) -> HoltWinters:
        hw = cls(
            step=step,
            horizon_steps=horizon_steps,
            season=pd.Timedelta(seconds=float(state["season_s"])),
            alpha=float(state["alpha"]),
            beta=float(state["beta"]),
            gamma=float(state["gamma"]),
            phi=float(state["phi"]),
            fit_seasons=int(state["fit_seasons"]),
        )
        profile = state.get("profile")
        hw._profile = None if profile is None else np.asarray(profile, dtype=float)
        if hw._profile is not None and len(hw._profile) != hw.season_steps:
            raise DataError(f"Holt-Winters profile has {len(hw._profile)} points, expected {hw.season_steps}")
        return hw

    def _phases(self, index: pd.DatetimeIndex) -> np.ndarray:
        step_ns = self.step.value
        return ((pd.DatetimeIndex(index).as_unit("ns").asi8 // step_ns) % self.season_steps).astype(np.int64)

    def _point_at(self, values: np.ndarray, last: pd.Timestamp) -> np.ndarray:
        m = self.season_steps
        y = values[-(self.fit_seasons * m) :] if len(values) > self.fit_seasons * m else values
        profile = self._profile
        if profile is not None and len(y) >= m:
            # Seasonal state from the fit, aligned to the phase of the first point of y.
            last_phase = int(self._phases(pd.DatetimeIndex([last]))[0])
            first_phase = (last_phase - (len(y) - 1)) % m
            season = list(np.roll(profile, -first_phase)[:m])
            level = float(np.mean(y[:m] - np.asarray(season)))
            trend = 0.0
            start = 0
        else:
            if len(y) < 2 * m:
                raise DataError(f"{self.name} needs two seasons ({2 * m} points) of history, got {len(y)}")
            first, second = y[:m], y[m : 2 * m]
            level = float(first.mean())
            trend = float((second.mean() - first.mean()) / m)
            season = list(first - level)
            start = m
        a, b, g, phi = self.alpha, self.beta, self.gamma, self.phi
        for t in range(start, len(y)):
            s = season[t - start]
            prev_level = level
            level = a * (y[t] - s) + (1 - a) * (prev_level + phi * trend)
            trend = b * (level - prev_level) + (1 - b) * phi * trend
            season.append(g * (y[t] - level) + (1 - g) * s)
        n = len(season)
        h = np.arange(1, self.horizon_steps + 1)
        damp = np.cumsum(phi**h)
        seas = np.array([season[n - m + ((k - 1) % m)] for k in h])
        return level + damp * trend + seas

    def points_range(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        *,
        first: int,
        last: int,
        state: HoltWintersState | None = None,
    ) -> np.ndarray:
        """Point forecasts ``[last - first + 1, H]`` at every origin ``first..last`` in one recursion pass.

        The same recursions as :meth:`_point_at`, started ``fit_seasons`` seasons before ``first`` from the
        fitted seasonal profile, but run once over the range instead of once per origin (a backtest or the
        skill weighting needs forecasts at many consecutive origins). ``state`` (from :meth:`range_state`
        of a previous call on the same data, at origin ``first - 1``) resumes the recursion instead of
        warming it up again. Without a fitted profile, each origin is computed on its own.
        """
        return self.range_state(values, index, first=first, last=last, state=state)[0]

    def range_state(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        *,
        first: int,
        last: int,
        state: HoltWintersState | None = None,
    ) -> tuple[np.ndarray, HoltWintersState | None]:
        """:meth:`points_range` and the recursion's state at origin ``last`` (to resume from)."""
        m, H = self.season_steps, self.horizon_steps
        if self._profile is None:
            out = np.stack([self._point_at(values[:t], index[t - 1]) for t in range(first, last + 1)])
            return out, None
        if state is not None and state.origin == first - 1:
            start, level, trend = state.origin, state.level, state.trend
            season = np.concatenate([state.season, np.empty(last - start)])
            y = values[start:last]
            skip = 1  # the state's own origin was forecast by the previous call
        else:
            start = max(0, first - self.fit_seasons * m)
            if first - start < m:
                raise DataError(f"{self.name} needs a season ({m} points) of history before the first origin")
            y = values[start:last]
            first_phase = int(self._phases(pd.DatetimeIndex([index[start]]))[0])
            season = np.empty(m + len(y))  # the seasonal state, appended to as the recursion runs
            season[:m] = np.roll(self._profile, -first_phase)[:m]
            level = float(np.mean(y[:m] - season[:m]))
            trend = 0.0
            skip = 0
        a, b, g, phi = self.alpha, self.beta, self.gamma, self.phi
        k = np.arange(H)
        damp = np.cumsum(phi ** (k + 1))  # [H]
        lag = k % m - m  # [H] where each step's seasonal term sits, relative to the state's end
        out = np.empty((last - first + 1, H))
        for t in range(len(y) + 1):
            origin = start + t
            if origin >= first and t >= skip:
                out[origin - first] = level + damp * trend + season[m + t + lag]
            if t == len(y):
                break
            s = season[t]
            prev_level = level
            level = a * (y[t] - s) + (1 - a) * (prev_level + phi * trend)
            trend = b * (level - prev_level) + (1 - b) * phi * trend
            season[m + t] = g * (y[t] - level) + (1 - g) * s
        return out, HoltWintersState(origin=last, level=level, trend=trend, season=season[-m:].copy())


def fallback_baseline(
    history: pd.Series, *, step: pd.Timedelta, horizon_steps: int, quantiles: Sequence[float] = (0.5, 0.9)
) -> tuple[_Baseline, str | None]:
    """The baseline that answers when no trained model can, fitted on ``history``, and a note when it is
    the weaker one: yesterday at this time (daily seasonal naive) once a day of history (plus a horizon)
    exists, the last value before that. The one rule the service and the prescaler share."""
    qs = tuple(quantiles)
    span = history.index[-1] - history.index[0]
    if span >= pd.Timedelta(days=1) + step * horizon_steps:
        return SeasonalNaive(step=step, horizon_steps=horizon_steps, quantiles=qs).fit(history), None
    base = LastValue(step=step, horizon_steps=horizon_steps, quantiles=qs).fit(history)
    return base, "less than a day of history: last-value baseline used"


def baselines_for(
    series: pd.Series,
    *,
    step: pd.Timedelta,
    horizon_steps: int,
    quantiles: Sequence[float] = (0.5, 0.9),
) -> list[_Baseline]:
    """The baselines that fit ``series`` (weekly naive only with two weeks; Holt-Winters with two days), fitted."""
    qs = tuple(quantiles)
    span = series.index[-1] - series.index[0]
    out: list[_Baseline] = [LastValue(step=step, horizon_steps=horizon_steps, quantiles=qs)]
    if span >= pd.Timedelta(days=1) + step * horizon_steps:
        out.append(SeasonalNaive(step=step, horizon_steps=horizon_steps, quantiles=qs))
    if span >= pd.Timedelta(days=14):
        out.append(
            SeasonalNaive(
                step=step,
                horizon_steps=horizon_steps,
                quantiles=qs,
                season=pd.Timedelta(days=7),
                name="seasonal_naive_weekly",
            )
        )
    if span >= pd.Timedelta(days=2):
        out.append(HoltWinters(step=step, horizon_steps=horizon_steps, quantiles=qs))
    for b in out:
        b.fit(series)
    return out
