"""FastAPI dependencies as ``Annotated`` aliases: settings, the forecast service, the clock, bearer auth.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool, and that hop
costs more than everything else on the cached forecast path.

The service, clock and settings live on ``app.state`` (``create_app`` puts them there; its ``settings``
argument is the test seam, and its default is the cached ``get_settings()``). Token comparison is
constant-time. Nothing here reads a file or the environment at import time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from forecaster.api.cache import Clock, ForecastService
from forecaster.api.settings import ServeSettings

__all__ = ["SettingsDep", "ServiceDep", "ClockDep", "require_token", "AuthDep", "MetricsAuthDep"]


async def app_settings(request: Request) -> ServeSettings:
    """This app's settings: those given to ``create_app``, else the process's cached ``get_settings()``.

    Read from ``app.state`` rather than overriding ``get_settings`` per app: FastAPI re-inspects an
    overridden dependency's signature on every request, which costs more than the whole cached-forecast route.
    """
    return request.app.state.settings


SettingsDep = Annotated[ServeSettings, Depends(app_settings)]


async def get_service(request: Request) -> ForecastService:
    service = getattr(request.app.state, "service", None)
    if service is None:  # only between app creation and the end of the lifespan startup
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the service is starting; retry shortly")
    return service


ServiceDep = Annotated[ForecastService, Depends(get_service)]


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def _check_bearer(request: Request) -> None:
    expected: bytes | None = request.app.state.auth_token
    if expected is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    # compare_digest: the time taken must not reveal how much of the token matched.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="forecaster"'},
        )


async def require_token(request: Request) -> None:
    """Reject the request unless auth is off or it carries ``Authorization: Bearer <token>``."""
    _check_bearer(request)


async def require_metrics_token(request: Request, settings: SettingsDep) -> None:
    """The bearer token on ``/metrics`` as well, unless ``auth_metrics`` is off (it is on by default)."""
    if settings.auth_metrics:
        _check_bearer(request)


AuthDep = Depends(require_token)
MetricsAuthDep = Depends(require_metrics_token)
