"""Bearer-token auth of the forecast service, over HTTP (uvicorn on 127.0.0.1): exactly the token opens the API.

The app runs with no targets (nothing to query), so each request costs milliseconds. Every way of being almost
right (an empty token, a part of the real one, the real one plus more, another scheme) must get a 401, and
``auth_metrics`` must decide whether /metrics needs the token too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from forecaster.api.app import create_app
from forecaster.api.settings import ServeSettings
from forecaster.errors import ConfigError
from tests.test_api_support import ServerThread

TOKEN = "s3cret-token-0123456789"
PROTECTED = [("get", "/v1/targets"), ("get", "/v1/targets/web/forecast"), ("post", "/v1/forecast")]


@contextmanager
def _serving(settings: ServeSettings) -> Iterator[httpx.Client]:
    server = ServerThread(create_app(settings, targets=[])).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()


def _settings(tmp_path, **changes) -> ServeSettings:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")  # a mounted Secret often ends with a newline
    return ServeSettings(auth_token_file=str(token_file), auth_token_env=None, demo_train=False, **changes)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with _serving(_settings(tmp_path_factory.mktemp("auth"))) as c:
        yield c


def _call(client: httpx.Client, method: str, path: str, header: str | None):
    headers = {} if header is None else {"Authorization": header}
    if method == "post":
        return client.post(path, headers=headers, json={})
    return client.get(path, headers=headers)


@pytest.mark.parametrize(
    ("description", "header"),
    [
        ("no header", None),
        ("empty header", ""),
        ("the scheme alone: an empty token", "Bearer"),
        # (an HTTP header value loses its trailing blanks on the wire: "Bearer " arrives as "Bearer")
        ("a leading part of the token", f"Bearer {TOKEN[:6]}"),
        ("the token but its last character", f"Bearer {TOKEN[:-1]}"),
        ("the token plus more", f"Bearer {TOKEN}x"),
        ("the token in another case", f"Bearer {TOKEN.upper()}"),
        ("the token without a scheme", TOKEN),
        ("another scheme", f"Basic {TOKEN}"),
    ],
)
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_anything_but_the_exact_token_is_refused(client, method, path, description, header):
    response = _call(client, method, path, header)
    assert response.status_code == 401, description
    assert response.headers["www-authenticate"] == 'Bearer realm="forecaster"'
    assert response.json()["error"] == "missing or wrong bearer token"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "Bearer "])
def test_the_exact_token_opens_the_api(client, scheme):
    """The scheme is case-insensitive and may be followed by more than one space (RFC 6750: 1*SP)."""
    response = client.get("/v1/targets", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert response.status_code == 200
    assert response.json()["targets"] == []
    # Past auth, a request reaches the routes: an unknown target is a 404, not a 401.
    missing = client.get("/v1/targets/web/forecast", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert missing.status_code == 404


def test_health_needs_no_token(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)  # never 401: probes carry no token


@pytest.mark.parametrize(
    ("auth_metrics", "header", "status"),
    [
        (False, None, 200),
        (True, None, 401),
        (True, "Bearer", 401),
        (True, f"Bearer {TOKEN[:-1]}", 401),
        (True, f"Bearer {TOKEN}", 200),
    ],
)
def test_auth_metrics_decides_whether_metrics_need_the_token(tmp_path, auth_metrics, header, status):
    with _serving(_settings(tmp_path, auth_metrics=auth_metrics)) as client:
        response = client.get("/metrics", headers={} if header is None else {"Authorization": header})
        assert response.status_code == status
        if status == 200:
            assert "forecaster_" in response.text


def test_auth_off_only_when_no_token_is_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECASTER_TEST_TOKEN", "")  # set but empty: no token, auth off
    with _serving(ServeSettings(auth_token_env="FORECASTER_TEST_TOKEN", demo_train=False)) as client:
        assert client.get("/v1/targets").status_code == 200
    monkeypatch.setenv("FORECASTER_TEST_TOKEN", TOKEN)
    with _serving(ServeSettings(auth_token_env="FORECASTER_TEST_TOKEN", demo_train=False)) as client:
        assert client.get("/v1/targets").status_code == 401
        assert client.get("/v1/targets", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_an_empty_token_file_is_an_error_not_an_open_door(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(" \n")
    with pytest.raises(ConfigError, match="is empty"):
        create_app(ServeSettings(auth_token_file=str(token_file), auth_token_env=None), targets=[])


def test_requests_before_the_service_has_started_get_a_503_not_a_crash():
    """Between app creation and the end of startup there is no service yet (no lifespan has run here)."""
    import asyncio

    app = create_app(ServeSettings(auth_token_env=None, demo_train=False), targets=[])

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://forecaster") as client:
            return await client.get("/v1/targets")

    response = asyncio.run(call())
    assert response.status_code == 503
    assert response.json()["error"] == "the service is starting; retry shortly"
