"""FastAPI dependencies as ``Annotated`` aliases: settings, the forecast service, the clock, bearer auth.

The service and clock live on ``app.state`` (built in the lifespan); settings come from the cached
``get_settings`` dependency, which ``create_app(settings)`` and tests override. Token comparison is
constant-time. Nothing here reads a file or the environment at import time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from forecaster.api.cache import Clock, ForecastService
from forecaster.api.settings import ServeSettings, get_settings

__all__ = ["SettingsDep", "ServiceDep", "ClockDep", "require_token", "AuthDep", "MetricsAuthDep"]

SettingsDep = Annotated[ServeSettings, Depends(get_settings)]


def get_service(request: Request) -> ForecastService:
    service = getattr(request.app.state, "service", None)
    if service is None:  # only between app creation and the end of the lifespan startup
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the service is starting; retry shortly")
    return service


ServiceDep = Annotated[ForecastService, Depends(get_service)]


def get_clock(request: Request) -> Clock:
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


def require_token(request: Request) -> None:
    """Reject the request unless auth is off or it carries ``Authorization: Bearer <token>``."""
    _check_bearer(request)


def require_metrics_token(request: Request, settings: SettingsDep) -> None:
    if settings.auth_metrics:
        _check_bearer(request)


AuthDep = Depends(require_token)
MetricsAuthDep = Depends(require_metrics_token)
