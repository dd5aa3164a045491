"""forecaster.prescaler.kube: the real kubernetes client against the fake API server; errors, retries, timeouts."""

from __future__ import annotations

import pytest

from forecaster.errors import ConfigError
from forecaster.prescaler.kube import (
    BACKOFF_S,
    HPAS,
    LEASES,
    POLICIES,
    ConflictError,
    ForbiddenError,
    InvalidError,
    KubeClient,
    KubeSettings,
    NotFoundError,
    TemporaryKubeError,
    scalable_resource,
)
from tests import prescaler_helpers
from tests.fake_kube_api import FakeKubeApiServer
from tests.prescaler_helpers import NS, deployment, hpa, policy

kube = prescaler_helpers.kube  # fixture


@pytest.fixture
def fake_api():
    # These tests drive the client directly (deletes, creates...), not as the prescaler: keep their requests
    # out of the RBAC check (tests/test_rbac.py).
    with FakeKubeApiServer(rbac_checked=False) as server:
        yield server


DEPLOYMENTS = scalable_resource("apps/v1", "Deployment")


def test_scale_subresource_roundtrip_and_optimistic_concurrency(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    scale = kube.get(DEPLOYMENTS, namespace=NS, name="live-api", subresource="scale")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3

    rv = scale["metadata"]["resourceVersion"]
    patched = kube.merge_patch(
        DEPLOYMENTS,
        namespace=NS,
        name="live-api",
        subresource="scale",
        patch={"metadata": {"resourceVersion": rv}, "spec": {"replicas": 7}},
    )
    assert patched["spec"]["replicas"] == 7 and patched["metadata"]["resourceVersion"] != rv
    with pytest.raises(ConflictError, match="has been modified"):
        kube.merge_patch(
            DEPLOYMENTS,
            namespace=NS,
            name="live-api",
            subresource="scale",
            patch={"metadata": {"resourceVersion": rv}, "spec": {"replicas": 9}},
        )
    assert fake_api.get("deployments", NS, "live-api")["spec"]["replicas"] == 7
    [req] = fake_api.requests[:1]
    assert (req.verb, req.group, req.resource, req.subresource, req.namespace) == (
        "get",
        "apps",
        "deployments",
        "scale",
        NS,
    )


def test_list_across_namespaces_and_create(fake_api, kube):
    fake_api.put(policy("a", namespace="one"))
    fake_api.put(policy("b", namespace="two"))
    assert sorted(p["metadata"]["name"] for p in kube.list(POLICIES)) == ["a", "b"]
    assert [p["metadata"]["name"] for p in kube.list(POLICIES, namespace="two")] == ["b"]
    kube.create(LEASES, namespace="forecaster", body={"metadata": {"name": "x"}, "spec": {}})
    with pytest.raises(ConflictError, match="already exists"):
        kube.create(LEASES, namespace="forecaster", body={"metadata": {"name": "x"}, "spec": {}})


def test_errors_are_typed_and_name_the_request(fake_api, kube):
    fake_api.put(hpa())
    with pytest.raises(NotFoundError, match="get horizontalpodautoscalers.autoscaling live/ghost: HTTP 404"):
        kube.get(HPAS, namespace=NS, name="ghost")

    fake_api.fail(403, verb="patch", resource="horizontalpodautoscalers")
    with pytest.raises(ForbiddenError) as info:
        kube.merge_patch(HPAS, namespace=NS, name="live-api", patch={"spec": {"minReplicas": 3}})
    assert info.value.permission == "patch horizontalpodautoscalers.autoscaling in namespace live"
    assert not info.value.temporary and "prescaler-rbac.yaml" in str(info.value)

    fake_api.fail(403, verb="list", resource="prescalepolicies")
    with pytest.raises(ForbiddenError) as info:
        kube.list(POLICIES)
    assert info.value.permission == "list prescalepolicies.prescaling.forecaster.io cluster-wide"

    fake_api.put(deployment())
    with pytest.raises(InvalidError, match="spec.replicas"):
        kube.merge_patch(
            DEPLOYMENTS, namespace=NS, name="live-api", subresource="scale", patch={"spec": {"replicas": -1}}
        )


def test_temporary_failures_follow_the_backoff_schedule_then_give_up(fake_api, kube):
    fake_api.put(hpa())
    fake_api.fail(500, verb="get", times=2)
    assert kube.get(HPAS, namespace=NS, name="live-api")["metadata"]["name"] == "live-api"
    assert kube.sleeps == list(BACKOFF_S[:2])

    fake_api.fail(429, verb="get", times=10, retry_after_s=2.5)
    with pytest.raises(TemporaryKubeError, match="HTTP 429") as info:
        kube.get(HPAS, namespace=NS, name="live-api")
    assert info.value.temporary
    assert kube.sleeps[2:] == [2.5, 2.5, 2.5]  # Retry-After honoured (capped at max_retry_after_s=5)
    assert len(fake_api.requests_matching(verb="get")) == 2 + 1 + 4


def test_permanent_failures_are_not_retried(fake_api, kube):
    fake_api.fail(409, verb="patch")
    fake_api.put(hpa())
    with pytest.raises(ConflictError):
        kube.merge_patch(HPAS, namespace=NS, name="live-api", patch={"spec": {"minReplicas": 3}})
    assert kube.sleeps == [] and len(fake_api.requests_matching(verb="patch")) == 1


def test_a_slow_answer_is_a_timeout_and_is_retried(fake_api, tmp_path):
    fake_api.put(hpa())
    path = fake_api.write_kubeconfig(tmp_path / "kc")
    sleeps: list[float] = []
    settings = KubeSettings(request_timeout_s=0.2, backoff_s=(0.0,))
    with KubeClient.from_kubeconfig(str(path), settings=settings, sleep=sleeps.append) as client:
        fake_api.fail(0, verb="get", delay_s=0.5)  # answers, but too late
        assert client.get(HPAS, namespace=NS, name="live-api")["metadata"]["name"] == "live-api"
        assert sleeps == [0.0]
        fake_api.fail(0, verb="get", delay_s=0.5, times=2)
        with pytest.raises(TemporaryKubeError, match="Timeout"):
            client.get(HPAS, namespace=NS, name="live-api")


def test_unreachable_api_server_is_temporary(tmp_path):
    with FakeKubeApiServer(rbac_checked=False) as dead:
        path = dead.write_kubeconfig(tmp_path / "kc")
    with (
        KubeClient.from_kubeconfig(
            str(path), settings=KubeSettings(backoff_s=()), sleep=lambda s: None
        ) as client,
        pytest.raises(TemporaryKubeError, match="talking to the API server"),
    ):
        client.list(POLICIES)


def test_finalizers_keep_a_deleted_object_until_emptied(fake_api, kube):
    fake_api.put(policy())
    kube.merge_patch(POLICIES, namespace=NS, name="live-api", patch={"metadata": {"finalizers": ["x/y"]}})
    kube.request("DELETE", POLICIES, namespace=NS, name="live-api")
    obj = kube.get(POLICIES, namespace=NS, name="live-api")
    assert obj["metadata"]["deletionTimestamp"]
    kube.merge_patch(POLICIES, namespace=NS, name="live-api", patch={"metadata": {"finalizers": []}})
    with pytest.raises(NotFoundError):
        kube.get(POLICIES, namespace=NS, name="live-api")


def test_status_subresource_changes_only_status(fake_api, kube):
    fake_api.put(policy())
    kube.merge_patch(
        POLICIES,
        namespace=NS,
        name="live-api",
        subresource="status",
        patch={"status": {"desiredReplicas": 4}, "spec": {"maxReplicas": 1}},
    )
    obj = fake_api.get("prescalepolicies", NS, "live-api")
    assert obj["status"] == {"desiredReplicas": 4} and obj["spec"]["maxReplicas"] == 40


@pytest.mark.parametrize(
    ("api_version", "kind", "plural"),
    [
        ("apps/v1", "Deployment", "deployments"),
        ("apps/v1", "StatefulSet", "statefulsets"),
        ("cluster.x-k8s.io/v1beta1", "MachineDeployment", "machinedeployments"),
        ("cluster.x-k8s.io/v1beta1", "MachinePool", "machinepools"),
    ],
)
def test_scalable_kinds(api_version, kind, plural):
    res = scalable_resource(api_version, kind)
    assert res.plural == plural and res.api_version == api_version


@pytest.mark.parametrize(("api_version", "kind"), [("batch/v1", "CronJob"), ("Deployment", "Deployment")])
def test_unknown_kinds_are_config_errors(api_version, kind):
    with pytest.raises(ConfigError, match="cannot scale"):
        scalable_resource(api_version, kind)


def test_missing_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load kubeconfig"):
        KubeClient.from_kubeconfig(str(tmp_path / "nope"))
