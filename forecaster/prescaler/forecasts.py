"""Forecasts for the prescaler: the provider protocol, the real provider, the usability check, the last good one.

:class:`StoreForecastProvider` loads the target's promoted model with :meth:`ModelStore.load_for` (the same
loader the forecast service uses) and reads its history from Prometheus. :func:`fetch_forecast` turns every
way a forecast can be unusable (an exception, None, empty, stale history, NaN) into a problem text: the
controller then fails safe. :class:`LastGoodForecast` remembers the last usable forecast so that, while
forecasts are unavailable, the controller keeps acting on the part of it that has not passed yet (never beyond).
A target's calendar that cannot be read is no forecast outage: :class:`~forecaster.prescaler.calendars.CalendarWatch`
says which copy the forecast reads (this tick's, the last good one, or none) and the result carries that reading.

This module must not touch the cluster or decide capacity.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from forecaster.errors import ConfigError, ForecasterError, ModelStoreError, SourceError
from forecaster.event_profile import with_event_steps
from forecaster.prescaler.batched import predict_batch
from forecaster.prescaler.calendars import CalendarReading, CalendarWatch, judged_by_minute_live
from forecaster.prescaler.kube import rfc3339
from forecaster.prescaler.policy import PrescalePolicy
from forecaster.settings import PrometheusSettings
from forecaster.sources.calendar import calendar_updated_at as file_updated_at

__all__ = [
    "ForecastResult",
    "ForecastProvider",
    "StoreForecastProvider",
    "LastGoodForecast",
    "fetch_forecast",
    "call_provider",
    "check_forecast",
    "ClusterTargetConfigs",
    "forecast_problem",
    "load_prometheus_settings",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastResult:
    """A forecast (future timestamps x ``p50``, ``p90``...) and the recent history it was made from."""

    frame: pd.DataFrame
    history: pd.Series | None = None
    """Recent actual load: the staleness check, the accuracy guard and the observed-load bound use it."""
    model_version: str | None = None
    upcoming: tuple[Any, ...] = ()
    """Scheduled events (:class:`forecaster.events.Event`) starting within the forecast's horizon, for a model
    that reads its target's calendar."""
    events_seen: dict[str, int] = dataclasses.field(default_factory=dict)
    """Past events of each kind the model learned from (its manifest's ``events`` section)."""
    calendar: Any = None
    """What the forecast knew about its target's calendar (a
    :class:`~forecaster.prescaler.calendars.CalendarReading`); None: the model reads no calendar."""


class ForecastProvider(Protocol):
    """Gets the forecast for one policy at ``now``; returns None or raises ForecasterError when it cannot."""

    def forecast(self, policy: PrescalePolicy, now: pd.Timestamp) -> ForecastResult | None: ...


class ClusterTargetConfigs:
    """Target configs from ForecastTarget resources (a :class:`~forecaster.prescaler.informer.WatchCache` of
    them): what a policy's ``forecast.target`` names in a cluster, instead of ``training/<target>.yaml``."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def config_for(self, target: str) -> Any:
        from forecaster.target_resource import target_config_from_object

        if not self.cache.synced.is_set():
            self.cache.relist()
        found = [o for o in self.cache.items() if (o.get("metadata") or {}).get("name") == target]
        if not found:
            where = f" in namespace {self.cache.namespace}" if self.cache.namespace else ""
            raise ConfigError(
                f"no ForecastTarget {target!r}{where}",
                hint="create it (kubectl apply -f training/) or fix the policy's spec.forecast.target",
            )
        return target_config_from_object(found[0])

    def template_for(self, member: str) -> tuple[Any, Any]:
        """The template ForecastTarget a generated member (``<template>--<value>``) comes from: its config and
        its :class:`~forecaster.templates.Template`."""
        from forecaster.target_resource import template_from_object
        from forecaster.templates import SEPARATOR

        name = member.split(SEPARATOR, 1)[0]
        cfg = self.config_for(name)
        found = [o for o in self.cache.items() if (o.get("metadata") or {}).get("name") == name]
        template = template_from_object(found[0]) if found else None
        if template is None:
            raise ConfigError(
                f"ForecastTarget {name!r} is not a template (no spec.splitBy), so {member!r} is no target of it",
                hint="name the ForecastTarget itself, or a member <template>--<value> of a template",
            )
        return cfg, template


_UNREAD = object()


class StoreForecastProvider:
    """The real provider: the target's model from the model store, its history from Prometheus.

    ``fetch(settings, now=, history=)`` and ``load_model(path)`` are seams (defaults: the Prometheus source and
    ``Forecaster.load``). Target configs are read from ``training_dir``; ``store`` overrides their store.
    ``prometheus`` holds the connection settings (auth, TLS, timeouts, retries) for policies that give their
    own query and model path; the policy's ``prometheusUrl``, query and step replace only those three fields.
    """

    def __init__(
        self,
        *,
        training_dir: str | Path = "training",
        store: str | None = None,
        prometheus: PrometheusSettings | None = None,
        fetch: Callable[..., pd.Series] | None = None,
        load_model: Callable[[str], Any] | None = None,
        load_calendar: Callable[..., Any] | None = None,
        calendar_updated_at: Callable[[Any], pd.Timestamp | None] | None = None,
        targets: ClusterTargetConfigs | None = None,
        fetch_split: Callable[..., dict[tuple[str, ...], pd.Series]] | None = None,
        stores: Callable[[str], Any] | None = None,
        predict_workers: int = 1,
        predict_chunk: int = 128,
    ) -> None:
        self.training_dir = Path(training_dir)
        self.targets = targets
        """ForecastTargets in the cluster; None: ``training_dir``'s YAML files."""
        self.queries = 0
        """History reads made so far (one Prometheus range query each for windows under 11,000 points)."""
        self._count_lock = threading.Lock()
        self.store_root = store
        self.prometheus = prometheus or PrometheusSettings()
        self._fetch = fetch
        self._load_model = load_model
        self._load_calendar = load_calendar
        """``(events_settings, prometheus=, now=)`` -> Calendar | None: a seam (default: the target's source)."""
        self._calendar_updated_at = calendar_updated_at or file_updated_at
        """``(events_settings)`` -> when the calendar file was last modified: a seam (default: its mtime)."""
        self.calendars = CalendarWatch()
        """Each target calendar's last good copy, kept between ticks (used while the source is down)."""
        self._stores: dict[str, Any] = {}
        if predict_workers < 1:
            raise ConfigError(f"predict_workers must be at least 1, not {predict_workers}", hint="e.g. 2")
        self.predict_workers = predict_workers
        """Chunks of one template's members predicted at once (threads: torch releases the GIL)."""
        if predict_chunk < 1:
            raise ConfigError(f"predict_chunk must be at least 1, not {predict_chunk}", hint="e.g. 128")
        self.predict_chunk = predict_chunk
        """Members whose networks run as one batched forward pass."""
        self._predict_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._fetch_split = fetch_split
        self._new_store = stores
        self._recommendations: dict[tuple[str, str, str], Any] = {}
        """Seams: the template read (default :func:`~forecaster.sources.prometheus.fetch_history_split`) and
        the model store for a root (default :class:`~forecaster.store.ModelStore`)."""

    def _store(self, root: str) -> Any:
        if root not in self._stores:
            if self._new_store is None:
                from forecaster.store import ModelStore

                self._new_store = ModelStore
            self._stores[root] = self._new_store(root)
        return self._stores[root]

    def _member_of(self, policy: PrescalePolicy) -> str | None:
        """The template a policy's target is a generated member of (cluster targets only), else None."""
        from forecaster.templates import SEPARATOR

        target = policy.forecast.target
        if self.targets is None or not target or SEPARATOR not in target:
            return None
        return target.split(SEPARATOR, 1)[0]

    def _fetcher(self) -> Callable[..., pd.Series]:
        if self._fetch is None:
            from forecaster.sources.prometheus import fetch_history

            self._fetch = fetch_history
        return self._fetch

    def group_key(self, policy: PrescalePolicy) -> Hashable:
        """Policies with equal keys get one forecast per tick (one Prometheus read, one forward pass): the same
        target (or query + model) read over the same window."""
        window = policy.guard.window_s if policy.guard else None
        template = self._member_of(policy)
        if template is not None:  # every member of a template: one read of the template's query
            return ("template", template, policy.forecast.prometheus_url, window)
        return (policy.forecast, window)

    def forecast_many(
        self,
        policies: list[PrescalePolicy],
        now: pd.Timestamp,
        *,
        on_each: Callable[[str, tuple[ForecastResult | None, str | None]], None] | None = None,
    ) -> dict[str, tuple[ForecastResult | None, str | None]]:
        """Forecasts for a group of policies (one :meth:`group_key`), by policy key; nothing raises.

        Policies on the same target share one forecast. Members of one template share one read of the
        template's ``by (...)`` query (a count and one range query, however many members), then each member's
        own model predicts its own series; ``on_each(key, answer)`` hears of each member's answer as soon as
        it is made (the controller reconciles it meanwhile).
        """
        if not policies:
            return {}
        if self._member_of(policies[0]) is None:
            shared = call_provider(self, policies[0], now)
            return {p.key: shared for p in policies}
        try:
            return self._template_forecasts(policies, now, on_each=on_each)
        except ForecasterError as exc:
            return {p.key: (None, f"forecast failed: {exc}") for p in policies}
        except Exception as exc:  # a source or model bug fails safe like an outage
            log.exception("template forecast for %s failed", policies[0].forecast.target)
            return {p.key: (None, f"forecast failed: {type(exc).__name__}: {exc}") for p in policies}

    def _template_forecasts(
        self,
        policies: list[PrescalePolicy],
        now: pd.Timestamp,
        *,
        on_each: Callable[[str, tuple[ForecastResult | None, str | None]], None] | None = None,
    ) -> dict[str, tuple[ForecastResult | None, str | None]]:
        from forecaster.templates import member_name

        assert self.targets is not None
        first = policies[0]
        assert first.forecast.target is not None
        cfg, template = self.targets.template_for(first.forecast.target)
        store = self._store(self.store_root or cfg.store)
        out: dict[str, tuple[ForecastResult | None, str | None]] = {}
        models: dict[str, Any] = {}
        window = pd.Timedelta(0)
        for policy in policies:
            target = policy.forecast.target
            assert target is not None
            try:
                promoted = store.load_for(target, step=cfg.step, quantiles=cfg.model.quantiles)
            except ForecasterError as exc:
                out[policy.key] = (None, f"forecast failed: {exc}")
                continue
            if promoted is None:
                out[policy.key] = (None, f"forecast failed: no promoted model for target {target!r}")
                continue
            models[policy.key] = promoted
            lookback = pd.Timedelta(promoted.model.step) * int(promoted.model.lookback_steps)
            guard = pd.Timedelta(seconds=policy.guard.window_s) if policy.guard else lookback
            window = max(window, lookback, guard)
        if not models:
            return out
        settings = cfg.prometheus
        if first.forecast.prometheus_url:
            settings = _at_url(settings, first.forecast.prometheus_url)
        if self._fetch_split is None:
            # Each tick reads only the template's new points; the rest of the window is kept from the last.
            from forecaster.prescaler.template_window import TemplateWindows

            self._fetch_split = TemplateWindows()
        with self._count_lock:
            self.queries += 2  # the capped series count, then one range query for every member
        series = self._fetch_split(
            settings, now=now, split_by=template.split_by, max_series=template.max_targets, history=window
        )
        by_member = {member_name(cfg.name, values): s for values, s in series.items()}

        def answer(policy: PrescalePolicy, frame: Any) -> tuple[ForecastResult | None, str | None]:
            if isinstance(frame, ForecasterError):
                return None, f"forecast failed: {frame}"
            if isinstance(frame, Exception):  # a member's model bug fails it safe, not its siblings
                log.error("forecast for %s failed", policy.key, exc_info=frame)
                return None, f"forecast failed: {type(frame).__name__}: {frame}"
            history = by_member[str(policy.forecast.target)]
            return ForecastResult(frame, history, models[policy.key].ref.version), None

        def done(key: str, answer: tuple[ForecastResult | None, str | None]) -> None:
            out[key] = answer
            if on_each is not None:
                on_each(key, answer)

        todo = []
        for policy in policies:
            if policy.key not in models:
                continue
            if str(policy.forecast.target) not in by_member:
                missing = f"template {cfg.name!r} has no series for {policy.forecast.target!r} now"
                done(policy.key, (None, f"forecast failed: {missing}"))
                continue
            todo.append(policy)

        # One model object per member: policies naming the same member share its forecast (and one model is
        # never in two chunks at once: predicting mutates its cache of components).
        sharing: dict[int, list[PrescalePolicy]] = {}
        for policy in todo:
            sharing.setdefault(id(models[policy.key].model), []).append(policy)
        groups = list(sharing.values())

        def predict_chunk(chunk: list[list[PrescalePolicy]]) -> None:
            def each(i: int, frame: Any) -> None:
                for policy in chunk[i]:
                    done(policy.key, answer(policy, frame))

            predict_batch(
                [models[g[0].key].model for g in chunk],
                [by_member[str(g[0].forecast.target)] for g in chunk],
                on_each=each,
            )

        # Members' networks run as one batch per chunk (forecaster.prescaler.batched); chunks let each
        # policy be reconciled as soon as its chunk is done, and run on up to predict_workers threads.
        size = self.predict_chunk
        chunks = [groups[i : i + size] for i in range(0, len(groups), size)]
        if self.predict_workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                predict_chunk(chunk)
            return out
        if self._predict_pool is None:
            self._predict_pool = concurrent.futures.ThreadPoolExecutor(
                self.predict_workers, thread_name_prefix="predict"
            )
        for future in [self._predict_pool.submit(predict_chunk, c) for c in chunks]:
            future.result()
        return out

    def forecast(self, policy: PrescalePolicy, now: pd.Timestamp) -> ForecastResult:
        if self._member_of(policy) is not None:
            result, problem = self.forecast_many([policy], now)[policy.key]
            if result is None:
                raise SourceError(problem or "no forecast", hint="see the template's ForecastTarget status")
            return result
        reading = None
        if policy.forecast.target:
            settings, model, version, cfg = self._from_store(policy)
            if cfg.events.enabled and getattr(model, "events", None) is not None:
                horizon = pd.Timedelta(model.step) * int(model.horizon_steps)
                reading = self._calendar(cfg, now, horizon=horizon)
        else:
            settings, model, version = self._inline(policy)
        lookback = pd.Timedelta(model.step) * int(model.lookback_steps)
        window = max(lookback, pd.Timedelta(seconds=policy.guard.window_s) if policy.guard else lookback)
        with self._count_lock:
            self.queries += 1
        history = self._fetcher()(settings, now=now, history=window)
        if reading is None:
            return ForecastResult(frame=model.predict(history), history=history, model_version=version)
        events = (
            reading.calendar
        )  # None while the calendar is unavailable: forecast as if nothing were scheduled
        frame = model.predict(history, events=events)
        read: list[pd.Series] = []

        def read_minutes(span: pd.Timedelta) -> pd.Series:
            read.append(self._read_minutes(settings, now=now, span=span))
            return read[-1]

        frame = judged_by_minute_live(
            frame, model=model, calendar=events, history=history, now=now, read_minutes=read_minutes
        )
        # The steps the entries still live reach (spec.quantileOutsideEvents), judged from the minutes read
        # when there were any, else from the model's own history: an entry judged cancelled marks none. No
        # calendar: no column, the policy's quantile everywhere (the safe side).
        minutes = read[-1].dropna() if read and read[-1] is not None else None
        frame = with_event_steps(
            frame,
            events,
            profile=getattr(model, "event_profile", None),
            history=minutes if minutes is not None and len(minutes) else history,
        )
        horizon = pd.Timedelta(model.step) * int(model.horizon_steps)
        last = pd.Timestamp(history.index[-1]).tz_localize("UTC")
        upcoming = tuple(events.upcoming(last, within=horizon)) if events is not None else ()
        seen = dict(zip(model.events.kinds, model.events.events_seen, strict=True))
        return ForecastResult(
            frame=frame,
            history=history,
            model_version=version,
            upcoming=upcoming,
            events_seen=seen,
            calendar=reading,
        )

    def _read_minutes(
        self, settings: PrometheusSettings, *, now: pd.Timestamp, span: pd.Timedelta
    ) -> pd.Series:
        """The target's load at a 1-minute step over ``span`` before ``now`` (the calendar's entries around
        now are judged from it every tick, see :func:`~forecaster.prescaler.calendars.judged_by_minute_live`)."""
        with self._count_lock:
            self.queries += 1
        return self._fetcher()(dataclasses.replace(settings, step="1m"), now=now, history=span)

    def _calendar(self, cfg: Any, now: pd.Timestamp, *, horizon: pd.Timedelta) -> CalendarReading:
        """The target's calendar as :class:`CalendarWatch` judges it: this tick's copy, the last good one, or
        none (then the forecast is made without it and the controller fails safe; never raises)."""
        if self._load_calendar is None:
            from forecaster.sources.calendar import load_calendar

            self._load_calendar = load_calendar
        load = self._load_calendar
        return self.calendars.read(
            (cfg.name, cfg.events),
            cfg.events,
            load=lambda: load(cfg.events, prometheus=cfg.prometheus, now=now),
            now=now,
            horizon=horizon,
            updated_at=self._calendar_updated_at(cfg.events),
        )

    def _from_store(self, policy: PrescalePolicy) -> tuple[PrometheusSettings, Any, str, Any]:
        from forecaster.settings import load_target_config

        target = policy.forecast.target
        assert target is not None
        if self.targets is not None:
            cfg = self.targets.config_for(target)
        else:
            path = self.training_dir / f"{target}.yaml"
            if not path.exists():
                raise ConfigError(f"forecast target {target!r} has no {path}", hint="add the training config")
            cfg = load_target_config(path)
        settings = cfg.prometheus
        if policy.forecast.prometheus_url:
            settings = _at_url(settings, policy.forecast.prometheus_url)
        root = self.store_root or cfg.store
        store = self._store(root)
        promoted = store.load_for(target, step=cfg.step, quantiles=cfg.model.quantiles)
        if promoted is None:
            raise ModelStoreError(
                f"{store.backend.describe()}: no promoted model for target {target!r}",
                hint=f"train one: forecaster train --config training/{target}.yaml",
            )
        return settings, promoted.model, promoted.ref.version, cfg

    def recommendation(self, policy: PrescalePolicy, version: str) -> Any:
        """The tuning recommendation stored with ``version`` of the policy's target
        (:mod:`forecaster.recommendation`), None when it has none. A version's files never change, so each
        answer (or unusable file) is kept: one read per version, not per tick."""
        from forecaster.recommendation import RecommendationError, read

        target = policy.forecast.target
        if target is None:
            return None
        if self.targets is not None:
            cfg = self.targets.config_for(self._member_of(policy) or target)
            root = self.store_root or cfg.store
        elif self.store_root is not None:
            root = self.store_root
        else:
            from forecaster.settings import load_target_config

            root = load_target_config(self.training_dir / f"{target}.yaml").store
        key = (root, target, version)
        with self._count_lock:
            known = self._recommendations.get(key, _UNREAD)
        if known is _UNREAD:
            try:
                known = read(self._store(root), target, version)
            except RecommendationError as exc:
                known = exc
            with self._count_lock:
                if (
                    len(self._recommendations) > 4096
                ):  # a fleet's worth; older versions are rarely asked again
                    self._recommendations.clear()
                self._recommendations[key] = known
        if isinstance(known, RecommendationError):
            raise known
        return known

    def _inline(self, policy: PrescalePolicy) -> tuple[PrometheusSettings, Any, None]:
        spec = policy.forecast
        assert spec.query and spec.model_path
        settings = dataclasses.replace(self.prometheus, query=spec.query, step=spec.step)
        if spec.prometheus_url:
            settings = _at_url(settings, spec.prometheus_url)
        if self._load_model is None:
            from forecaster.model import Forecaster

            self._load_model = Forecaster.load
        return settings, self._load_model(spec.model_path), None


def _at_url(settings: PrometheusSettings, url: str) -> PrometheusSettings:
    """``settings`` pointed at a policy's ``prometheusUrl``. Credentials go only to the URL they were
    configured for: anyone who may create a policy must not be able to send the target's or the
    operator's token to a server of their choosing, so another URL gets no token and no basic auth."""
    if url.rstrip("/") == settings.url.rstrip("/"):
        return settings
    return dataclasses.replace(
        settings,
        url=url,
        bearer_token_file=None,
        bearer_token_env=None,
        basic_auth_user=None,
        basic_auth_password_env=None,
    )


def load_prometheus_settings(path: str | Path) -> PrometheusSettings:
    """Connection settings for inline-query policies from YAML: the keys of a target's ``prometheus:`` section
    (``url``, ``timeout_s``, ``bearer_token_file``/``_env``, ``basic_auth_*``, ``ca_file``, ``retries``...), at
    the top level or under ``prometheus:`` (so a target's own YAML works). ``query`` and ``step`` come from
    each policy."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(
            f"cannot read Prometheus settings {p}: {exc.strerror}", hint="check the path"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("prometheus"), dict):
        data = data["prometheus"]
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: expected a mapping of Prometheus settings", hint="e.g. url: https://prom:9090"
        )
    known = {f.name for f in dataclasses.fields(PrometheusSettings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{p}: unknown key(s) {', '.join(unknown)}", hint=f"known: {', '.join(sorted(known))}"
        )
    return PrometheusSettings(**data)


def forecast_problem(result: ForecastResult, policy: PrescalePolicy, now: pd.Timestamp) -> str | None:
    """Why ``result`` cannot be used at ``now`` (empty, no or stale history, NaN), or None (pure)."""
    frame = result.frame
    if frame is None or len(frame) == 0:
        return "the forecast is empty"
    if result.history is not None:
        observed = result.history.dropna()
        if len(observed) == 0:
            return "no recent history: the forecast is not based on data"
        age = now - pd.Timestamp(observed.index[-1])
        if age > pd.Timedelta(seconds=policy.forecast.max_staleness_s):
            return (
                f"history is stale: last point {rfc3339(observed.index[-1])} is {age.total_seconds():.0f}s old "
                f"(limit {policy.forecast.max_staleness_s:.0f}s)"
            )
    if frame.isna().any().any():
        return "the forecast contains NaN"
    return None


def fetch_forecast(
    provider: ForecastProvider, policy: PrescalePolicy, now: pd.Timestamp
) -> tuple[ForecastResult | None, str | None]:
    """The forecast and None, or what there is and why it cannot be used: nothing here raises."""
    return check_forecast(call_provider(provider, policy, now), policy, now)


def check_forecast(
    called: tuple[ForecastResult | None, str | None], policy: PrescalePolicy, now: pd.Timestamp
) -> tuple[ForecastResult | None, str | None]:
    """:func:`call_provider`'s answer judged for ``policy`` (its own staleness limit) at ``now``."""
    result, problem = called
    if result is None:
        return None, problem
    return result, forecast_problem(result, policy, now)


def call_provider(
    provider: ForecastProvider, policy: PrescalePolicy, now: pd.Timestamp
) -> tuple[ForecastResult | None, str | None]:
    """The provider's forecast, or None and why not (exceptions become the reason; nothing raises)."""
    try:
        result = provider.forecast(policy, now)
    except ForecasterError as exc:
        return None, f"forecast failed: {exc}"
    except Exception as exc:  # a model or source bug must fail safe like an outage
        log.exception("forecast for %s failed", policy.key)
        return None, f"forecast failed: {type(exc).__name__}: {exc}"
    if result is None:
        return None, "no forecast available"
    if isinstance(result, pd.DataFrame):
        result = ForecastResult(frame=result)
    return result, None


@dataclass(frozen=True)
class LastGoodForecast:
    """The last forecast the controller acted on, kept to bridge an outage over the part not yet passed."""

    made_at: pd.Timestamp
    frame: pd.DataFrame
    model_version: str | None = None

    def usable_until(self, policy: PrescalePolicy) -> pd.Timestamp:
        """The last ``now`` whose whole planning window [now, now + lead + interval] the forecast covers."""
        reach = pd.Timedelta(seconds=policy.scaling.lead_time_s + policy.scaling.interval_s)
        return pd.Timestamp(pd.DatetimeIndex(self.frame.index).max()) - reach

    def covers(self, policy: PrescalePolicy, now: pd.Timestamp) -> bool:
        return now <= self.usable_until(policy)
