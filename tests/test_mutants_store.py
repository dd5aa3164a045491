"""Model store behaviours found unpinned by mutation testing (bench/mutation.py store), on a directory with one
tiny model (trained once, about a second).

- ``resolve_model_dir`` (what ``--model PATH`` and ``Forecaster.load`` accept): a version, a target or a store
  with exactly one promoted target; several promoted targets, or trained but never promoted ones, are refused
  naming them and the path to use instead;
- files stored with a version (``tuning.json``) are read back by name; bad names are refused, never read;
- extra files that would overwrite the model or escape the version folder are refused before anything is written;
- a damaged pointer's hint lists the last three versions (or says there are none);
- ``load_for`` says exactly what does not fit the target's config;
- writes stay inside the store's folder, whatever the system's temporary directory is.
"""

from __future__ import annotations

import dataclasses
import tempfile

import pandas as pd
import pytest
import torch

from forecaster.errors import ModelStoreError
from forecaster.model import MANIFEST_FILE, WEIGHTS_FILE, Forecaster
from forecaster.store import ModelStore, resolve_model_dir
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 12:00")
NOT_A_MODEL_HINT = "point at a directory written by 'forecaster train --out DIR' (or one of its versions)"


@pytest.fixture(scope="module")
def model() -> Forecaster:
    torch.set_num_threads(1)
    train = dataclasses.replace(TINY_TRAIN, epochs=1, max_windows_per_epoch=64)
    return fit_forecaster(daily_sine(days=2), model=TINY_MODEL, train=train, name="tiny")


def _problem(call) -> tuple[str, str | None]:
    with pytest.raises(ModelStoreError) as err:
        call()
    return err.value.problem, err.value.hint


# -- resolve_model_dir ---------------------------------------------------------------------------------------------


def test_a_version_a_target_and_a_store_with_one_promoted_target_resolve_to_the_promoted_version(
    tmp_path, model
):
    store = ModelStore(tmp_path)
    old = store.save("svc", model, now=NOW)
    new = store.save("svc", model, now=NOW + pd.Timedelta(hours=1))
    store.promote("svc", old.version, reason="the older one won", now=NOW)
    store.save("other", model, now=NOW)  # trained, never promoted: not a candidate

    assert resolve_model_dir(new.path) == new.path
    assert resolve_model_dir(str(tmp_path / "svc")) == old.path
    assert resolve_model_dir(tmp_path) == old.path
    assert ModelStore.load_dir(tmp_path).info["created_at"] == old.manifest["created_at"]


def test_a_store_with_several_promoted_targets_is_refused_naming_them(tmp_path, model):
    store = ModelStore(tmp_path)
    for target in ("beta", "alpha"):
        ref = store.save(target, model, now=NOW)
        store.promote(target, ref.version, reason="t", now=NOW)

    assert _problem(lambda: resolve_model_dir(tmp_path)) == (
        f"{tmp_path} holds several promoted targets (alpha, beta)",
        f"point at one of them, e.g. {tmp_path / 'alpha'}",
    )


def test_a_store_whose_versions_were_never_promoted_is_refused_naming_the_latest(tmp_path, model):
    store = ModelStore(tmp_path)
    store.save("beta", model, now=NOW)
    store.save("alpha", model, now=NOW)
    store.save("beta", model, now=NOW + pd.Timedelta(hours=2))
    latest = store.versions("beta")[-1]

    assert _problem(lambda: resolve_model_dir(tmp_path)) == (
        f"{tmp_path} holds trained versions of alpha, beta but none was promoted (each lost to a baseline or "
        "to the current model in its backtest)",
        f"load a version directory explicitly, e.g. {tmp_path / 'beta' / 'versions' / latest}",
    )


@pytest.mark.parametrize("where", ["empty", "missing", "file"])
def test_a_path_that_holds_no_model_is_refused(tmp_path, where):
    path = tmp_path / where
    if where == "empty":
        path.mkdir()
    elif where == "file":
        path.write_text("not a model")
    assert _problem(lambda: resolve_model_dir(path)) == (
        f"{path} is not a model: no manifest.json, no current.json, no promoted target",
        NOT_A_MODEL_HINT,
    )


# -- files stored with a version -------------------------------------------------------------------------------


def test_files_stored_with_a_version_are_read_back_by_name(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW, extra_files={"tuning.json": b'{"format": 1}'})
    assert store.read_file("svc", ref.version, "tuning.json") == b'{"format": 1}'
    assert store.read_file("svc", ref.version, "other.json") is None
    assert sorted(p.name for p in ref.path.iterdir()) == [MANIFEST_FILE, "tuning.json", WEIGHTS_FILE]


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("latest", "tuning.json"),
        ("VERSION", "tuning.json"),
        (None, "../current.json"),
        (None, "sub/tuning.json"),
        (None, ".hidden"),
    ],
)
def test_bad_version_or_file_names_are_refused(tmp_path, model, version, name):
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW)
    version = version or ref.version
    assert _problem(lambda: store.read_file("svc", version, name)) == (
        f"invalid version or file name {version!r}/{name!r}",
        None,
    )
    with pytest.raises(ModelStoreError, match="invalid target name"):
        store.read_file("../svc", ref.version, "tuning.json")


@pytest.mark.parametrize(
    "names",
    [
        {MANIFEST_FILE: b"{}"},
        {WEIGHTS_FILE: b"x", "tuning.json": b"{}"},
        {"sub/tuning.json": b"{}"},
        {".tuning.json": b"{}"},
    ],
)
def test_extra_files_that_would_overwrite_the_model_or_escape_its_folder_are_refused(tmp_path, model, names):
    store = ModelStore(tmp_path)
    assert _problem(lambda: store.save("svc", model, now=NOW, extra_files=names)) == (
        f"invalid extra file name(s) {sorted(names)}",
        None,
    )
    assert store.versions("svc") == []


# -- the damaged pointer's hint ---------------------------------------------------------------------------------


def test_a_damaged_pointer_hint_lists_the_last_three_versions(tmp_path, model):
    store = ModelStore(tmp_path)
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "current.json").write_text("garbage")
    hint = "the next promotion by 'forecaster train' replaces it (no version is lost); known versions: "
    assert _problem(lambda: store.current("svc"))[1] == hint + "none"

    versions = [store.save("svc", model, now=NOW + pd.Timedelta(hours=h)).version for h in range(4)]
    assert _problem(lambda: store.current("svc"))[1] == hint + ", ".join(versions[-3:])


# -- load_for ---------------------------------------------------------------------------------------------------


def test_load_for_says_what_does_not_fit(tmp_path, model):
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW)
    store.promote("svc", ref.version, reason="t", now=NOW)

    assert _problem(lambda: store.load_for("svc", step="15min")) == (
        f"model {ref.version} forecasts in steps of {model.step}, the target's step is 0 days 00:15:00",
        "retrain with the target's config",
    )
    assert _problem(lambda: store.load_for("svc", quantiles=(0.99, 0.5, 0.95))) == (
        f"model {ref.version} lacks quantile(s) p95, p99 of the target's config",
        "retrain with the target's config",
    )
    fits = store.load_for("svc", step=str(model.step), quantiles=(0.5,))
    assert fits is not None and fits.ref.version == ref.version
    assert store.load_for("svc", step=None, quantiles=None) is fits, (
        "the loaded model is kept for the next call"
    )


# -- writes stay inside the store ------------------------------------------------------------------------------


def test_writes_never_use_the_system_temporary_directory(tmp_path, model, monkeypatch):
    """The version folder and the pointer are written next to their final place and renamed: a temporary
    directory elsewhere may be missing or on another volume, where a rename is not atomic."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    store = ModelStore(tmp_path / "store")

    ref = store.save("svc", model, now=NOW)
    store.promote("svc", ref.version, reason="t", now=NOW)

    assert store.current("svc").version == ref.version
    assert not (tmp_path / "no-such-tmp").exists()
    leftovers = [p.name for p in (tmp_path / "store").rglob("*") if ".tmp-" in p.name]
    assert leftovers == []


# -- a concurrent writer's empty temporary folder -------------------------------------------------------------


def test_a_temporary_folder_with_no_file_yet_is_aged_by_its_own_mtime(tmp_path, model):
    """A writer that has just created its temporary folder (no file written yet) is alive: the next writer
    neither fails on the empty folder nor removes it; one killed right after creating it (an old, empty
    folder) is removed. A folder's own mtime counts, not only its files'."""
    import os
    import time

    from forecaster.store import STALE_TEMP_AGE_S

    store = ModelStore(tmp_path)
    first = store.save("svc", model, now=NOW)
    versions = tmp_path / "svc" / "versions"
    just_created = versions / ".tmp-just-created"
    just_created.mkdir()
    killed_early = versions / ".tmp-killed-early"
    killed_early.mkdir()
    old_s = time.time() - STALE_TEMP_AGE_S - 60
    os.utime(killed_early, (old_s, old_s))
    # A folder written just now whose file is old (copied in with its mtime kept) is alive too.
    copied_in = versions / ".tmp-copied-in"
    copied_in.mkdir()
    (copied_in / WEIGHTS_FILE).write_bytes(b"copied")
    os.utime(copied_in / WEIGHTS_FILE, (old_s, old_s))

    second = store.save("svc", model, now=NOW + pd.Timedelta(days=1))

    assert just_created.is_dir() and (copied_in / WEIGHTS_FILE).exists()
    assert not killed_early.exists()
    assert store.versions("svc") == [first.version, second.version]


# -- what the operator reads in the log ---------------------------------------------------------------------------


def test_removing_a_killed_writers_temporary_logs_what_and_how_long_ago(tmp_path, model, caplog):
    """The warning names the temporary removed and how long ago its writer stopped, in hours."""
    import os
    import time

    store = ModelStore(tmp_path)
    store.save("svc", model, now=NOW)
    killed = tmp_path / "svc" / "versions" / ".tmp-killed"
    killed.mkdir()
    # 100.06 h ago: logged as 100.1 h (it stays so for minutes of a slow test, and an hour of 3601 s would
    # make it 100.0).
    old_s = time.time() - 100.06 * 3600
    os.utime(killed, (old_s, old_s))

    with caplog.at_level("WARNING", logger="forecaster.store"):
        store.save("svc", model, now=NOW + pd.Timedelta(days=1))

    assert [r.getMessage() for r in caplog.records if r.name == "forecaster.store"] == [
        f"removed {killed}, left by a writer that stopped 100.1 h ago"
    ]


def test_replacing_a_damaged_pointer_logs_why_and_where_its_bytes_are(tmp_path, model, caplog):
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW)
    (tmp_path / "svc").joinpath("current.json").write_text("{x")
    problem = _problem(lambda: store.current("svc"))[0]

    with caplog.at_level("WARNING", logger="forecaster.store"):
        store.promote("svc", ref.version, reason="nightly", now=NOW)

    assert [r.getMessage() for r in caplog.records if r.name == "forecaster.store"] == [
        f"{problem}; treating it as absent and pointing it at {ref.version} (its old bytes are kept in "
        "current.json.damaged)"
    ]
