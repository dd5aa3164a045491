"""One refresher for all API replicas: the Lease holder computes forecasts, the others serve its snapshot.

Without this, every replica queries Prometheus for every target once per step, so the load grows with the
number of replicas. With ``refresher: elected`` the replicas elect a leader on a coordination.k8s.io Lease
(:class:`~forecaster.prescaler.leader.LeaderElector`, the prescaler's, through the one Kubernetes wrapper);
only the leader refreshes (one query per target per step, however many replicas), and after each tick in
which something changed it writes every target's cached forecast to one snapshot file on the volume the
replicas already share (the model store's ReadWriteMany volume). Followers check the file's identity (inode,
size, mtime) every tick and load it when it changed.

Why a file on the shared volume, not a ConfigMap: 1,000 targets' forecasts and recent actuals are a few MB,
above a ConfigMap's 1 MiB limit, and writing it every minute would load the API server (and need RBAC to
write ConfigMaps); the volume is already mounted by every replica. The write is atomic (a temporary file in
the same directory, fsync, ``os.replace``): a follower reads the old snapshot or the new one, never half.

The snapshot is JSON (never pickle): what a follower reads is data, not code. This module must not query a
source; a follower never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.api.cache import CachedForecast, ForecastService, ServingModel
from forecaster.errors import ConfigError, ForecasterError

__all__ = ["SnapshotFile", "SharedRefresher", "snapshot_document", "apply_snapshot", "SNAPSHOT_VERSION"]

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 1


def _index_ns(index: Any) -> list[int]:
    return pd.DatetimeIndex(index).as_unit("ns").asi8.tolist()


def _series(values: pd.Series) -> dict[str, Any]:
    return {
        "index_ns": _index_ns(values.index),
        "values": [None if not np.isfinite(v) else float(v) for v in values.to_numpy(dtype=float)],
    }


def _to_series(data: dict[str, Any]) -> pd.Series:
    index = pd.DatetimeIndex(np.asarray(data["index_ns"], dtype="int64").view("datetime64[ns]"))
    return pd.Series(np.array([np.nan if v is None else v for v in data["values"]], dtype=float), index=index)


def _ns(ts: pd.Timestamp | None) -> int | None:
    return None if ts is None else int(pd.Timestamp(ts).value)


def _ts(value: int | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


def snapshot_document(service: ForecastService, *, written_at: pd.Timestamp) -> dict[str, Any]:
    """Every target's cached forecast and refresh state, as JSON-ready data (pure)."""
    targets: dict[str, Any] = {}
    for name, state in service.targets.items():
        entry = state.entry
        item: dict[str, Any] = {
            "last_success_bucket": state.last_success_bucket,
            "last_error": state.last_error,
            "last_error_at_ns": _ns(state.last_error_at),
            "entry": None,
        }
        if entry is not None:
            model = entry.model
            item["entry"] = {
                "generated_at_ns": _ns(entry.generated_at),
                "actual": _series(entry.actual),
                "forecast": {
                    "index_ns": _index_ns(entry.forecast.index),
                    "columns": {str(c): _series(entry.forecast[c])["values"] for c in entry.forecast.columns},
                },
                "model": {
                    "kind": model.kind,
                    "name": model.name,
                    "version": model.version,
                    "trained_at": model.trained_at,
                    "metrics": model.metrics,
                    "note": model.note,
                },
                "model_name": entry.model_name,
                "note": entry.note,
                "events": entry.events,
            }
        targets[name] = item
    return {"version": SNAPSHOT_VERSION, "written_at_ns": _ns(written_at), "targets": targets}


def apply_snapshot(service: ForecastService, doc: dict[str, Any]) -> int:
    """Serve what ``doc`` holds for the targets this replica knows; returns how many forecasts changed.

    A forecast replaces the held one only when it is newer; the refresh state (errors, the step last done)
    follows the leader's, so a follower reports staleness exactly as the leader would.
    """
    if doc.get("version") != SNAPSHOT_VERSION:
        raise ConfigError(
            f"snapshot version {doc.get('version')!r}, this replica reads {SNAPSHOT_VERSION}",
            hint="run the same forecaster version on every API replica",
        )
    changed = 0
    for name, item in (doc.get("targets") or {}).items():
        state = service.targets.get(name)
        if state is None:
            continue  # a target only the leader's configuration has (a rollout in progress)
        state.last_success_bucket = item.get("last_success_bucket")
        state.last_error = item.get("last_error")
        state.last_error_at = _ts(item.get("last_error_at_ns"))
        data = item.get("entry")
        if data is None:
            continue
        generated_at = _ts(data["generated_at_ns"])
        assert generated_at is not None
        if state.entry is not None and state.entry.generated_at >= generated_at:
            continue
        fc = data["forecast"]
        index = pd.DatetimeIndex(np.asarray(fc["index_ns"], dtype="int64").view("datetime64[ns]"))
        frame = pd.DataFrame(
            {
                c: np.array([np.nan if v is None else v for v in vs], dtype=float)
                for c, vs in fc["columns"].items()
            },
            index=index,
        )
        m = data["model"]
        model = ServingModel(
            predictor=None,
            kind=m["kind"],
            name=m["name"],
            version=m.get("version"),
            trained_at=m.get("trained_at"),
            metrics=m.get("metrics") or {},
            note=m.get("note"),
        )
        state.entry = CachedForecast(
            target=name,
            generated_at=generated_at,
            actual=_to_series(data["actual"]),
            forecast=frame,
            model=model,
            model_name=data["model_name"],
            note=data.get("note"),
            events=list(data.get("events") or []),
        )
        changed += 1
    return changed


class SnapshotFile:
    """The snapshot at ``path``: written atomically by the leader, read by followers when it changed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None

    def write(self, doc: dict[str, Any]) -> None:
        """Atomically replace the snapshot (temporary file in the same directory, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def read_if_changed(self) -> dict[str, Any] | None:
        """The snapshot when it differs from the one last read (None: unchanged or not written yet)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        ident = (st.st_ino, st.st_size, st.st_mtime_ns)
        if ident == self._seen:
            return None
        try:
            doc = json.loads(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the forecast snapshot {self.path}: {exc}",
                hint="the leader rewrites it at its next refresh",
            ) from exc
        self._seen = ident
        return doc


class SharedRefresher:
    """The refresher loop of ``refresher: elected``: lead (refresh, then write) or follow (read, then serve)."""

    def __init__(
        self, service: ForecastService, *, elector: Any, snapshot: SnapshotFile, metrics: Any = None
    ) -> None:
        self.service = service
        self.elector = elector
        self.snapshot = snapshot
        self.metrics = metrics
        self.leading = False
        self._written_changes: int | None = None

    async def step(self) -> None:
        now = self.service.clock()
        self.leading = bool(await asyncio.to_thread(self.elector.ensure, now))
        if self.metrics is not None:
            self.metrics.leader.set(1 if self.leading else 0)
        if self.leading:
            await self.service.refresh_due()
            if self.service.changes != self._written_changes:
                doc = snapshot_document(self.service, written_at=self.service.clock())
                await asyncio.to_thread(self.snapshot.write, doc)
                self._written_changes = self.service.changes
            return
        self._written_changes = None  # leading again later: write at once
        doc = await asyncio.to_thread(self.snapshot.read_if_changed)
        if doc is not None:
            apply_snapshot(self.service, doc)

    async def run(self, *, tick_s: float) -> None:
        """Until cancelled; a failing step is logged and the next tick tries again."""
        try:
            while True:
                try:
                    await self.step()
                except asyncio.CancelledError:
                    raise
                except (ForecasterError, OSError) as exc:
                    log.warning("shared refresher: %s", exc)
                except Exception:  # noqa: BLE001 - keep serving what is held
                    log.exception("shared refresher tick failed")
                await asyncio.sleep(tick_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.elector.release, self.service.clock())
