"""The LSTM artifact and the model store: round trips, damage detection, atomic writes, promotion."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.errors import DataError, ModelStoreError
from forecaster.model import MANIFEST_FILE, WEIGHTS_FILE, Forecaster
from forecaster.promotion import train_target
from forecaster.settings import TargetConfig
from forecaster.store import DamagedPointerError, DirectoryBackend, ModelStore
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 00:00")


@pytest.fixture(scope="module")
def series():
    return daily_sine(days=6, noise=0.03)


@pytest.fixture(scope="module")
def model(series):
    torch.set_num_threads(1)
    return fit_forecaster(series, model=TINY_MODEL, train=TINY_TRAIN, name="tiny")


def _snapshot(root):
    return sorted((p.relative_to(root).as_posix(), p.read_bytes()) for p in root.rglob("*") if p.is_file())


def test_save_load_round_trip_gives_identical_forecasts(tmp_path, model, series):
    path = model.save(tmp_path / "m")
    loaded = Forecaster.load(path)
    model.reset()  # what earlier calls kept (see Forecaster.components) is not part of the artifact
    pd.testing.assert_frame_equal(loaded.predict(series), model.predict(series))
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    assert manifest["quantiles"] == [0.5, 0.9] and manifest["step_s"] == 300
    assert manifest["scaler"]["floor"] > 0  # normalisation is saved with the weights
    assert manifest["training"]["data_end"] == str(series.index[-1])


def test_weights_are_safetensors_not_pickle(tmp_path, model):
    raw = (model.save(tmp_path / "m") / WEIGHTS_FILE).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    # One network's tensors, or a seed ensemble's (``members.K.`` before each name).
    assert any(k == "lstm.weight_ih_l0" or k.endswith(".lstm.weight_ih_l0") for k in header)
    assert not raw.startswith(b"\x80")  # a pickle protocol marker


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda p: (p / WEIGHTS_FILE).write_bytes((p / WEIGHTS_FILE).read_bytes()[:-10] + b"x" * 10),
            "checksum",
        ),
        (lambda p: (p / WEIGHTS_FILE).unlink(), "weights.safetensors is missing"),
        (lambda p: (p / MANIFEST_FILE).write_text("{not json"), "not valid JSON"),
        (lambda p: _edit_manifest(p, format="other/9"), "unsupported model format"),
        (
            lambda p: _edit_manifest(
                p, architecture={"type": "QuantileLSTM", "hidden_size": 32, "num_layers": 1}
            ),
            "do not fit the architecture",
        ),
        (lambda p: _edit_manifest(p, drop="scaler"), "manifest is incomplete"),
    ],
)
def test_damaged_artifact_is_refused_clearly(tmp_path, model, damage, message):
    path = model.save(tmp_path / "m")
    damage(path)
    with pytest.raises(ModelStoreError, match=message):
        Forecaster.load(path)


def _edit_manifest(path, *, drop=None, **changes):
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest.update(changes)
    if drop:
        del manifest[drop]
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_predict_rejects_wrong_step_and_answers_a_short_history_from_the_fallback(model, series):
    with pytest.raises(DataError, match="does not match the model's step"):
        model.predict(series.resample("10min").mean())
    short = model.predict(series.iloc[:10])  # far less than the network's lookback
    assert short.attrs["answered_by"] == "fallback:recent-mean"
    assert "shorter than" in short.attrs["note"]
    assert np.isfinite(short.to_numpy()).all() and (short["p90"] >= short["p50"]).all()
    assert short["p50"].iloc[0] == pytest.approx(series.iloc[7:10].mean())  # the last 15 minutes
    assert model.predict(series).attrs["answered_by"].startswith("lstm")
    with pytest.raises(DataError, match="needs .* points"):  # backtests never fall back silently
        model.predict_many(series.iloc[:10], origins=None)
    with pytest.raises(DataError):
        model.predict(series.iloc[:0])


def test_predict_uses_only_the_past(model, series):
    a = model.predict(series.iloc[:1000])
    changed = series.copy()
    changed.iloc[1000:] = 0.0
    b = model.predict(changed.iloc[:1000])
    pd.testing.assert_frame_equal(a, b)
    assert a.index[0] == series.index[1000]


def test_store_save_promote_load_current(tmp_path, model, series):
    store = ModelStore(tmp_path)
    assert store.current("svc") is None
    with pytest.raises(ModelStoreError, match="no promoted model"):
        store.load_current("svc")
    ref = store.save("svc", model, metrics={"wape": 0.1}, now=NOW)
    assert store.current("svc") is None  # saved is not promoted
    store.promote("svc", ref.version, reason="test", now=NOW)
    assert store.current("svc").version == ref.version
    assert store.versions("svc") == [ref.version]
    assert store.targets() == ["svc"]
    pd.testing.assert_frame_equal(store.load_current("svc").predict(series), model.predict(series))


def test_readers_pick_up_a_new_promotion_without_restart(tmp_path, model):
    writer, reader = ModelStore(tmp_path), ModelStore(tmp_path)
    first = writer.save("svc", model, now=NOW)
    writer.promote("svc", first.version, reason="first", now=NOW)
    assert reader.current("svc").version == first.version
    reader.load_current("svc")
    second = writer.save("svc", model, now=NOW + pd.Timedelta(days=1))
    writer.promote("svc", second.version, reason="second", now=NOW)
    assert reader.current("svc").version == second.version
    assert reader.pointer("svc")["previous"] == first.version


def test_crash_while_writing_a_version_leaves_the_store_as_it_was(tmp_path, model, monkeypatch):
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW)
    store.promote("svc", ref.version, reason="first", now=NOW)
    before = _snapshot(tmp_path)

    real_open = open

    def failing_open(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).endswith(WEIGHTS_FILE):
            raise OSError(28, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(OSError):
        store.save("svc", model, now=NOW + pd.Timedelta(hours=1))
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before
    assert store.versions("svc") == [ref.version]


def test_a_killed_writers_temporaries_are_removed_by_the_next_writer(tmp_path, model, caplog):
    """Only temporaries untouched for STALE_TEMP_AGE_S go; a live writer's (fresh mtimes) stays."""
    import os
    import time

    from forecaster.store import STALE_TEMP_AGE_S

    store = ModelStore(tmp_path)
    first = store.save("svc", model, now=NOW)
    versions, target = tmp_path / "svc" / "versions", tmp_path / "svc"
    old_s = time.time() - STALE_TEMP_AGE_S - 60
    killed = versions / ".tmp-killed"
    killed.mkdir()
    (killed / WEIGHTS_FILE).write_bytes(b"half")
    killed_pointer = target / ".current.json.tmp-killed"
    killed_pointer.write_text('{"vers')
    for path in (killed / WEIGHTS_FILE, killed, killed_pointer):
        os.utime(path, (old_s, old_s))
    live = versions / ".tmp-live"  # a concurrent writer, busy writing its files right now
    live.mkdir()
    (live / WEIGHTS_FILE).write_bytes(b"in progress")
    os.utime(live, (old_s, old_s))  # an old folder whose file is still being written is not stale
    live_pointer = target / ".current.json.tmp-live"
    live_pointer.write_text("{")

    with caplog.at_level("WARNING", logger="forecaster.store"):
        second = store.save("svc", model, now=NOW + pd.Timedelta(days=1))
        store.promote("svc", second.version, reason="nightly", now=NOW + pd.Timedelta(days=1))
    assert not killed.exists() and not killed_pointer.exists()
    assert (live / WEIGHTS_FILE).read_bytes() == b"in progress" and live_pointer.exists()
    assert "left by a writer that stopped" in caplog.text
    assert store.versions("svc") == [first.version, second.version]
    assert store.current("svc").version == second.version


def test_damaged_pointer_and_bad_names(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW)
    (tmp_path / "svc" / "current.json").write_text("garbage")
    with pytest.raises(ModelStoreError, match="damaged"):
        store.current("svc")
    with pytest.raises(ModelStoreError, match="invalid target name"):
        store.current("../etc")
    with pytest.raises(ModelStoreError, match="invalid store key"):
        DirectoryBackend(tmp_path).read("svc/../../x")
    with pytest.raises(ModelStoreError, match="no model"):
        store.promote("svc", "20260101T000000Z-deadbeef", reason="x", now=NOW)
    assert ref.version in store.versions("svc")


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (b"{x", "not valid JSON"),
        (b"", "it is empty"),
        (b"  \n", "it is empty"),
        (b"[]", "no valid"),
        (b'{"version": "../../etc"}', "no valid"),
        (b'{"version": 7}', "no valid"),
    ],
)
def test_promotion_replaces_a_damaged_pointer_and_keeps_every_version(tmp_path, model, damage, why, caplog):
    store = ModelStore(tmp_path)
    first = store.save("svc", model, now=NOW)
    store.promote("svc", first.version, reason="first", now=NOW)
    (tmp_path / "svc" / "current.json").write_bytes(damage)
    with pytest.raises(DamagedPointerError, match=f"current.json is damaged \\({why}") as err:
        store.current("svc")
    assert isinstance(err.value, ModelStoreError) and "no version is lost" in err.value.hint

    second = store.save("svc", model, now=NOW + pd.Timedelta(days=1))
    with caplog.at_level("WARNING", logger="forecaster.store"):
        store.promote("svc", second.version, reason="nightly", now=NOW + pd.Timedelta(days=1))
    assert "treating it as absent" in caplog.text and second.version in caplog.text
    assert store.current("svc").version == second.version
    assert store.pointer("svc")["previous"] is None
    assert (tmp_path / "svc" / "current.json.damaged").read_bytes() == damage
    assert store.versions("svc") == [first.version, second.version]


def _drifting(days=6):
    """A daily cycle whose level wanders: yesterday is a poor guide, so the LSTM can beat seasonal naive."""
    base = daily_sine(days=days)
    walk = np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, len(base))))
    return base * walk


def test_promotion_promotes_a_winner_over_the_seasonal_baseline_then_over_the_current_model(tmp_path):
    torch.set_num_threads(1)
    series = _drifting()
    store = ModelStore(tmp_path)
    cfg = TargetConfig(
        name="svc", model=TINY_MODEL, train=TINY_TRAIN.__class__(**{**TINY_TRAIN.__dict__, "backtest": "1d"})
    )
    first = train_target(cfg, series, store=store, now=NOW)
    assert first.promoted, first.reason
    assert "beats the best baseline" in first.reason
    best = first.backtest.best_baseline(exclude=("candidate", "current"))
    assert f"({best} " in first.reason  # the message names the baseline whose score it quotes
    assert store.current("svc").version == first.saved.version
    models = first.metrics["backtest"]["models"]
    assert {"candidate", "last_value", "seasonal_naive_daily", "holt_winters"} <= set(models)
    assert models["candidate"]["wape"] < models["seasonal_naive_daily"]["wape"]

    # A current model that is really worse (its own network only, forecasting 30% of the level too high) is
    # replaced by a new one that beats it and the best baseline on the same held-out range. (A loser that is
    # kept out is pinned by tests/test_guarantees_promotion.py, on data where it really loses.)
    poor = store.load("svc", first.saved.version)
    poor = Forecaster.from_bytes(poor.to_bytes())
    poor.blend, poor.weighting = {"lstm": 1.0}, None
    with torch.no_grad():
        for net in getattr(poor.network, "members", [poor.network]):  # a seed ensemble: every member
            net.head[-1].bias.view(poor.horizon_steps, -1)[:, 0] += 0.3
    worse = store.save("svc", poor, now=NOW + pd.Timedelta(hours=1))
    store.promote("svc", worse.version, reason="test: a worse current model", now=NOW + pd.Timedelta(hours=1))
    second = train_target(cfg, series, store=store, now=NOW + pd.Timedelta(days=1))
    scores = second.backtest.scores
    assert second.promoted, second.reason
    assert scores["candidate"].wape < scores["current"].wape
    assert f"and current {worse.version}" in second.reason
    assert store.current("svc").version == second.saved.version
    assert store.pointer("svc")["previous"] == worse.version
    assert set(store.versions("svc")) == {first.saved.version, worse.version, second.saved.version}


def test_promotion_refuses_a_model_that_loses_to_seasonal_naive(tmp_path):
    # A perfectly periodic series: seasonal naive is exact, nothing can beat it.
    torch.set_num_threads(1)
    series = daily_sine(days=6)
    cfg = TargetConfig(name="svc", model=TINY_MODEL, train=TINY_TRAIN)
    result = train_target(cfg, series, store=ModelStore(tmp_path), now=NOW)
    assert not result.promoted
    assert "does not beat the best baseline (seasonal_naive_daily" in result.reason
    assert ModelStore(tmp_path).current("svc") is None


def test_training_is_deterministic_for_a_seed(series):
    torch.set_num_threads(1)
    a = fit_forecaster(series, model=TINY_MODEL, train=TINY_TRAIN, name="a")
    b = fit_forecaster(series, model=TINY_MODEL, train=TINY_TRAIN, name="b")
    np.testing.assert_array_equal(a.predict(series).to_numpy(), b.predict(series).to_numpy())


def test_training_masks_long_gaps_and_rejects_short_history(series):
    torch.set_num_threads(1)
    gappy = series.copy()
    gappy.iloc[500:600] = np.nan
    model = fit_forecaster(gappy, model=TINY_MODEL, train=TINY_TRAIN, name="gappy")
    assert np.isfinite(model.predict(gappy).to_numpy()).all()
    with pytest.raises(DataError, match="history too short to train"):
        fit_forecaster(series.iloc[:40], model=TINY_MODEL, train=TINY_TRAIN, name="short")


def test_blend_leans_on_seasonal_naive_when_yesterday_is_exact():
    torch.set_num_threads(1)
    series = daily_sine(days=6)  # perfectly periodic: seasonal naive is exact
    model = fit_forecaster(series, model=TINY_MODEL, train=TINY_TRAIN, name="periodic")
    assert model.blend.get("seasonal_naive", 0) >= 0.5
    scores = model.info["training"]["blend_validation_wape"]
    assert scores["blend"] <= min(scores["lstm"], scores["last_value"], scores["seasonal_naive"]) + 1e-9
    history = series.iloc[:-6]
    forecast = model.predict(history)
    np.testing.assert_allclose(forecast["p50"].to_numpy(), series.iloc[-6:].to_numpy(), rtol=0.05)
    assert (forecast["p90"] >= forecast["p50"]).all()


@pytest.mark.parametrize(
    ("blend", "ok"),
    [
        (None, True),  # artifacts written before blending existed keep loading: plain LSTM
        ({"lstm": 0.5, "last_value": 0.5}, True),
        ({"lstm": 0.5, "last_value": 0.6}, False),  # must sum to one
        ({"lstm": 1.0, "prophet": 0.0}, False),  # unknown member
        ({"lstm": -0.5, "last_value": 1.5}, False),
        ({"lstm": 0.5, "holt_winters": 0.5}, False),  # a Holt-Winters weight needs its saved state
    ],
)
def test_manifest_blend_is_checked(tmp_path, model, blend, ok):
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    if blend is None:
        manifest.pop("blend", None)
    else:
        manifest["blend"] = blend
        if "holt_winters" in blend:
            manifest["holt_winters"] = None
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    if ok:
        loaded = Forecaster.load(path)
        assert loaded.blend == (blend or {"lstm": 1.0})
    else:
        with pytest.raises(ModelStoreError, match="blend|Holt-Winters"):
            Forecaster.load(path)


def test_holt_winters_blend_member_round_trips(tmp_path):
    torch.set_num_threads(1)
    series = daily_sine(days=6, noise=0.01)
    model = fit_forecaster(series, model=TINY_MODEL, train=TINY_TRAIN, name="hw")
    assert "holt_winters" in model.info["training"]["blend_validation_wape"]  # it was a candidate member
    model.blend = {"lstm": 0.5, "holt_winters": 0.5}
    if model.holt_winters is None:  # the fit did not pick it; attach one to exercise the artifact
        from forecaster.training import _fit_holt_winters

        model.holt_winters = _fit_holt_winters(series.to_numpy(), series.index, step=model.step, horizon=6)
    loaded = Forecaster.load(model.save(tmp_path / "m"))
    assert loaded.blend == model.blend and loaded.holt_winters is not None
    pd.testing.assert_frame_equal(loaded.predict(series), model.predict(series))
