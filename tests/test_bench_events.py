"""bench/events.py's bookkeeping: what a never-happening entry costs against its allowance, and where short
minutes fall (pure helpers; the benchmark itself is not run here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecaster.events import Calendar, Event


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "events.py"
    spec = importlib.util.spec_from_file_location("bench_events", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INDEX = pd.date_range("2026-01-10 12:00", periods=180, freq="1min")
START = pd.Timestamp("2026-01-10 13:00", tz="UTC")  # minute 60 of INDEX


def test_a_ghost_costs_its_extra_pods_before_and_after_its_start_against_lead_x_peak(bench):
    base = np.full(180, 10.0)
    with_ghost = base.copy()
    with_ghost[57:60] += 4  # raised 3 minutes ahead (the lead's worth: 12 replica-minutes)
    with_ghost[60:68] += 4  # and held 8 minutes after the start (32 more)
    run = SimpleNamespace(pods=with_ghost, ready=with_ghost)
    without = SimpleNamespace(pods=base, ready=base)
    load = np.full(180, 5.0)
    cost = bench._ghost_cost(
        Event(start=START, kind="match"), index=INDEX, load=load, cap=1.0, with_ghosts=run, without=without
    )
    assert cost["before_start"] == 12 and cost["after_start"] == 32 and cost["extra_replica_minutes"] == 44
    assert cost["peak_extra_pods"] == 4 and cost["allowance_replica_minutes"] == bench.LEAD_S / 60 * 4
    assert cost["released_min_after_start"] == 8 and cost["short_minutes_added"] == 0


def test_short_minutes_are_grouped_by_minutes_since_the_start_and_lateness(bench):
    on_time = Event(start=START, kind="match")
    late = Event(start=START + pd.Timedelta(hours=1), kind="match")
    short = np.zeros(180, dtype=bool)
    short[[61, 62, 66, 125]] = True  # minutes 1, 2, 6 after the first start; 5 after the second
    actual = [(START, "match"), (late.start + pd.Timedelta(minutes=3), "match")]
    got = bench._short_by_offset(Calendar.of([on_time, late]), actual, index=INDEX, short=short)
    assert got["0-5 min, on time"] == 2 and got["5-10 min, on time"] == 1 and got["5-10 min, late"] == 1
    assert sum(got.values()) == 4


def test_a_ghosts_cost_after_its_start_is_split_into_the_floor_held_and_the_hpa_holding_pods(bench):
    base = np.full(180, 10.0)
    floor = np.zeros(180)
    floor_ghost = floor.copy()
    floor_ghost[57:66] = 14  # the floor raised for it until 6 minutes after the start
    with_ghost = base.copy()
    with_ghost[57:66] += 4
    with_ghost[66:69] += 2  # then the HPA keeps 2 of the 4 pods for 3 more minutes
    run = SimpleNamespace(pods=with_ghost, ready=with_ghost, floor=floor_ghost)
    without = SimpleNamespace(pods=base, ready=base, floor=floor)
    cost = bench._ghost_cost(
        Event(start=START, kind="match"),
        index=INDEX,
        load=np.full(180, 5.0),
        cap=1.0,
        with_ghosts=run,
        without=without,
    )
    assert cost["floor_released_min_after_start"] == 6
    assert cost["while_floor_held"] == 24 and cost["after_floor_released"] == 6
    assert cost["after_start"] == 30 and cost["before_start"] == 12


def test_short_minutes_in_the_windows_are_told_apart_by_cause(bench):
    late = Event(start=START, kind="match")  # the stream comes 4 minutes late
    load = np.full(180, 10.0)
    load[64:] = 20.0  # needs 20 replicas from its real start
    floor = np.full(180, 10.0)
    floor[57:62] = 20.0  # raised for the start, dropped at minute 2 while waiting
    floor[66:] = 20.0  # raised again 2 minutes after the rise
    ready = np.full(180, 10.0)
    ready[69:] = 20.0
    ready[80:83] = 19.0  # later: the floor asked for 20 three minutes ahead, pods not ready
    floor[84:89] = 19.0  # the forecast below the load
    ready[84:89] = 19.0
    run = SimpleNamespace(ready=ready, floor=floor)
    got = bench._short_causes(
        Calendar.of([late]),
        [(START + pd.Timedelta(minutes=4), "match")],
        index=INDEX,
        load=load,
        cap=1.0,
        run=run,
    )
    assert got["late stream: released while waiting"] == 5  # minutes 4..8 after the announced start
    assert got["raised in time, pods not ready"] == 3
    assert got["forecast below the load"] == 5
    assert got["raised less than a start-up before"] == 0
    assert sum(got.values()) == int((ready < load).sum())


def test_replica_minutes_are_split_by_zone(bench):
    scenario = SimpleNamespace(
        calendar=Calendar.of(
            [Event(start=START, kind="match"), Event(start=START + pd.Timedelta(hours=1), kind="x")]
        ),
        cancelled=[Event(start=START + pd.Timedelta(hours=1), kind="x")],
        surprises=[START - pd.Timedelta(minutes=50)],
    )
    run = SimpleNamespace(pods=np.ones(180))
    got = bench._replica_minutes_by_zone(scenario, index=INDEX, runs={"hpa": run})["hpa"]
    # Start at minute 60: 30..120 around it; the cancelled one at 120: 120..180; the spike at 10: 0..70 less
    # what the start already holds (0..30).
    assert got == {
        "around starts": 90.0,
        "around cancelled entries": 60.0,
        "around unannounced spikes": 30.0,
        "elsewhere": 0.0,
    }


def test_the_minute_load_is_the_5_minute_series_at_its_samples_and_starts_at_the_real_minute(bench):
    from forecaster.sources.synthetic import LiveStreamingShape, live_streaming_events

    scenario = live_streaming_events(days=3, step="5m", seed=0)
    native = scenario.series
    got = bench.minute_load(native, days=3, seed=0)
    assert got.index.freq == pd.Timedelta(minutes=1) and got.index[-1] == native.index[-1]
    # What the models train on is unchanged: every 5-minute sample, exactly.
    assert np.array_equal(got.loc[native.index].to_numpy(), native.to_numpy())
    clean = live_streaming_events(days=3, step="1m", seed=0, shape=LiveStreamingShape(noise=0.0)).series
    # Only the noise is interpolated: each minute's factor on the clean load lies between its samples'.
    factor = (got / clean.loc[got.index]).to_numpy()
    lo, hi = factor[:-1:5], factor[5::5]  # the samples either side of each 4 minutes between
    between = factor[:-1].reshape(-1, 5)[:, 1:]
    assert np.all(between >= np.minimum(lo, hi)[:, None] - 1e-12)
    assert np.all(between <= np.maximum(lo, hi)[:, None] + 1e-12)
    # A stream that starts between two samples is not there the minute before it; a straight line between
    # the samples already ramps it in.
    line = native.reindex(got.index).interpolate()
    ahead = []
    for at, _ in scenario.actual_starts:
        before = at.tz_localize(None).ceil("1min") - pd.Timedelta(minutes=1)
        if before.minute % 5 and before in got.index:
            ahead.append(line[before] / got[before] - 1)
    assert ahead and max(ahead) > 0.1
    assert min(ahead) > -0.05  # never the other way round beyond the noise


def test_the_minute_load_refuses_a_series_that_is_not_the_scenarios(bench):
    native = pd.Series(1.0, index=pd.date_range("2026-01-05", periods=10, freq="5min"))
    with pytest.raises(ValueError, match="not the scenario"):
        bench.minute_load(native, days=3, seed=0)
