"""ModelStore.load_for: the one loader of a promoted model (forecast service and prescaler)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from forecaster.errors import ModelStoreError
from forecaster.store import DirectoryBackend, ModelStore
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 00:00")


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return fit_forecaster(daily_sine(days=6, noise=0.03), model=TINY_MODEL, train=TINY_TRAIN, name="tiny")


class CountingBackend(DirectoryBackend):
    """Counts reads per key, to hold the loader to one pointer read per call."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    def read(self, key: str) -> bytes | None:
        self.reads.append(key)
        return super().read(key)


def test_reads_the_pointer_once_and_reuses_the_model_until_the_pointer_changes(tmp_path, model):
    writer = ModelStore(tmp_path)
    backend = CountingBackend(tmp_path)
    reader = ModelStore(backend)
    assert reader.load_for("svc") is None  # nothing promoted: the caller decides (baseline, fail safe)

    first = writer.save("svc", model, now=NOW)
    writer.promote("svc", first.version, reason="first", now=NOW)
    backend.reads.clear()
    a = reader.load_for("svc", step=model.step, quantiles=model.quantiles)
    assert a is not None and a.ref.version == first.version
    assert backend.reads.count("svc/current.json") == 1
    backend.reads.clear()
    b = reader.load_for("svc", step=model.step, quantiles=model.quantiles)
    assert b is a and backend.reads == ["svc/current.json"]  # cached: only the small pointer is read

    second = writer.save("svc", model, now=NOW + pd.Timedelta(days=1))
    writer.promote("svc", second.version, reason="second", now=NOW)
    c = reader.load_for("svc")
    assert c is not None and c.ref.version == second.version and c is not a


def test_a_model_that_does_not_fit_the_config_is_refused(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW)
    store.promote("svc", ref.version, reason="t", now=NOW)
    other_step = pd.Timedelta(model.step) * 5
    with pytest.raises(ModelStoreError, match=f"forecasts in steps of .*the target's step is {other_step}"):
        store.load_for("svc", step=other_step)
    with pytest.raises(ModelStoreError, match="lacks quantile\\(s\\) p99") as info:
        store.load_for("svc", quantiles=(*model.quantiles, 0.99))
    assert "retrain" in str(info.value)
