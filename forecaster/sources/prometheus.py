"""Read a target's history from Prometheus (or Thanos, Mimir, VictoriaMetrics: anything with its HTTP API).

The only module that imports ``prometheus_api_client``, and the one retry point for Prometheus: 5xx answers,
408/429, connection errors and timeouts are retried with exponential backoff (``retries``, ``backoff_s``);
the client's own urllib3 retry is switched off so the two never multiply. A rejected query (4xx: bad PromQL,
wrong credentials), an empty result or a result with several series is a :class:`SourceError` naming the
query. Long ranges are fetched in chunks below Prometheus' limit of 11,000 points per series per query and
merged in order without duplicated edge samples; the result is a regular series (see
:func:`forecaster.series.regularize`): short gaps interpolated, long gaps NaN, nothing invented as zero.

The PromQL expression comes only from operator configuration (``PrometheusSettings.query``). This module
must never be handed a query built from request input (an API parameter, a dashboard field): that would let
any caller run arbitrary, possibly very expensive, queries with the service's credentials.

Note on gaps: Prometheus answers each step with the latest sample of the previous 5 minutes (its lookback
delta), so the first 5 minutes of any gap come back as the last value repeated; only the rest is missing.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util.retry import Retry

from forecaster.errors import ConfigError, DataError, SourceError
from forecaster.events import Calendar, CalendarError, calendar_from_records
from forecaster.series import parse_duration, regularize
from forecaster.settings import EventsSettings, PrometheusSettings

__all__ = [
    "PrometheusSource",
    "ConnectionPools",
    "fetch_history",
    "fetch_history_split",
    "fetch_calendar",
    "calendar_from_vector",
    "TooManySeriesError",
    "NoSeriesError",
    "PROMETHEUS_MAX_POINTS",
]

_LOG = logging.getLogger(__name__)

PROMETHEUS_MAX_POINTS = 11_000
"""Prometheus refuses range queries that would return more points than this per series."""

_RETRY_STATUS = frozenset({408, 429})
"""4xx answers that mean "try again later" (request timeout, rate limited), retried like 5xx."""
_MAX_RETRY_AFTER_S = 60.0
_STATUS_RE = re.compile(r"HTTP Status Code (\d{3})")


class TooManySeriesError(SourceError):
    """A split query yields more series than its cap allows; ``count`` says how many (at least)."""

    def __init__(self, problem: str, *, hint: str | None = None, count: int) -> None:
        super().__init__(problem, hint=hint)
        self.count = count


class NoSeriesError(SourceError):
    """A split query matches no series at all over its history."""


class _Temporary(Exception):
    """A failure worth retrying; ``delay_s`` overrides the backoff (a Retry-After header)."""

    def __init__(self, message: str, *, delay_s: float | None = None) -> None:
        super().__init__(message)
        self.delay_s = delay_s


def _epoch_s(value: pd.Timestamp | datetime | str) -> float:
    ts = pd.Timestamp(value)
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("ns").value / 1e9


def _label_set(metric: dict[str, str]) -> str:
    name = metric.get("__name__", "")
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{labels}}}"


def _no_retries() -> Retry:
    # This module is the retry point: urllib3's own retry (prometheus_api_client's default: 3 tries, 503
    # included) is disabled wherever a connection pool is built.
    return Retry(total=0, read=False, redirect=False, status_forcelist=())


class ConnectionPools:
    """HTTP connection pools shared by many sources: one per Prometheus URL, at most ``pool_maxsize``
    kept-alive connections each.

    Why: a source keeps its connection open between fetches, and Prometheus serves at most
    ``--web.max-connections`` (512 by default) at once. A process that holds a source per target (the
    forecast service at fleet scale) would hold a connection per target, and from the 513th on a first
    query waits in Prometheus' listen queue until it times out. Sources built with one ``ConnectionPools``
    share their URL's pool instead, so the connections a process opens are bounded by the queries it runs
    at once (its worker threads), whatever the number of targets. Each source keeps its own session
    (headers, token, hooks); only the pool is shared. Thread-safe.
    """

    def __init__(self, *, pool_maxsize: int = 32) -> None:
        if pool_maxsize < 1:
            raise ConfigError(
                f"pool_maxsize must be at least 1, not {pool_maxsize}",
                hint="give at least the number of queries run at once (the refresh workers), e.g. 32",
            )
        self.pool_maxsize = pool_maxsize
        self._adapters: dict[str, HTTPAdapter] = {}
        self._lock = threading.Lock()

    def adapter(self, url: str) -> HTTPAdapter:
        """The pool of ``url`` (made on first use)."""
        key = url.rstrip("/")
        with self._lock:
            found = self._adapters.get(key)
            if found is None:
                found = self._adapters[key] = HTTPAdapter(
                    pool_connections=1, pool_maxsize=self.pool_maxsize, max_retries=_no_retries()
                )
            return found

    def __len__(self) -> int:
        """How many pools exist (one per Prometheus URL asked for)."""
        with self._lock:
            return len(self._adapters)

    def close(self) -> None:
        """Close every pool's connections (the sources stay usable: a pool reconnects on its next use)."""
        with self._lock:
            adapters = list(self._adapters.values())
        for adapter in adapters:
            adapter.close()


class PrometheusSource:
    """Fetches one PromQL expression's history as a regular series.

    ``client`` (a ``PrometheusConnect``) and ``sleep`` are seams for tests; by default the client is built
    from ``settings`` (bearer token re-read before each fetch, basic auth, CA bundle or skip-verify, the
    per-request ``timeout_s``). ``max_interp_gap`` is the longest gap interpolated; longer ones stay NaN.
    ``pools``: the :class:`ConnectionPools` whose pool for ``settings.url`` this source's connections come
    from (None: a pool of its own, closed with the source).
    """

    def __init__(
        self,
        settings: PrometheusSettings,
        *,
        client: PrometheusConnect | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_interp_gap: str | pd.Timedelta = "15m",
        pools: ConnectionPools | None = None,
    ) -> None:
        if not settings.query.strip():
            raise ConfigError(
                "prometheus.query is empty",
                hint='set a PromQL expression yielding one series, e.g. sum(rate(http_requests_total{service="live"}[1m]))',
            )
        if not 1 <= settings.max_points_per_query <= PROMETHEUS_MAX_POINTS:
            raise ConfigError(
                f"prometheus.max_points_per_query={settings.max_points_per_query} is out of range",
                hint=f"use 1..{PROMETHEUS_MAX_POINTS} (Prometheus' per-query limit)",
            )
        if settings.retries < 0 or settings.backoff_s < 0 or settings.timeout_s <= 0:
            raise ConfigError("prometheus.retries and backoff_s must be >= 0 and timeout_s > 0")
        if not settings.url.startswith(("http://", "https://")):
            raise ConfigError(f"prometheus.url {settings.url!r} must start with http:// or https://")
        try:
            self.step = parse_duration(settings.step)
        except DataError as exc:
            raise ConfigError(f"prometheus.step: {exc.problem}", hint=exc.hint) from exc
        self.settings = settings
        self.query = settings.query
        self.max_interp_gap = max_interp_gap
        self._sleep = sleep
        self._owns_client = client is None
        self._last_response: requests.Response | None = None
        self.pools = pools if client is None else None
        self._session: requests.Session | None = None
        """The session this source built (None: a client was passed in)."""
        self.client = client if client is not None else self._build_client()

    # -- client -------------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str] | None:
        token = self.settings.bearer_token()
        return {"Authorization": f"Bearer {token}"} if token else None

    def _build_client(self) -> PrometheusConnect:
        s = self.settings
        session = requests.Session()
        # A custom session makes PrometheusConnect ignore disable_ssl; it passes session.verify per request.
        session.verify = False if s.insecure_skip_verify else (s.ca_file or True)
        if s.insecure_skip_verify:
            _LOG.warning("TLS certificate verification is off for Prometheus at %s", s.url)
        # Keep the raw answer of every request so a rejected query can quote Prometheus' own error message.
        session.hooks["response"].append(self._remember)
        client = PrometheusConnect(
            url=s.url.rstrip("/"),
            headers=self._headers(),
            auth=s.basic_auth(),
            session=session,
            retry=_no_retries(),
            timeout=s.timeout_s,
        )
        self._session = session
        if self.pools is not None:
            # PrometheusConnect mounts a pool of its own on the URL (unused yet: no connection opened);
            # the shared one replaces it on this source's own session.
            session.get_adapter(s.url).close()
            session.mount(s.url.rstrip("/"), self.pools.adapter(s.url))
        return client

    @property
    def http_adapter(self) -> HTTPAdapter | None:
        """The connection pool this source's requests to Prometheus use (None: a client passed in)."""
        if self._session is None:
            return None
        adapter = self._session.get_adapter(self.settings.url)
        return adapter if isinstance(adapter, HTTPAdapter) else None

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_response = response

    def close(self) -> None:
        if not self._owns_client:
            return
        if self.pools is not None and self._session is not None:
            # The shared pool outlives this source: closing the session must not close its connections.
            self._session.mount(self.settings.url.rstrip("/"), HTTPAdapter(max_retries=_no_retries()))
        self.client.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fetching -----------------------------------------------------------------------------------------

    def fetch_recent(self, *, duration: str | pd.Timedelta, now: pd.Timestamp | datetime) -> pd.Series:
        """The last ``duration`` before ``now``: points on the step grid from ``now - duration`` up to the
        last grid point strictly before ``now`` (``duration / step`` points when Prometheus has them all)."""
        span = parse_duration(duration)
        step_s = int(self.step.total_seconds())
        now_s = _epoch_s(now)
        end_s = (math.ceil(now_s / step_s) - 1) * step_s
        points = max(1, int(span.total_seconds() // step_s))
        start_s = end_s - (points - 1) * step_s
        return self._fetch_range(start_s, end_s, step_s)

    def fetch(
        self,
        *,
        start: pd.Timestamp | datetime | str,
        end: pd.Timestamp | datetime | str,
        step: str | pd.Timedelta | None = None,
    ) -> pd.Series:
        """Evaluate the query at ``start, start + step, ...`` up to ``end`` (inclusive, as Prometheus does)."""
        step_td = self.step if step is None else parse_duration(step)
        step_s = int(step_td.total_seconds())
        start_s, end_s = math.ceil(_epoch_s(start)), math.floor(_epoch_s(end))
        if end_s < start_s:
            raise DataError(f"range end {end} is before its start {start}", hint="swap or widen the range")
        return self._fetch_range(start_s, end_s, step_s)

    def _fetch_range(self, start_s: int, end_s: int, step_s: int) -> pd.Series:
        if self._owns_client:
            self.client.headers = self._headers()  # bearer tokens in mounted Secrets rotate
        chunk = self.settings.max_points_per_query
        stamps: list[np.ndarray] = []
        values: list[np.ndarray] = []
        label_sets: dict[str, None] = {}
        chunk_start = start_s
        while chunk_start <= end_s:
            # Both ends of a range query are inclusive: the next chunk starts one step after this one ends.
            chunk_end = min(chunk_start + (chunk - 1) * step_s, end_s)
            result = self._query_range(chunk_start, chunk_end, step_s)
            for item in result:
                label_sets[_label_set(item.get("metric", {}))] = None
            if len(result) == 1:
                raw = np.asarray(result[0].get("values", []), dtype=object).reshape(-1, 2)
                stamps.append(raw[:, 0].astype(float))
                values.append(np.array([float(v) for v in raw[:, 1]], dtype=float))
            chunk_start = chunk_end + step_s
        if len(label_sets) > 1:
            shown = ", ".join(list(label_sets)[:5]) + (" ..." if len(label_sets) > 5 else "")
            raise SourceError(
                f"the query {self.query!r} yields {len(label_sets)} series, not one: {shown}",
                hint="aggregate them into one, e.g. sum(...) or sum by () (...)",
            )
        if not stamps or sum(len(s) for s in stamps) == 0:
            raise SourceError(
                f"the query {self.query!r} returned no data between {_iso(start_s)} and {_iso(end_s)}",
                hint="check the metric name and labels in the Prometheus UI, and that it has history that far back",
            )
        return self._to_series(stamps, values, start_s=start_s, end_s=end_s, step_s=step_s)

    def _to_series(
        self, stamps: list[np.ndarray], values: list[np.ndarray], *, start_s: int, end_s: int, step_s: int
    ) -> pd.Series:
        """Chunks of one series merged in time order into a regular series (see the module docstring)."""
        ts = np.concatenate(stamps)
        vs = np.concatenate(values)
        order = np.argsort(ts, kind="stable")
        ts, vs = ts[order], vs[order]
        # Servers that align chunks differently may repeat an edge sample or answer outside the range.
        keep = np.concatenate(([True], np.diff(ts) > 0)) & (ts >= start_s) & (ts <= end_s)
        ts, vs = ts[keep], vs[keep]
        if np.isinf(vs).any():
            at = _iso(ts[int(np.argmax(np.isinf(vs)))])
            raise SourceError(
                f"the query {self.query!r} returned an infinite value at {at}",
                hint="guard divisions in the PromQL, e.g. a / (b > 0)",
            )
        # NaN (e.g. 0/0 in a ratio at a quiet hour) means "no value": a gap, not zero.
        finite = ~np.isnan(vs)
        if not finite.any():
            raise SourceError(f"the query {self.query!r} returned only NaN values", hint="check the PromQL")
        raw_series = pd.Series(vs[finite], index=pd.to_datetime(ts[finite], unit="s").as_unit("ns"))
        return regularize(
            raw_series, step=pd.Timedelta(seconds=step_s), max_interp_gap=self.max_interp_gap, name=self.query
        ).rename(self.query)

    def fetch_recent_split(
        self,
        *,
        duration: str | pd.Timedelta,
        now: pd.Timestamp | datetime,
        split_by: tuple[str, ...],
        max_series: int,
    ) -> dict[tuple[str, ...], pd.Series]:
        """Like :meth:`fetch_recent` for a query that yields one series per value of the ``split_by`` labels
        (``sum by (service) (...)``): every series in the same range queries, chunked in time only (the
        11,000-point limit is per series), keyed by their ``split_by`` label values.

        Bounded: first one instant count of the series over the latest chunk's window (a subquery); more than
        ``max_series`` is a :class:`TooManySeriesError` before any history is fetched (and a series that only
        appears earlier is still not kept beyond the cap). No series at all, or a series without a ``split_by`` label, is a SourceError.
        """
        span = parse_duration(duration)
        step_s = int(self.step.total_seconds())
        end_s = (math.ceil(_epoch_s(now) / step_s) - 1) * step_s
        start_s = end_s - (max(1, int(span.total_seconds() // step_s)) - 1) * step_s
        if self._owns_client:
            self.client.headers = self._headers()
        # Series present anywhere in the last chunk's window count, not only those with a sample at its end.
        window_s = min(end_s - start_s + step_s, self.settings.max_points_per_query * step_s)
        count_query = f"count(last_over_time(({self.query})[{window_s}s:{step_s}s]))"
        counted = self._query_range(end_s, end_s, step_s, query=count_query)
        count = int(float(counted[0]["values"][-1][1])) if counted and counted[0].get("values") else 0
        if count > max_series:
            raise TooManySeriesError(
                f"the query {self.query!r} yields {count} series, more than the cap of {max_series}",
                hint="narrow its label matchers, or raise maxTargets if that many targets are wanted",
                count=count,
            )
        chunk = self.settings.max_points_per_query
        parts: dict[tuple[str, ...], tuple[list[np.ndarray], list[np.ndarray]]] = {}
        chunk_start = start_s
        while chunk_start <= end_s:
            chunk_end = min(chunk_start + (chunk - 1) * step_s, end_s)
            for item in self._query_range(chunk_start, chunk_end, step_s):
                metric = item.get("metric", {})
                missing = [label for label in split_by if label not in metric]
                if missing:
                    raise SourceError(
                        f"the query {self.query!r} yields a series without the label(s) {', '.join(missing)}: "
                        f"{_label_set(metric)}",
                        hint=f"aggregate with by ({', '.join(split_by)}) so every series carries them",
                    )
                key = tuple(metric[label] for label in split_by)
                if key not in parts and len(parts) >= max_series:
                    raise TooManySeriesError(
                        f"the query {self.query!r} yields more than {max_series} series over its history",
                        hint="narrow its label matchers, or raise maxTargets if that many targets are wanted",
                        count=len(parts) + 1,
                    )
                stamps, values = parts.setdefault(key, ([], []))
                raw = np.asarray(item.get("values", []), dtype=object).reshape(-1, 2)
                stamps.append(raw[:, 0].astype(float))
                values.append(np.array([float(v) for v in raw[:, 1]], dtype=float))
            chunk_start = chunk_end + step_s
        if not parts:
            raise NoSeriesError(
                f"the query {self.query!r} matches no series between {_iso(start_s)} and {_iso(end_s)}",
                hint="check the metric name and labels in the Prometheus UI",
            )
        return {
            key: self._to_series(stamps, values, start_s=start_s, end_s=end_s, step_s=step_s)
            for key, (stamps, values) in sorted(parts.items())
        }

    def _query_range(
        self, start_s: int, end_s: int, step_s: int, *, query: str | None = None
    ) -> list[dict[str, Any]]:
        """One range query (of ``query``, default the source's own), retried on temporary failures; the only
        place that retries Prometheus."""
        query = query or self.query
        attempts = self.settings.retries + 1
        last = ""
        for attempt in range(attempts):
            try:
                return self._query_range_once(start_s, end_s, step_s, query=query)
            except _Temporary as exc:
                last = str(exc)
                if attempt + 1 == attempts:
                    break
                delay_s = self.settings.backoff_s * 2**attempt
                if exc.delay_s is not None:
                    delay_s = min(max(delay_s, exc.delay_s), _MAX_RETRY_AFTER_S)
                _LOG.warning(
                    "Prometheus query %r failed (%s); retry %d/%d in %.1fs",
                    query,
                    last,
                    attempt + 1,
                    attempts - 1,
                    delay_s,
                )
                self._sleep(delay_s)
        raise SourceError(
            f"Prometheus at {self.settings.url} failed for the query {query!r} after {attempts} attempt(s): {last}",
            hint="check that Prometheus is up and reachable; raise prometheus.timeout_s or retries if it is slow",
        )

    def _query_range_once(self, start_s: int, end_s: int, step_s: int, *, query: str) -> list[dict[str, Any]]:
        self._last_response = None
        try:
            with self._tls_warnings():
                result = self.client.custom_query_range(
                    query,
                    start_time=datetime.fromtimestamp(start_s, tz=UTC),
                    end_time=datetime.fromtimestamp(end_s, tz=UTC),
                    step=str(step_s),
                    # Ask Prometheus to give up when we do, so abandoned queries do not pile up there.
                    params={"timeout": str(float(self.settings.timeout_s))},
                )
        except requests.exceptions.SSLError as exc:
            raise SourceError(
                f"TLS error talking to Prometheus at {self.settings.url}: {exc}",
                hint="set prometheus.ca_file to the CA bundle that signed its certificate",
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise _Temporary(f"timed out after {self.settings.timeout_s:g}s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise _Temporary(f"cannot connect ({_short(exc)})") from exc
        except PrometheusApiClientException as exc:
            raise self._status_error(exc) from exc
        except (requests.exceptions.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            raise SourceError(
                f"{self.settings.url} answered the query {query!r} with something that is not the "
                f"Prometheus API ({type(exc).__name__}: {exc})",
                hint="check prometheus.url: it must be the Prometheus base URL, without /api/v1",
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise SourceError(
                f"request to Prometheus at {self.settings.url} for the query {query!r} failed: {exc}",
                hint="check prometheus.url",
            ) from exc
        if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
            raise SourceError(
                f"the query {query!r} returned a {type(result).__name__}, not a range vector",
                hint="the query must yield an instant vector (a scalar or string cannot be a history)",
            )
        return result

    @contextmanager
    def _tls_warnings(self) -> Iterator[None]:
        if not self.settings.insecure_skip_verify:
            yield
            return
        # The operator chose skip-verify in the config (logged once at build); urllib3 would warn per request.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureRequestWarning)
            yield

    def _status_error(self, exc: PrometheusApiClientException) -> Exception:
        """A non-200 answer as a temporary failure (5xx, 408, 429) or a SourceError naming the query."""
        response = self._last_response
        status = response.status_code if response is not None else None
        if status is None:
            match = _STATUS_RE.search(str(exc))
            status = int(match.group(1)) if match else 0
        message = _error_message(response) or str(exc)
        if status >= 500 or status in _RETRY_STATUS:
            retry_after = _retry_after_s(response)
            return _Temporary(f"HTTP {status}: {message}", delay_s=retry_after)
        if status in (401, 403):
            return SourceError(
                f"Prometheus at {self.settings.url} refused the query {self.query!r} (HTTP {status}): {message}",
                hint="check prometheus.bearer_token_file/bearer_token_env or basic_auth_user",
            )
        return SourceError(
            f"Prometheus rejected the query {self.query!r} (HTTP {status}): {message}",
            hint="fix the PromQL in the target's prometheus.query (try it in the Prometheus UI)",
        )


def _error_message(response: requests.Response | None) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict) and body.get("error"):
        kind = body.get("errorType")
        return f"{kind}: {body['error']}" if kind else str(body["error"])
    return response.text.strip()[:300]


def _retry_after_s(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _short(exc: Exception) -> str:
    """The root cause of a requests connection error ("[Errno 111] Connection refused"), not its URL dump."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    text = str(reason if reason is not None else exc)
    errno_at = text.find("[Errno")
    if errno_at >= 0:
        text = text[errno_at:].rstrip(")'\"")
    return text if len(text) <= 200 else text[:200] + "..."


def _iso(epoch_s: float) -> str:
    return pd.Timestamp(epoch_s, unit="s").isoformat()


def fetch_history(
    settings: PrometheusSettings,
    *,
    now: pd.Timestamp | datetime,
    history: str | pd.Timedelta | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.Series:
    """``settings.history`` (or ``history``) of ``settings.query`` before ``now``, as a regular series."""
    with PrometheusSource(settings, sleep=sleep) as source:
        return source.fetch_recent(duration=history or settings.history, now=now)


def fetch_history_split(
    settings: PrometheusSettings,
    *,
    now: pd.Timestamp | datetime,
    split_by: tuple[str, ...],
    max_series: int,
    history: str | pd.Timedelta | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[tuple[str, ...], pd.Series]:
    """``settings.history`` before ``now`` of every series of a ``by (split_by)`` query, keyed by label values."""
    with PrometheusSource(settings, sleep=sleep) as source:
        return source.fetch_recent_split(
            duration=history or settings.history, now=now, split_by=split_by, max_series=max_series
        )


def calendar_from_vector(
    result: list[dict[str, Any]], *, events: EventsSettings, source: str = "prometheus calendar"
) -> Calendar:
    """A calendar from a query result: one series per event, its latest value the start time (epoch seconds),
    the kind in ``events.kind_label`` and an optional size hint in ``events.expected_label``."""
    records = []
    for item in result:
        metric = item.get("metric") or {}
        samples = item.get("values") or ([item["value"]] if "value" in item else [])
        if not samples:
            continue
        raw = samples[-1][1]
        try:
            start_s = float(raw)
        except (TypeError, ValueError):
            start_s = math.nan
        if not math.isfinite(start_s) or start_s <= 0:
            raise CalendarError(
                f"{source}: series {_label_set(metric)}: field 'start': value {raw!r} is not a time in "
                "seconds since the epoch",
                hint="the query must yield *_timestamp_seconds gauges (the start time as the value)",
            )
        record = {"start": pd.Timestamp(start_s, unit="s", tz="UTC").isoformat()}
        if metric.get(events.kind_label):
            record["kind"] = metric[events.kind_label]
        if events.expected_label and metric.get(events.expected_label):
            record["expected"] = metric[events.expected_label]
        records.append(record)
    return calendar_from_records(records, source=source)


def fetch_calendar(
    settings: PrometheusSettings,
    events: EventsSettings,
    *,
    now: pd.Timestamp | datetime,
    client: PrometheusConnect | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Calendar:
    """The calendar exported as metrics: ``events.query`` evaluated at ``now`` (retried like every query).

    The query comes from operator configuration only, like ``prometheus.query``.
    """
    if not events.query:
        raise ConfigError(
            "events.query is empty", hint="set a PromQL expression yielding the scheduled starts"
        )
    at_s = int(_epoch_s(now))
    with PrometheusSource(replace(settings, query=events.query), client=client, sleep=sleep) as source:
        result = source._query_range(at_s, at_s, 60, query=events.query)
    return calendar_from_vector(result, events=events, source=f"prometheus query {events.query!r}")
