"""Scheduled events: the calendar of known starts (a match, a concert, a famous streamer going live).

A :class:`Calendar` holds events, each with a ``start`` (UTC), a ``kind`` (default ``event``), an optional
``end`` and an optional ``expected`` size hint (e.g. registered viewers). It is read from a CSV file with a
header or a YAML list with the same fields; the Prometheus source (series whose value is the start time, the
``*_timestamp_seconds`` convention, and whose label names the kind) lives in
:func:`forecaster.sources.prometheus.fetch_calendar` and builds a calendar with :func:`calendar_from_records`.

This module is pure: it parses text it is given (:func:`read_calendar` is the one function that opens a file)
and never looks at the clock; "past" is always relative to a ``now`` the caller passes. A malformed row is a
:class:`CalendarError` naming the row and the field. Duplicated entries (same kind and start) are dropped and
counted; overlapping entries of one kind are kept and counted; past entries are counted relative to ``now``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from forecaster.errors import DataError

__all__ = [
    "DEFAULT_KIND",
    "FIELDS",
    "Calendar",
    "CalendarError",
    "Event",
    "CalendarBound",
    "bind_calendar",
    "calendar_from_records",
    "calendar_to_csv",
    "parse_calendar_csv",
    "parse_calendar_yaml",
    "read_calendar",
]

DEFAULT_KIND = "event"
FIELDS = ("start", "kind", "end", "expected")
DEFAULT_DURATION = pd.Timedelta(hours=1)
"""How long an event without an ``end`` counts as running (for overlaps and the "running" input)."""


class CalendarError(DataError):
    """A calendar row is malformed; the message names the source, the row and the field."""


@dataclass(frozen=True, order=True)
class Event:
    """One scheduled start. ``start``/``end`` are UTC timestamps; ``expected`` a size hint (any unit)."""

    start: pd.Timestamp
    kind: str = DEFAULT_KIND
    end: pd.Timestamp | None = None
    expected: float | None = None

    @property
    def until(self) -> pd.Timestamp:
        """When the event stops counting as running: its ``end``, or the start plus an hour."""
        return self.end if self.end is not None else self.start + DEFAULT_DURATION


@dataclass(frozen=True)
class Calendar:
    """Events sorted by start; ``duplicates`` dropped and ``overlapping`` entries counted when built."""

    events: tuple[Event, ...] = ()
    duplicates: int = 0
    """Entries dropped because another entry had the same kind and start."""
    overlapping: int = 0
    """Entries that start while an earlier entry of the same kind is still running (kept)."""
    source: str = "calendar"

    @classmethod
    def of(cls, events: Iterable[Event], *, source: str = "calendar") -> Calendar:
        """Sort, drop duplicates (same kind and start; the first entry wins) and count overlaps."""
        seen: set[tuple[str, pd.Timestamp]] = set()
        kept: list[Event] = []
        duplicates = 0
        for ev in sorted(events, key=lambda e: (e.start, e.kind)):
            key = (ev.kind, ev.start)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            kept.append(ev)
        overlapping = 0
        running_until: dict[str, pd.Timestamp] = {}
        for ev in kept:
            previous = running_until.get(ev.kind)
            if previous is not None and ev.start < previous:
                overlapping += 1
            running_until[ev.kind] = max(previous, ev.until) if previous is not None else ev.until
        return cls(events=tuple(kept), duplicates=duplicates, overlapping=overlapping, source=source)

    def __len__(self) -> int:
        return len(self.events)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({e.kind for e in self.events}))

    def between(self, start: pd.Timestamp, end: pd.Timestamp) -> Calendar:
        """Events starting in ``[start, end]`` (counts of the whole calendar are kept)."""
        start, end = _utc(start), _utc(end)
        return replace(self, events=tuple(e for e in self.events if start <= e.start <= end))

    def upcoming(self, now: pd.Timestamp, *, within: pd.Timedelta | None = None) -> list[Event]:
        """Events starting at or after ``now`` (and before ``now + within`` when given)."""
        now = _utc(now)
        last = now + within if within is not None else None
        return [e for e in self.events if e.start >= now and (last is None or e.start < last)]

    def past_count(self, now: pd.Timestamp) -> int:
        """Entries that started before ``now`` (still used: time since the last start is an input)."""
        now = _utc(now)
        return sum(1 for e in self.events if e.start < now)

    def relabel(self, kinds: Mapping[str, str]) -> Calendar:
        """The same calendar with the kinds in ``kinds`` renamed (used for kinds a model never saw)."""
        return replace(self, events=tuple(replace(e, kind=kinds.get(e.kind, e.kind)) for e in self.events))

    def summary(self, now: pd.Timestamp | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "events": len(self.events),
            "kinds": {k: sum(1 for e in self.events if e.kind == k) for k in self.kinds},
            "duplicates_dropped": self.duplicates,
            "overlapping": self.overlapping,
        }
        if now is not None:
            out["past"] = self.past_count(now)
            out["upcoming"] = len(self.events) - out["past"]
        return out


@dataclass
class _Row:
    where: str
    values: dict[str, Any] = field(default_factory=dict)


def _utc(ts: Any) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_convert("UTC") if t.tzinfo is not None else t.tz_localize("UTC")


def _parse_time(raw: Any, *, where: str, name: str) -> pd.Timestamp:
    text = str(raw).strip()
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        t = None
    if t is None or t is pd.NaT or pd.isna(t):
        raise CalendarError(
            f"{where}: field {name!r}: {text!r} is not an ISO 8601 time",
            hint="write times like 2026-03-05T20:07:00Z or 2026-03-05T21:07:00+01:00",
        )
    if t.tzinfo is None:
        raise CalendarError(
            f"{where}: field {name!r}: {text!r} has no UTC offset",
            hint="add Z (UTC) or an offset such as +01:00: a time without one is ambiguous",
        )
    return t.tz_convert("UTC")


def _parse_row(row: _Row) -> Event:
    values = row.values
    unknown = sorted(k for k in values if k not in FIELDS)
    if unknown:
        raise CalendarError(
            f"{row.where}: unknown field {unknown[0]!r}", hint=f"known fields: {', '.join(FIELDS)}"
        )
    raw_start = values.get("start")
    if raw_start is None or str(raw_start).strip() == "":
        raise CalendarError(f"{row.where}: field 'start' is missing", hint="every event needs a start time")
    start = _parse_time(raw_start, where=row.where, name="start")
    kind_raw = values.get("kind")
    kind = str(kind_raw).strip() if kind_raw is not None and str(kind_raw).strip() else DEFAULT_KIND
    end = None
    raw_end = values.get("end")
    if raw_end is not None and str(raw_end).strip():
        end = _parse_time(raw_end, where=row.where, name="end")
        if end <= start:
            raise CalendarError(
                f"{row.where}: field 'end': {end.isoformat()} is not after the start {start.isoformat()}",
                hint="leave 'end' empty or give a time after 'start'",
            )
    expected = None
    raw_expected = values.get("expected")
    if raw_expected is not None and str(raw_expected).strip():
        try:
            expected = float(str(raw_expected).strip())
        except ValueError:
            expected = math.nan
        if not math.isfinite(expected) or expected < 0:
            raise CalendarError(
                f"{row.where}: field 'expected': {str(raw_expected).strip()!r} is not a non-negative number",
                hint="give a size hint such as 12000 (registered viewers), or leave it empty",
            )
    return Event(start=start, kind=kind, end=end, expected=expected)


def calendar_from_records(records: Iterable[Mapping[str, Any]], *, source: str = "calendar") -> Calendar:
    """A calendar from mappings with the fields ``start``, ``kind``, ``end``, ``expected``."""
    events = []
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, Mapping):
            raise CalendarError(
                f"{source}: entry {i}: expected a mapping of fields, got {type(rec).__name__}",
                hint=f"each entry has the fields {', '.join(FIELDS)}",
            )
        events.append(_parse_row(_Row(where=f"{source}: entry {i}", values=dict(rec))))
    return Calendar.of(events, source=source)


def parse_calendar_csv(text: str, *, source: str = "calendar.csv") -> Calendar:
    """A CSV calendar with a header row; rows are named by their line number in the file."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise CalendarError(
            f"{source}: the file is empty", hint="write a header row: start,kind,end,expected"
        ) from None
    header = [h.strip().lower() for h in header]
    if "start" not in header:
        raise CalendarError(
            f"{source}: line 1: the header has no 'start' column",
            hint="write a header row: start,kind,end,expected",
        )
    unknown = [h for h in header if h not in FIELDS]
    if unknown:
        raise CalendarError(
            f"{source}: line 1: unknown column {unknown[0]!r}", hint=f"known columns: {', '.join(FIELDS)}"
        )
    events = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        where = f"{source}: row {line}"
        if len(cells) > len(header):
            raise CalendarError(
                f"{where}: {len(cells)} fields but the header names {len(header)}",
                hint="quote values that contain commas",
            )
        events.append(_parse_row(_Row(where=where, values=dict(zip(header, cells, strict=False)))))
    return Calendar.of(events, source=source)


def parse_calendar_yaml(text: str, *, source: str = "calendar.yaml") -> Calendar:
    """A YAML calendar: a list of entries, or a mapping with an ``events`` list."""
    try:
        # BaseLoader: every scalar stays a string, so times are parsed here (offset required), not by YAML.
        data = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 (BaseLoader builds no objects)
    except yaml.YAMLError as exc:
        raise CalendarError(f"{source}: invalid YAML ({exc})") from exc
    if isinstance(data, Mapping) and set(data) == {"events"}:
        data = data["events"]
    if data is None or data == "":
        data = []
    if not isinstance(data, list):
        raise CalendarError(
            f"{source}: expected a list of events (or a mapping with an 'events' list)",
            hint="write entries like '- {start: 2026-03-05T20:07:00Z, kind: football}'",
        )
    return calendar_from_records(data, source=source)


def _number_text(x: float) -> str:
    """``x`` as the shortest text that reads back as the same float (``repr``; ``:g`` keeps only 6 digits:
    1234567.5 became 1.23457e+06), a whole number without its ``.0``."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def calendar_to_csv(calendar: Calendar) -> str:
    """The calendar as CSV text that :func:`parse_calendar_csv` reads back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for e in calendar.events:
        writer.writerow(
            [
                e.start.isoformat(),
                e.kind,
                e.end.isoformat() if e.end is not None else "",
                _number_text(e.expected) if e.expected is not None else "",
            ]
        )
    return out.getvalue()


def read_calendar(path: str | Path) -> Calendar:
    """Read a calendar file: ``.yaml``/``.yml`` as YAML, anything else as CSV."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise CalendarError(f"cannot read calendar {p}: {exc.strerror}", hint="check the path") from exc
    if p.suffix.lower() in (".yaml", ".yml"):
        return parse_calendar_yaml(text, source=str(p))
    return parse_calendar_csv(text, source=str(p))


class CalendarBound:
    """A predictor with a calendar bound to it: ``predict(history)`` passes ``events=calendar``.

    Lets code that knows only the Predictor protocol (backtests, the replay, promotion) use a model trained
    with a calendar; every other attribute is the inner predictor's.
    """

    def __init__(self, inner: Any, calendar: Calendar) -> None:
        self._inner = inner
        self.calendar = calendar

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def predict(self, history: pd.Series) -> pd.DataFrame:
        return self._inner.predict(history, events=self.calendar)

    def predict_many(self, history: pd.Series, *, origins: Any) -> list[pd.DataFrame]:
        return self._inner.predict_many(history, origins=origins, events=self.calendar)


def bind_calendar(predictor: Any, calendar: Calendar | None) -> Any:
    """``predictor`` reading ``calendar`` (itself when there is no calendar or it reads none)."""
    if calendar is None or getattr(predictor, "events", None) is None:
        return predictor
    return CalendarBound(predictor, calendar)
