"""The calendar on the command line: train/predict/backtest/simulate --events, simulate --timeline."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.cli import main
from forecaster.events import Event, calendar_to_csv, read_calendar
from forecaster.model import Forecaster
from forecaster.sources.files import write_csv
from forecaster.sources.synthetic import live_streaming_events


@pytest.fixture(scope="module")
def scenario_files(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("events-cli")
    scenario = live_streaming_events(days=7, step="5m", seed=2)
    write_csv(scenario.series, root / "load.csv")
    (root / "events.csv").write_text(calendar_to_csv(scenario.calendar))
    return root, scenario


def test_train_and_predict_with_a_calendar(scenario_files, tmp_path, capsys):
    root, scenario = scenario_files
    store = tmp_path / "store"
    argv = [
        "train",
        "--csv",
        str(root / "load.csv"),
        "--events",
        str(root / "events.csv"),
        "--out",
        str(store),
    ]
    assert main([*argv, "--target", "live", "--epochs", "2", "--lookback", "1h", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"calendar: {len(scenario.calendar)} events" in out and "stored at:" in out
    model = Forecaster.load(next((store / "live" / "versions").iterdir()))
    assert model.events is not None and set(model.events.kinds) == set(scenario.calendar.kinds)

    # A calendar with a kind the model never saw: the forecast says what it assumed.
    odd = root / "odd.csv"
    extra = Event(
        start=scenario.series.index[-1].tz_localize("UTC") + pd.Timedelta(minutes=10), kind="esports"
    )
    odd.write_text(
        calendar_to_csv(read_calendar(root / "events.csv")) + f"{extra.start.isoformat()},esports,,\n"
    )
    argv = ["predict", "--model", str(store / "live"), "--csv", str(root / "load.csv"), "--json"]
    assert main([*argv, "--events", str(odd)]) == 0
    text = capsys.readouterr().out
    answer = json.loads(text[text.index("{") :])
    assert "esports never seen in training" in answer["note"] and len(answer["forecast"]) == 6
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "none was given" in json.loads(text[text.index("{") :])["note"]


def test_backtest_with_a_calendar(scenario_files, tmp_path, capsys):
    root, _ = scenario_files
    argv = [
        "backtest",
        "--csv",
        str(root / "load.csv"),
        "--events",
        str(root / "events.csv"),
        "--epochs",
        "1",
    ]
    assert main([*argv, "--plot", str(tmp_path / "b.png"), "--json", str(tmp_path / "b.json")]) == 0
    scores = json.loads((tmp_path / "b.json").read_text())
    assert scores["lstm"]["origins"] > 0 and np.isfinite(scores["lstm"]["wape"])


def test_a_malformed_calendar_is_one_clear_line(scenario_files, tmp_path, capsys):
    root, _ = scenario_files
    bad = tmp_path / "bad.csv"
    bad.write_text("start,kind\n2026-01-06T20:00:00Z,football\n2026-01-07 20:00,concert\n")
    assert main(["backtest", "--csv", str(root / "load.csv"), "--events", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "'start'" in err and "no UTC offset" in err


def test_simulate_with_a_calendar_writes_a_timeline(scenario_files, tmp_path, capsys, monkeypatch):
    root, scenario = scenario_files
    import forecaster.event_profile as event_profile

    judged_ticks: list[pd.Timestamp] = []
    real = event_profile.judged_by_minute

    def spy(forecast_fn, *, profile, calendar):
        inner = real(forecast_fn, profile=profile, calendar=calendar)

        def fn(history, now):
            judged_ticks.append(now)
            return inner(history, now)

        return fn

    monkeypatch.setattr(event_profile, "judged_by_minute", spy)
    timeline = tmp_path / "t.csv"
    argv = [
        "simulate",
        "--csv",
        str(root / "load.csv"),
        "--capacity-per-replica",
        "100",
        "--train-fraction",
        "0.7",
    ]
    argv += ["--events", str(root / "events.csv"), "--epochs", "1", "--timeline", str(timeline)]
    argv += ["--json", str(tmp_path / "r.json")]
    assert main(argv) == 0
    assert "calendar" in capsys.readouterr().out
    frame = pd.read_csv(timeline)
    runs = ("hpa", "prescaler", "oracle")
    assert list(frame.columns[:5]) == ["timestamp", "load", *(f"{r}_ready_capacity" for r in runs)]
    data = json.loads((tmp_path / "r.json").read_text())
    assert len(frame) == data["minutes"], "one row per replayed minute"
    stamps = pd.to_datetime(frame["timestamp"])
    assert (stamps.diff().dropna() == pd.Timedelta(minutes=1)).all()
    assert (frame["oracle_ready_capacity"] >= frame["load"] - 1e-6).all(), "the oracle is never short"
    short = int((frame["hpa_ready_capacity"] < frame["load"]).sum())
    assert short == data["runs"]["hpa"]["under_provisioned_minutes"], "the timeline is the replay's own"
    assert data["events"]["events"] == len(scenario.calendar)
    # The replay judges the calendar's entries at every replayed minute, not only at the model's origins.
    assert len(set(judged_ticks)) >= 0.9 * data["minutes"]


def test_simulate_refuses_a_calendar_for_a_model_that_reads_none(scenario_files, capsys):
    root, _ = scenario_files
    argv = ["simulate", "--csv", str(root / "load.csv"), "--capacity-per-replica", "100"]
    assert main([*argv, "--model", "seasonal-naive", "--events", str(root / "events.csv")]) == 2
    assert "--events needs --model lstm" in capsys.readouterr().err


def test_train_config_reads_the_targets_events_section(scenario_files, tmp_path, monkeypatch, capsys):
    import yaml

    import forecaster.sources.prometheus as prometheus

    root, scenario = scenario_files
    # The history source is the one seam replaced: the calendar comes from the config's events.file.
    monkeypatch.setattr(prometheus, "fetch_history", lambda settings, *, now: scenario.series)
    cfg = tmp_path / "live.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "name": "live",
                "prometheus": {"query": "sum(rate(x[1m]))", "step": "5m"},
                "model": {"lookback": "1h"},
                "train": {"epochs": 1, "backtest": "2d"},
                "events": {"file": str(root / "events.csv")},
                "store": str(tmp_path / "store"),
            }
        )
    )
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0, capsys.readouterr().err
    model = Forecaster.load(next((tmp_path / "store" / "live" / "versions").iterdir()))
    assert model.events is not None and model.manifest()["events"]["kinds"] == list(scenario.calendar.kinds)


def test_simulate_plans_a_lower_quantile_away_from_the_calendar(scenario_files, tmp_path, capsys):
    """--quantile-outside-events: the replay plans p50 where no calendar entry reaches and p90 where one does,
    so it spends fewer replica-minutes than p90 everywhere on the same forecasts (same seed, same network); the
    event flags (a wider band, the look-ahead and look-behind at the calendar's steps) spend more."""
    root, _ = scenario_files
    argv = ["simulate", "--csv", str(root / "load.csv"), "--capacity-per-replica", "100"]
    argv += ["--train-fraction", "0.7", "--events", str(root / "events.csv"), "--epochs", "1"]
    spent = {}
    event_flags = ["--event-band-scale", "2", "--event-lookahead", "3m", "--event-lookbehind", "2m"]
    for name, extra in (
        ("p90", []),
        ("p50 outside", ["--quantile-outside-events", "p50"]),
        ("wider at events", event_flags),
    ):
        out = tmp_path / f"{len(spent)}.json"
        assert main([*argv, *extra, "--json", str(out)]) == 0
        spent[name] = json.loads(out.read_text())["runs"]["prescaler"]["replica_minutes"]
    capsys.readouterr()
    assert spent["p50 outside"] < spent["p90"] < spent["wider at events"]


def test_simulate_reads_the_event_planning_flags_into_the_policy(scenario_files):
    from forecaster.cli_simulate import add_parser, build_config

    root, _ = scenario_files
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    base = ["simulate", "--csv", str(root / "load.csv"), "--capacity-per-replica", "100"]
    policy = build_config(parser.parse_args(base)).policy
    assert (policy.event_lookahead_s, policy.event_lookbehind_s, policy.event_band_scale) == (0.0, 0.0, 1.0)
    args = parser.parse_args(
        [*base, "--events", str(root / "events.csv"), "--event-lookahead", "3m", "--event-lookbehind", "90s"]
        + ["--event-band-scale", "1.15", "--quantile-outside-events", "p78"]
    )
    policy = build_config(args).policy
    assert (policy.event_lookahead_s, policy.event_lookbehind_s, policy.event_band_scale) == (
        180.0,
        90.0,
        1.15,
    )
    assert policy.quantile_outside_events == 0.78


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--quantile-outside-events", "p80"], "--quantile-outside-events needs --events"),
        (["--quantile-outside-events", "eighty", "--events", "EVENTS"], "--quantile-outside-events:"),
        (["--event-band-scale", "1.2"], "--event-band-scale needs --events"),
        (["--event-lookahead", "3m"], "--event-lookahead needs --events"),
        (["--event-lookbehind", "2m"], "--event-lookbehind needs --events"),
        (
            ["--event-band-scale", "0.5", "--events", "EVENTS"],
            "--event-band-scale must be a factor in [1, 10]",
        ),
        (
            ["--event-band-scale", "nan", "--events", "EVENTS"],
            "--event-band-scale must be a factor in [1, 10]",
        ),
        (["--event-lookahead", "soon", "--events", "EVENTS"], "--event-lookahead:"),
    ],
)
def test_simulate_refuses_a_quantile_outside_events_it_cannot_use(scenario_files, capsys, extra, message):
    root, _ = scenario_files
    extra = [str(root / "events.csv") if x == "EVENTS" else x for x in extra]
    argv = ["simulate", "--csv", str(root / "load.csv"), "--capacity-per-replica", "100", *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
