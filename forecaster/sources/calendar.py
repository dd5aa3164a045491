"""Load a target's calendar of scheduled events from the source its ``events:`` section names.

The one place that turns :class:`~forecaster.settings.EventsSettings` into a :class:`~forecaster.events.Calendar`:
a file (CSV or YAML, e.g. a mounted ConfigMap: re-read on every call, so an update is seen at the next tick)
or a Prometheus query (through :mod:`forecaster.sources.prometheus`, the only Prometheus importer).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from forecaster.events import Calendar, read_calendar
from forecaster.settings import EventsSettings, PrometheusSettings

__all__ = ["load_calendar"]


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
