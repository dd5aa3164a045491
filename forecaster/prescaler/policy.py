"""PrescalePolicy: the spec an SRE writes per service, parsed and validated (pure: no cluster, no clock).

The same object comes from the cluster (a ``prescaling.forecaster.io/v1alpha1`` custom resource, see
``k8s/base/crd-prescalepolicy.yaml``) or from YAML files for runs outside a cluster
(``forecaster prescale --policies FILE``). :func:`parse_policy` turns one object into a
:class:`PrescalePolicy` or raises :class:`~forecaster.errors.ConfigError` naming the field and what to write
instead; the controller shows that message in the policy's status and carries on with the other policies.

This module must not talk to anything: reading the target, the HPA or the forecast is the controller's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from forecaster.errors import ConfigError, DataError
from forecaster.scaling import ScalingPolicy
from forecaster.series import parse_duration
from forecaster.settings import TARGET_NAME_RE

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "KIND",
    "actuator_names",
    "MODES",
    "TargetRef",
    "ForecastSpec",
    "NodeGroupSpec",
    "AccuracyGuardSpec",
    "TUNING_MODES",
    "TuningBounds",
    "TuningSpec",
    "PrescalePolicy",
    "parse_policy",
    "load_policy_file",
    "parse_quantity",
]

API_GROUP = "prescaling.forecaster.io"
API_VERSION = "v1alpha1"
KIND = "PrescalePolicy"

MODES = ("Scale", "Forecast")
TUNING_MODES = ("Recommend", "Apply")

_WORKLOAD_KINDS = {("apps", "Deployment"), ("apps", "StatefulSet")}
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class TargetRef:
    api_version: str
    kind: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def describe(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ForecastSpec:
    """Where the forecast comes from: a model-store target (``training/<target>.yaml``), or PromQL + model path."""

    target: str | None = None
    query: str | None = None
    model_path: str | None = None
    prometheus_url: str | None = None
    step: str = "1m"
    max_staleness_s: float = 300.0
    """History whose last point is older than this (relative to now) makes the forecast stale: fail safe."""


@dataclass(frozen=True)
class NodeGroupSpec:
    """How a workload's planned pods become nodes (for NodeGroup and AutoScalingGroup actuators)."""

    pod_request: float
    """One workload pod's request, in the same unit as ``node_allocatable`` (CPU cores here)."""
    node_allocatable: float
    max_pods_per_node: int | None = None
    min_nodes: int = 0
    max_nodes: int | None = None
    region: str | None = None
    """AWS region of an AutoScalingGroup (default: the SDK's own configuration)."""


@dataclass(frozen=True)
class AccuracyGuardSpec:
    """Switch to Forecast mode while the forecast's error (WAPE of p50 vs actuals) over ``window_s`` is high."""

    max_error: float
    window_s: float = 3600.0
    min_samples: int = 10
    """Fewer compared points than this say nothing yet; the guard keeps its last state."""
    recover_ratio: float = 0.8
    """Switch back only once the error is below ``max_error * recover_ratio`` (no flapping at the threshold)."""


@dataclass(frozen=True)
class TuningBounds:
    """What ``Apply`` may set: a recommended value outside these is clamped to them (the status says so)."""

    min_quantile: float | None = None
    max_quantile: float | None = None
    max_headroom_percent: float | None = None
    max_lead_time_s: float | None = None
    max_stabilization_s: float | None = None
    min_hpa_target_utilization: float | None = None
    """A recommendation tuned with the HPA's target utilisation below this is not applied at all: its
    prescaler settings were chosen together with that much spare capacity on the HPA."""


@dataclass(frozen=True)
class TuningSpec:
    """``spec.tuning``: show (``Recommend``) or use (``Apply``) the settings the training job tuned for ``slo``
    and stored with the model version (:mod:`forecaster.recommendation`)."""

    slo: str
    """Normalised (``short-minutes=0.5%``); a recommendation tuned for another SLO is shown, never used."""
    mode: str = "Recommend"
    every_s: float | None = None
    """The re-tuning period the policy expects: a recommendation older than twice this is stale (not used)."""
    bounds: TuningBounds = field(default_factory=TuningBounds)


@dataclass(frozen=True)
class PrescalePolicy:
    namespace: str
    name: str
    target: TargetRef
    forecast: ForecastSpec
    scaling: ScalingPolicy
    mode: str = "Scale"
    actuator: str = "Auto"
    guard: AccuracyGuardSpec | None = None
    node_group: NodeGroupSpec | None = None
    workload_ref: TargetRef | None = None
    """Placeholder actuator: the workload whose pods the placeholder pods stand in for."""
    tuning: TuningSpec | None = None
    uid: str = ""
    generation: int = 0
    deleting: bool = False
    finalizers: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _bad(path: str, problem: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"{path}: {problem}", hint=hint)


def _mapping(value: Any, path: str, *, required: bool = True) -> Mapping[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(
            path, f"expected a mapping, got {type(value).__name__ if value is not None else 'nothing'}"
        )
    return value


def _number(spec: Mapping[str, Any], key: str, path: str, default: float | None = None) -> float:
    value = spec.get(key, default)
    if value is None:
        raise _bad(f"{path}.{key}", "is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{path}.{key}", f"must be a number, got {value!r}")
    return float(value)


def _int(spec: Mapping[str, Any], key: str, path: str, default: int | None = None) -> int | None:
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{path}.{key}", f"must be a whole number, got {value!r}")
    if value < 0:
        raise _bad(f"{path}.{key}", f"must be >= 0, got {value}")
    return value


def _seconds(spec: Mapping[str, Any], key: str, path: str, default: str, *, zero_ok: bool = False) -> float:
    value = spec.get(key, default)
    if zero_ok and value in (0, "0", "0s"):
        return 0.0
    try:
        return parse_duration(value).total_seconds()
    except DataError as exc:
        raise _bad(f"{path}.{key}", exc.problem, exc.hint) from exc


def _unknown(spec: Mapping[str, Any], known: set[str], path: str) -> None:
    extra = sorted(set(spec) - known)
    if extra:
        raise _bad(path, f"unknown field(s) {', '.join(extra)}", f"known: {', '.join(sorted(known))}")


_SUFFIXES = {
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_QUANTITY_RE = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def parse_quantity(value: Any, *, path: str = "quantity") -> float:
    """A Kubernetes quantity (``"500m"``, ``"2"``, ``"14Gi"``) or a plain number, as a float."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise _bad(path, f"must be > 0, got {value!r}")
        return float(value)
    m = _QUANTITY_RE.match(str(value).strip())
    if not m:
        raise _bad(path, f"{value!r} is not a quantity", "e.g. 500m, 2, 14Gi")
    number = float(m.group(1)) * _SUFFIXES[m.group(2) or ""]
    if number <= 0:
        raise _bad(path, f"must be > 0, got {value!r}")
    return number


def _ref(value: Any, path: str) -> TargetRef:
    spec = _mapping(value, path)
    _unknown(spec, {"apiVersion", "kind", "name"}, path)
    missing = [
        k for k in ("apiVersion", "kind", "name") if not isinstance(spec.get(k), str) or not spec.get(k)
    ]
    if missing:
        raise _bad(
            path, f"missing {', '.join(missing)}", "e.g. {apiVersion: apps/v1, kind: Deployment, name: web}"
        )
    if not _NAME_RE.match(spec["name"]):
        raise _bad(f"{path}.name", f"{spec['name']!r} is not a valid object name")
    return TargetRef(spec["apiVersion"], spec["kind"], spec["name"])


def _forecast(value: Any, path: str) -> ForecastSpec:
    spec = _mapping(value, path)
    _unknown(spec, {"target", "query", "modelPath", "prometheusUrl", "step", "maxStaleness"}, path)
    target, query, model_path = spec.get("target"), spec.get("query"), spec.get("modelPath")
    if target is not None:
        if not isinstance(target, str) or not TARGET_NAME_RE.match(target):
            raise _bad(
                f"{path}.target",
                f"{target!r} is not a target name",
                "a file name in training/, e.g. live-streaming",
            )
        if query or model_path:
            raise _bad(path, "give either target or query + modelPath, not both")
    elif not (isinstance(query, str) and query.strip() and isinstance(model_path, str) and model_path):
        raise _bad(
            path,
            "needs a target (a model-store target from training/) or both query and modelPath",
            "e.g. forecast: {target: live-streaming}",
        )
    url = spec.get("prometheusUrl")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise _bad(f"{path}.prometheusUrl", f"{url!r} must start with http:// or https://")
    step = str(spec.get("step", "1m"))
    _seconds({"step": step}, "step", path, "1m")
    return ForecastSpec(
        target=target,
        query=query,
        model_path=model_path,
        prometheus_url=url,
        step=step,
        max_staleness_s=_seconds(spec, "maxStaleness", path, "5m"),
    )


def _node_group(value: Any, path: str) -> NodeGroupSpec:
    spec = _mapping(value, path)
    _unknown(
        spec, {"podRequest", "nodeAllocatable", "maxPodsPerNode", "minNodes", "maxNodes", "region"}, path
    )
    for key in ("podRequest", "nodeAllocatable"):
        if key not in spec:
            raise _bad(
                f"{path}.{key}", "is required", "CPU of one workload pod and of one node, e.g. 500m and 3800m"
            )
    pod = parse_quantity(spec["podRequest"], path=f"{path}.podRequest")
    node = parse_quantity(spec["nodeAllocatable"], path=f"{path}.nodeAllocatable")
    if pod > node:
        raise _bad(
            path, f"a pod requesting {spec['podRequest']} does not fit a node with {spec['nodeAllocatable']}"
        )
    min_nodes = _int(spec, "minNodes", path, 0) or 0
    max_nodes = _int(spec, "maxNodes", path)
    if max_nodes is not None and max_nodes < min_nodes:
        raise _bad(path, f"minNodes ({min_nodes}) is above maxNodes ({max_nodes})")
    per_node = _int(spec, "maxPodsPerNode", path)
    if per_node == 0:
        raise _bad(f"{path}.maxPodsPerNode", "must be at least 1")
    region = spec.get("region")
    return NodeGroupSpec(pod, node, per_node, min_nodes, max_nodes, str(region) if region else None)


def _guard(value: Any, path: str) -> AccuracyGuardSpec | None:
    if value is None:
        return None
    spec = _mapping(value, path)
    _unknown(spec, {"maxError", "window", "minSamples", "recoverRatio"}, path)
    max_error = _number(spec, "maxError", path)
    if max_error <= 0:
        raise _bad(f"{path}.maxError", f"must be > 0, got {max_error}", "a WAPE fraction, e.g. 0.3")
    recover = _number(spec, "recoverRatio", path, 0.8)
    if not 0 < recover <= 1:
        raise _bad(f"{path}.recoverRatio", f"must be in (0, 1], got {recover}")
    return AccuracyGuardSpec(
        max_error=max_error,
        window_s=_seconds(spec, "window", path, "1h"),
        min_samples=max(1, _int(spec, "minSamples", path, 10) or 1),
        recover_ratio=recover,
    )


def _scaling(spec: Mapping[str, Any], where: str, *, floor: bool) -> ScalingPolicy:
    """``floor``: the actuator is a floor under an autoscaler (HPAFloor, KEDAScaledObject), where the
    measured best is the default: plan ``shift`` with no scale-down stabilisation of its own (the HPA's
    holds the pods); elsewhere ``peak`` with a 5-minute window (bench/results/replay.md)."""
    capacity = _number(spec, "capacityPerReplica", where)
    if capacity <= 0:
        raise _bad(
            f"{where}.capacityPerReplica",
            f"must be > 0, got {capacity:g}",
            "the load one replica serves at full use (the HPA's target utilisation is set on the HPA), "
            "e.g. 80 (requests/s)",
        )
    min_replicas = _int(spec, "minReplicas", where, 1)
    max_replicas = _int(spec, "maxReplicas", where)
    if max_replicas is None:
        raise _bad(f"{where}.maxReplicas", "is required", "the most replicas the prescaler may ask for")
    assert min_replicas is not None
    if min_replicas > max_replicas:
        raise _bad(where, f"minReplicas ({min_replicas}) is above maxReplicas ({max_replicas})")
    headroom = _number(spec, "headroomPercent", where, 0.0)
    if not 0 <= headroom <= 1000:
        raise _bad(f"{where}.headroomPercent", f"must be between 0 and 1000, got {headroom:g}")
    scale_down = _mapping(spec.get("scaleDown"), f"{where}.scaleDown", required=False)
    _unknown(scale_down, {"stabilizationWindow", "maxStep", "period"}, f"{where}.scaleDown")
    try:
        scaling = ScalingPolicy(
            capacity_per_replica=capacity,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            quantile=_number(spec, "quantile", where, 0.9),
            quantile_outside_events=(
                _number(spec, "quantileOutsideEvents", where)
                if spec.get("quantileOutsideEvents") is not None
                else None
            ),
            event_lookahead_s=_seconds(spec, "eventLookahead", where, "0", zero_ok=True),
            event_lookbehind_s=_seconds(spec, "eventLookbehind", where, "0", zero_ok=True),
            event_band_scale=_number(spec, "eventBandScale", where, 1.0),
            headroom=headroom / 100.0,
            lead_time_s=_seconds(spec, "leadTime", where, "3m", zero_ok=True),
            interval_s=_seconds(spec, "interval", where, "1m"),
            scale_down_stabilization_s=_seconds(
                scale_down,
                "stabilizationWindow",
                f"{where}.scaleDown",
                "0" if str(spec.get("plan", "shift" if floor else "peak")) == "shift" else "5m",
                zero_ok=True,
            ),
            scale_down_max_step=_int(scale_down, "maxStep", f"{where}.scaleDown", 0) or 0,
            scale_down_period_s=_seconds(scale_down, "period", f"{where}.scaleDown", "1m"),
            plan=str(spec.get("plan", "shift" if floor else "peak")),
            max_over_median=_number(spec, "maxOverMedian", where, 0.0),
        )
    except ConfigError as exc:
        if exc.problem.startswith(where):  # a field's own error already names its path
            raise
        raise ConfigError(f"{where}: {exc.problem.removeprefix('scaling policy: ')}", hint=exc.hint) from exc
    return scaling


_SPEC_KEYS = {
    "scaleTargetRef",
    "workloadRef",
    "actuator",
    "forecast",
    "capacityPerReplica",
    "quantile",
    "quantileOutsideEvents",
    "eventLookahead",
    "eventLookbehind",
    "eventBandScale",
    "headroomPercent",
    "leadTime",
    "interval",
    "plan",
    "maxOverMedian",
    "minReplicas",
    "maxReplicas",
    "scaleDown",
    "mode",
    "accuracyGuard",
    "nodeGroup",
    "tuning",
}


_BOUND_KEYS = {
    "minQuantile",
    "maxQuantile",
    "maxHeadroomPercent",
    "maxLeadTime",
    "maxStabilizationWindow",
    "minHPATargetUtilization",
}


def _fraction(spec: Mapping[str, Any], key: str, path: str) -> float | None:
    if key not in spec:
        return None
    value = _number(spec, key, path)
    if not 0 < value < 1 and not (key == "minHPATargetUtilization" and value == 1):
        raise _bad(f"{path}.{key}", f"must be between 0 and 1, got {value:g}")
    return value


def _tuning(value: Any, path: str, *, forecast: ForecastSpec) -> TuningSpec | None:
    if value is None:
        return None
    from forecaster.tuning import SLO  # pure; imported only for policies that tune

    spec = _mapping(value, path)
    _unknown(spec, {"slo", "mode", "every", "bounds"}, path)
    if forecast.target is None:
        raise _bad(
            path,
            "needs forecast.target: recommendations are stored with a model-store target's versions",
            "e.g. forecast: {target: live-streaming}",
        )
    if "slo" not in spec:
        raise _bad(f"{path}.slo", "is required", "e.g. short-minutes=0.5% or unserved=0.1%")
    try:
        slo = str(SLO.parse(spec["slo"]))
    except ConfigError as exc:
        raise _bad(f"{path}.slo", exc.problem, exc.hint) from exc
    mode = spec.get("mode", "Recommend")
    if mode not in TUNING_MODES:
        raise _bad(
            f"{path}.mode",
            f"must be Recommend or Apply, got {mode!r}",
            "Recommend shows the tuned settings in status; Apply uses them within bounds",
        )
    bounds_spec = _mapping(spec.get("bounds"), f"{path}.bounds", required=False)
    where = f"{path}.bounds"
    _unknown(bounds_spec, _BOUND_KEYS, where)
    bounds = TuningBounds(
        min_quantile=_fraction(bounds_spec, "minQuantile", where),
        max_quantile=_fraction(bounds_spec, "maxQuantile", where),
        max_headroom_percent=_number(bounds_spec, "maxHeadroomPercent", where)
        if "maxHeadroomPercent" in bounds_spec
        else None,
        max_lead_time_s=_seconds(bounds_spec, "maxLeadTime", where, "0", zero_ok=True)
        if "maxLeadTime" in bounds_spec
        else None,
        max_stabilization_s=_seconds(bounds_spec, "maxStabilizationWindow", where, "0", zero_ok=True)
        if "maxStabilizationWindow" in bounds_spec
        else None,
        min_hpa_target_utilization=_fraction(bounds_spec, "minHPATargetUtilization", where),
    )
    if bounds.max_headroom_percent is not None and bounds.max_headroom_percent < 0:
        raise _bad(f"{where}.maxHeadroomPercent", f"must be >= 0, got {bounds.max_headroom_percent:g}")
    if (bounds.min_quantile or 0) > (bounds.max_quantile or 1):
        raise _bad(where, f"minQuantile ({bounds.min_quantile}) is above maxQuantile ({bounds.max_quantile})")
    every = _seconds(spec, "every", path, "24h") if "every" in spec else None
    return TuningSpec(slo=slo, mode=str(mode), every_s=every, bounds=bounds)


def _actuator_specs(
    spec: Mapping[str, Any], where: str, *, actuator: str, target: TargetRef
) -> tuple[NodeGroupSpec | None, TargetRef | None]:
    """The node group and workload sections, required by the actuators that need them and refused elsewhere."""
    node_group = None
    needs = _registry()[actuator] if actuator != "Auto" else None
    if needs is not None and needs.needs_node_group:
        node_group = _node_group(spec.get("nodeGroup"), f"{where}.nodeGroup")
    elif spec.get("nodeGroup") is not None:
        raise _bad(f"{where}.nodeGroup", f"only applies to node-group targets, not a {target.kind}")
    workload = None
    if needs is not None and needs.needs_workload_ref:
        workload = _ref(spec.get("workloadRef"), f"{where}.workloadRef")
        if (workload.group, workload.kind) not in _WORKLOAD_KINDS:
            raise _bad(f"{where}.workloadRef", f"must be a Deployment or StatefulSet, not {workload.kind}")
    elif spec.get("workloadRef") is not None:
        raise _bad(f"{where}.workloadRef", "only applies to the Placeholder actuator")

    return node_group, workload


def parse_policy(obj: Mapping[str, Any], *, source: str = "PrescalePolicy") -> PrescalePolicy:
    """Validate one PrescalePolicy object (as the API server or a YAML file gives it)."""
    obj = _mapping(obj, source)
    if obj.get("kind", KIND) != KIND:
        raise _bad(source, f"kind is {obj.get('kind')!r}, expected {KIND}")
    api_version = obj.get("apiVersion", f"{API_GROUP}/{API_VERSION}")
    if api_version != f"{API_GROUP}/{API_VERSION}":
        raise _bad(source, f"apiVersion {api_version!r} is not {API_GROUP}/{API_VERSION}")
    meta = _mapping(obj.get("metadata"), f"{source}: metadata")
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _bad(f"{source}: metadata.name", f"{name!r} is not a valid object name")
    where = f"{namespace}/{name}: spec"
    spec = _mapping(obj.get("spec"), where)
    _unknown(spec, _SPEC_KEYS, where)

    target = _ref(spec.get("scaleTargetRef"), f"{where}.scaleTargetRef")
    actuator = _actuator(spec.get("actuator", "Auto"), target, where)

    mode = spec.get("mode", "Scale")
    if mode not in MODES:
        raise _bad(
            f"{where}.mode", f"must be Scale or Forecast, got {mode!r}", "Forecast = compute and publish only"
        )

    scaling = _scaling(spec, where, floor=actuator != "Auto" and _registry()[actuator].floor)
    if scaling.plan == "shift" and not (actuator != "Auto" and _registry()[actuator].floor):
        # shift plans only for what pods started now will face when ready; without an autoscaler underneath
        # nothing would keep the pods the current load needs.
        raise _bad(
            f"{where}.plan",
            f"shift needs the HPAFloor actuator or another floor (KEDAScaledObject); this policy uses {actuator}",
        )

    node_group, workload = _actuator_specs(spec, where, actuator=actuator, target=target)

    finalizers = meta.get("finalizers") or []
    forecast = _forecast(spec.get("forecast"), f"{where}.forecast")
    return PrescalePolicy(
        namespace=namespace,
        name=name,
        target=target,
        forecast=forecast,
        scaling=scaling,
        mode=mode,
        actuator=actuator,
        guard=_guard(spec.get("accuracyGuard"), f"{where}.accuracyGuard"),
        node_group=node_group,
        workload_ref=workload,
        tuning=_tuning(spec.get("tuning"), f"{where}.tuning", forecast=forecast),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        deleting=bool(meta.get("deletionTimestamp")),
        finalizers=tuple(str(f) for f in finalizers),
    )


def _registry() -> dict[str, Any]:
    from forecaster.prescaler.actuators import ACTUATORS  # the registry; no cluster is touched

    return ACTUATORS


def actuator_names() -> tuple[str, ...]:
    """Every value ``spec.actuator`` accepts: ``Auto`` and the registered actuators."""
    return ("Auto", *_registry())


def _actuator(name: Any, target: TargetRef, where: str) -> str:
    """The actuator for ``target``: ``name`` checked against the target's kind; ``Auto`` resolved where the
    kind alone decides it (node groups); on a workload ``Auto`` stays (the HPA, or its absence, decides)."""
    registry = _registry()
    if name != "Auto" and name not in registry:
        raise _bad(f"{where}.actuator", f"unknown actuator {name!r}", f"one of {', '.join(actuator_names())}")
    kind_key = (target.group, target.kind)
    accepting = [n for n, cls in registry.items() if cls.accepts(*kind_key)]
    if not accepting:
        known = sorted(
            {f"{g}/{k}" for cls in registry.values() for g, k in getattr(cls, "kinds", ())}
            | {"AutoScalingGroup"}
        )
        raise _bad(
            f"{where}.scaleTargetRef",
            f"unknown kind {target.kind} ({target.api_version})",
            f"the prescaler scales {', '.join(known)}",
        )
    if kind_key in _WORKLOAD_KINDS:
        if name != "Auto" and registry[name].needs_node_group:
            raise _bad(f"{where}.actuator", f"{name} needs a node group target, not a {target.kind}")
        return str(name)
    if name == "Auto":
        return accepting[0]  # a node group: one actuator acts on each kind
    if name not in accepting:
        article = "an" if target.kind[0] in "AEIOU" else "a"
        raise _bad(
            f"{where}.actuator", f"{name} cannot act on {article} {target.kind}", f"use {accepting[0]}"
        )
    return str(name)


def load_policy_file(path: str | Path) -> list[dict[str, Any]]:
    """Every PrescalePolicy object in a (multi-document) YAML file, unvalidated: each is checked by the
    controller on its own, so one bad policy in the file does not stop the others."""
    p = Path(path)
    try:
        docs = list(yaml.safe_load_all(p.read_text()))
    except OSError as exc:
        raise ConfigError(f"cannot read policies {p}: {exc.strerror}", hint="check the path") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML ({exc})") from exc
    out: list[dict[str, Any]] = []
    for i, doc in enumerate(d for d in docs if d is not None):
        if isinstance(doc, Mapping) and doc.get("kind") == "List":
            out.extend(dict(item) for item in doc.get("items") or [])
        elif isinstance(doc, Mapping):
            out.append(dict(doc))
        else:
            raise ConfigError(f"{p}: document {i + 1} is not a mapping")
    if not out:
        raise ConfigError(f"{p}: no PrescalePolicy in the file", hint="see k8s/examples/ for one")
    return out
