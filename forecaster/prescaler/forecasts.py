"""Forecasts for the prescaler: the provider protocol, the real provider, the usability check, the last good one.

:class:`StoreForecastProvider` loads the target's promoted model with :meth:`ModelStore.load_for` (the same
loader the forecast service uses) and reads its history from Prometheus. :func:`fetch_forecast` turns every
way a forecast can be unusable (an exception, None, empty, stale history, NaN) into a problem text: the
controller then fails safe. :class:`LastGoodForecast` remembers the last usable forecast so that, while
forecasts are unavailable, the controller keeps acting on the part of it that has not passed yet (never beyond).

This module must not touch the cluster or decide capacity.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from forecaster.errors import ConfigError, ForecasterError, ModelStoreError
from forecaster.prescaler.kube import rfc3339
from forecaster.prescaler.policy import PrescalePolicy
from forecaster.settings import PrometheusSettings

__all__ = [
    "ForecastResult",
    "ForecastProvider",
    "StoreForecastProvider",
    "LastGoodForecast",
    "fetch_forecast",
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


class ForecastProvider(Protocol):
    """Gets the forecast for one policy at ``now``; returns None or raises ForecasterError when it cannot."""

    def forecast(self, policy: PrescalePolicy, now: pd.Timestamp) -> ForecastResult | None: ...


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
    ) -> None:
        self.training_dir = Path(training_dir)
        self.store_root = store
        self.prometheus = prometheus or PrometheusSettings()
        self._fetch = fetch
        self._load_model = load_model
        self._load_calendar = load_calendar
        """``(events_settings, prometheus=, now=)`` -> Calendar | None: a seam (default: the target's source)."""
        self._stores: dict[str, Any] = {}

    def _fetcher(self) -> Callable[..., pd.Series]:
        if self._fetch is None:
            from forecaster.sources.prometheus import fetch_history

            self._fetch = fetch_history
        return self._fetch

    def forecast(self, policy: PrescalePolicy, now: pd.Timestamp) -> ForecastResult:
        events = None
        if policy.forecast.target:
            settings, model, version, cfg = self._from_store(policy)
            if cfg.events.enabled and getattr(model, "events", None) is not None:
                events = self._calendar(cfg, now)
        else:
            settings, model, version = self._inline(policy)
        lookback = pd.Timedelta(model.step) * int(model.lookback_steps)
        window = max(lookback, pd.Timedelta(seconds=policy.guard.window_s) if policy.guard else lookback)
        history = self._fetcher()(settings, now=now, history=window)
        if events is None:
            return ForecastResult(frame=model.predict(history), history=history, model_version=version)
        frame = model.predict(history, events=events)
        horizon = pd.Timedelta(model.step) * int(model.horizon_steps)
        last = pd.Timestamp(history.index[-1]).tz_localize("UTC")
        upcoming = tuple(events.upcoming(last, within=horizon))
        seen = dict(zip(model.events.kinds, model.events.events_seen, strict=True))
        return ForecastResult(
            frame=frame, history=history, model_version=version, upcoming=upcoming, events_seen=seen
        )

    def _calendar(self, cfg: Any, now: pd.Timestamp) -> Any:
        """The target's calendar. A calendar that cannot be read is a forecast problem: the controller then
        fails safe (keeps the last good forecast's remaining part, never scales down because of it)."""
        if self._load_calendar is None:
            from forecaster.sources.calendar import load_calendar

            self._load_calendar = load_calendar
        try:
            return self._load_calendar(cfg.events, prometheus=cfg.prometheus, now=now)
        except ForecasterError as exc:
            raise ForecasterError(
                f"target {cfg.name}: the calendar of scheduled events is unavailable ({exc.problem})",
                hint=exc.hint or "check the target's events: source",
            ) from exc

    def _from_store(self, policy: PrescalePolicy) -> tuple[PrometheusSettings, Any, str, Any]:
        from forecaster.settings import load_target_config
        from forecaster.store import ModelStore

        target = policy.forecast.target
        assert target is not None
        path = self.training_dir / f"{target}.yaml"
        if not path.exists():
            raise ConfigError(f"forecast target {target!r} has no {path}", hint="add the training config")
        cfg = load_target_config(path)
        settings = cfg.prometheus
        if policy.forecast.prometheus_url:
            settings = _at_url(settings, policy.forecast.prometheus_url)
        root = self.store_root or cfg.store
        store = self._stores.setdefault(root, ModelStore(root))
        promoted = store.load_for(target, step=cfg.step, quantiles=cfg.model.quantiles)
        if promoted is None:
            raise ModelStoreError(
                f"{store.backend.describe()}: no promoted model for target {target!r}",
                hint=f"train one: forecaster train --config training/{target}.yaml",
            )
        return settings, promoted.model, promoted.ref.version, cfg

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
    return result, forecast_problem(result, policy, now)


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
