"""The prescaler's view of a target's calendar source across ticks: good reads, the last good copy, outages.

The calendar (a mounted ConfigMap file or a Prometheus query) is read on every forecast. What the forecast
then uses, and what the policy's ``CalendarAvailable`` condition says:

- **read** (``CalendarRead``, condition True): the source was read and is not stale; this copy becomes the
  *last good copy*.
- **stale**: a read that succeeds is still not good when (file) the file was last modified more than
  ``events.stale_after_s`` ago (opt-in, for platforms that rewrite the ConfigMap on a schedule), or (query)
  the query returned no series at all while the last good copy still lists upcoming events (a dead exporter's
  series vanish from Prometheus after its lookback, which reads like an empty schedule). A stale read counts
  as a failed one.
- **failed or stale, last good copy at most** ``events.max_age_s`` **old** (``LastGoodCalendar``, condition
  False): the forecast uses that copy (it misses entries added since; a cancelled entry it still holds costs
  at most the lead time's worth of extra capacity).
- **failed or stale, no copy that young** (``CalendarUnavailable``, condition False): the forecast is made
  without the calendar. The events the last known copy (however old) expected now, starting within the horizon
  or running, are listed in :attr:`CalendarReading.expected`: the controller does not lower capacity while one
  is (fail safe: an outage of the calendar is never a reason to scale down before or during an event).

Duplicated entries (dropped), overlapping ones (kept) and past ones (still read: time since the last start is
a model input) are counted by :class:`~forecaster.events.Calendar`; :meth:`CalendarReading.entries` gives the
counts for the status and the metrics.

Between two of its model's origins (every 5 minutes, say) the forecast's judgement of the entries around now
(started, waiting for a late stream, cancelled) is redone from the load read every minute
(:func:`judged_by_minute_live`, the judgement :func:`forecaster.event_profile.judged_by_minute` gives the
replay): an entry that did not start is released, and a late stream's rise is seen, a minute after the
evidence rather than at the next origin. A minute read that fails leaves the model's own forecast.

This module is pure: the caller reads the source (``load``), the file's modification time, the clock and
the minute load (``read_minutes``), and passes them in; nothing here touches a file, Prometheus or the cluster.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecaster.errors import ForecasterError
from forecaster.event_profile import LEVEL_S, RECENT_S, USE_BEFORE_S, revise_by_minute
from forecaster.events import Calendar, Event
from forecaster.settings import EventsSettings

__all__ = [
    "READ",
    "LAST_GOOD",
    "UNAVAILABLE",
    "ENTRY_OUTCOMES",
    "CalendarReading",
    "CalendarWatch",
    "expected_events",
    "judged_by_minute_live",
]

log = logging.getLogger(__name__)

READ = "CalendarRead"
LAST_GOOD = "LastGoodCalendar"
UNAVAILABLE = "CalendarUnavailable"

ENTRY_OUTCOMES = ("upcoming", "past", "duplicate", "overlapping")
"""How a calendar's entries are counted: starting at or after now, before now, dropped as a duplicate (same
kind and start as another entry), overlapping an earlier entry of the same kind (kept)."""


def _utc(ts: Any) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_convert("UTC") if t.tzinfo is not None else t.tz_localize("UTC")


def _clock(ts: Any) -> str:
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_events(calendar: Calendar, *, now: pd.Timestamp, horizon: pd.Timedelta) -> tuple[Event, ...]:
    """Events of ``calendar`` starting within ``horizon`` after ``now`` or running at ``now``."""
    at = _utc(now)
    return tuple(e for e in calendar.events if e.start <= at + horizon and e.until >= at)


@dataclass(frozen=True)
class CalendarReading:
    """What one forecast knew about its target's calendar (see the module docstring)."""

    source: str
    """The source, in words (the file's path or the query)."""
    reason: str
    """:data:`READ`, :data:`LAST_GOOD` or :data:`UNAVAILABLE`."""
    calendar: Calendar | None
    """What the forecast read: this tick's copy, the last good copy, or None (forecast without a calendar)."""
    problem: str | None = None
    """Why the source could not be used this tick (None: it was read and is not stale)."""
    read_at: pd.Timestamp | None = None
    """When the copy in use was read, or with none in use when the last good copy was; None: never."""
    max_age_s: float = 3600.0
    expected: tuple[Event, ...] = ()
    """With no calendar in use: the last known copy's events starting within the horizon or running now."""

    @property
    def available(self) -> bool:
        return self.problem is None

    def age_s(self, now: pd.Timestamp) -> float:
        """Seconds since the copy in use (or the last good one) was read; infinite when none ever was."""
        if self.read_at is None:
            return math.inf
        return max(0.0, (_utc(now) - _utc(self.read_at)).total_seconds())

    def entries(self, now: pd.Timestamp) -> dict[str, int]:
        """The calendar in use counted by outcome (:data:`ENTRY_OUTCOMES`); zeros without one."""
        if self.calendar is None:
            return dict.fromkeys(ENTRY_OUTCOMES, 0)
        past = self.calendar.past_count(_utc(now))
        return {
            "upcoming": len(self.calendar) - past,
            "past": past,
            "duplicate": self.calendar.duplicates,
            "overlapping": self.calendar.overlapping,
        }

    @property
    def message(self) -> str:
        """The condition's message; it changes only when the copy in use or the problem does (no churn)."""
        if self.reason == READ and self.calendar is not None:
            return (
                f"{self.source}: {len(self.calendar)} entries ({self.calendar.duplicates} duplicates "
                f"dropped, {self.calendar.overlapping} overlapping)"
            )
        if self.reason == LAST_GOOD and self.read_at is not None:
            until = _utc(self.read_at) + pd.Timedelta(seconds=self.max_age_s)
            return (
                f"{self.problem}; forecasting with the last good copy (read {_clock(self.read_at)}) "
                f"until {_clock(until)}"
            )
        text = f"{self.problem}; forecasting without the calendar"
        if self.read_at is not None:
            text += f" (the last good copy, read {_clock(self.read_at)}, is older than {self.max_age_s:.0f}s)"
        if self.expected:
            first = self.expected[0]
            text += f"; not lowering capacity while {first.kind} at {_clock(first.start)} is expected"
        return text


@dataclass(frozen=True)
class _Good:
    calendar: Calendar
    read_at: pd.Timestamp


class CalendarWatch:
    """Remembers each calendar source's last good copy between ticks and judges each read (thread-safe: the
    forecasts of one tick run on a pool)."""

    def __init__(self) -> None:
        self._good: dict[Hashable, _Good] = {}
        self._lock = threading.Lock()

    def read(
        self,
        key: Hashable,
        settings: EventsSettings,
        *,
        load: Callable[[], Calendar | None],
        now: pd.Timestamp,
        horizon: pd.Timedelta,
        updated_at: pd.Timestamp | None = None,
    ) -> CalendarReading:
        """Read the source with ``load`` and say what the forecast at ``now`` uses; never raises.

        ``key`` names the source (a target and its ``events`` settings); ``updated_at`` is when the calendar
        file was last modified (None: unknown or not a file); ``horizon`` bounds
        :attr:`CalendarReading.expected`.
        """
        source = f"calendar file {settings.file}" if settings.file else f"calendar query {settings.query!r}"
        with self._lock:
            last = self._good.get(key)
        calendar: Calendar | None = None
        try:
            calendar = load()
            problem = None if calendar is not None else "no calendar source is configured"
        except ForecasterError as exc:
            problem = f"cannot read the {source}: {exc.problem}"
        except Exception as exc:  # a source bug must fail safe like an outage
            log.exception("reading the %s failed", source)
            problem = f"cannot read the {source}: {type(exc).__name__}: {exc}"
        if problem is None:
            problem = self._stale(
                settings, source, calendar=calendar, last=last, now=now, updated_at=updated_at
            )
        if problem is None:
            assert calendar is not None
            with self._lock:
                self._good[key] = _Good(calendar, pd.Timestamp(now))
            return CalendarReading(
                source=source,
                reason=READ,
                calendar=calendar,
                read_at=pd.Timestamp(now),
                max_age_s=settings.max_age_s,
            )
        if last is not None and (_utc(now) - _utc(last.read_at)).total_seconds() <= settings.max_age_s:
            return CalendarReading(
                source=source,
                reason=LAST_GOOD,
                calendar=last.calendar,
                problem=problem,
                read_at=last.read_at,
                max_age_s=settings.max_age_s,
            )
        expected = expected_events(last.calendar, now=now, horizon=horizon) if last is not None else ()
        return CalendarReading(
            source=source,
            reason=UNAVAILABLE,
            calendar=None,
            problem=problem,
            read_at=last.read_at if last is not None else None,
            max_age_s=settings.max_age_s,
            expected=expected,
        )

    @staticmethod
    def _stale(
        settings: EventsSettings,
        source: str,
        *,
        calendar: Calendar | None,
        last: _Good | None,
        now: pd.Timestamp,
        updated_at: pd.Timestamp | None,
    ) -> str | None:
        """Why a successful read is still not a good one (see the module docstring), or None."""
        if settings.file and settings.stale_after_s is not None and updated_at is not None:
            age_s = (_utc(now) - _utc(updated_at)).total_seconds()
            if age_s > settings.stale_after_s:
                return (
                    f"the {source} is stale: last modified {_clock(updated_at)}, {age_s:.0f}s ago "
                    f"(limit {settings.stale_after_s:.0f}s)"
                )
        if settings.query and calendar is not None and len(calendar) == 0 and last is not None:
            waiting = len(last.calendar.upcoming(_utc(now)))
            if waiting:
                return (
                    f"the {source} returned no series while the last good copy lists {waiting} upcoming "
                    "event(s): its exporter may be down"
                )
        return None


# -- what the controller says and does about it (pure) -----------------------------------------------------

CONDITION = "CalendarAvailable"


def calendar_condition(reading: CalendarReading) -> dict[str, str]:
    """The policy's ``CalendarAvailable`` condition for this reading."""
    from forecaster.prescaler.status import condition

    return condition(CONDITION, reading.available, reading.reason, reading.message)


def calendar_status(reading: CalendarReading, now: pd.Timestamp) -> dict[str, Any]:
    """The status block ``calendar``: the source, whether it was read, the copy in use and its entries."""
    out: dict[str, Any] = {
        "source": reading.source,
        "available": reading.available,
        "inUse": reading.calendar is not None,
        "entries": reading.entries(now),
        "maxAgeSeconds": reading.max_age_s,
    }
    if reading.read_at is not None:
        out["readAt"] = _clock(reading.read_at)
    return out


def calendar_hold(
    reading: CalendarReading | None,
    *,
    old_status: dict[str, Any],
    now: pd.Timestamp,
    horizon_end: pd.Timestamp,
) -> Event | None:
    """The scheduled event the controller must not lower capacity for: with no calendar in use, the first
    event the last known copy expects now, else the one the status was preparing for (it survives a restart
    or a new leader) if it starts before ``horizon_end`` and has not been running for longer than an event
    without an end counts. None: nothing expected (or the calendar is in use)."""
    if reading is None or reading.calendar is not None:
        return None
    if reading.expected:
        return reading.expected[0]
    block = old_status.get("preparingFor")
    if not isinstance(block, dict) or not block.get("start"):
        return None
    try:
        start = _utc(block["start"])
    except (TypeError, ValueError):
        return None
    event = Event(start=start, kind=str(block.get("kind") or "event"))
    if event.until < _utc(now) or start > _utc(horizon_end):
        return None
    return event


def holding_for(event: Event, *, desired: int, current: int) -> dict[str, Any]:
    """The ``preparingFor`` block while capacity is held for ``event`` without a calendar."""
    verb = f"raising to {desired}" if desired > current else f"holding {desired}"
    at = _utc(event.start).strftime("%H:%M")
    return {
        "kind": event.kind,
        "start": _clock(event.start),
        "message": f"{verb} for {event.kind} at {at} UTC: the calendar is unavailable, so capacity is not "
        "lowered while this event is expected",
    }


MINUTE = pd.Timedelta(minutes=1)


def judged_by_minute_live(
    frame: pd.DataFrame,
    *,
    model: Any,
    calendar: Calendar | None,
    history: pd.Series,
    now: pd.Timestamp,
    read_minutes: Callable[[pd.Timedelta], pd.Series],
) -> pd.DataFrame:
    """``frame`` (``model``'s forecast from ``history``) with the calendar entries around ``now`` judged again
    from the load every minute (:func:`forecaster.event_profile.revise_by_minute`).

    ``read_minutes(span)`` reads the load at a 1-minute step over ``span`` up to ``now``; it is called only
    for a model with an event profile on a grid coarser than a minute, when an entry is announced from
    :data:`~forecaster.event_profile.RECENT_S` before ``now`` to
    :data:`~forecaster.event_profile.USE_BEFORE_S` after it. Fails safe: when the read fails or returns
    nothing, the model's forecast is kept as it is (judged at its own origin, never lower for a missing read).
    """
    profile = getattr(model, "event_profile", None)
    if profile is None or calendar is None or not len(calendar) or not len(frame) or not len(history):
        return frame
    if pd.Timedelta(getattr(model, "step", MINUTE)) <= MINUTE:
        return frame  # the model reads every minute already
    at = _utc(now)
    if not any(-RECENT_S <= (e.start - at).total_seconds() <= USE_BEFORE_S for e in calendar.events):
        return frame
    try:
        minutes = read_minutes(pd.Timedelta(seconds=LEVEL_S))
    except ForecasterError as exc:
        log.warning("calendar: the 1-minute load read failed (%s); entries judged at the model's origin", exc)
        return frame
    minutes = minutes.dropna() if minutes is not None else minutes
    if minutes is None or not len(minutes):
        return frame
    return revise_by_minute(
        frame,
        history=minutes,
        now=now,
        origin=pd.Timestamp(history.index[-1]),
        profile=profile,
        calendar=calendar,
    )
