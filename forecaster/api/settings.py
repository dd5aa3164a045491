"""Settings of the forecast service, from a YAML file and ``FORECASTER_SERVE_*`` environment variables.

Precedence: built-in defaults < the YAML file < environment variables (so a Kubernetes Deployment can
override one field without a new ConfigMap). ``get_settings`` is the cached process-wide reader (``create_app``'s
default); tests pass their own :class:`ServeSettings` to ``create_app``, and routes read the app's settings. This module reads files only when asked and
never holds a secret in YAML: the bearer token comes from a file (a mounted Secret) or an environment
variable named by the settings.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from forecaster.errors import ConfigError, DataError
from forecaster.series import parse_duration

__all__ = ["ServeSettings", "load_serve_settings", "get_settings", "ENV_PREFIX", "CONFIG_ENV"]

ENV_PREFIX = "FORECASTER_SERVE_"
CONFIG_ENV = "FORECASTER_SERVE_CONFIG"
"""Environment variable naming the YAML file ``get_settings`` reads (``forecaster serve --config`` sets it)."""


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``forecaster serve`` needs. Durations are strings such as ``"6h"`` (see ``parse_duration``)."""

    host: str = "127.0.0.1"
    """Listen address; the container sets 0.0.0.0 (a NetworkPolicy limits callers there)."""
    port: int = 8080
    targets_dir: str | None = None
    """Directory of target YAMLs (``training/``). None: serve the embedded synthetic demo target."""
    store: str | None = None
    """Model store for every target, overriding each config's ``store`` (a directory or ``s3://...``)."""
    default_history: str = "6h"
    """Actuals returned with a forecast when the request does not say."""
    max_history: str = "24h"
    """Most actuals a request may ask for; also how much history each refresh fetches (one query serves all)."""
    refresh_delay: str = "10s"
    """Wait after each step boundary before querying, so Prometheus has scraped the step's last sample."""
    retry_interval: str = "15s"
    """After a failed refresh, wait this long before querying the source again (not every tick)."""
    stale_after_steps: int = 3
    """A forecast older than this many steps is marked stale even if no query failed."""
    tick_s: float = 1.0
    """How often the refresher checks whether a target is due. Checking is free; querying happens once per step."""
    refresh_workers: int = 2
    """Threads refreshing targets at once. Two: one can wait on Prometheus while the other computes (the
    forecast code holds the GIL, so more threads do not refresh faster), and requests stay fast during a
    refresh pass: with six busy threads (asyncio's default pool on 2 cores) the event loop waited its turn
    for the GIL behind each of them, and a cached forecast's p99 at 1,000 targets rose to 40-45 ms."""
    gc_freeze: bool = True
    """Once every model is loaded, move the objects alive then (the models, the imported modules) out of
    the garbage collector's reach (``gc.freeze``): at 1,000 targets a full collection scanned them all,
    0.1-1 s during which no request was answered; the models are freed by reference counting when
    replaced (a loaded model holds no reference cycle), so nothing leaks. ``forecaster_gc_pause_seconds``
    shows the pauses."""
    auth_token_file: str | None = None
    """File holding the bearer token callers must send (a mounted Secret). Unset with no env: auth off."""
    auth_token_env: str | None = "FORECASTER_API_TOKEN"
    """Environment variable holding the bearer token; auth is on when it is set and non-empty."""
    auth_metrics: bool = True
    """Require the token on ``/metrics`` too whenever one is set: it carries the forecasts and actuals the token
    protects. Prometheus sends it with ``authorization: {credentials_file: ...}`` in its scrape config (the
    ServiceMonitor in ``k8s/overlays/prometheus-operator`` reads it from the Secret the service reads it from).
    ``false`` serves ``/metrics`` openly, e.g. to a scraper that cannot send a token."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (e.g. a Grafana URL). Empty: no CORS headers."""
    max_body_bytes: int = 2 * 1024 * 1024
    """Largest request body accepted; bigger ones get 413 before they are read."""
    max_points: int = 50_000
    """Most history points ``POST /v1/forecast`` accepts."""
    demo_train: bool = True
    """Demo mode: train a small demo model at startup when the store has none (the baseline serves meanwhile)."""
    demo_epochs: int = 4
    demo_store: str | None = None
    """Where the demo model is kept. None: a temporary directory (trained again at each start)."""
    torch_threads: int = 1
    """Threads for model inference and the demo training; 1 keeps the event loop responsive on small nodes."""
    access_log: bool = False
    """uvicorn's per-request log line; off by default because dashboards poll a lot."""
    log_level: str = "info"
    cached_fast_path: bool = True
    """Answer cache hits of ``GET /v1/targets/{target}/forecast`` before FastAPI's routing (the same bytes
    and headers, a third of the CPU: forecaster/api/fastpath.py); off: every request goes through FastAPI."""
    refresher: str = "local"
    """``local``: every replica refreshes its own forecasts (one replica, or tests). ``elected``: the replicas
    elect one refresher on a Lease and the others serve the snapshot it writes to ``snapshot_path``, so the
    load on Prometheus does not grow with the number of replicas (see forecaster/api/shared.py)."""
    snapshot_path: str | None = None
    """Where the elected refresher writes its forecast snapshot: a file on a volume every replica mounts."""
    lease_name: str = "forecaster-api-refresher"
    lease_namespace: str | None = None
    """Namespace of the Lease. None: the pod's namespace, else ``forecaster``."""
    lease_duration_s: float = 15.0
    identity: str | None = None
    """This replica's name in the Lease. None: the hostname (the pod's name)."""
    kubeconfig: str | None = None
    """For ``elected`` outside a cluster; None in a cluster (the pod's ServiceAccount)."""

    # -- derived values (parsed once: the request path reads them) -------------------------------------------
    @cached_property
    def default_history_td(self) -> pd.Timedelta:
        return parse_duration(self.default_history)

    @cached_property
    def max_history_td(self) -> pd.Timedelta:
        return parse_duration(self.max_history)

    @cached_property
    def refresh_delay_td(self) -> pd.Timedelta:
        return parse_duration(self.refresh_delay)

    @cached_property
    def retry_interval_td(self) -> pd.Timedelta:
        return parse_duration(self.retry_interval)

    def auth_token(self) -> str | None:
        """The configured bearer token, or None when auth is off."""
        if self.auth_token_file:
            try:
                token = Path(self.auth_token_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read auth_token_file {self.auth_token_file}: {exc.strerror}",
                    hint="mount the Secret there, or unset auth_token_file",
                ) from exc
            if not token:
                raise ConfigError(
                    f"auth_token_file {self.auth_token_file} is empty", hint="put the token in it"
                )
            return token
        if self.auth_token_env:
            return os.environ.get(self.auth_token_env) or None
        return None


def _validate(s: ServeSettings, source: str) -> ServeSettings:
    try:
        for name in ("default_history", "max_history", "refresh_delay", "retry_interval"):
            parse_duration(getattr(s, name))
    except DataError as exc:
        raise ConfigError(f"{source}: {exc.problem}", hint=exc.hint) from exc
    if s.default_history_td > s.max_history_td:
        raise ConfigError(
            f"{source}: default_history {s.default_history} exceeds max_history {s.max_history}"
        )
    if not 0 < s.port < 65536:
        raise ConfigError(f"{source}: port {s.port} is not a TCP port", hint="use 1-65535")
    if s.max_body_bytes < 1024 or s.max_points < 10:
        raise ConfigError(f"{source}: max_body_bytes must be >= 1024 and max_points >= 10")
    if s.refresh_workers < 1:
        raise ConfigError(f"{source}: refresh_workers must be >= 1, got {s.refresh_workers}")
    if s.tick_s <= 0 or s.stale_after_steps < 1 or s.demo_epochs < 1 or s.torch_threads < 1:
        raise ConfigError(
            f"{source}: tick_s, stale_after_steps, demo_epochs and torch_threads must be positive"
        )
    if s.refresher not in ("local", "elected"):
        raise ConfigError(f"{source}: refresher is {s.refresher!r}", hint="local or elected")
    if s.refresher == "elected" and not s.snapshot_path:
        raise ConfigError(
            f"{source}: refresher elected needs snapshot_path",
            hint="a file on a volume every replica mounts, e.g. /var/lib/forecaster/models/.snapshots/api.json",
        )
    if s.lease_duration_s <= 0:
        raise ConfigError(f"{source}: lease_duration_s must be positive")
    return s


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(ServeSettings)
    return {f.name: hints[f.name] for f in fields(ServeSettings)}


def _coerce(name: str, kind: Any, value: Any, source: str) -> Any:
    """Turn a YAML or environment value into the field's type, naming the field when it does not fit."""
    args = typing.get_args(kind)
    optional = isinstance(kind, types.UnionType) and type(None) in args
    if optional:
        if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none", "null"}):
            return None
        kind = next(a for a in args if a is not type(None))
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind is int:
            if isinstance(value, bool):
                raise ValueError("not an integer")
            return int(value)
        if kind is float:
            return float(value)
        if typing.get_origin(kind) is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if isinstance(value, dict | list):
            raise ValueError("expected a single value")
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {name}: {exc}", hint=f"see ServeSettings.{name}") from exc


def load_serve_settings(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> ServeSettings:
    """Defaults, then the YAML file at ``path`` (if any), then ``FORECASTER_SERVE_<FIELD>`` variables."""
    env = os.environ if environ is None else environ
    types_by_name = _field_types()
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read serve config {p}: {exc.strerror}", hint="check the path") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
        unknown = sorted(set(data) - set(types_by_name))
        if unknown:
            raise ConfigError(
                f"{p}: unknown key(s) {', '.join(unknown)}", hint=f"known keys: {', '.join(types_by_name)}"
            )
        for name, value in data.items():
            values[name] = _coerce(name, types_by_name[name], value, str(p))
    for name, kind in types_by_name.items():
        key = ENV_PREFIX + name.upper()
        if key in env:
            values[name] = _coerce(name, kind, env[key], f"environment {key}")
    source = str(path) if path is not None else "serve settings"
    return _validate(ServeSettings(**values), source)


@lru_cache(maxsize=1)
def get_settings() -> ServeSettings:
    """The process's settings (cached): the file named by ``FORECASTER_SERVE_CONFIG``, then the environment."""
    return load_serve_settings(os.environ.get(CONFIG_ENV) or None)
