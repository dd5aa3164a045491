"""Typed settings, grouped by concern, read from YAML (no I/O beyond reading the file asked for).

A *target* is one forecast: where its history comes from (a PromQL expression that yields one series), how
the model is shaped and trained, and where its models are stored. One YAML per target lives in
``training/``; the trainer, the forecast service and the prescaler all read the same files. A file holds
either this module's plain form or a ``ForecastTarget`` manifest (:mod:`forecaster.target_resource`), the form
``kubectl apply -k`` also takes, so a target is declared once for files and cluster alike.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from forecaster.errors import ConfigError, DataError
from forecaster.series import parse_duration

__all__ = [
    "PrometheusSettings",
    "ModelSettings",
    "TrainSettings",
    "EventsSettings",
    "TuningSettings",
    "TargetConfig",
    "load_target_config",
    "load_target_configs",
    "TARGET_NAME_RE",
]

TARGET_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class PrometheusSettings:
    """How to reach Prometheus (or Thanos, Mimir, VictoriaMetrics: anything with its HTTP API)."""

    url: str = "http://127.0.0.1:9090"
    query: str = ""
    """PromQL yielding exactly one series, e.g. ``sum(rate(http_requests_total{service="live"}[1m]))``."""
    step: str = "1m"
    """Resolution of the history and of the forecast."""
    history: str = "28d"
    """How much history to train on."""
    timeout_s: float = 30.0
    """Per-request timeout; a query that takes longer is retried, then fails."""
    bearer_token_file: str | None = None
    """File holding a bearer token (a mounted Secret); re-read on each client build."""
    bearer_token_env: str | None = None
    """Environment variable holding a bearer token."""
    basic_auth_user: str | None = None
    basic_auth_password_env: str | None = None
    """Environment variable holding the basic-auth password (never the password itself in YAML)."""
    ca_file: str | None = None
    """CA bundle to verify Prometheus' TLS certificate."""
    insecure_skip_verify: bool = False
    retries: int = 4
    """Attempts after the first for 5xx answers and timeouts."""
    backoff_s: float = 0.5
    """First retry delay; doubles each attempt."""
    max_points_per_query: int = 10_000
    """Prometheus refuses more than 11,000 points per series per query; long ranges are chunked below that."""

    def bearer_token(self) -> str | None:
        if self.bearer_token_file:
            try:
                return Path(self.bearer_token_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read bearer_token_file {self.bearer_token_file}: {exc}") from exc
        if self.bearer_token_env:
            return os.environ.get(self.bearer_token_env) or None
        return None

    def basic_auth(self) -> tuple[str, str] | None:
        if not self.basic_auth_user:
            return None
        password = os.environ.get(self.basic_auth_password_env or "", "")
        return (self.basic_auth_user, password)


@dataclass(frozen=True)
class ModelSettings:
    """Shape of the LSTM forecaster."""

    lookback: str = "2h"
    """How much recent history the LSTM reads at each forecast."""
    horizon: str = "30m"
    """How far ahead to forecast; every step up to it is predicted."""
    quantiles: tuple[float, ...] = (0.5, 0.9)
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    value_transform: str = "auto"
    """The unit the network reads: "anscombe" (2 sqrt(y + 3/8): count-like series, whose noise grows like
    the square root of the level, get the same relative noise at every level), "none", or "auto" (the
    default since session 13: anscombe when the training data are non-negative integers, else none; the
    choice is stated in the model's manifest, ``architecture.value_transform``). A network fine-tuned from
    the pretrained one reads the same unit (its inputs are scale-free). Measured with the default
    ``train.init: pretrained`` (``bench/accuracy_training.py --init models/_pretrained --value-transform
    anscombe``, README issue 10): on the 7 Twitter series at seeds 0 / 1 / 2 the WAPE ratio to the best
    baseline fell on 19 of 21 runs (AAPL 0.874 -> 0.841, UPS 0.780 -> 0.732 at seed 0; CRM 0.863 -> 0.868 the
    one worse at seed 0), the median over the 16 development series 0.858 -> 0.844 at seed 0, and the
    peak-miss median stayed 0.090-0.095. Trained from scratch (session 9) it lowered the Twitter mean ratio
    0.842 -> 0.830 but raised the peak miss (CVS 0.08 -> 0.14), which is why it was off until fine-tuning
    became the default; fine-tuned, CVS's peak miss went 0.14 -> 0.10."""
    weekly_lags: bool = False
    """Give the network the value a week before each input and forecast step when the training history holds
    two weeks (plus the horizon). Off by default: on the development series it did not help (the Twitter
    series and NASA 0.5-1.5% worse on average over three seeds, mostly because every window must then reach a
    week back and the first week of history trains nothing; README issue 10)."""

    def __post_init__(self) -> None:
        if not isinstance(self.weekly_lags, bool):
            raise ConfigError(
                f"model: weekly_lags must be true or false, got {self.weekly_lags!r}",
                hint="weekly_lags: true gives the network last week's values (two weeks of history needed)",
            )
        if self.value_transform not in ("auto", "none", "anscombe"):
            raise ConfigError(
                f"model: unknown value_transform {self.value_transform!r}",
                hint='use "auto" (the default), "none" or "anscombe"',
            )


TRAIN_INITS = ("scratch", "pretrained")
"""What ``train.init`` accepts."""


@dataclass(frozen=True)
class TrainSettings:
    """How to fit the model."""

    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 2e-3
    validation_fraction: float = 0.15
    """The last part of the training range, in time order, used for early stopping."""
    patience: int = 5
    """Epochs without validation improvement before stopping. Not 3, although the epochs after the best are
    most of what training wastes (NASA: 5 of 11 epochs, 14 CPU s each): with 3, a small, noisy validation
    set stops too early (ec2_cpu_utilization_24ae8d: WAPE 0.336 -> 0.349, now worse than last value)."""
    seed: int = 0
    max_windows_per_epoch: int = 20_000
    """Subsample of training windows seen per epoch, bounding epoch time on long histories."""
    peak_weight: float = 0.5
    """Weight of the peak term in the loss: the upper quantile's highest step must cover the window's true
    peak as often as the quantile says (capacity is planned on that peak). 0 turns it off."""
    threads: int = 1
    """Torch CPU threads while training. Torch's default (one per core) oversubscribes shared or CPU-limited
    machines: on a busy 2-core machine two threads trained 15x slower than one (bench, 2026-11)."""
    blend: bool = True
    """Combine the LSTM's p50 with last value and seasonal naive, weights chosen on the validation split."""
    backtest: str = "3d"
    """Recent range held out to decide promotion (model vs baselines vs the current model)."""
    event_profile: bool = True
    """With a calendar: also learn each kind's uplift as a statistical profile (forecaster.event_profile) and
    forecast the steps scheduled events reach from it. False: the network's event inputs alone."""
    pretrained: str = "auto"
    """Cold start (:mod:`forecaster.pretrain`): "auto" fine-tunes the pretrained network shipped in
    ``models/_pretrained`` (or ``$FORECASTER_PRETRAINED``) when the history is shorter than
    ``cold_start_span`` and the network fits the model settings; a directory path uses the networks there;
    "off" always trains from scratch."""
    cold_start_span: str = "7d"
    """Histories shorter than this fine-tune the pretrained network instead of training from scratch (a
    network trained from scratch on a few days sees too few windows of each time of day)."""
    init: str = "pretrained"
    """Where the network starts when the history is at least ``cold_start_span``: "pretrained" (the default
    since session 12) fine-tunes the pretrained ``daily`` network of ``pretrained`` (the shipped synthetic-only
    one, or a directory written by ``forecaster pretrain``, e.g. a fleet's own store-wide one) on the whole
    history, the loss weighted by each window's level as from scratch; "scratch" trains a fresh network (what
    training did before; also what ``pretrained: off`` gives). Measured over seeds 0-2 on the 16 development
    series (README, issue 10): median WAPE ratio 0.885 / 0.869 / 0.875 from scratch, 0.858 / 0.858 / 0.860
    fine-tuned from the shipped network. The version's manifest records which
    network it started from (``training.cold_start``). Settings the network does not fit (another lookback,
    hidden size or quantiles, a calendar, weekly lags) train from scratch and say why."""
    ensemble_members: int = 1
    """Seed ensemble: train up to this many networks (seeds ``seed``, ``seed + 1``, ...) and average their
    forecasts, 1 to 8. A member is added only while the training cost stays within a budget (four weeks of
    1-minute history keep one network; see ``forecaster.training._ENSEMBLE_BUDGET``). Measured on 13 real series
    (bench/accuracy_seeds.py): 2 members took the worst series' WAPE ratio to the best baseline from 1.097 to
    1.065, but averaging smooths the p90 paths, and the true 30-minute peak exceeded the p90 peak by > 10% in
    more windows on every Twitter series (IBM 0.10 -> 0.18): a pre-scaler plans on that peak, so the default is
    one network. Worth trying for a series whose WAPE matters more than its peaks. With ``init: pretrained``
    every member is fine-tuned from the same pretrained network on its own draws of the windows (since
    session 13; before, fine-tuning trained one network whatever this said): on the 15 five-minute
    development series, seeds 0 / 1, the median ratio 0.858 / 0.858 -> 0.856 / 0.855 with two members
    (0.854 at seed 0 with three), the peak-miss median 0.080 / 0.095 -> 0.085 / 0.100 (README, issue 10)."""


@dataclass(frozen=True)
class EventsSettings:
    """Where the target's calendar of scheduled events comes from (see :mod:`forecaster.events`).

    At most one source: a ``file`` (CSV or YAML, e.g. a mounted ConfigMap, re-read each time it is used) or a
    Prometheus ``query`` whose series carry an event's start time as their value (the ``*_timestamp_seconds``
    convention) and its kind in the label ``kind_label``. Neither: the target has no calendar.
    """

    file: str | None = None
    """Calendar file: CSV with a header (start, kind, end, expected) or a YAML list with the same fields."""
    query: str | None = None
    """PromQL whose series' values are start times in seconds since the epoch, one series per event."""
    kind_label: str = "kind"
    """Label of the query's series that names the event's kind (absent: the kind ``event``)."""
    expected_label: str | None = None
    """Optional label of the query's series holding the size hint (a number)."""
    max_age_s: float = 3600.0
    """While the source cannot be read (or is stale), the prescaler keeps forecasting with the last good copy
    for at most this long after that copy was read; then it forecasts without the calendar. An hour: schedules
    are published hours ahead, so an hour-old copy misses few new entries, and a cancelled entry it still holds
    costs at most the lead time's worth of extra capacity."""
    stale_after_s: float | None = None
    """A calendar file not modified for longer than this is stale (read like an unreadable one); for platforms
    that rewrite the ConfigMap on a schedule. None: a file's age alone never makes it stale."""

    def __post_init__(self) -> None:
        if self.file and self.query:
            raise ConfigError(
                "events: both file and query are set", hint="name one calendar source: a file or a query"
            )
        if not self.max_age_s >= 0:
            raise ConfigError(
                f"events: max_age_s must be zero or more, not {self.max_age_s}",
                hint="e.g. 3600 (use the last good copy for an hour), or 0 (never)",
            )
        if self.stale_after_s is not None and not self.stale_after_s > 0:
            raise ConfigError(
                f"events: stale_after_s must be positive, not {self.stale_after_s}",
                hint="e.g. 7200 when the platform rewrites the calendar every hour; leave it out otherwise",
            )

    @property
    def enabled(self) -> bool:
        return bool(self.file or self.query)


@dataclass(frozen=True)
class TuningSettings:
    """Tune the target's pre-scaling policy after training (:func:`forecaster.tuning.recommend_for_model`).

    The training job replays the held-out backtest range with the freshly trained model over the tuning grid
    and stores the cheapest setting meeting ``slo`` with the model version (``tuning.json``); PrescalePolicies
    with ``spec.tuning`` show it, and use it in ``Apply`` mode. The replay needs the workload's physics, which
    only this config can tell the training job (it never reads PrescalePolicies): the load one pod serves
    at full use and how long a new pod takes to be ready. No ``slo``: no tuning.
    """

    slo: str | None = None
    """``short-minutes=0.5%`` (share of minutes with load above ready capacity) or ``unserved=0.1%``."""
    capacity_per_replica: float | None = None
    """Load one pod serves at full use, in the target's unit (the PrescalePolicy's capacityPerReplica)."""
    pod_startup: str = "3m"
    """How long a new pod takes to be ready (the replay's lead time)."""
    every: str = "24h"
    """Re-tune at most this often; between tunings a new version carries the last recommendation forward."""
    min_replicas: int = 1
    max_replicas: int = 100

    @property
    def enabled(self) -> bool:
        return self.slo is not None


@dataclass(frozen=True)
class TargetConfig:
    """One forecast target: name, source, model and training settings, store location."""

    name: str
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    """The calendar of scheduled events the model reads (none by default)."""
    tuning: TuningSettings = field(default_factory=TuningSettings)
    """Tune the prescaler's settings after training (off unless ``tuning.slo`` is set)."""
    store: str = "models"
    """Model store: a directory, or ``s3://bucket/prefix``."""
    description: str = ""

    def __post_init__(self) -> None:
        # Validated here, not only when read from YAML: a config built in code (the CLI's --csv path, the
        # demo, tests, the prescaler's inline policies) must not reach training or serving unchecked.
        problem = _first_problem(self)
        if problem is not None:
            raise _InvalidTarget(f"target {self.name!r}: {problem[0]}", hint=problem[1], bare=problem[0])

    @property
    def step(self) -> pd.Timedelta:
        return parse_duration(self.prometheus.step)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"]["quantiles"] = list(self.model.quantiles)
        return d


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}", hint=f"known keys: {', '.join(sorted(known))}"
        )
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def target_config_from_dict(data: dict[str, Any], *, source: str = "config") -> TargetConfig:
    """Validate a parsed YAML mapping into a :class:`TargetConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    name = data.get("name")
    unknown = sorted(
        set(data) - {"name", "prometheus", "model", "train", "events", "tuning", "store", "description"}
    )
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}")
    prom = _build(PrometheusSettings, data.get("prometheus"), f"{source}: prometheus")
    model_data = dict(data.get("model") or {})
    if "quantiles" in model_data:
        model_data["quantiles"] = tuple(float(q) for q in model_data["quantiles"])
    model = _build(ModelSettings, model_data, f"{source}: model")
    train = _build(TrainSettings, data.get("train"), f"{source}: train")
    events = _build(EventsSettings, data.get("events"), f"{source}: events")
    tuning = _build(TuningSettings, data.get("tuning"), f"{source}: tuning")
    try:
        return TargetConfig(
            name=name,
            prometheus=prom,
            model=model,
            train=train,
            events=events,
            tuning=tuning,
            store=str(data.get("store", "models")),
            description=str(data.get("description", "")),
        )
    except _InvalidTarget as exc:  # name the file rather than the object
        raise ConfigError(f"{source}: {exc.bare}", hint=exc.hint) from None


class _InvalidTarget(ConfigError):
    """Raised by ``TargetConfig()``; ``bare`` is the problem without the target's name, for file messages."""

    def __init__(self, problem: str, *, hint: str | None, bare: str) -> None:
        super().__init__(problem, hint=hint)
        self.bare = bare


def _first_problem(cfg: TargetConfig) -> tuple[str, str | None] | None:
    """What is wrong with ``cfg`` (problem, hint), or None when it is valid."""
    if not isinstance(cfg.name, str) or not TARGET_NAME_RE.match(cfg.name):
        return (
            f"target name {cfg.name!r} is invalid",
            "use lowercase letters, digits and '-', up to 63 characters (a DNS label)",
        )
    try:
        step = parse_duration(cfg.prometheus.step)
        horizon = parse_duration(cfg.model.horizon)
        lookback = parse_duration(cfg.model.lookback)
        parse_duration(cfg.prometheus.history)
        parse_duration(cfg.train.backtest)
        parse_duration(cfg.train.cold_start_span)
    except DataError as exc:
        return exc.problem, exc.hint
    if horizon < step or lookback < step:
        return f"horizon and lookback must be at least one step ({cfg.prometheus.step})", None
    qs = cfg.model.quantiles
    try:
        distinct = len(set(qs)) == len(qs) and all(0 < float(q) < 1 for q in qs)
    except (TypeError, ValueError):
        distinct = False
    if not qs or not distinct:
        return f"quantiles {list(qs)} must be distinct numbers strictly between 0 and 1", None
    if 0.5 not in qs:
        return "quantiles must include 0.5 (the point forecast)", None
    if cfg.train.epochs < 1 or cfg.train.batch_size < 1:
        return "train.epochs and train.batch_size must be at least 1", None
    if cfg.train.init not in TRAIN_INITS:
        return (
            f"train.init must be one of {', '.join(TRAIN_INITS)}, got {cfg.train.init!r}",
            "scratch (a fresh network) or pretrained (fine-tune the pretrained network on the whole history)",
        )
    if type(cfg.train.ensemble_members) is not int or not 1 <= cfg.train.ensemble_members <= 8:
        return (
            f"train.ensemble_members must be a whole number from 1 to 8, got {cfg.train.ensemble_members!r}",
            None,
        )
    return _tuning_problem(cfg.tuning)


def _tuning_problem(tuning: TuningSettings) -> tuple[str, str | None] | None:
    if not tuning.enabled:
        return None
    from forecaster.tuning import SLO  # only when tuning is asked for

    try:
        SLO.parse(tuning.slo)  # type: ignore[arg-type]
        pod_startup, every = parse_duration(tuning.pod_startup), parse_duration(tuning.every)
    except (ConfigError, DataError) as exc:
        return f"tuning: {exc.problem}", exc.hint
    capacity = tuning.capacity_per_replica
    if capacity is None or not capacity > 0 or capacity == float("inf"):
        return (
            f"tuning.capacity_per_replica must be a number > 0 when tuning.slo is set, got {capacity!r}",
            "the load one pod serves at full use, as in the PrescalePolicy's capacityPerReplica, e.g. 80",
        )
    if pod_startup <= pd.Timedelta(0) or every <= pd.Timedelta(0):
        return "tuning.pod_startup and tuning.every must be positive", "e.g. pod_startup: 3m, every: 24h"
    if not 0 <= tuning.min_replicas <= tuning.max_replicas or tuning.max_replicas < 1:
        return (
            f"tuning: min_replicas {tuning.min_replicas} and max_replicas {tuning.max_replicas} must satisfy "
            "0 <= min <= max, max >= 1",
            "the same bounds as the PrescalePolicy's minReplicas and maxReplicas",
        )
    return None


def _read_yaml(p: Path) -> Any:
    try:
        return yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror}", hint="check the path") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML ({exc})") from exc


def _config_from_document(data: Any, source: str) -> TargetConfig:
    from forecaster.target_resource import is_forecast_target, target_config_from_object

    if is_forecast_target(data):
        return target_config_from_object(data, source=source)
    return target_config_from_dict(data, source=source)


def load_target_config(path: str | Path) -> TargetConfig:
    """Read one target YAML: a plain config or a ForecastTarget manifest (see ``training/live-streaming.yaml``)."""
    p = Path(path)
    return _config_from_document(_read_yaml(p), str(p))


KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
"""Not targets: a target directory may also be a kustomization (``training/`` is one: ``k8s/base`` applies its
ForecastTargets from there, so the manifests are not copied)."""


def load_target_configs(directory: str | Path) -> dict[str, TargetConfig]:
    """Every ``*.yaml`` in ``directory`` (but its kustomization file), keyed by target name; duplicate names are
    an error."""
    out: dict[str, TargetConfig] = {}
    for p in sorted(Path(directory).glob("*.y*ml")):
        if p.name in KUSTOMIZATION_FILES:
            continue
        cfg = load_target_config(p)
        if cfg.name in out:
            raise ConfigError(f"{p}: target {cfg.name!r} is defined twice in {directory}")
        out[cfg.name] = cfg
    return out
