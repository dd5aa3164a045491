"""Where PrescalePolicies come from: the cluster's custom resources, or YAML files for runs outside one.

A source lists policy objects (plain dicts, unvalidated: the loop parses each on its own) and records what the
controller says about them (status, the restore finalizer). This module must not decide anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from forecaster.prescaler.informer import WatchCache
from forecaster.prescaler.kube import POLICIES, KubeClient, update_fresh
from forecaster.prescaler.policy import load_policy_file

__all__ = ["FINALIZER", "PolicySource", "CrdPolicySource", "WatchedPolicySource", "FilePolicySource"]

FINALIZER = "prescaling.forecaster.io/restore-floor"
"""Keeps a deleted policy until the controller has restored the floors it raised."""


class PolicySource(Protocol):
    """Lists policy objects and records what the controller says about them."""

    def list(self) -> list[dict[str, Any]]: ...

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None: ...

    def set_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> None: ...

    @property
    def uses_finalizers(self) -> bool: ...


def _merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch turning ``old`` into ``new``: keys gone are nulled, nested objects too (a
    merge patch merges objects recursively; lists are replaced whole)."""
    patch = dict(new)
    for key, value in old.items():
        if key not in new:
            patch[key] = None
        elif isinstance(value, dict) and isinstance(new[key], dict):
            patch[key] = _merge_patch(value, new[key])
    return patch


class CrdPolicySource:
    """PrescalePolicy custom resources, in one namespace or all."""

    uses_finalizers = True

    def __init__(self, kube: KubeClient, *, namespace: str | None = None) -> None:
        self.kube = kube
        self.namespace = namespace

    def list(self) -> list[dict[str, Any]]:
        return self.kube.list(POLICIES, namespace=self.namespace)

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        # A merge patch keeps keys it does not mention: null out the ones that are gone.
        patch = _merge_patch(obj.get("status") or {}, status)
        return self.kube.merge_patch(
            POLICIES,
            namespace=meta.get("namespace"),
            name=meta["name"],
            subresource="status",
            patch={"status": patch},
        )

    def set_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> None:
        """Add or remove our finalizer only; other controllers' finalizers are kept (re-read on a 409)."""
        meta = obj["metadata"]
        ours_wanted = FINALIZER in finalizers

        def compute(fresh: dict[str, Any]) -> tuple[dict[str, Any] | None, None]:
            current = list(fresh["metadata"].get("finalizers") or [])
            wanted = [f for f in current if f != FINALIZER] + ([FINALIZER] if ours_wanted else [])
            return ({"metadata": {"finalizers": wanted}} if wanted != current else None), None

        update_fresh(
            self.kube,
            POLICIES,
            namespace=meta.get("namespace"),
            name=meta["name"],
            compute=compute,
            first=obj,
        )


class WatchedPolicySource(CrdPolicySource):
    """PrescalePolicies from a :class:`~forecaster.prescaler.informer.WatchCache` (list + watch): a tick reads
    the cache, not the API server. Until the cache's thread has read its first list, :meth:`list` reads it."""

    def __init__(self, kube: KubeClient, *, cache: WatchCache) -> None:
        super().__init__(kube, namespace=cache.namespace)
        self.cache = cache

    def list(self) -> list[dict[str, Any]]:
        if not self.cache.synced.is_set():
            self.cache.relist()
        return self.cache.items()

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        answer = super().patch_status(obj, status)
        self.cache.observe(answer)  # the next tick compares against what we wrote, not a stale copy
        return answer


class FilePolicySource:
    """Policies from YAML files (runs outside a cluster): statuses are kept in memory and logged."""

    uses_finalizers = False

    def __init__(self, *paths: str | Path) -> None:
        self.paths = [Path(p) for p in paths]
        self.statuses: dict[str, dict[str, Any]] = {}

    def list(self) -> list[dict[str, Any]]:
        out = []
        for path in self.paths:
            for obj in load_policy_file(path):
                meta = obj.setdefault("metadata", {})
                meta.setdefault("namespace", "default")
                key = f"{meta['namespace']}/{meta.get('name')}"
                if key in self.statuses:
                    obj["status"] = self.statuses[key]
                out.append(obj)
        return out

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.statuses[f"{meta['namespace']}/{meta.get('name')}"] = status

    def set_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> None:
        return None
