"""The accuracy guard (pure): past p50 forecasts against what happened; switches a policy to Forecast mode.

:class:`ForecastLog` keeps one policy's recent p50 forecasts (in memory); :func:`judge` compares those made
in the guard's window with the actual load known now (WAPE) and says whether the guard is on, with the hysteresis
of ``recover_ratio`` so it does not flap at the threshold. The on/off state itself lives in the policy's
status, so a new leader continues with it.

This module must not talk to anything or read a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecaster.prescaler.policy import AccuracyGuardSpec

__all__ = ["ForecastLog", "GuardReading", "judge"]


@dataclass
class ForecastLog:
    """Past p50 forecasts of one policy by the time they were made."""

    forecasts: list[tuple[pd.Timestamp, pd.Series]] = field(default_factory=list)

    def record(self, made_at: pd.Timestamp, p50: pd.Series, *, keep_s: float) -> None:
        self.forecasts = [(t, s) for t, s in self.forecasts if t >= made_at - pd.Timedelta(seconds=keep_s)]
        self.forecasts.append((made_at, p50))

    def error(self, actuals: pd.Series, *, now: pd.Timestamp, window_s: float) -> tuple[float | None, int]:
        """WAPE of the p50 forecasts made in ``[now - window, now)`` against ``actuals`` known by ``now``, and
        the number of compared points."""
        start = now - pd.Timedelta(seconds=window_s)
        actual = actuals.dropna()
        errs: list[float] = []
        totals: list[float] = []
        for made_at, p50 in self.forecasts:
            if made_at < start:
                continue  # judge the forecasts made in the window, so a recovered model is trusted again
            past = p50[(p50.index > made_at) & (p50.index <= now)]
            both = pd.concat([past.rename("f"), actual.rename("a")], axis=1, join="inner").dropna()
            errs.extend(np.abs(both["f"] - both["a"]).tolist())
            totals.extend(np.abs(both["a"]).tolist())
        if not errs:
            return None, 0
        denominator = sum(totals)
        if denominator <= 0:
            return None, len(errs)
        return float(sum(errs) / denominator), len(errs)


@dataclass(frozen=True)
class GuardReading:
    active: bool
    error: float | None = None
    accuracy: dict[str, Any] = field(default_factory=dict)
    """What goes into ``status.accuracy``."""


def judge(
    spec: AccuracyGuardSpec | None,
    *,
    log: ForecastLog,
    history: pd.Series | None,
    was_active: bool,
    now: pd.Timestamp,
) -> GuardReading:
    """Whether the guard is on now. Without history (no forecast this tick) it keeps its last state."""
    if spec is None:
        return GuardReading(active=False, accuracy={"guardActive": False})
    active = was_active
    accuracy: dict[str, Any] = {}
    err = None
    if history is not None:
        err, samples = log.error(history, now=now, window_s=spec.window_s)
        accuracy = {"window": f"{spec.window_s:.0f}s", "samples": samples}
        if err is not None:
            accuracy["error"] = round(err, 4)
            if samples >= spec.min_samples:
                if not active and err > spec.max_error:
                    active = True
                elif active and err <= spec.max_error * spec.recover_ratio:
                    active = False
    accuracy["guardActive"] = active
    return GuardReading(active=active, error=err, accuracy=accuracy)
