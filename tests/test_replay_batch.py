"""replay_many (the tuning grid in lockstep) against forecaster.simulate.replay run once per setting: the same
ready pods, pods, floors, actions, metrics, decision reasons and forecast band, minute by minute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.hpa import HPAConfig, HPAPolicy, HPARules
from forecaster.replay_batch import floor_schedule, replay_many
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, precompute_forecasts, prepare_trace, replay
from forecaster.sources.synthetic import live_streaming

CAP = 40.0


@pytest.fixture(scope="module")
def trace() -> pd.Series:
    return prepare_trace(live_streaming(days=1, step="5m", seed=11), name="synthetic")


@pytest.fixture(scope="module")
def table(trace: pd.Series):
    """Forecasts that read the future with noise; none at some ticks, NaN in some, short ones in others."""
    values = trace.to_numpy()
    index = trace.index
    rng = np.random.default_rng(5)

    def fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame | None:
        t = int(index.searchsorted(now))
        u = rng.random()
        if u < 0.03:
            return None
        horizon = 3 if u < 0.06 else 30
        p50 = values[t : t + horizon] * rng.uniform(0.8, 1.2)
        p90 = p50 * rng.uniform(1.0, 1.6)
        if u > 0.97:
            p90 = p90.copy()
            p90[len(p90) // 2 :] = np.nan
        return pd.DataFrame({"p50": p50, "p90": p90}, index=index[t : t + horizon])

    return precompute_forecasts(trace, forecast_fn=fn, replay_start=trace.index[120])


def config(*, target: float = 1.0, cluster: ClusterConfig | None = None, hpa: dict | None = None, **policy):
    base = {"capacity_per_replica": CAP, "min_replicas": 1, "max_replicas": 60}
    return ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=CAP, target_utilisation=target, max_replicas=60, **(hpa or {})),
        policy=ScalingPolicy(**{**base, **policy}),
        cluster=cluster or ClusterConfig(pod_startup_s=180.0),
    )


CASES = [
    ("hpa", config()),
    ("hpa", config(target=0.7)),
    ("hpa", config(target=0.5, hpa={"min_replicas": 3})),
    ("prescaler", config(plan="shift", quantile=0.5, scale_down_stabilization_s=0.0)),
    ("prescaler", config(plan="shift", quantile=0.9, max_over_median=0.4, scale_down_stabilization_s=0.0)),
    (
        "prescaler",
        config(target=0.8, plan="shift", quantile=0.5, headroom=0.2, scale_down_stabilization_s=0.0),
    ),
    ("prescaler", config(plan="peak", quantile=0.9, scale_down_stabilization_s=300.0)),
    ("prescaler", config(plan="shift", quantile=0.9, lead_time_s=300.0, scale_down_stabilization_s=120.0)),
    ("prescaler", config(plan="rise", quantile=0.9, rise_threshold=0.05)),
    ("prescaler", config(plan="peak", quantile=0.5, interval_s=120.0, scale_down_max_step=2, min_replicas=2)),
    ("prescaler", config(plan="shift", quantile=0.9, cluster=ClusterConfig(pod_startup_s=120.0))),
    # Not batchable: replayed alone, in the same call.
    (
        "prescaler",
        config(plan="shift", quantile=0.9, cluster=ClusterConfig(pod_startup_s=120.0, pods_per_node=4)),
    ),
    ("hpa", config(cluster=ClusterConfig(pod_startup_s=180.0, pod_startup_jitter_s=60.0))),
    # Another sync period and other rules: a second batch.
    (
        "prescaler",
        config(
            plan="shift",
            quantile=0.5,
            hpa={
                "sync_period_s": 30.0,
                "scale_down": HPARules(60.0, (HPAPolicy("Pods", 2, 60),)),
            },
        ),
    ),
]


def test_replay_many_equals_replay_setting_by_setting(trace: pd.Series, table) -> None:
    start = trace.index[120]
    runs = [run for run, _ in CASES]
    configs = [c for _, c in CASES]
    many = replay_many(trace, configs=configs, runs=runs, forecasts=table, replay_start=start)
    moved = 0
    for (run, cfg), got in zip(CASES, many, strict=True):
        want = replay(
            trace,
            config=cfg,
            forecast_fn=None,
            forecasts=table if run == "prescaler" else None,
            replay_start=start,
            include=(run,),
        )
        assert list(got.runs) == [run]
        a, b = got.runs[run], want.runs[run]
        np.testing.assert_array_equal(a.ready, b.ready)
        np.testing.assert_array_equal(a.pods, b.pods)
        np.testing.assert_array_equal(a.nodes, b.nodes)
        assert a.actions == b.actions
        assert a.metrics == b.metrics
        if b.floor is None:
            assert a.floor is None
        else:
            np.testing.assert_array_equal(a.floor, b.floor)
        assert got.reasons == want.reasons
        if want.forecast is None:
            assert got.forecast is None
        else:
            pd.testing.assert_frame_equal(got.forecast, want.forecast)
        pd.testing.assert_series_equal(got.load, want.load)
        assert got.config == cfg
        moved += b.actions
    assert moved > 200  # the settings scaled, often: the equality is not between idle runs
    hpa_alone = {c.hpa.target_utilisation: r for (run, c), r in zip(CASES, many, strict=True) if run == "hpa"}
    assert (
        hpa_alone[0.7].runs["hpa"].metrics["replica_minutes"]
        > hpa_alone[1.0].runs["hpa"].metrics["replica_minutes"]
    )


def test_floors_fail_safe_without_forecasts(trace: pd.Series, table) -> None:
    """No forecast at the first tick keeps the starting replicas; none later keeps the last floor."""
    index = trace.index[120:]
    empty = type(table)(start=table.start, frames=(None,) * len(table.frames))
    policy = ScalingPolicy(capacity_per_replica=CAP, plan="shift", quantile=0.9, max_replicas=60)
    floor, band, reasons = floor_schedule(forecasts=empty, policy=policy, index=index, initial=7)
    assert (floor == 7).all()
    assert reasons == {"no_forecast": len(index)}
    assert np.isnan(band).all()


def test_replay_many_refuses_what_replay_refuses(trace: pd.Series, table) -> None:
    cfg = config(plan="shift", quantile=0.5)
    with pytest.raises(ConfigError, match="forecast"):
        replay_many(trace, configs=[cfg], runs=["prescaler"], forecasts=None, replay_start=trace.index[120])
    with pytest.raises(ConfigError, match="cover"):
        replay_many(trace, configs=[cfg], runs=["prescaler"], forecasts=table, replay_start=trace.index[60])
    with pytest.raises(ConfigError, match="unknown run"):
        replay_many(trace, configs=[cfg], runs=["oracle"], forecasts=table)
    with pytest.raises(ConfigError, match="p95"):  # p75 would be read between p50 and p90
        replay_many(
            trace,
            configs=[config(plan="shift", quantile=0.95)],
            runs=["prescaler"],
            forecasts=table,
            replay_start=trace.index[120],
        )
