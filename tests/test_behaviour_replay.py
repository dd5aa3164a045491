"""The replay simulator as a user reads its numbers (:mod:`forecaster.simulate`, :mod:`forecaster.oracle`):
the documented cluster defaults, what each run metric means on a hand-made run, and a trace finer than a
minute averaged (not maxed or summed) onto the replay's grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.hpa import HPAConfig, HPAPolicy, HPARules
from forecaster.oracle import oracle_schedule
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, prepare_trace, replay, run_metrics

T0 = pd.Timestamp("2026-01-05 08:00")


def test_the_documented_cluster_defaults():
    """Pods ready 3 minutes after they are scheduled, no jitter, no node model; nodes (when modelled) ready
    after 5 minutes and removed after 10 unneeded minutes (the Cluster Autoscaler's default)."""
    c = ClusterConfig()
    assert (c.pod_startup_s, c.pod_startup_jitter_s, c.pods_per_node) == (180.0, 0.0, 0)
    assert (c.node_startup_s, c.node_scale_down_delay_s) == (300.0, 600.0)
    assert not c.has_nodes and ClusterConfig(pods_per_node=4).has_nodes


def test_run_metrics_on_a_hand_made_run():
    # Capacity 100 a pod. Minute 0: 2 ready for 150 (fine); minute 1: 1 ready for 250 (150 short);
    # minute 2: 3 ready for 0 (idle); pods existing 2, 2.5 (one starting half the minute), 3.
    m = run_metrics(
        load=np.array([150.0, 250.0, 0.0]),
        capacity_per_replica=100.0,
        ready=np.array([2.0, 1.0, 3.0]),
        pods=np.array([2.0, 2.5, 3.0]),
        nodes=np.array([1.0, 1.0, 2.0]),
        actions=2,
    )
    assert m["under_provisioned_minutes"] == 1
    assert m["unserved_fraction"] == pytest.approx(150.0 / 400.0)
    assert m["replica_minutes"] == pytest.approx(7.5)
    assert m["node_minutes"] == pytest.approx(4.0)
    assert m["scaling_actions"] == 2
    # Served load over ready capacity: (150 + 100 + 0) / (200 + 100 + 300).
    assert m["mean_utilisation"] == pytest.approx(250.0 / 600.0)
    assert m["peak_replicas"] == 3
    fractional = run_metrics(
        load=np.array([10.0]),
        capacity_per_replica=100.0,
        ready=np.array([1.0]),
        pods=np.array([2.25]),
        nodes=np.array([0.0]),
        actions=0,
    )
    assert fractional["peak_replicas"] == 3  # 2.25 pods on average in a minute: 3 existed at some point


def test_a_trace_finer_than_a_minute_is_averaged_onto_the_minute_grid():
    index = pd.date_range(T0, periods=12, freq="30s")
    values = [100.0, 300.0] * 6  # each minute: 100 then 300 -> mean 200
    out = prepare_trace(pd.Series(values, index=index, name="load"))
    assert len(out) == 6 and pd.Timedelta(out.index.freq) == pd.Timedelta(minutes=1)
    np.testing.assert_allclose(out.to_numpy(), 200.0)


def test_a_coarser_trace_is_interpolated_linearly_between_its_points():
    index = pd.date_range(T0, periods=3, freq="5min")
    out = prepare_trace(pd.Series([100.0, 200.0, 100.0], index=index))
    assert len(out) == 11
    np.testing.assert_allclose(out.to_numpy()[:6], [100, 120, 140, 160, 180, 200])


def test_the_timeline_shows_ready_capacity_not_pods_still_starting():
    # Flat at 100 for 20 minutes, then 500: the HPA adds pods that take 3 minutes to be ready.
    trace = pd.Series(
        [100.0] * 20 + [500.0] * 20, index=pd.date_range(T0, periods=40, freq="1min"), name="load"
    )
    config = ReplayConfig(
        hpa=HPAConfig(
            capacity_per_replica=100.0,
            metric_lag_s=0.0,
            scale_down=HPARules(0.0, (HPAPolicy("Percent", 100, 15),)),
        ),
        policy=ScalingPolicy(capacity_per_replica=100.0),
        cluster=ClusterConfig(pod_startup_s=180.0),
    )
    result = replay(trace, config=config, forecast_fn=None, include=("hpa",))
    timeline = result.timeline()
    run = result.runs["hpa"]
    np.testing.assert_allclose(timeline["hpa_ready_capacity"].to_numpy(), run.ready * 100.0)
    np.testing.assert_array_equal(timeline["hpa_ready_replicas"].to_numpy(), run.ready.astype(int))
    starting = run.pods > run.ready
    assert starting.any()  # minutes where pods exist that are not ready yet
    assert (timeline["hpa_ready_capacity"].to_numpy()[starting] < run.pods[starting] * 100.0).all()
    assert list(timeline.columns[:2]) == ["timestamp", "load"]


def test_start_up_jitter_spreads_pods_over_the_whole_jitter():
    """Start-up 60 s plus up to 600 s of jitter: of 40 pods started at once, some are still starting 7 minutes
    later (a draw over the whole 10 minutes), and all are ready after 11."""
    load = [100.0] * 5 + [4000.0] * 30
    trace = pd.Series(load, index=pd.date_range(T0, periods=len(load), freq="1min"), name="load")
    config = ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=100.0, metric_lag_s=0.0, max_replicas=60),
        policy=ScalingPolicy(capacity_per_replica=100.0, max_replicas=60),
        cluster=ClusterConfig(pod_startup_s=60.0, pod_startup_jitter_s=600.0),
        seed=3,
    )
    run = replay(trace, config=config, forecast_fn=None, include=("hpa",)).runs["hpa"]
    first_up = int(np.argmax(run.pods > 1.5))  # the minute the HPA scaled up
    top = run.pods.max()
    assert top >= 40
    assert run.ready[first_up + 8] < top  # some pods still starting 7+ minutes after the scale-up
    assert run.ready[first_up + 13] == top


def test_the_oracles_actions_are_the_minutes_its_pod_count_changes():
    """The oracle's scaling actions count the minutes at which the number of pods (starting or ready) changes,
    as for every run: pods started ahead of a need are an action when they are created, not when ready."""
    rng = np.random.default_rng(11)
    differs = 0
    for _ in range(200):
        need = rng.integers(0, 4, size=int(rng.integers(5, 25)))
        initial = int(rng.integers(0, 3))
        sched = oracle_schedule(need=need, initial=initial, pod_startup_min=int(rng.integers(0, 4)))
        pods = np.concatenate([[initial], sched.pods])
        assert sched.actions == int((np.diff(pods) != 0).sum())
        differs += int((np.diff(np.concatenate([[initial], sched.ready])) != 0).sum() != sched.actions)
    assert differs > 0  # the cases tell pods from ready pods apart
