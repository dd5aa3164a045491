"""What the controller keeps between ticks must equal what it would read afresh: the template history window
(:class:`~forecaster.prescaler.template_window.TemplateWindows`: the spliced window equals the whole read,
tick after tick) and the policy cache (:class:`~forecaster.prescaler.informer.WatchCache`: list, watch,
our own writes folded in, a relist after 410, backoff after failures).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import SourceError
from forecaster.prescaler.informer import RESTART_BACKOFF_S, WatchCache, object_key
from forecaster.prescaler.kube import POLICIES, GoneError, TemporaryKubeError, WatchEvent
from forecaster.prescaler.template_window import OVERLAP_STEPS, TemplateWindows
from forecaster.series import parse_duration
from forecaster.settings import PrometheusSettings
from forecaster.sources.prometheus import NoSeriesError

SETTINGS = PrometheusSettings(query="sum by (svc) (rate(x[1m]))", step="1m", history="1h")
NOW = pd.Timestamp("2026-11-30T12:00:20")
MIN = pd.Timedelta(minutes=1)


class _Prometheus:
    """Per service, one value per minute; answers a split read on the grid ending strictly before ``now``."""

    def __init__(self, services=("a", "b")):
        index = pd.date_range((NOW - pd.Timedelta(hours=6)).floor("1min"), periods=12 * 60, freq="1min")
        self.data = {
            s: pd.Series(np.arange(len(index), dtype=float) * (k + 1), index=index)
            for k, s in enumerate(services)
        }
        self.spans: list[pd.Timedelta] = []

    def __call__(self, settings, *, now, split_by, max_series, history=None):
        span = parse_duration(history or settings.history)
        self.spans.append(span)
        end = pd.Timestamp((math.ceil(pd.Timestamp(now).value / 1e9 / 60) - 1) * 60, unit="s")
        start = end - MIN * (max(1, int(span.total_seconds() // 60)) - 1)
        out = {}
        for name, s in self.data.items():
            part = s[(s.index >= start) & (s.index <= end)]
            if len(part):
                out[(name,)] = part.asfreq("1min")
        if not out:
            raise NoSeriesError("no series")
        return out


def _read(windows, now, history="1h"):
    return windows(SETTINGS, now=now, split_by=("svc",), max_series=10, history=history)


def _same(got, want):
    assert list(got) == list(want)
    for key in want:
        pd.testing.assert_series_equal(got[key], want[key], check_names=False)


def test_each_tick_reads_only_new_points_and_gets_what_a_whole_read_gets():
    prom = _Prometheus()
    windows = TemplateWindows(prom)
    for k in range(8):
        now = NOW + k * MIN
        got = _read(windows, now)
        _same(got, _Prometheus()(SETTINGS, now=now, split_by=("svc",), max_series=10, history="1h"))
        assert len(got[("a",)]) == 60 and got[("a",)].index[-1] == now.floor("1min")
    assert (windows.reads, windows.tail_reads) == (1, 7)
    assert prom.spans[0] == pd.Timedelta(hours=1)
    assert (
        prom.spans[1] == (OVERLAP_STEPS + 2) * MIN
    )  # the overlap before the kept end, that end, one new point


def test_a_point_revised_inside_the_overlap_is_read_again():
    prom = _Prometheus()
    windows = TemplateWindows(prom)
    _read(windows, NOW)
    last = NOW.floor("1min")  # the newest point read at NOW (the last step strictly before it)
    prom.data["a"][last - (OVERLAP_STEPS - 1) * MIN] = -1.0  # a late scrape changed a recent point
    got = _read(windows, NOW + MIN)
    assert got[("a",)][last - (OVERLAP_STEPS - 1) * MIN] == -1.0


@pytest.mark.parametrize(
    ("change", "whole"),
    [
        (lambda prom, w: _read(w, NOW + MIN, history="2h"), True),  # a longer window
        (lambda prom, w: _read(w, NOW - 5 * MIN), True),  # the clock went back
        (lambda prom, w: _read(w, NOW + 2 * pd.Timedelta(hours=1)), True),  # past the kept end
        (lambda prom, w: _read(w, NOW + MIN), False),
        (lambda prom, w: _read(w, NOW), False),  # the same tick again
    ],
)
def test_a_whole_read_whenever_splicing_could_differ(change, whole):
    prom = _Prometheus()
    windows = TemplateWindows(prom)
    _read(windows, NOW)
    change(prom, windows)
    assert windows.reads == (2 if whole else 1)


def test_a_new_member_makes_a_whole_read():
    prom = _Prometheus()
    windows = TemplateWindows(prom)
    _read(windows, NOW)
    prom.data["c"] = prom.data["a"] * 7
    got = _read(windows, NOW + MIN)
    assert windows.reads == 2 and ("c",) in got and len(got[("c",)]) == 60


def test_settings_of_another_template_are_kept_apart_and_forget_drops_everything():
    prom = _Prometheus()
    windows = TemplateWindows(prom)
    _read(windows, NOW)
    other = PrometheusSettings(query="sum by (svc) (rate(y[1m]))", step="1m", history="1h")
    windows(other, now=NOW + MIN, split_by=("svc",), max_series=10, history="1h")
    assert windows.reads == 2
    windows.forget()
    _read(windows, NOW + 2 * MIN)
    assert windows.reads == 3


def test_an_overlap_below_one_step_is_refused():
    with pytest.raises(ValueError):
        TemplateWindows(_Prometheus(), overlap_steps=0)


def test_a_failing_read_is_raised_and_the_next_one_is_whole():
    prom = _Prometheus()
    windows = TemplateWindows(prom)

    def down(*a, **k):
        raise SourceError("Prometheus down")

    windows._fetch_split = down  # the seam the constructor sets
    with pytest.raises(SourceError):
        _read(windows, NOW)
    windows._fetch_split = prom
    _read(windows, NOW + MIN)
    assert windows.reads == 1 and prom.spans == [pd.Timedelta(hours=1)]


# -- the policy cache ---------------------------------------------------------------------------------------------


def _obj(name, rv, ns="live", **spec):
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)}, "spec": spec}


class _Kube:
    def __init__(self, items, version="10"):
        self.items, self.version = items, version
        self.lists = 0
        self.watches: list[str] = []
        self.script: list = []

    def list_with_version(self, resource, *, namespace=None, page_size=None):
        self.lists += 1
        return list(self.items), self.version

    def watch(self, resource, *, namespace=None, resource_version, timeout_s):
        self.watches.append(resource_version)
        what = self.script.pop(0) if self.script else []
        if isinstance(what, Exception):
            raise what
        yield from what


def test_list_then_watch_from_the_lists_version_then_resume_from_the_last_event():
    kube = _Kube([_obj("b", 3), _obj("a", 5)])
    cache = WatchCache(kube, POLICIES)
    assert not cache.synced.is_set()
    cache.step()
    assert cache.synced.is_set() and kube.lists == 1
    assert [object_key(o) for o in cache.items()] == ["live/a", "live/b"]

    kube.script = [
        [
            WatchEvent("MODIFIED", _obj("a", 11, x=1)),
            WatchEvent("ADDED", _obj("c", 12)),
            WatchEvent("DELETED", _obj("b", 13)),
            WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "14"}}),
        ]
    ]
    cache.step()
    assert kube.watches == ["10"]
    assert [object_key(o) for o in cache.items()] == ["live/a", "live/c"]
    assert cache.get("live/a")["spec"] == {"x": 1}
    assert cache.resource_version == "14" and cache.events == 4
    cache.step()
    assert kube.watches == ["10", "14"] and kube.lists == 1


def test_a_gone_version_lists_again_on_the_next_round():
    kube = _Kube([_obj("a", 5)])
    cache = WatchCache(kube, POLICIES)
    cache.step()
    kube.script = [GoneError("too old", status=410)]
    cache.step()
    assert cache.resource_version is None and [object_key(o) for o in cache.items()] == ["live/a"]
    kube.items = [_obj("z", 20)]
    cache.step()
    assert kube.lists == 2 and [object_key(o) for o in cache.items()] == ["live/z"]


def test_our_own_writes_are_folded_in_unless_the_cache_holds_a_newer_copy():
    kube = _Kube([_obj("a", 5)])
    cache = WatchCache(kube, POLICIES)
    cache.step()
    cache.observe(_obj("a", 7, status="written"))
    assert cache.get("live/a")["spec"] == {"status": "written"}
    cache.observe(_obj("a", 6, status="older"))
    assert cache.get("live/a")["spec"] == {"status": "written"}
    cache.observe(_obj("unknown", 9))
    assert cache.get("live/unknown") is None
    cache.observe({"metadata": {}})


def test_cluster_scoped_objects_are_keyed_by_name():
    assert object_key({"metadata": {"name": "t"}}) == "t"
    assert object_key(_obj("a", 1, ns="x")) == "x/a"


def test_failures_back_off_on_the_schedule_and_reset_after_a_good_round():
    kube = _Kube([_obj("a", 5)])
    cache = WatchCache(kube, POLICIES)
    cache.step()
    stop = threading.Event()
    kube.script = [TemporaryKubeError("down")] * 7 + [[], TemporaryKubeError("down")]
    waits: list[float] = []

    def wait(delay):
        waits.append(delay)
        if len(waits) == 8:
            stop.set()
        return stop.is_set()

    cache.run(stop, wait=wait)

    assert waits == [*RESTART_BACKOFF_S, RESTART_BACKOFF_S[-1], RESTART_BACKOFF_S[-1], RESTART_BACKOFF_S[0]]
