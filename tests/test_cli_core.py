"""The command line of the forecasting core, end to end: train -> predict -> backtest, and bad input."""

import json

import numpy as np
import pytest
import torch

from forecaster.cli import main
from forecaster.sources.files import write_csv
from tests.helpers import daily_sine


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory):
    torch.set_num_threads(1)
    base = daily_sine(days=6)
    series = base * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, len(base))))
    path = tmp_path_factory.mktemp("data") / "svc.csv"
    write_csv(series, path)
    return path


@pytest.fixture(scope="module")
def trained_store(history_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    code = main(
        [
            "train",
            "--csv",
            str(history_csv),
            "--out",
            str(out),
            "--epochs",
            "8",  # enough to beat Holt-Winters on this drifting sine (promotion needs the best baseline)
            "--lookback",
            "1h",
            "--no-progress",
        ]
    )
    assert code == 0
    return out


def test_train_csv_promotes_and_predict_prints_json(trained_store, history_csv, capsys):
    assert (trained_store / "svc" / "current.json").is_file()
    capsys.readouterr()
    assert main(["predict", "--model", str(trained_store), "--csv", str(history_csv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["forecast"]) == 6  # 30 minutes at 5-minute steps
    first = out["forecast"][0]
    assert first["timestamp"] > out["history_end"]
    assert first["p90"] >= first["p50"] > 0


def test_predict_accepts_target_and_version_directories(trained_store, history_csv, capsys):
    target_dir = trained_store / "svc"
    version_dir = next((target_dir / "versions").iterdir())
    for model in (target_dir, version_dir):
        capsys.readouterr()
        assert main(["predict", "--model", str(model), "--csv", str(history_csv)]) == 0
        assert "p50" in capsys.readouterr().out


def test_backtest_writes_table_and_plot(trained_store, history_csv, tmp_path, capsys):
    plot = tmp_path / "bt.png"
    code = main(
        [
            "backtest",
            "--csv",
            str(history_csv),
            "--model",
            str(trained_store),
            "--plot",
            str(plot),
            "--json",
            str(tmp_path / "bt.json"),
        ]
    )
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scores = json.loads((tmp_path / "bt.json").read_text())
    assert {"lstm", "last_value", "seasonal_naive_daily", "holt_winters"} <= set(scores)
    assert "wape" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("when,what\n1,2\n", "expected columns 'timestamp,value'"),
        ("timestamp,value\n2026-01-01 00:00,1\n2026-01-01 00:05,x\n", "is not a number"),
        (
            "timestamp,value\n2026-01-01 00:00,1\n2026-01-01 00:05,2\n2026-01-01 00:10,3\n",
            "too short to train",
        ),
    ],
)
def test_bad_csv_gives_one_clear_line_and_leaves_the_store(trained_store, tmp_path, capsys, content, message):
    before = sorted(p.as_posix() for p in trained_store.rglob("*"))
    bad = tmp_path / "svc.csv"
    bad.write_text(content)
    assert main(["train", "--csv", str(bad), "--out", str(trained_store), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("forecaster train: error:") and message in err and "\n" not in err
    assert sorted(p.as_posix() for p in trained_store.rglob("*")) == before


def test_damaged_model_directory_is_refused(trained_store, history_csv, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_store, copy)
    version_dir = next((copy / "svc" / "versions").iterdir())
    (version_dir / "weights.safetensors").write_bytes(b"garbage")
    assert main(["predict", "--model", str(copy / "svc"), "--csv", str(history_csv)]) == 2
    assert "checksum" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "nowhere"), "--csv", str(history_csv)]) == 2
    assert "is not a model" in capsys.readouterr().err


def test_bad_config_is_named(tmp_path, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("name: svc\nmodel:\n  quantiles: [0.9]\n")
    assert main(["train", "--config", str(cfg)]) == 2
    assert "must include 0.5" in capsys.readouterr().err
    cfg.write_text("name: Bad_Name\n")
    assert main(["train", "--config", str(cfg)]) == 2
    assert "target name 'Bad_Name' is invalid" in capsys.readouterr().err


def test_demo_runs_the_main_job_on_synthetic_traffic(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--days", "4", "--epochs", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "holt_winters" in text and "seasonal_naive_daily" in text and "candidate" in text
    assert (out / "backtest.png").read_bytes()[:4] == b"\x89PNG"
    assert "(scheduled starts marked, one colour per kind)" in text
    assert (out / "live-streaming.csv").is_file()
    assert list((out / "models" / "live-streaming" / "versions").iterdir())


@pytest.mark.parametrize("damage", [b"{x", b""])
def test_train_recovers_from_a_damaged_pointer(trained_store, history_csv, tmp_path, capsys, caplog, damage):
    """A damaged current.json must not make every nightly run fail: it is replaced, and the output says so."""
    import shutil

    store = tmp_path / "store"
    shutil.copytree(trained_store, store)
    before = sorted(p.name for p in (store / "svc" / "versions").iterdir())
    (store / "svc" / "current.json").write_bytes(damage)
    capsys.readouterr()
    args = ["train", "--csv", str(history_csv), "--out", str(store), "--epochs", "8", "--lookback", "1h"]
    with caplog.at_level("WARNING"):
        assert main([*args, "--no-progress"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert " promoted: " in out and "current.json is damaged" in out
    assert "treating it as absent" in caplog.text
    after = sorted(p.name for p in (store / "svc" / "versions").iterdir())
    assert set(before) < set(after) and len(after) == len(before) + 1
    pointer = json.loads((store / "svc" / "current.json").read_text())
    assert pointer["version"] == (set(after) - set(before)).pop()
    assert (store / "svc" / "current.json.damaged").read_bytes() == damage


def _rewrite(history_csv, path, *, stamps=None, values=None):
    """A copy of the history CSV with other timestamps (strings or numbers) or values."""
    import pandas as pd

    frame = pd.read_csv(history_csv)
    if stamps is not None:
        frame["timestamp"] = stamps(pd.to_datetime(frame["timestamp"]))
    if values is not None:
        frame["value"] = values
    frame.to_csv(path, index=False)
    return path


def _predict_json(args, capsys):
    capsys.readouterr()
    code = main(["predict", *args, "--json"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_predict_reads_unix_seconds_like_dates(trained_store, history_csv, tmp_path, capsys):
    import pandas as pd

    unix = _rewrite(
        history_csv,
        tmp_path / "unix.csv",
        stamps=lambda t: (t - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1),
    )
    assert unix.read_text().splitlines()[1].split(",")[0].isdigit()
    code, dates, _ = _predict_json(["--model", str(trained_store), "--csv", str(history_csv)], capsys)
    assert code == 0
    code, seconds, err = _predict_json(["--model", str(trained_store), "--csv", str(unix)], capsys)
    assert code == 0, err
    assert json.loads(seconds)["forecast"] == json.loads(dates)["forecast"]


def test_predict_refuses_a_forecast_that_is_not_a_number(trained_store, history_csv, tmp_path, capsys):
    huge = _rewrite(history_csv, tmp_path / "huge.csv", values=1e308)
    for json_flag in ([], ["--json"]):
        capsys.readouterr()
        assert main(["predict", "--model", str(trained_store), "--csv", str(huge), *json_flag]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""  # no table of NaN, no bare NaN posing as JSON
        err = captured.err.strip()
        assert err.startswith("forecaster predict: error: the forecast is not a finite number"), err
        assert "the history's values reach 1e+308" in err and "\n" not in err


def test_predict_refuses_a_history_at_another_step(trained_store, tmp_path, capsys):
    """1-minute data for a 5-minute model: refused (as the API does), never thinned to one sample in five."""
    minutely = tmp_path / "minutely.csv"
    write_csv(daily_sine(days=2, step="1min"), minutely)
    code, out, err = _predict_json(["--model", str(trained_store), "--csv", str(minutely)], capsys)
    assert code == 2 and out == ""
    assert "the file's step is 1m; the model forecasts in steps of 5m" in err
    assert "resample the file to 5m" in err and "\n" not in err


def test_predict_snaps_slightly_jittered_timestamps(trained_store, history_csv, tmp_path, capsys):
    import pandas as pd

    def jitter(t):
        shift = pd.to_timedelta([0] + [(-1) ** i * 20 for i in range(1, len(t))], unit="s")
        return (t + shift).dt.strftime("%Y-%m-%d %H:%M:%S")

    jittered = _rewrite(history_csv, tmp_path / "jitter.csv", stamps=jitter)
    code, clean, _ = _predict_json(["--model", str(trained_store), "--csv", str(history_csv)], capsys)
    code, out, err = _predict_json(["--model", str(trained_store), "--csv", str(jittered)], capsys)
    assert code == 0, err
    assert json.loads(out) == json.loads(clean)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad_Name"}, "target name 'Bad_Name' is invalid"),
        ({"name": ""}, "target name '' is invalid"),
        ({"model": {"quantiles": (0.9,)}}, "quantiles must include 0.5"),
        ({"model": {"quantiles": (0.5, 1.5)}}, "must be distinct numbers strictly between 0 and 1"),
        ({"model": {"quantiles": (0.5, 0.5)}}, "must be distinct numbers strictly between 0 and 1"),
        ({"model": {"horizon": "30s"}}, "horizon and lookback must be at least one step (1m)"),
        ({"prometheus": {"step": "banana"}}, "cannot parse duration 'banana'"),
        ({"train": {"backtest": "soon"}}, "cannot parse duration 'soon'"),
        ({"train": {"epochs": 0}}, "train.epochs and train.batch_size must be at least 1"),
    ],
)
def test_target_config_is_validated_when_constructed(kwargs, message):
    """Not only YAML: a TargetConfig built in code (--csv, the demo, tests) is checked the same way."""
    from forecaster.errors import ConfigError
    from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig, TrainSettings

    sections = {"model": ModelSettings, "prometheus": PrometheusSettings, "train": TrainSettings}
    args = {"name": "svc"} | {k: sections[k](**v) if k in sections else v for k, v in kwargs.items()}
    with pytest.raises(ConfigError) as err:
        TargetConfig(**args)
    assert message in str(err.value) and str(err.value).startswith(f"target {args['name']!r}: ")
