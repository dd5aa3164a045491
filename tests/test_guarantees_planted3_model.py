"""Event-calendar behaviours that campaign 3 of the planted bugs showed no test held (bench/results/planted3.md).

Through :mod:`forecaster.events`' parsers and :class:`~forecaster.events.Calendar` only.
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.events import Calendar, CalendarError, Event, parse_calendar_csv

START = pd.Timestamp("2026-03-05T20:00:00Z")


@pytest.mark.parametrize(
    ("description", "end"),
    [
        ("an end equal to the start", "2026-03-05T20:00:00Z"),
        ("the same instant in another offset", "2026-03-05T21:00:00+01:00"),
        ("an end before the start", "2026-03-05T19:59:00Z"),
    ],
)
def test_an_event_must_end_after_it_starts(description, end):
    """A zero-length event would never count as running: the row is refused, naming the field."""
    with pytest.raises(CalendarError, match=r"row 2: field 'end'.*is not after the start"):
        parse_calendar_csv(f"start,kind,end\n2026-03-05T20:00:00Z,football,{end}\n", source="cal.csv")


def test_an_event_ending_one_second_after_its_start_is_accepted():
    calendar = parse_calendar_csv("start,end\n2026-03-05T20:00:00Z,2026-03-05T20:00:01Z\n")
    assert calendar.events[0].until == START + pd.Timedelta(seconds=1)


def test_an_event_starting_now_is_upcoming():
    """Upcoming means starting at or after ``now``: an event that starts this very instant is still shown (the
    status and the API list it), and one that started a second ago is not."""
    calendar = Calendar.of(
        [
            Event(start=START - pd.Timedelta(seconds=1)),
            Event(start=START),
            Event(start=START + pd.Timedelta(hours=2)),
        ]
    )

    assert [e.start for e in calendar.upcoming(START)] == [START, START + pd.Timedelta(hours=2)]
    assert [e.start for e in calendar.upcoming(START, within=pd.Timedelta(hours=2))] == [START]


def test_an_event_without_an_end_counts_as_running_for_an_hour():
    """The documented default duration: an event with no ``end`` runs until an hour after its start (what holds
    capacity and what the "running" input reads), not a minute."""
    calendar = parse_calendar_csv("start,kind\n2026-03-05T20:00:00Z,football\n")
    [event] = calendar.events

    assert event.end is None and event.until == START + pd.Timedelta(hours=1)
