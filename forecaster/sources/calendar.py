"""Load a target's calendar of scheduled events from the source its ``events:`` section names.

The one place that turns :class:`~forecaster.settings.EventsSettings` into a :class:`~forecaster.events.Calendar`:
a file (CSV or YAML, e.g. a mounted ConfigMap: re-read on every call, so an update is seen at the next tick)
or a Prometheus query (through :mod:`forecaster.sources.prometheus`, the only Prometheus importer).
:func:`calendar_updated_at` says when a calendar file was last written (the prescaler's staleness rule).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from forecaster.events import Calendar, read_calendar
from forecaster.settings import EventsSettings, PrometheusSettings

__all__ = ["load_calendar", "calendar_updated_at"]


def load_calendar(
    events: EventsSettings, *, prometheus: PrometheusSettings, now: pd.Timestamp | datetime
) -> Calendar | None:
    """The calendar ``events`` names, or None when the target has none."""
    if events.file:
        return read_calendar(events.file)
    if events.query:
        from forecaster.sources.prometheus import fetch_calendar

        return fetch_calendar(prometheus, events, now=now)
    return None


def calendar_updated_at(events: EventsSettings) -> pd.Timestamp | None:
    """When the calendar file was last modified (UTC, naive), or None for a query source or a file that
    cannot be stat'ed (reading it then fails with the reason). A mounted ConfigMap's file is a symlink the
    kubelet swaps on each update; ``stat`` follows it, so this is when the kubelet wrote the current copy."""
    if not events.file:
        return None
    try:
        mtime_s = Path(events.file).stat().st_mtime
    except OSError:
        return None
    return pd.Timestamp(datetime.fromtimestamp(mtime_s, tz=UTC)).tz_localize(None)
