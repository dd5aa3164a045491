"""The S3 model-store backend against moto's S3: same layout and promote semantics as the directory store.

What a reader of the shared store relies on: a version is visible only once complete, promotion swaps the
small pointer atomically, another process's store picks up a promotion without a restart, and faults become
:class:`ModelStoreError` with a hint (after botocore retried the transient ones).
"""

from __future__ import annotations

import socket

import boto3
import numpy as np
import pandas as pd
import pytest
import torch
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from forecaster.cloud.s3 import PENDING_PREFIX, S3Backend, S3Settings, parse_s3_url
from forecaster.errors import ModelStoreError
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.synthetic import live_streaming
from forecaster.store import DirectoryBackend, ModelStore
from forecaster.training import fit_forecaster

BUCKET = "forecaster-models"
NOW = pd.Timestamp("2026-02-01 00:00:00")


@pytest.fixture(scope="module")
def history() -> pd.Series:
    return live_streaming(days=3, step="5m", seed=0)


def _tiny(history: pd.Series, *, seed: int):
    torch.set_num_threads(1)
    return fit_forecaster(
        history,
        model=ModelSettings(lookback="1h", horizon="30m", hidden_size=8),
        train=TrainSettings(epochs=1, batch_size=64, max_windows_per_epoch=256, seed=seed),
        name="live-streaming",
    )


@pytest.fixture(scope="module")
def models(history):
    """Two different tiny models (seconds to train)."""
    return _tiny(history, seed=0), _tiny(history, seed=1)


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


def _client(max_attempts: int = 3):
    return boto3.client(
        "s3",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": max_attempts, "mode": "standard"}),
    )


def _keys(prefix: str = "") -> list[str]:
    out = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in out.get("Contents", ()))


def test_store_url_selects_s3_backend_and_round_trips_a_model(aws, models, history):
    store = ModelStore(f"s3://{BUCKET}/prod/models")
    assert isinstance(store.backend, S3Backend)
    assert store.current("live-streaming") is None
    ref = store.save("live-streaming", models[0], metrics={"wape": 0.1}, now=NOW)
    assert store.current("live-streaming") is None  # saved is not promoted
    store.promote("live-streaming", ref.version, reason="first model", now=NOW)

    assert _keys() == sorted(
        [
            "prod/models/live-streaming/current.json",
            f"prod/models/live-streaming/versions/{ref.version}/manifest.json",
            f"prod/models/live-streaming/versions/{ref.version}/weights.safetensors",
        ]
    )
    assert store.targets() == ["live-streaming"]
    assert store.versions("live-streaming") == [ref.version]
    current = store.current("live-streaming")
    assert current is not None and current.version == ref.version
    assert current.metrics == {"wape": 0.1}
    assert current.location == f"s3://{BUCKET}/prod/models/live-streaming/versions/{ref.version}"

    # A fresh store (another pod) loads the same weights: identical forecasts.
    loaded = ModelStore(f"s3://{BUCKET}/prod/models").load_current("live-streaming")
    np.testing.assert_allclose(loaded.predict(history).to_numpy(), models[0].predict(history).to_numpy())


def test_same_layout_as_directory_store(aws, models, tmp_path):
    """Both backends write the same keys, so a store can be copied between them with plain tools."""
    s3_store = ModelStore(S3Backend(BUCKET, "m", client=_client()))
    dir_store = ModelStore(DirectoryBackend(tmp_path))
    for store in (s3_store, dir_store):
        ref = store.save("live-streaming", models[0], now=NOW)
        store.promote("live-streaming", ref.version, reason="test", now=NOW)
    on_disk = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert [k.removeprefix("m/") for k in _keys("m/")] == on_disk


def test_files_stored_with_a_version_round_trip_on_both_backends(aws, models, tmp_path):
    """tuning.json is written with the version (all or nothing) and read back by name, the same on both."""
    for store in (
        ModelStore(S3Backend(BUCKET, "t", client=_client())),
        ModelStore(DirectoryBackend(tmp_path)),
    ):
        ref = store.save("live-streaming", models[0], now=NOW, extra_files={"tuning.json": b'{"format": 1}'})
        assert store.read_file("live-streaming", ref.version, "tuning.json") == b'{"format": 1}'
        assert store.read_file("live-streaming", ref.version, "other.json") is None
        assert store.load("live-streaming", ref.version) is not None
        with pytest.raises(ModelStoreError, match="invalid extra file"):
            store.save("live-streaming", models[1], now=NOW, extra_files={"manifest.json": b"{}"})


def test_reader_picks_up_promotion_without_restart(aws, models, history):
    writer = ModelStore(S3Backend(BUCKET, "shared", client=_client()))
    reader = ModelStore(S3Backend(BUCKET, "shared", client=_client()))
    first = writer.save("live-streaming", models[0], now=NOW)
    writer.promote("live-streaming", first.version, reason="first", now=NOW)

    model_a = reader.load_current("live-streaming")
    assert reader.load_current("live-streaming") is model_a  # cached by version: no second download

    second = writer.save("live-streaming", models[1], now=NOW + pd.Timedelta(hours=1))
    assert reader.load_current("live-streaming") is model_a  # saved but not promoted: still the old one
    writer.promote("live-streaming", second.version, reason="better", now=NOW + pd.Timedelta(hours=1))

    model_b = reader.load_current("live-streaming")
    assert model_b is not model_a
    assert model_b.info["created_at"] == second.manifest["created_at"]
    np.testing.assert_allclose(model_b.predict(history).to_numpy(), models[1].predict(history).to_numpy())
    assert reader.pointer("live-streaming")["previous"] == first.version


def test_pointer_is_revalidated_by_etag(aws):
    client = _client()
    statuses: list[int] = []
    client.meta.events.register(
        "after-call.s3.GetObject", lambda http_response, **_: statuses.append(http_response.status_code)
    )
    backend = S3Backend(BUCKET, "p", client=client)
    backend.put_atomic("t/current.json", b'{"version": "a"}')
    assert backend.read("t/current.json") == b'{"version": "a"}'
    assert backend.read("t/current.json") == b'{"version": "a"}'
    assert statuses == [200, 304]  # the second read moved only headers

    # Another writer replaces it: the conditional GET sees the new ETag and returns the new bytes.
    _client().put_object(Bucket=BUCKET, Key="p/t/current.json", Body=b'{"version": "b"}')
    assert backend.read("t/current.json") == b'{"version": "b"}'
    assert statuses[-1] == 200

    _client().delete_object(Bucket=BUCKET, Key="p/t/current.json")
    assert backend.read("t/current.json") is None


def test_failed_version_write_leaves_nothing_visible(aws, models):
    client = _FaultyClient(_client())
    store = ModelStore(S3Backend(BUCKET, "m", client=client))
    good = store.save("live-streaming", models[0], now=NOW)
    store.promote("live-streaming", good.version, reason="first", now=NOW)

    client.fail_put_suffix = "weights.safetensors"  # the connection dies after the manifest was written
    with pytest.raises(ModelStoreError, match="put_object"):
        store.save("live-streaming", models[1], now=NOW + pd.Timedelta(hours=1))
    assert store.versions("live-streaming") == [good.version]
    assert store.current("live-streaming").version == good.version
    assert not any(PENDING_PREFIX in k for k in _keys())  # cleaned up
    assert len(_keys("m/live-streaming/versions/")) == 2  # only the good version's two objects


def test_half_written_version_stays_hidden_when_cleanup_fails_too(aws, models):
    client = _FaultyClient(_client())
    store = ModelStore(S3Backend(BUCKET, "m", client=client))
    client.fail_put_suffix = "weights.safetensors"
    client.fail_deletes = True
    with pytest.raises(ModelStoreError):
        store.save("live-streaming", models[0], now=NOW)
    left = _keys("m/")
    assert any(k.endswith("/manifest.json") for k in left)  # the crash left an object behind...
    assert any(PENDING_PREFIX in k for k in left)  # ...and its marker
    assert store.versions("live-streaming") == []  # so the version is not listed
    assert store.current("live-streaming") is None


def test_versions_are_immutable(aws):
    backend = S3Backend(BUCKET, "", client=_client())
    backend.put_version("t/versions/v1", {"manifest.json": b"{}"})
    with pytest.raises(ModelStoreError, match="already exists"):
        backend.put_version("t/versions/v1", {"manifest.json": b"{}"})
    assert backend.list_children("t/versions") == ["v1"]
    assert backend.list_children("") == ["t"]
    assert backend.list_children("t/versions/v1") == ["manifest.json"]
    assert backend.list_children("nothing/here") == []


def test_listing_follows_pagination(aws):
    client = _client()
    for i in range(7):
        client.put_object(Bucket=BUCKET, Key=f"p/t/versions/v{i}/manifest.json", Body=b"{}")
    original = client.list_objects_v2

    def small_pages(**kwargs):
        return original(**{**kwargs, "MaxKeys": 2})

    client.list_objects_v2 = small_pages
    assert S3Backend(BUCKET, "p", client=client).list_children("t/versions") == [f"v{i}" for i in range(7)]


@pytest.mark.parametrize(("max_attempts", "succeeds"), [(3, True), (2, False)])
def test_transient_errors_are_retried_up_to_the_configured_attempts(aws, max_attempts, succeeds):
    """Two 503s in a row: the client that S3Settings builds retries them, within its attempt budget."""
    backend = S3Backend(BUCKET, "", settings=S3Settings(region_name="us-east-1", max_attempts=max_attempts))
    failures = {"left": 2, "sent": 0}

    def flaky(request, **_):
        failures["sent"] += 1
        if failures["left"]:
            failures["left"] -= 1
            return AWSResponse(request.url, 503, {}, _Raw(b""))
        return None

    backend.client.meta.events.register_first("before-send.s3.GetObject", flaky)
    _client().put_object(Bucket=BUCKET, Key="t/current.json", Body=b"{}")
    if succeeds:
        assert backend.read("t/current.json") == b"{}"
        assert failures["sent"] == 3
    else:
        with pytest.raises(ModelStoreError, match="503"):
            backend.read("t/current.json")
        assert failures["sent"] == 2


def test_missing_bucket_says_what_to_do(aws):
    store = ModelStore(S3Backend("no-such-bucket", "", client=_client()))
    with pytest.raises(ModelStoreError, match="create bucket 'no-such-bucket'"):
        store.targets()


def test_unreachable_endpoint_is_a_store_error(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = S3Settings(
        endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", max_attempts=1, connect_timeout_s=1
    )
    store = ModelStore(S3Backend.from_url(f"s3://{BUCKET}/x", settings=settings))
    with pytest.raises(ModelStoreError, match="cannot reach the object store"):
        store.current("live-streaming")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/a/b/", ("bucket", "a/b")),
    ],
)
def test_parse_s3_url(url, expected):
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize(
    "url", ["s3:///prefix", "http://bucket/x", "s3://bucket/a//b", "s3://b/../x", "s3://b/x?e=1"]
)
def test_bad_s3_urls_are_rejected(url):
    with pytest.raises(ModelStoreError, match="invalid S3 store URL"):
        parse_s3_url(url)


def test_keys_cannot_escape_the_prefix():
    backend = S3Backend(BUCKET, "p", client=object())
    with pytest.raises(ModelStoreError, match="invalid store key"):
        backend.read("../other/current.json")


class _Raw:
    """The raw body of a fake HTTP response injected before botocore sends a request."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_):
        yield self._data


class _FaultyClient:
    """An S3 client that fails chosen writes the way botocore does after its retries (a ClientError)."""

    def __init__(self, client) -> None:
        self._client = client
        self.fail_put_suffix: str | None = None
        self.fail_deletes = False

    def __getattr__(self, name):
        return getattr(self._client, name)

    @staticmethod
    def _error(operation: str) -> ClientError:
        return ClientError(
            {"Error": {"Code": "InternalError", "Message": "We encountered an internal error"}}, operation
        )

    def put_object(self, **kwargs):
        if self.fail_put_suffix and kwargs["Key"].endswith(self.fail_put_suffix):
            raise self._error("PutObject")
        return self._client.put_object(**kwargs)

    def delete_object(self, **kwargs):
        if self.fail_deletes:
            raise self._error("DeleteObject")
        return self._client.delete_object(**kwargs)
