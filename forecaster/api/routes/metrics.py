"""``GET /metrics``: the forecasts as gauges and the service's own metrics, in Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from forecaster.api.deps import MetricsAuthDep

__all__ = ["router"]

router = APIRouter(tags=["metrics"], dependencies=[MetricsAuthDep])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition format"}},
    summary="Prometheus metrics: forecasts and service health",
)
async def metrics(request: Request) -> Response:
    # A few milliseconds at 1,000 targets (forecast lines are pre-rendered per refresh): no thread-pool hop.
    body = request.app.state.metrics.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
