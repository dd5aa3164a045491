"""A FAKE Kubernetes API server for tests: no kube-apiserver can run on these machines.

``FakeKubeApiServer`` listens on 127.0.0.1 (a free port) and speaks enough of the Kubernetes REST API for
the real ``kubernetes`` Python client, configured through a generated kubeconfig, to drive the prescaler:

- objects of the kinds in :data:`KINDS` (deployments and statefulsets with their scale subresource, HPAs
  autoscaling/v2, PrescalePolicies with status subresource and finalizers, leases, core/v1 events, Cluster
  API MachineDeployments and MachinePools with scale, KEDA ScaledObjects keda.sh/v1alpha1, ForecastTargets
  forecasting.forecaster.io/v1alpha1 with status subresource);
- get, list (namespaced and across namespaces, in pages with ``limit``/``continue``), create, update (PUT), patch (merge, strategic merge treated
  as merge: our objects only patch maps, and JSON patch), delete;
- ``metadata.resourceVersion`` from one global counter, 409 Conflict when a write carries a stale one, and
  ``generation`` bumped on spec changes;
- deletion with finalizers sets ``deletionTimestamp``; the object goes when its finalizers are emptied;
- fault injection per verb/resource/subresource (status codes, ``Retry-After``, slow answers);
- a record of (verb, group, resource, subresource, namespace) for every request, here and in the
  process-wide :data:`ALL_REQUESTS` (the RBAC test checks both against ``k8s/base/prescaler-rbac.yaml``).

- watch (``?watch=1&resourceVersion=N&timeoutSeconds=T``) as a chunked stream of JSON lines, from a log of
  every change; :meth:`FakeKubeApiServer.compact` forgets that log, so a watch from before it gets the
  ``ERROR`` event with code 410 Gone that a real server sends once etcd has compacted the revision.

It is a fake: no admission, no validation beyond what the tests need, no field selectors. Scale
writes "roll out" at once (``status.replicas`` follows ``spec.replicas``) unless ``rollout=False``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["FakeKubeApiServer", "RecordedRequest", "Fault", "KINDS", "ALL_REQUESTS"]


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    scale: bool = False
    status_subresource: bool = False


KINDS: dict[str, Kind] = {
    k.plural: k
    for k in (
        Kind("apps", "v1", "deployments", "Deployment", scale=True, status_subresource=True),
        Kind("apps", "v1", "statefulsets", "StatefulSet", scale=True, status_subresource=True),
        Kind(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            status_subresource=True,
        ),
        Kind(
            "prescaling.forecaster.io",
            "v1alpha1",
            "prescalepolicies",
            "PrescalePolicy",
            status_subresource=True,
        ),
        Kind("coordination.k8s.io", "v1", "leases", "Lease"),
        Kind("", "v1", "events", "Event"),
        Kind(
            "cluster.x-k8s.io",
            "v1beta1",
            "machinedeployments",
            "MachineDeployment",
            scale=True,
            status_subresource=True,
        ),
        Kind(
            "cluster.x-k8s.io", "v1beta1", "machinepools", "MachinePool", scale=True, status_subresource=True
        ),
        Kind("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject", status_subresource=True),
        Kind(
            "forecasting.forecaster.io",
            "v1alpha1",
            "forecasttargets",
            "ForecastTarget",
            status_subresource=True,
        ),
    )
}
_BY_KIND = {k.kind: k for k in KINDS.values()}


@dataclass(frozen=True)
class RecordedRequest:
    verb: str
    group: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None = None


ALL_REQUESTS: list[RecordedRequest] = []
"""Every request any fake server answered in this process (for the RBAC completeness check)."""


@dataclass
class Fault:
    status: int
    verb: str | None = None
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None
    times: int = 1
    delay_s: float = 0.0
    retry_after_s: float | None = None

    def matches(self, req: RecordedRequest) -> bool:
        return (
            (self.verb is None or self.verb == req.verb)
            and (self.resource is None or self.resource == req.resource)
            and (self.subresource is None or self.subresource == (req.subresource or ""))
            and (self.name is None or self.name == req.name)
        )


class _HttpError(Exception):
    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.headers = status, reason, message, headers or {}


_PATH_RE = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, test)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op["value"]:
                raise _HttpError(422, "Invalid", f"test failed at {op['path']}")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(idx, op["value"])
                else:
                    parent[idx] = op["value"]
            else:
                parent[last] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                parent.pop(last)
        else:
            raise _HttpError(422, "Invalid", f"unsupported json-patch op {kind}")
    return doc


class FakeKubeApiServer:
    """A fake API server on 127.0.0.1 for the real ``kubernetes`` client. Use as a context manager."""

    def __init__(self, *, rollout: bool = True, rbac_checked: bool = True) -> None:
        self.rollout = rollout
        self.rbac_checked = rbac_checked
        """False for servers that tests drive with the client directly (not as the prescaler): their requests
        stay out of :data:`ALL_REQUESTS`."""
        self._objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self._rv = 100
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._history: list[tuple[int, str, str, str | None, dict[str, Any]]] = []
        """Every change: (resourceVersion, event type, plural, namespace, the object after it)."""
        self._compacted_rv = 0
        """Watches from a resourceVersion below this get 410 Gone."""
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> FakeKubeApiServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-kube-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeKubeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the fake first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "prescaler", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "prescaler", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))  # JSON is valid YAML
        return path

    # -- test helpers -------------------------------------------------------------------------------------

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Seed (or overwrite) an object, bypassing the API; returns the stored copy."""
        kind = _BY_KIND[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace") if kind.namespaced else None
        with self._lock:
            stored = copy.deepcopy(obj)
            self._stamp_new(stored, kind)
            if kind.scale:
                stored.setdefault("status", {}).setdefault(
                    "replicas", stored.get("spec", {}).get("replicas", 1)
                )
            key = (kind.plural, ns, meta["name"])
            self._record("MODIFIED" if key in self._objects else "ADDED", key, stored)
            self._objects[key] = stored
            return copy.deepcopy(stored)

    def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((plural, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(o)
                for (p, ns, _), o in sorted(self._objects.items(), key=lambda kv: str(kv[0]))
                if p == plural and (namespace is None or ns == namespace)
            ]

    def set_field(self, plural: str, namespace: str | None, name: str, path: str, value: Any) -> None:
        """Change one field (dotted path) as another client would, bumping resourceVersion."""
        with self._lock:
            obj = self._objects[(plural, namespace, name)]
            *parents, last = path.split(".")
            node = obj
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._record("MODIFIED", (plural, namespace, name), obj)

    def delete(self, plural: str, namespace: str | None, name: str) -> None:
        """Delete as a user would (``kubectl delete``), with finalizer semantics, without recording a request."""
        with self._lock:
            key = (plural, namespace, name)
            self._delete(key, self._objects[key])

    def remove(self, plural: str, namespace: str | None, name: str) -> None:
        with self._lock:
            obj = self._objects.pop((plural, namespace, name), None)
            if obj is not None:
                obj["metadata"]["resourceVersion"] = self._next_rv()
                self._record("DELETED", (plural, namespace, name), obj)

    def compact(self) -> None:
        """Forget the change log (etcd compaction): a watch from any resourceVersion seen so far gets 410."""
        with self._lock:
            self._history.clear()
            self._compacted_rv = self._rv + 1
            self._changed.notify_all()

    def fail(
        self,
        status: int,
        *,
        verb: str | None = None,
        resource: str | None = None,
        subresource: str | None = None,
        name: str | None = None,
        times: int = 1,
        delay_s: float = 0.0,
        retry_after_s: float | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests with ``status`` (0 = only delay, then answer normally)."""
        fault = Fault(status, verb, resource, subresource, name, times, delay_s, retry_after_s)
        with self._lock:
            self.faults.append(fault)
        return fault

    def requests_matching(
        self, *, verb: str | None = None, resource: str | None = None, subresource: str | None = None
    ) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (verb is None or r.verb == verb)
                and (resource is None or r.resource == resource)
                and (subresource is None or (r.subresource or "") == subresource)
            ]

    def writes(self) -> list[RecordedRequest]:
        """Requests that change something (create, update, patch, delete)."""
        with self._lock:
            return [r for r in self.requests if r.verb in {"create", "update", "patch", "delete"}]

    def events(self) -> list[dict[str, Any]]:
        return self.objects("events")

    # -- internals --------------------------------------------------------------------------------------

    def _record(self, type_: str, key: tuple[str, str | None, str], obj: dict[str, Any]) -> None:
        """Log a change for watches (under the lock) and wake them."""
        rv = int(obj["metadata"]["resourceVersion"])
        self._history.append((rv, type_, key[0], key[1], copy.deepcopy(obj)))
        self._changed.notify_all()

    def watch_events(self, plural: str, namespace: str | None, since_rv: int, *, timeout_s: float) -> Any:
        """Yield watch events (dicts) for ``plural`` after ``since_rv`` until ``timeout_s`` has passed."""
        deadline = time.monotonic() + timeout_s
        sent = since_rv
        while True:
            with self._lock:
                if since_rv < self._compacted_rv - 1 and sent == since_rv:
                    yield {
                        "type": "ERROR",
                        "object": {
                            "kind": "Status",
                            "apiVersion": "v1",
                            "status": "Failure",
                            "message": f"too old resource version: {since_rv} ({self._compacted_rv})",
                            "reason": "Expired",
                            "code": 410,
                        },
                    }
                    return
                batch = [
                    (rv, t, o)
                    for rv, t, p, ns, o in self._history
                    if rv > sent and p == plural and (namespace is None or ns == namespace)
                ]
                if not batch:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    self._changed.wait(min(left, 0.2))
                    continue
            for rv, type_, obj in batch:
                sent = max(sent, rv)
                yield {"type": type_, "object": copy.deepcopy(obj)}

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _stamp_new(self, obj: dict[str, Any], kind: Kind) -> None:
        meta = obj["metadata"]
        meta["resourceVersion"] = self._next_rv()
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta.setdefault("generation", 1)
        obj.setdefault("apiVersion", f"{kind.group}/{kind.version}" if kind.group else kind.version)
        obj.setdefault("kind", kind.kind)

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, content_type: str = ""
    ) -> tuple[int, dict[str, Any]]:
        m = _PATH_RE.match(path)
        if not m:
            raise _HttpError(404, "NotFound", f"the server could not find the requested resource {path}")
        group = "" if m["core"] else m["group"]
        version = m["core"] or m["version"]
        plural, ns = m["plural"], m["ns"]
        name = unquote(m["name"]) if m["name"] else None
        sub = m["sub"]
        ns = unquote(ns) if ns else None
        if method == "GET":
            verb = "get" if name else ("watch" if query.get("watch") else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        req = RecordedRequest(verb, group, plural, sub, ns, name)
        with self._lock:
            self.requests.append(req)
            if self.rbac_checked:
                ALL_REQUESTS.append(req)
            fault = next((f for f in self.faults if f.times > 0 and f.matches(req)), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.status:
                headers = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s is not None else {}
                reason = {403: "Forbidden", 404: "NotFound", 409: "Conflict"}.get(
                    fault.status, "InternalError"
                )
                message = f"injected {fault.status} for {verb} {plural}"
                if fault.status == 403:
                    message = (
                        f'{plural}{"." + group if group else ""} "{name or ""}" is forbidden: User '
                        f'"system:serviceaccount:forecaster:prescaler" cannot {verb} resource "{plural}"'
                    )
                raise _HttpError(fault.status, reason, message, headers)
        kind = KINDS.get(plural)
        if kind is None or kind.group != group or kind.version != version:
            raise _HttpError(
                404,
                "NotFound",
                f"the server could not find the requested resource ({group}/{version} {plural})",
            )
        if sub not in (None, "status", "scale") or (sub == "scale" and not kind.scale):
            raise _HttpError(404, "NotFound", f"{plural} has no subresource {sub}")
        if verb == "watch":
            since = int((query.get("resourceVersion") or ["0"])[0] or 0)
            timeout_s = float((query.get("timeoutSeconds") or ["30"])[0])
            return 200, {"__watch__": (plural, ns, since, timeout_s)}
        with self._lock:
            if verb == "list":
                items = [
                    copy.deepcopy(o)
                    for (p, n, _), o in sorted(self._objects.items())
                    if p == plural and (ns is None or n == ns)
                ]
                list_meta: dict[str, Any] = {"resourceVersion": str(self._rv)}
                if query.get("limit"):  # pages: the continue token is the next offset
                    offset = int((query.get("continue") or ["0"])[0])
                    limit = int(query["limit"][0])
                    if offset + limit < len(items):
                        list_meta["continue"] = str(offset + limit)
                    items = items[offset : offset + limit]
                return 200, {
                    "apiVersion": f"{group}/{version}" if group else version,
                    "kind": f"{kind.kind}List",
                    "metadata": list_meta,
                    "items": items,
                }
            if verb == "create":
                return self._create(kind, ns, body)
            assert name is not None
            key = (plural, ns if kind.namespaced else None, name)
            obj = self._objects.get(key)
            if obj is None:
                raise _HttpError(
                    404, "NotFound", f'{plural}{"." + group if group else ""} "{name}" not found'
                )
            if verb == "get":
                return 200, self._view(kind, obj, sub)
            if verb == "delete":
                return self._delete(key, obj)
            if verb == "update":
                new = body
            else:
                ctype = content_type
                current = self._view(kind, obj, sub)
                if ctype == "application/json-patch+json":
                    new = json_patch(current, body)
                elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                    new = merge_patch(current, body)
                else:
                    raise _HttpError(415, "UnsupportedMediaType", f"unsupported patch type {ctype}")
            return self._write(kind, key, obj, sub, new, is_update=verb == "update")

    def _create(self, kind: Kind, ns: str | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        meta = body.setdefault("metadata", {})
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise _HttpError(422, "Invalid", "metadata.name: Required value")
        if kind.namespaced:
            meta["namespace"] = ns
        key = (kind.plural, ns if kind.namespaced else None, meta["name"])
        if key in self._objects:
            raise _HttpError(409, "AlreadyExists", f'{kind.plural} "{meta["name"]}" already exists')
        meta.pop("resourceVersion", None)
        self._stamp_new(body, kind)
        self._objects[key] = body
        self._record("ADDED", key, body)
        return 201, copy.deepcopy(body)

    def _delete(self, key: tuple[str, str | None, str], obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                meta["resourceVersion"] = self._next_rv()
                self._record("MODIFIED", key, obj)
            return 200, copy.deepcopy(obj)
        del self._objects[key]
        meta["resourceVersion"] = self._next_rv()
        self._record("DELETED", key, obj)
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}

    def _view(self, kind: Kind, obj: dict[str, Any], sub: str | None) -> dict[str, Any]:
        if sub != "scale":
            return copy.deepcopy(obj)
        meta = obj["metadata"]
        selector = ",".join(
            f"{k}={v}"
            for k, v in sorted(((obj.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).items())
        )
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "resourceVersion": meta["resourceVersion"],
                "uid": meta["uid"],
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": selector},
        }

    def _write(
        self,
        kind: Kind,
        key: tuple[str, str | None, str],
        obj: dict[str, Any],
        sub: str | None,
        new: dict[str, Any],
        *,
        is_update: bool,
    ) -> tuple[int, dict[str, Any]]:
        if not isinstance(new, dict):
            raise _HttpError(400, "BadRequest", "body must be an object")
        sent_rv = (new.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != obj["metadata"]["resourceVersion"]:
            raise _HttpError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind.plural} "{key[2]}": the object has been modified; '
                "please apply your changes to the latest version and try again",
            )
        if sub == "scale":
            replicas = (new.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise _HttpError(422, "Invalid", f"spec.replicas: Invalid value: {replicas!r}")
            updated = copy.deepcopy(obj)
            updated.setdefault("spec", {})["replicas"] = replicas
            if self.rollout:
                updated.setdefault("status", {})["replicas"] = replicas
        elif sub == "status":
            updated = copy.deepcopy(obj)
            updated["status"] = copy.deepcopy(new.get("status") or {})
        else:
            updated = copy.deepcopy(new)
            meta = updated.setdefault("metadata", {})
            # Fields the server owns.
            for field in ("uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp"):
                if field in obj["metadata"]:
                    meta[field] = obj["metadata"][field]
                else:
                    meta.pop(field, None)
            if kind.status_subresource:
                if "status" in obj:
                    updated["status"] = copy.deepcopy(obj["status"])
                else:
                    updated.pop("status", None)
            if updated.get("spec") != obj.get("spec"):
                meta["generation"] = obj["metadata"].get("generation", 1) + 1
            if obj["metadata"].get("deletionTimestamp") and len(meta.get("finalizers") or []) > len(
                obj["metadata"].get("finalizers") or []
            ):
                raise _HttpError(
                    422, "Invalid", "no new finalizers can be added if the object is being deleted"
                )
        if updated == obj:
            return 200, self._view(
                kind, obj, sub
            )  # a no-op write keeps the resourceVersion, as the server does
        updated["metadata"]["resourceVersion"] = self._next_rv()
        if updated["metadata"].get("deletionTimestamp") and not updated["metadata"].get("finalizers"):
            del self._objects[key]
            self._record("DELETED", key, updated)
            return 200, self._view(kind, updated, sub)
        self._objects[key] = updated
        self._record("MODIFIED", key, updated)
        return 200, self._view(kind, updated, sub)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubeApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
            ctype = (self.headers.get("Content-Type") or "").split(";")[0]
            status, payload = self.fake.handle(self.command, parts.path, parse_qs(parts.query), body, ctype)
            headers: dict[str, str] = {}
            if "__watch__" in payload:
                self._stream(*payload["__watch__"])
                return
        except _HttpError as exc:
            status, headers = exc.status, exc.headers
            payload = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": exc.message,
                "reason": exc.reason,
                "code": exc.status,
            }
        except ValueError as exc:
            status, headers = 400, {}
            payload = {"kind": "Status", "status": "Failure", "message": f"bad request: {exc}", "code": 400}
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def _stream(self, plural: str, ns: str | None, since: int, timeout_s: float) -> None:
        """A watch answer: chunked JSON lines, one per event, until the watch's timeout."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in self.fake.watch_events(plural, ns, since, timeout_s=timeout_s):
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped watching

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
