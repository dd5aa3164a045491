"""The prescaler's RBAC (k8s/base/prescaler-rbac.yaml) is exactly what it uses: least privilege and complete.

A scenario drives every actuator, conflict re-read, finalizer, event and lease path of the controller against
the fake API server; each recorded request must be allowed by a rule bound to the prescaler's ServiceAccount,
and each (group, resource, verb) the rules grant must have been used. Requests the prescaler made in the other
prescaler tests of this run (``ALL_REQUESTS``) must be allowed too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from prometheus_client import CollectorRegistry

from forecaster.prescaler.informer import WatchCache
from forecaster.prescaler.kube import FORECAST_TARGETS, POLICIES
from forecaster.prescaler.leader import LeaderElector
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import CrdPolicySource
from tests import prescaler_helpers
from tests.fake_kube_api import ALL_REQUESTS, FakeKubeApiServer, RecordedRequest
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    deployment,
    hpa,
    keda_hpa,
    machine_deployment,
    policy,
    scaled_object,
    statefulset,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

RBAC = Path(__file__).resolve().parents[1] / "k8s" / "base" / "prescaler-rbac.yaml"
SERVICE_ACCOUNT = ("forecaster", "forecaster-prescaler")
LEASE_NAMESPACE = "forecaster"


@dataclass(frozen=True)
class Grant:
    group: str
    resource: str  # plural or plural/subresource
    verb: str
    namespace: str | None  # None: cluster-wide (ClusterRole + ClusterRoleBinding)


def load_grants() -> set[Grant]:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
    }
    grants: set[Grant] = set()
    for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        subjects = {
            (s.get("namespace"), s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"
        }
        if SERVICE_ACCOUNT not in subjects:
            continue
        ref = binding["roleRef"]
        ns = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role = roles[(ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"])]
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], f"wildcard in {rule}"
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        grants.add(Grant(group, resource, verb, ns))
    return grants


def required(req: RecordedRequest) -> tuple[str, str, str]:
    resource = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    return req.group, resource, req.verb


def allowed_by(req: RecordedRequest, grants: set[Grant]) -> Grant | None:
    group, resource, verb = required(req)
    for g in grants:
        if (g.group, g.resource, g.verb) == (group, resource, verb) and (
            g.namespace is None or g.namespace == req.namespace
        ):
            return g
    return None


def run_everything(fake: FakeKubeApiServer, kube) -> None:
    """Every code path of the controller that talks to the API server."""
    fake.put(deployment(replicas=3))
    fake.put(hpa(min_replicas=2))
    fake.put(policy())  # HPAFloor
    fake.put(deployment("web", replicas=1))
    fake.put(policy("web", target="web"))  # Replicas
    fake.put(statefulset("cache", replicas=1))
    fake.put(policy("cache", target="cache", kind="StatefulSet"))
    fake.put(deployment("capacity-placeholder", replicas=0))
    fake.put(
        policy(
            "placeholder",
            target="capacity-placeholder",
            actuator="Placeholder",
            workloadRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        )
    )
    node_group = {"podRequest": 1, "nodeAllocatable": 4}
    for kind in ("MachineDeployment", "MachinePool"):
        fake.put(machine_deployment(kind.lower(), kind=kind))
        fake.put(
            policy(
                kind.lower(),
                target=kind.lower(),
                kind=kind,
                api_version="cluster.x-k8s.io/v1beta1",
                nodeGroup=node_group,
            )
        )
    # KEDA: one policy names the actuator (list ScaledObjects), one is Auto on a KEDA-generated HPA (get it).
    for name in ("keda-web", "keda-auto"):
        fake.put(deployment(name, replicas=1))
        fake.put(scaled_object(name, target=name))
    fake.put(keda_hpa("keda-auto", target="keda-auto"))
    fake.put(policy("keda-web", target="keda-web", actuator="KEDAScaledObject"))
    fake.put(policy("keda-auto", target="keda-auto"))
    fake.put(policy("broken", capacityPerReplica=-1))  # an InvalidPolicy event
    forecasts = FakeForecasts(
        **{
            "live-api": 1000.0,
            "web": 800.0,
            "cache": 300.0,
            "placeholder": 1500.0,
            "machinedeployment": 1200.0,
            "machinepool": 900.0,
            "keda-web": 700.0,
            "keda-auto": 600.0,
        }
    )
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=forecasts,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        elector=LeaderElector(kube, namespace=LEASE_NAMESPACE, identity="a", lease_duration_s=10),
    )
    fake.fail(409, verb="patch", resource="horizontalpodautoscalers")  # re-read the HPA
    fake.fail(409, verb="patch", resource="prescalepolicies", subresource="")  # re-read the policy
    fake.fail(409, verb="patch", resource="scaledobjects")  # re-read the ScaledObject
    # The caches of a long-running prescaler: list, then watch (policies everywhere, targets in its namespace).
    for cache in (
        WatchCache(kube, POLICIES, watch_timeout_s=1),
        WatchCache(kube, FORECAST_TARGETS, namespace=LEASE_NAMESPACE, watch_timeout_s=1),
    ):
        cache.step()
        cache.step()
    ctl.tick(NOW)  # creates the lease
    ctl.tick(NOW + pd.Timedelta(minutes=1))  # updates it
    fake.delete("prescalepolicies", NS, "live-api")
    fake.delete("prescalepolicies", NS, "keda-web")
    ctl.tick(NOW + pd.Timedelta(minutes=2))  # finalizers: restore the floors, release
    ctl.shutdown(NOW + pd.Timedelta(minutes=3))
    assert fake.get("prescalepolicies", NS, "live-api") is None
    assert fake.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 2
    assert fake.get("scaledobjects", NS, "keda-web")["spec"]["minReplicaCount"] == 2
    assert fake.get("scaledobjects", NS, "keda-auto")["spec"]["minReplicaCount"] == 6


def test_rules_are_bound_to_the_prescaler_and_have_no_wildcards():
    grants = load_grants()
    assert grants, "no rule bound to the prescaler's ServiceAccount"
    assert {g.namespace for g in grants if g.group == "coordination.k8s.io"} == {LEASE_NAMESPACE}
    assert not [
        g for g in grants if g.verb in ("delete", "deletecollection", "escalate", "bind", "impersonate")
    ]
    # The prescaler scales through subresources only: it can never rewrite a workload's pod template.
    assert not [g for g in grants if g.group == "apps" and "/" not in g.resource]


def test_the_prescaler_uses_exactly_the_permissions_it_is_granted(fake_api, kube):
    run_everything(fake_api, kube)
    grants = load_grants()

    denied = sorted(
        {required(r) + (r.namespace,) for r in fake_api.requests if allowed_by(r, grants) is None}
    )
    assert not denied, f"requests the RBAC rules do not allow (add them to {RBAC.name}): {denied}"

    used = {allowed_by(r, grants) for r in fake_api.requests}
    unused = sorted((g.group, g.resource, g.verb) for g in grants - used)
    assert not unused, f"rules no request needed (remove them from {RBAC.name}): {unused}"


def test_every_request_seen_in_the_other_prescaler_tests_is_allowed():
    grants = load_grants()
    seen = list(ALL_REQUESTS)
    if not seen:
        pytest.skip("run together with the other prescaler tests to check their requests too")
    denied = sorted({required(r) + (r.namespace,) for r in seen if allowed_by(r, grants) is None})
    assert not denied, f"requests the RBAC rules do not allow: {denied}"


def test_a_missing_rule_is_caught():
    """The check can fail: drop one rule and the scenario's requests are no longer all allowed."""
    grants = load_grants()
    fewer = {g for g in grants if g.resource != "horizontalpodautoscalers" or g.verb != "patch"}
    req = RecordedRequest("patch", "autoscaling", "horizontalpodautoscalers", None, NS, "live-api")
    assert allowed_by(req, grants) is not None and allowed_by(req, fewer) is None
    lease_elsewhere = RecordedRequest("update", "coordination.k8s.io", "leases", None, "default", "x")
    assert allowed_by(lease_elsewhere, grants) is None


# -- the forecast service: its refresher's Lease, nothing else ---------------------------------------------

API_RBAC = RBAC.parent / "api-rbac.yaml"
API_ACCOUNT = ("forecaster", "forecaster-api")


def api_grants() -> set[tuple[str, str, str, str, str | None]]:
    """(namespace, group, resource, verb, resource name or None for any) bound to the API's ServiceAccount."""
    docs = [d for d in yaml.safe_load_all(API_RBAC.read_text()) if d]
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d["kind"] == "Role"}
    assert not [d for d in docs if d["kind"].startswith("Cluster")], "the API needs nothing cluster-wide"
    out = set()
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        subjects = {
            (s.get("namespace"), s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"
        }
        if API_ACCOUNT not in subjects:
            continue
        ns = binding["metadata"]["namespace"]
        for rule in roles[(ns, binding["roleRef"]["name"])]["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], f"wildcard in {rule}"
            for name in rule.get("resourceNames") or [None]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for verb in rule["verbs"]:
                            out.add((ns, group, resource, verb, name))
    return out


def api_allowed_by(req: RecordedRequest, grants: set) -> tuple | None:
    group, resource, verb = required(req)
    for g in grants:
        if g[:4] == (req.namespace, group, resource, verb) and g[4] in (None, req.name):
            return g
    return None


def test_the_api_uses_exactly_the_lease_permissions_it_is_granted(tmp_path, monkeypatch):
    """Two replicas built as `forecaster serve` builds them from k8s/base/serve.yaml elect, renew, hand over
    and release the refresher Lease; every request is allowed, every rule used, names included."""
    from forecaster.api.app import _elector
    from forecaster.api.settings import load_serve_settings

    settings = load_serve_settings(RBAC.parent / "serve.yaml", environ={})
    with FakeKubeApiServer(rbac_checked=False) as fake:
        config = str(fake.write_kubeconfig(tmp_path / "kubeconfig"))
        replicas = [
            _elector(dataclasses.replace(settings, kubeconfig=config, identity=who)) for who in ("a", "b")
        ]
        a, b = replicas
        assert a.ensure(NOW) and not b.ensure(NOW)  # create, then b reads it held
        assert a.ensure(NOW + pd.Timedelta(seconds=5))  # renew
        a.release(NOW + pd.Timedelta(seconds=6))
        assert b.ensure(NOW + pd.Timedelta(seconds=7))  # take over the released Lease
        lease = fake.get("leases", a.namespace, settings.lease_name)
        assert lease["spec"]["holderIdentity"] == "b" and a.namespace == "forecaster"
        requests = list(fake.requests)
    grants = api_grants()
    denied = sorted(
        {required(r) + (r.namespace, r.name) for r in requests if api_allowed_by(r, grants) is None}
    )
    assert not denied, f"requests {API_RBAC.name} does not allow: {denied}"
    unused = sorted(grants - {api_allowed_by(r, grants) for r in requests})
    assert not unused, f"rules no request needed (remove them from {API_RBAC.name}): {unused}"
    # The check can fail: another Lease's name is not covered by the named rules.
    other = RecordedRequest(
        "update", "coordination.k8s.io", "leases", None, "forecaster", "forecaster-prescaler"
    )
    assert api_allowed_by(other, grants) is None
