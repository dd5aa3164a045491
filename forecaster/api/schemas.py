"""Request and response models of the forecast API (pydantic): what ``/docs`` shows and what tests validate.

The cached forecast is served as pre-rendered bytes for speed; a test validates those bytes against
:class:`ForecastResponse`, so the documented schema and the served body cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ModelInfo",
    "TargetInfo",
    "TargetsResponse",
    "Points",
    "ForecastPoints",
    "ForecastResponse",
    "UpcomingEvent",
    "HistoryIn",
    "ForecastRequest",
    "AdhocForecastResponse",
    "HealthResponse",
    "ReadyResponse",
    "FieldError",
    "ErrorResponse",
]


class ModelInfo(BaseModel):
    kind: Literal["model", "baseline"] = Field(description="'baseline' when no trained model could serve")
    name: str = Field(description="quantile_lstm, seasonal_naive_daily, last_value...")
    version: str | None = Field(description="Model store version, null for a baseline")
    trained_at: str | None
    fallback: bool = Field(description="True when a baseline serves instead of a trained model")
    note: str | None = Field(description="Why this model serves (e.g. no trained model yet), if noteworthy")


class TargetInfo(BaseModel):
    name: str
    description: str
    labels: dict[str, str] = Field(default_factory=dict, description="The ForecastTarget's metadata.labels")
    step_s: float
    horizon_s: float
    quantiles: list[str]
    model: ModelInfo
    metrics: dict[str, Any] = Field(description="The model's backtest metrics against the baselines")
    last_refreshed_at: str | None = Field(description="When the cached forecast was computed")
    stale: bool
    stale_reason: str | None


class TargetsResponse(BaseModel):
    targets: list[TargetInfo]
    total: int | None = Field(default=None, description="Targets matching the label selector, over all pages")
    continue_: str | None = Field(
        default=None,
        alias="continue",
        serialization_alias="continue",
        description="Pass as ?continue= for the next page; null on the last page",
    )

    model_config = {"populate_by_name": True}


class Points(BaseModel):
    timestamps: list[str] = Field(description="ISO 8601 UTC, one per step")
    values: list[float | None] = Field(description="null marks a gap in the history")


class ForecastPoints(BaseModel):
    timestamps: list[str]
    values: dict[str, list[float]] = Field(description="One list per quantile label (p50, p90...)")


class UpcomingEvent(BaseModel):
    start: str = Field(description="Scheduled start (UTC)")
    kind: str
    end: str | None
    expected: float | None = Field(description="The calendar's size hint, if any")


class ForecastResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    age_s: float = Field(description="Seconds since the forecast was computed")
    target: str
    generated_at: str
    stale: bool = Field(description="True when the last refresh failed or is overdue; see stale_reason")
    stale_reason: str | None
    step_s: float
    horizon_steps: int
    quantiles: list[str]
    model: ModelInfo
    actual: Points
    forecast: ForecastPoints
    events: list[UpcomingEvent] = Field(
        default_factory=list,
        description="Scheduled events starting within 24 hours after the last sample (the target's calendar)",
    )


_MAX_POINTS_DOC = "at most the service's max_points (50,000 by default)"


class HistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timestamps: list[datetime] = Field(
        description=f"ISO 8601, increasing, on a regular step; {_MAX_POINTS_DOC}"
    )
    values: list[float] = Field(description="One number per timestamp")


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="A configured target whose current model forecasts", max_length=63)
    history: HistoryIn
    quantiles: list[str] | None = Field(
        default=None, description="Subset of the model's quantiles, e.g. ['p90']"
    )


class AdhocForecastResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str
    step_s: float
    quantiles: list[str]
    model: ModelInfo
    forecast: ForecastPoints


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    ready: bool
    reasons: list[str] = Field(description="Why the service is not ready (empty when ready)")
    degraded: list[str] = Field(
        description="Problems that do not stop it serving: stale data, baseline fallback"
    )


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. history.values.3")
    location: str = Field(description="body, query, path or header")
    message: str


class ErrorResponse(BaseModel):
    error: str
    hint: str | None = None
    fields: list[FieldError] = Field(default_factory=list)
    omitted: int = Field(default=0, description="Further field errors not listed (only the first 20 are)")
