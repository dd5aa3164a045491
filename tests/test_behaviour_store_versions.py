"""Version names and the hints a store gives when something is wrong (:mod:`forecaster.store`), with one tiny
model: versions are named to the second in UTC (two saves a few seconds apart are two versions), a damaged
pointer's hint names the newest versions, and a store with no promoted target points at its newest version.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from forecaster.errors import ModelStoreError
from forecaster.store import POINTER_FILE, DamagedPointerError, ModelStore, resolve_model_dir
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

T0 = pd.Timestamp("2026-03-10 11:00:00")


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    train = dataclasses.replace(TINY_TRAIN, epochs=1, max_windows_per_epoch=64)
    return fit_forecaster(daily_sine(days=2), model=TINY_MODEL, train=train, name="tiny")


def test_versions_are_named_to_the_second_and_listed_oldest_first(tmp_path, model):
    store = ModelStore(tmp_path)
    first = store.save("web", model, now=T0 + pd.Timedelta(seconds=7))
    second = store.save("web", model, now=T0 + pd.Timedelta(seconds=37))
    assert first.version.startswith("20260310T110007Z-") and second.version.startswith("20260310T110037Z-")
    assert first.trained_at == "2026-03-10T11:00:07Z"
    assert store.versions("web") == [first.version, second.version]


def test_a_damaged_pointers_hint_names_the_newest_versions(tmp_path, model):
    store = ModelStore(tmp_path)
    refs = [store.save("web", model, now=T0 + pd.Timedelta(hours=h)) for h in range(5)]
    (tmp_path / "web" / POINTER_FILE).write_text("{")
    with pytest.raises(DamagedPointerError) as info:
        store.current("web")
    hint = info.value.hint
    assert all(r.version in hint for r in refs[-3:]), hint
    assert refs[0].version not in hint and refs[1].version not in hint


def test_a_store_without_a_promoted_target_points_at_its_newest_version(tmp_path, model):
    store = ModelStore(tmp_path)
    store.save("web", model, now=T0)
    newest = store.save("web", model, now=T0 + pd.Timedelta(hours=1))
    with pytest.raises(ModelStoreError, match="none was promoted") as info:
        resolve_model_dir(tmp_path)
    assert newest.version in info.value.hint


def test_a_key_under_a_file_reads_as_missing(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = store.save("web", model, now=T0)
    store.promote("web", ref.version, reason="first", now=T0)
    assert store.backend.read(f"web/{POINTER_FILE}/x") is None
    assert store.read_file("web", ref.version, "tuning.json") is None
