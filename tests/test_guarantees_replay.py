"""Replay fidelity: the HPA model and the simulated Deployment behave like Kubernetes where it changes the verdict.

The replay's comparison "prescaler vs the reactive HPA" is only honest if the HPA is not made better than it is:
it must read its metric late (the metrics pipeline's lag), must not treat pods that are still starting as idle
when the load sits inside its tolerance band, and a scale-down must remove pods that are still starting before
ready ones (as a ReplicaSet does). The baselines' quantile bands must stay ordered on a trend. Everything goes
through public functions (``hpa_step``, ``replay``, the predictors) with a fixed clock.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.hpa import HPAConfig, HPAPolicy, HPARules, HPAState, hpa_step
from forecaster.predictors import HoltWinters, LastValue, SeasonalNaive
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, replay

T0 = pd.Timestamp("2026-01-05 20:00")
CAP = 100.0
FAST_DOWN = HPARules(0.0, (HPAPolicy("Percent", 100, 15),))
"""Scale-down without stabilisation, so each sync's proposal shows in the replicas at once."""


def _trace(values: list[float]) -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype=float), index=pd.date_range(T0, periods=len(values), freq="1min")
    )


def _hpa_run(load: list[float], *, lag_s: float, startup_s: float) -> object:
    hpa = HPAConfig(capacity_per_replica=CAP, metric_lag_s=lag_s, metric_window_s=60, scale_down=FAST_DOWN)
    cfg = ReplayConfig(
        hpa=hpa,
        policy=ScalingPolicy(capacity_per_replica=CAP),
        cluster=ClusterConfig(pod_startup_s=startup_s),
    )
    return replay(_trace(load), config=cfg, forecast_fn=None, include=("hpa",)).runs["hpa"]


def _first_rise(pods: np.ndarray) -> int:
    return int(np.flatnonzero(pods > pods[0])[0])


# -- the metric lag ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lag_min", [1, 3])
def test_the_hpa_reacts_later_by_exactly_the_metric_lag(lag_min):
    load = [100.0] * 10 + [1000.0] * 20  # a step at minute 10
    prompt = _hpa_run(load, lag_s=0, startup_s=60)
    late = _hpa_run(load, lag_s=60 * lag_min, startup_s=60)

    # Without lag the first complete minute of the new load is read at minute 11.
    assert _first_rise(prompt.pods) == 11
    assert _first_rise(late.pods) == 11 + lag_min
    # The lag costs the reactive baseline: more minutes short of capacity.
    assert late.metrics["under_provisioned_minutes"] == prompt.metrics["under_provisioned_minutes"] + lag_min


# -- starting pods and the tolerance band ---------------------------------------------------------------------

NOW = pd.Timestamp("2026-01-05 20:00")
NO_STABILISATION = HPAConfig(capacity_per_replica=CAP, max_replicas=50, scale_down=FAST_DOWN)


@pytest.mark.parametrize(
    ("description", "ratio"),
    [
        ("ready pods at 95% of target: inside the band, below it", 0.95),
        ("ready pods at 91% of target: the band's lower edge", 0.91),
        ("ready pods exactly at target", 1.0),
        ("ready pods at 105% of target: inside the band, above it", 1.05),
    ],
)
def test_starting_pods_are_not_counted_as_idle_inside_the_tolerance_band(description, ratio):
    # 15 pods, 10 ready and 5 still starting; the ready ones carry `ratio` of their target.
    result = hpa_step(
        config=NO_STABILISATION,
        state=HPAState(),
        now=NOW,
        load=ratio * 10 * CAP,
        current_replicas=15,
        ready_replicas=10,
    )
    assert result.proposal == 15, description
    assert result.desired_replicas == 15, description


def test_starting_pods_count_as_idle_only_when_scaling_up():
    # Above the band with pods starting: they count as idle, so they are not asked for twice.
    up = hpa_step(
        config=NO_STABILISATION, state=HPAState(), now=NOW, load=1500, current_replicas=15, ready_replicas=10
    )
    assert up.proposal == 15  # 1500 / (15 x 100) = 1.0: the starting pods already cover the rise
    more = hpa_step(
        config=NO_STABILISATION, state=HPAState(), now=NOW, load=2000, current_replicas=15, ready_replicas=10
    )
    assert more.proposal == 20  # 2000 / (15 x 100) = 1.33 over all 15 pods
    # Below the band: the proposal uses the ready pods only (the starting ones have no metric yet).
    down = hpa_step(
        config=NO_STABILISATION, state=HPAState(), now=NOW, load=500, current_replicas=15, ready_replicas=10
    )
    assert down.proposal == 5 and down.desired_replicas == 5


# -- scale-down order ----------------------------------------------------------------------------------------------


def test_scale_down_removes_starting_pods_before_ready_ones():
    # 5 pods serve 500/min; a short burst makes the HPA start 5 more (ready after 5 min); the load then falls
    # to 300 before they are ready and the HPA scales to 3 at once. The 3 kept must be ready ones.
    load = [500.0] * 8 + [1000.0] * 2 + [300.0] * 15
    run = _hpa_run(load, lag_s=0, startup_s=300)

    assert run.pods[8] == 5 and run.pods[9] == 10  # the burst is read at minute 9: 5 pods start
    assert run.ready[9] == 5 and run.ready[11] == 5  # they are not ready yet
    drop = int(np.flatnonzero(run.pods == 3)[0])
    assert drop == 11
    assert (run.ready[drop + 1 :] == 3).all()  # capacity never falls below what the 3 kept pods serve
    assert run.metrics["under_provisioned_minutes"] == 2  # only the burst's own minutes (8, 9) were short


# -- baseline bands on a trend -----------------------------------------------------------------------------------


def _trend(direction: float, *, days: int = 3) -> pd.Series:
    index = pd.date_range("2026-03-02", periods=days * 288, freq="5min")
    phase = 2 * np.pi * np.arange(len(index)) / 288
    level = 1000 + direction * np.arange(len(index)) * 1.0  # a steady ramp, up or down
    values = level * (1 + 0.2 * np.sin(phase))
    return pd.Series(values, index=index)


@pytest.mark.parametrize("direction", [1.0, -1.0], ids=["rising", "falling"])
@pytest.mark.parametrize("kind", [LastValue, SeasonalNaive, HoltWinters])
def test_baseline_quantiles_never_cross_on_a_trend(kind, direction):
    series = _trend(direction)
    step = pd.Timedelta(minutes=5)
    predictor = kind(step=step, horizon_steps=6, quantiles=(0.1, 0.5, 0.9))
    predictor.fit(series.iloc[:-288])
    for end in range(len(series) - 288, len(series), 37):  # several origins on the ramp
        forecast = predictor.predict(series.iloc[:end])
        assert list(forecast.columns) == ["p10", "p50", "p90"]
        values = forecast.to_numpy()
        assert np.isfinite(values).all()
        assert (forecast["p90"] >= forecast["p50"]).all(), (kind.__name__, direction, end)
        assert (forecast["p50"] >= forecast["p10"]).all(), (kind.__name__, direction, end)
