"""Calendar files as operators write them (:mod:`forecaster.events`): a CSV row may leave its trailing fields
out, a row of empty fields is a blank line, a kind is read without the spaces around it, ``.YAML`` is YAML, a
mapping must hold the ``events`` list alone, a size hint must be a finite number, two kinds may start at
the same time, and the CSV written back reads as the same calendar.
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.events import (
    CalendarError,
    calendar_to_csv,
    parse_calendar_csv,
    parse_calendar_yaml,
    read_calendar,
)

T0 = pd.Timestamp("2026-03-05T20:00:00Z")


def test_a_csv_row_may_leave_its_trailing_fields_out_and_a_row_of_empty_fields_is_skipped():
    cal = parse_calendar_csv(
        "start,kind,end,expected\n2026-03-05T20:00:00Z,football\n,,,\n 2026-03-06T20:00:00Z \n"
    )
    assert [(e.start, e.kind, e.end, e.expected) for e in cal.events] == [
        (T0, "football", None, None),
        (T0 + pd.Timedelta(days=1), "event", None, None),
    ]
    with pytest.raises(CalendarError, match="row 2: 5 fields but the header names 4"):
        parse_calendar_csv("start,kind,end,expected\n2026-03-05T20:00:00Z,football,,,1\n")


def test_a_kind_is_read_without_the_spaces_around_it():
    cal = parse_calendar_csv("start,kind\n2026-03-05T20:00:00Z,  football \n2026-03-06T20:00:00Z,   \n")
    assert [e.kind for e in cal.events] == ["football", "event"]


def test_two_kinds_starting_at_the_same_time_are_both_kept_and_the_same_kind_twice_is_one():
    text = "start,kind\n2026-03-05T20:00:00Z,football\n2026-03-05T20:00:00Z,concert\n2026-03-05T21:00:00+01:00,football\n"
    cal = parse_calendar_csv(text)
    assert [(e.start, e.kind) for e in cal.events] == [(T0, "concert"), (T0, "football")]
    assert cal.duplicates == 1


@pytest.mark.parametrize("raw", ["nan", "inf", "-1", "lots"])
def test_a_size_hint_must_be_a_finite_number_of_zero_or_more(raw):
    with pytest.raises(CalendarError, match="field 'expected'"):
        parse_calendar_csv(f"start,expected\n2026-03-05T20:00:00Z,{raw}\n")


def test_a_yaml_mapping_must_hold_the_events_list_alone():
    events = "events:\n  - {start: 2026-03-05T20:00:00Z, kind: football}\n"
    assert [e.kind for e in parse_calendar_yaml(events).events] == ["football"]
    with pytest.raises(CalendarError, match="expected a list of events"):
        parse_calendar_yaml(events + "source: schedule-service\n")


def test_a_file_named_yaml_in_capitals_is_read_as_yaml(tmp_path):
    path = tmp_path / "calendar.YAML"
    path.write_text("- {start: 2026-03-05T20:00:00Z, kind: football, expected: 12000}\n")
    cal = read_calendar(path)
    assert [(e.start, e.kind, e.expected) for e in cal.events] == [(T0, "football", 12000.0)]


def test_the_csv_written_back_reads_as_the_same_calendar_with_whole_hints_written_whole():
    cal = parse_calendar_csv(
        "start,kind,end,expected\n2026-03-05T20:00:00Z,football,2026-03-05T22:00:00Z,12000\n"
        "2026-03-06T20:00:00Z,concert,,1234567.5\n"
    )
    text = calendar_to_csv(cal)
    assert text.splitlines()[1] == "2026-03-05T20:00:00+00:00,football,2026-03-05T22:00:00+00:00,12000"
    assert parse_calendar_csv(text).events == cal.events
