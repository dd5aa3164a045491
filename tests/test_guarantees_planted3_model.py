"""Event behaviours that campaign 3 of the planted bugs showed no test held (bench/results/planted3.md).

Through :mod:`forecaster.events`' parsers and :class:`~forecaster.events.Calendar`, and the event profile's
:func:`~forecaster.event_profile.judge_start`.
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


def test_a_start_that_never_showed_is_cancelled_and_adds_nothing():
    """Past the lateness allowance plus the detection delay with no rise, an entry is cancelled: scale 0, so
    the capacity held for it is released at the next origin."""
    from forecaster.event_profile import DETECT_S, judge_start

    late_s = 600.0
    state = judge_start(announced_s=0.0, last_s=late_s + DETECT_S + 60.0, late_s=late_s, seen=None)

    assert state.state == "cancelled" and state.scale == 0.0 and state.pending is False


@pytest.mark.parametrize(("seen_scale", "expected"), [(2.5, 1.0), (0.6, 1.0)])
def test_a_young_start_is_forecast_at_its_announced_size_then_at_what_it_shows(seen_scale, expected):
    """Within CONFIRM_S of its real start a started stream keeps its announced size: never smaller (it may
    still grow), and not yet bigger either, since a size fitted on its first minutes overshoots (session 8,
    commit 0c4b64e: median 1.35x, forecasts made 5-6 minutes in 28-38% too high). Once confirmed, the size it
    shows is followed."""
    from forecaster.event_profile import CONFIRM_S, judge_start

    state = judge_start(announced_s=0.0, last_s=120.0, late_s=600.0, seen=(seen_scale, 60.0))

    assert state.state == "started" and state.pending is True
    assert state.scale == pytest.approx(expected)
    confirmed = judge_start(announced_s=0.0, last_s=60.0 + CONFIRM_S, late_s=600.0, seen=(seen_scale, 60.0))
    assert confirmed.state == "started" and confirmed.pending is False
    assert confirmed.scale == pytest.approx(seen_scale)
