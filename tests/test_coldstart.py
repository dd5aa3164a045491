"""Cold start: a pretrained network, fine-tuned on a short history, and the fallback for a shorter one.

Tiny networks pretrained here in seconds (the shipped ones are checked for loading only).
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.cli import main
from forecaster.errors import ConfigError
from forecaster.model import MANIFEST_FILE, WEIGHTS_FILE, Forecaster
from forecaster.pretrain import (
    DEFAULT_PRETRAINED_DIR,
    PretrainSettings,
    cold_start_plan,
    pretrain,
    synthetic_series,
    variant_name,
)
from forecaster.settings import TrainSettings, target_config_from_dict
from forecaster.sources.files import write_csv
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

STEP = pd.Timedelta("5min")
TINY_CORPUS = PretrainSettings(series=6, days=3, windows_per_series=60, epochs=2, batch_size=64)


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pretrained")
    for daily in (True, False):
        net = pretrain(step=STEP, daily=daily, model=TINY_MODEL, settings=TINY_CORPUS)
        net.save(root / variant_name(STEP, daily=daily))
    return root


@pytest.fixture(scope="module")
def cold_model(pretrained_dir) -> Forecaster:
    series = daily_sine(days=3, noise=0.05, seed=3)
    train = dataclasses.replace(TINY_TRAIN, pretrained=str(pretrained_dir))
    return fit_forecaster(series, model=TINY_MODEL, train=train, name="svc")


def test_synthetic_corpus_is_deterministic_finite_and_varied():
    a = [synthetic_series(np.random.default_rng(5), step=STEP, days=2) for _ in range(2)]
    assert a[0].equals(a[1])  # the same seed, the same series
    rng = np.random.default_rng(0)
    many = [synthetic_series(rng, step=STEP, days=2) for _ in range(20)]
    for s in many:
        assert len(s) == 576 and np.isfinite(s.to_numpy()).all() and (s >= 0).all()
    means = [s.mean() for s in many]
    assert max(means) / max(min(means), 1e-9) > 100  # levels spread over orders of magnitude


def test_pretraining_beats_its_persistence_start(pretrained_dir):
    net = Forecaster.load(pretrained_dir / variant_name(STEP, daily=True))
    info = net.info["pretrained"]
    assert info["corpus"]["synthetic_series"] == TINY_CORPUS.series
    assert info["validation_pinball"] <= info["validation_pinball_untrained"]
    assert net.spec.season == 288 and net.spec.lookback == 12


def test_short_history_fine_tunes_the_pretrained_network_and_says_so(cold_model, pretrained_dir):
    cold = cold_model.info["training"]["cold_start"]
    assert cold["fine_tuned"] is True
    assert cold["pretrained"] == "5m-daily" and "fine-tuned the pretrained network 5m-daily" in cold["reason"]
    assert len(cold["pretrained_weights_sha256"]) == 64
    # From scratch, three days would get no daily lags; the fine-tuned network keeps the pretrained reading
    # of yesterday.
    assert cold_model.spec.season == 288
    history = daily_sine(days=3, noise=0.05, seed=4)
    forecast = cold_model.predict(history)
    assert forecast.attrs["answered_by"].startswith("lstm-fine-tuned")
    assert np.isfinite(forecast.to_numpy()).all() and (forecast["p90"] >= forecast["p50"]).all()
    # The artifact keeps saying so after a round trip through the store format.
    assert (
        Forecaster.from_bytes(cold_model.to_bytes())
        .predict(history)
        .attrs["answered_by"]
        .startswith("lstm-fine-tuned")
    )


def test_fine_tuning_starts_from_the_pretrained_weights(pretrained_dir):
    """With no epoch kept (the learning rate is zero), the fine-tuned network IS the pretrained one."""
    series = daily_sine(days=3, noise=0.05, seed=3)
    train = dataclasses.replace(TINY_TRAIN, pretrained=str(pretrained_dir), learning_rate=0.0, blend=False)
    model = fit_forecaster(series, model=TINY_MODEL, train=train)
    net = Forecaster.load(pretrained_dir / "5m-daily")
    for key, value in net.network.state_dict().items():
        assert torch.equal(model.network.state_dict()[key], value), key


@pytest.mark.parametrize(
    ("days", "changes", "settings", "reason"),
    [
        (8, {}, {"init": "scratch"}, "at least 7d: trained from scratch"),
        (3, {"hidden_size": 16}, {}, "the settings ask"),
        (3, {"lookback": "2h"}, {}, "the settings ask"),
        (3, {}, {"pretrained": "off"}, "turned off"),
        (
            3,
            {},
            {"pretrained": "/nonexistent"},
            "no pretrained network 5m-daily (daily variant for a 5m step)",
        ),
    ],
)
def test_history_or_settings_that_do_not_fit_train_from_scratch_and_say_why(
    pretrained_dir, days, changes, settings, reason
):
    series = daily_sine(days=days)
    train = dataclasses.replace(TrainSettings(), **{"pretrained": str(pretrained_dir), **settings})
    model = dataclasses.replace(TINY_MODEL, **changes)
    plan = cold_start_plan(series, step=STEP, model=model, train=train)
    assert plan.pretrained is None and reason in plan.reason


def test_two_days_or_less_fine_tune_the_flat_variant(pretrained_dir):
    train = dataclasses.replace(TrainSettings(), pretrained=str(pretrained_dir))
    assert cold_start_plan(
        daily_sine(days=1.5), step=STEP, model=TINY_MODEL, train=train
    ).pretrained.name == ("5m-flat")
    assert cold_start_plan(daily_sine(days=2), step=STEP, model=TINY_MODEL, train=train).pretrained.name == (
        "5m-daily"
    )


def test_history_too_short_for_the_network_is_answered_by_the_pretrained_fallback(cold_model):
    history = daily_sine(days=3, noise=0.05, seed=4)
    short = history.iloc[-30:]  # 2.5 hours: the flat network's hour, not the day + hour of the model's own
    assert len(short) < cold_model.min_history_steps
    forecast = cold_model.predict(short)
    assert forecast.attrs["answered_by"] == "fallback:pretrained:5m-flat"
    assert "pretrained network 5m-flat" in forecast.attrs["note"]
    assert np.isfinite(forecast.to_numpy()).all() and (forecast["p90"] >= forecast["p50"]).all()
    level = short.iloc[-12:].mean()
    assert np.all((forecast["p50"] > level / 3) & (forecast["p50"] < level * 3))
    # Shorter than even the flat network's lookback: the statistical fallback, named.
    tiny = cold_model.predict(short.iloc[-5:])
    assert tiny.attrs["answered_by"] == "fallback:recent-mean" and np.isfinite(tiny.to_numpy()).all()
    # A gap in the short history is carried over, never NaN in the output.
    gappy = short.copy()
    gappy.iloc[-8:-3] = np.nan
    assert np.isfinite(cold_model.predict(gappy).to_numpy()).all()


def test_pretrained_artifacts_load_without_unpickling(pretrained_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model file must never be unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    shipped = sorted(DEFAULT_PRETRAINED_DIR.glob("*/" + MANIFEST_FILE))
    assert {p.parent.name for p in shipped} >= {"5m-daily", "5m-flat"}
    for manifest in [*shipped, *pretrained_dir.glob("*/" + MANIFEST_FILE)]:
        net = Forecaster.load(manifest.parent)
        assert net.info["pretrained"]["variant"] == manifest.parent.name
        assert (manifest.parent / WEIGHTS_FILE).stat().st_size < 2_000_000  # small enough to ship in git
    assert (DEFAULT_PRETRAINED_DIR / "MODEL_CARD.md").is_file()


def test_cli_pretrain_writes_the_variants_and_a_card_and_train_says_it_fine_tuned(
    tmp_path, monkeypatch, capsys
):
    torch.set_num_threads(1)
    out = tmp_path / "pre"
    args = ["pretrain", "--step", "5m", "--out", str(out), "--series", "4", "--days", "3"]
    assert main([*args, "--windows-per-series", "20", "--epochs", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "5m-daily:" in text and "5m-flat:" in text
    assert {p.name for p in out.iterdir()} == {"5m-daily", "5m-flat", "MODEL_CARD.md"}
    assert "| 5m-daily |" in (out / "MODEL_CARD.md").read_text()
    assert main([*args, "--no-progress"]) == 2  # an existing variant is not overwritten silently
    assert "--replace" in capsys.readouterr().err

    csv = tmp_path / "svc.csv"
    write_csv(daily_sine(days=3, noise=0.05), csv)
    monkeypatch.setenv("FORECASTER_PRETRAINED", str(out))
    store = tmp_path / "store"
    assert main(["train", "--csv", str(csv), "--out", str(store), "--epochs", "1", "--no-progress"]) == 0
    # Promotion holds out the last fifth: the model is fine-tuned on the first 2.4 days.
    assert re.search(
        r"cold start: 2d9h\d*m? of history is less than 7d: fine-tuned the pretrained network 5m-daily",
        capsys.readouterr().out,
    )


def _level_powers(monkeypatch) -> list[float]:
    """The powers training asks :func:`forecaster.training.level_weights` for (0: every window alike)."""
    from forecaster import training

    seen: list[float] = []
    plain = training.level_weights

    def recording(level, *, power, log_level_std):
        seen.append(power)
        return plain(level, power=power, log_level_std=log_level_std)

    monkeypatch.setattr(training, "level_weights", recording)
    return seen


def test_init_pretrained_fine_tunes_a_full_history_and_the_manifest_says_from_which_network(
    pretrained_dir, monkeypatch
):
    series = daily_sine(days=8, noise=0.05, seed=3)  # more than cold_start_span
    train = dataclasses.replace(TINY_TRAIN, pretrained=str(pretrained_dir), blend=False)
    assert TrainSettings().init == "pretrained"  # the default since session 12 (README, issue 10)
    default = cold_start_plan(series, step=STEP, model=TINY_MODEL, train=train)
    assert default.pretrained is not None and default.full_history
    scratch = dataclasses.replace(train, init="scratch")
    assert (
        "at least 7d: trained from scratch"
        in cold_start_plan(series, step=STEP, model=TINY_MODEL, train=scratch).reason
    )
    powers = _level_powers(monkeypatch)
    frozen = dataclasses.replace(train, init="pretrained", learning_rate=0.0)
    model = fit_forecaster(series, model=TINY_MODEL, train=frozen, name="svc")
    cold = model.info["training"]["cold_start"]
    assert cold["init"] == "pretrained" and cold["full_history"] is True and cold["fine_tuned"] is True
    assert "train.init: pretrained: fine-tuned the pretrained network 5m-daily" in cold["reason"]
    assert "on 8d of history" in cold["reason"]
    where = pretrained_dir / "5m-daily"
    assert cold["pretrained_from"] == str(where.resolve())
    manifest = json.loads((where / MANIFEST_FILE).read_text())
    assert cold["pretrained_weights_sha256"] == manifest["weights"]["sha256"]
    net = Forecaster.load(where)
    for key, value in net.network.state_dict().items():  # no epoch kept: it IS the pretrained network
        assert torch.equal(model.network.state_dict()[key], value), key
    # A full history is fine-tuned on the level-weighted loss, as from scratch; a cold start every window alike.
    assert set(powers) == {1.0}
    powers.clear()
    fit_forecaster(daily_sine(days=3, noise=0.05, seed=3), model=TINY_MODEL, train=frozen)
    assert set(powers) == {0.0}


def test_an_ensemble_fine_tunes_every_member_from_the_pretrained_network_on_its_own_draws(pretrained_dir):
    # train.ensemble_members was ignored when fine-tuning (one network) until session 13.
    from forecaster.nn import EnsembleLSTM

    series = daily_sine(days=8, noise=0.05, seed=3)
    train = dataclasses.replace(TINY_TRAIN, pretrained=str(pretrained_dir), blend=False, ensemble_members=2)
    start = Forecaster.load(pretrained_dir / "5m-daily").network.state_dict()
    frozen = fit_forecaster(series, model=TINY_MODEL, train=dataclasses.replace(train, learning_rate=0.0))
    assert isinstance(frozen.network, EnsembleLSTM) and frozen.architecture["ensemble"] == 2
    assert frozen.info["training"]["cold_start"]["fine_tuned"] is True
    for member in frozen.network.members:  # every member starts from the pretrained weights
        for key, value in start.items():
            assert torch.equal(member.state_dict()[key], value), key
    model = fit_forecaster(series, model=TINY_MODEL, train=train)
    assert len(model.info["training"]["ensemble_members"]) == 2
    first, second = (m.state_dict() for m in model.network.members)
    assert any(not torch.equal(first[k], start[k]) for k in start), "the first member was fine-tuned"
    assert any(not torch.equal(first[k], second[k]) for k in start), "the members saw different draws"


def test_a_count_series_fine_tunes_the_pretrained_network_on_the_anscombe_scale(pretrained_dir):
    # value_transform: auto (the default) holds for a fine-tuned network too (until session 13 it read raw counts).
    base = daily_sine(days=8, noise=0.05, seed=3).clip(lower=0)
    counts = pd.Series(
        np.random.default_rng(0).poisson(base.to_numpy() * 0.3).astype(float), index=base.index
    )
    train = dataclasses.replace(TINY_TRAIN, pretrained=str(pretrained_dir), blend=False)
    model = fit_forecaster(counts, model=TINY_MODEL, train=train)
    assert model.info["training"]["cold_start"]["fine_tuned"] is True
    assert model.value_transform == "anscombe"
    forecast = model.predict(counts)
    assert np.isfinite(forecast.to_numpy()).all() and (forecast.to_numpy() >= 0).all()
    assert 0.3 < forecast["p50"].mean() / counts.iloc[-12:].mean() < 3  # the series' unit, not the network's
    raw = dataclasses.replace(TINY_MODEL, value_transform="none")
    assert fit_forecaster(counts, model=raw, train=train).value_transform == "none"


def test_init_pretrained_trains_from_scratch_when_the_network_does_not_fit_and_says_why(pretrained_dir):
    series = daily_sine(days=15)
    train = dataclasses.replace(TrainSettings(), pretrained=str(pretrained_dir), init="pretrained")
    weekly = dataclasses.replace(TINY_MODEL, weekly_lags=True)
    plan = cold_start_plan(series, step=STEP, model=weekly, train=train)
    assert plan.pretrained is None and "read no weekly lags: trained from scratch" in plan.reason
    plan = cold_start_plan(
        series, step=STEP, model=dataclasses.replace(TINY_MODEL, hidden_size=16), train=train
    )
    assert plan.pretrained is None and "the settings ask" in plan.reason
    off = dataclasses.replace(train, pretrained="off")
    assert "turned off" in cold_start_plan(series, step=STEP, model=TINY_MODEL, train=off).reason
    plan = cold_start_plan(series, step=STEP, model=TINY_MODEL, train=train)
    assert plan.pretrained is not None and plan.full_history


@pytest.mark.parametrize("init", ["fresh", "", None, "Pretrained"])
def test_an_unknown_init_is_refused_before_training(init):
    with pytest.raises(ConfigError, match="train.init"):
        fit_forecaster(daily_sine(days=3), model=TINY_MODEL, train=dataclasses.replace(TINY_TRAIN, init=init))
    with pytest.raises(ConfigError, match="train.init"):
        target_config_from_dict({"name": "web", "train": {"init": init}})


FLEET_TARGET = """apiVersion: forecasting.forecaster.io/v1alpha1
kind: ForecastTarget
metadata: {{name: {name}}}
spec:
  prometheus: {{query: 'sum(rate(http_requests_total{{service="{name}"}}[1m]))', step: 5m, history: 4d}}
  model: {{lookback: 2h, horizon: 30m}}
  train: {{backtest: 12h, init: pretrained}}
"""


def test_fleet_pretrain_learns_every_target_up_to_its_backtest_and_skips_a_broken_one(
    tmp_path, monkeypatch, capsys
):
    import forecaster.pretrain as pretrain_module
    import forecaster.sources.prometheus as prometheus_source
    from forecaster.sources.synthetic import live_streaming

    torch.set_num_threads(1)
    targets = tmp_path / "targets"
    targets.mkdir()
    for name in ("alpha", "beta", "broken"):
        (targets / f"{name}.yaml").write_text(FLEET_TARGET.format(name=name))
    (targets / "gamma.yaml").write_text(FLEET_TARGET.format(name="gamma").replace("30m", "soon"))
    ends: dict[str, pd.Timestamp] = {}

    def fetch_history(settings, *, now, history=None):
        if "broken" in settings.query:
            raise prometheus_source.SourceError("Prometheus answered 503", hint="try again")
        s = live_streaming(
            days=4, step=settings.step, seed=len(settings.query), start=now.floor("D") - pd.Timedelta(days=4)
        )
        ends[settings.query] = s.index[-1]
        return s

    given: list[pd.Series] = []
    real = pretrain_module.pretrain

    def recording(**kwargs):
        given.extend(kwargs["extra"])
        return real(**kwargs)

    monkeypatch.setattr(prometheus_source, "fetch_history", fetch_history)
    monkeypatch.setattr(pretrain_module, "pretrain", recording)
    out = tmp_path / "fleet"
    args = [
        "pretrain",
        "--step",
        "5m",
        "--variant",
        "daily",
        "--out",
        str(out),
        "--series",
        "2",
        "--days",
        "3",
    ]
    assert (
        main(
            [*args, "--windows-per-series", "20", "--epochs", "1", "--no-progress", "--targets", str(targets)]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "skipped broken: Prometheus answered 503" in captured.err
    assert "skipped gamma" in captured.err and "spec.model.horizon" in captured.err
    assert len(given) == 2 and len(ends) == 2
    for series, end in zip(given, ends.values(), strict=True):
        # The promotion backtest (12h) stays unseen by the network the target will start from.
        assert series.index[-1] < end - pd.Timedelta(hours=12)
        assert series.index[-1] >= end - pd.Timedelta(hours=12, minutes=5)
        assert pd.Timedelta(series.index.freq) == STEP
    corpus = Forecaster.load(out / "5m-daily").info["pretrained"]["corpus"]
    assert corpus["extra_series"] == 2 and corpus["synthetic_series"] == 2


def test_pretraining_can_weight_each_window_by_its_level_within_its_series():
    from forecaster.pretrain import _windows, spec_for

    series = daily_sine(days=3, noise=0.05, seed=2)
    spec = spec_for(STEP, model=TINY_MODEL, daily=True)
    kw = {"spec": spec, "step": STEP, "n_windows": 200, "rng": np.random.default_rng(0)}
    *_, alike = _windows(series, **kw)
    past, future, level, target, weight = _windows(
        series, **{**kw, "rng": np.random.default_rng(0)}, level_weight_power=1.0
    )
    assert np.all(alike == 1.0)
    assert weight.mean() == pytest.approx(1.0, rel=1e-5)
    # The busiest window weighs the most: the daily cycle runs 0.5x-1.5x, so about three times the quietest.
    assert np.argmax(weight) == np.argmax(level[:, 0]) and 2.0 < weight.max() / weight.min() < 4.0
    settings = dataclasses.replace(TINY_CORPUS, level_weight_power=1.0, series=3, epochs=1)
    net = pretrain(step=STEP, daily=True, model=TINY_MODEL, settings=settings)
    assert net.info["pretrained"]["settings"]["level_weight_power"] == 1.0
    assert np.isfinite(net.info["pretrained"]["validation_pinball"])
