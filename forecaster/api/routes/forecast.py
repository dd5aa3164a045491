"""``POST /v1/forecast``: an ad-hoc forecast from a history sent in the body, by a configured target's model.

The body is bounded twice: bytes by the body-limit middleware, points by ``max_points``. The history is
validated into a regular series (``regularize``) and must have the model's step; errors name the field.
This route computes (in FastAPI's thread pool, it is a plain ``def``) and must not touch any source.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi import APIRouter

from forecaster.api.cache import ServingModel, TargetState, json_floats, json_timestamps, model_info
from forecaster.api.deps import AuthDep, ServiceDep, SettingsDep
from forecaster.api.handlers import RequestFieldError
from forecaster.api.quantiles import select_quantiles
from forecaster.api.schemas import AdhocForecastResponse, ErrorResponse, ForecastPoints, ForecastRequest
from forecaster.errors import DataError
from forecaster.predictors import fallback_baseline
from forecaster.series import format_duration, regularize, require_finite_forecast

__all__ = ["router"]

router = APIRouter(prefix="/v1/forecast", tags=["forecast"], dependencies=[AuthDep])


def _predict(state: TargetState, model: ServingModel, history: pd.Series) -> tuple[pd.DataFrame, str]:
    """The target's model's forecast, or the seasonal baseline's when no trained model serves."""
    if model.predictor is not None:
        return model.predictor.predict(history), model.name
    horizon_steps = int(pd.Timedelta(state.config.model.horizon) / state.step)
    qs = tuple(sorted(state.config.model.quantiles))
    base, _ = fallback_baseline(history, step=state.step, horizon_steps=horizon_steps, quantiles=qs)
    return base.predict(history), base.name


@router.post(
    "",
    response_model=AdhocForecastResponse,
    responses={
        401: {"model": ErrorResponse},
        404: {"model": ErrorResponse, "description": "No such model (target)"},
        413: {"model": ErrorResponse, "description": "Body larger than max_body_bytes"},
        422: {"model": ErrorResponse, "description": "Invalid body; `fields` names what is wrong"},
    },
    summary="Forecast from a history you send",
)
def post_forecast(body: ForecastRequest, service: ServiceDep, settings: SettingsDep) -> AdhocForecastResponse:
    state = service.targets.get(body.model)
    if state is None:
        raise RequestFieldError(
            "body", "model", f"unknown model; configured: {', '.join(service.targets)}", status_code=404
        )
    n = len(body.history.timestamps)
    if n > settings.max_points:
        raise RequestFieldError(
            "body", "history.timestamps", f"{n} points; at most {settings.max_points} are accepted"
        )
    if len(body.history.values) != n:
        raise RequestFieldError(
            "body",
            "history.values",
            f"{len(body.history.values)} values for {n} timestamps; give one value per timestamp",
        )
    wanted = list(select_quantiles(body.quantiles, state.quantile_labels, location="body"))
    if n < 3:
        raise RequestFieldError("body", "history.timestamps", "at least 3 points are needed")
    try:
        raw = pd.Series(
            body.history.values, index=pd.DatetimeIndex(pd.to_datetime(body.history.timestamps, utc=True))
        )
        history = regularize(raw, name="history")
    except DataError as exc:
        raise RequestFieldError("body", "history", exc.problem) from None
    step = pd.Timedelta(history.index.freq)
    if step != state.step:
        raise RequestFieldError(
            "body",
            "history.timestamps",
            f"the history's step is {format_duration(step)}; model {state.name!r} forecasts in steps of "
            f"{format_duration(state.step)}",
        )
    model = state.model
    note = model.note
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite result is refused just below
            frame, ran = _predict(state, model, history)
        answered = str(frame.attrs.get("answered_by", ""))
        if answered.startswith("fallback"):  # the model's own fallback for a history too short for it
            ran, note = answered, frame.attrs.get("note", answered)
        frame = require_finite_forecast(frame[wanted], history=history)  # the response holds only numbers
    except DataError as exc:
        raise RequestFieldError("body", "history", exc.problem) from None
    return AdhocForecastResponse(
        target=state.name,
        step_s=state.step.total_seconds(),
        quantiles=list(wanted),
        model=model_info(model, ran=ran, note=note),
        forecast=ForecastPoints(
            timestamps=json_timestamps(frame.index),
            values={q: json_floats(frame[q].to_numpy(dtype=float)) for q in wanted},
        ),
    )
