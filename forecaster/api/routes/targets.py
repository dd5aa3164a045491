"""``/v1/targets``: the configured targets and their cached forecasts.

Handlers only read the cache: they never query a source, and the only thing a request chooses is which
*configured* target to read (a dictionary lookup), never a query.
"""

from __future__ import annotations

import bisect
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from forecaster.api.cache import iso, model_info
from forecaster.api.deps import AuthDep, ClockDep, ServiceDep, SettingsDep
from forecaster.api.handlers import RequestFieldError
from forecaster.api.quantiles import select_quantiles
from forecaster.api.schemas import ErrorResponse, ForecastResponse, TargetInfo, TargetsResponse
from forecaster.api.selectors import decode_token, encode_token, parse_selector
from forecaster.errors import DataError
from forecaster.series import parse_duration

__all__ = ["router"]

router = APIRouter(prefix="/v1/targets", tags=["targets"], dependencies=[AuthDep])

_ERRORS = {
    401: {"model": ErrorResponse, "description": "Bearer token missing or wrong (when auth is on)"},
    404: {"model": ErrorResponse, "description": "No such target"},
    422: {"model": ErrorResponse, "description": "A query parameter is invalid; `fields` names it"},
    503: {"model": ErrorResponse, "description": "No forecast yet (first refresh pending or failing)"},
}


DEFAULT_PAGE = 500
MAX_PAGE = 1000


@router.get(
    "",
    response_model=TargetsResponse,
    response_model_by_alias=True,
    responses={422: _ERRORS[422], 401: _ERRORS[401]},
    summary="Configured targets and their models, by name, in pages, filtered by label",
)
async def list_targets(
    service: ServiceDep,
    clock: ClockDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Targets per page")] = DEFAULT_PAGE,
    continue_: Annotated[
        str | None, Query(alias="continue", max_length=200, description="The previous page's continue")
    ] = None,
    label_selector: Annotated[
        str | None,
        Query(
            alias="labelSelector",
            max_length=1000,
            description="e.g. team=payments,tier!=batch (Kubernetes equality-based syntax)",
        ),
    ] = None,
) -> TargetsResponse:
    try:
        match = parse_selector(label_selector) if label_selector else None
    except DataError as exc:
        raise RequestFieldError("query", "labelSelector", exc.problem) from None
    try:
        after = decode_token(continue_) if continue_ else None
    except DataError as exc:
        raise RequestFieldError("query", "continue", exc.problem) from None
    names = service.sorted_names()
    matching = [n for n in names if match is None or match(service.targets[n].labels)]
    start = bisect.bisect_right(matching, after) if after is not None else 0
    page = matching[start : start + limit]
    now = clock()
    out = [_info(service, service.targets[name], now) for name in page]
    more = start + limit < len(matching)
    return TargetsResponse(
        targets=out, total=len(matching), continue_=encode_token(page[-1]) if more and page else None
    )


def _info(service: Any, state: Any, now: Any) -> TargetInfo:
    entry = state.entry
    info = (
        model_info(state.model)
        if entry is None
        else model_info(entry.model, ran=entry.model_name, note=entry.note)
    )
    stale = service.stale_reason(state, now)
    return TargetInfo(
        name=state.name,
        description=state.config.description,
        labels=state.labels,
        step_s=state.step.total_seconds(),
        horizon_s=parse_duration(state.config.model.horizon).total_seconds(),
        quantiles=state.quantile_labels,
        model=info,
        metrics=state.model.metrics,
        last_refreshed_at=iso(entry.generated_at) if entry else None,
        stale=stale is not None,
        stale_reason=stale,
    )


@router.get(
    "/{target}/forecast",
    response_model=ForecastResponse,
    responses=_ERRORS,
    summary="The cached forecast and recent actuals of one target",
)
async def get_forecast(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    clock: ClockDep,
    target: Annotated[str, Path(max_length=63, description="A configured target name")],
    quantiles: Annotated[str | None, Query(max_length=100, description="e.g. p50,p90 (default: all)")] = None,
    history: Annotated[
        str | None, Query(max_length=16, description="Actuals to include, e.g. 6h (max: max_history)")
    ] = None,
) -> Response:
    state = service.targets.get(target)
    if state is None:
        raise RequestFieldError(
            "path", "target", f"unknown target; configured: {', '.join(service.targets)}", status_code=404
        )
    qs = select_quantiles(quantiles, state.quantile_labels, location="query")
    try:
        hist = parse_duration(history) if history is not None else settings.default_history_td
    except DataError as exc:
        raise RequestFieldError("query", "history", exc.problem) from None
    if hist > settings.max_history_td:
        raise RequestFieldError("query", "history", f"at most {settings.max_history} of history is served")
    now = clock()
    rendered = service.render(state, quantiles=qs, history_steps=int(hist / state.step), now=now)
    if rendered is None:
        service.metrics.cache_requests.labels(target, "miss").inc()
        why = service.stale_reason(state, now) or "the first refresh has not finished"
        raise RequestFieldError("path", "target", f"no forecast yet: {why}", status_code=503)
    entry = state.entry
    assert entry is not None
    age_s = max(0.0, (now - entry.generated_at).total_seconds())
    cache_control = "private" if request.app.state.auth_token is not None else "public"
    headers = {
        "ETag": rendered.etag,
        "Cache-Control": f"{cache_control}, max-age={int(service.next_refresh_in_s(state, now))}",
        "Age": str(int(age_s)),
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and _etag_matches(if_none_match, rendered.etag):
        service.metrics.cache_requests.labels(target, "not_modified").inc()
        return Response(status_code=304, headers=headers)
    service.metrics.cache_requests.labels(target, "hit").inc()
    return Response(rendered.body(age_s), media_type="application/json", headers=headers)


def _etag_matches(header: str, etag: str) -> bool:
    # Weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored.
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))
