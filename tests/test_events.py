"""The calendar of scheduled events: parsing (CSV, YAML, Prometheus), its errors, and its counts."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from forecaster.errors import ConfigError
from forecaster.events import (
    Calendar,
    CalendarError,
    Event,
    parse_calendar_csv,
    parse_calendar_yaml,
    read_calendar,
)
from forecaster.settings import EventsSettings, PrometheusSettings, TargetConfig, load_target_config
from forecaster.sources.prometheus import calendar_from_vector, fetch_calendar
from forecaster.target_resource import object_from_target_config, target_config_from_object

UTC = "UTC"


def test_csv_with_offsets_and_defaults():
    cal = parse_calendar_csv(
        "start,kind,end,expected\n"
        "2026-03-05T21:07:00+01:00,football,2026-03-05T22:50:00+01:00,12000\n"
        "2026-03-04T18:00:00Z,,,\n"
    )
    assert [e.start for e in cal.events] == [
        pd.Timestamp("2026-03-04 18:00", tz=UTC),
        pd.Timestamp("2026-03-05 20:07", tz=UTC),
    ], "sorted, converted to UTC"
    first, second = cal.events
    assert first.kind == "event" and first.end is None and first.expected is None
    assert second.kind == "football" and second.expected == 12000.0
    assert second.end == pd.Timestamp("2026-03-05 21:50", tz=UTC)
    assert cal.kinds == ("event", "football")


def test_csv_needs_only_a_start_column():
    cal = parse_calendar_csv("start\n2026-03-05T20:07:00Z\n\n")
    assert cal.events == (Event(start=pd.Timestamp("2026-03-05 20:07", tz=UTC)),)


@pytest.mark.parametrize(
    ("text", "row", "field"),
    [
        ("start,kind\nsoon,football\n", "row 2", "'start'"),
        ("start,kind\n2026-03-05T20:07:00Z,a\n2026-03-05T20:07:00,b\n", "row 3", "'start'"),  # no offset
        ("start,kind\n,football\n", "row 2", "'start'"),
        ("start,end\n2026-03-05T20:07:00Z,2026-03-05T20:00:00Z\n", "row 2", "'end'"),
        ("start,expected\n2026-03-05T20:07:00Z,lots\n", "row 2", "'expected'"),
        ("start,expected\n2026-03-05T20:07:00Z,-5\n", "row 2", "'expected'"),
        ("start,when\n2026-03-05T20:07:00Z,x\n", "line 1", "'when'"),
    ],
)
def test_a_malformed_csv_row_names_the_row_and_the_field(text, row, field):
    with pytest.raises(CalendarError) as err:
        parse_calendar_csv(text, source="events.csv")
    message = str(err.value)
    assert "events.csv" in message and row in message and field in message, message


def test_yaml_has_the_same_fields_and_errors():
    cal = parse_calendar_yaml(
        "events:\n"
        "  - {start: 2026-03-05T20:07:00Z, kind: concert, expected: 300}\n"
        "  - start: 2026-03-06T10:00:00+02:00\n"
    )
    assert [(e.kind, e.start.hour) for e in cal.events] == [("concert", 20), ("event", 8)]
    with pytest.raises(CalendarError, match=r"entry 2: field 'start'.*no UTC offset"):
        parse_calendar_yaml("- start: 2026-03-05T20:07:00Z\n- start: 2026-03-05 20:07:00\n", source="c.yaml")
    with pytest.raises(CalendarError, match="entry 1: unknown field 'size'"):
        parse_calendar_yaml("- {start: 2026-03-05T20:07:00Z, size: 3}\n")


def test_read_calendar_picks_the_format_by_suffix(tmp_path):
    (tmp_path / "e.yml").write_text("- start: 2026-03-05T20:07:00Z\n")
    (tmp_path / "e.csv").write_text("start\n2026-03-05T20:07:00Z\n")
    assert read_calendar(tmp_path / "e.yml").events == read_calendar(tmp_path / "e.csv").events
    with pytest.raises(CalendarError, match="cannot read calendar"):
        read_calendar(tmp_path / "missing.csv")


def test_duplicates_are_dropped_overlaps_and_past_entries_counted():
    cal = parse_calendar_csv(
        "start,kind,end\n"
        "2026-03-05T20:00:00Z,football,2026-03-05T22:00:00Z\n"
        "2026-03-05T20:00:00Z,football,\n"  # duplicate: same kind and start
        "2026-03-05T21:00:00Z,football,\n"  # starts while the first still runs
        "2026-03-05T21:00:00Z,concert,\n"  # another kind at the same time: neither
        "2026-03-05T23:30:00Z,football,\n"
    )
    assert len(cal) == 4
    assert cal.duplicates == 1 and cal.overlapping == 1
    now = pd.Timestamp("2026-03-05 21:30", tz=UTC)
    assert cal.past_count(now) == 3
    assert [e.start.hour for e in cal.upcoming(now)] == [23]
    summary = cal.summary(now)
    assert summary["past"] == 3 and summary["upcoming"] == 1 and summary["duplicates_dropped"] == 1


def test_prometheus_vector_becomes_a_calendar():
    start = pd.Timestamp("2026-03-05 20:07", tz=UTC)
    result = [
        {
            "metric": {"__name__": "stream_start_timestamp_seconds", "kind": "football", "viewers": "900"},
            "values": [[1, str(start.timestamp())]],
        },
        {
            "metric": {"__name__": "stream_start_timestamp_seconds"},
            "values": [[1, str(start.timestamp() + 60)]],
        },
    ]
    cal = calendar_from_vector(result, events=EventsSettings(query="x", expected_label="viewers"))
    assert [(e.kind, e.start, e.expected) for e in cal.events] == [
        ("football", start, 900.0),
        ("event", start + pd.Timedelta(minutes=1), None),
    ]
    with pytest.raises(CalendarError, match="field 'start'"):
        calendar_from_vector(
            [{"metric": {"kind": "x"}, "values": [[1, "NaN"]]}], events=EventsSettings(query="x")
        )


def test_fetch_calendar_queries_the_configured_expression_at_now():
    calls = []

    class Client:
        def custom_query_range(self, query, start_time, end_time, step, params=None):
            calls.append((query, start_time, end_time))
            return [{"metric": {"kind": "concert"}, "values": [[1, "1772741220"]]}]

    now = pd.Timestamp("2026-03-01 12:00", tz=UTC)
    cal = fetch_calendar(
        PrometheusSettings(query="unused"),
        EventsSettings(query="stream_start_timestamp_seconds"),
        now=now,
        client=Client(),
    )
    assert calls[0][0] == "stream_start_timestamp_seconds"
    assert pd.Timestamp(calls[0][1]) == now
    assert cal.events[0].kind == "concert"
    assert cal.events[0].start == pd.Timestamp(1772741220, unit="s", tz=UTC)


def test_target_configs_take_an_events_section(tmp_path):
    path = tmp_path / "live.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "live", "prometheus": {"query": "up"}, "events": {"file": "/etc/calendar/events.csv"}}
        )
    )
    cfg = load_target_config(path)
    assert cfg.events == EventsSettings(file="/etc/calendar/events.csv") and cfg.events.enabled
    obj = object_from_target_config(cfg)
    assert obj["spec"]["events"] == {"file": "/etc/calendar/events.csv"}
    assert target_config_from_object(obj) == cfg
    assert not TargetConfig(name="plain").events.enabled
    with pytest.raises(ConfigError, match="both file and query"):
        EventsSettings(file="a.csv", query="x")
    obj["spec"]["events"] = {"kindLabel": 3}
    with pytest.raises(ConfigError, match=r"spec\.events\.kindLabel"):
        target_config_from_object(obj)


def test_relabel_and_between():
    cal = Calendar.of(
        [
            Event(start=pd.Timestamp("2026-03-05 20:00", tz=UTC), kind="esports"),
            Event(start=pd.Timestamp("2026-03-07", tz=UTC)),
        ]
    )
    assert cal.relabel({"esports": "football"}).kinds == ("event", "football")
    assert len(cal.between(pd.Timestamp("2026-03-06", tz=UTC), pd.Timestamp("2026-03-08", tz=UTC))) == 1


def test_csv_round_trip():
    from forecaster.events import calendar_to_csv

    cal = parse_calendar_csv(
        "start,kind,end,expected\n2026-03-05T20:07:00Z,football,2026-03-05T22:00:00Z,12000\n"
        "2026-03-06T18:00:00+01:00,,,\n"
    )
    assert parse_calendar_csv(calendar_to_csv(cal)).events == cal.events


def test_event_window_scores_only_the_minutes_after_scheduled_starts():
    import numpy as np

    from forecaster.event_scores import event_window_mask, event_window_wape
    from forecaster.predictors import LastValue

    index = pd.date_range("2026-03-05", periods=600, freq="5min")
    values = np.full(len(index), 100.0)
    start = pd.Timestamp("2026-03-06 12:00")
    after = (index >= start) & (index < start + pd.Timedelta(minutes=30))
    values[after] = 300.0
    series = pd.Series(values, index=index)
    cal = Calendar.of([Event(start=start.tz_localize(UTC), kind="match")])
    assert (event_window_mask(index, cal, window=pd.Timedelta(minutes=30)) == after).all()
    model = LastValue(step=pd.Timedelta(minutes=5), horizon_steps=6, quantiles=(0.5,)).fit(series.iloc[:100])
    score = event_window_wape(model, series, cal, start=100)
    assert score.events == 1 and score.origins == 12
    # By hand: origins up to the start forecast 100 for the window's 300 (1+2+...+6 steps, 200 off each) over
    # 36 window steps of 300; origins inside forecast 300 for the 100 after it (1+...+5 steps) over 36 x 100.
    assert score.wape_in_windows == pytest.approx(21 * 200 / (36 * 300))
    assert score.wape_outside == pytest.approx(15 * 200 / (36 * 100))


def test_csv_round_trip_keeps_every_digit_of_the_size_hint():
    from forecaster.events import calendar_to_csv

    hints = [1234567.5, 0.1, 1e-7, 3.0, 12000.0, 2.0**53 + 2, 1e20, 123456789.123456789, 0.0]
    cal = Calendar.of(
        [
            Event(
                start=pd.Timestamp("2026-03-05 20:00", tz=UTC) + pd.Timedelta(hours=i), kind="k", expected=x
            )
            for i, x in enumerate(hints)
        ]
    )
    text = calendar_to_csv(cal)
    assert "1234567.5" in text and "e+06" not in text
    assert ",12000\n" in text  # a whole number is written without a trailing .0
    back = parse_calendar_csv(text)
    assert [e.expected for e in back.events] == hints
    assert back.events == cal.events
