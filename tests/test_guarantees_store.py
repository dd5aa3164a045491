"""The model store's contract on a directory, with one tiny model (trained once, about a second): version names,
the pointer's content, what readers see, and refusals that say what exists and what to do.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pandas as pd
import pytest
import torch

from forecaster.errors import ModelStoreError
from forecaster.model import MANIFEST_FILE, WEIGHTS_FILE, Forecaster
from forecaster.store import POINTER_FILE, DirectoryBackend, ModelStore, StoreBackend
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 12:00", tz="Europe/Berlin")  # 11:00 UTC
DAMAGED_HINT = "the next promotion by 'forecaster train' replaces it (no version is lost)"


@pytest.fixture(scope="module")
def model() -> Forecaster:
    torch.set_num_threads(1)
    train = dataclasses.replace(TINY_TRAIN, epochs=1, max_windows_per_epoch=64)
    return fit_forecaster(daily_sine(days=2), model=TINY_MODEL, train=train, name="tiny")


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path)


def _problem(call) -> tuple[str, str | None]:
    with pytest.raises(ModelStoreError) as err:
        call()
    return err.value.problem, err.value.hint


def test_a_saved_version_is_named_by_utc_time_and_weights_and_carries_its_metrics(store, tmp_path, model):
    ref = store.save("svc", model, metrics={"wape": 0.1}, now=NOW)
    digest = json.loads((tmp_path / "svc" / "versions" / ref.version / MANIFEST_FILE).read_text())["weights"][
        "sha256"
    ]
    assert ref.version == f"20260310T110000Z-{digest[:8]}"
    assert ref.target == "svc" and ref.trained_at == "2026-03-10T11:00:00Z"
    assert ref.metrics == {"wape": 0.1} and ref.manifest["metrics"] == {"wape": 0.1}
    assert (
        ref.location == f"{tmp_path}/svc/versions/{ref.version}"
        and ref.path == tmp_path / "svc" / "versions" / ref.version
    )
    assert sorted(p.name for p in ref.path.iterdir()) == [MANIFEST_FILE, WEIGHTS_FILE]
    assert repr(store) == f"ModelStore({str(tmp_path)!r})"
    naive = store.save("svc", model, now=pd.Timestamp("2026-03-11 08:30:05"))
    assert naive.version.startswith("20260311T083005Z-") and naive.trained_at == "2026-03-11T08:30:05Z"
    assert naive.metrics == {"wape": 0.1}  # metrics=None keeps what the model already carries


def test_the_pointer_names_version_time_reason_and_previous(store, tmp_path, model):
    first = store.save("svc", model, now=NOW).version
    second = store.save("svc", model, now=NOW + pd.Timedelta(hours=1)).version
    store.promote("svc", first, reason="first", now=NOW)
    assert store.pointer("svc") == {
        "version": first,
        "promoted_at": "2026-03-10T12:00:00+01:00",
        "reason": "first",
        "previous": None,
    }
    store.promote("svc", second, reason="better", now=NOW + pd.Timedelta(hours=1))
    pointer = json.loads((tmp_path / "svc" / POINTER_FILE).read_text())
    assert (pointer["version"], pointer["reason"], pointer["previous"]) == (second, "better", first)
    assert store.current("svc").version == second


def test_readers_see_only_finished_versions_and_valid_names(store, tmp_path, model):
    ref = store.save("svc", model, now=NOW)
    (tmp_path / "svc" / "versions" / ".tmp-half-written").mkdir()
    (tmp_path / "svc" / "versions" / "not-a-version").mkdir()
    (tmp_path / "Not_A_Target").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "other").mkdir()
    assert store.versions("svc") == [ref.version]
    assert store.targets() == ["other", "svc"]
    assert store.versions("other") == [] and store.pointer("other") is None and store.current("other") is None
    assert DirectoryBackend(tmp_path).list_children("svc") == ["versions"]
    assert DirectoryBackend(tmp_path).list_children("nowhere") == []
    assert DirectoryBackend(tmp_path).read("svc/nothing.json") is None
    assert DirectoryBackend(tmp_path).read("svc/versions/not-a-version/x") is None
    assert isinstance(DirectoryBackend(tmp_path), StoreBackend)


def test_loading_is_cached_one_model_per_target(store, model):
    a = store.save("svc", model, now=NOW).version
    b = store.save("svc", model, now=NOW + pd.Timedelta(hours=1)).version
    first = store.load("svc", a)
    assert store.load("svc", a) is first
    second = store.load("svc", b)
    assert store.load("svc", b) is second and store.load("svc", a) is not first  # only the latest is kept
    store.promote("svc", b, reason="x", now=NOW)
    assert store.load_current("svc") is store.load("svc", b)


@pytest.mark.parametrize(
    ("call", "problem", "hint"),
    [
        (
            lambda s, v: s.ref("svc", "20260101T000000Z-deadbeef"),
            "{root}: no model svc/20260101T000000Z-deadbeef",
            "known versions: {v}",
        ),
        (
            lambda s, v: s.promote("svc", "nope", reason="x", now=NOW),
            "{root}: no model svc/nope",
            "known versions: {v}",
        ),
        (lambda s, v: s.ref("empty", "nope"), "{root}: no model empty/nope", "known versions: none"),
        (
            lambda s, v: s.load("svc", "20260101T000000Z-deadbeef"),
            "{root}/svc/versions/20260101T000000Z-deadbeef: manifest.json, weights.safetensors missing",
            "retrain the model",
        ),
        (
            lambda s, v: s.load_current("svc"),
            "{root}: no promoted model for target 'svc'",
            "train one: forecaster train --config training/svc.yaml",
        ),
        (
            lambda s, v: s.versions("Bad_Name"),
            "invalid target name 'Bad_Name'",
            "lowercase letters, digits and '-'",
        ),
        (lambda s, v: s.pointer("../x"), "invalid target name '../x'", "lowercase letters, digits and '-'"),
        (
            lambda s, v: s.save("Bad_Name", None, now=NOW),
            "invalid target name 'Bad_Name'",
            "lowercase letters, digits and '-'",
        ),
        (lambda s, v: DirectoryBackend(s.backend.root).read("a/../b"), "invalid store key 'a/../b'", None),
        (lambda s, v: DirectoryBackend(s.backend.root).read("./x"), "invalid store key './x'", None),
        (
            lambda s, v: DirectoryBackend(s.backend.root).put_version(f"svc/versions/{v}", {"a": b"x"}),
            "{root}/svc/versions/{v} already exists",
            "versions are immutable; save a new one",
        ),
    ],
)
def test_refusals_say_what_exists_and_what_to_do(store, tmp_path, model, call, problem, hint):
    version = store.save("svc", model, now=NOW).version
    fill = {"root": str(tmp_path), "v": version}
    assert _problem(lambda: call(store, version)) == (problem.format(**fill), hint and hint.format(**fill))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"nover": 1}', 'no valid "version" in it (version None)'),
        ("[1]", 'no valid "version" in it (version None)'),
        ("not json", "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ('"just a string"', 'no valid "version" in it (version None)'),
    ],
)
def test_a_damaged_pointer_is_named_with_what_to_do(store, tmp_path, model, text, why):
    version = store.save("svc", model, now=NOW).version
    (tmp_path / "svc" / POINTER_FILE).write_text(text)
    assert _problem(lambda: store.current("svc")) == (
        f"{tmp_path}: svc/{POINTER_FILE} is damaged ({why})",
        f"{DAMAGED_HINT}; known versions: {version}",
    )


def test_a_damaged_manifest_is_named(store, tmp_path, model):
    version = store.save("svc", model, now=NOW).version
    (tmp_path / "svc" / "versions" / version / MANIFEST_FILE).write_text("{")
    assert _problem(lambda: store.ref("svc", version)) == (
        f"svc/{version}: manifest.json is not valid JSON",
        "retrain",
    )


def test_a_version_that_does_not_load_is_never_promoted(store, tmp_path, model):
    good = store.save("svc", model, now=NOW).version
    store.promote("svc", good, reason="good", now=NOW)
    bad = store.save("svc", model, now=NOW + pd.Timedelta(hours=1)).version
    (tmp_path / "svc" / "versions" / bad / WEIGHTS_FILE).write_bytes(b"garbage")
    with pytest.raises(ModelStoreError):
        store.promote("svc", bad, reason="bad", now=NOW)
    assert store.current("svc").version == good


def test_an_unreadable_file_is_a_store_error(store, tmp_path, model):
    version = store.save("svc", model, now=NOW).version
    (tmp_path / "svc" / POINTER_FILE).mkdir()  # a directory where the pointer should be: reading it fails
    with pytest.raises(ModelStoreError, match="cannot read"):
        store.pointer("svc")
    assert store.versions("svc") == [version]


def test_a_failed_pointer_write_leaves_the_old_pointer_and_no_litter(store, tmp_path, model, monkeypatch):
    first = store.save("svc", model, now=NOW).version
    store.promote("svc", first, reason="first", now=NOW)
    second = store.save("svc", model, now=NOW + pd.Timedelta(hours=1)).version
    before = sorted(p.name for p in (tmp_path / "svc").iterdir())
    for name in ("fsync", "replace"):

        def boom(*args, _name=name, **kwargs):
            raise OSError(5, f"I/O error in {_name}")

        monkeypatch.setattr(os, name, boom)
        with pytest.raises(OSError, match=f"I/O error in {name}"):
            store.promote("svc", second, reason="second", now=NOW)
        monkeypatch.undo()
        assert store.current("svc").version == first
        assert sorted(p.name for p in (tmp_path / "svc").iterdir()) == before


def test_a_failed_version_write_leaves_nothing_behind(store, tmp_path, model, monkeypatch):
    store.save("svc", model, now=NOW)
    before = sorted(p.name for p in (tmp_path / "svc" / "versions").iterdir())

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space left"):
        store.save("svc", model, now=NOW + pd.Timedelta(hours=1))
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "svc" / "versions").iterdir()) == before


def test_the_directory_backend_creates_parents_and_hides_its_temporary_files(tmp_path):
    backend = DirectoryBackend(tmp_path / "new" / "deep")
    backend.put_atomic("a/b/c.json", b"{}")
    assert backend.read("a/b/c.json") == b"{}"
    (tmp_path / "new" / "deep" / "a" / "b" / ".c.json.tmp-abc").write_bytes(b"half")
    assert backend.list_children("a/b") == ["c.json"]
    assert backend.list_children("") == ["a"]


def test_the_pointer_file_is_indented_json_for_people_who_fix_it_by_hand(store, tmp_path, model):
    version = store.save("svc", model, now=NOW).version
    store.promote("svc", version, reason="x", now=NOW)
    text = (tmp_path / "svc" / POINTER_FILE).read_text()
    assert text == json.dumps(json.loads(text), indent=2)
    assert text.startswith('{\n  "version": ')


class _SlashedBackend(DirectoryBackend):
    def describe(self) -> str:
        return str(self.root) + "/"


def test_a_store_over_any_backend_names_locations_without_double_slashes(tmp_path, model):
    backend = _SlashedBackend(tmp_path)
    store = ModelStore(backend)
    assert store.backend is backend
    ref = store.save("svc", model, now=NOW)
    assert ref.location == f"{tmp_path}/svc/versions/{ref.version}"
    (tmp_path / "svc" / "versions" / ref.version / WEIGHTS_FILE).write_bytes(b"garbage")
    with pytest.raises(ModelStoreError) as err:
        ModelStore(backend).load("svc", ref.version)
    assert err.value.problem.startswith(f"{tmp_path}/svc/versions/{ref.version}: ")  # names where it is


def test_known_versions_are_listed_in_the_hint(store, model):
    a = store.save("svc", model, now=NOW).version
    b = store.save("svc", model, now=NOW + pd.Timedelta(hours=1)).version
    with pytest.raises(ModelStoreError) as err:
        store.ref("svc", "nope")
    assert err.value.hint == f"known versions: {a}, {b}"


def test_an_s3_url_gives_an_s3_store():
    store = ModelStore("s3://models-bucket/forecaster")
    assert store.backend.describe() == "s3://models-bucket/forecaster"
    assert repr(store) == "ModelStore('s3://models-bucket/forecaster')"
