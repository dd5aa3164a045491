"""What a writer of the model store may and may not touch (:class:`forecaster.store.DirectoryBackend`), with
no model: a writer cleans up only temporaries of its own kind left by a killed writer; versions, pointers and
the files of a live writer, however old, are never removed; a failed write leaves what was there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from forecaster.errors import ModelStoreError
from forecaster.store import DirectoryBackend


def _age(path: Path, seconds: float) -> None:
    """Set the mtime of ``path`` and everything under it ``seconds`` in the past."""
    old = time.time() - seconds
    for p in sorted(path.rglob("*"), reverse=True):
        os.utime(p, (old, old), follow_symlinks=False)
    os.utime(path, (old, old))


def test_old_versions_and_the_pointer_survive_a_writers_clean_up(tmp_path):
    backend = DirectoryBackend(tmp_path)
    backend.put_version("web/versions/v1", {"manifest.json": b"{1}", "weights.safetensors": b"w1"})
    backend.put_atomic("web/current.json", b'{"version": "v1"}')
    backend.put_atomic("web/notes.txt", b"kept")
    _age(tmp_path / "web", 30 * 86400)  # a month old: far past the clean-up age
    litter = tmp_path / "web" / "versions" / ".tmp-killed"
    litter.mkdir()
    _age(litter, 7200)
    pointer_litter = tmp_path / "web" / ".current.json.tmp-killed"
    pointer_litter.write_bytes(b"half")
    _age(pointer_litter, 7200)

    backend.put_version("web/versions/v2", {"manifest.json": b"{2}", "weights.safetensors": b"w2"})
    backend.put_atomic("web/current.json", b'{"version": "v2"}')

    assert backend.read("web/versions/v1/manifest.json") == b"{1}"
    assert backend.read("web/versions/v1/weights.safetensors") == b"w1"
    assert backend.read("web/versions/v2/weights.safetensors") == b"w2"
    assert backend.read("web/current.json") == b'{"version": "v2"}'
    assert backend.read("web/notes.txt") == b"kept"
    assert backend.list_children("web/versions") == ["v1", "v2"]
    assert not litter.exists() and not pointer_litter.exists()


def test_a_pointer_writer_leaves_a_version_writers_temporaries_alone(tmp_path):
    # Each writer cleans its own kind only: a version being written next to the pointer is not its litter.
    backend = DirectoryBackend(tmp_path)
    other = tmp_path / "web" / ".tmp-other-writer"
    other.mkdir(parents=True)
    (other / "weights.safetensors").write_bytes(b"old")
    _age(other, 7200)
    backend.put_atomic("web/current.json", b"{}")
    assert other.exists()


def test_a_stale_pointer_temporary_is_removed_by_the_next_pointer_write(tmp_path):
    backend = DirectoryBackend(tmp_path)
    backend.put_atomic("web/current.json", b"{}")
    stale = tmp_path / "web" / ".current.json.tmp-dead"
    stale.write_bytes(b"{")
    fresh = tmp_path / "web" / ".current.json.tmp-live"
    fresh.write_bytes(b"{")
    _age(stale, 3601)
    _age(fresh, 3599)
    backend.put_atomic("web/current.json", b'{"v": 2}')
    assert not stale.exists()
    assert fresh.exists()


def test_a_custom_clean_up_age_is_honoured(tmp_path):
    backend = DirectoryBackend(tmp_path, stale_temp_age_s=60)
    folder = tmp_path / "web" / "versions"
    folder.mkdir(parents=True)
    litter = folder / ".tmp-killed"
    litter.mkdir()
    _age(litter, 120)
    backend.put_version("web/versions/v1", {"a": b"1"})
    assert not litter.exists()


def test_a_failed_version_write_leaves_no_version_and_no_temporary(tmp_path):
    backend = DirectoryBackend(tmp_path)

    files = {"a": b"1", "b/c": b"2"}  # "b/c" cannot be written inside the temporary folder
    with pytest.raises(OSError):
        backend.put_version("web/versions/v1", files)
    assert backend.list_children("web/versions") == []
    assert [p.name for p in (tmp_path / "web" / "versions").iterdir()] == []
    backend.put_version("web/versions/v1", {"a": b"1"})
    assert backend.read("web/versions/v1/a") == b"1"
    with pytest.raises(ModelStoreError, match="already exists"):
        backend.put_version("web/versions/v1", {"a": b"other"})
