"""The event calendar read at a time given with a UTC offset (:class:`forecaster.events.Calendar`): an offset
time is the same instant in UTC, never its wall-clock reading taken as UTC (a prescaler in Europe/Berlin
would otherwise see a start an hour late or early).
"""

from __future__ import annotations

import pandas as pd

from forecaster.events import Calendar, Event

T0 = pd.Timestamp("2026-03-05T20:00:00Z")


def test_an_offset_now_is_the_same_instant_in_utc():
    cal = Calendar.of([Event(T0), Event(T0 + pd.Timedelta(hours=2))])
    berlin = pd.Timestamp("2026-03-05T20:30:00+01:00")  # 19:30 UTC: both starts are ahead
    assert [e.start for e in cal.upcoming(berlin)] == [T0, T0 + pd.Timedelta(hours=2)]
    assert cal.past_count(berlin) == 0
    assert [e.start for e in cal.upcoming(berlin, within=pd.Timedelta(hours=1))] == [T0]
    new_york = pd.Timestamp("2026-03-05T15:30:00-05:00")  # 20:30 UTC: the first start has passed
    assert cal.past_count(new_york) == 1
    assert [e.start for e in cal.upcoming(new_york)] == [T0 + pd.Timedelta(hours=2)]


def test_between_reads_offset_bounds_as_utc_instants():
    cal = Calendar.of([Event(T0), Event(T0 + pd.Timedelta(hours=3))])
    part = cal.between(pd.Timestamp("2026-03-05T21:00:00+01:00"), pd.Timestamp("2026-03-05T22:00:00+01:00"))
    assert [e.start for e in part.events] == [T0]
