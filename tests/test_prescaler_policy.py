"""PrescalePolicy parsing: the spec an SRE writes, with clear errors naming the field (table-driven)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from forecaster.errors import ConfigError
from forecaster.prescaler.policy import load_policy_file, parse_policy, parse_quantity
from tests.prescaler_helpers import policy


def test_defaults_and_units():
    p = parse_policy(
        policy(headroomPercent=15, leadTime="5m", scaleDown={"stabilizationWindow": 0, "maxStep": 2})
    )
    s = p.scaling
    assert (p.namespace, p.name, p.mode, p.actuator) == ("live", "live-api", "Scale", "Auto")
    assert s.capacity_per_replica == 100 and s.quantile == 0.9 and s.column == "p90"
    assert s.headroom == pytest.approx(0.15) and s.lead_time_s == 300 and s.interval_s == 60
    assert s.scale_down_stabilization_s == 0 and s.scale_down_max_step == 2 and s.scale_down_period_s == 60
    assert p.forecast.target == "live-streaming" and p.forecast.max_staleness_s == 300
    assert p.guard is None and p.node_group is None


def test_node_group_and_guard_specs():
    p = parse_policy(
        policy(
            target="live-nodes",
            kind="AutoScalingGroup",
            api_version="autoscaling.amazonaws.com/v1",
            nodeGroup={
                "podRequest": "500m",
                "nodeAllocatable": "3800m",
                "maxNodes": 20,
                "region": "eu-west-1",
            },
            accuracyGuard={"maxError": 0.3, "window": "2h"},
        )
    )
    assert p.actuator == "AutoScalingGroup"
    assert p.node_group.pod_request == 0.5 and p.node_group.node_allocatable == pytest.approx(3.8)
    assert p.node_group.max_nodes == 20 and p.node_group.region == "eu-west-1"
    assert p.guard.max_error == 0.3 and p.guard.window_s == 7200 and p.guard.min_samples == 10
    capi = parse_policy(
        policy(
            kind="MachineDeployment",
            api_version="cluster.x-k8s.io/v1beta1",
            nodeGroup={"podRequest": 1, "nodeAllocatable": 4},
        )
    )
    assert capi.actuator == "NodeGroup"


def _with(path: str, value):
    obj = policy()
    node = obj
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return obj


_DELETE = object()

BAD = [
    ("negative capacity", "spec.capacityPerReplica", -5, "capacityPerReplica: must be > 0, got -5"),
    ("zero capacity", "spec.capacityPerReplica", 0, "capacityPerReplica: must be > 0"),
    ("capacity as text", "spec.capacityPerReplica", "lots", "must be a number"),
    ("min above max", "spec.minReplicas", 50, "minReplicas (50) is above maxReplicas (40)"),
    ("no max", "spec.maxReplicas", _DELETE, "maxReplicas: is required"),
    ("negative min", "spec.minReplicas", -1, "minReplicas: must be >= 0"),
    ("unknown kind", "spec.scaleTargetRef.kind", "CronJob", "unknown kind CronJob"),
    ("no target name", "spec.scaleTargetRef.name", "", "missing name"),
    ("unknown actuator", "spec.actuator", "Magic", "unknown actuator 'Magic'"),
    ("bad mode", "spec.mode", "Auto", "must be Scale or Forecast"),
    ("quantile 1", "spec.quantile", 1.0, "quantile must be between 0 and 1"),
    ("bad lead time", "spec.leadTime", "soon", "cannot parse duration 'soon'"),
    ("headroom too big", "spec.headroomPercent", 5000, "between 0 and 1000"),
    ("typo field", "spec.capacityPerReplicas", 3, "unknown field(s) capacityPerReplicas"),
    ("no forecast", "spec.forecast", _DELETE, "forecast: expected a mapping"),
    ("query without model", "spec.forecast", {"query": "sum(up)"}, "both query and modelPath"),
    ("both forecasts", "spec.forecast", {"target": "x", "query": "q", "modelPath": "m"}, "not both"),
    ("bad target name", "spec.forecast", {"target": "Live Streaming"}, "is not a target name"),
    ("bad plan", "spec.plan", "valley", "plan must be one of peak, rise"),
    ("negative median cap", "spec.maxOverMedian", -1, "max_over_median"),
    (
        "nodeGroup on a Deployment",
        "spec.nodeGroup",
        {"podRequest": 1, "nodeAllocatable": 2},
        "only applies to node-group",
    ),
    ("placeholder without workload", "spec.actuator", "Placeholder", "workloadRef: expected a mapping"),
    ("node group on a Deployment", "spec.actuator", "NodeGroup", "needs a node group target"),
    (
        "wrong apiVersion",
        "apiVersion",
        "prescaling.forecaster.io/v2",
        "is not prescaling.forecaster.io/v1alpha1",
    ),
    ("bad name", "metadata.name", "Not_Valid", "is not a valid object name"),
]


@pytest.mark.parametrize(("desc", "path", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_invalid_policies_say_what_is_wrong(desc, path, value, message):
    with pytest.raises(ConfigError) as info:
        parse_policy(_with(path, value))
    assert message in str(info.value), desc


@pytest.mark.parametrize(
    ("node_group", "message"),
    [
        ({"nodeAllocatable": 4}, "podRequest: is required"),
        ({"podRequest": "8", "nodeAllocatable": "4"}, "does not fit a node"),
        ({"podRequest": "1x", "nodeAllocatable": "4"}, "is not a quantity"),
        (
            {"podRequest": 1, "nodeAllocatable": 4, "minNodes": 5, "maxNodes": 2},
            "minNodes (5) is above maxNodes (2)",
        ),
    ],
)
def test_invalid_node_groups(node_group, message):
    obj = policy(kind="MachinePool", api_version="cluster.x-k8s.io/v1beta1", nodeGroup=node_group)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_policy(obj)


@pytest.mark.parametrize(
    ("text", "value"), [("500m", 0.5), ("2", 2.0), (3, 3.0), ("1Gi", 2**30), ("1.5k", 1500.0), (".5", 0.5)]
)
def test_quantities(text, value):
    assert parse_quantity(text) == pytest.approx(value)


def test_parsing_does_not_modify_the_object():
    obj = policy()
    before = copy.deepcopy(obj)
    parse_policy(obj)
    assert obj == before


def test_policy_files_hold_several_documents_and_lists(tmp_path):
    import yaml

    path = tmp_path / "policies.yaml"
    docs = [policy("a"), {"kind": "List", "items": [policy("b"), policy("c", capacityPerReplica=-1)]}]
    path.write_text(yaml.safe_dump_all(docs))
    objs = load_policy_file(path)
    assert [o["metadata"]["name"] for o in objs] == ["a", "b", "c"]  # the bad one is kept for its own error


@pytest.mark.parametrize(
    ("content", "message"), [("", "no PrescalePolicy"), ("a: [", "invalid YAML"), ("- 1\n", "not a mapping")]
)
def test_bad_policy_files(tmp_path, content, message):
    path = tmp_path / "p.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_policy_file(path)
    with pytest.raises(ConfigError, match="cannot read policies"):
        load_policy_file(tmp_path / "missing.yaml")


# -- the CRD's schema agrees with the parser ----------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _crd_schema() -> dict:
    import yaml

    crd = yaml.safe_load((ROOT / "k8s" / "base" / "crd-prescalepolicy.yaml").read_text())
    [version] = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Target"] == ".spec.scaleTargetRef.name" and columns["Mode"] == ".status.mode"
    assert {"Forecast Peak", "Desired", "Current"} <= set(columns)

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(version["schema"]["openAPIV3Schema"])


def _examples() -> list[dict]:
    import yaml

    out = []
    for path in sorted((ROOT / "k8s" / "examples").rglob("*.yaml")):
        out += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "PrescalePolicy"]
    return out


def test_example_and_test_policies_pass_the_crd_schema_and_the_parser():
    import jsonschema

    validator = jsonschema.Draft4Validator(
        _crd_schema()
    )  # OpenAPI v3.0 keeps draft-4's boolean exclusiveMinimum
    examples = _examples() + [
        policy(),
        policy(
            kind="MachinePool",
            api_version="cluster.x-k8s.io/v1beta1",
            nodeGroup={"podRequest": "500m", "nodeAllocatable": 4},
        ),
        policy(
            actuator="Placeholder", workloadRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"}
        ),
    ]
    for obj in examples:
        obj.setdefault("metadata", {}).setdefault("namespace", "default")
        errors = [e.message for e in validator.iter_errors(obj)]
        assert not errors, (obj["metadata"]["name"], errors)
        parse_policy(obj)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.capacityPerReplica", -5),
        ("spec.capacityPerReplica", 0),
        ("spec.scaleTargetRef.kind", "CronJob"),
        ("spec.mode", "Auto"),
        ("spec.quantile", 1.0),
        ("spec.leadTime", "soon"),
        ("spec.maxReplicas", _DELETE),
        ("spec.plan", "valley"),
        ("spec.maxOverMedian", -1),
    ],
)
def test_the_crd_schema_rejects_what_the_parser_rejects(path, value):
    import jsonschema

    obj = _with(path, value)
    assert list(jsonschema.Draft4Validator(_crd_schema()).iter_errors(obj))
    with pytest.raises(ConfigError):
        parse_policy(obj)


@pytest.mark.parametrize(("actuator", "ok"), [("HPAFloor", True), ("Replicas", False)])
def test_shift_plan_needs_an_hpa_underneath(actuator, ok):
    obj = _with("spec.plan", "shift")
    obj["spec"]["actuator"] = actuator
    obj["spec"]["maxOverMedian"] = 0.5
    if ok:
        parsed = parse_policy(obj)
        assert parsed.scaling.plan == "shift" and parsed.scaling.max_over_median == 0.5
    else:
        with pytest.raises(ConfigError, match="shift needs the HPAFloor actuator"):
            parse_policy(obj)
