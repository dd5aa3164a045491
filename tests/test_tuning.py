"""Tuning: SLO parsing, forecasts computed once, the cheapest setting meeting the SLO, and `forecaster tune`'s
recommended `simulate_flags` reproducing its numbers through `forecaster simulate`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import forecaster.tuning as tuning
from forecaster.cli import main
from forecaster.errors import ConfigError
from forecaster.hpa import HPAConfig
from forecaster.scaling import ScalingPolicy
from forecaster.simulate import ClusterConfig, ReplayConfig, precompute_forecasts, prepare_trace, replay
from forecaster.sources.synthetic import live_streaming
from forecaster.tuning import SLO, Setting, tune

SMALL_GRID = [
    Setting(1.0),
    Setting(0.8),
    Setting(0.6),
    Setting(0.5),
    Setting(1.0, "shift", 0.5),
    Setting(1.0, "shift", 0.9, max_over_median=0.4),
    Setting(1.0, "shift", 0.9, stabilization_s=300.0),
    Setting(0.9, "peak", 0.9, stabilization_s=300.0, lead_extra_s=120.0),
]


@pytest.fixture(scope="module")
def trace() -> pd.Series:
    """A day of the synthetic live-streaming load on the 1-minute replay grid (the evening show at 20:00)."""
    return prepare_trace(live_streaming(days=1, step="5m", seed=3), name="synthetic")


def future_forecasts(trace: pd.Series, calls: list[pd.Timestamp]):
    """A forecast_fn that reads the future on purpose (p50 = the true load, p90 = +15%), counting its calls."""
    values = trace.to_numpy()
    index = trace.index

    def fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame:
        calls.append(now)
        assert len(history) == 0 or history.index[-1] < now  # the history ends before the tick
        t = int(index.searchsorted(now))
        p50 = values[t : t + 30]
        return pd.DataFrame({"p50": p50, "p90": p50 * 1.15}, index=index[t : t + 30])

    return fn


@pytest.mark.parametrize(
    ("text", "metric", "limit"),
    [
        ("short-minutes=0.5%", "short-minutes", 0.005),
        ("unserved=0.1%", "unserved", 0.001),
        ("unserved = 0.002", "unserved", 0.002),
        ("short-minutes=1e-2", "short-minutes", 0.01),
    ],
)
def test_slo_parses_percentages_and_fractions(text, metric, limit) -> None:
    slo = SLO.parse(text)
    assert (slo.metric, slo.limit) == (metric, pytest.approx(limit))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("short-minutes", "is not METRIC=LIMIT"),
        ("latency=1%", "SLO metric 'latency' is unknown; known: short-minutes, unserved"),
        ("unserved=abc", "SLO limit 'abc'"),
        ("unserved=0%", "must be above 0 and below 100%"),
        ("short-minutes=150%", "must be above 0 and below 100%"),
        ("short-minutes=-1%", "is not a number or a percentage"),
    ],
)
def test_bad_slo_strings_are_refused_with_the_reason(text, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        SLO.parse(text)
    assert "--slo short-minutes=0.5%" in str(info.value)


@pytest.mark.parametrize(
    ("confidence", "dof", "exact"),
    [(0.9, 3, 1.637744), (0.9, 6, 1.439756), (0.95, 3, 2.353363), (0.9, 27, 1.313703), (0.95, 4, 2.131847)],
)
def test_t_quantile_matches_students_t(confidence, dof, exact) -> None:
    assert tuning.t_quantile(confidence, dof) == pytest.approx(exact, abs=2e-3)


def test_replay_from_a_forecast_table_equals_replay_from_the_function(trace) -> None:
    start = trace.index[1000]
    cap = float(trace.max()) / 20
    config = ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=cap),
        policy=ScalingPolicy(capacity_per_replica=cap, plan="shift", scale_down_stabilization_s=0),
        cluster=ClusterConfig(pod_startup_s=180),
    )
    calls: list[pd.Timestamp] = []
    direct = replay(trace, config=config, forecast_fn=future_forecasts(trace, calls), replay_start=start)
    table = precompute_forecasts(trace, forecast_fn=future_forecasts(trace, []), replay_start=start)
    cached = replay(trace, config=config, forecast_fn=None, forecasts=table, replay_start=start)
    assert cached.to_dict()["runs"] == direct.to_dict()["runs"]
    assert (
        direct.runs["prescaler"].metrics["under_provisioned_minutes"]
        < (direct.runs["hpa"].metrics["under_provisioned_minutes"])
    )
    with pytest.raises(ConfigError, match="precomputed forecasts cover"):
        replay(trace, config=config, forecast_fn=None, forecasts=table, replay_start=trace.index[10])


def test_tune_computes_forecasts_once_and_recommends_the_cheapest_setting_meeting_the_slo(trace) -> None:
    start = trace.index[1000]
    cap = float(trace.max()) / 20
    calls: list[pd.Timestamp] = []
    table = precompute_forecasts(trace, forecast_fn=future_forecasts(trace, calls), replay_start=start)
    replayed = len(trace.loc[start:])
    assert len(calls) == replayed  # once per replayed minute

    slo = SLO.parse("short-minutes=1%")
    result = tune(
        trace,
        forecasts=table,
        capacity_per_replica=cap,
        pod_startup_s=180,
        slo=slo,
        replay_start=start,
        grid=SMALL_GRID,
    )
    assert len(calls) == replayed  # the grid replays reused them: no forecast was asked for again
    assert [p.setting for p in result.points] == SMALL_GRID
    assert result.minutes == replayed

    rec = result.recommended
    assert rec is not None
    assert rec.rate <= rec.rate_upper <= slo.limit  # meets the SLO on the data, with the margin
    assert rec.rate == pytest.approx(rec.short_minutes / rec.minutes)
    meeting = [p for p in result.points if p.meets]
    assert rec.replica_minutes == min(p.replica_minutes for p in meeting)
    # The margin is real: some setting is within the SLO on the data but not with the bound.
    assert any(p.rate <= slo.limit < p.rate_upper for p in result.points)
    hpa = result.hpa_alone
    assert hpa is not None and not hpa.setting.prescaler
    assert hpa.replica_minutes == min(p.replica_minutes for p in meeting if not p.setting.prescaler)
    # Perfect-foresight forecasts: some prescaler setting meets the SLO for less than the HPA alone.
    assert rec.setting.prescaler and rec.replica_minutes < hpa.replica_minutes

    data = result.to_dict()
    assert len(data["frontier"]) == len(SMALL_GRID)
    assert data["recommended"]["policy"]["plan"] == rec.setting.plan
    assert data["recommended"]["expected"]["cost_vs_hpa_alone"] < 0
    assert data["hpa_alone"]["policy"] is None


def test_tune_skips_settings_on_quantiles_the_forecasts_lack(trace) -> None:
    start = trace.index[1000]
    cap = float(trace.max()) / 20

    def median_only(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame:
        t = int(trace.index.searchsorted(now))
        return pd.DataFrame({"p50": trace.to_numpy()[t : t + 30]}, index=trace.index[t : t + 30])

    table = precompute_forecasts(trace.iloc[:1300], forecast_fn=median_only, replay_start=start)
    result = tune(
        trace.iloc[:1300],
        forecasts=table,
        capacity_per_replica=cap,
        pod_startup_s=180,
        slo=SLO.parse("unserved=0.5%"),
        replay_start=start,
        grid=SMALL_GRID,
    )
    assert all(p.setting.quantile == 0.5 for p in result.points if p.setting.prescaler)
    assert len(result.points) == 5


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory) -> str:
    # Seasonal naive trains on the first 70% (a day and 3 hours); the replay covers the evening show.
    series = live_streaming(days=1.6, step="5m", seed=1, start="2026-01-05 08:00")
    path = tmp_path_factory.mktemp("tune") / "load.csv"
    series.rename("value").to_frame().rename_axis("timestamp").to_csv(path)
    return str(path)


def test_tune_cli_writes_json_and_plot_and_simulate_flags_reproduce_the_point(
    history_csv, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(tuning, "default_grid", lambda quantiles: list(SMALL_GRID))
    out = tmp_path / "tune.json"
    plot = tmp_path / "tune.png"
    code = main(
        [
            "tune",
            "--csv",
            history_csv,
            "--capacity-per-replica",
            "200",
            "--pod-startup",
            "3m",
            "--slo",
            "short-minutes=2%",
            "--model",
            "seasonal-naive",
            "--train-fraction",
            "0.7",
            "--json",
            str(out),
            "--plot",
            str(plot),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "HPA alone (target utilisation)" in text and "prescaler + HPA (Pareto frontier)" in text
    assert "margin: hours bound at 90% over " in text and "blocks of " in text
    from forecaster.cli_tune import MARGIN_CHOICES

    assert tuple(tuning.MARGINS) == MARGIN_CHOICES and MARGIN_CHOICES[0] == tuning.DEFAULT_MARGIN
    data = json.loads(out.read_text())
    assert plot.stat().st_size > 10_000
    assert {"label", "flags", "short_minutes", "unserved_fraction", "replica_minutes"} <= set(
        data["frontier"][0]
    )
    for key in ("recommended", "hpa_alone"):
        choice = data[key]
        assert choice is not None, key
        sim_json = tmp_path / f"sim-{key}.json"
        assert main(["simulate", *choice["simulate_flags"], "--json", str(sim_json)]) == 0
        run = json.loads(sim_json.read_text())["runs"][choice["simulate_run"]]
        expected = choice["expected"]
        assert run["under_provisioned_minutes"] == expected["short_minutes"]
        assert run["unserved_fraction"] == pytest.approx(expected["unserved_fraction"], rel=1e-12)
        assert run["replica_minutes"] == pytest.approx(expected["replica_minutes"], rel=1e-12)
    rec = data["recommended"]
    meeting = [p for p in data["frontier"] if p["meets_slo"]]
    assert rec["expected"]["replica_minutes"] == min(p["replica_minutes"] for p in meeting)


def test_tune_cli_bad_slo_is_one_clear_line(history_csv, capsys) -> None:
    code = main(["tune", "--csv", history_csv, "--capacity-per-replica", "200", "--slo", "p99-latency=1%"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("forecaster tune: error: SLO metric 'p99-latency' is unknown")
    assert "\n" not in err


def test_recommend_for_model_returns_json_ready_data_for_the_model_version() -> None:
    from forecaster.predictors import SeasonalNaive

    native = live_streaming(days=1.6, step="5m", seed=2, start="2026-01-05 08:00")
    split = native.index[int(len(native) * 0.7)]
    model = SeasonalNaive(step=pd.Timedelta("5min"), horizon_steps=6, quantiles=(0.5, 0.9)).fit(
        native.loc[:split]
    )
    out = tuning.recommend_for_model(
        model, native, tune_start=split, capacity_per_replica=200.0, slo="short-minutes=2%", grid=SMALL_GRID
    )
    json.dumps(out)  # storable as is
    assert out["slo"] == "short-minutes=2%"
    assert out["tuned_on"]["minutes"] == len(pd.date_range(split, native.index[-1], freq="1min"))
    rec = out["recommended"]
    assert rec is not None and "simulate_flags" not in rec
    assert rec["expected"]["slo_rate_upper"] <= 0.02
    assert np.isfinite(rec["expected"]["replica_minutes"])


def test_no_setting_meeting_the_slo_recommends_nothing(trace) -> None:
    start = trace.index[1000]
    result = tune(
        trace,
        forecasts=None,
        capacity_per_replica=float(trace.max()) / 20,
        pod_startup_s=180,
        slo=SLO.parse("short-minutes=0.001%"),
        replay_start=start,
        grid=[Setting(1.0)],
        reach=False,  # the grid only (with reach, the HPA alone at 0.4 meets even this)
    )
    assert result.points[0].short_minutes > 0
    assert result.recommended is None and result.hpa_alone is None
    assert result.to_dict()["recommended"] is None
    # What comes nearest is reported (never recommended): the lowest bound.
    assert result.nearest is result.points[0]
    assert result.to_dict()["nearest"]["label"] == "hpa@1"
    assert result.to_dict()["margin"]["recommended_margin"] is None


def test_nearest_is_the_lowest_bound_and_absent_when_a_setting_meets_the_slo(trace) -> None:
    start = trace.index[1000]
    kwargs = {
        "forecasts": None,
        "capacity_per_replica": float(trace.max()) / 20,
        "pod_startup_s": 180,
        "replay_start": start,
        "grid": [Setting(1.0), Setting(0.8), Setting(0.5)],
        "reach": False,
    }
    none = tune(trace, slo=SLO.parse("short-minutes=0.001%"), **kwargs)
    assert none.recommended is None
    assert none.nearest is min(none.points, key=lambda p: p.rate_upper)
    assert none.nearest.setting == Setting(0.5)
    some = tune(trace, slo=SLO.parse("short-minutes=50%"), **kwargs)
    assert some.recommended is not None and some.nearest is None


def test_prediction_margin_is_sqrt2_wider_than_the_confidence_bound_and_needs_two_blocks() -> None:
    per = np.array([0.0, 0.01, 0.02, 0.03])
    conf = tuning.upper_bound(0.015, per, confidence=0.9, margin="confidence")
    pred = tuning.upper_bound(0.015, per, confidence=0.9, margin="prediction")
    assert conf > 0.015
    assert pred - 0.015 == pytest.approx((conf - 0.015) * np.sqrt(2))
    assert tuning.upper_bound(0.015, per[:1], confidence=0.9, margin="prediction") == 0.015
    with pytest.raises(ConfigError, match="margin 'worst' is unknown"):
        tuning.upper_bound(0.015, per, confidence=0.9, margin="worst")


def test_points_keep_per_block_counts_that_add_up_and_the_margin_follows_the_rule(trace) -> None:
    start = trace.index[1000]
    cap = float(trace.max()) / 20
    table = precompute_forecasts(trace, forecast_fn=future_forecasts(trace, []), replay_start=start)
    seen: list[tuple[Setting, int]] = []
    kwargs = {
        "settings": SMALL_GRID,
        "forecasts": table,
        "capacity_per_replica": cap,
        "pod_startup_s": 180,
        "slo": SLO.parse("short-minutes=1%"),
        "replay_start": start,
    }
    pred = tuning.evaluate(
        trace, margin="prediction", inspect=lambda s, r: seen.append((s, len(r.load))), **kwargs
    )
    conf = tuning.evaluate(trace, margin="confidence", **kwargs)
    assert [s for s, _ in seen] == SMALL_GRID  # every replay was shown to inspect, in grid order
    assert all(n == pred[0].minutes for _, n in seen)
    for p, c in zip(pred, conf, strict=True):
        assert len(p.block_short) == len(p.block_total) == tuning.MIN_BLOCKS  # under 4 days: 4 equal parts
        assert sum(p.block_short) == p.short_minutes
        assert sum(p.block_total) == p.minutes
        assert p.rate == c.rate
        spread = p.rate_upper - p.rate
        assert spread == pytest.approx((c.rate_upper - c.rate) * np.sqrt(2))
        assert spread > 0 or np.ptp(np.divide(p.block_short, p.block_total)) == 0
    # Unserved: the blocks hold the load above capacity and the load.
    unserved = tuning.evaluate(trace, **{**kwargs, "slo": SLO.parse("unserved=0.1%")})
    load = float(trace.loc[start:].sum())
    assert sum(unserved[0].block_total) == pytest.approx(load)
    assert sum(unserved[0].block_short) / load == pytest.approx(unserved[0].unserved_fraction)


def test_blocks_are_two_hours_for_the_default_margin_and_days_for_the_day_rules() -> None:
    hours = tuning._blocks(2015, "hours")  # the 1.4-day tuning half of a 5-minute series
    days = tuning._blocks(2015, "confidence")
    assert tuning.DEFAULT_MARGIN == "hours"
    assert hours.max() + 1 == 16 and set(np.bincount(hours)) <= {125, 126}
    assert days.max() + 1 == tuning.MIN_BLOCKS  # under 4 days: 4 equal parts
    assert tuning._blocks(8 * 1440, "prediction").max() + 1 == 8  # whole days
    assert tuning._blocks(300, "hours").max() + 1 == tuning.MIN_BLOCKS  # under 8 hours: 4 equal parts
    assert np.all(np.diff(hours) >= 0) and np.all(np.diff(days) >= 0)  # contiguous


def test_margin_bounds_apply_each_rule_to_the_same_minutes() -> None:
    rng = np.random.default_rng(4)
    minutes = 2015
    short = np.zeros(minutes)
    for start in rng.integers(0, minutes - 5, size=12):  # bursts of 5 short minutes
        short[start : start + 5] = 1.0
    ones = np.ones(minutes)
    bounds = tuning.margin_bounds(short, ones, confidence=0.9)
    assert set(bounds) == set(tuning.MARGINS)
    rate = short.mean()
    for margin in ("hours", "confidence", "prediction"):
        blocks = tuning._blocks(minutes, margin)
        per = np.bincount(blocks, weights=short) / np.bincount(blocks)
        assert bounds[margin] == pytest.approx(
            tuning.upper_bound(
                rate, per, confidence=0.9, margin="confidence" if margin == "hours" else margin
            )
        )
        assert bounds[margin] > rate
    # The bootstrap: reproducible, above the rate at 90%, near it at 50%, and exact when every block is alike.
    assert bounds["bootstrap"] == tuning.margin_bounds(short, ones, confidence=0.9)["bootstrap"] > rate
    median = tuning.bootstrap_bound(short, ones, confidence=0.5, block=tuning.HOUR_BLOCK_MINUTES)
    assert abs(median - rate) < 0.25 * rate
    flat = np.full(minutes, 0.01)
    assert tuning.bootstrap_bound(flat, ones, confidence=0.9, block=120) == pytest.approx(0.01)
    assert tuning.margin_bounds(np.zeros(minutes), ones, confidence=0.9) == dict.fromkeys(tuning.MARGINS, 0.0)


def test_tune_says_how_the_margin_was_set(trace) -> None:
    start = trace.index[200]
    result = tune(
        trace,
        forecasts=None,
        capacity_per_replica=float(trace.max()) / 20,
        pod_startup_s=180,
        slo=SLO.parse("short-minutes=20%"),
        replay_start=start,
        grid=[Setting(1.0), Setting(0.6)],
    )
    info = result.to_dict()["margin"]
    minutes = len(trace.loc[start:])
    assert info["margin"] == "hours" and info["blocks"] == minutes // tuning.HOUR_BLOCK_MINUTES
    assert info["block_minutes"] == pytest.approx(minutes / info["blocks"], abs=0.1)
    rec = result.recommended
    assert rec is not None and info["recommended_margin"] == pytest.approx(rec.rate_upper - rec.rate)
    assert rec.rate_upper == rec.bounds["hours"]
    assert "2-hour" in info["why"]


def test_joint_grid_is_the_default_grid_plus_eight_distinct_settings() -> None:
    default = tuning.default_grid()
    joint = tuning.joint_grid()
    assert joint[: len(default)] == default
    extra = joint[len(default) :]
    assert len(extra) == 8
    assert len({s.label for s in joint}) == len(joint)  # no setting twice
    assert {s.target_utilisation for s in extra if s.plan == "shift" and s.quantile == 0.9} >= {0.7, 0.6}
    # Without a median the median points go, as in the default grid.
    assert all(s.quantile == 0.9 for s in tuning.joint_grid(quantiles=(0.9,)) if s.prescaler)


@pytest.mark.parametrize(
    "setting",
    [
        Setting(1.0, "shift", 0.9, max_over_median=0.4, max_step_down=2, hpa_scale_down_s=60.0),
        Setting(0.8, hpa_scale_down_s=120.0),
        Setting(0.9, "shift", 0.5, headroom=0.1),
    ],
    ids=lambda s: s.label,
)
def test_simulate_flags_build_the_hpa_and_policy_the_grid_replays(setting: Setting) -> None:
    """The HPA's scale-down window and the floor's step down, like every other knob, reach `forecaster simulate`
    through the recommendation's flags: parsed there, they build the same HPA and policy as the grid replayed."""
    import argparse

    from forecaster.cli_simulate import add_parser, build_config

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="cmd"))
    base = ["simulate", "--csv", "x.csv", "--capacity-per-replica", "50", "--max-replicas", "80"]
    config = build_config(parser.parse_args([*base, *setting.simulate_flags(pod_startup_s=180.0)]))
    assert config.hpa == setting.hpa_config(capacity_per_replica=50.0, max_replicas=80)
    want_window = 300.0 if setting.hpa_scale_down_s is None else setting.hpa_scale_down_s
    assert config.hpa.scale_down.stabilization_window_s == want_window
    if setting.prescaler:
        assert config.policy == setting.policy(
            capacity_per_replica=50.0, pod_startup_s=180.0, max_replicas=80
        )
        spec = setting.policy_spec(capacity_per_replica=50.0, pod_startup_s=180.0)
        if setting.max_step_down:
            assert spec["scaleDown"] == {"stabilizationWindow": "0", "maxStep": 2, "period": "1m"}
        else:
            assert spec["scaleDown"] == {"stabilizationWindow": "0"}


def test_hpa_window_and_step_down_change_the_replay_and_the_label(trace) -> None:
    """A shorter HPA scale-down window frees pods sooner (fewer replica-minutes, the same trace and target); a
    floor that steps down holds pods longer than one that drops at once (with no HPA window to hide it); each
    is named in the label."""
    forecasts = precompute_forecasts(
        trace, forecast_fn=future_forecasts(trace, []), replay_start=trace.index[60]
    )
    settings = [
        Setting(1.0),
        Setting(1.0, hpa_scale_down_s=60.0),
        Setting(1.0, "shift", 0.9, hpa_scale_down_s=0.0),
        Setting(1.0, "shift", 0.9, max_step_down=1, hpa_scale_down_s=0.0),
    ]
    points = tuning.evaluate(
        trace,
        settings=settings,
        forecasts=forecasts,
        capacity_per_replica=50.0,  # the load falls by up to 7 pods a minute
        pod_startup_s=180.0,
        slo=SLO.parse("short-minutes=1%"),
        replay_start=trace.index[60],
    )
    cost = {p.setting.label: p.replica_minutes for p in points}
    assert list(cost) == [
        "hpa@1",
        "hpa@1-hpastab60s",
        "shift-p90 hpa@1-hpastab0s",
        "shift-p90-down1pm hpa@1-hpastab0s",
    ]
    assert cost["hpa@1-hpastab60s"] < cost["hpa@1"]
    assert cost["shift-p90-down1pm hpa@1-hpastab0s"] > cost["shift-p90 hpa@1-hpastab0s"]


REACH_TEST_GRID = [Setting(1.0), Setting(0.8), Setting(1.0, "shift", 0.5)]


@pytest.fixture(scope="module")
def reach_case(trace):
    """The live-streaming day with perfect-foresight forecasts, and the kwargs of a tune on a small grid."""
    start = trace.index[1000]
    table = precompute_forecasts(trace, forecast_fn=future_forecasts(trace, []), replay_start=start)
    return {
        "forecasts": table,
        "capacity_per_replica": float(trace.max()) / 20,
        "pod_startup_s": 180,
        "replay_start": start,
        "grid": REACH_TEST_GRID,
    }


def test_reach_grid_is_dearer_than_the_joint_grid_and_leaves_out_what_the_grid_has() -> None:
    joint = tuning.joint_grid()
    reach = tuning.reach_grid(grid=joint)
    assert reach and not set(reach) & set(joint)
    # Every reach setting keeps more spare than some joint setting of the same plan and quantile: a lower HPA
    # target, or more headroom.
    for s in reach:
        assert s.target_utilisation <= 0.5 or s.headroom >= 0.2 or not s.prescaler
    assert [s.target_utilisation for s in reach if not s.prescaler] == list(tuning.REACH_HPA_TARGETS)
    # Without an upper quantile the reach is the HPA alone only.
    assert all(not s.prescaler for s in tuning.reach_grid(quantiles=(0.5,)))
    # What a grid already has is not replayed twice.
    assert Setting(0.7, "shift", 0.9) in tuning.reach_grid(grid=tuning.default_grid())
    assert Setting(0.7, "shift", 0.9) not in reach


def test_reach_replays_dearer_settings_only_where_the_grid_misses_the_slo(trace, reach_case) -> None:
    # 1%: the grid's best bound is shift-p50's 1.2%, so nothing in it meets the SLO.
    grid_only = tune(trace, slo=SLO.parse("short-minutes=1%"), reach=False, **reach_case)
    assert grid_only.recommended is None and grid_only.reached == 0
    assert [p.setting for p in grid_only.points] == REACH_TEST_GRID
    reached = tune(trace, slo=SLO.parse("short-minutes=1%"), **reach_case)
    extra = tuning.reach_grid(grid=REACH_TEST_GRID)
    assert reached.reached == len(extra)
    assert [p.setting for p in reached.points] == [*REACH_TEST_GRID, *extra]
    assert [p.reach for p in reached.points] == [False] * 3 + [True] * len(extra)
    rec = reached.recommended
    assert rec is not None and rec.reach and rec.meets
    assert rec.replica_minutes == min(p.replica_minutes for p in reached.points if p.meets)
    assert reached.hpa_alone is not None and reached.hpa_alone.setting.target_utilisation in (0.4, 0.3)
    assert reached.nearest is None
    data = reached.to_dict()
    assert data["reached"] == len(extra) and data["recommended"]["label"] == rec.setting.label
    assert sum(p["reach"] for p in data["frontier"]) == len(extra)
    # The grid's points are the same replays either way.
    for a, b in zip(grid_only.points, reached.points, strict=False):
        assert (a.short_minutes, a.replica_minutes, a.rate_upper) == (
            b.short_minutes,
            b.replica_minutes,
            b.rate_upper,
        )


def test_reach_changes_nothing_where_the_grid_meets_the_slo(trace, reach_case) -> None:
    # 5%: shift-p50 and the HPA alone at 0.8 both meet it: no reach, the same answer as the grid alone.
    with_reach = tune(trace, slo=SLO.parse("short-minutes=5%"), **reach_case)
    without = tune(trace, slo=SLO.parse("short-minutes=5%"), reach=False, **reach_case)
    assert with_reach.reached == 0 and len(with_reach.points) == 3
    assert with_reach.to_dict() == without.to_dict() | {"reached": 0}
    # 2%: shift-p50 meets it, no HPA alone of the grid does: only the HPA alone reaches further (the
    # comparison), the recommendation stays the grid's.
    hpa_short = tune(trace, slo=SLO.parse("short-minutes=2%"), **reach_case)
    assert hpa_short.reached == len(tuning.REACH_HPA_TARGETS)
    assert all(not p.setting.prescaler for p in hpa_short.points if p.reach)
    assert hpa_short.recommended.setting == Setting(1.0, "shift", 0.5)
    assert hpa_short.hpa_alone is not None and hpa_short.hpa_alone.reach


def test_the_second_reach_round_is_dearer_still_and_replayed_only_where_the_first_missed(
    trace, reach_case, monkeypatch
) -> None:
    first = tuning.reach_grid(grid=tuning.joint_grid())
    second = tuning.reach_grid(grid=tuning.joint_grid(), stage=2)
    assert second and not set(second) & set(first)
    assert [s.target_utilisation for s in second if not s.prescaler] == list(tuning.REACH2_HPA_TARGETS)
    assert min(s.target_utilisation for s in first) > max(
        s.target_utilisation for s in second if not s.prescaler
    )
    assert max(s.headroom for s in second) > max(s.headroom for s in first)
    with pytest.raises(ConfigError, match="reach round 3"):
        tuning.reach_grid(stage=3)
    # 1%: the first round meets it (above): the second is not replayed.
    once = tune(trace, slo=SLO.parse("short-minutes=1%"), **reach_case)
    assert not any(p.setting in set(second) for p in once.points)
    # Where the first round misses too (here a first round of one HPA alone at 0.9, which misses 1% as the
    # grid's 0.8 does), the second is replayed after it, and the pick is the cheapest of all that meets it.
    real = tuning.reach_grid

    def reach(*, quantiles=(0.5, 0.9), grid=(), stage=1):
        return [Setting(0.9)] if stage == 1 else real(quantiles=quantiles, grid=grid, stage=stage)

    monkeypatch.setattr(tuning, "reach_grid", reach)
    twice = tune(trace, slo=SLO.parse("short-minutes=1%"), **reach_case)
    extra2 = real(grid=[*REACH_TEST_GRID, Setting(0.9)], stage=2)
    assert [p.setting for p in twice.points] == [*REACH_TEST_GRID, Setting(0.9), *extra2]
    assert twice.reached == 1 + len(extra2) and not twice.points[3].meets
    rec = twice.recommended
    assert rec is not None and rec.setting in set(extra2) and rec.meets
    assert rec.replica_minutes == min(p.replica_minutes for p in twice.points if p.meets)
