"""S3-compatible object storage as a model-store backend (AWS S3, MinIO, Ceph RGW...), through boto3.

Plugs into :class:`forecaster.store.ModelStore` via the :class:`forecaster.store.StoreBackend` protocol, so
the trainer, the forecast service and the prescaler share models across nodes without a ReadWriteMany
volume: ``store: s3://bucket/prefix`` in a target config.

Object storage has no rename, so the directory backend's "write a temporary folder, rename it" becomes:

1. ``put_version`` first writes a marker ``<parent>/.pending-<name>`` next to the version's folder, then the
   version's objects, then deletes the marker. ``list_children`` hides any folder whose pending marker is
   present, so a version is listed only once all its objects exist; a crash leaves it hidden (and the
   marker tells an operator what to clean up).
2. ``put_atomic`` is one PutObject of the small ``current.json`` pointer: S3 replaces an object atomically
   and reads are strongly consistent, so readers see the old pointer or the new one, never a mix.

Readers pick up a promotion without a restart because :class:`ModelStore` re-reads the pointer and caches
models by version; here small objects are additionally cached by ETag and re-read with a conditional GET
(``If-None-Match``), so polling the pointer moves only headers while nothing changes.

This module is the only place that talks to S3 and the only retry point for it (botocore's standard retry
mode, with the attempts and timeouts below). It must not decide anything about models: it moves bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from forecaster.errors import ModelStoreError

__all__ = ["S3Backend", "S3Settings", "parse_s3_url", "PENDING_PREFIX"]

PENDING_PREFIX = ".pending-"
"""Marker object name prefix: ``<parent>/.pending-<folder>`` hides ``<parent>/<folder>/`` while it is written."""

_SMALL_OBJECT_BYTES = 64 * 1024
"""Objects up to this size are cached by ETag (pointers and manifests); weights are cached by the store."""


@dataclass(frozen=True)
class S3Settings:
    """How to reach the object store. Credentials come from boto3's usual chain, never from here."""

    endpoint_url: str | None = None
    """For S3-compatible stores (MinIO: ``http://minio.minio.svc:9000``; path-style addressing is then used).
    None: AWS, or whatever ``AWS_ENDPOINT_URL_S3`` says (boto3 reads it), which is how a pod sets it."""
    region_name: str | None = None
    """None: ``AWS_REGION`` / the profile's region."""
    max_attempts: int = 5
    """Total attempts per request (botocore standard mode: throttling, 5xx and connection errors, with jitter)."""
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    """Long enough for a model's weights (a few MB) on a slow link."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")`` (prefix without slashes at the ends)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ModelStoreError(
            f"invalid S3 store URL {url!r}", hint="write it as s3://bucket or s3://bucket/prefix"
        )
    if parsed.query or parsed.fragment:
        raise ModelStoreError(
            f"invalid S3 store URL {url!r}: no query or fragment allowed",
            hint="set the endpoint with AWS_ENDPOINT_URL_S3 (e.g. for MinIO), not in the URL",
        )
    prefix = parsed.path.strip("/")
    if prefix and any(part in {"", ".", ".."} for part in prefix.split("/")):
        raise ModelStoreError(f"invalid S3 store URL {url!r}: empty, '.' or '..' path segment")
    return parsed.netloc, prefix


class S3Backend:
    """Model-store bytes under ``s3://bucket/prefix/``. Thread-safe (boto3 clients are)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        settings: S3Settings | None = None,
        client: Any | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings or S3Settings()
        self._client = client
        self._client_lock = threading.Lock()
        self._etag_cache: dict[str, tuple[str, bytes]] = {}
        self._cache_lock = threading.Lock()

    @classmethod
    def from_url(
        cls, url: str, *, settings: S3Settings | None = None, client: Any | None = None
    ) -> S3Backend:
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, settings=settings, client=client)

    # -- StoreBackend ---------------------------------------------------------------------------------------
    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def read(self, key: str) -> bytes | None:
        full = self._key(key)
        with self._cache_lock:
            cached = self._etag_cache.get(full)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if cached is not None:
            kwargs["IfNoneMatch"] = cached[0]
        try:
            response = self._call("get_object", key, **kwargs)
        except _NotModified:
            assert cached is not None
            return cached[1]
        except _NotFound:
            with self._cache_lock:
                self._etag_cache.pop(full, None)
            return None
        from botocore.exceptions import BotoCoreError

        body = response["Body"]
        try:
            data = body.read()
        except (BotoCoreError, OSError) as exc:  # dropped mid-body: botocore does not retry stream reads
            raise ModelStoreError(
                f"{self._url(key)}: reading the object failed ({exc})",
                hint="retry; check the network to the store",
            ) from exc
        finally:
            body.close()
        etag = response.get("ETag")
        if etag and len(data) <= _SMALL_OBJECT_BYTES:
            with self._cache_lock:
                self._etag_cache[full] = (etag, data)
        return data

    def put_version(self, prefix: str, files: Mapping[str, bytes]) -> None:
        folder = self._key(prefix)
        parent, _, name = folder.rpartition("/")
        if not name:
            raise ModelStoreError(f"invalid version prefix {prefix!r}")
        if self._any_object_under(folder + "/"):
            raise ModelStoreError(
                f"{self._url(prefix)} already exists", hint="versions are immutable; save a new one"
            )
        for file_name in files:
            if not file_name or "/" in file_name or file_name.startswith("."):
                raise ModelStoreError(f"invalid file name {file_name!r} in version {prefix!r}")
        marker = f"{parent}/{PENDING_PREFIX}{name}" if parent else f"{PENDING_PREFIX}{name}"
        self._call("put_object", prefix, Bucket=self.bucket, Key=marker, Body=b"")
        written: list[str] = []
        try:
            for file_name, data in files.items():
                key = f"{folder}/{file_name}"
                self._call("put_object", f"{prefix}/{file_name}", Bucket=self.bucket, Key=key, Body=data)
                written.append(key)
        except BaseException:
            # Best effort: if the clean-up fails too, the marker still hides the half-written version.
            self._delete_quietly([*written, marker], keep_last_on_failure=True)
            raise
        self._call("delete_object", prefix, Bucket=self.bucket, Key=marker)

    def put_atomic(self, key: str, data: bytes) -> None:
        self._call(
            "put_object",
            key,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType="application/json",
        )

    def list_children(self, prefix: str) -> list[str]:
        base = self._key(prefix) + "/" if prefix.strip("/") else (self.prefix + "/" if self.prefix else "")
        folders: set[str] = set()
        files: set[str] = set()
        for page in self._pages(prefix, Prefix=base, Delimiter="/"):
            for common in page.get("CommonPrefixes", ()):
                folders.add(common["Prefix"][len(base) :].rstrip("/"))
            for obj in page.get("Contents", ()):
                files.add(obj["Key"][len(base) :])
        pending = {f[len(PENDING_PREFIX) :] for f in files if f.startswith(PENDING_PREFIX)}
        names = (folders - pending) | files
        return sorted(n for n in names if n and not n.startswith("."))

    # -- helpers --------------------------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        parts = [p for p in key.split("/") if p]
        if any(p in {".", ".."} for p in parts):
            raise ModelStoreError(f"invalid store key {key!r}")
        return "/".join([self.prefix, *parts]) if self.prefix else "/".join(parts)

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = _build_client(self.settings)
            return self._client

    def _any_object_under(self, full_prefix: str) -> bool:
        response = self._call(
            "list_objects_v2", full_prefix, Bucket=self.bucket, Prefix=full_prefix, MaxKeys=1
        )
        return int(response.get("KeyCount", 0)) > 0

    def _pages(self, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            call = dict(kwargs, Bucket=self.bucket)
            if token:
                call["ContinuationToken"] = token
            page = self._call("list_objects_v2", prefix, **call)
            yield page
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def _delete_quietly(self, keys: list[str], *, keep_last_on_failure: bool) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for i, key in enumerate(keys):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            except (BotoCoreError, ClientError):
                if keep_last_on_failure and i < len(keys) - 1:
                    return  # leave the marker (last) in place so the version stays hidden
                continue

    def _call(self, operation: str, key: str, **kwargs: Any) -> dict[str, Any]:
        """One S3 request; botocore retries transient faults, this turns the rest into ModelStoreError."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in {"304", "NotModified"} or status == 304:
                raise _NotModified from exc
            if operation == "get_object" and code in {"NoSuchKey", "404", "NotFound"}:
                raise _NotFound from exc
            raise ModelStoreError(
                f"{self.describe()}: {operation} {key!r} failed: {code or status} {error.get('Message', '')}".rstrip(),
                hint=_hint_for(code, bucket=self.bucket),
            ) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise ModelStoreError(
                f"{self.describe()}: no AWS credentials found",
                hint="give the pod an IAM role (IRSA / EKS Pod Identity) or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY from a Secret",
            ) from exc
        except EndpointConnectionError as exc:
            raise ModelStoreError(
                f"{self.describe()}: cannot reach the object store ({exc})",
                hint="check AWS_ENDPOINT_URL_S3 / the endpoint URL and the network policy; it was retried "
                f"{self.settings.max_attempts} times",
            ) from exc
        except BotoCoreError as exc:
            raise ModelStoreError(f"{self.describe()}: {operation} {key!r} failed: {exc}") from exc


class _NotModified(Exception):
    """A conditional GET found the cached ETag current."""


class _NotFound(Exception):
    """The object does not exist."""


def _hint_for(code: str, *, bucket: str) -> str:
    if code == "NoSuchBucket":
        return f"create bucket {bucket!r} or fix the store URL"
    if code in {"AccessDenied", "Forbidden", "403"}:
        return (
            f"grant s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on {bucket!r} "
            "(readers need only GetObject and ListBucket)"
        )
    if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}:
        return "the credentials are wrong or expired; check the Secret or the pod's IAM role"
    return "retry later; transient faults were already retried"


def _build_client(settings: S3Settings) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region_name, config=config
    )
