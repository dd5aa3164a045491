"""The forecast cache: each target's forecast is computed once per step in the background and served from memory.

The refresher wakes every ``tick_s``; a target is *due* when a new step has begun (plus ``refresh_delay``,
so Prometheus has the step's last sample) or when the last attempt failed and ``retry_interval`` has passed.
A due target costs one source query and one prediction, in a worker thread; requests never query the source,
so a hundred polling dashboards cost Prometheus one query per step. Responses are pre-rendered JSON bytes
per (quantiles, history) with a weak ETag; only the ``age_s`` field is spliced in per request.

When the source fails the last good forecast stays and is served with ``stale: true`` and the reason; a
target without a usable model is forecast by the seasonal naive baseline and the response says so.

This module must not build PromQL from request input (sources are built from configured targets only), and
must not query the source from a request handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from forecaster.errors import DataError, ForecasterError
from forecaster.events import Calendar
from forecaster.predictors import Predictor, fallback_baseline, quantile_label
from forecaster.prescaler.calendars import CalendarReading, CalendarWatch
from forecaster.series import format_duration, require_finite_forecast
from forecaster.settings import TargetConfig

__all__ = [
    "Clock",
    "Source",
    "ServingModel",
    "CachedForecast",
    "TargetState",
    "Rendered",
    "ForecastService",
    "utc_now",
    "iso",
]

log = logging.getLogger(__name__)

Clock = Callable[[], pd.Timestamp]

_MAX_RENDERED_PER_TARGET = 64
"""Pre-rendered bodies kept per forecast (distinct quantiles x history asked); an LRU bounds the memory."""
UPCOMING_EVENTS = pd.Timedelta(hours=24)
"""Scheduled events listed with each forecast: those starting within this long after the last sample."""
_BASELINE_HISTORY = pd.Timedelta(days=2)
_UNKNOWN = object()
"""History fetched when the seasonal baseline serves: one day to look back on, one to learn its bands from."""


def utc_now() -> pd.Timestamp:
    """The wall clock as a tz-naive UTC timestamp (the package's convention)."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else pd.Timestamp(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


class Source(Protocol):
    """Where a target's recent history comes from (Prometheus, or the synthetic demo)."""

    def fetch_recent(self, *, duration: pd.Timedelta, now: pd.Timestamp) -> pd.Series: ...


@dataclass(frozen=True)
class ServingModel:
    """The predictor serving a target, and what to tell callers about it."""

    predictor: Predictor | None
    """None: the seasonal baseline, fitted on each refresh's history."""
    kind: Literal["model", "baseline"]
    name: str
    version: str | None = None
    trained_at: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    """Why this is what serves (e.g. no trained model yet), shown in every response."""

    @property
    def history_steps(self) -> int:
        return int(getattr(self.predictor, "lookback_steps", 0) or 0)

    @classmethod
    def baseline(cls, note: str) -> ServingModel:
        return cls(predictor=None, kind="baseline", name="seasonal_naive_daily", note=note)

    @classmethod
    def from_store(cls, model: Predictor, ref: Any, *, note: str | None = None) -> ServingModel:
        """A trained model loaded from the store; ``ref`` is its :class:`forecaster.store.ModelRef`."""
        return cls(
            predictor=model,
            kind="model",
            name="quantile_lstm",
            version=ref.version,
            trained_at=ref.trained_at,
            metrics=ref.metrics,
            note=note,
        )


@dataclass
class CachedForecast:
    """One refresh's result. Immutable once published, except its LRU of rendered bodies (event loop only)."""

    target: str
    generated_at: pd.Timestamp
    actual: pd.Series
    forecast: pd.DataFrame
    model: ServingModel
    model_name: str
    """The predictor that actually ran (differs from ``model.name`` when a baseline had to step in)."""
    note: str | None
    rendered: OrderedDict[tuple[Any, ...], Rendered] = field(default_factory=OrderedDict)
    events: list[dict[str, Any]] = field(default_factory=list)
    """Upcoming scheduled events (start, kind, end, expected) from the target's calendar."""
    last_sample_at: pd.Timestamp | None = None
    last_actual: float | None = None
    horizon_samples: list[Any] | None = field(default=None, repr=False, compare=False)
    metric_lines: tuple[Any, dict[str, str]] | None = field(default=None, repr=False, compare=False)
    """This forecast's ``/metrics`` lines that do not change between scrapes, and the model they are for."""
    """The ``/metrics`` gauge samples of this forecast, computed at its first scrape (see api/metrics.py)."""
    generated_at_ns: int = field(default=0, init=False, repr=False, compare=False)
    last_sample_at_ns: int | None = field(default=None, init=False, repr=False, compare=False)
    """The two times in nanoseconds since the epoch (UTC), for :meth:`ForecastService.fresh_timing`."""

    def __post_init__(self) -> None:
        # Computed once here: request handlers must not scan the series.
        valid = self.actual.dropna()
        if not valid.empty:
            self.last_sample_at = valid.index[-1]
            self.last_actual = float(valid.iloc[-1])
        self.generated_at_ns = int(pd.Timestamp(self.generated_at).value)
        if self.last_sample_at is not None:
            self.last_sample_at_ns = int(pd.Timestamp(self.last_sample_at).value)


@dataclass(frozen=True)
class Rendered:
    """A response body without its leading ``{"age_s":...,``; ``etag`` names the representation."""

    tail: bytes
    etag: str

    def body(self, age_s: float) -> bytes:
        return b'{"age_s":' + f"{age_s:.1f}".encode() + b"," + self.tail


@dataclass
class TargetState:
    """Everything the service knows about one target. Written by the refresher, read by handlers."""

    config: TargetConfig
    source: Source
    model: ServingModel
    entry: CachedForecast | None = None
    last_success_bucket: int | None = None
    last_attempt_at: pd.Timestamp | None = None
    last_error: str | None = None
    last_error_at: pd.Timestamp | None = None
    refreshing: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    """The ForecastTarget's ``metadata.labels`` (what ``/v1/targets?labelSelector=`` filters on)."""
    step: pd.Timedelta = field(init=False)
    step_ns: int = field(init=False)
    quantile_labels: list[str] = field(init=False)

    def __post_init__(self) -> None:
        # Parsed once: request handlers read these on every call.
        self.step = self.config.step
        self.step_ns = int(self.step.value)
        self.quantile_labels = [quantile_label(q) for q in sorted(self.config.model.quantiles)]

    @property
    def name(self) -> str:
        return self.config.name


def json_floats(values: np.ndarray) -> list[float | None]:
    # NaN is not JSON; a masked gap in the actuals becomes null. Three decimals are plenty for rates.
    return [None if math.isnan(v) else round(v, 3) for v in values.tolist()]


def json_timestamps(index: pd.DatetimeIndex) -> list[str]:
    """``%Y-%m-%dT%H:%M:%SZ`` of each (naive, UTC) timestamp, sub-seconds cut as ``strftime`` cuts them.

    numpy formats the whole array at once: pandas' ``strftime`` formats timestamp by timestamp, 1.0-1.5 ms
    for the 360 points of a 6-hour view, two thirds of rendering a forecast's body on the event loop
    (0.2 ms this way)."""
    if index.tz is not None:  # never in the service (naive UTC throughout); keep strftime's meaning
        return list(index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    seconds = np.asarray(index, dtype="datetime64[ns]").astype("datetime64[s]")
    return np.char.add(np.datetime_as_string(seconds, unit="s"), "Z").tolist()


class ForecastService:
    """The targets, their models and cached forecasts, and the background refresher.

    ``metrics`` is a :class:`forecaster.api.metrics.ServiceMetrics` (or anything with the same counters).
    """

    def __init__(
        self,
        targets: list[TargetState],
        *,
        clock: Clock,
        max_history: pd.Timedelta,
        refresh_delay: pd.Timedelta,
        retry_interval: pd.Timedelta,
        stale_after_steps: int,
        metrics: Any,
        model_refresher: Callable[[TargetState], ServingModel | None] | None = None,
        calendar_loader: Callable[[TargetState, pd.Timestamp], Calendar | None] | None = None,
        refresh_workers: int | None = None,
    ) -> None:
        self.targets: dict[str, TargetState] = {t.name: t for t in targets}
        if refresh_workers is not None and refresh_workers < 1:
            raise ValueError(f"refresh_workers must be >= 1, got {refresh_workers}")
        self.refresh_workers = refresh_workers
        """Threads refreshing at once (a pool of the service's own); None: asyncio's default pool."""
        self._pool: ThreadPoolExecutor | None = None
        self.clock = clock
        self.max_history = max_history
        self.refresh_delay = refresh_delay
        self._refresh_delay_ns = int(pd.Timedelta(refresh_delay).value)
        self.retry_interval = retry_interval
        self.stale_after_steps = stale_after_steps
        self.metrics = metrics
        self.model_refresher = model_refresher
        self.calendar_loader = calendar_loader or _load_calendar
        """Reads a target's calendar (its ``events:`` section) on every refresh; a seam for tests."""
        self.calendars = CalendarWatch()
        """Each calendar's last good copy: used for ``events.max_age_s`` while its source is down or stale
        (the rule the prescaler follows, so the page shows the forecast the prescaler acts on)."""
        self.models_loaded = False
        self.notes: dict[str, str] = {}
        """Service-wide notes per target (e.g. the demo model is training), shown by /readyz."""
        self._lock = threading.Lock()
        self._sorted: list[str] | None = None
        self.changes = 0
        """Refreshes done or failed so far: the shared refresher writes its snapshot when this moved."""

    def sorted_names(self) -> list[str]:
        """Target names in order (cached: ``/v1/targets`` pages through them on every call)."""
        if self._sorted is None or len(self._sorted) != len(self.targets):
            self._sorted = sorted(self.targets)
        return self._sorted

    # -- refreshing -----------------------------------------------------------------------------------------
    def _bucket(self, state: TargetState, now: pd.Timestamp) -> int:
        return int((now - self.refresh_delay).value // state.step.value)

    def due(self, state: TargetState, now: pd.Timestamp) -> bool:
        if state.refreshing:
            return False
        if state.last_error_at is not None and state.last_error is not None:
            return now - state.last_error_at >= self.retry_interval
        return state.last_success_bucket is None or self._bucket(state, now) > state.last_success_bucket

    def invalidate(self, name: str) -> None:
        """Make ``name`` due at the next tick (a new model arrived)."""
        state = self.targets[name]
        state.last_success_bucket = None
        state.last_error_at = None

    def set_model(self, name: str, model: ServingModel) -> None:
        with self._lock:
            self.targets[name].model = model
        self.invalidate(name)

    def _fetch_duration(self, state: TargetState, model: ServingModel) -> pd.Timedelta:
        need = state.step * (model.history_steps + 1) if model.predictor is not None else _BASELINE_HISTORY
        return max(self.max_history, need)

    def refresh(self, name: str) -> bool:
        """Query the source once and recompute ``name``'s forecast. Runs in a worker thread; never raises."""
        state = self.targets[name]
        now = self.clock()
        state.last_attempt_at = now
        started = time.perf_counter()
        if self.model_refresher is not None:
            try:
                newer = self.model_refresher(state)
            except ForecasterError as exc:  # a damaged store must not stop forecasts
                log.warning("target %s: model check failed: %s", name, exc)
                newer = None
            if newer is not None:
                state.model = newer
        model = state.model
        queries = getattr(self.metrics, "source_queries", None)
        if queries is not None:
            queries.inc()
        try:
            history = state.source.fetch_recent(duration=self._fetch_duration(state, model), now=now)
        except ForecasterError as exc:
            self._failed(state, now, f"history query failed: {exc}", source=True)
            return False
        except Exception as exc:  # noqa: BLE001 - a source bug must not kill the refresher
            log.exception("target %s: source raised", name)
            self._failed(state, now, f"history query failed: {type(exc).__name__}", source=True)
            return False
        calendar, calendar_note = self._calendar(state, now)
        try:
            forecast, model_name, note = self._predict(state, model, history, events=calendar)
        except ForecasterError as exc:
            self._failed(state, now, f"forecast failed: {exc}", source=False)
            return False
        except Exception as exc:  # noqa: BLE001
            log.exception("target %s: prediction raised", name)
            self._failed(state, now, f"forecast failed: {type(exc).__name__}", source=False)
            return False
        if calendar_note:
            note = f"{note + '; ' if note else ''}{calendar_note}"
        shown = history.loc[history.index > history.index[-1] - self.max_history]
        upcoming = []
        if calendar is not None:
            last = pd.Timestamp(history.index[-1]).tz_localize("UTC")
            upcoming = [
                {
                    "start": iso(e.start.tz_localize(None)),
                    "kind": e.kind,
                    "end": iso(e.end.tz_localize(None)) if e.end is not None else None,
                    "expected": e.expected,
                }
                for e in calendar.upcoming(last, within=UPCOMING_EVENTS)
            ]
        state.entry = CachedForecast(
            target=name,
            generated_at=now,
            actual=shown,
            forecast=forecast,
            model=model,
            model_name=model_name,
            note=note,
            events=upcoming,
        )
        state.last_success_bucket = self._bucket(state, now)
        state.last_error = None
        state.last_error_at = None
        self.changes += 1
        self.metrics.refreshes.labels(name, "ok").inc()
        self.metrics.refresh_duration.observe(time.perf_counter() - started)
        return True

    def _failed(self, state: TargetState, now: pd.Timestamp, reason: str, *, source: bool) -> None:
        log.warning("target %s: %s", state.name, reason)
        state.last_error = reason
        state.last_error_at = now
        self.changes += 1
        if source:
            self.metrics.source_errors.labels(state.name).inc()
        self.metrics.refreshes.labels(state.name, "error").inc()

    def _calendar(self, state: TargetState, now: pd.Timestamp) -> tuple[Calendar | None, str | None]:
        """The target's calendar (this refresh's copy, or the last good one within ``events.max_age_s``), or
        None; and a note when it could not be read. A calendar that cannot be read never stops forecasts."""
        events = state.config.events
        if not events.enabled:
            return None, None
        from forecaster.sources.calendar import calendar_updated_at

        reading = self.calendars.read(
            (state.name, events),
            events,
            load=lambda: self.calendar_loader(state, now),
            now=now,
            horizon=UPCOMING_EVENTS,
            updated_at=calendar_updated_at(events),
        )
        self._export_calendar(state.name, reading, now)
        if reading.available:
            return reading.calendar, None
        log.warning("target %s: %s", state.name, reading.message)
        if reading.calendar is not None:
            return reading.calendar, (
                f"calendar unavailable ({reading.problem}): forecast with the last good copy, read "
                f"{iso(reading.read_at)}"
            )
        return None, f"calendar unavailable ({reading.problem}): forecast without scheduled events"

    def _export_calendar(self, name: str, reading: CalendarReading, now: pd.Timestamp) -> None:
        up = getattr(self.metrics, "calendar_up", None)
        if up is None:  # metrics without the calendar families (a test's stand-in)
            return
        up.labels(name).set(1 if reading.available else 0)
        self.metrics.calendar_age.labels(name).set(reading.age_s(now))
        for outcome, count in reading.entries(now).items():
            self.metrics.calendar_entries.labels(name, outcome).set(count)

    def _predict(
        self,
        state: TargetState,
        model: ServingModel,
        history: pd.Series,
        *,
        events: Calendar | None = None,
    ) -> tuple[pd.DataFrame, str, str | None]:
        if history.dropna().empty:
            raise DataError(f"the source returned no samples for target {state.name}", hint="check the query")
        horizon_steps = max(1, int(pd.Timedelta(state.config.model.horizon) / state.step))
        qs = tuple(sorted(state.config.model.quantiles))
        if model.predictor is not None:
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # a non-finite result is refused below
                    if getattr(model.predictor, "events", None) is not None:  # a model that reads a calendar
                        frame = model.predictor.predict(history, events=events)  # type: ignore[call-arg]
                    else:
                        frame = model.predictor.predict(history)
                answered = str(frame.attrs.get("answered_by", ""))
                if answered.startswith("fallback"):  # the model's own fallback for a short history
                    note = f"{model.note + '; ' if model.note else ''}{frame.attrs.get('note', answered)}"
                    return require_finite_forecast(frame, history=history), answered, note
                calendar_note = frame.attrs.get("note") if getattr(model.predictor, "events", None) else None
                if calendar_note:
                    note = f"{model.note + '; ' if model.note else ''}{calendar_note}"
                    return require_finite_forecast(frame, history=history), model.name, note
                return require_finite_forecast(frame, history=history), model.name, model.note
            except DataError as exc:
                # A model that cannot use this history (too short after an outage) must not blank the
                # dashboard: the baseline answers and the response says why.
                note = (
                    f"model {model.version or model.name} could not forecast ({exc.problem}); baseline used"
                )
                return self._baseline(state, history, horizon_steps, qs, note)
        return self._baseline(state, history, horizon_steps, qs, model.note)

    def _baseline(
        self,
        state: TargetState,
        history: pd.Series,
        horizon_steps: int,
        qs: tuple[float, ...],
        note: str | None,
    ) -> tuple[pd.DataFrame, str, str | None]:
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite result is refused below
            base, short = fallback_baseline(
                history, step=state.step, horizon_steps=horizon_steps, quantiles=qs
            )
            frame = base.predict(history)
        if short:
            note = f"{note + '; ' if note else ''}{short}"
        # Raises DataError: the refresh fails, and the last good forecast is served as stale, saying why.
        return require_finite_forecast(frame, history=history), base.name, note

    async def refresh_due(self) -> list[str]:
        """Refresh every due target (in worker threads); returns the names refreshed successfully."""
        now = self.clock()
        due = [s for s in self.targets.values() if self.due(s, now)]
        for s in due:
            s.refreshing = True

        if self.refresh_workers is not None and self._pool is None:
            self._pool = ThreadPoolExecutor(self.refresh_workers, thread_name_prefix="forecast-refresh")
        loop = asyncio.get_running_loop()

        async def one(state: TargetState) -> bool:
            try:
                if self._pool is None:
                    return await asyncio.to_thread(self.refresh, state.name)
                return await loop.run_in_executor(self._pool, self.refresh, state.name)
            finally:
                state.refreshing = False

        results = await asyncio.gather(*(one(s) for s in due))
        return [s.name for s, ok in zip(due, results, strict=True) if ok]

    def close(self) -> None:
        """Stop the refresh pool's threads (after the refresher task is cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def run(self, *, tick_s: float) -> None:
        """The refresher loop; cancel the task to stop it."""
        while True:
            try:
                await self.refresh_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep serving; the error is logged and retried next tick
                log.exception("refresher tick failed")
            await asyncio.sleep(tick_s)

    # -- reading --------------------------------------------------------------------------------------------
    def stale_reason(self, state: TargetState, now: pd.Timestamp) -> str | None:
        entry = state.entry
        if entry is None:
            return state.last_error
        if state.last_error is not None:
            return f"{state.last_error} (at {iso(state.last_error_at)}); serving the forecast from {iso(entry.generated_at)}"
        limit = state.step * self.stale_after_steps
        if now - entry.generated_at > limit:
            return f"not refreshed for more than {format_duration(limit)}"
        last = entry.last_sample_at
        if last is not None and entry.generated_at - last > limit:
            return f"the newest sample is from {iso(last)}: the source has no recent data"
        return None

    def fresh_timing(self, state: TargetState, now_ns: int) -> tuple[float, float] | None:
        """(age in seconds, seconds until the next refresh) of a fresh forecast at ``now_ns`` (nanoseconds
        since the epoch, UTC): :meth:`stale_reason` is None and these equal the age and
        :meth:`next_refresh_in_s`, in integer arithmetic (pandas' costs more than the rest of a cache hit).
        None when the forecast is missing, failed or stale: the pandas methods answer those (rare)."""
        entry = state.entry
        if entry is None or state.last_error is not None:
            return None
        generated_ns = entry.generated_at_ns
        limit_ns = state.step_ns * self.stale_after_steps
        if now_ns - generated_ns > limit_ns:
            return None
        last_ns = entry.last_sample_at_ns
        if last_ns is not None and generated_ns - last_ns > limit_ns:
            return None
        delay_ns = self._refresh_delay_ns
        bucket = (now_ns - delay_ns) // state.step_ns
        wait_ns = (bucket + 1) * state.step_ns + delay_ns - now_ns
        return max(0.0, (now_ns - generated_ns) / 1e9), max(1.0, wait_ns / 1e9)

    def next_refresh_in_s(self, state: TargetState, now: pd.Timestamp) -> float:
        """Seconds until this target's forecast may change: what ``Cache-Control: max-age`` promises."""
        if state.last_error_at is not None and state.last_error is not None:
            wait = state.last_error_at + self.retry_interval - now
        else:
            bucket = self._bucket(state, now)
            next_start = pd.Timestamp((bucket + 1) * state.step.value, unit="ns")
            wait = next_start + self.refresh_delay - now
        return max(1.0, wait.total_seconds())

    def render(
        self,
        state: TargetState,
        *,
        quantiles: tuple[str, ...],
        history_steps: int,
        now: pd.Timestamp | None,
        stale: str | None | object = _UNKNOWN,
    ) -> Rendered | None:
        """The cached body for this view of the target's forecast (rendered on first use). ``stale``: the
        :meth:`stale_reason` at ``now`` when the caller has it already (the fast path, :meth:`fresh_timing`)."""
        entry = state.entry
        if entry is None:
            return None
        if stale is _UNKNOWN:
            assert now is not None
            stale = self.stale_reason(state, now)
        assert stale is None or isinstance(stale, str)
        key = (quantiles, history_steps, stale)
        hit = entry.rendered.get(key)
        if hit is not None:
            entry.rendered.move_to_end(key)
            return hit
        actual = entry.actual.iloc[-history_steps:] if history_steps > 0 else entry.actual.iloc[:0]
        payload = {
            "target": state.name,
            "generated_at": iso(entry.generated_at),
            "stale": stale is not None,
            "stale_reason": stale,
            "step_s": state.step.total_seconds(),
            "horizon_steps": len(entry.forecast),
            "quantiles": list(quantiles),
            "model": model_info(entry.model, ran=entry.model_name, note=entry.note),
            "actual": {"timestamps": json_timestamps(actual.index), "values": json_floats(actual.to_numpy())},
            "forecast": {
                "timestamps": json_timestamps(entry.forecast.index),
                "values": {q: json_floats(entry.forecast[q].to_numpy(dtype=float)) for q in quantiles},
            },
            "events": entry.events,
        }
        tail = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()[1:]
        digest = hashlib.blake2b(tail, digest_size=12).hexdigest()
        rendered = Rendered(tail=tail, etag=f'W/"{digest}"')
        entry.rendered[key] = rendered
        while len(entry.rendered) > _MAX_RENDERED_PER_TARGET:
            entry.rendered.popitem(last=False)
        return rendered

    def readiness(self) -> tuple[bool, list[str], list[str]]:
        """(ready, reasons it is not, degradations that do not stop it serving)."""
        if not self.models_loaded:
            return False, ["models are still loading"], []
        now = self.clock()
        reasons: list[str] = []
        degraded: list[str] = []
        for state in self.targets.values():
            stale = self.stale_reason(state, now)
            if state.entry is None:
                why = stale or "first refresh has not finished"
                reasons.append(f"{state.name}: no forecast yet: {why}")
            elif stale is not None:
                degraded.append(f"{state.name}: stale: {stale}")
            if state.model.kind == "baseline" and state.model.note:
                degraded.append(f"{state.name}: {state.model.note}")
        for name, note in self.notes.items():
            degraded.append(f"{name}: {note}")
        return not reasons, reasons, degraded


def _load_calendar(state: TargetState, now: pd.Timestamp) -> Calendar | None:
    from forecaster.sources.calendar import load_calendar

    return load_calendar(state.config.events, prometheus=state.config.prometheus, now=now)


def model_info(model: ServingModel, *, ran: str | None = None, note: str | None = None) -> dict[str, Any]:
    """The ``model`` object of the API's responses."""
    kind = model.kind if ran in (None, model.name) else "baseline"
    return {
        "kind": kind,
        "name": ran or model.name,
        "version": model.version if kind == "model" else None,
        "trained_at": model.trained_at if kind == "model" else None,
        "fallback": kind == "baseline",
        "note": note if note is not None else model.note,
    }
