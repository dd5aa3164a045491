"""Two pure choices the controller makes each tick: which tuned settings a policy decides with
(:func:`~forecaster.prescaler.recommended.use_recommendation`), and what a target's calendar source is worth
when it is down (:class:`~forecaster.prescaler.calendars.CalendarWatch`, :func:`calendar_hold`).
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster import recommendation
from forecaster.errors import SourceError
from forecaster.events import Calendar, Event
from forecaster.prescaler.calendars import (
    LAST_GOOD,
    READ,
    UNAVAILABLE,
    CalendarWatch,
    calendar_condition,
    calendar_hold,
    calendar_status,
    expected_events,
    holding_for,
)
from forecaster.prescaler.policy import parse_policy
from forecaster.prescaler.recommended import use_recommendation
from forecaster.settings import EventsSettings
from tests.prescaler_helpers import NOW, policy
from tests.test_prescaler_tuning import V1, tuning_doc

MIN = pd.Timedelta(minutes=1)
H = pd.Timedelta(hours=1)


def _use(tuning=None, *, doc=None, old_status=None, columns=("p10", "p50", "p90"), now=NOW, **spec):
    obj = policy(
        tuning={"slo": "short-minutes=0.5%", "mode": "Apply", **(tuning or {})},
        actuator="HPAFloor",
        capacityPerReplica=100,
        minReplicas=3,
        maxReplicas=33,
        interval="2m",
        **spec,
    )
    rec = recommendation.parse(doc) if doc is not None else None
    return use_recommendation(
        obj,
        parse_policy(obj),
        recommendation=rec,
        problem=None,
        model_version=V1,
        now=now,
        old_status=old_status or {},
        columns=columns,
        actuator="HPAFloor",
    )


def test_apply_takes_every_recommended_setting_and_keeps_the_specs_bounds():
    doc = tuning_doc(
        fields={
            "plan": "peak",
            "quantile": 0.5,
            "headroomPercent": 15.0,
            "maxOverMedian": 0.25,
            "leadTime": "4m",
            "scaleDown": {"stabilizationWindow": "7m"},
            "interval": "1m",
        }
    )
    use = _use(doc=doc)

    s = use.policy.scaling
    assert use.condition["status"] == "True" and use.condition["reason"] == "Applied"
    assert (s.plan, s.quantile, s.headroom, s.max_over_median) == ("peak", 0.5, pytest.approx(0.15), 0.25)
    assert (s.lead_time_s, s.scale_down_stabilization_s) == (240.0, 420.0)
    # what the spec owns stays the spec's
    assert (s.capacity_per_replica, s.min_replicas, s.max_replicas, s.interval_s) == (100.0, 3, 33, 120.0)
    assert use.status["applied"]["stabilizationWindow"] == "7m"


@pytest.mark.parametrize(
    ("bounds", "fields", "field", "value", "note"),
    [
        (
            {"minQuantile": 0.9},
            {"quantile": 0.5},
            "quantile",
            0.9,
            "quantile 0.5 -> 0.9 (bounds.minQuantile)",
        ),
        (
            {"maxQuantile": 0.5},
            {"quantile": 0.9},
            "quantile",
            0.5,
            "quantile 0.9 -> 0.5 (bounds.maxQuantile)",
        ),
        (
            {"maxHeadroomPercent": 10},
            {"headroomPercent": 20.0},
            "headroom",
            0.1,
            "headroomPercent 20.0 -> 10 (bounds.maxHeadroomPercent)",
        ),
        (
            {"maxLeadTime": "2m"},
            {"leadTime": "5m"},
            "lead_time_s",
            120.0,
            "leadTime 5m -> 2m (bounds.maxLeadTime)",
        ),
        (
            {"maxStabilizationWindow": "0"},
            {"scaleDown": {"stabilizationWindow": "5m"}},
            "scale_down_stabilization_s",
            0.0,
            "stabilizationWindow 5m -> 0 (bounds.maxStabilizationWindow)",
        ),
    ],
)
def test_a_recommended_value_outside_the_bounds_is_clamped_and_said(bounds, fields, field, value, note):
    use = _use({"bounds": bounds}, doc=tuning_doc(fields=fields))

    assert use.condition["reason"] == "Applied"
    assert getattr(use.policy.scaling, field) == pytest.approx(value)
    assert use.status["clamped"] == [note]
    assert "clamped to spec.tuning.bounds" in use.condition["message"]


@pytest.mark.parametrize(
    ("bounds", "fields"),
    [
        ({"minQuantile": 0.5, "maxQuantile": 0.5}, {"quantile": 0.5}),
        ({"maxHeadroomPercent": 20}, {"headroomPercent": 20.0}),
        ({"maxLeadTime": "3m"}, {"leadTime": "3m"}),
    ],
)
def test_a_value_exactly_at_its_bound_is_not_clamped(bounds, fields):
    use = _use({"bounds": bounds}, doc=tuning_doc(fields=fields))
    assert use.condition["reason"] == "Applied" and "clamped" not in use.status


@pytest.mark.parametrize(
    ("tuned_at", "reason"),
    [
        ("2024-04-29T20:00:00Z", "Applied"),  # exactly 2 x every ago: one missed run is tolerated
        ("2024-04-29T19:59:59Z", "RecommendationStale"),
    ],
)
def test_a_recommendation_is_stale_after_two_periods(tuned_at, reason):
    use = _use({"every": "24h"}, doc=tuning_doc(tuned_at=tuned_at))
    assert use.condition["reason"] == reason


def test_an_hpa_utilisation_exactly_at_its_bound_is_applied():
    use = _use({"bounds": {"minHPATargetUtilization": 0.8}}, doc=tuning_doc(hpa_target=0.8))
    assert use.condition["reason"] == "Applied"


def test_recommend_mode_never_changes_the_settings_and_shows_the_recommendation():
    use = _use({"mode": "Recommend"}, doc=tuning_doc())
    assert use.policy.scaling.quantile == 0.9 and use.fallback is None
    assert use.condition["status"] == "False" and use.condition["reason"] == "ModeRecommend"
    assert use.status["recommended"]["setting"] == "shift-p50-+20% hpa@1"
    assert use.status["tunedAt"] == "2024-05-01T02:17:00Z" and use.status["modelVersion"] == V1


def test_an_unusable_recommendation_after_an_applied_one_keeps_it_as_a_floor_candidate():
    applied = {"plan": "shift", "quantile": 0.5, "headroomPercent": 20.0, "leadTime": "3m"}
    use = _use(doc=tuning_doc(slo="unserved=0.1%"), old_status={"tuning": {"applied": applied}})

    assert use.condition["reason"] == "SLOMismatch"
    assert use.policy.scaling.quantile == 0.9  # the spec's own settings
    assert use.fallback is not None and use.fallback.scaling.quantile == 0.5
    assert use.fallback.scaling.headroom == pytest.approx(0.2)
    assert use.status["lastApplied"] == applied
    assert "never planning below the last applied recommendation" in use.condition["message"]


def test_without_a_previous_application_there_is_no_fallback():
    use = _use(doc=tuning_doc(capacity=50.0))
    assert use.condition["reason"] == "CapacityMismatch" and use.fallback is None
    assert use.condition["message"].endswith("the spec's own settings are used")


def test_no_model_version_and_unreadable_recommendations_are_said():
    obj = policy(tuning={"slo": "short-minutes=0.5%", "mode": "Apply"}, actuator="HPAFloor")
    p = parse_policy(obj)
    none = use_recommendation(
        obj, p, recommendation=None, problem=None, model_version=None, now=NOW, old_status={}
    )
    assert none.condition["reason"] == "NoModelVersion" and none.policy is p
    broken = use_recommendation(
        obj, p, recommendation=None, problem="cannot parse", model_version=V1, now=NOW, old_status={}
    )
    assert broken.condition["reason"] == "RecommendationUnreadable"
    assert (
        use_recommendation(
            policy(),
            parse_policy(policy()),
            recommendation=None,
            problem=None,
            model_version=V1,
            now=NOW,
            old_status={},
        )
        is None
    )


# -- the calendar source across ticks ------------------------------------------------------------------------

FILE = EventsSettings(file="/etc/calendar/events.csv", max_age_s=3600.0)
T0 = pd.Timestamp("2024-05-01T20:00:00Z")


def _cal(*starts, kind="football"):
    return Calendar.of([Event(T0 + s, kind) for s in starts])


def _read(watch, settings=FILE, *, load, now, horizon=2 * H, updated_at=None):
    return watch.read("t", settings, load=load, now=now, horizon=horizon, updated_at=updated_at)


def _down():
    raise SourceError("connection refused")


def test_a_good_read_is_used_and_becomes_the_last_good_copy():
    watch = CalendarWatch()
    cal = _cal(30 * MIN)

    r = _read(watch, load=lambda: cal, now=NOW)

    assert (r.reason, r.calendar, r.available, r.read_at) == (READ, cal, True, NOW)
    cond = calendar_condition(r)
    assert (cond["type"], cond["status"], cond["reason"]) == ("CalendarAvailable", "True", READ)
    block = calendar_status(r, NOW)
    assert block["inUse"] is True and block["available"] is True and block["readAt"] == "2024-05-01T20:00:00Z"
    assert block["entries"] == {"upcoming": 1, "past": 0, "duplicate": 0, "overlapping": 0}


@pytest.mark.parametrize(
    ("after", "reason"),
    [(30 * MIN, LAST_GOOD), (H, LAST_GOOD), (H + pd.Timedelta(seconds=1), UNAVAILABLE)],
)
def test_an_outage_uses_the_last_good_copy_up_to_max_age_then_none(after, reason):
    watch = CalendarWatch()
    cal = _cal(2 * H)
    _read(watch, load=lambda: cal, now=NOW)

    r = _read(watch, load=_down, now=NOW + after)

    assert r.reason == reason and r.available is False
    assert "connection refused" in r.problem
    assert r.read_at == NOW  # when the last good copy was read
    assert r.age_s(NOW + after) == after.total_seconds()
    if reason == LAST_GOOD:
        assert r.calendar is cal
        assert "until 2024-05-01T21:00:00Z" in r.message
    else:
        assert r.calendar is None


def test_without_any_good_copy_nothing_is_expected_and_the_age_is_infinite():
    r = _read(CalendarWatch(), load=_down, now=NOW)
    assert r.reason == UNAVAILABLE and r.calendar is None and r.expected == () and r.read_at is None
    assert r.age_s(NOW) == float("inf")
    assert calendar_status(r, NOW)["inUse"] is False and "readAt" not in calendar_status(r, NOW)


def test_a_source_bug_fails_safe_like_an_outage():
    def bug():
        raise KeyError("x")

    r = _read(CalendarWatch(), load=bug, now=NOW)
    assert r.reason == UNAVAILABLE and "KeyError" in r.problem


@pytest.mark.parametrize(("age_s", "stale"), [(600, False), (601, True)])
def test_a_file_not_rewritten_within_stale_after_is_stale(age_s, stale):
    settings = EventsSettings(file="/etc/calendar/events.csv", stale_after_s=600.0, max_age_s=3600.0)
    r = _read(
        CalendarWatch(),
        settings,
        load=lambda: _cal(H),
        now=NOW,
        updated_at=NOW - pd.Timedelta(seconds=age_s),
    )
    assert r.available is (not stale)
    if stale:
        assert "stale" in r.problem and "limit 600s" in r.problem


def test_an_empty_query_answer_while_events_were_upcoming_is_an_exporter_down():
    settings = EventsSettings(query="match_start_timestamp_seconds", max_age_s=3600.0)
    watch = CalendarWatch()
    _read(watch, settings, load=lambda: _cal(H), now=NOW)

    r = _read(watch, settings, load=lambda: Calendar(), now=NOW + MIN)
    assert r.reason == LAST_GOOD and "no series" in r.problem

    # with nothing upcoming in the last good copy, an empty answer is just an empty schedule
    quiet = CalendarWatch()
    _read(quiet, settings, load=lambda: _cal(-2 * H), now=NOW)
    assert _read(quiet, settings, load=lambda: Calendar(), now=NOW + MIN).reason == READ


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (-61 * MIN, False),  # ended (an event without an end runs an hour)
        (-59 * MIN, True),  # still running
        (0 * MIN, True),  # starting now
        (2 * H, True),  # at the horizon's end
        (2 * H + MIN, False),  # beyond the horizon
    ],
)
def test_the_events_expected_are_running_or_start_within_the_horizon(start, expected):
    cal = _cal(start)
    assert (len(expected_events(cal, now=NOW, horizon=2 * H)) == 1) is expected


def test_an_outage_without_a_young_copy_holds_capacity_for_the_expected_event():
    watch = CalendarWatch()
    _read(watch, load=lambda: _cal(3 * H), now=NOW)
    later = NOW + 2 * H  # the copy is 2 h old: too old to use, the match is an hour ahead

    r = _read(watch, load=_down, now=later, horizon=2 * H)

    assert r.reason == UNAVAILABLE and [e.start for e in r.expected] == [T0 + 3 * H]
    hold = calendar_hold(r, old_status={}, now=later, horizon_end=later + 2 * H)
    assert hold is not None and hold.kind == "football"
    assert "not lowering capacity while football at 2024-05-01T23:00:00Z is expected" in r.message
    block = holding_for(hold, desired=8, current=5)
    assert block["start"] == "2024-05-01T23:00:00Z" and block["message"].startswith(
        "raising to 8 for football"
    )
    assert holding_for(hold, desired=5, current=5)["message"].startswith("holding 5")


def test_no_hold_while_a_calendar_is_in_use():
    r = _read(CalendarWatch(), load=lambda: _cal(MIN), now=NOW)
    assert (
        calendar_hold(
            r, old_status={"preparingFor": {"start": "2024-05-01T20:30:00Z"}}, now=NOW, horizon_end=NOW + H
        )
        is None
    )
    assert calendar_hold(None, old_status={}, now=NOW, horizon_end=NOW + H) is None


@pytest.mark.parametrize(
    ("start", "held"),
    [
        ("2024-05-01T20:30:00Z", True),
        ("2024-05-01T21:00:00Z", True),  # exactly at the horizon's end
        ("2024-05-01T21:00:01Z", False),
        ("2024-05-01T19:00:00Z", True),  # started an hour ago: still counts as running
        ("2024-05-01T18:59:59Z", False),
        ("not a time", False),
    ],
)
def test_after_a_restart_the_status_preparing_for_is_held(start, held):
    r = _read(CalendarWatch(), load=_down, now=NOW)
    hold = calendar_hold(
        r, old_status={"preparingFor": {"kind": "concert", "start": start}}, now=NOW, horizon_end=NOW + H
    )
    assert (hold is not None) is held
    if held:
        assert hold.kind == "concert"
