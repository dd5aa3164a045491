"""What a client cannot make the service do by the shape of its requests: read a body over ``max_body_bytes``
(exactly the limit is read, one byte more is a 413, whether the length is declared or the body streamed in
chunks), or grow the latency histogram by asking for random static files.

The limit through :class:`~forecaster.api.handlers.BodyLimitMiddleware` around a small echo app, the labels
through the app ``forecaster serve`` builds (tests/test_behaviour_api.py's ``client``); both served by uvicorn on
127.0.0.1 and called with httpx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from forecaster.api.handlers import BodyLimitMiddleware
from tests.test_api_support import ServerThread
from tests.test_behaviour_api import client as api  # noqa: F401, F811 - the served app (a fixture)

LIMIT = 4096


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"read": len(await request.body())})


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    app = Starlette(routes=[Route("/echo", _echo, methods=["POST"])])
    server = ServerThread(BodyLimitMiddleware(app, max_bytes=LIMIT))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _chunks(size: int, chunk: int = 1000) -> Iterator[bytes]:
    while size > 0:
        yield b"x" * min(chunk, size)
        size -= chunk


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 200), (LIMIT + 1, 413)])
def test_a_declared_length_at_the_limit_is_read_and_one_byte_more_is_refused(client, size, status):
    r = client.post("/echo", content=b"x" * size)
    assert r.request.headers["content-length"] == str(size)
    assert r.status_code == status
    if status == 200:
        assert r.json() == {"read": size}
    else:
        assert r.json()["error"] == f"request body larger than {LIMIT} bytes"


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 200), (LIMIT + 1, 413)])
def test_a_streamed_body_at_the_limit_is_read_and_one_byte_more_is_refused(client, size, status):
    r = client.post("/echo", content=_chunks(size))
    assert "content-length" not in r.request.headers
    assert r.status_code == status
    if status == 200:
        assert r.json() == {"read": size}


def test_static_paths_share_one_latency_label_whatever_the_file_asked_for(api):  # noqa: F811
    # Like unknown paths: a client asking for random files under /static/ must not add a label set (and a
    # Prometheus series) per path to the latency histogram.
    asked = [f"/static/no-such-file-{n}.js" for n in range(3)] + [f"/static/a/{n}/b.js" for n in range(3)]
    for path in asked:
        assert api.get(path).status_code == 404
    text = api.get("/metrics").text
    routes = set(
        re.findall(r'^forecaster_http_request_duration_seconds_count\{[^}]*route="([^"]*)"', text, re.M)
    )
    assert routes & {"/static", "/static/{name}"}
    assert not routes & set(asked)
