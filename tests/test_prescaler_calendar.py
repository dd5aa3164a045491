"""A calendar source that is down or stale: the last good copy within its max age, then forecasting without it;
the CalendarAvailable condition, one Event per transition, the calendar metrics, and no scale-down while an
event the calendar announced is expected. Fixed clock throughout; the cluster is the fake API server."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from forecaster.errors import SourceError
from forecaster.events import Calendar, CalendarError, parse_calendar_csv
from forecaster.prescaler.calendars import (
    LAST_GOOD,
    READ,
    UNAVAILABLE,
    CalendarWatch,
    calendar_hold,
    expected_events,
)
from forecaster.prescaler.forecasts import ForecastResult
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import CrdPolicySource
from forecaster.settings import EventsSettings, PrometheusSettings
from forecaster.sources.calendar import calendar_updated_at, load_calendar
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, forecast_frame, history, hpa, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)
HORIZON = pd.Timedelta(minutes=30)
MATCH = (NOW + 7 * MIN).tz_localize("UTC")  # football at 20:07
CSV = f"start,kind\n{MATCH.isoformat()},football\n2024-05-01T12:00:00Z,concert\n"


def _file(tmp_path: Path, text: str = CSV) -> EventsSettings:
    path = tmp_path / "events.csv"
    path.write_text(text)
    return EventsSettings(file=str(path), max_age_s=120)


def _read(watch: CalendarWatch, settings: EventsSettings, now: pd.Timestamp) -> Any:
    """One tick's read of a file source, as the prescaler's provider does it."""
    return watch.read(
        "target",
        settings,
        load=lambda: load_calendar(settings, prometheus=PrometheusSettings(), now=now),
        now=now,
        horizon=HORIZON,
        updated_at=calendar_updated_at(settings),
    )


# -- the watch: what each read means (pure, a fixed clock) -------------------------------------------------


def test_a_good_read_is_used_and_remembered(tmp_path):
    watch = CalendarWatch()
    reading = _read(watch, _file(tmp_path), NOW)
    assert reading.reason == READ and reading.available and len(reading.calendar) == 2
    assert reading.read_at == NOW and reading.age_s(NOW + MIN) == 60
    assert reading.entries(NOW) == {"upcoming": 1, "past": 1, "duplicate": 0, "overlapping": 0}


@pytest.mark.parametrize(
    ("description", "damage", "problem"),
    [
        ("the ConfigMap key is gone", lambda p: p.unlink(), "No such file"),
        ("unreadable (a directory where the file was)", lambda p: (p.unlink(), p.mkdir()), "Is a directory"),
        (
            "a malformed row",
            lambda p: p.write_text("start,kind\n20:07 tonight,football\n"),
            "row 2: field 'start'",
        ),
        (
            "an unknown column",
            lambda p: p.write_text("start,sport\n2024-05-01T20:07:00Z,x\n"),
            "unknown column",
        ),
        ("emptied", lambda p: p.write_text(""), "the file is empty"),
    ],
)
def test_a_source_that_breaks_after_a_good_read_falls_back_to_the_last_good_copy_then_to_none(
    tmp_path, description, damage, problem
):
    watch = CalendarWatch()
    settings = _file(tmp_path)
    _read(watch, settings, NOW - 2 * MIN)
    damage(Path(settings.file))

    within = _read(watch, settings, NOW)  # the copy is 120 s old: still usable
    assert within.reason == LAST_GOOD and not within.available, description
    assert problem in within.problem and str(settings.file) in within.problem
    assert within.calendar is not None and within.read_at == NOW - 2 * MIN
    assert "forecasting with the last good copy (read 2024-05-01T19:58:00Z) until 2024-05-01T20:00:00Z" in (
        within.message
    )

    beyond = _read(watch, settings, NOW + 1 * MIN)  # 180 s old: forecast without it
    assert beyond.reason == UNAVAILABLE and beyond.calendar is None, description
    assert [e.kind for e in beyond.expected] == ["football"]  # starts within the horizon
    assert "forecasting without the calendar" in beyond.message
    assert "not lowering capacity while football at 2024-05-01T20:07:00Z is expected" in beyond.message


def test_a_source_never_read_is_unavailable_with_nothing_known(tmp_path):
    reading = _read(CalendarWatch(), EventsSettings(file=str(tmp_path / "missing.csv")), NOW)
    assert reading.reason == UNAVAILABLE and reading.calendar is None and reading.read_at is None
    assert reading.expected == () and math.isinf(reading.age_s(NOW))
    assert reading.entries(NOW) == {"upcoming": 0, "past": 0, "duplicate": 0, "overlapping": 0}


def test_a_file_not_rewritten_within_stale_after_is_stale(tmp_path):
    settings = EventsSettings(file=_file(tmp_path).file, max_age_s=0, stale_after_s=3600)
    written = (NOW - pd.Timedelta(hours=2)).tz_localize("UTC").timestamp()
    os.utime(settings.file, (written, written))
    watch = CalendarWatch()
    reading = _read(watch, settings, NOW)
    assert reading.reason == UNAVAILABLE and reading.calendar is None
    assert "is stale: last modified 2024-05-01T18:00:00Z, 7200s ago (limit 3600s)" in reading.problem
    fresh = (NOW - 10 * MIN).tz_localize("UTC").timestamp()
    os.utime(settings.file, (fresh, fresh))
    assert _read(watch, settings, NOW).reason == READ
    # Without stale_after_s the same old file is fine.
    os.utime(settings.file, (written, written))
    assert _read(CalendarWatch(), _file(tmp_path), NOW).reason == READ


def test_an_empty_query_answer_after_upcoming_events_reads_as_an_exporter_down():
    settings = EventsSettings(query="stream_start_timestamp_seconds", max_age_s=600)
    full = parse_calendar_csv(CSV)
    answers = iter([full, Calendar.of([]), Calendar.of([])])
    watch = CalendarWatch()

    def read(now: pd.Timestamp) -> Any:
        return watch.read("t", settings, load=lambda: next(answers), now=now, horizon=HORIZON)

    assert read(NOW - 5 * MIN).reason == READ
    gone = read(NOW)
    assert gone.reason == LAST_GOOD and "returned no series" in gone.problem and "1 upcoming" in gone.problem
    # Once the last good copy has nothing left to come, an empty schedule is just empty.
    later = watch.read(
        "t", settings, load=lambda: Calendar.of([]), now=MATCH.tz_localize(None) + MIN, horizon=HORIZON
    )
    assert later.reason == READ and len(later.calendar) == 0


def test_a_prometheus_source_erroring_is_unavailable():
    settings = EventsSettings(query="stream_start_timestamp_seconds")

    def down() -> Calendar:
        raise SourceError("GET http://127.0.0.1:9/api/v1/query: connection refused", hint="is Prometheus up?")

    reading = CalendarWatch().read("t", settings, load=down, now=NOW, horizon=HORIZON)
    assert reading.reason == UNAVAILABLE
    assert reading.problem.startswith("cannot read the calendar query 'stream_start_timestamp_seconds'")
    assert "connection refused" in reading.problem


def test_duplicates_overlaps_and_past_entries_are_counted():
    text = (
        "start,kind,end\n"
        "2024-05-01T18:00:00Z,concert,\n"  # past
        "2024-05-01T20:07:00Z,football,2024-05-01T22:00:00Z\n"
        "2024-05-01T20:07:00Z,football,\n"  # duplicate: same kind and start, dropped
        "2024-05-01T21:00:00Z,football,\n"  # overlaps the 20:07 match, kept
        "2024-05-01T21:00:00Z,concert,\n"  # another kind at the same minute: neither
    )
    reading = CalendarWatch().read(
        "t", EventsSettings(file="x.csv"), load=lambda: parse_calendar_csv(text), now=NOW, horizon=HORIZON
    )
    assert reading.entries(NOW) == {"upcoming": 3, "past": 1, "duplicate": 1, "overlapping": 1}
    assert reading.message.endswith("4 entries (1 duplicates dropped, 1 overlapping)")


@pytest.mark.parametrize(
    ("description", "preparing", "now", "expected"),
    [
        ("status names a start inside the horizon", "2024-05-01T20:07:00Z", NOW, "football"),
        ("the event is running (started 30 minutes ago)", "2024-05-01T19:30:00Z", NOW, "football"),
        ("it ended (an hour without an end)", "2024-05-01T18:30:00Z", NOW, None),
        ("beyond the forecast's horizon", "2024-05-01T21:00:00Z", NOW, None),
        ("unreadable start", "tonight", NOW, None),
    ],
)
def test_without_a_known_copy_the_status_says_what_was_expected(description, preparing, now, expected):
    """After a restart or a new leader the watch knows no copy; the persisted ``preparingFor`` still holds."""
    from forecaster.prescaler.calendars import CalendarReading

    reading = CalendarReading(source="calendar file x", reason=UNAVAILABLE, calendar=None, problem="down")
    old = {"preparingFor": {"kind": "football", "start": preparing}}
    event = calendar_hold(reading, old_status=old, now=now, horizon_end=now + HORIZON)
    assert (event.kind if event else None) == expected, description


def test_no_hold_while_a_calendar_is_in_use():
    from forecaster.prescaler.calendars import CalendarReading

    in_use = CalendarReading(source="x", reason=LAST_GOOD, calendar=parse_calendar_csv(CSV), problem="down")
    old = {"preparingFor": {"kind": "football", "start": "2024-05-01T20:07:00Z"}}
    assert calendar_hold(in_use, old_status=old, now=NOW, horizon_end=NOW + HORIZON) is None
    assert calendar_hold(None, old_status=old, now=NOW, horizon_end=NOW + HORIZON) is None


# -- the controller: condition, Events, metrics and the floor ----------------------------------------------


class FlakyCalendar:
    """A forecast provider whose target's calendar source can be broken and repaired between ticks: with a
    calendar the forecast carries the match announced within the horizon or running (p90 1000 -> 10 pods), without it it does not (p90 150)."""

    def __init__(self, calendar_text: str = CSV, *, max_age_s: float = 120) -> None:
        self.settings = EventsSettings(file="/etc/calendar/events.csv", max_age_s=max_age_s)
        self.text: str | None = calendar_text
        self.watch = CalendarWatch()

    def load(self) -> Calendar:
        if self.text is None:
            raise CalendarError("cannot read calendar /etc/calendar/events.csv: No such file or directory")
        return parse_calendar_csv(self.text, source=str(self.settings.file))

    def __call__(self, now: pd.Timestamp) -> ForecastResult:
        reading = self.watch.read("live-streaming", self.settings, load=self.load, now=now, horizon=HORIZON)
        upcoming = (
            tuple(reading.calendar.upcoming(now.tz_localize("UTC"), within=HORIZON))
            if reading.calendar
            else ()
        )
        on = reading.calendar is not None and expected_events(reading.calendar, now=now, horizon=HORIZON)
        peak = 1000.0 if on else 150.0
        return ForecastResult(
            frame=forecast_frame(now, p90=peak),
            history=history(now, value=150.0),
            upcoming=upcoming,
            events_seen={"football": 11},
            calendar=reading,
        )


def _controller(kube: Any, flaky: FlakyCalendar) -> tuple[Controller, PrescalerMetrics]:
    metrics = PrescalerMetrics(CollectorRegistry())
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=FakeForecasts(**{"live-api": flaky}),
        kube=kube,
        metrics=metrics,
    )
    return ctl, metrics


def _cluster(fake_api: Any) -> None:
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(scaleDown={"stabilizationWindow": "0s"}))


def _floor(fake_api: Any) -> int:
    return fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"]


def _status(fake_api: Any) -> dict[str, Any]:
    return fake_api.get("prescalepolicies", NS, "live-api")["status"]


def _calendar_condition(fake_api: Any) -> dict[str, str]:
    return {c["type"]: c for c in _status(fake_api)["conditions"]}["CalendarAvailable"]


def _calendar_events(fake_api: Any) -> list[tuple[str, str]]:
    """The calendar's Events in the order they were posted (the fake lists objects by name)."""
    posted = sorted(fake_api.events(), key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [(e["type"], e["reason"]) for e in posted if e["reason"] in (READ, LAST_GOOD, UNAVAILABLE)]


def _sample(metrics: PrescalerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"namespace": NS, "policy": "live-api", **labels})


def test_an_outage_before_an_announced_match_never_lowers_the_floor_and_is_told_once(fake_api, kube):
    _cluster(fake_api)
    flaky = FlakyCalendar()
    ctl, metrics = _controller(kube, flaky)
    t0 = NOW - 2 * MIN

    [first] = ctl.tick(t0)  # 19:58, the calendar is read: raise for the 20:07 match
    assert first.desired == 10 and _floor(fake_api) == 10
    assert _calendar_condition(fake_api)["status"] == "True" and _calendar_events(fake_api) == []
    assert _status(fake_api)["calendar"]["entries"] == {
        "upcoming": 1,
        "past": 1,
        "duplicate": 0,
        "overlapping": 0,
    }
    assert _sample(metrics, "forecaster_prescaler_calendar_up") == 1

    flaky.text = None  # the ConfigMap key disappears
    [second] = ctl.tick(t0 + MIN)  # the last good copy (60 s old) still carries the match
    assert second.desired == 10 and second.conditions["CalendarAvailable"] == "False"
    cond = _calendar_condition(fake_api)
    assert cond["reason"] == LAST_GOOD and "No such file" in cond["message"]
    assert _status(fake_api)["calendar"]["inUse"] is True
    assert _calendar_events(fake_api) == [("Warning", LAST_GOOD)]

    floors = []
    for minute in (3, 4, 5):  # the copy is older than 120 s: forecasting without the calendar
        [outcome] = ctl.tick(t0 + minute * MIN)
        floors.append(_floor(fake_api))
    assert floors == [10, 10, 10], "a calendar outage never lowers the floor before the match"
    assert outcome.desired == 10 and outcome.ready  # the forecast itself is fine
    status = _status(fake_api)
    assert _calendar_condition(fake_api)["reason"] == UNAVAILABLE
    assert status["calendar"]["inUse"] is False and status["calendar"]["readAt"] == "2024-05-01T19:58:00Z"
    assert (
        status["preparingFor"]["kind"] == "football"
        and status["preparingFor"]["start"] == "2024-05-01T20:07:00Z"
    )
    assert "the calendar is unavailable" in status["preparingFor"]["message"]
    assert "not lowering capacity while football" in status["message"]
    assert status["scalingState"]["lastDesired"] == 10
    # One Event per transition, not one per tick.
    assert _calendar_events(fake_api) == [("Warning", LAST_GOOD), ("Warning", UNAVAILABLE)]
    assert _sample(metrics, "forecaster_prescaler_calendar_up") == 0
    assert _sample(metrics, "forecaster_prescaler_calendar_hold") == 1
    assert _sample(metrics, "forecaster_prescaler_calendar_age_seconds") == 300
    assert _sample(metrics, "forecaster_prescaler_calendar_entries", outcome="upcoming") == 0
    assert metrics.registry.get_sample_value("forecaster_prescaler_errors_total", {"kind": "calendar"}) == 4

    flaky.text = CSV  # repaired
    ctl.tick(t0 + 6 * MIN)
    assert _calendar_condition(fake_api)["status"] == "True"
    assert _calendar_events(fake_api)[-1] == ("Normal", READ) and len(_calendar_events(fake_api)) == 3
    assert _sample(metrics, "forecaster_prescaler_calendar_hold") == 0
    assert "learned from 11 past events" in _status(fake_api)["preparingFor"]["message"]


def test_with_nothing_expected_an_outage_forecasts_without_the_calendar_and_scales_as_usual(fake_api, kube):
    """The control case: the hold is for expected events only. A match from 18:30 to 19:30 raised the floor;
    the calendar goes down and after 19:30 nothing is expected, so the floor follows the forecast again."""
    _cluster(fake_api)
    flaky = FlakyCalendar("start,kind,end\n2024-05-01T18:30:00Z,football,2024-05-01T19:30:00Z\n")
    ctl, metrics = _controller(kube, flaky)
    ctl.tick(NOW - 35 * MIN)  # 19:25, the match is running
    assert _floor(fake_api) == 10
    flaky.text = None
    ctl.tick(NOW - 25 * MIN)  # 19:35: the copy is 600 s old, the match is over
    assert _calendar_condition(fake_api)["reason"] == UNAVAILABLE
    assert _floor(fake_api) == 2 and _sample(metrics, "forecaster_prescaler_calendar_hold") == 0


def test_a_forecast_outage_keeps_the_calendar_condition_as_it_was(fake_api, kube):
    """No forecast this tick says nothing about the calendar: the condition neither flaps nor re-announces."""
    _cluster(fake_api)
    flaky = FlakyCalendar()
    flaky.text = None
    forecasts = FakeForecasts(**{"live-api": flaky})
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=forecasts,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
    )
    ctl.tick(NOW)
    before = _calendar_condition(fake_api)
    forecasts.by_policy["live-api"] = prescaler_helpers.prometheus_down()
    ctl.tick(NOW + MIN)
    assert _calendar_condition(fake_api) == before
    assert _calendar_events(fake_api) == [("Warning", UNAVAILABLE)]
    assert _status(fake_api)["calendar"]["available"] is False


def test_the_expected_event_survives_a_restart_through_the_status(fake_api, kube):
    """A new leader never read the calendar; the status's preparingFor still keeps the floor for the match."""
    _cluster(fake_api)
    flaky = FlakyCalendar()
    ctl, _ = _controller(kube, flaky)
    ctl.tick(NOW - 2 * MIN)
    assert _floor(fake_api) == 10
    broken = FlakyCalendar()
    broken.text = None
    new_leader, metrics = _controller(kube, broken)
    new_leader.tick(NOW)
    assert _floor(fake_api) == 10 and _sample(metrics, "forecaster_prescaler_calendar_hold") == 1
    assert _calendar_condition(fake_api)["reason"] == UNAVAILABLE


def test_a_deleted_policy_drops_its_calendar_series(fake_api, kube):
    _cluster(fake_api)
    ctl, metrics = _controller(kube, FlakyCalendar())
    ctl.tick(NOW)
    assert _sample(metrics, "forecaster_prescaler_calendar_entries", outcome="upcoming") == 1
    metrics.forget(NS, "live-api")
    assert _sample(metrics, "forecaster_prescaler_calendar_entries", outcome="upcoming") is None
    assert _sample(metrics, "forecaster_prescaler_calendar_up") is None


def test_the_new_status_validates_against_the_crd(fake_api, kube):
    import jsonschema
    import yaml

    _cluster(fake_api)
    flaky = FlakyCalendar()
    ctl, _ = _controller(kube, flaky)
    ctl.tick(NOW - 2 * MIN)
    flaky.text = None
    ctl.tick(NOW + 2 * MIN)
    crd = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "k8s/base/crd-prescalepolicy.yaml").read_text()
    )
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]

    def strict(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: strict(v) for k, v in node.items()}
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
        return node

    jsonschema.Draft4Validator(strict(schema)).validate(_status(fake_api))
    assert _status(fake_api)["calendar"]["entries"]["upcoming"] == 0


def test_a_calendar_read_again_is_not_a_status_change_of_its_own():
    """The calendar is read every tick; only its time moves then, which is not worth a status write."""
    from forecaster.prescaler.status_diff import material

    before = {
        "desiredReplicas": 3,
        "calendar": {"source": "file", "available": True, "readAt": "2026-01-01T00:00:00Z"},
    }
    later = {
        "desiredReplicas": 3,
        "calendar": {"source": "file", "available": True, "readAt": "2026-01-01T00:01:00Z"},
    }
    down = {
        "desiredReplicas": 3,
        "calendar": {"source": "file", "available": False, "readAt": "2026-01-01T00:01:00Z"},
    }
    assert material(before) == material(later)
    assert material(before) != material(down)


def test_a_problem_with_the_target_keeps_the_calendar_condition_as_it_was(fake_api, kube):
    """A missing scale target says nothing about the calendar: its condition stays in the status with its
    transition time (no flap to absent and back, no second Event) while the policy is Degraded."""
    _cluster(fake_api)
    ctl, _ = _controller(kube, FlakyCalendar())
    ctl.tick(NOW - 2 * MIN)
    before = _calendar_condition(fake_api)
    assert before["status"] == "True"

    hpa_object = fake_api.get("horizontalpodautoscalers", NS, "live-api")
    fake_api.remove("horizontalpodautoscalers", NS, "live-api")
    fake_api.remove("deployments", NS, "live-api")
    [outcome] = ctl.tick(NOW - MIN)
    assert not outcome.ready
    conditions = {c["type"]: c for c in _status(fake_api)["conditions"]}
    assert conditions["Degraded"]["status"] == "True"
    assert conditions["CalendarAvailable"] == before

    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa_object)
    ctl.tick(NOW)
    assert _calendar_condition(fake_api)["lastTransitionTime"] == before["lastTransitionTime"]
    assert _calendar_events(fake_api) == []
