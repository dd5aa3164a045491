"""Small shared test helpers: tiny synthetic series and tiny model settings (seconds to train)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.settings import ModelSettings, TrainSettings

TINY_MODEL = ModelSettings(lookback="1h", horizon="30m", quantiles=(0.5, 0.9), hidden_size=8)
TINY_TRAIN = TrainSettings(epochs=3, batch_size=128, max_windows_per_epoch=1500, patience=2, seed=0)


def daily_sine(
    *, days: float = 5, step: str = "5min", noise: float = 0.0, seed: int = 0, level: float = 100.0
) -> pd.Series:
    """A daily cycle between 0.5x and 1.5x ``level`` on a regular grid, optionally noisy."""
    index = pd.date_range(
        "2026-03-02", periods=int(pd.Timedelta(days=days) / pd.Timedelta(step)), freq=step, unit="ns"
    )
    phase = 2 * np.pi * (index.hour * 60 + index.minute).to_numpy() / 1440
    values = level * (1 + 0.5 * np.sin(phase))
    if noise:
        values = values * (1 + np.random.default_rng(seed).normal(0, noise, len(values)))
    return pd.Series(values, index=index, name="load")


class ProfileOnly:
    """A 5-minute predictor forecasting with an event profile alone (p50 = p90, 6 steps), for the
    ``forecast_fn`` of a replay (:func:`forecaster.simulate.predictor_forecasts`)."""

    step = "5min"
    lookback_steps = 1

    def __init__(self, profile, calendar) -> None:  # noqa: ANN001 - an EventProfile and a Calendar
        self.profile, self.calendar = profile, calendar

    def predict_many(self, series: pd.Series, *, origins):  # noqa: ANN001, ANN202
        index = pd.DatetimeIndex(series.index)
        point, _ = self.profile.forecast(
            series.to_numpy(dtype=float), index, np.asarray(origins), horizon=6, calendar=self.calendar
        )
        step = pd.Timedelta(self.step)
        return [
            pd.DataFrame({"p50": p, "p90": p}, index=index[t - 1] + step * np.arange(1, 7))
            for t, p in zip(origins, point, strict=True)
        ]
