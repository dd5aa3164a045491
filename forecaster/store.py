"""The model store: versioned artifacts per target, a ``current`` pointer, atomic writes, promotion.

Layout (the same keys on every backend)::

    <target>/versions/<version>/manifest.json        JSON: architecture, scaler, training range, metrics
    <target>/versions/<version>/weights.safetensors  tensors only, never pickle
    <target>/versions/<version>/tuning.json          JSON, optional: the prescaler tuning (forecaster.recommendation)
    <target>/current.json                            {"version", "promoted_at", "reason", "previous"}

A version becomes visible only once all its files are written (a temporary directory renamed into place,
or objects written before anything points at them); the pointer is replaced atomically. So a crash leaves
the store as it was, and readers (the forecast service, the prescaler) that re-read the small pointer pick
up a newly promoted model without a restart. Storage goes through :class:`StoreBackend`: a directory
(a ReadWriteMany volume) here, S3-compatible object storage in :mod:`forecaster.cloud.s3`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from forecaster.errors import ModelStoreError
from forecaster.model import MANIFEST_FILE, WEIGHTS_FILE, Forecaster
from forecaster.settings import TARGET_NAME_RE

__all__ = [
    "StoreBackend",
    "DirectoryBackend",
    "ModelRef",
    "PromotedModel",
    "ModelStore",
    "DamagedPointerError",
    "POINTER_FILE",
    "DAMAGED_POINTER_FILE",
    "STALE_TEMP_AGE_S",
    "resolve_model_dir",
]

log = logging.getLogger(__name__)

POINTER_FILE = "current.json"
DAMAGED_POINTER_FILE = "current.json.damaged"
"""Where :meth:`ModelStore.promote` keeps the bytes of a damaged pointer it replaces (nothing stored is lost)."""
STALE_TEMP_AGE_S = 3600.0
"""A writer's temporary files untouched this long belong to a killed writer and are removed by the next one.

Writing a version takes seconds (a few MB, written after training, not during it); an hour leaves room for
a slow shared volume and for clock skew between the node that wrote them and the one that looks."""
_VERSION_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")


@runtime_checkable
class StoreBackend(Protocol):
    """Bytes under ``/``-separated keys. Implementations must make ``put_version`` all-or-nothing."""

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    def put_version(self, prefix: str, files: Mapping[str, bytes]) -> None:
        """Write ``prefix/<name>`` for every file; nothing under ``prefix`` is visible before all are."""

    def put_atomic(self, key: str, data: bytes) -> None:
        """Replace one small object (the pointer) so readers see the old or the new bytes, never a mix."""

    def list_children(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (folders and files), sorted."""

    def describe(self) -> str:
        """Human name for messages, e.g. the directory or the s3:// URL."""


class DirectoryBackend:
    """A directory on a local disk or a shared (ReadWriteMany) volume."""

    def __init__(self, root: str | Path, *, stale_temp_age_s: float = STALE_TEMP_AGE_S) -> None:
        self.root = Path(root)
        self.stale_temp_age_s = stale_temp_age_s

    def describe(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        parts = [p for p in key.split("/") if p]
        if any(p in {".", ".."} for p in parts):
            raise ModelStoreError(f"invalid store key {key!r}")
        return self.root.joinpath(*parts)

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ModelStoreError(f"cannot read {self._path(key)}: {exc.strerror}") from exc

    def put_version(self, prefix: str, files: Mapping[str, bytes]) -> None:
        final = self._path(prefix)
        if final.exists():
            raise ModelStoreError(f"{final} already exists", hint="versions are immutable; save a new one")
        final.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temps(final.parent, prefix=".tmp-")
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            for name, data in files.items():
                with open(tmp / name, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def put_atomic(self, key: str, data: bytes) -> None:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temps(final.parent, prefix=f".{final.name}.tmp-")
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _remove_stale_temps(self, folder: Path, *, prefix: str) -> None:
        """Remove ``prefix*`` temporaries nothing has touched for ``stale_temp_age_s`` (a killed writer's).

        A live writer's temporary is never that old: its folder's and files' mtimes move as it writes.
        Two writers cleaning at once is harmless (whatever is already gone is skipped).
        """
        now_s = time.time()
        for entry in folder.glob(f"{prefix}*"):
            try:
                touched = [entry.lstat().st_mtime]
                if entry.is_dir() and not entry.is_symlink():
                    touched += [child.lstat().st_mtime for child in entry.iterdir()]
            except FileNotFoundError:
                continue  # its writer just renamed it into place, or another writer removed it
            age_s = now_s - max(touched)
            if age_s < self.stale_temp_age_s:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            log.warning("removed %s, left by a writer that stopped %.1f h ago", entry, age_s / 3600)

    def list_children(self, prefix: str) -> list[str]:
        path = self._path(prefix) if prefix else self.root
        if not path.is_dir():
            return []
        return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))


class DamagedPointerError(ModelStoreError):
    """A target's ``current.json`` exists but is unreadable (truncated, not JSON, no valid version).

    Readers treat it like any unusable model (the API serves the baseline, the prescaler fails safe);
    :meth:`ModelStore.promote` treats it as absent and replaces it, so a nightly training job recovers.
    """


@dataclass(frozen=True)
class ModelRef:
    """One stored version of a target's model."""

    target: str
    version: str
    manifest: dict[str, Any]
    location: str
    """Where it lives, for messages (a directory path or an s3:// URL)."""

    @property
    def path(self) -> Path:
        """The version's directory (directory backends only)."""
        return Path(self.location)

    @property
    def trained_at(self) -> str | None:
        return self.manifest.get("created_at")

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics") or {})


@dataclass(frozen=True)
class PromotedModel:
    """A target's promoted model, loaded and checked against what its config asks for."""

    ref: ModelRef
    model: Forecaster


class ModelStore:
    """Versions, the current pointer and promotion for every target, over a :class:`StoreBackend`."""

    def __init__(self, root: str | Path | StoreBackend) -> None:
        if isinstance(root, str | Path):
            text = str(root)
            if text.startswith("s3://"):
                from forecaster.cloud.s3 import S3Backend  # only when asked: boto3 stays at the edge

                self.backend: StoreBackend = S3Backend.from_url(text)
            else:
                self.backend = DirectoryBackend(text)
        else:
            self.backend = root
        self._cache: dict[tuple[str, str], Forecaster] = {}
        self._promoted: dict[str, PromotedModel] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ModelStore({self.backend.describe()!r})"

    @staticmethod
    def _check_target(target: str) -> None:
        if not TARGET_NAME_RE.match(target):
            raise ModelStoreError(f"invalid target name {target!r}", hint="lowercase letters, digits and '-'")

    def targets(self) -> list[str]:
        return [t for t in self.backend.list_children("") if TARGET_NAME_RE.match(t)]

    def versions(self, target: str) -> list[str]:
        self._check_target(target)
        return [v for v in self.backend.list_children(f"{target}/versions") if _VERSION_RE.match(v)]

    def pointer(self, target: str) -> dict[str, Any] | None:
        """The target's pointer, None when nothing was promoted; :class:`DamagedPointerError` when unreadable."""
        self._check_target(target)
        raw = self.backend.read(f"{target}/{POINTER_FILE}")
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            why = "it is empty" if not raw.strip() else f"not valid JSON: {exc}"
            raise self._damaged(target, why) from exc
        version = data.get("version") if isinstance(data, dict) else None
        if not isinstance(version, str) or not _VERSION_RE.match(version):
            raise self._damaged(target, f'no valid "version" in it (version {version!r})')
        return data

    def _damaged(self, target: str, why: str) -> DamagedPointerError:
        return DamagedPointerError(
            f"{self.backend.describe()}: {target}/{POINTER_FILE} is damaged ({why})",
            hint="the next promotion by 'forecaster train' replaces it (no version is lost); "
            f"known versions: {', '.join(self.versions(target)[-3:]) or 'none'}",
        )

    def ref(self, target: str, version: str) -> ModelRef:
        self._check_target(target)
        raw = self.backend.read(f"{target}/versions/{version}/{MANIFEST_FILE}")
        if raw is None:
            raise ModelStoreError(
                f"{self.backend.describe()}: no model {target}/{version}",
                hint=f"known versions: {', '.join(self.versions(target)) or 'none'}",
            )
        try:
            manifest = json.loads(raw)
        except ValueError as exc:
            raise ModelStoreError(
                f"{target}/{version}: manifest.json is not valid JSON", hint="retrain"
            ) from exc
        return ModelRef(target, version, manifest, self._location(target, version))

    def _location(self, target: str, version: str) -> str:
        base = self.backend.describe().rstrip("/")
        return f"{base}/{target}/versions/{version}"

    def current(self, target: str) -> ModelRef | None:
        """The promoted version of ``target``, or None when nothing was promoted yet."""
        pointer = self.pointer(target)
        if pointer is None:
            return None
        return self.ref(target, str(pointer["version"]))

    def load(self, target: str, version: str) -> Forecaster:
        key = (target, version)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        prefix = f"{target}/versions/{version}"
        files = {name: self.backend.read(f"{prefix}/{name}") for name in (MANIFEST_FILE, WEIGHTS_FILE)}
        missing = [name for name, data in files.items() if data is None]
        if missing:
            raise ModelStoreError(
                f"{self._location(target, version)}: {', '.join(missing)} missing", hint="retrain the model"
            )
        model = Forecaster.from_bytes(files, where=self._location(target, version))  # type: ignore[arg-type]
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != target}  # keep one per target
            self._cache[key] = model
        return model

    @staticmethod
    def load_dir(path: str | Path) -> Forecaster:
        """The model at ``path``: a version directory, a target directory or a store with one promoted target.

        The same as :meth:`Forecaster.load`; ``forecaster train --out DIR`` writes such a store.
        """
        return Forecaster.load(path)

    def load_current(self, target: str) -> Forecaster:
        """The promoted model; re-reads the pointer each call, so a new promotion is picked up at once."""
        pointer = self.pointer(target)
        if pointer is None:
            raise ModelStoreError(
                f"{self.backend.describe()}: no promoted model for target {target!r}",
                hint=f"train one: forecaster train --config training/{target}.yaml",
            )
        return self.load(target, str(pointer["version"]))

    def load_for(
        self,
        target: str,
        *,
        step: pd.Timedelta | str | None = None,
        quantiles: Sequence[float] | None = None,
    ) -> PromotedModel | None:
        """The promoted model of ``target`` checked against its config, or None when nothing is promoted.

        The one loader shared by the forecast service and the prescaler: reads the small pointer once per
        call, and reuses the loaded model (and its manifest) until the pointer names another version, so a
        promotion is picked up without a restart. Raises :class:`ModelStoreError` when the model forecasts
        in another ``step`` or lacks one of ``quantiles`` (the config changed: retrain).
        """
        pointer = self.pointer(target)
        if pointer is None:
            return None
        version = str(pointer["version"])
        with self._lock:
            promoted = self._promoted.get(target)
        if promoted is None or promoted.ref.version != version:
            promoted = PromotedModel(ref=self.ref(target, version), model=self.load(target, version))
            with self._lock:
                self._promoted[target] = promoted
        _check_fits(promoted, step=step, quantiles=quantiles)
        return promoted

    def save(
        self,
        target: str,
        model: Forecaster,
        *,
        metrics: Mapping[str, Any] | None = None,
        now: pd.Timestamp,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> ModelRef:
        """Store ``model`` as a new immutable version of ``target`` (not promoted); ``extra_files`` (JSON
        documents about this version, e.g. ``tuning.json``) are written with it, all or nothing."""
        self._check_target(target)
        clash = set(extra_files or ()) & {MANIFEST_FILE, WEIGHTS_FILE}
        if clash or any("/" in name or name.startswith(".") for name in extra_files or ()):
            raise ModelStoreError(f"invalid extra file name(s) {sorted(extra_files or ())}")
        created = pd.Timestamp(now)
        created = created.tz_convert("UTC").tz_localize(None) if created.tzinfo else created
        model.info["created_at"] = created.isoformat() + "Z"
        if metrics is not None:
            model.info["metrics"] = dict(metrics)
        files = {**model.to_bytes(), **dict(extra_files or {})}
        digest = json.loads(files[MANIFEST_FILE])["weights"]["sha256"][:8]
        version = f"{created:%Y%m%dT%H%M%S}Z-{digest}"
        self.backend.put_version(f"{target}/versions/{version}", files)
        return self.ref(target, version)

    def read_file(self, target: str, version: str, name: str) -> bytes | None:
        """A file stored with a version (e.g. ``tuning.json``), or None when the version has none."""
        self._check_target(target)
        if not _VERSION_RE.match(version) or "/" in name or name.startswith("."):
            raise ModelStoreError(f"invalid version or file name {version!r}/{name!r}")
        return self.backend.read(f"{target}/versions/{version}/{name}")

    def promote(self, target: str, version: str, *, reason: str, now: pd.Timestamp) -> None:
        """Point ``target``'s current model at ``version`` (which must exist and load)."""
        self.ref(target, version)  # names the known versions when this one does not exist
        self.load(target, version)  # refuse to promote something that does not load
        try:
            previous = self.pointer(target)
        except DamagedPointerError as exc:
            # A damaged pointer must not block every later promotion: keep its bytes, then replace it.
            raw = self.backend.read(f"{target}/{POINTER_FILE}") or b""
            self.backend.put_atomic(f"{target}/{DAMAGED_POINTER_FILE}", raw)
            log.warning(
                "%s; treating it as absent and pointing it at %s (its old bytes are kept in %s)",
                exc.problem,
                version,
                DAMAGED_POINTER_FILE,
            )
            previous = None
        pointer = {
            "version": version,
            "promoted_at": pd.Timestamp(now).isoformat(),
            "reason": reason,
            "previous": previous["version"] if previous else None,
        }
        self.backend.put_atomic(f"{target}/{POINTER_FILE}", json.dumps(pointer, indent=2).encode())


def resolve_model_dir(path: str | Path) -> Path:
    """The model version directory that ``path`` stands for.

    ``path`` may be a version directory (it holds ``manifest.json``), a target directory (its promoted
    version, from ``current.json``) or a store directory holding exactly one promoted target (what
    ``forecaster train --out DIR`` writes).
    """
    p = Path(path)
    if (p / MANIFEST_FILE).is_file():
        return p
    if (p / POINTER_FILE).is_file():
        ref = ModelStore(p.parent).current(p.name)
        if ref is None:  # pragma: no cover - the pointer file exists
            raise ModelStoreError(f"{p}: {POINTER_FILE} names no version", hint="promote a version again")
        return ref.path
    if p.is_dir():
        store = ModelStore(p)
        targets = store.targets()
        promoted = [t for t in targets if store.pointer(t)]
        if len(promoted) == 1:
            ref = store.current(promoted[0])
            assert ref is not None
            return ref.path
        if len(promoted) > 1:
            raise ModelStoreError(
                f"{p} holds several promoted targets ({', '.join(promoted)})",
                hint=f"point at one of them, e.g. {p / promoted[0]}",
            )
        unpromoted = [(t, v) for t in targets for v in store.versions(t)]
        if unpromoted:
            t, v = unpromoted[-1]
            raise ModelStoreError(
                f"{p} holds trained versions of {', '.join(sorted({t for t, _ in unpromoted}))} but none "
                "was promoted (each lost to a baseline or to the current model in its backtest)",
                hint=f"load a version directory explicitly, e.g. {p / t / 'versions' / v}",
            )
    raise ModelStoreError(
        f"{p} is not a model: no manifest.json, no current.json, no promoted target",
        hint="point at a directory written by 'forecaster train --out DIR' (or one of its versions)",
    )


def _check_fits(
    promoted: PromotedModel, *, step: pd.Timedelta | str | None, quantiles: Sequence[float] | None
) -> None:
    from forecaster.predictors import quantile_label

    model, version = promoted.model, promoted.ref.version
    if step is not None and pd.Timedelta(model.step) != pd.Timedelta(step):
        raise ModelStoreError(
            f"model {version} forecasts in steps of {model.step}, the target's step is {pd.Timedelta(step)}",
            hint="retrain with the target's config",
        )
    missing = {quantile_label(q) for q in quantiles or ()} - {quantile_label(q) for q in model.quantiles}
    if missing:
        raise ModelStoreError(
            f"model {version} lacks quantile(s) {', '.join(sorted(missing))} of the target's config",
            hint="retrain with the target's config",
        )
