"""``forecaster train --all --from-cluster`` against the fake API server: ForecastTargets listed (in pages),
each shard's targets' status patched, and the trainer's RBAC (k8s/base/trainer-rbac.yaml) exactly what it uses.

Training itself is exercised with a real Prometheus in tests/test_cronjob.py; here every target's Prometheus
is a closed port, so each run fails fast, which is what the status and the exit code must then report.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forecaster.cli import main
from forecaster.fleet import EXIT_SOME_FAILED, shard_index
from forecaster.prescaler.kube import KubeClient, KubeSettings
from forecaster.target_sources import ClusterTargetSource
from tests.fake_kube_api import FakeKubeApiServer

ROOT = Path(__file__).resolve().parents[1]
NS = "forecaster"
NAMES = [f"svc-{i:02d}" for i in range(9)]


def _target(name: str, **prometheus) -> dict:
    return {
        "apiVersion": "forecasting.forecaster.io/v1alpha1",
        "kind": "ForecastTarget",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "prometheus": {
                "url": "http://127.0.0.1:1",
                "query": f'up{{job="{name}"}}',
                "retries": 0,
                **prometheus,
            }
        },
    }


@pytest.fixture
def fake():
    # Not the prescaler: keep these requests out of the prescaler's RBAC check (tests/test_rbac.py).
    with FakeKubeApiServer(rbac_checked=False) as server:
        for name in NAMES:
            server.put(_target(name))
        server.put(_target("broken", step="fast"))  # what admission would reject, if the CRD were older
        server.put({**_target("elsewhere"), "metadata": {"name": "elsewhere", "namespace": "other"}})
        yield server


def _train(fake, tmp_path, *extra):
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    argv = [
        "train",
        "--all",
        "--jobs",
        "1",
        "--from-cluster",
        "--kubeconfig",
        str(kubeconfig),
        "--namespace",
        NS,
    ]
    return main([*argv, "--out", str(tmp_path / "models"), *extra])


def test_each_shard_records_its_own_targets_status(fake, tmp_path, capsys):
    codes = [_train(fake, tmp_path, "--shard", f"{i}/3") for i in range(3)]
    owners = {shard_index(n, 3) for n in [*NAMES, "broken"]}
    assert codes == [EXIT_SOME_FAILED if i in owners else 0 for i in range(3)]
    out = capsys.readouterr().out
    for name in [*NAMES, "broken"]:
        obj = fake.get("forecasttargets", NS, name)
        status = obj["status"]
        assert status["lastTraining"]["outcome"] == "Failed", name
        assert status["lastTraining"]["shard"] == f"{shard_index(name, 3)}/3", "the owning shard wrote it"
        assert status["conditions"][0]["type"] == "Trained" and status["conditions"][0]["status"] == "False"
        assert f"{name}: Failed" in out
    assert (
        "spec.prometheus.step" in fake.get("forecasttargets", NS, "broken")["status"]["lastError"]["message"]
    )
    assert "status" not in fake.get("forecasttargets", "other", "elsewhere"), "only its own namespace"
    patches = [r for r in fake.requests if r.verb == "patch"]
    assert sorted(r.name for r in patches) == sorted([*NAMES, "broken"]), (
        "each target written once, by one shard"
    )
    assert all(r.subresource == "status" for r in patches), "never the spec"
    summaries = [line for line in out.splitlines() if line.startswith("shard ")]
    assert len(summaries) == 3 and all(
        " of 10 targets: 0 promoted, 0 not promoted" in line for line in summaries
    )


def test_exit_code_is_zero_only_when_every_target_succeeds(fake, tmp_path):
    for name in [*NAMES, "broken"]:
        fake.remove("forecasttargets", NS, name)
    assert _train(fake, tmp_path) == 0, "nothing to train is not a failure"


def test_the_shard_comes_from_the_indexed_jobs_environment(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    monkeypatch.setenv("JOB_COMPLETIONS", "2")
    _train(fake, tmp_path)
    written = {r.name for r in fake.requests if r.verb == "patch"}
    assert written == {n for n in [*NAMES, "broken"] if shard_index(n, 2) == 1}


def test_targets_are_listed_in_pages(fake, tmp_path):
    with KubeClient.from_kubeconfig(
        str(fake.write_kubeconfig(tmp_path / "kc")), settings=KubeSettings(request_timeout_s=2.0)
    ) as kube:
        entries = ClusterTargetSource(kube, namespace=NS, page_size=4).list()
    assert sorted(e.name for e in entries) == sorted([*NAMES, "broken"])
    assert len([r for r in fake.requests if r.verb == "list"]) == 3  # 10 targets, 4 a page


def _trainer_grants() -> set[tuple[str, str, str, str]]:
    docs = [d for d in yaml.safe_load_all((ROOT / "k8s" / "base" / "trainer-rbac.yaml").read_text()) if d]
    role = next(d for d in docs if d["kind"] == "Role")
    binding = next(d for d in docs if d["kind"] == "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "forecaster-trainer"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    return {
        (group, resource, verb, NS)  # a Role: the namespace kustomize puts it in (k8s/base: forecaster)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_trainer_uses_exactly_the_permissions_it_is_granted(fake, tmp_path):
    _train(fake, tmp_path)
    used = {
        (r.group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb, r.namespace)
        for r in fake.requests
    }
    grants = _trainer_grants()
    assert used - grants == set(), f"requests trainer-rbac.yaml does not allow: {sorted(used - grants)}"
    assert grants - used == set(), f"rules the trainer never needed: {sorted(grants - used)}"
