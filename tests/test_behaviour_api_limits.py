"""The request-body limit at its boundary: a body of exactly ``max_body_bytes`` is read, one byte more is a 413,
whether the client declares its length or streams the body in chunks without one.

Through :class:`~forecaster.api.handlers.BodyLimitMiddleware` around a small echo app, served by uvicorn on
127.0.0.1 (tests/test_api_support.py's ServerThread) and called with httpx.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from forecaster.api.handlers import BodyLimitMiddleware
from tests.test_api_support import ServerThread

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
