"""The ``ForecastTarget`` custom resource <-> :class:`~forecaster.settings.TargetConfig`: a pure converter.

A ForecastTarget (``forecasting.forecaster.io/v1alpha1``, CRD in ``k8s/base/crd-forecasttarget.yaml``) holds
exactly what a target YAML holds, in Kubernetes spelling: ``metadata.name`` is the target's name, ``spec``
has the sections ``prometheus``, ``model``, ``train``, ``events`` and ``tuning`` with the fields of
:class:`PrometheusSettings`, :class:`ModelSettings`, :class:`TrainSettings`, :class:`EventsSettings` and
:class:`TuningSettings` in camelCase (a ``_s`` suffix reads ``Seconds``:
``timeout_s`` -> ``timeoutSeconds``), plus ``store`` and ``description``.

The same manifest works as a file (``forecaster train --targets training/``) and in a cluster (``--from-cluster``):
:func:`load_target_config` accepts either form, so a target is declared once.

The CRD's schema rejects what is wrong on its face at ``kubectl apply``; this converter re-checks every field
(an object may come from a file, or from a cluster whose CRD is older) and each error names the field as the
user wrote it (``spec.model.horizon``). It also builds the status the trainer records. No I/O here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from forecaster.errors import ConfigError, DataError
from forecaster.series import parse_duration
from forecaster.settings import (
    TARGET_NAME_RE,
    EventsSettings,
    ModelSettings,
    PrometheusSettings,
    TargetConfig,
    TrainSettings,
    TuningSettings,
    target_config_from_dict,
)

__all__ = [
    "GROUP",
    "VERSION",
    "API_VERSION",
    "KIND",
    "PLURAL",
    "SECTIONS",
    "DURATION_FIELDS",
    "is_forecast_target",
    "field_name",
    "target_config_from_object",
    "object_from_target_config",
    "training_status",
    "template_from_object",
    "TrainingRecord",
]

GROUP = "forecasting.forecaster.io"
"""Its own group, not the prescaler's ``prescaling.forecaster.io``: targets are read by the trainer, the
forecast service and the prescaler, and RBAC can then grant the three different verbs on it."""
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ForecastTarget"
PLURAL = "forecasttargets"

SECTIONS: dict[str, type] = {
    "prometheus": PrometheusSettings,
    "model": ModelSettings,
    "train": TrainSettings,
    "events": EventsSettings,
    "tuning": TuningSettings,
}
"""``spec.<section>`` -> the settings dataclass it holds."""

DURATION_FIELDS: dict[str, tuple[str, ...]] = {
    "prometheus": ("step", "history"),
    "model": ("lookback", "horizon"),
    "train": ("backtest", "cold_start_span"),
    "tuning": ("pod_startup", "every"),
}
"""Fields holding a duration (``90s``, ``5m``, ``1h30m``, ``28d``, ``1w``), checked one by one."""

_TOP_LEVEL = (
    "prometheus",
    "model",
    "train",
    "events",
    "tuning",
    "store",
    "description",
    "splitBy",
    "maxTargets",
)


def field_name(python_name: str) -> str:
    """The resource's spelling of a settings field: ``max_points_per_query`` -> ``maxPointsPerQuery``,
    ``timeout_s`` -> ``timeoutSeconds``."""
    parts = python_name.split("_")
    if len(parts) > 1 and parts[-1] == "s":
        parts[-1] = "seconds"
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def is_forecast_target(data: Any) -> bool:
    """Whether a parsed YAML document is a ForecastTarget (rather than a plain target config)."""
    return isinstance(data, dict) and data.get("kind") == KIND


# -- object -> config ----------------------------------------------------------------------------------------


def _where(obj: dict[str, Any], source: str | None) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
    return f"{source}: ForecastTarget {name}" if source else f"ForecastTarget {name}"


def _check_type(value: Any, annotation: Any, path: str, where: str) -> Any:
    """``value`` converted to what the dataclass field holds; a ConfigError naming ``path`` if it cannot be."""
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    optional = is_union and type(None) in typing.get_args(annotation)
    base = next(a for a in typing.get_args(annotation) if a is not type(None)) if is_union else annotation
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: {path} must not be null", hint="leave it out to use the default")
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base is str:
        ok = isinstance(value, str)
    elif typing.get_origin(base) is tuple:  # quantiles
        ok = isinstance(value, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        )
        value = tuple(float(v) for v in value) if ok else value
        base = "list of numbers"
    else:  # pragma: no cover - a new settings field of a type this converter does not know yet
        raise AssertionError(f"no conversion for {path}: {annotation}")
    if not ok:
        expected = base if isinstance(base, str) else base.__name__
        raise ConfigError(f"{where}: {path} must be a {expected}, got {value!r}")
    return value


def _section(obj_section: Any, cls: type, path: str, where: str) -> dict[str, Any]:
    if obj_section is None:
        return {}
    if not isinstance(obj_section, dict):
        raise ConfigError(f"{where}: {path} must be a mapping, got {type(obj_section).__name__}")
    hints = typing.get_type_hints(cls)
    by_field = {field_name(f.name): f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj_section) - set(by_field))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(f'{path}.{k}' for k in unknown)}",
            hint=f"known fields of {path}: {', '.join(sorted(by_field))}",
        )
    return {
        by_field[key]: _check_type(value, hints[by_field[key]], f"{path}.{key}", where)
        for key, value in obj_section.items()
    }


def target_config_from_object(obj: dict[str, Any], *, source: str | None = None) -> TargetConfig:
    """Validate a ForecastTarget (a dict as the API server or a YAML file gives it) into a TargetConfig.

    ``source`` (a file name) prefixes errors; every error names the offending field (``spec.model.horizon``).
    """
    if not isinstance(obj, dict):
        raise ConfigError(f"{source or 'ForecastTarget'}: expected a mapping")
    where = _where(obj, source)
    if obj.get("kind") != KIND or obj.get("apiVersion") != API_VERSION:
        raise ConfigError(
            f"{where}: apiVersion/kind is {obj.get('apiVersion')}/{obj.get('kind')}",
            hint=f"a ForecastTarget has apiVersion {API_VERSION} and kind {KIND}",
        )
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not TARGET_NAME_RE.match(name) or "--" in name:
        raise ConfigError(
            f"{where}: metadata.name {name!r} is not a valid target name",
            hint="use lowercase letters, digits and single '-', up to 63 characters ('--' is reserved for "
            "the targets a template generates)",
        )
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: spec is missing", hint="give at least spec.prometheus.query")
    unknown = sorted(set(spec) - set(_TOP_LEVEL))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(f'spec.{k}' for k in unknown)}",
            hint=f"known fields of spec: {', '.join(_TOP_LEVEL)}",
        )
    data: dict[str, Any] = {"name": name}
    for section, cls in SECTIONS.items():
        data[section] = _section(spec.get(section), cls, f"spec.{section}", where)
    query = data["prometheus"].get("query")
    if not query or not query.strip():
        raise ConfigError(
            f"{where}: spec.prometheus.query is missing",
            hint="a PromQL expression yielding one series, e.g. sum(rate(http_requests_total[1m]))",
        )
    for section, names in DURATION_FIELDS.items():
        for python_name in names:
            value = data[section].get(python_name)
            if value is None:
                continue
            try:
                parse_duration(value)
            except DataError as exc:
                raise ConfigError(
                    f"{where}: spec.{section}.{field_name(python_name)}: {exc.problem}", hint=exc.hint
                ) from exc
    for key in ("store", "description"):
        if key in spec:
            data[key] = _check_type(spec[key], str, f"spec.{key}", where)
    if "model" in data and "quantiles" in data["model"]:
        data["model"]["quantiles"] = list(data["model"]["quantiles"])
    # Cross-field rules (horizon >= step, quantiles include 0.5...) are the plain config's own.
    cfg = target_config_from_dict(data, source=where)
    template = _template(spec, where)
    if template is not None:
        from forecaster.templates import check_template

        check_template(cfg.prometheus.query, template, where=where, name=cfg.name)
    return cfg


def _template(spec: dict[str, Any], where: str) -> Any:
    from forecaster.templates import DEFAULT_MAX_TARGETS, Template

    if "splitBy" not in spec:
        if "maxTargets" in spec:
            raise ConfigError(f"{where}: spec.maxTargets needs spec.splitBy", hint="or leave maxTargets out")
        return None
    split_by = spec["splitBy"]
    if not isinstance(split_by, list) or not all(isinstance(label, str) for label in split_by):
        raise ConfigError(f"{where}: spec.splitBy must be a list of label names, got {split_by!r}")
    max_targets = spec.get("maxTargets", DEFAULT_MAX_TARGETS)
    if not isinstance(max_targets, int) or isinstance(max_targets, bool):
        raise ConfigError(f"{where}: spec.maxTargets must be an int, got {max_targets!r}")
    return Template(split_by=tuple(split_by), max_targets=max_targets)


def template_from_object(obj: dict[str, Any]) -> Any:
    """The :class:`~forecaster.templates.Template` of a ForecastTarget (``spec.splitBy``), or None for an
    ordinary target. Call after :func:`target_config_from_object` accepted the object."""
    return _template(obj.get("spec") or {}, _where(obj, None))


# -- config -> object ----------------------------------------------------------------------------------------


def object_from_target_config(
    cfg: TargetConfig, *, namespace: str | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The ForecastTarget declaring ``cfg``; fields at their default value are left out (the schema and
    :func:`target_config_from_object` fill them in), so the object says only what differs."""
    spec: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        default = cls()
        values = {}
        for f in dataclasses.fields(cls):
            value = getattr(getattr(cfg, section), f.name)
            if value == getattr(default, f.name) and not (section == "prometheus" and f.name == "query"):
                continue
            values[field_name(f.name)] = list(value) if isinstance(value, tuple) else value
        if values:
            spec[section] = values
    if cfg.store != TargetConfig.__dataclass_fields__["store"].default:
        spec["store"] = cfg.store
    if cfg.description:
        spec["description"] = cfg.description
    metadata: dict[str, Any] = {"name": cfg.name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


# -- status --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainingRecord:
    """What one training run of one target came to, as the trainer reports it."""

    target: str
    finished_at: str
    """RFC 3339 (``2026-11-30T02:17:00Z``)."""
    duration_s: float
    shard: str
    """``i/N``: which pod of the Indexed Job trained it."""
    version: str | None = None
    """The saved model version; None when training failed before saving."""
    promoted: bool = False
    reason: str = ""
    """Why it was (not) promoted, or the error."""
    error: str | None = None
    members: tuple[TrainingRecord, ...] = ()
    """For a template: one record per generated target."""
    expansion: tuple[str, str, str] | None = None
    """For a template: the ``Expanded`` condition's (status, reason, message)."""

    @property
    def outcome(self) -> str:
        if self.error is not None or any(m.error is not None for m in self.members):
            return "Failed"
        if self.members:
            return "Promoted" if any(m.promoted for m in self.members) else "NotPromoted"
        return "Promoted" if self.promoted else "NotPromoted"


def _condition(
    *,
    previous: list[dict[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: str,
    generation: Any,
) -> dict[str, Any]:
    old = next((c for c in previous if c.get("type") == type_), None)
    # lastTransitionTime moves only when the status flips (the Kubernetes convention for conditions).
    since = old.get("lastTransitionTime") if old and old.get("status") == status else now
    condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": since,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def training_status(
    record: TrainingRecord, *, previous: dict[str, Any] | None, generation: Any = None
) -> dict[str, Any]:
    """The ForecastTarget ``status`` after ``record``: last training, last promotion and last error, and the
    ``Trained`` condition. What the record does not change (an earlier promotion or error) is kept."""
    previous = previous or {}
    status: dict[str, Any] = {key: previous[key] for key in ("lastPromotion", "lastError") if key in previous}
    training: dict[str, Any] = {
        "time": record.finished_at,
        "outcome": record.outcome,
        "durationSeconds": round(record.duration_s, 3),
        "shard": record.shard,
    }
    if record.version:
        training["modelVersion"] = record.version
    if record.reason:
        training["message"] = record.reason[:1024]
    status["lastTraining"] = training
    if record.promoted and record.version:
        status["lastPromotion"] = {"time": record.finished_at, "modelVersion": record.version}
    promoted = [m for m in record.members if m.promoted and m.version]
    if promoted:
        status["lastPromotion"] = {
            "time": record.finished_at,
            "modelVersion": f"{len(promoted)} generated targets promoted",
        }
    failures = [f"{m.target}: {m.error}" for m in record.members if m.error is not None]
    error = record.error if record.error is not None else ("; ".join(failures) if failures else None)
    if error is not None:
        status["lastError"] = {"time": record.finished_at, "message": error[:1024]}
    if generation is not None:
        status["observedGeneration"] = generation
    ok = error is None
    previous_conditions = list(previous.get("conditions") or [])
    conditions = [
        _condition(
            previous=previous_conditions,
            type_="Trained",
            status="True" if ok else "False",
            reason=record.outcome,
            message=record.reason if ok else error or "",
            now=record.finished_at,
            generation=generation,
        )
    ]
    if record.expansion is not None:
        expanded, reason, message = record.expansion
        conditions.append(
            _condition(
                previous=previous_conditions,
                type_="Expanded",
                status=expanded,
                reason=reason,
                message=message,
                now=record.finished_at,
                generation=generation,
            )
        )
        status["generatedTargets"] = len(record.members)
    ours = {c["type"] for c in conditions}
    status["conditions"] = conditions + [c for c in previous_conditions if c.get("type") not in ours]
    return status
