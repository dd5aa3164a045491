"""The cached forecast's fast path: ``GET /v1/targets/{target}/forecast`` cache hits answered before routing.

Dashboards poll this endpoint, and its answer is already a byte string made at the refresh (the rendered
body and its ETag, :meth:`ForecastService.render`). What a request still cost was FastAPI's: matching the
route and solving its dependencies and query parameters took about two thirds of the server's CPU per
request. This ASGI middleware answers the requests it can answer exactly as the route would (the same
body, status and headers, the same cache-hit counter; a test compares them) and hands every other one to
the app unchanged: anything it does not recognise, a bad parameter, a missing or wrong token (their errors
are the app's), a target without a forecast yet. What a (target, query string) asks for is parsed once and
kept (bounded); the route's own parsing (:func:`select_quantiles`, the history's duration) decides it.

This module must not query a source or change the cache.
"""

from __future__ import annotations

import hmac
import re
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qsl

import pandas as pd
from starlette.types import ASGIApp, Receive, Scope, Send

from forecaster.api.cache import utc_now
from forecaster.api.handlers import RequestFieldError
from forecaster.api.quantiles import select_quantiles
from forecaster.errors import ForecasterError
from forecaster.series import parse_duration

__all__ = ["CachedForecastFastPath", "FORECAST_PATH"]

FORECAST_PATH = re.compile(r"^/v1/targets/([^/]{1,63})/forecast$")
_MAX_VIEWS = 4096
"""(target, query string) pairs whose parsed parameters are kept: dashboards ask for a few views each."""


class CachedForecastFastPath:
    """See the module docstring. ``app_state`` is the FastAPI app's ``state`` (service, clock, settings)."""

    def __init__(self, app: ASGIApp, *, app_state: Any, route: Any = None) -> None:
        self.app = app
        self.state = app_state
        self.route = route
        """The route this answers for (set on the scope, so the latency histogram labels it the same)."""
        self._views: OrderedDict[tuple[str, bytes], tuple[Any, tuple[str, ...], int, Any, Any]] = (
            OrderedDict()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = FORECAST_PATH.match(scope["path"])
            if match is not None and await self._answer(match.group(1), scope, receive, send):
                return
        await self.app(scope, receive, send)

    async def _answer(self, target: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer from the cache and True, or False (the app answers)."""
        service = getattr(self.state, "service", None)
        if service is None:
            return False
        headers = dict(scope["headers"])
        expected: bytes | None = self.state.auth_token
        if expected is not None:
            scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
                return False  # the app's 401, with its body and WWW-Authenticate
        view = self._view(service, target, scope.get("query_string", b""))
        if view is None:
            return False
        state, quantiles, history_steps, counters = view
        clock = self.state.clock
        # The wall clock as integer nanoseconds when it is the wall clock (the same instant utc_now would
        # give, without building a pandas Timestamp); a test's clock is called as it is.
        now_ns = time.time_ns() if clock is utc_now else int(clock().value)
        timing = service.fresh_timing(state, now_ns)
        if timing is not None:  # fresh: no pandas arithmetic on this request
            age_s, max_age_s = timing
            rendered = service.render(
                state, quantiles=quantiles, history_steps=history_steps, now=None, stale=None
            )
        else:  # stale, failed or missing: the service's own (pandas) rules, as the route applies them
            now = pd.Timestamp(now_ns, unit="ns")
            rendered = service.render(state, quantiles=quantiles, history_steps=history_steps, now=now)
            if rendered is None:
                return False  # the app's 503 (and its miss counter)
            age_s = max(0.0, (now - state.entry.generated_at).total_seconds())
            max_age_s = service.next_refresh_in_s(state, now)
        assert rendered is not None
        if self.route is not None:
            scope["route"] = self.route
        headers_out = [
            (b"etag", rendered.etag.encode("latin-1")),
            (
                b"cache-control",
                b"%s, max-age=%d" % (b"private" if expected is not None else b"public", int(max_age_s)),
            ),
            (b"age", b"%d" % int(age_s)),
        ]
        if_none_match = headers.get(b"if-none-match")
        if if_none_match and _etag_matches(if_none_match.decode("latin-1"), rendered.etag):
            _counter(service, counters, target, "not_modified").inc()
            await send({"type": "http.response.start", "status": 304, "headers": headers_out})
            await send({"type": "http.response.body", "body": b""})
            return True
        _counter(service, counters, target, "hit").inc()
        body = rendered.body(age_s)
        # What starlette's Response(body, media_type="application/json", headers=...) sends, built directly.
        headers_out.append((b"content-length", b"%d" % len(body)))
        headers_out.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": 200, "headers": headers_out})
        await send({"type": "http.response.body", "body": body})
        return True

    def _view(self, service: Any, target: str, query: bytes) -> tuple | None:
        """(state, quantiles, history steps, its counters) for a valid request, else None."""
        key = (target, query)
        view = self._views.get(key)
        state = service.targets.get(target)
        if view is not None and view[0] is state:
            return view
        if state is None:
            return None
        params = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        names = [name for name, _ in params]
        if len(set(names)) != len(names) or not set(names) <= {"quantiles", "history"}:
            return None  # repeated or unknown parameters: the app's rules apply
        given = dict(params)
        if any(
            len(v) > limit for v, limit in ((given.get("quantiles", ""), 100), (given.get("history", ""), 16))
        ):
            return None
        settings = self.state.settings
        try:
            quantiles = select_quantiles(given.get("quantiles"), state.quantile_labels, location="query")
            history = parse_duration(given["history"]) if "history" in given else settings.default_history_td
        except (RequestFieldError, ForecasterError, ValueError):  # a 422: the app says it
            return None
        if history > settings.max_history_td:
            return None
        view = (state, quantiles, int(history / state.step), {})
        self._views[key] = view
        while len(self._views) > _MAX_VIEWS:
            self._views.popitem(last=False)
        return view


def _counter(service: Any, counters: dict[str, Any], target: str, result: str) -> Any:
    """The cache-request counter's child, made on first use (as the route's ``labels().inc()`` would)."""
    child = counters.get(result)
    if child is None:
        child = counters[result] = service.metrics.cache_requests.labels(target, result)
    return child


def _etag_matches(header: str, etag: str) -> bool:
    # Weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored. The route's rule, kept identical.
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))
