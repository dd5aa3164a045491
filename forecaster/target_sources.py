"""Where forecast targets come from: ForecastTarget resources in a cluster, or YAML files outside one.

A source lists every declared target as a :class:`TargetEntry`: its validated :class:`TargetConfig`, or, when
its declaration is invalid, the error (one bad target never hides the others). It also records what a
training run did to a target: in a cluster, a patch of the ForecastTarget's status subresource (through
:mod:`forecaster.prescaler.kube`, the one Kubernetes wrapper); with files, in memory (the trainer logs it).

This module must not decide anything (which targets a shard trains is :mod:`forecaster.fleet`'s call).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from forecaster.errors import ConfigError, ForecasterError
from forecaster.prescaler.kube import FORECAST_TARGETS, KubeClient
from forecaster.settings import KUSTOMIZATION_FILES, TargetConfig, load_target_config
from forecaster.target_resource import (
    TrainingRecord,
    is_forecast_target,
    target_config_from_object,
    template_from_object,
    training_status,
)
from forecaster.templates import Template

__all__ = ["TargetEntry", "TargetSource", "FileTargetSource", "ClusterTargetSource", "LIST_PAGE_SIZE"]

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 500
"""ForecastTargets per list request: a fleet of thousands is read in a few pages, none of them huge."""


@dataclass
class TargetEntry:
    """One declared target: its config, or the error that makes its declaration unusable."""

    name: str
    config: TargetConfig | None = None
    error: str | None = None
    origin: str = ""
    """Where it was declared (a file, or ``ForecastTarget ns/name``)."""
    obj: dict[str, Any] | None = field(default=None, repr=False)
    """The ForecastTarget as listed (its status is updated from it); None for files."""
    template: Template | None = None
    """Set for a fleet template (``spec.splitBy``): ``config`` is then the template's own settings."""


class TargetSource(Protocol):
    """Lists declared targets and records what training did to each."""

    def list(self) -> list[TargetEntry]: ...

    def record(self, entry: TargetEntry, record: TrainingRecord) -> None: ...


class FileTargetSource:
    """Targets from a directory of YAML files (plain configs or ForecastTarget manifests); its kustomization
    file is skipped. Records are kept in :attr:`records` (there is no status to write)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.records: dict[str, TrainingRecord] = {}

    def list(self) -> list[TargetEntry]:
        if not self.directory.is_dir():
            raise ConfigError(
                f"{self.directory} is not a directory", hint="pass --targets DIR (e.g. training/)"
            )
        entries: list[TargetEntry] = []
        seen: dict[str, str] = {}
        for path in sorted(self.directory.glob("*.y*ml")):
            if path.name in KUSTOMIZATION_FILES:
                continue
            try:
                cfg = load_target_config(path)
                doc = yaml.safe_load(path.read_text())
                template = template_from_object(doc) if is_forecast_target(doc) else None
            except ConfigError as exc:
                entries.append(TargetEntry(name=path.stem, error=str(exc), origin=str(path)))
                continue
            if cfg.name in seen:
                entries.append(
                    TargetEntry(
                        name=cfg.name,
                        error=f"{path}: target {cfg.name!r} is already defined in {seen[cfg.name]}",
                        origin=str(path),
                    )
                )
                continue
            seen[cfg.name] = str(path)
            entries.append(TargetEntry(name=cfg.name, config=cfg, origin=str(path), template=template))
        return entries

    def record(self, entry: TargetEntry, record: TrainingRecord) -> None:
        self.records[entry.name] = record


class ClusterTargetSource:
    """ForecastTarget resources in one namespace (the trainer's own: target names key the model store, so
    they must be unique, which one namespace guarantees)."""

    def __init__(self, kube: KubeClient, *, namespace: str, page_size: int = LIST_PAGE_SIZE) -> None:
        self.kube = kube
        self.namespace = namespace
        self.page_size = page_size

    def list(self) -> list[TargetEntry]:
        entries = []
        for obj in self.kube.list(FORECAST_TARGETS, namespace=self.namespace, page_size=self.page_size):
            name = str((obj.get("metadata") or {}).get("name"))
            origin = f"ForecastTarget {self.namespace}/{name}"
            try:
                cfg = target_config_from_object(obj)
                template = template_from_object(obj)
            except ConfigError as exc:
                entries.append(TargetEntry(name=name, error=str(exc), origin=origin, obj=obj))
                continue
            entries.append(TargetEntry(name=name, config=cfg, origin=origin, obj=obj, template=template))
        return entries

    def record(self, entry: TargetEntry, record: TrainingRecord) -> None:
        """Patch the target's status subresource; a failure to do so is logged, never raised (the model
        is already stored: losing a status line must not fail the run)."""
        obj = entry.obj or {}
        meta = obj.get("metadata") or {}
        status = training_status(record, previous=obj.get("status"), generation=meta.get("generation"))
        old = obj.get("status") or {}
        # A merge patch keeps keys it does not mention: null out the ones that are gone.
        patch = {k: None for k in old if k not in status} | status
        try:
            self.kube.merge_patch(
                FORECAST_TARGETS,
                namespace=self.namespace,
                name=entry.name,
                subresource="status",
                patch={"status": patch},
            )
        except ForecasterError as exc:
            log.warning("%s: could not record the training status: %s", entry.origin, exc)
