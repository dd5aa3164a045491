"""Synthetic live-streaming traffic: the embedded default that needs no Prometheus (pure, deterministic).

The shape follows what a live-streaming platform sees: a daily cycle with a night trough and a prime-time
peak, busier weekends, *scheduled* stream starts (a big show every evening, a weekend event) that ramp
traffic up within minutes and decay over an hour or two, a few unscheduled spikes nobody could predict,
and multiplicative noise. The same ``seed`` always gives the same series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.series import parse_duration

__all__ = ["LiveStreamingShape", "live_streaming"]


@dataclass(frozen=True)
class LiveStreamingShape:
    """Knobs of the synthetic traffic. Loads are requests per second."""

    base_rps: float = 400.0
    """Night-time trough level."""
    prime_time_rps: float = 1600.0
    """Extra load at the prime-time peak (around 21:00), on top of the base."""
    weekend_factor: float = 1.25
    """Saturday and Sunday daytime traffic relative to weekdays."""
    show_start_hour: float = 20.0
    """Hour (UTC) of the scheduled evening show: a sudden spike every day."""
    show_jump: float = 0.9
    """Relative jump of load when the show starts (0.9 = +90%)."""
    weekend_event_hour: float = 15.0
    """Hour of the Saturday afternoon event."""
    surprise_spikes_per_week: float = 2.0
    """Unscheduled spikes (breaking news, a streamer going viral); the reactive path's job."""
    noise: float = 0.04
    """Standard deviation of the multiplicative noise."""


def _ramp_decay(minutes_since: np.ndarray, *, rise_min: float, decay_min: float) -> np.ndarray:
    """0 before the start, rises to 1 within ``rise_min`` minutes, decays exponentially afterwards."""
    out = np.zeros_like(minutes_since)
    on = minutes_since >= 0
    t = minutes_since[on]
    rise = np.clip(t / rise_min, 0.0, 1.0)
    out[on] = rise * np.exp(-np.maximum(t - rise_min, 0.0) / decay_min)
    return out


def live_streaming(
    *,
    days: float = 28,
    step: str | pd.Timedelta = "1m",
    seed: int = 0,
    start: str | pd.Timestamp = "2026-01-05 00:00:00",
    shape: LiveStreamingShape | None = None,
) -> pd.Series:
    """Synthetic requests/s on a regular grid of ``step`` for ``days`` days starting at ``start`` (UTC)."""
    shape = shape or LiveStreamingShape()
    rng = np.random.default_rng(seed)
    step_td = parse_duration(step)
    n = int(pd.Timedelta(days=days) / step_td)
    index = pd.date_range(pd.Timestamp(start), periods=n, freq=step_td, unit="ns")
    minute_of_day = (index.hour * 60 + index.minute + index.second / 60).to_numpy(dtype=float)
    hour = minute_of_day / 60.0
    dow = index.day_of_week.to_numpy()
    weekend = dow >= 5

    # Daily cycle: trough ~05:00, slow climb through the day, prime-time bump centred at 21:00.
    daytime = 0.5 * (1 - np.cos(2 * np.pi * (hour - 5.0) / 24.0))
    prime = np.exp(-0.5 * ((hour - 21.0) / 1.6) ** 2)
    level = shape.base_rps + shape.prime_time_rps * (0.45 * daytime + 0.55 * prime)
    level = level * np.where(weekend, shape.weekend_factor, 1.0)

    # Slow drift in popularity: a few percent per week, so the model must track level.
    weeks = (index - index[0]).total_seconds().to_numpy() / (7 * 86400)
    level = level * (1.0 + 0.04 * weeks)

    day_number = ((index - index[0].normalize()).days).to_numpy()
    minutes_in_day = minute_of_day
    spikes = np.zeros(n)
    # The scheduled evening show: every day at show_start_hour, jump within 3 minutes, decays over ~90 min.
    since_show = minutes_in_day - shape.show_start_hour * 60
    spikes += shape.show_jump * _ramp_decay(since_show, rise_min=3.0, decay_min=90.0)
    # A Saturday afternoon event, bigger and shorter.
    since_event = np.where(dow == 5, minutes_in_day - shape.weekend_event_hour * 60, -1.0)
    spikes += 1.2 * _ramp_decay(since_event, rise_min=2.0, decay_min=45.0)
    # Unscheduled spikes at random times: nobody can forecast these; the HPA handles them.
    total_minutes = n * step_td.total_seconds() / 60
    n_surprise = rng.poisson(shape.surprise_spikes_per_week * days / 7)
    elapsed_min = (index - index[0]).total_seconds().to_numpy() / 60
    for at in rng.uniform(0, total_minutes, size=n_surprise):
        size = rng.uniform(0.3, 0.8)
        spikes += size * _ramp_decay(elapsed_min - at, rise_min=4.0, decay_min=rng.uniform(15, 40))
    del day_number

    noise = rng.normal(0.0, shape.noise, size=n)
    # Smooth part of the noise: AR(1) so consecutive minutes are correlated like real traffic.
    ar = np.zeros(n)
    eps = rng.normal(0.0, shape.noise, size=n)
    for i in range(1, n):
        ar[i] = 0.97 * ar[i - 1] + 0.25 * eps[i]
    values = level * (1.0 + spikes) * np.exp(noise + ar)
    return pd.Series(values, index=index, name="requests_per_second")
