"""bench/replay_bound.py: the matched-cost protocol on other forecast sources, and the views its levers add."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def bound():
    path = Path(__file__).resolve().parents[1] / "bench" / "replay_bound.py"
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_replay_bound", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def pt(label, *, prescaler, target=1.0, cost, short, window=None, default=True, joint=True, causes=None):
    p = {
        "label": label,
        "prescaler": prescaler,
        "target_utilisation": target,
        "replica_minutes": cost,
        "short_minutes": short,
        "hpa_scale_down_s": window,
        "default": default,
        "joint": joint,
    }
    if causes is not None:
        p["causes"] = causes
    return p


def result() -> dict:
    """One trace: the oracle at 100 replica-minutes; the HPA alone at 1.0 (+0%, 100 short) and 0.8 (+10%, 50
    short); a floor at +20% with 0 short; the HPA alone with a 0 s window (-5%, 120 short) and a floor on it
    (+4%, 0 short); a `peak` floor on the 0 s window (only replayed on some traces, never in the views)."""
    c = {"forecast_low": 0, "scaled_down": 0, "ready_lag": 0}
    return {
        "oracle_replica_minutes": 100.0,
        "hpa": [
            pt("hpa@1", prescaler=False, cost=100.0, short=100),
            pt("hpa@0.8", prescaler=False, target=0.8, cost=110.0, short=50),
            pt(
                "hpa@1-hpastab0s",
                prescaler=False,
                cost=95.0,
                short=120,
                window=0.0,
                default=False,
                joint=False,
            ),
        ],
        "sources": {
            "sigma-0": {
                "points": [
                    pt("shift-p50 hpa@1", prescaler=True, cost=120.0, short=0, causes=c),
                    pt(
                        "shift-p50 hpa@1-hpastab0s",
                        prescaler=True,
                        cost=104.0,
                        short=0,
                        window=0.0,
                        default=False,
                        joint=False,
                        causes=c,
                    ),
                    pt(
                        "peak-p50 hpa@1-hpastab0s",
                        prescaler=True,
                        cost=101.0,
                        short=0,
                        window=0.0,
                        default=False,
                        joint=False,
                        causes=c,
                    ),
                ]
            }
        },
    }


def test_the_default_view_is_bench_replays_matched_cost_on_the_same_points(bound) -> None:
    res = {"t": result()}
    mine = bound.matched(res, ["t"], "sigma-0", "default")
    theirs = bound.R.matched_cost({"t": bound.view(res["t"], "sigma-0", "default")}, ["t"])
    for b in bound.R.BUDGETS:
        assert mine[b]["per_trace"] == theirs[b]["per_trace"]
    # +10%: the HPA alone at 0.8 has 50 short; the floor line from (100, 100) to (120, 0) is at 50 too.
    assert mine[0.10]["per_trace"]["t"] == pytest.approx((50.0, 50.0))
    assert mine[0.05]["per_trace"]["t"] == pytest.approx((75.0, 75.0))


def test_the_window_lever_is_on_both_frontiers_and_peak_on_a_window_on_neither(bound) -> None:
    res = result()
    labels = {p["label"] for p in bound.view(res, "sigma-0", "joint+window")["grid"]}
    assert "hpa@1-hpastab0s" in labels and "shift-p50 hpa@1-hpastab0s" in labels
    assert "peak-p50 hpa@1-hpastab0s" not in labels
    default = {p["label"] for p in bound.view(res, "sigma-0", "default")["grid"]}
    assert default == {"hpa@1", "hpa@0.8", "shift-p50 hpa@1"}
    plan = {p["label"] for p in bound.view(res, "sigma-0", "joint+plan")["grid"]}
    assert "hpa@1-hpastab0s" not in plan
    # With the window, the floor at +4% has no short minute where the default grid's HPA alone has 75 at +5%.
    mc = bound.matched({"t": res}, ["t"], "sigma-0", "joint+window")
    assert mc[0.05]["per_trace"]["t"][1] == 0.0


def test_best_within_falls_back_to_the_hpa_at_1_when_no_floor_fits(bound) -> None:
    res = result()
    assert bound.best_within(res, "sigma-0", "default", 0.05)["label"] == "hpa@1"
    assert bound.best_within(res, "sigma-0", "default", 0.20)["label"] == "shift-p50 hpa@1"
    assert bound.zero_from(res, "joint").startswith("+20.0%")
    assert bound.zero_from(res, "levers").startswith("+4.0%")


def test_perfect_foresight_with_peak_and_no_hpa_hold_leaves_no_short_minute(bound) -> None:
    """The mechanism the report gives: on the true future, `peak` on p50 (the lead window's maximum) over an HPA
    with a 0 s scale-down window covers every minute, for less than the same floor under the HPA's 300 s."""
    from forecaster.simulate import precompute_forecasts
    from forecaster.tuning import SLO, Setting, evaluate

    index = pd.date_range("2024-01-01", periods=6 * 60, freq="1min")
    rng = np.random.default_rng(1)
    load = 10 + 8 * (np.sin(np.arange(len(index)) / 17.0) > 0.6) + rng.uniform(0, 2, len(index))
    trace = pd.Series(load, index=index)
    start = index[60]
    table = precompute_forecasts(
        trace, forecast_fn=bound.R.known_error_forecasts(trace, sigma=0.0), replay_start=start
    )
    settings = [Setting(1.0, "peak", 0.5, hpa_scale_down_s=0.0), Setting(1.0, "peak", 0.5)]
    held, default = evaluate(
        trace,
        settings=settings,
        forecasts=table,
        replay_start=start,
        capacity_per_replica=1.0,
        pod_startup_s=180.0,
        slo=SLO.parse("short-minutes=0.5%"),
        max_replicas=200,
    )
    assert held.short_minutes == 0
    assert default.short_minutes == 0
    assert held.replica_minutes < default.replica_minutes
