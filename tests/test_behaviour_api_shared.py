"""``refresher: elected`` as a user of a follower replica sees it (:mod:`forecaster.api.shared`): a follower
serves exactly the leader's answer, upcoming scheduled events included, and a replica that leads again after
following writes the snapshot at once.

In-process: two ForecastServices over stand-in sources, a stand-in elector, a snapshot file in tmp_path.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pandas as pd

from forecaster.api.shared import SharedRefresher, SnapshotFile, apply_snapshot, snapshot_document
from forecaster.events import Calendar, Event
from forecaster.settings import EventsSettings
from tests.test_api_support import MutableClock
from tests.test_behaviour_api import T0, _service

VIEW = {"quantiles": ("p50", "p90"), "history_steps": 10}


class _Elector:
    def __init__(self, leading: bool) -> None:
        self.leading = leading

    def ensure(self, now):
        return self.leading

    def release(self, now):
        self.leading = False


def _with_calendar(clock):
    """A leader whose target reads a calendar with a match two hours ahead, and a follower configured alike."""
    calendar = Calendar([Event(start=pd.Timestamp(T0 + pd.Timedelta("2h"), tz="UTC"), kind="match")])
    leader, lstate, _ = _service(clock, calendar_loader=lambda state, now: calendar)
    follower, fstate, fsource = _service(clock)
    fsource.fail = True  # a follower never queries
    events = EventsSettings(file="/etc/calendar/events.csv")
    lstate.config = replace(lstate.config, events=events)
    fstate.config = replace(fstate.config, events=events)
    return (leader, lstate), (follower, fstate)


def test_a_follower_serves_the_leaders_upcoming_events(tmp_path):
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    (leader_svc, lstate), (follower_svc, fstate) = _with_calendar(clock)
    path = tmp_path / "snap" / "api.json"
    leader = SharedRefresher(leader_svc, elector=_Elector(True), snapshot=SnapshotFile(path))
    follower = SharedRefresher(follower_svc, elector=_Elector(False), snapshot=SnapshotFile(path))

    asyncio.run(leader.step())
    asyncio.run(follower.step())

    a = leader_svc.render(lstate, now=clock(), **VIEW)
    b = follower_svc.render(fstate, now=clock(), **VIEW)
    assert json.loads(a.body(0))["events"] == [
        {"start": "2026-02-02T14:00:00Z", "kind": "match", "end": None, "expected": None}
    ]
    assert b.body(1.0) == a.body(1.0) and b.etag == a.etag


def test_a_snapshot_round_trips_every_field_a_response_shows():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    (leader_svc, lstate), (follower_svc, fstate) = _with_calendar(clock)
    assert leader_svc.refresh("web")

    changed = apply_snapshot(
        follower_svc, json.loads(json.dumps(snapshot_document(leader_svc, written_at=clock())))
    )

    assert changed == 1
    held, got = lstate.entry, fstate.entry
    assert got.generated_at == held.generated_at
    assert got.events == held.events
    assert (got.model_name, got.note, got.model.kind, got.model.name) == (
        held.model_name,
        held.note,
        held.model.kind,
        held.model.name,
    )
    assert got.forecast.equals(held.forecast) and got.actual.equals(held.actual)
    assert fstate.last_success_bucket == lstate.last_success_bucket


def test_a_replica_that_leads_again_writes_its_snapshot_at_once(tmp_path):
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    path = tmp_path / "api.json"
    elector = _Elector(True)
    refresher = SharedRefresher(svc, elector=elector, snapshot=SnapshotFile(path))
    asyncio.run(refresher.step())
    assert path.exists()
    first = path.stat().st_mtime_ns

    # It loses the lease (another replica leads and writes its own snapshot), then leads again with nothing
    # new to refresh: its own forecast must be written back at once, not when its next refresh changes it.
    elector.leading = False
    asyncio.run(refresher.step())
    path.write_text(json.dumps({"version": 1, "written_at_ns": 0, "targets": {}}))
    elector.leading = True
    asyncio.run(refresher.step())

    doc = json.loads(path.read_text())
    assert "web" in doc["targets"] and doc["targets"]["web"]["entry"] is not None
    assert path.stat().st_mtime_ns >= first
