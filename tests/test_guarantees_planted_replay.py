"""Replay fidelity the planted-bug campaign found unheld (bench/planted_bugs.py, bench/results/planted.md).

The replay compares the prescaler with the reactive HPA; the comparison is only honest when the simulated HPA
reads the metric Kubernetes gives it: the load averaged over ``metric_window_s`` (metrics-server's window), not
the last minute's. Everything goes through :func:`forecaster.simulate.replay` with a fixed trace.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.hpa import HPAConfig
from forecaster.predictors import LastValue
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ReplayConfig, predictor_forecasts, prepare_trace, replay

T0 = pd.Timestamp("2026-01-05 20:00")
CAP = 100.0


def _spike_trace() -> pd.Series:
    """An hour at 5 pods' worth of load with one minute at 20 pods' worth in the middle."""
    values = np.full(60, 500.0)
    values[30] = 2000.0
    return pd.Series(values, index=pd.date_range(T0, periods=60, freq="1min"))


@pytest.mark.parametrize(
    ("description", "window_s", "peak"),
    [
        ("a one-minute window sees the whole spike: 2000 / 100 = 20 pods", 60.0, 20),
        ("a five-minute window sees its average: (4 x 500 + 2000) / 5 = 800 -> 8 pods", 300.0, 8),
    ],
)
def test_the_replayed_hpa_reads_the_load_averaged_over_its_metric_window(description, window_s, peak):
    cfg = ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=CAP, metric_window_s=window_s, metric_lag_s=60),
        policy=ScalingPolicy(capacity_per_replica=CAP),
    )
    run = replay(_spike_trace(), config=cfg, forecast_fn=None, include=("hpa",)).runs["hpa"]
    assert run.metrics["peak_replicas"] == peak, description


def test_every_run_starts_warm_with_what_the_first_start_up_needs():
    """No run is blamed for a cold start: each begins with the pods the load needs until a pod started at minute 0
    could be ready (start-up 3 min: minutes 0-3), ready, so the oracle serves a rise at minute 2."""
    values = np.full(60, 200.0)
    values[2:6] = 800.0  # 8 pods' worth from minute 2: inside the first start-up
    trace = pd.Series(values, index=pd.date_range(T0, periods=60, freq="1min"))
    cfg = ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=CAP), policy=ScalingPolicy(capacity_per_replica=CAP)
    )

    result = replay(trace, config=cfg, forecast_fn=None, include=("hpa", "oracle"))

    assert {name: run.ready[0] for name, run in result.runs.items()} == {"hpa": 8, "oracle": 8}
    assert result.runs["oracle"].metrics["under_provisioned_minutes"] == 0


def test_the_prescaler_decides_once_per_interval_like_the_controller():
    """A 5-minute reconcile interval: 12 decisions in an hour, and the floor changes only at those ticks."""
    values = np.linspace(200.0, 2000.0, 60)
    trace = pd.Series(values, index=pd.date_range(T0, periods=60, freq="1min"))

    def rising_forecast(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame:
        index = pd.date_range(now + pd.Timedelta(minutes=1), periods=30, freq="1min")
        level = float(history.iloc[-1]) if len(history) else 200.0
        ramp = level + 30.0 * np.arange(1, 31)  # keeps rising: each minute's forecast asks for more
        return pd.DataFrame({"p50": ramp, "p90": ramp * 1.1}, index=index)

    cfg = ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=CAP),
        policy=ScalingPolicy(capacity_per_replica=CAP, interval_s=300, plan="peak"),
    )
    result = replay(trace, config=cfg, forecast_fn=rising_forecast, include=("prescaler",))

    assert sum(result.reasons.values()) == 12
    floor = result.runs["prescaler"].floor
    assert floor is not None
    for start in range(0, 60, 5):
        assert len(set(floor[start : start + 5])) == 1, start  # held between two decisions
    assert floor[-1] > floor[0]  # (and it did follow the rise)


@pytest.mark.parametrize(
    ("description", "values", "expected"),
    [
        ("a steady load stays the same load", [100.0] * 8, [100.0, 100.0]),
        ("four 15-second samples become their mean", [100.0, 200.0, 300.0, 400.0] * 2, [250.0, 250.0]),
    ],
)
def test_a_trace_finer_than_a_minute_is_averaged_not_summed(description, values, expected):
    trace = pd.Series(values, index=pd.date_range(T0, periods=len(values), freq="15s"))
    prepared = prepare_trace(trace)
    assert prepared.index.freq == pd.Timedelta(minutes=1)
    assert prepared.tolist() == expected, description


def test_a_replayed_forecast_never_reads_the_sample_at_its_own_tick():
    """At a tick that falls on a native 5-minute point, the forecast comes from the points strictly before it."""
    index = pd.date_range(T0, periods=48, freq="5min")
    series = pd.Series(np.arange(48, dtype=float) * 10.0 + 100.0, index=index)  # every point distinct
    predictor = LastValue(step=pd.Timedelta(minutes=5), horizon_steps=6, quantiles=(0.5, 0.9)).fit(series)
    forecast_fn = predictor_forecasts(predictor, series, start=index[12])

    for k in (12, 20, 30):
        now = index[k]
        frame = forecast_fn(series.iloc[:k], now)
        assert frame is not None
        # On the minute grid from the last native point before now (k - 1), through the forecast steps.
        assert frame.index[0] == index[k - 1] + pd.Timedelta(minutes=1)
        assert np.allclose(frame["p50"].to_numpy(), series.iloc[k - 1]), k  # not series.iloc[k]: the future
