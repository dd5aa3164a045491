"""Fleet templates: one ForecastTarget whose query yields one series per label value becomes one target each.

A template is a ForecastTarget with ``spec.splitBy: [service]`` and a query aggregated ``by (service)``
(``sum by (service) (rate(http_requests_total[1m]))``). The trainer fetches every series of it in the same
range queries (:func:`forecaster.sources.prometheus.fetch_history_split`: chunked in time only, since the
11,000-point limit is per series) and trains one *member* target per label value. A member is an ordinary
:class:`TargetConfig`: its name is ``<template>--<value>`` (a DNS label; a hash suffix keeps it unique when
the value had to be shortened or cleaned), and its query selects its own series out of the template's, so
the forecast service and the prescaler can read it alone. Label values come from Prometheus, never from a
request; they are still escaped as PromQL strings (and ``$`` for label_replace's replacement).

Why ``--``: declared ForecastTarget names may not contain it and a cleaned value never does, so a member's
name can equal neither a declared target's nor another template's member (the template's name is everything
before the first ``--``): two shards, owning different declarations, never write the same target.

``spec.maxTargets`` caps how many members one template may create (default :data:`DEFAULT_MAX_TARGETS`): a
template matching more series, or none, is reported in its status, never trained unbounded.

Pure: no I/O here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass

from forecaster.errors import ConfigError
from forecaster.settings import TARGET_NAME_RE, TargetConfig

__all__ = [
    "Template",
    "DEFAULT_MAX_TARGETS",
    "LIMIT_MAX_TARGETS",
    "LABEL_RE",
    "grouping_labels",
    "check_template",
    "member_name",
    "member_query",
    "member_configs",
]

DEFAULT_MAX_TARGETS = 100
LIMIT_MAX_TARGETS = 10_000
"""The schema's maximum for ``maxTargets``: beyond it, split the fleet over several templates."""
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_BY_RE = re.compile(r"\bby\s*\(([^)]*)\)", re.IGNORECASE)
SEPARATOR = "--"
MAX_TEMPLATE_NAME = 40
"""A template's name stays whole in its members' names (63 characters at most, hash suffix included)."""


@dataclass(frozen=True)
class Template:
    """``spec.splitBy`` and ``spec.maxTargets`` of a ForecastTarget."""

    split_by: tuple[str, ...]
    max_targets: int = DEFAULT_MAX_TARGETS


def grouping_labels(query: str) -> set[str]:
    """Labels of every ``by (...)`` clause in ``query`` (the outermost aggregation keeps them)."""
    return {label.strip() for group in _BY_RE.findall(query) for label in group.split(",") if label.strip()}


def check_template(query: str, template: Template, *, where: str, name: str = "") -> None:
    """ConfigError naming the field when the template cannot work: its name's length, labels, cap, a query
    without ``by``."""
    if len(name) > MAX_TEMPLATE_NAME:
        raise ConfigError(
            f"{where}: metadata.name of a template may have at most {MAX_TEMPLATE_NAME} characters",
            hint="its generated targets are named <name>--<label value>",
        )
    if not template.split_by:
        raise ConfigError(
            f"{where}: spec.splitBy is empty", hint="name the label(s) to split by, e.g. [service]"
        )
    bad = [label for label in template.split_by if not LABEL_RE.match(label)]
    if bad or len(set(template.split_by)) != len(template.split_by):
        raise ConfigError(f"{where}: spec.splitBy {list(template.split_by)} must be distinct label names")
    if not 1 <= template.max_targets <= LIMIT_MAX_TARGETS:
        raise ConfigError(
            f"{where}: spec.maxTargets {template.max_targets} must lie in 1..{LIMIT_MAX_TARGETS}"
        )
    missing = [label for label in template.split_by if label not in grouping_labels(query)]
    if missing:
        raise ConfigError(
            f"{where}: spec.prometheus.query does not aggregate by {', '.join(missing)}",
            hint=f"e.g. sum by ({', '.join(template.split_by)}) (rate(http_requests_total[1m]))",
        )


def member_name(template_name: str, values: tuple[str, ...]) -> str:
    """``<template>--<values>`` as a DNS label. Values that had to be cleaned or shortened get an 8-hex SHA-256
    suffix of the raw values, so two different values never share a name; so do several values of which one
    holds a ``-`` (``('a-b', 'c')`` and ``('a', 'b-c')`` would both join to ``a-b-c``)."""
    raw = "-".join(values)
    clean = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", raw.lower())).strip("-")
    name = f"{template_name}{SEPARATOR}{clean}" if clean else f"{template_name}{SEPARATOR}x"
    unambiguous = len(values) == 1 or not any("-" in v for v in values)
    if clean and clean == raw and unambiguous and len(name) <= 63 and TARGET_NAME_RE.match(name):
        return name
    suffix = hashlib.sha256("\0".join(values).encode("utf-8")).hexdigest()[:8]
    base = name[: 63 - len(suffix) - 1].rstrip("-")
    return f"{base}-{suffix}"


def _promql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def member_query(query: str, split_by: tuple[str, ...], values: tuple[str, ...]) -> str:
    """The template's query narrowed to one label value set: exactly one series, valid PromQL for any query
    (``(Q) and on (service) label_replace(vector(1), "service", "web", "", "")``)."""
    selector = "vector(1)"
    for label, value in zip(split_by, values, strict=True):
        replacement = value.replace("$", "$$")  # label_replace expands $1 in its replacement
        selector = (
            f'label_replace({selector}, {_promql_string(label)}, {_promql_string(replacement)}, "", "")'
        )
    return f"({query}) and on ({', '.join(split_by)}) {selector}"


def member_configs(
    template_cfg: TargetConfig, template: Template, keys: list[tuple[str, ...]]
) -> list[TargetConfig]:
    """One TargetConfig per label value set, in the order of ``keys``; names are unique by construction."""
    out = []
    for values in keys:
        prometheus = dataclasses.replace(
            template_cfg.prometheus,
            query=member_query(template_cfg.prometheus.query, template.split_by, values),
        )
        out.append(
            dataclasses.replace(
                template_cfg,
                name=member_name(template_cfg.name, values),
                prometheus=prometheus,
                description=f"{template_cfg.description} ({', '.join(f'{k}={v}' for k, v in zip(template.split_by, values, strict=True))})".strip(),
            )
        )
    names = [c.name for c in out]
    if len(set(names)) != len(names):  # pragma: no cover - member_name makes cleaned names unique
        raise ConfigError(f"template {template_cfg.name}: two label values map to one target name")
    return out
