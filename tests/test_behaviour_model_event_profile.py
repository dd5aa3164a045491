"""What the event profile learns about lateness from a clean history (:func:`forecaster.event_profile.fit_event_profile`):
how late a stream may start before its entry counts as cancelled is the 95th percentile of the delays of the
training starts that showed up, never rounded below it (else a stream as late as the usual late one is
dropped before it starts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.event_profile import DEFAULT_LATE_S, LATE_QUANTILE, fit_event_profile
from forecaster.events import Calendar, Event

T0 = pd.Timestamp("2026-03-01")


def _history(delays_min: list[float], *, days: int = 7):
    """A 1-minute series with a daily swing and one announced start every 13.3 hours (a different time of day
    each: the daily shape cannot absorb them); the stream of entry i rises ``delays_min[i]`` minutes late."""
    index = pd.date_range(T0, periods=days * 1440, freq="1min")
    t = (index - T0).total_seconds().to_numpy()
    y = 100.0 + 10.0 * np.sin(2 * np.pi * t / 86400)
    events = []
    for i, late in enumerate(delays_min):
        announced = T0 + pd.Timedelta(hours=5 + 13.3 * i)
        events.append(Event(start=announced.tz_localize("UTC"), kind="match"))
        lag = t - (announced + pd.Timedelta(minutes=late) - T0).total_seconds()
        rise = np.minimum(lag / 180, 1.0) * np.exp(-np.maximum(lag - 180, 0) / 1800)
        y = y * (1 + 1.5 * np.where((lag >= 0) & (lag < 3600), rise, 0.0))
    return y, index, Calendar.of(events)


@pytest.mark.parametrize(
    ("delays_min", "late_s"),
    [
        # 9 on time, one 5 minutes late: the 95th percentile is 165 s, held for 3 whole minutes.
        ([0] * 9 + [5], 180.0),
        ([0] * 9 + [7], 240.0),
    ],
)
def test_the_learnt_lateness_covers_the_late_starts_rounded_up_to_a_minute(delays_min, late_s):
    y, index, calendar = _history(delays_min)
    profile = fit_event_profile(y, index, calendar, season=1440, horizon=10)
    quantile_s = float(np.quantile(np.array(delays_min) * 60.0, LATE_QUANTILE))
    assert profile.late_s >= quantile_s
    assert profile.late_s == late_s


def test_without_enough_starts_the_default_lateness_is_kept():
    y, index, calendar = _history([0, 0, 5])
    profile = fit_event_profile(y, index, calendar, season=1440, horizon=10)
    assert profile.late_s == DEFAULT_LATE_S
