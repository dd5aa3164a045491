"""How capacity is raised: an :class:`Actuator` protocol and a registry with one class per kind.

An actuator reads the target's current capacity, turns a decision (pods) into its own unit (pods, floor,
placeholder pods, nodes), applies it and, for floors under a reactive autoscaler, restores the original when
the prescaler lets go (forecast lost for good, Forecast mode, policy deleted). Every write is idempotent and
goes through :func:`~forecaster.prescaler.kube.update_fresh` (a 409 re-reads and decides again).

Adding an actuator is one class here with ``@register``, plus its name in the CRD's ``actuator`` enum
(``k8s/base/crd-prescalepolicy.yaml``) and the permissions it uses in ``k8s/base/prescaler-rbac.yaml``.

This module must not decide capacity (that is :func:`forecaster.scaling.decide`), read a clock or import the
kubernetes client or boto3 (those are :mod:`~forecaster.prescaler.kube` and :mod:`~forecaster.prescaler.asg`).
Errors are raised as they come (KubeError, AsgError, ConfigError); the loop turns them into conditions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from forecaster.errors import ConfigError
from forecaster.prescaler.kube import (
    HPAS,
    SCALED_OBJECTS,
    KubeClient,
    NotFoundError,
    Resource,
    scalable_resource,
    update_fresh,
)
from forecaster.prescaler.problems import Problem
from forecaster.scaling import Decision, nodes_needed

if TYPE_CHECKING:
    from forecaster.prescaler.policy import PrescalePolicy, TargetRef

__all__ = [
    "ORIGINAL_FLOOR_ANNOTATION",
    "OWNER_ANNOTATION",
    "ACTUATORS",
    "Actuator",
    "ActuatorContext",
    "Target",
    "Applied",
    "register",
    "Actuators",
    "HPAFloor",
    "KEDAScaledObject",
    "Replicas",
    "Placeholder",
    "NodeGroup",
    "AutoScalingGroup",
]

ORIGINAL_FLOOR_ANNOTATION = "prescaling.forecaster.io/original-min-replicas"
"""On a raised floor (HPA or ScaledObject): the owner's value before the prescaler touched it."""
OWNER_ANNOTATION = "prescaling.forecaster.io/policy"
"""On a raised floor: the ``namespace/name`` of the policy that raised it (deletion restores only its own)."""
UNSET = "unset"
"""The original-floor annotation's value when the field was absent (restored by removing it again)."""

WORKLOAD_KINDS = frozenset({("apps", "Deployment"), ("apps", "StatefulSet")})
CAPI_KINDS = frozenset({("cluster.x-k8s.io", "MachineDeployment"), ("cluster.x-k8s.io", "MachinePool")})


@dataclass
class ActuatorContext:
    """What actuators talk to: the cluster (None outside one) and Auto Scaling clients per region."""

    kube: KubeClient | None
    asg_factory: Callable[[str | None], Any] | None = None
    _asgs: dict[str | None, Any] = field(default_factory=dict)
    hpa_lists: dict[str, list[dict[str, Any]]] | None = None
    """During a tick: each namespace's HPAs, listed once for all its policies (1,000 policies in one namespace
    would otherwise list its 1,000 HPAs 1,000 times a tick); None: list on every call."""

    def require_kube(self) -> KubeClient:
        if self.kube is None:
            raise Problem(
                "NoCluster", "this policy needs the Kubernetes API; pass --kubeconfig", kind="internal"
            )
        return self.kube

    def asg(self, region: str | None) -> Any:
        if region not in self._asgs:
            if self.asg_factory is None:
                from forecaster.prescaler.asg import AutoScalingGroups

                self._asgs[region] = AutoScalingGroups(region=region)
            else:
                self._asgs[region] = self.asg_factory(region)
        return self._asgs[region]


@dataclass
class Target:
    """The target as read this tick."""

    actuator: str
    current: int
    """Capacity now, in the actuator's unit (pods, floor, placeholder pods or nodes)."""
    pods: int | None = None
    """The workload's pods now (the decision's ``current_replicas``); None when the target is not the workload."""
    obj: dict[str, Any] | None = None
    """The object acted on when it is not the target itself (the HPA, the ScaledObject)."""
    workload_pods: int | None = None
    """Placeholder: pods the real workload runs now."""


@dataclass(frozen=True)
class Applied:
    """What is in effect after acting: ``units`` in the actuator's unit, ``action`` when something changed."""

    units: int
    action: str | None = None


class Actuator(Protocol):
    name: ClassVar[str]
    floor: ClassVar[bool]
    """A floor under a reactive autoscaler: restored when the prescaler lets go."""
    needs_node_group: ClassVar[bool]
    needs_workload_ref: ClassVar[bool]
    in_cluster: ClassVar[bool]
    """Its target is a Kubernetes object (Events go to it)."""
    uses_observed_load: ClassVar[bool]
    """Nothing underneath keeps what the load needs now: the decision takes the observed load as a bound."""

    @classmethod
    def accepts(cls, group: str, kind: str) -> bool: ...

    def read(self, policy: PrescalePolicy) -> Target: ...

    def units(self, policy: PrescalePolicy, target: Target, decision: Decision) -> int: ...

    def apply(self, policy: PrescalePolicy, target: Target, units: int) -> Applied: ...

    def restore(self, policy: PrescalePolicy, target: Target) -> Applied | None:
        """Put the original back (floors); None: there is nothing to restore (capacity is held as it is)."""

    def release(self, policy: PrescalePolicy) -> str | None:
        """The policy is being deleted: restore what it owns; the action taken, if any."""


ACTUATORS: dict[str, type[Actuator]] = {}
"""Every actuator by the name a policy's ``spec.actuator`` uses."""


def register(cls: type[Any]) -> type[Any]:
    ACTUATORS[cls.name] = cls
    return cls


class _Base:
    floor: ClassVar[bool] = False
    needs_node_group: ClassVar[bool] = False
    needs_workload_ref: ClassVar[bool] = False
    in_cluster: ClassVar[bool] = True
    uses_observed_load: ClassVar[bool] = False
    kinds: ClassVar[frozenset[tuple[str, str]]] = WORKLOAD_KINDS

    def __init__(self, ctx: ActuatorContext) -> None:
        self.ctx = ctx

    @classmethod
    def accepts(cls, group: str, kind: str) -> bool:
        return (group, kind) in cls.kinds

    def units(self, policy: PrescalePolicy, target: Target, decision: Decision) -> int:
        return decision.desired_replicas

    def restore(self, policy: PrescalePolicy, target: Target) -> Applied | None:
        return None

    def release(self, policy: PrescalePolicy) -> str | None:
        return None


# -- the scale subresource (Replicas, Placeholder, Cluster API node groups) ----------------------------------


def read_scale(kube: KubeClient, ref: TargetRef, namespace: str) -> int:
    """Replicas the scale subresource reports (its status, else its spec)."""
    scale = kube.get(
        scalable_resource(ref.api_version, ref.kind), namespace=namespace, name=ref.name, subresource="scale"
    )
    return int((scale.get("status") or {}).get("replicas", (scale.get("spec") or {}).get("replicas", 0)))


class _ScaleSubresource(_Base):
    verb: ClassVar[str] = ""
    """The action's first word; empty: ScaledUp or ScaledDown."""

    def read(self, policy: PrescalePolicy) -> Target:
        current = read_scale(self.ctx.require_kube(), policy.target, policy.namespace)
        return Target(self.name, current, pods=current)  # type: ignore[attr-defined]

    def apply(self, policy: PrescalePolicy, target: Target, units: int) -> Applied:
        ref = policy.target

        def compute(scale: dict[str, Any]) -> tuple[dict[str, Any] | None, Applied]:
            before = int((scale.get("spec") or {}).get("replicas", 0))
            if before == units:
                return None, Applied(units)
            verb = self.verb or ("ScaledUp" if units > before else "ScaledDown")
            return {"spec": {"replicas": units}}, Applied(
                units, f"{verb} {ref.describe()} {before} -> {units}"
            )

        resource = scalable_resource(ref.api_version, ref.kind)
        return update_fresh(
            self.ctx.require_kube(),
            resource,
            namespace=policy.namespace,
            name=ref.name,
            subresource="scale",
            compute=compute,
        )


@register
class Replicas(_ScaleSubresource):
    """Sets the workload's replicas through its scale subresource (no HPA underneath)."""

    name = "Replicas"
    uses_observed_load = True


@register
class Placeholder(_ScaleSubresource):
    """Sizes a placeholder Deployment to the pods the workload will need beyond what it runs now."""

    name = "Placeholder"
    verb = "PlaceholdersResized"
    needs_workload_ref = True

    def read(self, policy: PrescalePolicy) -> Target:
        assert policy.workload_ref is not None
        kube = self.ctx.require_kube()
        current = read_scale(kube, policy.target, policy.namespace)
        running = read_scale(kube, policy.workload_ref, policy.namespace)
        return Target(self.name, current, workload_pods=running)

    def units(self, policy: PrescalePolicy, target: Target, decision: Decision) -> int:
        return max(0, decision.desired_replicas - int(target.workload_pods or 0))


def _nodes(policy: PrescalePolicy, pods: int) -> int:
    ng = policy.node_group
    assert ng is not None
    return nodes_needed(
        replicas=pods,
        pod_request=ng.pod_request,
        node_allocatable=ng.node_allocatable,
        max_pods_per_node=ng.max_pods_per_node,
        min_nodes=ng.min_nodes,
        max_nodes=ng.max_nodes,
    )


@register
class NodeGroup(_ScaleSubresource):
    """A Cluster API MachineDeployment or MachinePool, sized in nodes through its scale subresource."""

    name = "NodeGroup"
    verb = "NodeGroupResized"
    needs_node_group = True
    kinds = CAPI_KINDS

    def read(self, policy: PrescalePolicy) -> Target:
        return Target(self.name, read_scale(self.ctx.require_kube(), policy.target, policy.namespace))

    def units(self, policy: PrescalePolicy, target: Target, decision: Decision) -> int:
        return _nodes(policy, decision.desired_replicas)


@register
class AutoScalingGroup(_Base):
    """An EC2 Auto Scaling group's desired capacity, in nodes (clamped and stepped down by the asg module)."""

    name = "AutoScalingGroup"
    needs_node_group = True
    in_cluster = False

    @classmethod
    def accepts(cls, group: str, kind: str) -> bool:
        return kind == "AutoScalingGroup"

    def _groups(self, policy: PrescalePolicy) -> Any:
        assert policy.node_group is not None
        return self.ctx.asg(policy.node_group.region)

    def read(self, policy: PrescalePolicy) -> Target:
        return Target(self.name, int(self._groups(policy).describe(policy.target.name).desired))

    def units(self, policy: PrescalePolicy, target: Target, decision: Decision) -> int:
        return _nodes(policy, decision.desired_replicas)

    def apply(self, policy: PrescalePolicy, target: Target, units: int) -> Applied:
        change = self._groups(policy).set_desired(policy.target.name, units)
        if not change.changed:
            return Applied(change.applied)
        note = f" ({change.note})" if change.note else ""
        return Applied(
            change.applied,
            f"NodeGroupResized {policy.target.describe()} {change.previous} -> {change.applied} nodes{note}",
        )


# -- floors under a reactive autoscaler (HPA, KEDA) ------------------------------------------------------------


class _Floor(_Base):
    """Raises a minimum of another autoscaler's object, keeping the original in an annotation."""

    floor = True
    resource: ClassVar[Resource]
    label: ClassVar[str]
    field: ClassVar[str]
    max_field: ClassVar[str]
    implicit_min: ClassVar[int]
    """The effective minimum when the field is absent."""
    implicit_max: ClassVar[int | None]

    def find(self, policy: PrescalePolicy) -> dict[str, Any] | None:
        raise NotImplementedError

    def read(self, policy: PrescalePolicy, *, found: dict[str, Any] | None = None) -> Target:
        obj = found if found is not None else self.find(policy)
        if obj is None:
            raise Problem(
                f"{self.resource.kind}NotFound" if self.label != "HPA" else "HPANotFound",
                f"no {self.resource.kind} in {policy.namespace} targets {policy.target.describe()}",
                kind="target_not_found",
            )
        pods = read_scale(self.ctx.require_kube(), policy.target, policy.namespace)
        return Target(self.name, pods, pods=pods, obj=obj)  # type: ignore[attr-defined]

    def apply(self, policy: PrescalePolicy, target: Target, units: int) -> Applied:
        return self._write(policy, target.obj, lambda o: self._floor_patch(policy, o, units))

    def restore(self, policy: PrescalePolicy, target: Target) -> Applied:
        return self._write(policy, target.obj, lambda o: self._floor_patch(policy, o, None))

    def release(self, policy: PrescalePolicy) -> str | None:
        action = None
        for obj in self._owned(policy):
            action = self._write(policy, obj, lambda o: self._floor_patch(policy, o, None)).action or action
        return action

    def _owned(self, policy: PrescalePolicy) -> list[dict[str, Any]]:
        try:
            objs = self.ctx.require_kube().list(self.resource, namespace=policy.namespace)
        except NotFoundError:
            return []  # the API is not installed (e.g. no KEDA): nothing of ours there
        return [
            o for o in objs if (o["metadata"].get("annotations") or {}).get(OWNER_ANNOTATION) == policy.key
        ]

    def _write(
        self, policy: PrescalePolicy, obj: dict[str, Any] | None, compute: Callable[..., Any]
    ) -> Applied:
        assert obj is not None
        return update_fresh(
            self.ctx.require_kube(),
            self.resource,
            namespace=policy.namespace,
            name=obj["metadata"]["name"],
            compute=compute,
            first=obj,
        )

    def _floor_patch(
        self, policy: PrescalePolicy, obj: dict[str, Any], desired: int | None
    ) -> tuple[dict[str, Any] | None, Applied]:
        """The patch that sets the floor for ``desired`` pods (None: the original), and what it leaves."""
        ann = obj["metadata"].get("annotations") or {}
        spec = obj.get("spec") or {}
        raw_now = spec.get(self.field)
        now = int(raw_now) if raw_now is not None else self.implicit_min
        recorded = ann.get(ORIGINAL_FLOOR_ANNOTATION)
        original_raw = _original(recorded, raw_now)
        original = int(original_raw) if original_raw is not None else self.implicit_min
        if desired is None:
            if recorded is None:
                return None, Applied(now)
            floor = original
        else:
            ceiling = int(spec.get(self.max_field, self.implicit_max or desired))
            floor = min(max(desired, original), ceiling)
            if floor == now:
                return None, Applied(now)
        name = obj["metadata"]["name"]
        what = f"{self.label} {name} {self.field} {now} -> {floor}"
        if floor == original:
            annotations = {ORIGINAL_FLOOR_ANNOTATION: None, OWNER_ANNOTATION: None}
            patch = {"spec": {self.field: original_raw}, "metadata": {"annotations": annotations}}
            return patch, Applied(floor, f"FloorRestored {what} (original)")
        keep = str(original_raw) if original_raw is not None else UNSET
        annotations = {ORIGINAL_FLOOR_ANNOTATION: keep, OWNER_ANNOTATION: policy.key}
        patch = {"spec": {self.field: floor}, "metadata": {"annotations": annotations}}
        return patch, Applied(floor, f"{'FloorRaised' if floor > now else 'FloorLowered'} {what}")


def _original(recorded: str | None, raw_now: Any) -> int | None:
    """The floor before the prescaler raised it: the annotation's value (``unset``: None), else the field's."""
    if recorded is None:
        return int(raw_now) if raw_now is not None else None
    if recorded == UNSET:
        return None
    try:
        return int(recorded)
    except ValueError:
        return int(raw_now) if raw_now is not None else None


def _targets(ref: dict[str, Any], policy: PrescalePolicy, *, default_api_version: str = "") -> bool:
    group = str(ref.get("apiVersion", default_api_version)).rpartition("/")[0]
    kind = ref.get("kind", "Deployment" if default_api_version else None)
    return (
        kind == policy.target.kind and ref.get("name") == policy.target.name and group == policy.target.group
    )


def find_hpa(
    kube: KubeClient, policy: PrescalePolicy, *, listed: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, Any] | None:
    """The HorizontalPodAutoscaler whose scaleTargetRef is the policy's target, if any (``listed``: the
    tick's lists by namespace, filled on first use)."""
    if listed is None:
        hpas = kube.list(HPAS, namespace=policy.namespace)
    elif policy.namespace in listed:
        hpas = listed[policy.namespace]
    else:
        hpas = listed.setdefault(policy.namespace, kube.list(HPAS, namespace=policy.namespace))
    for hpa in hpas:
        if _targets((hpa.get("spec") or {}).get("scaleTargetRef") or {}, policy):
            return hpa
    return None


def keda_owner(hpa: dict[str, Any]) -> str | None:
    """The ScaledObject that generated this HPA (KEDA owns it and overwrites direct changes), if any."""
    for ref in hpa["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "ScaledObject" and str(ref.get("apiVersion", "")).startswith("keda.sh/"):
            return str(ref.get("name"))
    return None


@register
class HPAFloor(_Floor):
    """Raises the minReplicas of the HorizontalPodAutoscaler that targets the workload."""

    name = "HPAFloor"
    resource = HPAS
    label = "HPA"
    field = "minReplicas"
    max_field = "maxReplicas"
    implicit_min = 1
    implicit_max = None

    def find(self, policy: PrescalePolicy) -> dict[str, Any] | None:
        hpa = find_hpa(self.ctx.require_kube(), policy, listed=self.ctx.hpa_lists)
        owner = keda_owner(hpa) if hpa is not None else None
        if owner is not None:
            raise ConfigError(
                f"HPA {hpa['metadata']['name']} is generated by KEDA ScaledObject {owner}, "  # type: ignore[index]
                "which overwrites a changed minReplicas",
                hint="use actuator KEDAScaledObject (or Auto)",
            )
        return hpa


@register
class KEDAScaledObject(_Floor):
    """Raises ``spec.minReplicaCount`` of the KEDA ScaledObject that scales the workload.

    KEDA owns the HPA it generates and overwrites a patched floor there, so the floor goes on the ScaledObject;
    an absent ``minReplicaCount`` (KEDA's default 0) is recorded as ``unset`` and removed again on restore.
    """

    name = "KEDAScaledObject"
    resource = SCALED_OBJECTS
    label = "ScaledObject"
    field = "minReplicaCount"
    max_field = "maxReplicaCount"
    implicit_min = 0
    implicit_max = 100  # KEDA's default maxReplicaCount

    def find(self, policy: PrescalePolicy) -> dict[str, Any] | None:
        for obj in self.ctx.require_kube().list(SCALED_OBJECTS, namespace=policy.namespace):
            ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
            if _targets(ref, policy, default_api_version="apps/v1"):
                return obj
        return None


# -- choosing one -----------------------------------------------------------------------------------------------


class Actuators:
    """One instance of every registered actuator over a shared context; resolves ``Auto`` per policy."""

    def __init__(self, ctx: ActuatorContext) -> None:
        self.ctx = ctx
        self.by_name: dict[str, Any] = {name: cls(ctx) for name, cls in ACTUATORS.items()}

    def read(self, policy: PrescalePolicy) -> tuple[Any, Target]:
        """The policy's actuator and its target as read now. ``Auto`` on a workload: the floor of the
        autoscaler that targets it (KEDA's ScaledObject when KEDA generated the HPA), else Replicas."""
        if policy.actuator != "Auto":
            actuator = self.by_name[policy.actuator]
            return actuator, actuator.read(policy)
        hpa = find_hpa(self.ctx.require_kube(), policy, listed=self.ctx.hpa_lists)
        if hpa is None:
            return self.by_name["Replicas"], self.by_name["Replicas"].read(policy)
        owner = keda_owner(hpa)
        if owner is None:
            return self.by_name["HPAFloor"], self.by_name["HPAFloor"].read(policy, found=hpa)
        keda = self.by_name["KEDAScaledObject"]
        scaled = self.ctx.require_kube().get(SCALED_OBJECTS, namespace=policy.namespace, name=owner)
        return keda, keda.read(policy, found=scaled)

    def releasing(self, policy: PrescalePolicy, *, recorded: str | None) -> list[Any]:
        """The actuators whose objects a deleted policy may own: the one its status recorded, else the one it
        names, else (``Auto`` never reconciled) every floor that acts on its target's kind."""
        for name in (recorded, policy.actuator):
            if name in self.by_name:
                return [self.by_name[name]]
        group, kind = policy.target.group, policy.target.kind
        return [a for a in self.by_name.values() if a.floor and a.accepts(group, kind)]
