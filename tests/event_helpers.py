"""Shared by the event-planning tests: a fixed clock, a shift policy, and the batched replay (``replay_many``,
the tuning grid's) checked against ``replay`` (``decide`` at each tick)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.hpa import HPAConfig
from forecaster.replay_batch import replay_many
from forecaster.scaling import EVENT_COLUMN, ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, precompute_forecasts, prepare_trace, replay
from forecaster.sources.synthetic import live_streaming

NOW = pd.Timestamp("2026-01-05 20:00:00")
SHIFT = ScalingPolicy(
    capacity_per_replica=10,
    max_replicas=100,
    lead_time_s=180,
    interval_s=60,
    plan="shift",
    scale_down_stabilization_s=0,
)


def batched_floors_as_decide(policy: ScalingPolicy, changes: list[dict]) -> list[np.ndarray]:
    """The prescaler's floor over a day of the synthetic scenario (5-minute steps) for ``policy`` with each
    of ``changes``, asserting that the batched replay gives the same floor and pods as ``replay`` does.

    Forecasts are the true load times seeded noise (a p90 5-60% above the p50), with scheduled-event
    steps in blocks (the ``event`` column), so that settings which act only at or outside events differ."""
    trace = prepare_trace(live_streaming(days=1, step="5m", seed=3), name="synthetic")
    values, index = trace.to_numpy(), trace.index
    rng = np.random.default_rng(7)

    def fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame:
        t = int(index.searchsorted(now))
        p50 = values[t : t + 30] * rng.uniform(0.85, 1.15)
        out = pd.DataFrame({"p50": p50, "p90": p50 * rng.uniform(1.05, 1.6)}, index=index[t : t + 30])
        out[EVENT_COLUMN] = ((np.arange(len(out)) + t) // 45 % 3 == 0).astype(float)  # blocks of events
        return out

    start = index[120]
    table = precompute_forecasts(trace, forecast_fn=fn, replay_start=start)
    cap = float(values.max()) / 30
    configs = [
        ReplayConfig(
            hpa=HPAConfig(capacity_per_replica=cap, max_replicas=100),
            policy=policy.replace(capacity_per_replica=cap, **change),
            cluster=ClusterConfig(pod_startup_s=180.0),
        )
        for change in changes
    ]
    runs = ["prescaler"] * len(configs)
    many = replay_many(trace, configs=configs, runs=runs, forecasts=table, replay_start=start)
    floors = []
    for cfg, got in zip(configs, many, strict=True):
        want = replay(
            trace, config=cfg, forecast_fn=None, forecasts=table, replay_start=start, include=("prescaler",)
        )
        np.testing.assert_array_equal(got.runs["prescaler"].floor, want.runs["prescaler"].floor)
        np.testing.assert_array_equal(got.runs["prescaler"].pods, want.runs["prescaler"].pods)
        floors.append(want.runs["prescaler"].floor)
    return floors
