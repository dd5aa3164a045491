"""A cache of one kind of custom resource, fed by list + watch: what the prescaler reads each tick.

At fleet scale listing 1,000 PrescalePolicies (and their ForecastTargets) every tick costs the API server a full
list per tick; a :class:`WatchCache` lists once, then follows the changes with a watch from the list's
``resourceVersion`` (resuming from the last event's on reconnect), and lists again only when the server says
that version is gone (410, after etcd compaction) or the watch cannot resume. Our own writes are folded in
at once (:meth:`WatchCache.observe`), so the next tick never compares against a status we already replaced.

:meth:`WatchCache.step` is one list or one watch round (bounded by ``watch_timeout_s``); :meth:`run` repeats
it in a thread with the named backoff :data:`RESTART_BACKOFF_S` after failures. This module must not decide
anything; all requests go through :class:`~forecaster.prescaler.kube.KubeClient`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from forecaster.errors import ForecasterError
from forecaster.prescaler.kube import GoneError, KubeClient, Resource

__all__ = ["WatchCache", "RESTART_BACKOFF_S", "object_key"]

log = logging.getLogger(__name__)

RESTART_BACKOFF_S: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits before restarting after consecutive failed rounds (the last repeats): an API server in trouble is not
hammered, and the cache (still serving its last state) catches up within seconds once it is back."""


def object_key(obj: dict[str, Any]) -> str:
    """``namespace/name`` (``name`` for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def _rv(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:  # opaque on real servers in principle; integers on every one in practice
        return 0


class WatchCache:
    """Objects of ``resource`` (in ``namespace``, or all), kept current by list + watch."""

    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        page_size: int = 500,
        watch_timeout_s: float = 60.0,
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.namespace = namespace
        self.page_size = page_size
        self.watch_timeout_s = watch_timeout_s
        self._items: dict[str, dict[str, Any]] = {}
        self._resource_version: str | None = None
        self._lock = threading.Lock()
        self.synced = threading.Event()
        """Set once the first list has been read: before that the cache knows nothing."""
        self.lists = 0
        """Full lists made (the first one plus one per relist)."""
        self.events = 0

    # -- reading ----------------------------------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        """The cached objects, sorted by key (treat them as read-only: they are shared)."""
        with self._lock:
            return [self._items[k] for k in sorted(self._items)]

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get(key)

    @property
    def resource_version(self) -> str | None:
        return self._resource_version

    def observe(self, obj: dict[str, Any]) -> None:
        """Fold in a copy the API server just returned to our own write (unless the cache has a newer one)."""
        if not obj.get("metadata", {}).get("name"):
            return
        key = object_key(obj)
        with self._lock:
            held = self._items.get(key)
            if held is not None and _rv(held) <= _rv(obj):
                self._items[key] = obj

    # -- feeding ----------------------------------------------------------------------------------------

    def relist(self) -> None:
        """A full list (in pages): replaces the cache and sets where the next watch starts."""
        items, version = self.kube.list_with_version(
            self.resource, namespace=self.namespace, page_size=self.page_size
        )
        with self._lock:
            self._items = {object_key(o): o for o in items}
            self._resource_version = version
        self.lists += 1
        self.synced.set()

    def step(self) -> None:
        """One round: list if there is nothing to resume from, else watch for up to ``watch_timeout_s``.

        A 410 Gone forgets the resourceVersion, so the next round lists again. Other failures propagate (the
        caller backs off); the cache keeps serving what it has, and resumes from the last event seen.
        """
        if self._resource_version is None:
            self.relist()
            return
        try:
            for event in self.kube.watch(
                self.resource,
                namespace=self.namespace,
                resource_version=self._resource_version,
                timeout_s=self.watch_timeout_s,
            ):
                self.apply(event.type, event.obj)
        except GoneError as exc:
            log.info("%s; listing %s again", exc, self.resource.plural)
            self._resource_version = None

    def apply(self, type_: str, obj: dict[str, Any]) -> None:
        """One watch event: ADDED/MODIFIED store the object, DELETED drops it, BOOKMARK only moves on."""
        version = (obj.get("metadata") or {}).get("resourceVersion")
        self.events += 1
        with self._lock:
            if type_ in ("ADDED", "MODIFIED"):
                self._items[object_key(obj)] = obj
            elif type_ == "DELETED":
                self._items.pop(object_key(obj), None)
            if version:
                self._resource_version = version

    def run(self, stop: threading.Event, *, wait: Callable[[float], bool] | None = None) -> None:
        """Repeat :meth:`step` until ``stop``, backing off along :data:`RESTART_BACKOFF_S` after failures."""
        pause = wait or stop.wait
        failures = 0
        while not stop.is_set():
            try:
                self.step()
                failures = 0
            except ForecasterError as exc:
                delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
                failures += 1
                log.warning("%s cache: %s; again in %.1fs", self.resource.plural, exc, delay)
                pause(delay)

    def start(self, stop: threading.Event) -> threading.Thread:
        """:meth:`run` in a daemon thread."""
        thread = threading.Thread(
            target=self.run, args=(stop,), name=f"watch-{self.resource.plural}", daemon=True
        )
        thread.start()
        return thread
