"""The prescaler's template window kept between ticks (forecaster.prescaler.template_window): reading only the
new points each tick gives exactly what reading the whole window gives, and every case where it could not
falls back to the whole read."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecaster.prescaler.template_window import TemplateWindows
from forecaster.series import parse_duration, regularize
from forecaster.settings import PrometheusSettings
from forecaster.sources.prometheus import NoSeriesError

SETTINGS = PrometheusSettings(query="sum by (service) (rate(x[1m]))", step="1m", history="2h")
T0 = pd.Timestamp("2026-11-30T12:00:30")


class FakeTemplate:
    """A Prometheus holding raw 1-minute points per service, answering the split read the way
    fetch_history_split does: the step grid ending strictly before ``now``, each series regularized."""

    def __init__(self, points: dict[str, pd.Series]) -> None:
        self.points = points
        self.calls: list[pd.Timedelta] = []

    def __call__(self, settings, *, now, split_by, max_series, history=None):
        span = parse_duration(history or settings.history)
        self.calls.append(span)
        step_s = int(parse_duration(settings.step).total_seconds())
        end = pd.Timestamp((math.ceil(pd.Timestamp(now).value / 1e9 / step_s) - 1) * step_s, unit="s")
        start = end - pd.Timedelta(seconds=step_s) * (max(1, int(span.total_seconds() // step_s)) - 1)
        out = {}
        for name, raw in self.points.items():
            part = raw[(raw.index >= start) & (raw.index <= end)]
            if len(part):
                out[(name,)] = regularize(part, step=settings.step, name=settings.query).rename(
                    settings.query
                )
        if not out:
            raise NoSeriesError("matches no series")
        return dict(sorted(out.items()))


def _raw(seed: int, *, minutes: int = 600) -> pd.Series:
    start = T0 - pd.Timedelta(hours=4)
    rng = np.random.default_rng(seed)
    index = pd.date_range(start.floor("1min"), periods=minutes, freq="1min")
    return pd.Series(100 + rng.normal(0, 5, minutes).cumsum(), index=index)


def _assert_same(got, want):
    assert list(got) == list(want)
    for key in want:
        pd.testing.assert_series_equal(got[key], want[key], check_freq=True)


def _read(windows, now, history=None):
    return windows(SETTINGS, now=now, split_by=("service",), max_series=10, history=history)


def test_each_tick_reads_only_the_new_points_and_matches_the_whole_read():
    fake = FakeTemplate({f"svc-{i}": _raw(i) for i in range(3)})
    windows = TemplateWindows(fake)
    now = T0
    for advance_s in [0, 60, 60, 90, 30, 300, 60]:  # ticks late, early and skipped
        now = now + pd.Timedelta(seconds=advance_s)
        _assert_same(_read(windows, now), fake(SETTINGS, now=now, split_by=("service",), max_series=10))
    assert windows.reads == 1 and windows.tail_reads == 6
    tails = fake.calls[2::2]  # each tick's read, then the comparison's whole read
    assert max(tails) <= pd.Timedelta(minutes=11), "a tick reads the points since the last one plus 5"
    assert fake.calls[0] == pd.Timedelta(hours=2)


def test_points_revised_within_the_overlap_are_read_again():
    raw = _raw(1)
    fake = FakeTemplate({"svc-a": raw})
    windows = TemplateWindows(fake)
    _read(windows, T0)
    raw.loc[T0.floor("1min") - pd.Timedelta(minutes=3)] += 50.0  # a late scrape changed a recent point
    now = T0 + pd.Timedelta(minutes=1)
    _assert_same(_read(windows, now), fake(SETTINGS, now=now, split_by=("service",), max_series=10))
    assert windows.tail_reads == 1


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("new member", "its older history was never read"),
        ("gap at the seam", "the whole read interpolates across it"),
        ("longer window", "the window grew"),
        ("clock back", "the window moved backwards"),
        ("nothing new", "no member has a new point"),
    ],
)
def test_a_whole_read_whenever_the_spliced_window_could_differ(change, why):
    points = {"svc-a": _raw(1), "svc-b": _raw(2)}
    fake = FakeTemplate(points)
    windows = TemplateWindows(fake)
    _read(windows, T0)
    now, history = T0 + pd.Timedelta(minutes=1), None
    if change == "new member":
        points["svc-c"] = _raw(3)
    elif change == "gap at the seam":  # svc-a's last 8 minutes before now never arrived, then it came back
        gap = (points["svc-a"].index > T0 - pd.Timedelta(minutes=8)) & (points["svc-a"].index < T0)
        points["svc-a"] = points["svc-a"][~gap]
        windows.forget()
        _read(windows, T0 - pd.Timedelta(seconds=30))  # kept window ends at the gap
        now = T0 + pd.Timedelta(minutes=3)
    elif change == "longer window":
        history = "3h"
    elif change == "clock back":
        now = T0 - pd.Timedelta(minutes=30)
    elif change == "nothing new":
        for name in points:
            points[name] = points[name][points[name].index < T0.floor("1min") - pd.Timedelta(minutes=10)]
    whole_reads = windows.reads
    got = _read(windows, now, history)
    assert windows.reads == whole_reads + 1, why
    _assert_same(got, fake(SETTINGS, now=now, split_by=("service",), max_series=10, history=history))


def test_a_member_that_stops_reporting_is_kept_until_it_leaves_the_window():
    points = {"svc-a": _raw(1), "svc-b": _raw(2)}
    fake = FakeTemplate(points)
    windows = TemplateWindows(fake)
    _read(windows, T0)
    points["svc-b"] = points["svc-b"][points["svc-b"].index < T0.floor("1min") - pd.Timedelta(minutes=1)]
    for minutes in (1, 2, 30, 125):
        now = T0 + pd.Timedelta(minutes=minutes)
        _assert_same(_read(windows, now), fake(SETTINGS, now=now, split_by=("service",), max_series=10))
    assert list(_read(windows, now)) == [("svc-a",)], "gone once its last point left the window"
    assert windows.tail_reads >= 4
