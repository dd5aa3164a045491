"""The Kubernetes API, as the prescaler uses it: the only module that imports the ``kubernetes`` client.

Everything goes through :meth:`KubeClient.request`, the one retry point for the cluster: 5xx answers, 429
and timeouts/connection errors are *temporary* and retried on the named schedule :data:`BACKOFF_S`
(``Retry-After`` honoured, bounded); everything else is *permanent* and raised at once as a typed error
(:class:`ConflictError`, :class:`ForbiddenError` naming the verb and resource, :class:`NotFoundError`...). The
client's own urllib3 retries are switched off so the two never multiply. Objects go in and come out as plain
dicts (the JSON the API server speaks): the controller never sees the client's generated models.

This module must not decide anything: no scaling policy, no sleeping outside the retry point. A 409 means
"re-read and decide again": :func:`update_fresh` is the one loop that does it, with the caller's ``compute``
deciding on each fresh copy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from forecaster.errors import ConfigError, ForecasterError

__all__ = [
    "BACKOFF_S",
    "KubeSettings",
    "Resource",
    "KubeClient",
    "KubeError",
    "TemporaryKubeError",
    "PermanentKubeError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "InvalidError",
    "GoneError",
    "WatchEvent",
    "POLICIES",
    "HPAS",
    "LEASES",
    "EVENTS",
    "SCALED_OBJECTS",
    "FORECAST_TARGETS",
    "CONFLICT_ATTEMPTS",
    "update_fresh",
    "scalable_resource",
    "SCALABLE_KINDS",
    "MERGE_PATCH",
    "micro_time",
    "rfc3339",
]

log = logging.getLogger(__name__)

BACKOFF_S: tuple[float, ...] = (0.2, 0.5, 1.0)
"""Delays before the 2nd, 3rd and 4th attempt of a temporary failure. Short on purpose: a tick that still
fails is simply retried at the next tick (a minute later), so long in-tick waits only delay other policies."""

MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class KubeSettings:
    """How the prescaler talks to the API server."""

    request_timeout_s: float = 10.0
    """Per request; a slower answer counts as a temporary failure."""
    backoff_s: tuple[float, ...] = BACKOFF_S
    """Retry schedule for temporary failures (one entry per retry)."""
    max_retry_after_s: float = 5.0
    """Cap on a server's ``Retry-After``, so one busy API server cannot stall a whole tick."""


# -- errors ---------------------------------------------------------------------------------------------------


class KubeError(ForecasterError):
    """A request to the Kubernetes API failed. ``verb`` and ``resource`` say which request."""

    temporary = False

    def __init__(
        self,
        problem: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        verb: str = "",
        resource: str = "",
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(problem, hint=hint)
        self.status = status
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.retry_after_s: float | None = None
        """The server's ``Retry-After``, when it sent one."""


class TemporaryKubeError(KubeError):
    """5xx, 429, a timeout or a dropped connection: worth trying again later."""

    temporary = True


class PermanentKubeError(KubeError):
    """The API server refused the request; repeating it unchanged gives the same answer."""


class ConflictError(PermanentKubeError):
    """409: the object changed since it was read (stale resourceVersion) or already exists."""


class NotFoundError(PermanentKubeError):
    """404: the object (or its API) does not exist."""


class GoneError(PermanentKubeError):
    """410: the resourceVersion a watch started from is too old (compacted away): list again, then watch."""


class InvalidError(PermanentKubeError):
    """400/422: the API server rejected the body."""


class ForbiddenError(PermanentKubeError):
    """403 (or 401): the prescaler's ServiceAccount lacks a permission; ``permission`` names it."""

    @property
    def permission(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {self.resource}{where}"


# -- resources ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One API resource: where its objects live and what RBAC calls it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def rbac_name(self, subresource: str | None = None) -> str:
        """``plural[/sub].group`` as in ``kubectl auth can-i`` and 403 messages."""
        name = f"{self.plural}/{subresource}" if subresource else self.plural
        return f"{name}.{self.group}" if self.group else name

    def path(
        self, *, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base


POLICIES = Resource("prescaling.forecaster.io", "v1alpha1", "prescalepolicies", "PrescalePolicy")
HPAS = Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
EVENTS = Resource("", "v1", "events", "Event")
SCALED_OBJECTS = Resource("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject")
FORECAST_TARGETS = Resource("forecasting.forecaster.io", "v1alpha1", "forecasttargets", "ForecastTarget")
"""Read by the trainer (and its status written); see forecaster/target_resource.py."""

SCALABLE_KINDS: dict[tuple[str, str], str] = {
    ("apps", "Deployment"): "deployments",
    ("apps", "StatefulSet"): "statefulsets",
    ("cluster.x-k8s.io", "MachineDeployment"): "machinedeployments",
    ("cluster.x-k8s.io", "MachinePool"): "machinepools",
}
"""Kinds with a scale subresource that the prescaler knows how to address (group, kind) -> plural."""


def scalable_resource(api_version: str, kind: str) -> Resource:
    """The resource behind a ``scaleTargetRef``; ConfigError for a kind the prescaler cannot scale."""
    group, _, version = api_version.rpartition("/")
    plural = SCALABLE_KINDS.get((group, kind))
    if plural is None or not version:
        known = ", ".join(f"{g}/{k}" for g, k in SCALABLE_KINDS)
        raise ConfigError(f"cannot scale {kind} ({api_version})", hint=f"known kinds: {known}")
    return Resource(group, version, plural, kind)


# -- the client -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchEvent:
    """One watch event: ``type`` is ADDED, MODIFIED, DELETED or BOOKMARK; ``obj`` the object as a plain dict."""

    type: str
    obj: dict[str, Any]

    @property
    def resource_version(self) -> str | None:
        return (self.obj.get("metadata") or {}).get("resourceVersion")


_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class KubeClient:
    """Plain-dict access to the resources the prescaler uses, over the real ``kubernetes`` ApiClient.

    Build with :meth:`from_kubeconfig` or :meth:`in_cluster`; ``sleep`` is a seam for tests. Close it (or use it
    as a context manager) to release its connection pool.
    """

    def __init__(
        self,
        api_client: Any,
        *,
        settings: KubeSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api_client
        self.settings = settings or KubeSettings()
        self._sleep = sleep

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        *,
        context: str | None = None,
        settings: KubeSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> KubeClient:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        configuration = client.Configuration()
        try:
            config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        except (ConfigException, OSError) as exc:
            raise ConfigError(
                f"cannot load kubeconfig {path or '~/.kube/config'}: {exc}",
                hint="pass --kubeconfig, or run inside a cluster",
            ) from exc
        return cls(_api_client(configuration), settings=settings, sleep=sleep)

    @classmethod
    def in_cluster(cls, *, settings: KubeSettings | None = None) -> KubeClient:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise ConfigError(
                f"not running in a cluster ({exc})", hint="pass --kubeconfig to run outside a cluster"
            ) from exc
        return cls(_api_client(configuration), settings=settings)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one retry point ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        resource: Resource,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        body: Any = None,
        content_type: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call, retried on temporary failures along ``settings.backoff_s``; the decoded JSON answer."""
        verb = _VERBS[method] if method != "GET" or name is not None else "list"
        path = resource.path(namespace=namespace, name=name, subresource=subresource)
        if query:
            path += "?" + urlencode(dict(query))
        what = dict(verb=verb, resource=resource.rbac_name(subresource), namespace=namespace, name=name)
        schedule = self.settings.backoff_s
        for attempt in range(len(schedule) + 1):
            try:
                return self._request_once(method, path, body=body, content_type=content_type, what=what)
            except TemporaryKubeError as exc:
                if attempt >= len(schedule):
                    raise
                delay = schedule[attempt]
                if exc.retry_after_s is not None:
                    delay = max(delay, min(exc.retry_after_s, self.settings.max_retry_after_s))
                log.info("%s; retry %d/%d in %.1fs", exc, attempt + 1, len(schedule), delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_once(
        self, method: str, path: str, *, body: Any, content_type: str | None, what: dict[str, Any]
    ) -> dict[str, Any]:
        import urllib3

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        method_, url, headers, body_, _ = self._api.param_serialize(
            method=method, resource_path=path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        try:
            response = self._api.call_api(
                method_,
                url,
                header_params=headers,
                body=body_,
                _request_timeout=self.settings.request_timeout_s,
            )
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TemporaryKubeError(
                f"{what['verb']} {what['resource']}: {type(exc).__name__} talking to the API server",
                hint="retried; check the API server's health if it persists",
                **what,
            ) from exc
        except Exception as exc:  # the client wraps TLS failures in ApiException(status=0)
            if getattr(exc, "status", None) == 0:
                raise TemporaryKubeError(f"{what['verb']} {what['resource']}: {exc}", **what) from exc
            raise
        status = response.status
        if 200 <= status < 300:
            if not data:
                return {}
            try:
                return json.loads(data)
            except ValueError as exc:
                raise TemporaryKubeError(
                    f"{what['verb']} {what['resource']}: answer is not JSON", **what
                ) from exc
        raise _error_for(status, data, response.headers, what)

    # -- verbs --------------------------------------------------------------------------------------------

    def list(
        self, resource: Resource, *, namespace: str | None = None, page_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Every object (in ``namespace``, or in all namespaces when None).

        ``page_size`` reads the list in pages of that many objects (``limit``/``continue``), so a fleet of
        thousands of objects is never one huge answer held by the API server at once.
        """
        return self.list_with_version(resource, namespace=namespace, page_size=page_size)[0]

    def list_with_version(
        self, resource: Resource, *, namespace: str | None = None, page_size: int | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """:meth:`list` and the list's ``resourceVersion`` (where a watch of the same objects starts)."""
        if page_size is None:
            answer = self.request("GET", resource, namespace=namespace)
            return list(answer.get("items") or []), (answer.get("metadata") or {}).get("resourceVersion")
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = {"limit": str(page_size)} | ({"continue": token} if token else {})
            page = self.request("GET", resource, namespace=namespace, query=query)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:  # the pages of one list share the first page's snapshot; the last says which
                return items, meta.get("resourceVersion")

    def watch(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        resource_version: str,
        timeout_s: float = 60.0,
    ) -> Iterator[WatchEvent]:
        """Changes to ``resource`` after ``resource_version``, for at most ``timeout_s`` (the server closes then).

        Through the ``kubernetes`` client's own :class:`~kubernetes.watch.Watch` (custom resources only: the
        prescaler watches its policies and ForecastTargets). Not retried here: a broken watch simply ends with
        a :class:`TemporaryKubeError` and its owner (:class:`~forecaster.prescaler.informer.WatchCache`) lists
        again or resumes; a resourceVersion too old to resume from raises :class:`GoneError` (list again).
        """
        import urllib3
        from kubernetes import client, watch
        from kubernetes.client.rest import ApiException

        if not resource.group:
            raise ConfigError(f"watch supports custom resources only, not {resource.plural}")
        api = client.CustomObjectsApi(self._api)
        args: dict[str, Any] = dict(group=resource.group, version=resource.version, plural=resource.plural)
        if namespace is not None:
            func, args["namespace"] = api.list_namespaced_custom_object, namespace
        else:
            func = api.list_cluster_custom_object
        what = dict(verb="watch", resource=resource.rbac_name(), namespace=namespace, name=None)
        stream = watch.Watch().stream(
            func,
            **args,
            resource_version=resource_version,
            timeout_seconds=max(1, int(timeout_s)),
            allow_watch_bookmarks=True,
            _request_timeout=(self.settings.request_timeout_s, timeout_s + self.settings.request_timeout_s),
        )
        try:
            for event in stream:
                obj = event.get("raw_object") or event.get("object")
                if isinstance(obj, dict):
                    yield WatchEvent(str(event.get("type")), obj)
        except ApiException as exc:
            status = int(exc.status or 0)
            if status == 410:
                raise GoneError(
                    f"watch {what['resource']}: resourceVersion {resource_version} is too old ({exc.reason})",
                    hint="list again and watch from the list's resourceVersion",
                    status=410,
                    **what,
                ) from exc
            if status == 0:
                raise TemporaryKubeError(f"watch {what['resource']}: {exc}", **what) from exc
            raise _error_for(
                status,
                (exc.body or b"") if isinstance(exc.body, bytes) else str(exc.body or "").encode(),
                exc.headers,
                what,
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TemporaryKubeError(
                f"watch {what['resource']}: {type(exc).__name__} talking to the API server",
                hint="the watch is started again",
                **what,
            ) from exc

    def get(
        self, resource: Resource, *, namespace: str | None, name: str, subresource: str | None = None
    ) -> dict[str, Any]:
        return self.request("GET", resource, namespace=namespace, name=name, subresource=subresource)

    def create(self, resource: Resource, *, namespace: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", resource, namespace=namespace, body=dict(body))

    def replace(
        self,
        resource: Resource,
        *,
        namespace: str | None,
        name: str,
        body: Mapping[str, Any],
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """PUT: the body's ``metadata.resourceVersion`` makes it fail with ConflictError if the object changed."""
        return self.request(
            "PUT", resource, namespace=namespace, name=name, subresource=subresource, body=dict(body)
        )

    def merge_patch(
        self,
        resource: Resource,
        *,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """RFC 7386 merge patch; put ``metadata.resourceVersion`` in it for an optimistic-concurrency write."""
        return self.request(
            "PATCH",
            resource,
            namespace=namespace,
            name=name,
            subresource=subresource,
            body=dict(patch),
            content_type=MERGE_PATCH,
        )


CONFLICT_ATTEMPTS = 3
"""Read-decide-write attempts when another writer changed the object in between (409)."""


def update_fresh(
    kube: KubeClient,
    resource: Resource,
    *,
    namespace: str | None,
    name: str,
    compute: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, Any]],
    subresource: str | None = None,
    first: dict[str, Any] | None = None,
) -> Any:
    """Merge-patch an object with optimistic concurrency, re-reading it after each 409.

    ``compute(obj)`` returns ``(patch, result)``: the patch to write (None: nothing to change) and what to
    return once written. ``first`` is a copy already read (saves a GET). The patch carries the object's
    ``resourceVersion``, so a change in between is a 409 and ``compute`` decides again on the fresh copy.
    Raises :class:`ConflictError` when the object kept changing ``CONFLICT_ATTEMPTS`` times.
    """
    where = dict(namespace=namespace, name=name, subresource=subresource)
    obj = first
    for attempt in range(CONFLICT_ATTEMPTS):
        if obj is None:
            obj = kube.get(resource, **where)
        patch, result = compute(obj)
        if patch is None:
            return result
        patch.setdefault("metadata", {})["resourceVersion"] = obj["metadata"].get("resourceVersion")
        try:
            kube.merge_patch(resource, patch=patch, **where)
            return result
        except ConflictError:
            log.info("%s %s/%s changed (attempt %d); re-reading", resource.kind, namespace, name, attempt + 1)
            obj = None
    raise ConflictError(
        f"{resource.kind} {namespace}/{name} kept changing; will retry next tick",
        hint="another writer keeps changing it",
        verb="patch",
        resource=resource.rbac_name(subresource),
        namespace=namespace,
        name=name,
    )


def _api_client(configuration: Any) -> Any:
    from kubernetes import client

    # Our request() is the one retry point; urllib3 retrying underneath would multiply the attempts.
    configuration.retries = False
    return client.ApiClient(configuration)


def _error_for(status: int, data: bytes, headers: Any, what: dict[str, Any]) -> KubeError:
    try:
        detail = json.loads(data).get("message", "") if data else ""
    except (ValueError, AttributeError):
        detail = data[:200].decode("utf-8", "replace") if data else ""
    target = what["resource"] + (f" {what['namespace']}/{what['name']}" if what["name"] else "")
    if what["namespace"] and not what["name"]:
        target += f" in {what['namespace']}"
    problem = f"{what['verb']} {target}: HTTP {status}" + (f" ({detail})" if detail else "")
    if status in (401, 403):
        err: KubeError = ForbiddenError(
            problem,
            hint="grant the prescaler's ServiceAccount this permission (see k8s/base/prescaler-rbac.yaml)",
            status=status,
            **what,
        )
    elif status == 404:
        err = NotFoundError(
            problem, hint="check the name, namespace and that the API is installed", status=status, **what
        )
    elif status == 410:
        err = GoneError(problem, hint="list again and watch from there", status=status, **what)
    elif status == 409:
        err = ConflictError(problem, hint="re-read the object and try again", status=status, **what)
    elif status in (400, 422):
        err = InvalidError(problem, status=status, **what)
    elif status == 429 or status >= 500 or status == 408:
        err = TemporaryKubeError(problem, hint="retried; the next tick tries again", status=status, **what)
        retry_after = headers.get("Retry-After") if headers is not None else None
        if retry_after:
            err.retry_after_s = _seconds(retry_after)
    else:
        err = PermanentKubeError(problem, status=status, **what)
    return err


def _seconds(text: str) -> float | None:
    try:
        return max(0.0, float(text))
    except ValueError:
        return None  # an HTTP date: rare from the API server; the schedule's delay applies


def micro_time(ts: Any) -> str:
    """A Kubernetes MicroTime (``2024-01-01T00:00:00.000000Z``) from a tz-naive UTC timestamp."""
    import pandas as pd

    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339(ts: Any) -> str:
    """A Kubernetes Time (seconds precision) from a tz-naive UTC timestamp."""
    import pandas as pd

    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
