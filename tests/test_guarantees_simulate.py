"""Replay simulator contract: what `replay`, `prepare_trace`, the forecast table and the predictor adapter promise.

Each test forces its case with hand-made traces and a fixed clock and checks numbers worked out by hand (in the
comments), through the public functions of :mod:`forecaster.simulate` only: bad input is refused with an error
naming the problem, the simulated Deployment and node group start, schedule and retire capacity as documented, the
HPA reads a lagged, windowed metric, and the prescaler's forecasts never read the tick itself or the future.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError, DataError
from forecaster.hpa import HPAConfig, HPAPolicy, HPARules
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import (
    ClusterConfig,
    ForecastTable,
    ReplayConfig,
    precompute_forecasts,
    predictor_forecasts,
    prepare_trace,
    replay,
    run_metrics,
)

T0 = pd.Timestamp("2026-01-05 08:00")
CAP = 100.0
FAST_DOWN = HPARules(0.0, (HPAPolicy("Percent", 100, 15),))
"""Scale-down without stabilisation: the HPA follows the load down at once."""


def trace_of(values, *, start: pd.Timestamp = T0, name: str | None = "load") -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype=float),
        index=pd.date_range(start, periods=len(values), freq="1min"),
        name=name,
    )


def cfg(
    *,
    lag_s: float = 0.0,
    window_s: float = 60.0,
    sync_s: float = 15.0,
    startup_s: float = 60.0,
    scale_down: HPARules = FAST_DOWN,
    interval_s: float = 60.0,
    **cluster,
) -> ReplayConfig:
    return ReplayConfig(
        hpa=HPAConfig(
            capacity_per_replica=CAP,
            max_replicas=50,
            metric_lag_s=lag_s,
            metric_window_s=window_s,
            sync_period_s=sync_s,
            scale_down=scale_down,
        ),
        policy=ScalingPolicy(
            capacity_per_replica=CAP, max_replicas=50, interval_s=interval_s, scale_down_stabilization_s=0
        ),
        cluster=ClusterConfig(pod_startup_s=startup_s, **cluster),
    )


def exactly(message: str) -> str:
    """A ``pytest.raises`` pattern for the whole message, its hint (what to do) included."""
    return "^" + re.escape(message) + "$"


def hpa_run(values, config: ReplayConfig | None = None, **kw):
    return replay(trace_of(values), config=config or cfg(**kw), forecast_fn=None, include=("hpa",)).runs[
        "hpa"
    ]


# -- configuration is checked up front --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"pod_startup_s": -1.0}, "pod_startup_s must be seconds >= 0"),
        ({"pod_startup_jitter_s": float("nan")}, "pod_startup_jitter_s must be seconds >= 0"),
        ({"node_startup_s": float("inf")}, "node_startup_s must be seconds >= 0"),
        ({"node_scale_down_delay_s": -0.5}, "node_scale_down_delay_s must be seconds >= 0"),
        ({"pods_per_node": True}, "pods_per_node must be a whole number"),
        ({"pods_per_node": 2.5}, "pods_per_node must be a whole number"),
        ({"pods_per_node": -1}, "pods_per_node must be a whole number"),
    ],
)
def test_cluster_config_refuses_impossible_values(fields, match):
    with pytest.raises(ConfigError, match=match):
        ClusterConfig(**fields)


def test_cluster_config_accepts_its_boundaries():
    edge = ClusterConfig(pod_startup_s=0, pod_startup_jitter_s=0, node_startup_s=0, node_scale_down_delay_s=0)
    assert not edge.has_nodes  # pods_per_node 0: no node model
    assert ClusterConfig(pods_per_node=1).has_nodes
    assert ClusterConfig(pods_per_node=4.0).has_nodes  # a whole float is a whole number


@pytest.mark.parametrize(
    ("hpa", "policy", "match"),
    [
        (
            {"sync_period_s": 7},
            {},
            "replay: the HPA sync period must divide a minute, got 7s (use 5, 10, 15, 20, 30 or 60 seconds)",
        ),
        ({"sync_period_s": 120}, {}, "replay: the HPA sync period must divide a minute, got 120s (use 5, "),
        ({}, {"interval_s": 90}, "replay: the prescaler interval must be whole minutes, got 90s"),
        (
            {},
            {"capacity_per_replica": 101.0},
            "replay: the policy and the HPA must use the same capacity_per_replica (both are the load one pod "
            "serves at full use (the HPA's target_utilisation is separate))",
        ),
    ],
)
def test_replay_config_refuses_what_the_minute_grid_cannot_replay(hpa, policy, match):
    with pytest.raises(ConfigError, match="^" + re.escape(match)):
        ReplayConfig(
            hpa=HPAConfig(capacity_per_replica=CAP, **hpa),
            policy=ScalingPolicy(**{"capacity_per_replica": CAP, **policy}),
        )


@pytest.mark.parametrize("sync_s", [5, 20, 30, 60])
def test_replay_config_accepts_sync_periods_that_divide_a_minute(sync_s):
    config = ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=CAP, sync_period_s=sync_s),
        policy=ScalingPolicy(capacity_per_replica=CAP, interval_s=120),
    )
    assert config.cluster == ClusterConfig()  # the default cluster
    assert config.seed == 0


def test_the_node_group_plans_with_node_plus_pod_startup_and_no_minimum():
    config = ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=CAP),
        policy=ScalingPolicy(capacity_per_replica=CAP, min_replicas=3, lead_time_s=120, headroom=0.1),
        cluster=ClusterConfig(pod_startup_s=90, pods_per_node=4, node_startup_s=240),
    )
    node = config.node_policy
    assert node.lead_time_s == 330  # 240 s for the node, then 90 s for the pod
    assert node.min_replicas == 0
    assert node.headroom == 0.1 and node.quantile == config.policy.quantile  # the rest is the pods' policy


# -- bad traces are refused with the problem named -----------------------------------------------------------------


def _config() -> ReplayConfig:
    return cfg()


INDEXED = "replay: the trace must be a series indexed by timestamps (use prepare_trace())"
GRID = "replay: the trace must be on a regular 1-minute grid (use prepare_trace())"


@pytest.mark.parametrize(
    ("trace", "match"),
    [
        (pd.Series([1.0, 2.0, 3.0]), exactly(INDEXED)),
        (trace_of([1.0]), exactly(INDEXED)),
        (pd.Series([1.0] * 10, index=pd.date_range(T0, periods=10, freq="5min")), exactly(GRID)),
        (trace_of([1.0] * 10).drop(T0 + pd.Timedelta(minutes=6)), exactly(GRID)),
        (trace_of([1.0] * 5 + [np.nan] + [1.0] * 4), "missing or infinite value at 2026-01-05 08:05:00"),
        (trace_of([1.0] * 7 + [np.inf] + [1.0] * 2), "missing or infinite value at 2026-01-05 08:07:00"),
        (trace_of([1.0, 0.5, 0.0, -1.0] + [1.0] * 6), "negative load at 2026-01-05 08:03:00"),
    ],
    ids=["no-timestamps", "one-point", "5-minute-grid", "a-missing-minute", "nan", "inf", "negative"],
)
def test_replay_refuses_a_trace_it_cannot_replay(trace, match):
    with pytest.raises(DataError, match=match):
        replay(trace, config=_config(), forecast_fn=None, include=("hpa",))


def test_replay_refuses_a_start_after_the_trace():
    trace = trace_of([100.0] * 10)
    with pytest.raises(
        DataError,
        match=exactly(
            "replay: replay start 2026-01-05 08:11:00 is after the trace's end 2026-01-05 08:09:00"
        ),
    ):
        replay(
            trace,
            config=_config(),
            forecast_fn=None,
            include=("hpa",),
            replay_start=T0 + pd.Timedelta("11min"),
        )
    # The last minute is still a replay start.
    last = T0 + pd.Timedelta("9min")
    with pytest.raises(
        ConfigError, match="longer than the replayed trace"
    ):  # 1 minute < the 1-minute start-up
        replay(trace, config=_config(), forecast_fn=None, include=("hpa",), replay_start=last)


def test_startup_counts_the_node_as_well_as_the_pod():
    # 1 minute for the pod + 5 for the node = 6 minutes: a 6-minute replay is too short, a 7-minute one is not.
    config = cfg(startup_s=60, pods_per_node=2, node_startup_s=300)
    with pytest.raises(
        ConfigError,
        match=exactly(
            "replay: start-up (6m) is longer than the replayed trace (6 minutes) "
            "(replay a longer trace or shorten the start-up)"
        ),
    ):
        replay(trace_of([100.0] * 6), config=config, forecast_fn=None, include=("hpa",))
    run = replay(trace_of([100.0] * 7), config=config, forecast_fn=None, include=("hpa",)).runs["hpa"]
    assert len(run.ready) == 7
    # Without a node model only the pod counts: 2 minutes replay.
    assert len(hpa_run([100.0] * 2, startup_s=60).ready) == 2


def test_replay_refuses_ambiguous_or_missing_forecasts_and_unknown_runs():
    trace = trace_of([100.0] * 10)
    table = precompute_forecasts(trace, forecast_fn=lambda h, now: None)
    with pytest.raises(
        ConfigError, match=exactly("replay: give forecast_fn or precomputed forecasts, not both")
    ):
        replay(trace, config=_config(), forecast_fn=lambda h, now: None, forecasts=table)
    with pytest.raises(
        ConfigError, match=exactly("replay: the prescaler run needs a forecast_fn or precomputed forecasts")
    ):
        replay(trace, config=_config(), forecast_fn=None)
    with pytest.raises(
        ConfigError, match=exactly("replay: unknown run 'reactive' (hpa, prescaler or oracle)")
    ):
        replay(trace, config=_config(), forecast_fn=None, include=("hpa", "reactive"))
    # Without the prescaler no forecast is needed, and no band or reasons come back.
    result = replay(trace, config=_config(), forecast_fn=None, include=("hpa", "oracle"))
    assert set(result.runs) == {"hpa", "oracle"}
    assert result.forecast is None and result.reasons == {}
    assert result.runs["hpa"].floor is None


def test_a_forecast_table_must_cover_the_replayed_range():
    trace = trace_of([100.0] * 20)
    late = precompute_forecasts(
        trace, forecast_fn=lambda h, now: None, replay_start=T0 + pd.Timedelta("5min")
    )
    with pytest.raises(
        ConfigError,
        match=exactly(
            "replay: the precomputed forecasts cover 2026-01-05 08:05:00 .. 2026-01-05 08:19:00, not the replayed "
            "2026-01-05 08:00:00 .. 2026-01-05 08:19:00 (precompute them from the replay start to the trace's end)"
        ),
    ):
        replay(trace, config=_config(), forecast_fn=None, forecasts=late)
    short = precompute_forecasts(trace.iloc[:15], forecast_fn=lambda h, now: None)
    with pytest.raises(ConfigError, match="precomputed forecasts cover"):
        replay(trace, config=_config(), forecast_fn=None, forecasts=short)
    # Exactly the replayed range is enough.
    ok = replay(
        trace, config=_config(), forecast_fn=None, forecasts=late, replay_start=T0 + pd.Timedelta("5min")
    )
    assert ok.reasons == {"no_forecast": 15}


# -- prepare_trace -------------------------------------------------------------------------------------------------


def test_prepare_trace_averages_sub_minute_samples_per_minute():
    s = pd.Series(
        [1, 3, 5, 7, 9, 11], index=pd.date_range(T0, periods=6, freq="30s"), name="rps"
    )  # integers on purpose
    out = prepare_trace(s)
    assert list(out) == [2.0, 6.0, 10.0]
    assert list(out.index) == list(pd.date_range(T0, periods=3, freq="1min"))
    assert out.dtype == np.float64


def test_prepare_trace_averages_from_the_first_sample_on():
    # Samples every 30 s from 08:00:30: each minute of the replay grid starts at the first sample.
    s = pd.Series([1, 3, 5, 7, 9, 11], index=pd.date_range(T0 + pd.Timedelta("30s"), periods=6, freq="30s"))
    out = prepare_trace(s)
    assert list(out) == [2.0, 6.0, 10.0]
    assert out.index[0] == T0 + pd.Timedelta("30s") and out.index[-1] == T0 + pd.Timedelta("150s")


def test_prepare_trace_keeps_a_minute_trace_and_its_name():
    s = pd.Series([4, 5, 6, 7], index=pd.date_range(T0, periods=4, freq="1min"), name="rps")
    out = prepare_trace(s)
    assert list(out) == [4.0, 5.0, 6.0, 7.0] and out.dtype == np.float64
    coarse = prepare_trace(
        pd.Series([0, 20, 40], index=pd.date_range(T0, periods=3, freq="2min"), name="rps")
    )
    assert coarse.name == "rps" and coarse.dtype == np.float64
    assert list(coarse) == [0.0, 10.0, 20.0, 30.0, 40.0]


@pytest.mark.parametrize(
    ("series", "match"),
    [
        (
            pd.Series([1.0, 2.0], index=pd.date_range(T0, periods=2, freq="1min")),
            "trace: 2 points is too short to replay (give hours of data)",
        ),
        (
            pd.Series([1.0] * 6, index=pd.date_range(T0, periods=6, freq="40s")),
            "trace: step 40s does not divide a minute",
        ),
        (
            pd.Series([1.0] * 6, index=pd.date_range(T0, periods=6, freq="90s")),
            "trace: step 1m30s is not whole minutes (resample it first)",
        ),
    ],
)
def test_prepare_trace_refuses_steps_it_cannot_put_on_the_minute_grid(series, match):
    with pytest.raises(DataError, match=exactly(match)):
        prepare_trace(series)


def test_prepare_trace_names_the_first_missing_point_and_honours_max_gap():
    index = pd.date_range(T0, periods=40, freq="1min").delete(range(10, 30))  # a 21-minute hole
    s = pd.Series(np.arange(20.0), index=index)
    with pytest.raises(
        DataError,
        match=exactly(
            "trace: 20 points missing in gaps longer than 15m (first at 2026-01-05 08:10:00) (replay a range "
            "without long gaps, or fill them deliberately before replaying)"
        ),
    ):
        prepare_trace(s)
    filled = prepare_trace(s, max_gap="30m")
    assert len(filled) == 40 and filled.iloc[20] == pytest.approx(9 + 11 * (10 - 9) / 21)
    with pytest.raises(DataError, match="^my-service: 20 points missing"):
        prepare_trace(s, name="my-service")
    # The series layer's own checks name the trace too.
    with pytest.raises(DataError, match="^my-service: the index is not made of timestamps"):
        prepare_trace(pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"]), name="my-service")
    negative = pd.Series([1.0, -1.0, 2.0], index=pd.date_range(T0, periods=3, freq="1min"))
    with pytest.raises(
        DataError, match=exactly("my-service: negative load at 2026-01-05 08:01:00 (a load must be >= 0)")
    ):
        prepare_trace(negative, name="my-service")


# -- run_metrics ---------------------------------------------------------------------------------------------------


def test_run_metrics_on_an_idle_trace_and_with_no_capacity():
    idle = run_metrics(
        load=np.zeros(3),
        capacity_per_replica=CAP,
        ready=np.ones(3),
        pods=np.ones(3),
        nodes=np.zeros(3),
        actions=0,
    )
    assert idle["unserved_fraction"] == 0.0 and idle["under_provisioned_minutes"] == 0
    assert idle["mean_utilisation"] == 0.0
    none = run_metrics(
        load=np.array([50.0, 50.0]),
        capacity_per_replica=CAP,
        ready=np.zeros(2),
        pods=np.array([0.0, 0.5]),
        nodes=np.array([1.0, 1.5]),
        actions=3,
    )
    assert none["mean_utilisation"] == 0.0
    assert none["unserved_fraction"] == 1.0 and none["under_provisioned_minutes"] == 2
    assert none["node_minutes"] == 2.5 and none["scaling_actions"] == 3
    assert none["peak_replicas"] == 1  # half a pod on average is a pod at its peak
    empty = run_metrics(
        load=np.zeros(0),
        capacity_per_replica=CAP,
        ready=np.zeros(0),
        pods=np.zeros(0),
        nodes=np.zeros(0),
        actions=0,
    )
    assert empty["peak_replicas"] == 0
    tiny = run_metrics(
        load=np.array([0.25, 0.25]),
        capacity_per_replica=CAP,
        ready=np.zeros(2),
        pods=np.zeros(2),
        nodes=np.zeros(2),
        actions=0,
    )
    assert tiny["unserved_fraction"] == 1.0  # half a request in all, none served


def test_run_metrics_counts_a_short_minute_only_beyond_rounding():
    m = run_metrics(
        load=np.array([200.0 + 1e-9, 200.5, 150.0]),
        capacity_per_replica=CAP,
        ready=np.array([2.0, 2.0, 2.0]),
        pods=np.array([2.0, 2.25, 3.0]),
        nodes=np.zeros(3),
        actions=0,
    )
    assert m["under_provisioned_minutes"] == 1  # 1e-9 over 200 is rounding; half a request is not
    assert m["peak_replicas"] == 3
    assert m["mean_utilisation"] == pytest.approx((200 + 200 + 150) / 600)


# -- the simulated HPA reads a lagged, windowed metric -----------------------------------------------------------


def test_the_hpa_reads_the_mean_over_its_metric_window():
    # 100/min for 10 minutes, then 1000. With a 3-minute window the HPA reads the mean of the last three complete
    # minutes: at minute 11 (100 + 100 + 1000) / 3 = 400 -> 4 pods, at minute 12 (100 + 1000 + 1000) / 3 = 700
    # -> 7, at minute 13 the full 1000 -> 10.
    run = hpa_run([100.0] * 10 + [1000.0] * 10, window_s=180)
    assert list(run.pods[9:14]) == [1, 1, 4, 7, 10]
    # With a 1-minute window the whole step is read at minute 11; from 1 pod the scale-up policy allows +4 at
    # the first sync and the rest at the second: (5 + 10 + 10 + 10) / 4 = 8.75.
    one = hpa_run([100.0] * 10 + [1000.0] * 10, window_s=60)
    assert list(one.pods[9:13]) == [1, 1, 8.75, 10]


def test_a_sub_minute_lag_moves_the_reaction_inside_the_minute():
    # Lag 30 s, syncs every 15 s: in minute 11 the syncs at 0 s and 15 s still read minute 9 (500), the ones at
    # 30 s and 45 s read minute 10 (1000). Pods averaged over minute 11: (5 + 5 + 10 + 10) / 4 = 7.5.
    run = hpa_run([500.0] * 10 + [1000.0] * 10, lag_s=30)
    assert list(run.pods[10:13]) == [5, 7.5, 10]
    assert run.actions == 1
    # With a 60 s sync the HPA looks once a minute, at its start: it sees minute 10 only at minute 12.
    slow = hpa_run([500.0] * 10 + [1000.0] * 10, lag_s=30, sync_s=60)
    assert list(slow.pods[10:14]) == [5, 5, 10, 10]


def test_the_hpa_reads_the_history_before_the_replay_start():
    # The replay starts at minute 10, right after ten minutes at 800: the first sync reads 800 and scales up
    # from the 1 pod the replayed load (100) needs: +4 pods at the first sync, to 8 at the second.
    slow_down = HPARules(300.0, (HPAPolicy("Percent", 100, 15),))
    trace = trace_of([800.0] * 10 + [100.0] * 10)
    run = replay(
        trace,
        config=cfg(scale_down=slow_down),
        forecast_fn=None,
        include=("hpa",),
        replay_start=T0 + pd.Timedelta("10min"),
    ).runs["hpa"]
    assert run.ready[0] == 1 and run.pods[0] == (5 + 8 + 8 + 8) / 4
    assert run.ready[1] == 5 and run.ready[2] == 8
    # Before the trace the metric repeats its first minute: a 10-minute lag two minutes in reads minute 0 (300).
    early = replay(
        trace_of([300.0] + [100.0] * 11),
        config=cfg(lag_s=600, scale_down=slow_down),
        forecast_fn=None,
        include=("hpa",),
        replay_start=T0 + pd.Timedelta("2min"),
    ).runs["hpa"]
    assert early.ready[0] == 1 and early.pods[0] == 3


def test_everyone_starts_ready_with_what_the_first_startup_needs():
    # Pod start-up 3 min: the starting pods are sized for minutes 0..3 of the replay, clipped to the HPA's bounds.
    at_edge = replay(
        trace_of([200.0] * 3 + [900.0] + [200.0] * 16),
        config=cfg(startup_s=180),
        forecast_fn=None,
        include=("hpa", "oracle"),
    )
    assert at_edge.runs["hpa"].ready[0] == 9 and at_edge.runs["oracle"].ready[0] == 9
    beyond = replay(
        trace_of([200.0] * 4 + [900.0] + [200.0] * 15),
        config=cfg(startup_s=180),
        forecast_fn=None,
        include=("hpa", "oracle"),
    )
    assert beyond.runs["hpa"].ready[0] == 2 and beyond.runs["oracle"].ready[0] == 2
    # A start-up of 150 s rounds up to 3 minutes as well.
    rounded = hpa_run([200.0] * 3 + [900.0] + [200.0] * 16, startup_s=150)
    assert rounded.ready[0] == 9
    # With nodes the warm-up is node + pod start-up: 1 + 2 minutes.
    nodes = hpa_run([200.0] * 3 + [900.0] + [200.0] * 16, startup_s=60, pods_per_node=2, node_startup_s=120)
    assert nodes.ready[0] == 9 and nodes.nodes[0] == 5
    assert hpa_run([0.0] * 10).ready[0] == 1  # the HPA's minimum
    assert hpa_run([1e6] * 10).ready[0] == 50  # the HPA's maximum


def test_pods_become_ready_after_their_startup_and_scale_actions_are_counted():
    # A step read at minute 11 (lag 0): 5 new pods, ready 3 minutes later; the load falls at minute 20 and the
    # HPA (no stabilisation) removes them at minute 21: two actions.
    run = hpa_run([500.0] * 10 + [1000.0] * 10 + [500.0] * 10, startup_s=180)
    assert list(run.pods[10:13]) == [5, 10, 10]
    assert list(run.ready[10:16]) == [5, 5, 5, 5, 10, 10]
    assert list(run.pods[20:23]) == [10, 5, 5] and run.ready[22] == 5
    assert run.actions == 2 and run.metrics["scaling_actions"] == 2
    assert run.metrics["under_provisioned_minutes"] == 4  # minutes 10..13: read late, then starting


def test_startup_jitter_delays_pods_by_up_to_the_jitter():
    plain = hpa_run([500.0] * 10 + [1000.0] * 20, startup_s=60)
    jitter = replay(
        trace_of([500.0] * 10 + [1000.0] * 20),
        config=cfg(startup_s=60, pod_startup_jitter_s=240),
        forecast_fn=None,
        include=("hpa",),
    ).runs["hpa"]
    # New pods are scheduled at minute 11: ready from minute 12 without jitter, by minute 16 at most with it.
    assert plain.ready[12] == 10
    assert jitter.ready[12] < 10 and jitter.ready[16] == 10
    assert (jitter.ready <= plain.ready).all()
    other_seed = replay(
        trace_of([500.0] * 10 + [1000.0] * 20),
        config=ReplayConfig(
            hpa=jitter_cfg().hpa, policy=jitter_cfg().policy, cluster=jitter_cfg().cluster, seed=1
        ),
        forecast_fn=None,
        include=("hpa",),
    ).runs["hpa"]
    assert not np.array_equal(other_seed.ready, jitter.ready)  # the seed draws the start-ups


def jitter_cfg() -> ReplayConfig:
    return cfg(startup_s=60, pod_startup_jitter_s=240)


# -- the node group ------------------------------------------------------------------------------------------------


def test_pending_pods_wait_for_a_node_then_for_their_own_startup():
    # 2 pods per node; 200/min needs 2 pods on 1 node. The step to 600 is read at minute 11: 4 more pods, pending
    # until 2 new nodes are ready (5 min: minute 16), then ready 1 min later (minute 17).
    run = hpa_run([200.0] * 10 + [600.0] * 15, startup_s=60, pods_per_node=2, node_startup_s=300)
    assert list(run.nodes[9:13]) == [1, 1, 3, 3]
    assert list(run.ready[11:19]) == [2, 2, 2, 2, 2, 2, 6, 6]
    assert list(run.pods[10:12]) == [2, 6]


def test_unneeded_nodes_go_after_the_scale_down_delay():
    # 6 pods on 3 nodes until minute 20; the load falls and the HPA keeps 2 pods (1 node) from minute 21. The
    # two spare nodes stay 10 minutes (the delay) and go at minute 31.
    load = [600.0] * 20 + [200.0] * 20
    run = hpa_run(load, startup_s=60, pods_per_node=2, node_startup_s=300, node_scale_down_delay_s=600)
    assert run.pods[21] == 2
    assert list(run.nodes[20:22]) == [3, 3]
    assert (run.nodes[21:31] == 3).all()
    assert list(run.nodes[31:33]) == [1, 1]
    assert run.metrics["node_minutes"] == pytest.approx(31 * 3 + 9 * 1)


def test_the_scale_down_delay_counts_from_the_last_time_the_nodes_were_needed():
    # Spare nodes from minute 21, needed again at minutes 26-28 (6 pods), spare again from minute 29: the
    # delay starts over at minute 29, so the two spare nodes go at minute 39, not 10 minutes after minute 21.
    load = [600.0] * 20 + [200.0] * 5 + [600.0] * 3 + [200.0] * 20
    run = hpa_run(load, startup_s=60, pods_per_node=2, node_startup_s=300, node_scale_down_delay_s=600)
    assert list(run.pods[20:30]) == [6, 2, 2, 2, 2, 2, 6, 6, 6, 2]
    assert (run.nodes[:39] == 3).all()
    assert (run.nodes[39:] == 1).all()


def test_a_node_scale_down_keeps_ready_nodes_and_drops_starting_ones():
    # 1 pod on 1 node; a one-minute burst (500) makes the HPA start 4 pods and 2 nodes at minute 11; the load is
    # back at 100 from minute 11, so at minute 12 the HPA goes back to 1 pod and, with no delay, the node group
    # drops the two nodes still starting. When 2 pods are wanted at minute 13 the second one fits on the ready
    # node at once (ready at minute 14) instead of waiting for a node.
    load = [100.0] * 10 + [500.0] + [100.0] + [200.0] * 10
    run = hpa_run(load, startup_s=60, pods_per_node=2, node_startup_s=300, node_scale_down_delay_s=0)
    assert run.pods[11] == 5 and run.pods[12] == 1
    assert run.nodes[11] == 3 and run.nodes[13] == 1
    assert run.pods[13] == 2
    assert list(run.ready[13:16]) == [1, 2, 2]


def test_the_prescaler_node_floor_starts_nodes_ahead_of_the_pods():
    # A perfect forecast of a step at minute 30 (200 -> 600): the node group plans node + pod start-up ahead
    # (5 + 1 minutes) and the prescaler's pods 1 minute ahead, so all 6 pods are ready when the step lands; the
    # HPA alone waits 5 minutes for nodes and 1 more for the pods.
    values = [200.0] * 30 + [600.0] * 20
    trace = trace_of(values)
    config = ReplayConfig(
        hpa=cfg().hpa,
        policy=ScalingPolicy(capacity_per_replica=CAP, max_replicas=50, lead_time_s=60, plan="peak"),
        cluster=ClusterConfig(pod_startup_s=60, pods_per_node=2, node_startup_s=300),
    )
    result = replay(trace, config=config, forecast_fn=perfect(trace))
    pre, hpa = result.runs["prescaler"], result.runs["hpa"]
    assert pre.ready[30] == 6 and pre.metrics["under_provisioned_minutes"] == 0
    assert pre.nodes[24] == 3  # the node floor was raised by minute 24, 6 minutes ahead
    assert hpa.ready[36] < 6 and hpa.ready[37] == 6
    assert pre.floor is not None and pre.floor[30] == 6 and pre.floor[0] == 2
    # The oracle starts the 4 pods 1 minute ahead (minute 29) and their 2 nodes 5 minutes before that.
    oracle = result.runs["oracle"]
    assert list(oracle.pods[27:31]) == [2, 2, 6, 6] and oracle.ready[29] == 2 and oracle.ready[30] == 6
    assert list(oracle.nodes[22:26]) == [1, 1, 3, 3]


def perfect(trace: pd.Series, *, horizon: int = 30):
    """The truth from ``now`` on, checking that nothing at or after the tick is in the history."""

    def fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame:
        assert len(history) == 0 or history.index[-1] == now - pd.Timedelta("1min")
        future = trace.loc[now : now + pd.Timedelta(minutes=horizon - 1)]
        return pd.DataFrame({"p50": future.to_numpy(), "p90": future.to_numpy()}, index=future.index)

    return fn


# -- the prescaler run ------------------------------------------------------------------------------------------


def test_the_prescaler_decides_every_interval_and_holds_its_floor_between():
    values = [200.0] * 30 + [800.0] * 20
    trace = trace_of(values)
    config = cfg(interval_s=180)
    result = replay(trace, config=config, forecast_fn=perfect(trace))
    assert sum(result.reasons.values()) == 17  # minutes 0, 3, ..., 48
    floor = result.runs["prescaler"].floor
    assert floor is not None
    assert (floor[0:3] == floor[0]).all() and (floor[24:27] == floor[24]).all()
    # A decision plans for its lead (3 minutes) and until the next decision (3 more): the one at minute 21
    # covers minutes 24..27 (2 pods), the one at minute 24 reaches the step at minute 30 (8 pods).
    assert floor[23] == 2 and floor[24] == 8


def test_the_forecast_band_is_the_forecast_for_now_plus_lead():
    values = list(np.linspace(100, 1000, 40))
    trace = trace_of(values)

    def band(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame | None:
        if now < T0 + pd.Timedelta("5min"):
            return None  # no forecast yet
        index = pd.date_range(now, periods=10, freq="1min")
        return pd.DataFrame(
            {"p50": np.arange(10.0) + 1000 * (now - T0).total_seconds() / 60, "p90": np.arange(10.0) + 5000},
            index=index,
        )

    config = ReplayConfig(
        hpa=cfg().hpa,
        policy=ScalingPolicy(capacity_per_replica=CAP, max_replicas=50, lead_time_s=240),
        cluster=ClusterConfig(pod_startup_s=60),
    )
    result = replay(trace, config=config, forecast_fn=band)
    fc = result.forecast
    assert fc is not None and list(fc.columns) == ["p50", "p90"]
    assert fc.index[0] == T0 + pd.Timedelta("4min") and len(fc) == 40
    assert fc["p50"].iloc[:5].isna().all()  # no forecast before minute 5: NaN in a numeric band
    assert list(fc.dtypes) == [np.float64, np.float64]
    # At minute 7 the forecast made then, 4 minutes ahead: 4 + 7000.
    assert fc.loc[T0 + pd.Timedelta("11min"), "p50"] == 7004.0
    assert fc.loc[T0 + pd.Timedelta("11min"), "p90"] == 5004.0
    assert result.reasons["no_forecast"] == 5
    # A forecast too short to reach now + lead leaves a gap, and a missing column is NaN.
    # A forecast too short to reach now + lead leaves a gap in the band.
    short = replay(
        trace,
        config=config,
        forecast_fn=lambda h, now: pd.DataFrame(
            {"p50": [500.0, 500.0], "p90": [550.0, 550.0]}, index=pd.date_range(now, periods=2, freq="1min")
        ),
    )
    assert short.forecast is not None and short.forecast.isna().all().all()
    assert short.reasons == {"forecast": 40}
    # Planning on p90 needs no p50: the band's p50 is then empty.
    only_p90 = replay(
        trace,
        config=config,
        forecast_fn=lambda h, now: pd.DataFrame(
            {"p90": [300.0] * 10}, index=pd.date_range(now, periods=10, freq="1min")
        ),
    )
    assert only_p90.forecast is not None
    assert only_p90.forecast["p50"].isna().all() and (only_p90.forecast["p90"] == 300.0).all()


# -- the result's views --------------------------------------------------------------------------------------------


def test_to_dict_is_json_with_the_replayed_range_and_the_whole_config():
    config = ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=CAP, max_replicas=np.int64(40)),
        policy=ScalingPolicy(capacity_per_replica=CAP, max_replicas=40),
        cluster=ClusterConfig(pod_startup_s=60),
        seed=7,
    )
    trace = trace_of([300.0] * 12)
    result = replay(
        trace, config=config, forecast_fn=lambda h, now: None, replay_start=T0 + pd.Timedelta("2min")
    )
    out = json.loads(json.dumps(result.to_dict()))
    assert out["start"] == "2026-01-05 08:02:00" and out["end"] == "2026-01-05 08:11:00"
    assert out["minutes"] == 10
    assert out["config"]["seed"] == 7
    assert out["config"]["hpa"]["max_replicas"] == 40
    assert out["config"]["hpa"]["scale_up"]["policies"] == [
        {"type": "Percent", "value": 100, "period_s": 15},
        {"type": "Pods", "value": 4, "period_s": 15},
    ]
    assert out["config"]["cluster"]["pod_startup_s"] == 60
    assert out["config"]["policy"]["capacity_per_replica"] == CAP
    assert out["prescaler_reasons"] == {"no_forecast": 10}
    assert set(out["runs"]) == {"hpa", "prescaler", "oracle"}
    assert [run.name for run in result.runs.values()] == list(result.runs)  # each run knows its name
    assert out["runs"]["hpa"] == result.runs["hpa"].metrics


def test_timeline_has_one_row_per_minute_with_each_runs_capacity():
    trace = trace_of([250.0] * 6, name="svc")
    result = replay(trace, config=cfg(), forecast_fn=None, include=("hpa", "oracle"))
    tl = result.timeline()
    assert list(tl.columns) == [
        "timestamp",
        "load",
        "hpa_ready_capacity",
        "oracle_ready_capacity",
        "hpa_ready_replicas",
        "oracle_ready_replicas",
    ]
    assert tl["timestamp"].iloc[1] == "2026-01-05T08:01:00"
    assert list(tl["load"]) == [250.0] * 6
    assert list(tl["hpa_ready_capacity"]) == [300.0] * 6 and list(tl["hpa_ready_replicas"]) == [3] * 6
    assert tl["hpa_ready_replicas"].dtype == np.int64
    assert result.load.name == "svc"


# -- precomputed forecasts ---------------------------------------------------------------------------------------


def test_precomputed_forecasts_are_asked_once_per_minute_without_the_tick():
    trace = trace_of(np.arange(10.0))
    seen: list[tuple[int, pd.Timestamp]] = []
    shared = pd.DataFrame({"p50": [1.0]}, index=[T0])

    def fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame | None:
        seen.append((len(history), now))
        if now == T0 + pd.Timedelta("6min"):
            return None
        if now >= T0 + pd.Timedelta("7min"):
            return shared  # the same frame for several ticks
        return pd.DataFrame({"p50": [float(len(history))]}, index=[now])

    table = precompute_forecasts(trace, forecast_fn=fn, replay_start=T0 + pd.Timedelta("4min"))
    assert seen == [(m, T0 + pd.Timedelta(minutes=m)) for m in range(4, 10)]
    assert table.start == T0 + pd.Timedelta("4min") and table.end == T0 + pd.Timedelta("9min")
    assert len(table.frames) == 6
    assert table.at(T0 + pd.Timedelta("5min"))["p50"].iloc[0] == 5.0
    assert table.at(T0 + pd.Timedelta("6min")) is None
    for minute in (7, 8, 9):
        kept = table.at(T0 + pd.Timedelta(minutes=minute))
        assert kept is not None and kept["p50"].iloc[0] == 1.0 and list(kept.columns) == ["p50"]
    for outside in (T0 + pd.Timedelta("3min"), T0 + pd.Timedelta("10min")):
        with pytest.raises(
            ConfigError,
            match=exactly(
                f"replay: no precomputed forecast for {outside} (the table covers 2026-01-05 08:04:00 .. "
                "2026-01-05 08:09:00) (precompute the forecasts over the whole replayed range)"
            ),
        ):
            table.at(outside)
    with pytest.raises(
        DataError,
        match=exactly(
            "replay: replay start 2026-01-05 08:10:00 is after the trace's end 2026-01-05 08:09:00"
        ),
    ):
        precompute_forecasts(trace, forecast_fn=fn, replay_start=T0 + pd.Timedelta("10min"))
    whole = precompute_forecasts(trace, forecast_fn=lambda h, now: None)
    assert whole.start == T0 and len(whole.frames) == 10


def test_a_replay_from_a_table_is_the_replay_from_the_function():
    values = [200.0] * 30 + [800.0] * 20
    trace = trace_of(values)
    start = T0 + pd.Timedelta("10min")
    direct = replay(trace, config=cfg(), forecast_fn=perfect(trace), replay_start=start)
    table = precompute_forecasts(trace, forecast_fn=perfect(trace), replay_start=start)
    cached = replay(trace, config=cfg(), forecast_fn=None, forecasts=table, replay_start=start)
    assert cached.to_dict() == direct.to_dict()
    assert np.array_equal(cached.runs["prescaler"].ready, direct.runs["prescaler"].ready)
    pd.testing.assert_frame_equal(cached.forecast, direct.forecast)


def test_forecast_table_lookup_by_minute():
    frames = (None, pd.DataFrame({"p50": [1.0]}), pd.DataFrame({"p50": [2.0]}))
    table = ForecastTable(start=T0, frames=frames)
    assert table.end == T0 + pd.Timedelta("2min")
    assert table.at(T0 + pd.Timedelta("2min"))["p50"].iloc[0] == 2.0
    assert table.at(pd.Timestamp("2026-01-05 08:01:00").as_unit("s")) is frames[1]  # any time unit


# -- forecasts from a predictor on its own grid -----------------------------------------------------------------


class StepPredictor:
    """A fake Predictor on a 5-minute grid: from an origin with ``n`` points, it forecasts ``10 n, 10 n + 1,
    10 n + 2`` for the next three steps. It records each origin it was asked for."""

    def __init__(
        self,
        *,
        lookback_steps: int | None = 2,
        min_history: int | None = None,
        batch: bool = False,
        offset: float = 0.0,
        step: str = "5min",
    ) -> None:
        self.step = pd.Timedelta(step)
        if lookback_steps is not None:
            self.lookback_steps = lookback_steps
        if min_history is not None:
            self.min_history = min_history  # a baseline's name for it
        self.offset = offset
        self.origins: list[int] = []
        if batch:
            self.predict_many = self._predict_many

    def predict(self, history: pd.Series) -> pd.DataFrame:
        n = len(history)
        self.origins.append(n)
        index = pd.date_range(history.index[-1] + self.step, periods=3, freq=self.step)
        return pd.DataFrame(
            {"p50": 10.0 * n + np.arange(3) + self.offset, "p90": 10.0 * n + 5 + self.offset}, index=index
        )

    def _predict_many(self, series: pd.Series, *, origins) -> list[pd.DataFrame]:
        return [self.predict(series.iloc[: int(t)]) for t in origins]


def native(n: int = 12) -> pd.Series:
    return pd.Series(np.arange(n, dtype=float) * 3, index=pd.date_range(T0, periods=n, freq="5min"))


@pytest.mark.parametrize("batch", [False, True], ids=["predict", "predict_many"])
def test_predictor_forecasts_use_only_points_before_the_tick_interpolated_per_minute(batch):
    series = native()
    predictor = StepPredictor(batch=batch)
    fn = predictor_forecasts(predictor, series, start=T0 + pd.Timedelta("20min"))
    # At 08:20 (a native point) the forecast is made from the 4 points before it (08:00..08:15, last value 9):
    # 40, 41, 42 at 08:20, 08:25, 08:30, joined to the last point by a line on the minute grid.
    at = fn(series.iloc[:0], T0 + pd.Timedelta("20min"))
    assert at is not None
    assert at.index[0] == T0 + pd.Timedelta("16min") and at.index[-1] == T0 + pd.Timedelta("30min")
    assert at.loc[T0 + pd.Timedelta("20min"), "p50"] == 40.0
    assert at.loc[T0 + pd.Timedelta("16min"), "p50"] == pytest.approx(9 + (40 - 9) / 5)
    assert at.loc[T0 + pd.Timedelta("27min"), "p50"] == pytest.approx(41.4)
    assert at.loc[T0 + pd.Timedelta("18min"), "p90"] == pytest.approx(9 + 3 * (45 - 9) / 5)
    # One minute later the point at 08:20 is observed: 5 points, the next origin.
    later = fn(series.iloc[:0], T0 + pd.Timedelta("21min"))
    assert later is not None and later.loc[T0 + pd.Timedelta("25min"), "p50"] == 50.0
    again = fn(series.iloc[:0], T0 + pd.Timedelta("24min"))  # same origin: the same answer
    assert again is not None and again.equals(later)
    # Origins from the one covering the start to the end, never one with less than the lookback.
    assert sorted(set(predictor.origins)) == list(range(3, 13))  # from the origin one step before the start


@pytest.mark.parametrize(
    "history",
    [{"lookback_steps": 6}, {"lookback_steps": None, "min_history": 6}],
    ids=["lookback", "min_history"],
)
def test_predictor_forecasts_return_nothing_without_enough_history(history):
    series = native()
    predictor = StepPredictor(**history)
    fn = predictor_forecasts(predictor, series, start=T0)
    assert fn(series.iloc[:0], T0 + pd.Timedelta("25min")) is None  # 5 points before it, 6 needed
    assert fn(series.iloc[:0], T0 + pd.Timedelta("26min")) is not None
    assert min(predictor.origins) == 6


def test_predictor_forecasts_from_the_first_point_on():
    # A model that needs one point forecasts from the first tick after it; before any point there is nothing.
    series = native()
    fn = predictor_forecasts(StepPredictor(lookback_steps=None), series, start=T0)
    assert fn(series.iloc[:0], T0) is None
    first = fn(series.iloc[:0], T0 + pd.Timedelta("1min"))
    assert first is not None and first.loc[T0 + pd.Timedelta("5min"), "p50"] == 10.0


def test_predictor_forecasts_refit_from_a_start_between_native_points():
    # The replay starts at 08:32, inside the native step 08:30..08:35: its first ticks read the origin made
    # at 08:30 (7 points), by the given model; the first refit is at 09:32.
    series = native(30)
    fitted: list[int] = []

    def refit(history: pd.Series) -> StepPredictor:
        fitted.append(len(history))
        return StepPredictor(offset=1000.0)

    start = T0 + pd.Timedelta("32min")
    fn = predictor_forecasts(
        StepPredictor(), series, start=start, refit=refit, refit_every=pd.Timedelta("1h")
    )
    assert fitted == [19]  # the points before 09:32: 08:00 .. 09:30
    first = fn(series.iloc[:0], start)
    assert first is not None and first.loc[T0 + pd.Timedelta("35min"), "p50"] == 70.0
    before = fn(series.iloc[:0], T0 + pd.Timedelta("95min"))  # 09:35: 19 points, served since 09:31
    assert before is not None and before.loc[T0 + pd.Timedelta("95min"), "p50"] == 190.0
    after = fn(series.iloc[:0], T0 + pd.Timedelta("96min"))  # 09:36: 20 points, first tick 09:36 >= 09:32
    assert after is not None and after.loc[T0 + pd.Timedelta("100min"), "p50"] == 1200.0


def test_predictor_forecasts_refit_before_each_block_and_never_use_a_model_before_it_exists():
    series = native(40)  # 08:00 .. 11:15
    models: list[StepPredictor] = []
    fitted: list[int] = []

    def refit(history: pd.Series) -> StepPredictor:
        fitted.append(len(history))
        models.append(StepPredictor(offset=1000.0 * len(fitted)))
        return models[-1]

    start = T0 + pd.Timedelta("30min")
    given = StepPredictor()
    fn = predictor_forecasts(given, series, start=start, refit=refit, refit_every=pd.Timedelta("1h"))
    # Blocks start at 08:30, 09:30, 10:30; the first uses the given predictor, each later one a model fitted on
    # the points before the block's start (18 points before 09:30, 30 before 10:30).
    assert fitted == [18, 30]

    def p50(tick: str, at: str) -> float:
        frame = fn(series.iloc[:0], pd.Timestamp(f"2026-01-05 {tick}"))
        assert frame is not None, tick
        return float(frame.loc[pd.Timestamp(f"2026-01-05 {at}"), "p50"])

    assert p50("08:30", "08:30") == 60.0  # 6 points before 08:30, the given model
    # A model fitted at 09:30 has seen the point at 09:25: it never forecasts a tick before 09:30. The tick at
    # 09:30 still reads the origin that also served 09:26..09:29, made by the model before it.
    assert p50("09:29", "09:30") == 180.0 and p50("09:30", "09:30") == 180.0
    assert p50("09:31", "09:35") == 1190.0  # 19 points, the model fitted at 09:30
    assert p50("10:30", "10:30") == 1300.0 and p50("10:31", "10:35") == 2310.0
    assert max(given.origins) == 18 and min(models[0].origins) == 19 and min(models[1].origins) == 31
    # The trace's last tick has its forecast too.
    assert p50("11:15", "11:15") == 2390.0


def test_predictor_forecasts_cover_the_last_step_before_a_block_boundary():
    series = native(30)  # ends at 10:25, one step before the block boundary at 10:30
    fn = predictor_forecasts(
        StepPredictor(),
        series,
        start=T0 + pd.Timedelta("30min"),
        refit=lambda h: StepPredictor(),
        refit_every=pd.Timedelta("1h"),
    )
    last = fn(series.iloc[:0], T0 + pd.Timedelta("145min"))  # 10:25: 29 points before it
    assert last is not None and last.loc[T0 + pd.Timedelta("145min"), "p50"] == 290.0
    with pytest.raises(ConfigError, match="refit_every must be a positive duration"):
        predictor_forecasts(
            StepPredictor(), series, start=T0, refit=lambda h: StepPredictor(), refit_every=pd.Timedelta(0)
        )


def test_predictor_forecasts_refit_every_step_gives_each_origin_its_own_model():
    # Blocks of one native step: each origin is forecast by a model fitted on every point before its block.
    series = native(12)
    fitted: list[int] = []

    def refit(history: pd.Series) -> StepPredictor:
        fitted.append(len(history))
        return StepPredictor(offset=1000.0 * len(history))

    start = T0 + pd.Timedelta("30min")
    fn = predictor_forecasts(
        StepPredictor(), series, start=start, refit=refit, refit_every=pd.Timedelta("5min")
    )
    assert fitted == [7, 8, 9, 10, 11]  # before 08:35, 08:40, ..., 08:55
    at = fn(series.iloc[:0], T0 + pd.Timedelta("36min"))  # 8 points; the model fitted on the 7 before 08:35
    assert at is not None and at.loc[T0 + pd.Timedelta("40min"), "p50"] == 7080.0
    last = fn(series.iloc[:0], T0 + pd.Timedelta("55min"))  # 11 points; the model fitted before 08:50
    assert last is not None and last.loc[T0 + pd.Timedelta("55min"), "p50"] == 10110.0


def test_predictor_forecasts_without_a_refit_period_never_refit():
    series = native(12)
    fn = predictor_forecasts(
        StepPredictor(), series, start=T0 + pd.Timedelta("30min"), refit=lambda h: pytest.fail("refitted")
    )
    at = fn(series.iloc[:0], T0 + pd.Timedelta("50min"))
    assert at is not None and at.loc[T0 + pd.Timedelta("50min"), "p50"] == 100.0


def test_predictor_forecasts_refit_for_the_last_native_step():
    # Blocks start at 08:31 and 08:51: the last native step (08:50 .. 08:55) is forecast from the origin with
    # 11 points, which belongs to the second block: its model is fitted on the points before 08:51.
    series = native(12)  # ends at 08:55
    fitted: list[int] = []

    def refit(history: pd.Series) -> StepPredictor:
        fitted.append(len(history))
        return StepPredictor(offset=1000.0)

    fn = predictor_forecasts(
        StepPredictor(),
        series,
        start=T0 + pd.Timedelta("31min"),
        refit=refit,
        refit_every=pd.Timedelta("20min"),
    )
    assert fitted == [11]
    last = fn(series.iloc[:0], T0 + pd.Timedelta("55min"))
    assert last is not None and last.loc[T0 + pd.Timedelta("55min"), "p50"] == 1110.0
    before = fn(series.iloc[:0], T0 + pd.Timedelta("50min"))  # 10 points: still the given model
    assert before is not None and before.loc[T0 + pd.Timedelta("50min"), "p50"] == 100.0


def test_predictor_forecasts_refit_on_a_minute_grid_up_to_the_last_tick():
    # A 1-minute native series 08:00 .. 08:19 and blocks from 08:04 every 15 minutes: the second block starts
    # at the last point, whose tick is forecast by the model fitted on the 19 points before it.
    series = pd.Series(np.arange(20.0), index=pd.date_range(T0, periods=20, freq="1min"))
    fitted: list[int] = []

    def refit(history: pd.Series) -> StepPredictor:
        fitted.append(len(history))
        return StepPredictor(offset=1000.0, step="1min")

    fn = predictor_forecasts(
        StepPredictor(step="1min"),
        series,
        start=T0 + pd.Timedelta("4min"),
        refit=refit,
        refit_every=pd.Timedelta("15min"),
    )
    assert fitted == [19]
    last = fn(series.iloc[:0], T0 + pd.Timedelta("19min"))
    assert last is not None and last.loc[T0 + pd.Timedelta("19min"), "p50"] == 1190.0
    before = fn(series.iloc[:0], T0 + pd.Timedelta("18min"))
    assert before is not None and before.loc[T0 + pd.Timedelta("18min"), "p50"] == 180.0


# -- exact readings and timings ---------------------------------------------------------------------------------


def test_the_metric_is_the_exact_load_at_the_tolerance_edge():
    # 10 ready pods (minute 1 needs them). Minute 0 reads 900.5: a ratio of 0.9005, just inside the 10% band,
    # so the HPA keeps 10 pods; one request less would be outside it.
    run = hpa_run([900.5, 1000.0] + [1000.0] * 8, startup_s=60)
    assert run.pods[0] == 10 and run.actions == 0
    below = hpa_run([899.5, 1000.0] + [1000.0] * 8, startup_s=60)
    assert below.pods[0] < 10  # 0.8995 is outside the band: the HPA scales down at once


def test_a_window_reaching_before_the_trace_reads_its_first_minutes_only():
    run = hpa_run([300.0] * 20, window_s=180)
    assert (run.pods == 3).all() and run.actions == 0


@pytest.mark.parametrize("sync_s", [1, 5, 15])
def test_the_sync_period_only_changes_when_inside_the_minute_the_hpa_acts(sync_s):
    # Lag 30 s: whatever the sync period, the step of minute 10 is read from 30 s into minute 11.
    run = hpa_run([500.0] * 10 + [1000.0] * 10, lag_s=30, sync_s=sync_s)
    assert list(run.pods[10:13]) == [5, 7.5, 10]
    assert run.actions == 1 and run.ready[12] == 5 and run.ready[13] == 10  # started at 11:30, ready 12:30


def test_a_pod_ready_exactly_at_a_sync_counts_from_that_sync():
    # Start-up 59.5 s plus up to 0.5 s of jitter: pods started at minute 11 are ready by minute 12 exactly.
    run = hpa_run([500.0] * 10 + [1000.0] * 10, startup_s=59.5, pod_startup_jitter_s=0.5)
    assert run.ready[11] == 5 and run.ready[12] == 10


def test_nodes_present_at_the_start_are_ready_at_once():
    # The replay starts after ten minutes at 800, with 1 pod on a node of 10 slots: the HPA's new pods are
    # scheduled on that node at once (ready 1 minute later), with no node to wait for.
    trace = trace_of([800.0] * 10 + [100.0] * 10)
    run = replay(
        trace,
        config=cfg(
            scale_down=HPARules(300.0, (HPAPolicy("Percent", 100, 15),)),
            pods_per_node=10,
            node_startup_s=300,
        ),
        forecast_fn=None,
        include=("hpa",),
        replay_start=T0 + pd.Timedelta("10min"),
    ).runs["hpa"]
    assert run.ready[0] == 1 and run.ready[1] == 5 and run.ready[2] == 8
    assert (run.nodes == 1).all()


def test_without_a_node_model_no_node_is_counted():
    run = hpa_run([500.0] * 10 + [1000.0] * 10)
    assert (run.nodes == 0).all() and run.metrics["node_minutes"] == 0.0


def test_without_forecasts_the_node_group_keeps_the_nodes_of_the_pods():
    # No forecast at all: the prescaler's pod and node floors keep what exists (never scaling down without
    # data), so with a node group the prescaler run is the HPA run.
    trace = trace_of([200.0] * 10 + [600.0] * 15)
    config = cfg(startup_s=60, pods_per_node=2, node_startup_s=300)
    result = replay(trace, config=config, forecast_fn=lambda h, now: None)
    assert result.reasons == {"no_forecast": 25}
    pre, hpa = result.runs["prescaler"], result.runs["hpa"]
    assert np.array_equal(pre.nodes, hpa.nodes) and np.array_equal(pre.ready, hpa.ready)
    assert pre.nodes[0] == 1 and pre.nodes[-1] == 3


def test_a_pod_started_mid_minute_is_ready_its_startup_later():
    # Lag 30 s: the step is acted on 30 s into minute 11; with a 50 s start-up the new pods are ready at
    # 11:20 into minute 12, so the sample at the start of minute 12 still has 5 and minute 13 has 10.
    run = hpa_run([500.0] * 10 + [1000.0] * 10, lag_s=30, startup_s=50)
    assert list(run.ready[11:14]) == [5, 5, 10]


def test_a_startup_of_a_minute_and_a_second_counts_as_two_minutes():
    # Pod start-up 61 s, node start-up 121 s, 2 pods a node: the oracle starts the 4 new pods of minute 30 two
    # minutes ahead and their 2 nodes three minutes before that; everyone starts sized for the 182 s (4 minutes)
    # of warm-up and the minute after, which include the 500 at minute 4.
    trace = trace_of([200.0] * 4 + [500.0] + [200.0] * 25 + [600.0] * 10)
    config = cfg(startup_s=61, pods_per_node=2, node_startup_s=121)
    result = replay(trace, config=config, forecast_fn=None, include=("hpa", "oracle"))
    assert result.runs["hpa"].ready[0] == 5
    oracle = result.runs["oracle"]
    assert list(oracle.pods[26:31]) == [2, 2, 6, 6, 6]
    assert list(oracle.nodes[23:27]) == [1, 1, 3, 3]
    # Without nodes, 61 s of pod start-up: sized for minutes 0..2, which include a 500 at minute 2.
    hpa = replay(
        trace_of([200.0] * 2 + [500.0] + [200.0] * 7),
        config=cfg(startup_s=61),
        forecast_fn=None,
        include=("hpa",),
    ).runs["hpa"]
    assert hpa.ready[0] == 5


def test_a_forecast_table_one_minute_short_at_either_end_is_refused():
    trace = trace_of([100.0] * 20)
    late = precompute_forecasts(
        trace, forecast_fn=lambda h, now: None, replay_start=T0 + pd.Timedelta("1min")
    )
    early = precompute_forecasts(trace.iloc[:19], forecast_fn=lambda h, now: None)
    for table in (late, early):
        with pytest.raises(ConfigError, match="^replay: the precomputed forecasts cover "):
            replay(trace, config=_config(), forecast_fn=None, forecasts=table)
