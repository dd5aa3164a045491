"""Replay simulator: the oracle's minimality (brute force), a spike the prescaler catches, bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError, DataError
from forecaster.hpa import HPAConfig
from forecaster.oracle import layer_schedule, oracle_schedule
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, prepare_trace, replay, run_metrics

START = pd.Timestamp("2026-01-05 00:00:00")


def brute_force_cost(need: list[int], *, initial: int, startup: int, top: int) -> int:
    """Cheapest pod-minutes over every sequence of pod counts (newest pods removed first), never short."""
    best = None
    for counts in itertools.product(range(top + 1), repeat=len(need)):
        created: list[int] = [-(10**6)] * initial  # creation minute per pod, oldest first
        ok = True
        for m, c in enumerate(counts):
            if c > len(created):
                created += [m] * (c - len(created))
            else:
                del created[c:]
            ready = sum(1 for t in created if t + startup <= m)
            if ready < need[m]:
                ok = False
                break
        if ok:
            cost = sum(counts)
            best = cost if best is None else min(best, cost)
    assert best is not None
    return best


ORACLE_CASES = [
    ("a lone spike is started ahead", [0, 0, 0, 2, 0, 0], 0, 2),
    ("a short dip is bridged", [1, 0, 0, 0, 0, 1, 1], 1, 2),
    ("a long dip is cheaper to restart", [1, 0, 0, 0, 0, 0, 1], 1, 2),
    ("nested layers", [1, 2, 1, 2, 2, 1, 0], 1, 1),
    ("a staircase", [0, 0, 1, 2, 3, 2, 1], 0, 2),
    ("initial units beyond the need are dropped", [0, 0, 1, 0, 0, 0], 2, 2),
]


@pytest.mark.parametrize(
    ("need", "initial", "startup"), [c[1:] for c in ORACLE_CASES], ids=[c[0] for c in ORACLE_CASES]
)
def test_oracle_is_never_short_and_as_cheap_as_brute_force(need, initial, startup) -> None:
    ready, exist = layer_schedule(np.array(need), initial=initial, startup_min=startup)
    assert (ready >= np.array(need)).all()
    assert (exist >= ready).all()
    assert int(exist.sum()) == brute_force_cost(
        need, initial=initial, startup=startup, top=max(max(need), initial)
    )


def test_oracle_random_small_cases_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(12):
        startup = int(rng.integers(1, 3))
        need = [0] * startup + list(rng.integers(0, 3, size=5))  # nothing needed before it can be ready
        ready, exist = layer_schedule(np.array(need), initial=0, startup_min=startup)
        assert (ready >= np.array(need)).all()
        assert int(exist.sum()) == brute_force_cost(need, initial=0, startup=startup, top=2), need


def test_oracle_nodes_cover_pods() -> None:
    need = np.array([1, 1, 1, 1, 1, 1, 5, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    s = oracle_schedule(need=need, initial=1, pod_startup_min=2, pods_per_node=2, node_startup_min=3)
    assert (s.nodes * 2 >= s.pods).all()
    assert s.pods[4] == 5  # started two minutes before minute 6


def spike_trace(
    *, minutes: int = 240, spike_at: int = 150, base: float = 500, peak: float = 2500
) -> pd.Series:
    load = np.full(minutes, base)
    load[spike_at : spike_at + 40] = peak
    return pd.Series(load, index=pd.date_range(START, periods=minutes, freq="1min"), name="spike")


def perfect_forecast(trace: pd.Series, *, horizon: int = 30):
    """Tomorrow's truth, but only handed out for timestamps >= now (the prescaler's best case)."""

    def fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame:
        assert history.index[-1] < now  # nothing at or after the tick is visible
        future = trace.loc[now : now + pd.Timedelta(minutes=horizon - 1)]
        return pd.DataFrame({"p50": future.to_numpy(), "p90": future.to_numpy() * 1.05}, index=future.index)

    return fn


def config(plan: str = "peak", **cluster) -> ReplayConfig:
    return ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=100, max_replicas=60),
        policy=ScalingPolicy(
            capacity_per_replica=100,
            max_replicas=60,
            plan=plan,
            # "shift" leaves holding pods to the HPA's own scale-down window (the bench's setting).
            scale_down_stabilization_s=0 if plan == "shift" else 180,
        ),
        cluster=ClusterConfig(pod_startup_s=180, **cluster),
    )


@pytest.mark.parametrize("plan", ["peak", "rise", "shift"])
def test_prescaler_is_ready_before_the_spike_and_hpa_is_not(plan) -> None:
    trace = spike_trace()
    result = replay(
        trace,
        config=config(plan),
        forecast_fn=perfect_forecast(trace),
        replay_start=START + pd.Timedelta(minutes=60),
    )
    spike = 150 - 60
    hpa, pre, oracle = (result.runs[k] for k in ("hpa", "prescaler", "oracle"))
    assert pre.ready[spike] >= 25  # 2500 / 100 ready when the spike lands
    assert hpa.ready[spike] < 25
    assert hpa.metrics["under_provisioned_minutes"] >= 3  # start-up + metric lag
    assert pre.metrics["under_provisioned_minutes"] == 0
    assert oracle.metrics["under_provisioned_minutes"] == 0
    assert oracle.metrics["replica_minutes"] <= pre.metrics["replica_minutes"]
    assert result.forecast is not None and result.reasons


def test_shift_plan_costs_about_what_the_hpa_does_on_flat_noisy_load() -> None:
    # Six hours of a flat level with 6% minute-to-minute noise; the forecaster knows the level and the noise
    # (p50 = level, p90 = level + 1.28 sigma) but not the draws. The HPA, which holds the highest proposal of
    # its last 5 minutes, already keeps about that many pods, so the floor adds almost nothing.
    rng = np.random.default_rng(7)
    minutes, level, sigma = 420, 1000.0, 60.0
    load = np.maximum(level + rng.normal(0, sigma, minutes), 0)
    trace = pd.Series(load, index=pd.date_range(START, periods=minutes, freq="1min"), name="flat")

    def band(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame:
        index = pd.date_range(now, periods=30, freq="1min")
        return pd.DataFrame({"p50": level, "p90": level + 1.28 * sigma}, index=index)

    result = replay(
        trace, config=config("shift"), forecast_fn=band, replay_start=START + pd.Timedelta(minutes=60)
    )
    hpa, pre = result.runs["hpa"].metrics, result.runs["prescaler"].metrics
    assert pre["replica_minutes"] <= 1.02 * hpa["replica_minutes"], (pre, hpa)
    assert pre["under_provisioned_minutes"] <= 0.5 * hpa["under_provisioned_minutes"], (pre, hpa)
    assert hpa["under_provisioned_minutes"] >= 10  # the noise does reach past the HPA's tolerance


def test_hpa_spare_capacity_absorbs_a_rise_that_a_full_target_misses() -> None:
    # A 20% step: an HPA keeping pods 80% busy already has the pods; one targeting their full capacity is short
    # until new pods start. Capacity (and so "short") is the pods' full capacity in both.
    minutes = 240
    load = np.where(np.arange(minutes) < 150, 1000.0, 1200.0)
    trace = pd.Series(load, index=pd.date_range(START, periods=minutes, freq="1min"), name="step")
    results = {}
    for target in (1.0, 0.8):
        cfg = ReplayConfig(
            hpa=HPAConfig(capacity_per_replica=100, target_utilisation=target, max_replicas=60),
            policy=ScalingPolicy(capacity_per_replica=100, max_replicas=60),
            cluster=ClusterConfig(pod_startup_s=180),
        )
        results[target] = replay(
            trace,
            config=cfg,
            forecast_fn=None,
            replay_start=START + pd.Timedelta(minutes=60),
            include=("hpa",),
        ).runs["hpa"]
    full, spare = results[1.0], results[0.8]
    assert full.metrics["under_provisioned_minutes"] >= 3
    assert spare.metrics["under_provisioned_minutes"] == 0
    # Both start from 10 pods; before the step the spare one settles at 1000 / (100 x 0.8) = 12.5 -> 13.
    assert spare.ready[60] == 13 and full.ready[60] == 10
    assert spare.metrics["replica_minutes"] > full.metrics["replica_minutes"]


def test_forecast_band_has_one_p50_column_when_planning_on_p50() -> None:
    trace = spike_trace()
    cfg = config("shift")
    cfg = ReplayConfig(hpa=cfg.hpa, policy=cfg.policy.replace(quantile=0.5), cluster=cfg.cluster)
    result = replay(
        trace,
        config=cfg,
        forecast_fn=perfect_forecast(trace),
        replay_start=START + pd.Timedelta(minutes=60),
        include=("prescaler",),
    )
    assert result.forecast is not None and list(result.forecast.columns) == ["p50"]
    # The band is the forecast for now + lead: on the perfect forecast it is the load itself.
    at = result.forecast.index.intersection(result.load.index)
    assert np.allclose(result.forecast.loc[at, "p50"], result.load.loc[at])


def test_replay_is_deterministic_for_a_seed_with_jitter() -> None:
    trace = spike_trace()
    cfg = config(pod_startup_jitter_s=90)
    a = replay(
        trace, config=cfg, forecast_fn=perfect_forecast(trace), replay_start=START + pd.Timedelta(minutes=60)
    )
    b = replay(
        trace, config=cfg, forecast_fn=perfect_forecast(trace), replay_start=START + pd.Timedelta(minutes=60)
    )
    assert a.to_dict() == b.to_dict()


def test_nodes_delay_pods_and_the_node_floor_prepares_them() -> None:
    trace = spike_trace()
    cfg = config(pods_per_node=4, node_startup_s=300)
    result = replay(
        trace, config=cfg, forecast_fn=perfect_forecast(trace), replay_start=START + pd.Timedelta(minutes=60)
    )
    spike = 150 - 60
    hpa, pre = result.runs["hpa"], result.runs["prescaler"]
    # The HPA alone waits for nodes (5 min) and then pods (3 min).
    assert hpa.ready[spike + 6] < 25
    assert pre.ready[spike] >= 25
    assert pre.metrics["node_minutes"] > 0
    assert (hpa.nodes * 4 + 1e-9 >= np.minimum(hpa.ready, hpa.pods)).all()


def test_json_has_the_contract_keys() -> None:
    trace = spike_trace()
    out = replay(
        trace,
        config=config(),
        forecast_fn=perfect_forecast(trace),
        replay_start=START + pd.Timedelta(minutes=60),
    ).to_dict()
    for run in ("hpa", "prescaler", "oracle"):
        for key in (
            "under_provisioned_minutes",
            "unserved_fraction",
            "replica_minutes",
            "scaling_actions",
            "node_minutes",
            "mean_utilisation",
        ):
            assert key in out["runs"][run]


def test_no_forecast_never_lowers_capacity_below_the_hpa() -> None:
    trace = spike_trace()
    result = replay(
        trace, config=config(), forecast_fn=lambda h, now: None, replay_start=START + pd.Timedelta(minutes=60)
    )
    assert result.reasons == {"no_forecast": len(result.load)}
    assert (
        result.runs["prescaler"].metrics["replica_minutes"] >= result.runs["hpa"].metrics["replica_minutes"]
    )


def test_run_metrics_by_hand() -> None:
    m = run_metrics(
        load=np.array([100.0, 300.0, 200.0]),
        capacity_per_replica=100,
        ready=np.array([2.0, 2.0, 2.0]),
        pods=np.array([2.0, 3.0, 3.0]),
        nodes=np.zeros(3),
        actions=1,
    )
    assert m["under_provisioned_minutes"] == 1
    assert m["unserved_fraction"] == pytest.approx(100 / 600)
    assert m["replica_minutes"] == 8
    assert m["mean_utilisation"] == pytest.approx(500 / 600)


def test_prepare_trace_interpolates_5_minute_data() -> None:
    s = pd.Series([0.0, 50.0, 100.0], index=pd.date_range(START, periods=3, freq="5min"))
    out = prepare_trace(s)
    assert len(out) == 11 and out.iloc[1] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("series", "match"),
    [
        (pd.Series([1.0, np.nan, 2.0, 3.0], index=pd.date_range(START, periods=4, freq="1min")), "NaN"),
        (
            pd.Series(
                [1.0, 2.0, 3.0, 4.0],
                index=pd.DatetimeIndex(
                    [
                        START,
                        START + pd.Timedelta("1min"),
                        START + pd.Timedelta("2h"),
                        START + pd.Timedelta("2h1min"),
                    ]
                ),
            ),
            "gaps longer",
        ),
        (pd.Series([1.0, -2.0, 3.0], index=pd.date_range(START, periods=3, freq="1min")), "negative"),
    ],
)
def test_prepare_trace_rejects_bad_traces(series, match) -> None:
    with pytest.raises(DataError, match=match):
        prepare_trace(series)


def test_startup_longer_than_the_trace_is_an_error() -> None:
    trace = spike_trace(minutes=20, spike_at=5)
    with pytest.raises(ConfigError, match="longer than the replayed"):
        replay(
            trace,
            config=config(),
            forecast_fn=perfect_forecast(trace),
            replay_start=START + pd.Timedelta(minutes=18),
        )


def test_zero_capacity_is_an_error() -> None:
    with pytest.raises(ConfigError, match="capacity_per_replica"):
        HPAConfig(capacity_per_replica=0)


def test_cli_simulate_writes_the_contract_json_and_plot(tmp_path) -> None:
    from forecaster.cli import main
    from forecaster.sources.files import write_csv
    from forecaster.sources.synthetic import live_streaming

    csv = tmp_path / "trace.csv"
    write_csv(live_streaming(days=3, step="5m", seed=1), csv)
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["simulate", "--csv", str(csv), "--capacity-per-replica", "60", "--pod-startup", "3m"]
    argv += ["--model", "seasonal-naive", "--train-fraction", "0.5", "--json", str(out), "--plot", str(png)]
    argv += ["--plan", "shift", "--stabilization", "0", "--max-over-median", "0.5"]
    argv += ["--target-utilisation", "0.8"]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["config"]["hpa"]["target_utilisation"] == 0.8
    policy = data["config"]["policy"]
    assert (policy["plan"], policy["scale_down_stabilization_s"], policy["max_over_median"]) == (
        "shift",
        0.0,
        0.5,
    )
    for run in ("hpa", "prescaler", "oracle"):
        assert {
            "under_provisioned_minutes",
            "unserved_fraction",
            "replica_minutes",
            "scaling_actions",
        } <= set(data["runs"][run])
    assert data["runs"]["oracle"]["under_provisioned_minutes"] == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_simulate_rejects_zero_capacity(tmp_path, capsys) -> None:
    from forecaster.cli import main

    csv = tmp_path / "t.csv"
    csv.write_text("timestamp,value\n2026-01-01 00:00:00,1\n2026-01-01 00:01:00,2\n2026-01-01 00:02:00,3\n")
    assert (
        main(["simulate", "--csv", str(csv), "--capacity-per-replica", "0", "--model", "seasonal-naive"]) == 2
    )
    assert "capacity_per_replica" in capsys.readouterr().err
