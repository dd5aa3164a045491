"""``/healthz`` (the process answers) and ``/readyz`` (models loaded and every target has a forecast).

Readiness deliberately stays true while Prometheus is down but a last good forecast exists: every replica
sees the same outage, so failing readiness would only turn stale-but-useful forecasts into no forecasts.
The degradation is reported in the body instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from forecaster.api.deps import ServiceDep
from forecaster.api.schemas import HealthResponse, ReadyResponse

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness: the process answers")
async def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "Not ready; `reasons` says why"}},
    summary="Readiness: models loaded and a forecast for every target",
)
async def readyz(service: ServiceDep, response: Response) -> ReadyResponse:
    ready, reasons, degraded = service.readiness()
    if not ready:
        response.status_code = 503
    response.headers["Cache-Control"] = "no-store"
    return ReadyResponse(ready=ready, reasons=reasons, degraded=degraded)
