"""A template's history window kept between the prescaler's ticks, so that each tick reads only the new points.

A template's members share one ``by (...)`` range query per tick (:func:`forecaster.sources.prometheus.
fetch_history_split`). Reading the whole window each tick (a day or more of 1-minute points per member, for
every member) made Prometheus encode, and the prescaler decode, the same points again every minute: 13.5% of
a steady tick's CPU at N = 200 (bench/results/fleet.md). :class:`TemplateWindows` wraps that read with the
same signature: the first read of a template is the whole window; a later one reads only the points since
the last read plus :data:`OVERLAP_STEPS` before it (a recording rule's newest samples may still change while
late scrapes arrive), and splices them onto the kept window, dropping what fell out of it.

It reads the whole window again whenever the spliced one could differ from it: the first time, a window that
grew (a longer lookback or guard window) or moved backwards or past the kept end, a member the kept window
does not hold (its older history was never read), a member whose new points do not join its kept ones (a gap
at the seam: the whole read interpolates across it), or an empty new read. The query count per tick is the
same as the whole read's (the capped series count, then one range query), so the tick's metric is unchanged.

This module must not talk to Prometheus itself (the read it wraps does) nor decide anything.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecaster.series import parse_duration
from forecaster.sources.prometheus import NoSeriesError

__all__ = ["TemplateWindows", "OVERLAP_STEPS"]

OVERLAP_STEPS = 5
"""Points before the kept window's end that are read again: Prometheus may still revise the newest samples
of a recording rule (a scrape a few seconds late); five 1-minute steps cover any sane scrape delay."""

SplitFetch = Callable[..., dict[tuple[str, ...], pd.Series]]


@dataclass
class _Kept:
    start: pd.Timestamp
    end: pd.Timestamp
    series: dict[tuple[str, ...], pd.Series]


class TemplateWindows:
    """``fetch_split(settings, now=, split_by=, max_series=, history=)`` with each template's window kept.

    ``fetch_split`` is the read it wraps (default :func:`~forecaster.sources.prometheus.fetch_history_split`).
    ``reads`` counts whole-window reads and ``tail_reads`` the incremental ones (for tests and the bench).
    Safe to call from several threads (one template at a time each: the controller reads a template once
    per tick).
    """

    def __init__(self, fetch_split: SplitFetch | None = None, *, overlap_steps: int = OVERLAP_STEPS) -> None:
        if overlap_steps < 1:
            raise ValueError(f"overlap_steps must be at least 1, not {overlap_steps}")
        self._fetch_split = fetch_split
        self.overlap_steps = overlap_steps
        self._kept: dict[Hashable, _Kept] = {}
        self._lock = threading.Lock()
        self.reads = 0
        self.tail_reads = 0

    def _fetch(self) -> SplitFetch:
        if self._fetch_split is None:
            from forecaster.sources.prometheus import fetch_history_split

            self._fetch_split = fetch_history_split
        return self._fetch_split

    def __call__(
        self,
        settings: Any,
        *,
        now: pd.Timestamp,
        split_by: tuple[str, ...],
        max_series: int,
        history: str | pd.Timedelta | None = None,
        **kwargs: Any,
    ) -> dict[tuple[str, ...], pd.Series]:
        span = parse_duration(history or settings.history)
        step = parse_duration(settings.step)
        step_s = int(step.total_seconds())
        # The grid the read itself uses: the last step strictly before now, back over the span.
        now_s = pd.Timestamp(now).value / 1e9  # a naive time is UTC, as everywhere in forecaster
        end = pd.Timestamp((math.ceil(now_s / step_s) - 1) * step_s, unit="s")
        start = end - step * (max(1, int(span.total_seconds() // step_s)) - 1)
        key = (settings.url, settings.query, settings.step, tuple(split_by), max_series)
        with self._lock:
            kept = self._kept.get(key)
        fetch = self._fetch()
        merged = None
        if kept is not None and kept.start <= start and start <= kept.end <= end:
            tail_start = kept.end - step * self.overlap_steps
            if tail_start >= start:
                tail_span = (end - tail_start) + step
                try:
                    tail = fetch(
                        settings,
                        now=now,
                        split_by=split_by,
                        max_series=max_series,
                        history=tail_span,
                        **kwargs,
                    )
                except NoSeriesError:  # no new points at all: the whole read decides
                    tail = {}
                self.tail_reads += 1
                merged = _splice(kept.series, tail, start=start, tail_start=tail_start, step=step)
        if merged is None:
            merged = fetch(
                settings, now=now, split_by=split_by, max_series=max_series, history=span, **kwargs
            )
            self.reads += 1
        with self._lock:
            self._kept[key] = _Kept(start=start, end=end, series=merged)
        return dict(merged)

    def forget(self) -> None:
        """Drop every kept window (the next reads are whole)."""
        with self._lock:
            self._kept.clear()


def _splice(
    kept: dict[tuple[str, ...], pd.Series],
    tail: dict[tuple[str, ...], pd.Series],
    *,
    start: pd.Timestamp,
    tail_start: pd.Timestamp,
    step: pd.Timedelta,
) -> dict[tuple[str, ...], pd.Series] | None:
    """The kept series with the new points spliced on and the window's old end cut; None when a whole read
    is needed (see the module docstring)."""
    if not tail or tail.keys() - kept.keys():
        return None
    out: dict[tuple[str, ...], pd.Series] = {}
    for member, old in kept.items():
        new = tail.get(member)
        if new is None or not len(new):
            series = old  # no new points: what a whole read returns too, as long as the window holds some
        else:
            first = new.index[0]
            if first != tail_start and (not len(old) or first > old.index[-1] + step):
                return None  # a gap at the seam: the whole read interpolates (or keeps) it its own way
            head = old.iloc[: old.index.searchsorted(first)]
            series = pd.concat([head, new]) if len(head) else new  # contiguous: keeps the grid's freq
        series = series.iloc[series.index.searchsorted(start) :]  # a slice keeps the freq too
        if len(series):
            out[member] = series
    return out
