"""What readers and the training job rely on in the model store (:mod:`forecaster.store`), with one tiny model:
the promoted model checked against the target's config, promotions picked up without a restart, the
pointer's history, files stored with a version, a killed writer's litter, and where a model directory points.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pandas as pd
import pytest
import torch

from forecaster.errors import ModelStoreError
from forecaster.store import (
    DAMAGED_POINTER_FILE,
    POINTER_FILE,
    DamagedPointerError,
    DirectoryBackend,
    ModelStore,
    resolve_model_dir,
)
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

T0 = pd.Timestamp("2026-03-10 11:00")


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    train = dataclasses.replace(TINY_TRAIN, epochs=1, max_windows_per_epoch=64)
    return fit_forecaster(daily_sine(days=2), model=TINY_MODEL, train=train, name="tiny")  # 5m, p50 + p90


def _save(store, model, target="web", minutes=0, **kw):
    return store.save(target, model, now=T0 + pd.Timedelta(minutes=minutes), **kw)


@pytest.mark.parametrize(
    ("step", "quantiles", "fits"),
    [
        ("5m", (0.5, 0.9), True),
        ("5m", (0.5,), True),  # the model may predict more than asked
        (pd.Timedelta(minutes=5), None, True),
        ("1m", (0.5, 0.9), False),  # finer
        ("10m", (0.5, 0.9), False),  # coarser
        ("5m", (0.5, 0.9, 0.99), False),
        ("5m", (0.1, 0.5), False),
    ],
)
def test_the_promoted_model_is_checked_against_the_targets_config(tmp_path, model, step, quantiles, fits):
    store = ModelStore(tmp_path)
    ref = _save(store, model)
    store.promote("web", ref.version, reason="first", now=T0)
    if fits:
        promoted = store.load_for("web", step=step, quantiles=quantiles)
        assert promoted is not None and promoted.ref.version == ref.version
    else:
        with pytest.raises(ModelStoreError, match="retrain|lacks") as info:
            store.load_for("web", step=step, quantiles=quantiles)
        assert ref.version in str(info.value)


def test_nothing_promoted_is_none_and_a_new_promotion_is_picked_up_without_a_restart(tmp_path, model):
    writer, reader = ModelStore(tmp_path), ModelStore(tmp_path)
    first = _save(writer, model)
    assert reader.load_for("web") is None
    writer.promote("web", first.version, reason="first", now=T0)
    assert reader.load_for("web").ref.version == first.version
    second = _save(writer, model, minutes=60)
    assert reader.load_for("web").ref.version == first.version  # saved, not promoted
    writer.promote("web", second.version, reason="better", now=T0 + pd.Timedelta(hours=1))
    assert reader.load_for("web").ref.version == second.version
    assert reader.load_current("web") is reader.load("web", second.version)


def test_each_promotion_records_the_one_before_and_every_version_is_kept(tmp_path, model):
    store = ModelStore(tmp_path)
    refs = [_save(store, model, minutes=m) for m in (0, 60, 120)]
    for k, ref in enumerate(refs):
        store.promote("web", ref.version, reason=f"round {k}", now=T0 + pd.Timedelta(hours=k))
        pointer = store.pointer("web")
        assert pointer["version"] == ref.version and pointer["reason"] == f"round {k}"
        assert pointer["previous"] == (refs[k - 1].version if k else None)
    assert store.versions("web") == [r.version for r in refs]  # oldest first
    assert store.current("web").version == refs[-1].version
    # promoting an older version again is a rollback, recorded as such
    store.promote("web", refs[0].version, reason="rollback", now=T0 + pd.Timedelta(hours=5))
    assert store.pointer("web")["previous"] == refs[-1].version


def test_versions_are_named_by_utc_time(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = store.save("web", model, now=pd.Timestamp("2026-03-10 12:00", tz="Europe/Berlin"))
    assert ref.version.startswith("20260310T110000Z-")
    assert ref.trained_at == "2026-03-10T11:00:00Z"


def test_metrics_and_extra_files_are_stored_with_the_version(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = _save(store, model, metrics={"wape": 0.12}, extra_files={"tuning.json": b'{"a": 1}'})
    assert store.ref("web", ref.version).metrics == {"wape": 0.12}
    assert store.read_file("web", ref.version, "tuning.json") == b'{"a": 1}'
    assert store.read_file("web", ref.version, "other.json") is None
    for name in ("manifest.json", "weights.safetensors", "a/b.json", ".hidden"):
        with pytest.raises(ModelStoreError, match="invalid extra file"):
            _save(store, model, minutes=1, extra_files={name: b"{}"})
    for version, name in ((ref.version, "../x"), ("latest", "tuning.json"), (ref.version, ".x")):
        with pytest.raises(ModelStoreError, match="invalid version or file name"):
            store.read_file("web", version, name)


@pytest.mark.parametrize("target", ["Web", "web_1", "../web", "", "-web"])
def test_an_invalid_target_name_is_refused(tmp_path, model, target):
    with pytest.raises(ModelStoreError, match="invalid target name"):
        ModelStore(tmp_path).save(target, model, now=T0)


def test_only_target_folders_and_version_names_are_listed(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = _save(store, model)
    (tmp_path / "Not_A_Target").mkdir()
    (tmp_path / "web" / "versions" / "draft").mkdir()
    (tmp_path / "web" / "versions" / ".tmp-x").mkdir()
    assert store.targets() == ["web"]
    assert store.versions("web") == [ref.version]


def test_promoting_over_a_damaged_pointer_keeps_its_bytes(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = _save(store, model)
    (tmp_path / "web" / POINTER_FILE).write_text('{"version": "latest"}')
    with pytest.raises(DamagedPointerError):
        store.load_for("web")
    store.promote("web", ref.version, reason="recover", now=T0)
    assert (tmp_path / "web" / DAMAGED_POINTER_FILE).read_text() == '{"version": "latest"}'
    assert store.pointer("web")["previous"] is None
    assert store.load_for("web").ref.version == ref.version


def test_a_version_that_does_not_exist_is_never_promoted(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = _save(store, model)
    with pytest.raises(ModelStoreError) as info:
        store.promote("web", "20990101T000000Z-deadbeef", reason="x", now=T0)
    assert ref.version in (info.value.hint or "")
    assert store.pointer("web") is None


@pytest.mark.parametrize("damage", ["weights", "manifest"])
def test_a_version_that_does_not_load_is_never_promoted(tmp_path, model, damage):
    store = ModelStore(tmp_path)
    good = _save(store, model)
    store.promote("web", good.version, reason="first", now=T0)
    bad = _save(store, model, minutes=60)
    if damage == "weights":
        (bad.path / "weights.safetensors").write_bytes(b"truncated")
    else:
        (bad.path / "manifest.json").write_text("{")
    with pytest.raises(ModelStoreError):
        ModelStore(tmp_path).promote("web", bad.version, reason="x", now=T0 + pd.Timedelta(hours=1))
    assert store.pointer("web")["version"] == good.version


@pytest.mark.parametrize(("age_s", "removed"), [(3599.0, False), (3601.0, True)])
def test_a_killed_writers_temporaries_are_removed_after_an_hour_untouched(tmp_path, age_s, removed):
    backend = DirectoryBackend(tmp_path)
    folder = tmp_path / "web" / "versions"
    folder.mkdir(parents=True)
    litter = folder / ".tmp-killed"
    litter.mkdir()
    (litter / "weights.safetensors").write_bytes(b"half")
    old = time.time() - age_s
    for p in (litter / "weights.safetensors", litter):
        os.utime(p, (old, old))

    backend.put_version("web/versions/v1", {"a": b"1"})

    assert litter.exists() is not removed
    assert (folder / "v1" / "a").read_bytes() == b"1"


def test_a_live_writers_folder_is_kept_when_one_file_in_it_is_fresh(tmp_path):
    backend = DirectoryBackend(tmp_path)
    folder = tmp_path / "web" / "versions"
    folder.mkdir(parents=True)
    live = folder / ".tmp-live"
    live.mkdir()
    old = time.time() - 7200
    os.utime(live, (old, old))
    (live / "fresh").write_bytes(b"x")  # written just now
    os.utime(live, (old, old))
    backend.put_version("web/versions/v1", {"a": b"1"})
    assert live.exists()


def test_the_directory_backend_refuses_to_overwrite_a_version_or_leave_the_root(tmp_path):
    backend = DirectoryBackend(tmp_path)
    backend.put_version("web/versions/v1", {"a": b"1"})
    with pytest.raises(ModelStoreError, match="already exists"):
        backend.put_version("web/versions/v1", {"a": b"2"})
    assert backend.read("web/versions/v1/a") == b"1"
    for key in ("../x", "web/../../x", "./web"):
        with pytest.raises(ModelStoreError, match="invalid store key"):
            backend.read(key)
    backend.put_atomic("web/current.json", b"{}")
    backend.put_atomic("web/current.json", b'{"v": 2}')
    assert backend.read("web/current.json") == b'{"v": 2}'
    assert backend.list_children("web") == ["current.json", "versions"]
    assert backend.read("nothing/here") is None


def test_a_model_directory_is_a_version_a_target_or_a_store_with_one_promoted_target(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = _save(store, model)
    with pytest.raises(ModelStoreError, match="none was promoted"):
        resolve_model_dir(tmp_path)
    store.promote("web", ref.version, reason="first", now=T0)
    assert resolve_model_dir(ref.path) == ref.path
    assert resolve_model_dir(tmp_path / "web") == ref.path
    assert resolve_model_dir(tmp_path) == ref.path
    other = _save(store, model, target="api")
    store.promote("api", other.version, reason="first", now=T0)
    with pytest.raises(ModelStoreError, match="several promoted targets"):
        resolve_model_dir(tmp_path)
    with pytest.raises(ModelStoreError, match="is not a model"):
        resolve_model_dir(tmp_path / "nothing")
    assert json.loads((tmp_path / "web" / POINTER_FILE).read_text())["version"] == ref.version
