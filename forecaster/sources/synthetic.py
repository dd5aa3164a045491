"""Synthetic live-streaming traffic: the embedded default that needs no Prometheus (pure, deterministic).

The shape follows what a live-streaming platform sees: a daily cycle with a night trough and a prime-time
peak, busier weekends, *scheduled* stream starts (a big show every evening, a weekend event) that ramp
traffic up within minutes and decay over an hour or two, a few unscheduled spikes nobody could predict,
and multiplicative noise. The same ``seed`` always gives the same series.

:func:`live_streaming_events` is the scenario for the calendar (:mod:`forecaster.events`): instead of a show
at the same minute every day, streams of a few kinds start at irregular times, announced in a calendar that
is as untidy as real ones (some entries cancelled, some streams starting a few minutes late), with
unscheduled spikes on top that no calendar announces. :func:`live_streaming` keeps its old behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecaster.events import Calendar, Event
from forecaster.series import parse_duration

__all__ = [
    "EventKind",
    "EventScenario",
    "LiveStreamingShape",
    "ScheduleShape",
    "live_streaming",
    "live_streaming_events",
]


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
    minutes_since = np.asarray(minutes_since, dtype=float)
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
    dow = index.day_of_week.to_numpy()
    level = _daily_level(index, shape)

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
    return pd.Series(
        _with_noise(level * (1.0 + spikes), rng, shape.noise), index=index, name="requests_per_second"
    )


def _daily_level(index: pd.DatetimeIndex, shape: LiveStreamingShape) -> np.ndarray:
    """The load without spikes or noise: daily cycle, busier weekends, a slow drift in popularity."""
    minute_of_day = (index.hour * 60 + index.minute + index.second / 60).to_numpy(dtype=float)
    hour = minute_of_day / 60.0
    weekend = index.day_of_week.to_numpy() >= 5

    # Daily cycle: trough ~05:00, slow climb through the day, prime-time bump centred at 21:00.
    daytime = 0.5 * (1 - np.cos(2 * np.pi * (hour - 5.0) / 24.0))
    prime = np.exp(-0.5 * ((hour - 21.0) / 1.6) ** 2)
    level = shape.base_rps + shape.prime_time_rps * (0.45 * daytime + 0.55 * prime)
    level = level * np.where(weekend, shape.weekend_factor, 1.0)

    # Slow drift in popularity: a few percent per week, so the model must track level.
    weeks = (index - index[0]).total_seconds().to_numpy() / (7 * 86400)
    return level * (1.0 + 0.04 * weeks)


def _with_noise(clean: np.ndarray, rng: np.random.Generator, noise_sd: float) -> np.ndarray:
    n = len(clean)
    noise = rng.normal(0.0, noise_sd, size=n)
    # Smooth part of the noise: AR(1) so consecutive minutes are correlated like real traffic.
    ar = np.zeros(n)
    eps = rng.normal(0.0, noise_sd, size=n)
    for i in range(1, n):
        ar[i] = 0.97 * ar[i - 1] + 0.25 * eps[i]
    return clean * np.exp(noise + ar)


@dataclass(frozen=True)
class EventKind:
    """One kind of scheduled stream: how big (relative jump of load), how fast and how long, how often."""

    name: str
    jump: float
    """Mean relative jump of load at the peak (1.5 = +150%); each event varies around it."""
    rise_min: float
    decay_min: float
    duration_min: float
    """Announced length (the calendar's ``end``)."""
    weight: float
    """Relative frequency among scheduled events."""


@dataclass(frozen=True)
class ScheduleShape:
    """The calendar of the event scenario and how untidy it is."""

    kinds: tuple[EventKind, ...] = (
        EventKind("football", jump=1.6, rise_min=3.0, decay_min=70.0, duration_min=110.0, weight=0.35),
        EventKind("concert", jump=0.9, rise_min=5.0, decay_min=90.0, duration_min=120.0, weight=0.3),
        EventKind("streamer", jump=0.5, rise_min=2.0, decay_min=35.0, duration_min=60.0, weight=0.35),
    )
    events_per_day: float = 2.5
    first_hour: float = 9.0
    """Scheduled starts fall between these hours (UTC), at any minute."""
    last_hour: float = 23.0
    size_spread: float = 0.25
    """Log-normal spread of each event's size around its kind's jump; ``expected`` tracks it (noisily)."""
    cancelled_fraction: float = 0.07
    """Calendar entries that never happen."""
    late_fraction: float = 0.3
    late_max_min: float = 6.0
    """Streams that start late start up to this many minutes after the announced time."""
    surprise_spikes_per_week: float = 2.0
    """Unscheduled spikes nobody announced (not in the calendar)."""
    hinted: bool = True
    """Whether entries carry an ``expected`` size hint (registered viewers)."""


@dataclass
class EventScenario:
    """The series, its calendar (as announced), and what really happened."""

    series: pd.Series
    calendar: Calendar
    actual_starts: list[tuple[pd.Timestamp, str]] = field(default_factory=list)
    cancelled: list[Event] = field(default_factory=list)
    surprises: list[pd.Timestamp] = field(default_factory=list)


def live_streaming_events(
    *,
    days: float = 28,
    step: str | pd.Timedelta = "1m",
    seed: int = 0,
    start: str | pd.Timestamp = "2026-01-05 00:00:00",
    shape: LiveStreamingShape | None = None,
    schedule: ScheduleShape | None = None,
) -> EventScenario:
    """Synthetic requests/s with irregularly scheduled streams of a few kinds, and their calendar.

    Starts are at random minutes between ``first_hour`` and ``last_hour`` (never the same time every day),
    sizes vary per event around their kind's mean, ``expected`` is a noisy size hint, some entries are
    cancelled, some streams start late, and unscheduled spikes come on top.
    """
    shape = shape or LiveStreamingShape()
    schedule = schedule or ScheduleShape()
    rng = np.random.default_rng(seed)
    step_td = parse_duration(step)
    n = int(pd.Timedelta(days=days) / step_td)
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize(None) if t0.tzinfo is None else t0.tz_convert("UTC").tz_localize(None)
    index = pd.date_range(t0, periods=n, freq=step_td, unit="ns")
    level = _daily_level(index, shape)
    elapsed_min = (index - index[0]).total_seconds().to_numpy() / 60  # [n]
    spikes = np.zeros(n)
    weights = np.array([k.weight for k in schedule.kinds])
    weights = weights / weights.sum()
    entries: list[Event] = []
    scenario = EventScenario(series=pd.Series(dtype=float), calendar=Calendar())
    for day in range(int(np.ceil(days))):
        for _ in range(rng.poisson(schedule.events_per_day)):
            kind = schedule.kinds[int(rng.choice(len(schedule.kinds), p=weights))]
            minute = int(rng.integers(int(schedule.first_hour * 60), int(schedule.last_hour * 60)))
            at = t0.normalize() + pd.Timedelta(days=day, minutes=minute)
            size = kind.jump * float(np.exp(rng.normal(0.0, schedule.size_spread)))
            expected = round(10_000 * size * float(np.exp(rng.normal(0.0, 0.1))))
            event = Event(
                start=at.tz_localize("UTC"),
                kind=kind.name,
                end=(at + pd.Timedelta(minutes=kind.duration_min)).tz_localize("UTC"),
                expected=float(expected) if schedule.hinted else None,
            )
            entries.append(event)
            if rng.random() < schedule.cancelled_fraction:
                scenario.cancelled.append(event)
                continue
            late = (
                float(rng.uniform(1.0, schedule.late_max_min))
                if rng.random() < schedule.late_fraction
                else 0.0
            )
            actual = at + pd.Timedelta(minutes=late)
            scenario.actual_starts.append((actual.tz_localize("UTC"), kind.name))
            since = elapsed_min - (actual - index[0]).total_seconds() / 60
            spikes += size * _ramp_decay(since, rise_min=kind.rise_min, decay_min=kind.decay_min)
    total_minutes = n * step_td.total_seconds() / 60
    for at_min in rng.uniform(
        0, total_minutes, size=rng.poisson(schedule.surprise_spikes_per_week * days / 7)
    ):
        size = rng.uniform(0.3, 0.8)
        spikes += size * _ramp_decay(elapsed_min - at_min, rise_min=4.0, decay_min=rng.uniform(15, 40))
        scenario.surprises.append((index[0] + pd.Timedelta(minutes=float(at_min))).tz_localize("UTC"))
    scenario.series = pd.Series(
        _with_noise(level * (1.0 + spikes), rng, shape.noise), index=index, name="requests_per_second"
    )
    scenario.calendar = Calendar.of(entries, source=f"synthetic calendar (seed {seed})")
    return scenario
