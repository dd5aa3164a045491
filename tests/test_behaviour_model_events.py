"""The event calendar as users write it: every documented field, defaults, boundaries at exactly now, refusals.

Through :mod:`forecaster.events`' public functions (CSV and YAML parsing, :class:`Calendar`, :class:`Event`,
:func:`bind_calendar`); pure, no clock: "now" is always passed in.
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.events import (
    Calendar,
    CalendarError,
    Event,
    bind_calendar,
    calendar_from_records,
    calendar_to_csv,
    parse_calendar_csv,
    parse_calendar_yaml,
    read_calendar,
)

T0 = pd.Timestamp("2026-03-05T20:00:00Z")
H = pd.Timedelta(hours=1)
M = pd.Timedelta(minutes=1)


def test_every_documented_field_of_a_csv_row():
    cal = parse_calendar_csv(
        "start,kind,end,expected\n2026-03-05T21:07:00+01:00,football,2026-03-05T22:00:00Z,12000\n"
    )

    [e] = cal.events
    assert e.start == pd.Timestamp("2026-03-05T20:07:00Z")  # the offset is turned into UTC
    assert str(e.start.tz) == "UTC"
    assert e.kind == "football"
    assert e.end == pd.Timestamp("2026-03-05T22:00:00Z")
    assert e.expected == 12000.0
    assert e.until == e.end


def test_defaults_kind_event_no_end_running_one_hour_no_hint():
    [e] = parse_calendar_csv("start\n2026-03-05T20:00:00Z\n").events
    assert e.kind == "event"
    assert e.end is None and e.expected is None
    assert e.until == T0 + H


def test_empty_optional_cells_take_the_defaults():
    [e] = parse_calendar_csv("start,kind,end,expected\n2026-03-05T20:00:00Z, , ,\n").events
    assert (e.kind, e.end, e.expected, e.until) == ("event", None, None, T0 + H)


def test_columns_in_any_order_and_case():
    [e] = parse_calendar_csv("Expected,KIND,Start\n5,concert,2026-03-05T20:00:00Z\n").events
    assert (e.start, e.kind, e.expected) == (T0, "concert", 5.0)


def test_zero_expected_is_a_hint():
    [e] = parse_calendar_csv("start,expected\n2026-03-05T20:00:00Z,0\n").events
    assert e.expected == 0.0


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "empty"),
        ("kind\nfootball\n", "no 'start' column"),
        ("start,where\n2026-03-05T20:00:00Z,x\n", "unknown column 'where'"),
        ("start\n2026-03-05T20:00:00\n", "row 2: field 'start'"),  # no offset: ambiguous
        ("start\nsoon\n", "row 2: field 'start'"),
        ("start,kind\n,football\n", "row 2: field 'start' is missing"),
        ("start,end\n2026-03-05T20:00:00Z,2026-03-05T20:00:00Z\n", "row 2: field 'end'"),  # zero length
        ("start,end\n2026-03-05T20:00:00Z,2026-03-05T19:00:00Z\n", "row 2: field 'end'"),
        ("start,expected\n2026-03-05T20:00:00Z,-1\n", "row 2: field 'expected'"),
        ("start,expected\n2026-03-05T20:00:00Z,many\n", "row 2: field 'expected'"),
        ("start,expected\n2026-03-05T20:00:00Z,inf\n", "row 2: field 'expected'"),
        ("start,expected\n2026-03-05T20:00:00Z,nan\n", "row 2: field 'expected'"),
        ("start\n2026-03-05T20:00:00Z\n\n2026-03-05T20:00:00Z,x\n", "row 4"),
    ],
)
def test_a_malformed_csv_is_refused_naming_the_row_and_the_field(text, names):
    with pytest.raises(CalendarError) as info:
        parse_calendar_csv(text, source="cal.csv")
    assert names in str(info.value) and "cal.csv" in str(info.value)


def test_an_end_one_second_after_the_start_is_accepted():
    [e] = parse_calendar_csv("start,end\n2026-03-05T20:00:00Z,2026-03-05T20:00:01Z\n").events
    assert e.until == T0 + pd.Timedelta(seconds=1)


def test_blank_lines_are_skipped():
    cal = parse_calendar_csv("start\n\n2026-03-05T20:00:00Z\n\n2026-03-05T21:00:00Z\n")
    assert len(cal) == 2


def test_yaml_lists_and_events_mappings_with_the_same_fields():
    text = "- {start: '2026-03-05T20:00:00Z', kind: football, expected: '100'}\n- start: 2026-03-05T22:00:00+00:00\n"
    cal = parse_calendar_yaml(text)
    assert [(e.start, e.kind, e.expected) for e in cal.events] == [
        (T0, "football", 100.0),
        (T0 + 2 * H, "event", None),
    ]
    nested = parse_calendar_yaml("events:\n- {start: '2026-03-05T20:00:00Z'}\n")
    assert [e.start for e in nested.events] == [T0]
    assert len(parse_calendar_yaml("")) == 0


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("start: x\n", "expected a list"),
        ("- 2026-03-05T20:00:00Z\n", "entry 1"),
        ("- {start: '2026-03-05T20:00:00Z', size: 3}\n", "unknown field 'size'"),
        ("- {start: '2026-03-05T20:00:00'}\n", "entry 1: field 'start'"),
        ("- {start: '2026-03-05T20:00:00Z'}\n- {kind: x}\n", "entry 2: field 'start' is missing"),
        ("[", "invalid YAML"),
    ],
)
def test_a_malformed_yaml_calendar_is_refused_by_entry(text, names):
    with pytest.raises(CalendarError, match=names):
        parse_calendar_yaml(text)


def test_records_from_a_source_are_parsed_as_rows():
    cal = calendar_from_records(
        [{"start": "2026-03-05T20:00:00Z", "kind": "a"}, {"start": T0.isoformat(), "kind": "b"}],
        source="prom",
    )
    assert cal.source == "prom" and [e.kind for e in cal.events] == ["a", "b"]


def test_files_by_suffix(tmp_path):
    (tmp_path / "c.yaml").write_text("- {start: '2026-03-05T20:00:00Z'}\n")
    (tmp_path / "c.yml").write_text("- {start: '2026-03-05T20:00:00Z'}\n")
    (tmp_path / "c.csv").write_text("start\n2026-03-05T20:00:00Z\n")
    (tmp_path / "c.txt").write_text("start\n2026-03-05T20:00:00Z\n")
    for name in ("c.yaml", "c.yml", "c.csv", "c.txt"):
        assert [e.start for e in read_calendar(tmp_path / name).events] == [T0]
    with pytest.raises(CalendarError, match="cannot read"):
        read_calendar(tmp_path / "missing.csv")


def test_csv_round_trip():
    cal = Calendar.of(
        [
            Event(T0, "football", T0 + 2 * H, 1500.5),
            Event(T0 + H, "concert"),
        ]
    )
    back = parse_calendar_csv(calendar_to_csv(cal))
    assert back.events == cal.events


# -- the calendar --------------------------------------------------------------------------------------------


def test_sorted_duplicates_dropped_first_wins_and_counted():
    cal = Calendar.of(
        [
            Event(T0 + H, "b"),
            Event(T0, "a", expected=1.0),
            Event(T0, "a", expected=2.0),
            Event(T0, "b"),
        ]
    )
    assert [(e.start, e.kind) for e in cal.events] == [(T0, "a"), (T0, "b"), (T0 + H, "b")]
    assert cal.events[0].expected == 1.0
    assert cal.duplicates == 1
    assert cal.kinds == ("a", "b")


@pytest.mark.parametrize(
    ("events", "overlapping"),
    [
        ([Event(T0, "a"), Event(T0 + 59 * M, "a")], 1),  # inside the default hour
        ([Event(T0, "a"), Event(T0 + H, "a")], 0),  # exactly when the first one stops
        ([Event(T0, "a"), Event(T0 + 30 * M, "b")], 0),  # other kinds never overlap
        ([Event(T0, "a", end=T0 + 10 * M), Event(T0 + 20 * M, "a")], 0),
        ([Event(T0, "a", end=T0 + 3 * H), Event(T0 + H, "a"), Event(T0 + 2 * H, "a")], 2),
    ],
)
def test_overlaps_of_one_kind_are_counted_and_kept(events, overlapping):
    cal = Calendar.of(events)
    assert cal.overlapping == overlapping
    assert len(cal) == len(events)


def test_upcoming_includes_an_event_starting_exactly_now():
    cal = Calendar.of([Event(T0 - M), Event(T0), Event(T0 + 30 * M), Event(T0 + H)])

    assert [e.start for e in cal.upcoming(T0)] == [T0, T0 + 30 * M, T0 + H]
    assert [e.start for e in cal.upcoming(T0, within=H)] == [T0, T0 + 30 * M]  # the end is open
    assert cal.past_count(T0) == 1
    assert cal.summary(T0)["past"] == 1 and cal.summary(T0)["upcoming"] == 3


def test_naive_and_offset_nows_are_utc():
    cal = Calendar.of([Event(T0)])
    assert cal.upcoming(pd.Timestamp("2026-03-05T20:00:00")) == [Event(T0)]
    assert cal.upcoming(pd.Timestamp("2026-03-05T21:00:01+01:00")) == []
    assert cal.past_count(pd.Timestamp("2026-03-05T21:00:01+01:00")) == 1


def test_between_is_inclusive_and_keeps_the_counts():
    cal = Calendar.of([Event(T0), Event(T0), Event(T0 + H), Event(T0 + 2 * H)])
    part = cal.between(T0, T0 + H)
    assert [e.start for e in part.events] == [T0, T0 + H]
    assert part.duplicates == 1


def test_summary_counts_kinds():
    cal = Calendar.of([Event(T0, "a"), Event(T0 + H, "a"), Event(T0, "b")], source="f.csv")
    s = cal.summary()
    assert s == {
        "source": "f.csv",
        "events": 3,
        "kinds": {"a": 2, "b": 1},
        "duplicates_dropped": 0,
        "overlapping": 0,
    }


def test_relabel_renames_only_the_named_kinds():
    cal = Calendar.of([Event(T0, "new"), Event(T0 + H, "old")]).relabel({"new": "old"})
    assert [e.kind for e in cal.events] == ["old", "old"]


class _Reads:
    events = object()

    def __init__(self):
        self.calls = []

    def predict(self, history, events=None):
        self.calls.append(events)
        return "frame"

    def predict_many(self, history, *, origins, events=None):
        self.calls.append(events)
        return ["frame"]


def test_a_bound_calendar_is_passed_to_every_prediction():
    cal = Calendar.of([Event(T0)])
    model = _Reads()
    bound = bind_calendar(model, cal)
    assert bound.predict(None) == "frame"
    assert bound.predict_many(None, origins=[1]) == ["frame"]
    assert model.calls == [cal, cal]
    assert bound.events is model.events  # everything else is the model's


def test_nothing_is_bound_without_a_calendar_or_to_a_model_that_reads_none():
    model = _Reads()
    assert bind_calendar(model, None) is model

    class Blind:
        events = None

    blind = Blind()
    assert bind_calendar(blind, Calendar.of([Event(T0)])) is blind
