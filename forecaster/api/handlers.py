"""Exception handlers and ASGI middleware: JSON errors naming the field, no stack traces, body limits, latency.

Every error response is ``{"error", "hint", "fields": [{"field", "location", "message"}], "omitted"}``, at
most ``MAX_LISTED_ERRORS`` fields listed and the rest counted in ``omitted``. Unexpected
exceptions are logged here with their traceback and answered with a bare 500: a traceback never reaches
a client. The body-size and latency middlewares are pure ASGI (no ``BaseHTTPMiddleware``), so they add
microseconds, not milliseconds, to the cached forecast path.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forecaster.errors import ConfigError, DataError, ForecasterError, ModelStoreError, SourceError

__all__ = [
    "RequestFieldError",
    "install_handlers",
    "BodyLimitMiddleware",
    "LatencyMiddleware",
    "MAX_LISTED_ERRORS",
]

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 20
"""Field errors listed in one response; the rest are counted (``omitted``), so an error body stays small
(50,000 bad timestamps used to answer 7.7 MB)."""


class RequestFieldError(Exception):
    """A query, path or body field is invalid; answered with 422 naming it."""

    def __init__(self, location: str, field: str, message: str, *, status_code: int = 422) -> None:
        self.location = location
        self.field = field
        self.message = message
        self.status_code = status_code
        super().__init__(f"{location} field {field!r}: {message}")


def _error(
    status_code: int,
    error: str,
    *,
    hint: str | None = None,
    fields: list[dict] | None = None,
    omitted: int = 0,
    headers=None,
):
    body = {"error": error, "hint": hint, "fields": fields or [], "omitted": omitted}
    return JSONResponse(body, status_code=status_code, headers=headers)


def _field_path(loc: tuple[Any, ...]) -> tuple[str, str]:
    parts = list(loc)
    location = (
        str(parts.pop(0)) if parts and parts[0] in {"body", "query", "path", "header", "cookie"} else "body"
    )
    return location, ".".join(str(p) for p in parts) or location


def _field_error(err: Mapping[str, Any]) -> dict[str, str]:
    """One pydantic error as ``{field, location, message}``; a JSON syntax error names the body, not its offset."""
    loc = tuple(err.get("loc", ()))
    if err.get("type") == "json_invalid":
        position = loc[1] if len(loc) > 1 else "?"
        why = (err.get("ctx") or {}).get("error", "invalid JSON")
        return {
            "field": "body",
            "location": "body",
            "message": f"not valid JSON at character {position}: {why}",
        }
    location, path = _field_path(loc)
    return {"field": path, "location": location, "message": str(err.get("msg", "invalid"))}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        fields = [_field_error(err) for err in errors[:MAX_LISTED_ERRORS]]
        omitted = len(errors) - len(fields)
        names = ", ".join(dict.fromkeys(f["field"] for f in fields))  # in body order, once each
        if len(errors) == 1:
            names += f": {fields[0]['message']}"
        more = f" and {omitted} more" if omitted else ""
        hint = "see fields for what is wrong"
        if omitted:
            hint += f" (the first {len(fields)} of {len(errors)} problems are listed)"
        return _error(422, f"invalid request: {names}{more}", hint=hint, fields=fields, omitted=omitted)

    @app.exception_handler(RequestFieldError)
    async def _field(request: Request, exc: RequestFieldError) -> JSONResponse:
        return _error(
            exc.status_code,
            f"invalid {exc.field}: {exc.message}",
            fields=[{"field": exc.field, "location": exc.location, "message": exc.message}],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(ForecasterError)
    async def _forecaster(request: Request, exc: ForecasterError) -> JSONResponse:
        if isinstance(exc, DataError | ConfigError):
            code = 422  # (the named constant differs across Starlette versions)
        elif isinstance(exc, SourceError):
            code = status.HTTP_502_BAD_GATEWAY
        elif isinstance(exc, ModelStoreError):
            code = status.HTTP_503_SERVICE_UNAVAILABLE
        else:
            code = status.HTTP_500_INTERNAL_SERVER_ERROR
        return _error(code, exc.problem, hint=exc.hint)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal error", hint="the server log has the details")


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: refused by Content-Length up front, or while streaming in."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        seen = 0
        started = False
        rejected = False

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now: the framework may swallow the exception below into its own 400.
                    if not started and not rejected:
                        rejected = True
                        await self._reject(send)
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 went out already; drop whatever the app answers after the abort
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started and not rejected:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": f"request body larger than {self.max_bytes} bytes",
                "hint": "send a shorter history (or raise max_body_bytes)",
                "fields": [],
                "omitted": 0,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class LatencyMiddleware:
    """Observes each request's duration under its route *template* (bounded label values)."""

    def __init__(self, app: ASGIApp, *, histogram: Any) -> None:
        self.app = app
        self.histogram = histogram
        self._children: dict[tuple[str, str, int], Any] = {}
        """The histogram's child per (route template, method, status): bounded like its labels."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or (
                "/static" if scope["path"].startswith("/static/") else "unmatched"
            )
            key = (template, scope["method"], status_code)
            child = self._children.get(key)
            if child is None:  # labels() per request cost as much as the rest of a cache hit's metrics
                child = self._children[key] = self.histogram.labels(
                    template, scope["method"], str(status_code)
                )
            child.observe(time.perf_counter() - started)
