"""Promotion and the model store keep what users rely on: the serving model only ever gets better, and nothing
stored is lost or half written.

- a candidate that loses to the current model on the same held-out data is saved but never promoted (the data
  here makes it really lose: the current model saw the held-out day, the candidate did not);
- a candidate whose backtest has no score (WAPE undefined on an idle day, or no window to score) is never
  promoted, not even into an empty store;
- promoting keeps every older version loadable, and the pointer names the one it replaced;
- a failure while the ``current.json`` pointer is written leaves the old pointer intact.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.model import Forecaster
from forecaster.promotion import train_target
from forecaster.settings import TargetConfig
from forecaster.store import POINTER_FILE, ModelStore
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 00:00")
TRAIN = dataclasses.replace(TINY_TRAIN, backtest="1d")
CFG = TargetConfig(name="svc", model=TINY_MODEL, train=TRAIN)


def _drifting(days: int = 6) -> pd.Series:
    """A daily cycle whose level wanders: the LSTM beats seasonal naive on it."""
    base = daily_sine(days=days)
    walk = np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, len(base))))
    return base * walk


@pytest.fixture(scope="module")
def series() -> pd.Series:
    return _drifting()


@pytest.fixture(scope="module")
def informed(series) -> Forecaster:
    """A model trained on the whole series, held-out day included: on that day it is hard to beat."""
    torch.set_num_threads(1)
    return fit_forecaster(series, model=TINY_MODEL, train=TRAIN, name="svc")


def _store_with(tmp_path, model: Forecaster, *, at: pd.Timestamp = NOW) -> tuple[ModelStore, str]:
    store = ModelStore(tmp_path / "store")
    ref = store.save("svc", model, metrics={"note": "seeded"}, now=at)
    store.promote("svc", ref.version, reason="seeded", now=at)
    return store, ref.version


# -- a worse candidate ------------------------------------------------------------------------------------------


def test_a_candidate_worse_than_the_current_model_is_never_promoted(tmp_path, series, informed):
    store, current = _store_with(tmp_path, informed)

    result = train_target(CFG, series, store=store, now=NOW + pd.Timedelta(days=1))

    scores = result.backtest.scores
    # The data exercises exactly the "beat the current model" rule: the candidate beats the baseline...
    assert scores["candidate"].wape < scores["seasonal_naive_daily"].wape
    # ...and really loses to the current model, by a clear margin (not a rounding tie; 5%: both forecasts
    # are guarded by the same baselines, which narrows the gap, 1.10x -> 1.099x here).
    assert scores["candidate"].wape > 1.05 * scores["current"].wape
    assert result.promoted is False
    assert "does not beat the current model" in result.reason
    assert store.current("svc").version == current
    assert store.pointer("svc")["reason"] == "seeded"
    assert result.previous_version == current
    assert result.saved.version in store.versions("svc")  # saved for inspection, not served


# -- no score ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "holdout_value"),
    [
        ("an idle held-out day: WAPE is undefined (0 / 0)", 0.0),
        ("a held-out day without data: no window can be scored", np.nan),
    ],
)
def test_a_candidate_without_a_backtest_score_is_never_promoted_into_an_empty_store(
    tmp_path, description, holdout_value
):
    torch.set_num_threads(1)
    series = daily_sine(days=5, noise=0.03)
    series.iloc[-288:] = holdout_value  # the backtest range is the last day
    store = ModelStore(tmp_path / "store")

    result = train_target(CFG, series, store=store, now=NOW)

    assert np.isnan(result.backtest.scores["candidate"].wape), description
    assert result.promoted is False, description
    assert result.reason.startswith("the backtest produced no score"), description
    assert store.pointer("svc") is None and store.current("svc") is None
    assert store.versions("svc") == [result.saved.version]  # saved, never served


# -- older versions ---------------------------------------------------------------------------------------------


def test_promotion_keeps_every_older_version_loadable(tmp_path, series, informed):
    store, first = _store_with(tmp_path, informed)
    before = store.load("svc", first).predict(series)
    versions = [first]
    for day in range(1, 4):
        ref = store.save("svc", informed, now=NOW + pd.Timedelta(days=day))
        store.promote("svc", ref.version, reason=f"day {day}", now=NOW + pd.Timedelta(days=day))
        assert store.pointer("svc")["previous"] == versions[-1]
        versions.append(ref.version)

    assert store.versions("svc") == sorted(versions)
    assert store.current("svc").version == versions[-1]
    # Every older version is still complete: a fresh reader loads it and forecasts exactly as before.
    fresh = ModelStore(tmp_path / "store")
    for version in versions:
        assert fresh.ref("svc", version).manifest["created_at"]
        pd.testing.assert_frame_equal(fresh.load("svc", version).predict(series), before)
    # So a rollback is one promotion away.
    fresh.promote("svc", first, reason="rollback", now=NOW + pd.Timedelta(days=5))
    assert ModelStore(tmp_path / "store").current("svc").version == first


# -- crash safety of the pointer ---------------------------------------------------------------------------------


class _HalfWritingFile:
    """A file that writes half of what it is given, then fails as a full disk does."""

    def __init__(self, inner):
        self._inner = inner

    def write(self, data):
        self._inner.write(data[: len(data) // 2])
        self._inner.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._inner.close()
        return False


def _fail_midway(monkeypatch):
    real_open, real_fdopen = builtins.open, os.fdopen

    def opener(real):
        def wrapped(file, mode="r", *args, **kwargs):
            handle = real(file, mode, *args, **kwargs)
            return _HalfWritingFile(handle) if "w" in mode or "a" in mode else handle

        return wrapped

    monkeypatch.setattr(builtins, "open", opener(real_open))
    monkeypatch.setattr(os, "fdopen", opener(real_fdopen))


def _fail(name):
    def install(monkeypatch):
        def boom(*args, **kwargs):
            raise OSError(5, f"I/O error in {name}")

        monkeypatch.setattr(os, name, boom)

    return install


@pytest.mark.parametrize(
    ("description", "install"),
    [
        ("the disk fills up halfway through the write", _fail_midway),
        ("flushing to disk fails", _fail("fsync")),
        ("the final rename fails", _fail("replace")),
    ],
)
def test_a_failed_pointer_write_leaves_the_old_pointer_intact(
    tmp_path, monkeypatch, informed, description, install
):
    store, first = _store_with(tmp_path, informed)
    second = store.save("svc", informed, now=NOW + pd.Timedelta(days=1)).version
    pointer_path = tmp_path / "store" / "svc" / POINTER_FILE
    before = pointer_path.read_bytes()
    listing = sorted(p.name for p in pointer_path.parent.iterdir())

    install(monkeypatch)
    with pytest.raises(OSError):
        store.promote("svc", second, reason="new", now=NOW + pd.Timedelta(days=1))
    monkeypatch.undo()

    assert pointer_path.read_bytes() == before, description
    assert json.loads(before)["version"] == first
    reader = ModelStore(tmp_path / "store")
    assert reader.current("svc").version == first
    reader.load_current("svc")
    assert sorted(p.name for p in pointer_path.parent.iterdir()) == listing  # no temporary file left behind
    # The store still works: the promotion succeeds once the disk does.
    store.promote("svc", second, reason="retry", now=NOW + pd.Timedelta(days=1))
    assert reader.current("svc").version == second
