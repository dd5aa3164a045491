"""What an SRE relies on when writing a PrescalePolicy: every documented default, every boundary, every refusal.

Through :func:`forecaster.prescaler.policy.parse_policy` (and :func:`parse_quantity`) only: a policy object as
the API server gives it in, the parsed policy or a :class:`~forecaster.errors.ConfigError` naming the field out.
"""

from __future__ import annotations

import copy

import pytest

from forecaster.errors import ConfigError
from forecaster.prescaler.policy import load_policy_file, parse_policy, parse_quantity
from tests.prescaler_helpers import policy

MINIMAL = {
    "apiVersion": "prescaling.forecaster.io/v1alpha1",
    "kind": "PrescalePolicy",
    "metadata": {"name": "web"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "forecast": {"target": "live-streaming"},
        "capacityPerReplica": 100,
        "maxReplicas": 20,
    },
}


def minimal(**spec):
    obj = copy.deepcopy(MINIMAL)
    obj["spec"].update(spec)
    return obj


def test_the_documented_defaults_of_a_minimal_policy():
    """Nothing but the target, the forecast, the capacity and maxReplicas: every other field's default."""
    p = parse_policy(minimal())

    assert p.namespace == "default"
    assert p.mode == "Scale"
    assert p.actuator == "Auto"
    assert p.guard is None and p.tuning is None and p.node_group is None and p.workload_ref is None
    s = p.scaling
    assert s.capacity_per_replica == 100.0
    assert s.min_replicas == 1
    assert s.max_replicas == 20
    assert s.quantile == 0.9 and s.column == "p90"
    assert s.headroom == 0.0
    assert s.lead_time_s == 180.0
    assert s.interval_s == 60.0
    assert s.plan == "peak"
    assert s.scale_down_stabilization_s == 300.0
    assert s.scale_down_max_step == 0
    assert s.scale_down_period_s == 60.0
    assert s.max_over_median == 0.0
    f = p.forecast
    assert f.target == "live-streaming"
    assert f.step == "1m"
    assert f.max_staleness_s == 300.0
    assert f.prometheus_url is None


@pytest.mark.parametrize("actuator", ["HPAFloor", "KEDAScaledObject"])
def test_a_floor_actuator_defaults_to_shift_without_its_own_stabilisation(actuator):
    """On a floor under an autoscaler the measured best is the default: plan shift, no stabilisation window."""
    s = parse_policy(minimal(actuator=actuator)).scaling

    assert s.plan == "shift"
    assert s.scale_down_stabilization_s == 0.0


def test_a_floor_actuator_with_plan_peak_keeps_the_five_minute_window():
    s = parse_policy(minimal(actuator="HPAFloor", plan="peak")).scaling

    assert s.plan == "peak" and s.scale_down_stabilization_s == 300.0


@pytest.mark.parametrize(
    ("spec", "field", "expected"),
    [
        ({"headroomPercent": 25}, "headroom", 0.25),
        ({"headroomPercent": 0}, "headroom", 0.0),
        ({"headroomPercent": 1000}, "headroom", 10.0),
        ({"leadTime": "0"}, "lead_time_s", 0.0),
        ({"leadTime": "90s"}, "lead_time_s", 90.0),
        ({"leadTime": "1h30m"}, "lead_time_s", 5400.0),
        ({"interval": "30s"}, "interval_s", 30.0),
        ({"quantile": 0.5}, "quantile", 0.5),
        ({"quantile": 0.99}, "quantile", 0.99),
        ({"minReplicas": 0}, "min_replicas", 0),
        ({"minReplicas": 20}, "min_replicas", 20),
        ({"maxOverMedian": 0.5}, "max_over_median", 0.5),
        ({"scaleDown": {"stabilizationWindow": "0"}}, "scale_down_stabilization_s", 0.0),
        ({"scaleDown": {"stabilizationWindow": "10m"}}, "scale_down_stabilization_s", 600.0),
        ({"scaleDown": {"maxStep": 3}}, "scale_down_max_step", 3),
        ({"scaleDown": {"period": "2m"}}, "scale_down_period_s", 120.0),
        ({"plan": "rise"}, "plan", "rise"),
    ],
)
def test_each_scaling_field_is_read_in_its_unit(spec, field, expected):
    assert getattr(parse_policy(minimal(**spec)).scaling, field) == expected


def test_quantile_names_the_column_planned_on():
    assert parse_policy(minimal(quantile=0.5)).scaling.column == "p50"
    assert parse_policy(minimal(quantile=0.1)).scaling.column == "p10"


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ({"capacityPerReplica": 0}, "capacityPerReplica"),
        ({"capacityPerReplica": -5}, "capacityPerReplica"),
        ({"capacityPerReplica": True}, "capacityPerReplica"),
        ({"capacityPerReplica": "100"}, "capacityPerReplica"),
        ({"capacityPerReplica": float("nan")}, "capacityPerReplica"),
        ({"capacityPerReplica": None}, "capacityPerReplica"),
        ({"maxReplicas": None}, "maxReplicas"),
        ({"minReplicas": 21}, "minReplicas (21) is above maxReplicas (20)"),
        ({"minReplicas": -1}, "minReplicas"),
        ({"minReplicas": 1.5}, "minReplicas"),
        ({"headroomPercent": -1}, "headroomPercent"),
        ({"headroomPercent": 1001}, "headroomPercent"),
        ({"quantile": 1.0}, "quantile"),
        ({"quantile": 0.0}, "quantile"),
        ({"leadTime": "soon"}, "leadTime"),
        ({"interval": "0"}, "interval"),
        ({"scaleDown": {"maxStep": -1}}, "maxStep"),
        ({"scaleDown": {"window": "5m"}}, "window"),
        ({"mode": "scale"}, "mode"),
        ({"actuator": "HPA"}, "actuator"),
        ({"replicas": 3}, "replicas"),
        ({"plan": "shift"}, "plan"),
        ({"nodeGroup": {"podRequest": "1", "nodeAllocatable": "4"}}, "nodeGroup"),
        ({"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}}, "workloadRef"),
    ],
)
def test_a_bad_field_is_refused_by_name(spec, names):
    obj = minimal()
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    with pytest.raises(ConfigError) as info:
        parse_policy(obj)
    assert names in str(info.value)


def test_min_equal_to_max_is_a_fixed_size():
    s = parse_policy(minimal(minReplicas=20, maxReplicas=20)).scaling
    assert (s.min_replicas, s.max_replicas) == (20, 20)


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (lambda o: o.update(kind="PrescalePolicies"), "kind"),
        (lambda o: o.update(apiVersion="prescaling.forecaster.io/v1"), "apiVersion"),
        (lambda o: o["metadata"].update(name="Web_1"), "metadata.name"),
        (lambda o: o["spec"]["scaleTargetRef"].pop("name"), "missing name"),
        (lambda o: o["spec"]["scaleTargetRef"].update(kind="Pod", apiVersion="v1"), "unknown kind Pod"),
        (lambda o: o["spec"].update(forecast={}), "needs a target"),
        (lambda o: o["spec"].update(forecast={"target": "a", "query": "up"}), "not both"),
        (lambda o: o["spec"].update(forecast={"target": "../etc"}), "not a target name"),
        (lambda o: o["spec"].update(forecast={"query": "up"}), "needs a target"),
        (lambda o: o["spec"].update(forecast={"query": " ", "modelPath": "/m"}), "needs a target"),
        (
            lambda o: o["spec"].update(forecast={"target": "a", "prometheusUrl": "prom:9090"}),
            "prometheusUrl",
        ),
        (lambda o: o["spec"].update(forecast={"target": "a", "maxStaleness": "x"}), "maxStaleness"),
        (lambda o: o["spec"].update(forecast={"target": "a", "step": "1 minute"}), "step"),
        (lambda o: o["spec"].update(forecast={"target": "a", "model": "x"}), "model"),
    ],
)
def test_a_bad_object_is_refused_by_name(change, names):
    obj = minimal()
    change(obj)
    with pytest.raises(ConfigError) as info:
        parse_policy(obj)
    assert names in str(info.value)


def test_the_query_and_model_path_form_with_its_own_server_and_staleness():
    p = parse_policy(
        minimal(
            forecast={
                "query": "sum(rate(x[1m]))",
                "modelPath": "/models/x",
                "prometheusUrl": "https://prom:9090",
                "maxStaleness": "10m",
                "step": "5m",
            }
        )
    )
    assert p.forecast.target is None
    assert p.forecast.query == "sum(rate(x[1m]))" and p.forecast.model_path == "/models/x"
    assert p.forecast.prometheus_url == "https://prom:9090"
    assert p.forecast.max_staleness_s == 600.0
    assert p.forecast.step == "5m"


def test_metadata_is_carried():
    obj = minimal()
    obj["metadata"].update(
        namespace="shop",
        uid="u-7",
        generation=4,
        finalizers=["a/b", "prescaling.forecaster.io/restore"],
        deletionTimestamp="2024-05-01T20:00:00Z",
    )
    p = parse_policy(obj)
    assert p.key == "shop/web"
    assert (p.uid, p.generation, p.deleting) == ("u-7", 4, True)
    assert p.finalizers == ("a/b", "prescaling.forecaster.io/restore")
    assert parse_policy(minimal()).deleting is False


@pytest.mark.parametrize(
    ("guard", "expected"),
    [
        ({"maxError": 0.3}, (0.3, 3600.0, 10, 0.8)),
        ({"maxError": 0.5, "window": "30m", "minSamples": 5, "recoverRatio": 1}, (0.5, 1800.0, 5, 1.0)),
        ({"maxError": 0.5, "minSamples": 0}, (0.5, 3600.0, 1, 0.8)),
        ({"maxError": 2}, (2.0, 3600.0, 10, 0.8)),
    ],
)
def test_the_accuracy_guard_fields_and_defaults(guard, expected):
    g = parse_policy(minimal(accuracyGuard=guard)).guard
    assert g is not None
    assert (g.max_error, g.window_s, g.min_samples, g.recover_ratio) == expected


@pytest.mark.parametrize(
    ("guard", "names"),
    [
        ({}, "maxError"),
        ({"maxError": 0}, "maxError"),
        ({"maxError": -0.1}, "maxError"),
        ({"maxError": 0.3, "recoverRatio": 0}, "recoverRatio"),
        ({"maxError": 0.3, "recoverRatio": 1.01}, "recoverRatio"),
        ({"maxError": 0.3, "window": "never"}, "window"),
        ({"maxError": 0.3, "minSamples": -2}, "minSamples"),
        ({"maxError": 0.3, "samples": 3}, "samples"),
    ],
)
def test_a_bad_accuracy_guard_is_refused_by_name(guard, names):
    with pytest.raises(ConfigError) as info:
        parse_policy(minimal(accuracyGuard=guard))
    assert "accuracyGuard" in str(info.value) and names in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        ("3800m", 3.8),
        ("1.5", 1.5),
        (".5", 0.5),
        ("2k", 2000.0),
        ("1M", 1e6),
        ("1G", 1e9),
        ("14Gi", 14 * 2**30),
        ("1Ki", 1024.0),
        ("1Mi", 2**20),
        (4, 4.0),
        (0.25, 0.25),
        (" 2 ", 2.0),
    ],
)
def test_kubernetes_quantities(value, expected):
    assert parse_quantity(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["0", "0m", 0, -1, "-1", "2 cores", "1Gb", "", True, float("inf"), "1e3"])
def test_a_bad_quantity_is_refused(value):
    with pytest.raises(ConfigError):
        parse_quantity(value, path="spec.nodeGroup.podRequest")


def node_group_policy(**node_group):
    obj = policy(
        kind="MachineDeployment",
        api_version="cluster.x-k8s.io/v1beta1",
        target="workers",
        nodeGroup={"podRequest": "500m", "nodeAllocatable": "3800m", **node_group},
    )
    return obj


def test_a_node_group_resolves_auto_and_reads_its_sizes():
    p = parse_policy(node_group_policy(maxPodsPerNode=6, minNodes=2, maxNodes=10))
    assert p.actuator == "NodeGroup"
    ng = p.node_group
    assert ng is not None
    assert (ng.pod_request, ng.node_allocatable) == pytest.approx((0.5, 3.8))
    assert (ng.max_pods_per_node, ng.min_nodes, ng.max_nodes, ng.region) == (6, 2, 10, None)


def test_node_group_defaults_and_boundaries():
    ng = parse_policy(node_group_policy()).node_group
    assert ng is not None and (ng.max_pods_per_node, ng.min_nodes, ng.max_nodes) == (None, 0, None)
    # a pod as large as the node fits; min == max nodes is a fixed size
    assert parse_policy(node_group_policy(podRequest="3800m")).node_group.pod_request == pytest.approx(3.8)
    assert parse_policy(node_group_policy(minNodes=3, maxNodes=3)).node_group.max_nodes == 3


@pytest.mark.parametrize(
    ("node_group", "names"),
    [
        ({"podRequest": "4"}, "does not fit"),
        ({"minNodes": 4, "maxNodes": 3}, "minNodes (4) is above maxNodes (3)"),
        ({"maxPodsPerNode": 0}, "maxPodsPerNode"),
        ({"nodeAllocatable": None}, "nodeAllocatable"),
        ({"size": 3}, "size"),
    ],
)
def test_a_bad_node_group_is_refused_by_name(node_group, names):
    obj = node_group_policy(**node_group)
    obj["spec"]["nodeGroup"] = {k: v for k, v in obj["spec"]["nodeGroup"].items() if v is not None}
    with pytest.raises(ConfigError) as info:
        parse_policy(obj)
    assert names in str(info.value)


def test_an_auto_scaling_group_needs_a_node_group_and_keeps_its_region():
    obj = policy(
        kind="AutoScalingGroup",
        api_version="autoscaling.aws/v1",
        target="workers",
        nodeGroup={"podRequest": 1, "nodeAllocatable": 4, "region": "eu-west-1"},
    )
    p = parse_policy(obj)
    assert p.actuator == "AutoScalingGroup" and p.node_group.region == "eu-west-1"
    del obj["spec"]["nodeGroup"]
    with pytest.raises(ConfigError, match="nodeGroup"):
        parse_policy(obj)


@pytest.mark.parametrize(
    ("kind", "actuator", "ok"),
    [
        ("Deployment", "Replicas", True),
        ("StatefulSet", "Replicas", True),
        ("Deployment", "HPAFloor", True),
        ("Deployment", "KEDAScaledObject", True),
        ("Deployment", "NodeGroup", False),
        ("Deployment", "AutoScalingGroup", False),
    ],
)
def test_which_actuator_acts_on_a_workload(kind, actuator, ok):
    obj = policy(kind=kind, actuator=actuator, plan="peak")
    if ok:
        assert parse_policy(obj).actuator == actuator
    else:
        with pytest.raises(ConfigError, match="actuator"):
            parse_policy(obj)


def test_a_node_group_refuses_a_workload_actuator_and_names_the_right_one():
    obj = node_group_policy()
    obj["spec"]["actuator"] = "Replicas"
    with pytest.raises(ConfigError) as info:
        parse_policy(obj)
    assert "Replicas cannot act on a MachineDeployment" in str(info.value)
    assert "NodeGroup" in (info.value.hint or "")


def test_the_placeholder_needs_a_workload_deployment_or_statefulset():
    obj = policy(
        target="placeholder",
        actuator="Placeholder",
        workloadRef={"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
    )
    p = parse_policy(obj)
    assert p.workload_ref is not None and (p.workload_ref.kind, p.workload_ref.name) == ("StatefulSet", "db")
    obj["spec"]["workloadRef"] = {"apiVersion": "batch/v1", "kind": "Job", "name": "db"}
    with pytest.raises(ConfigError, match="workloadRef"):
        parse_policy(obj)
    del obj["spec"]["workloadRef"]
    with pytest.raises(ConfigError, match="workloadRef"):
        parse_policy(obj)


def tuning(**spec):
    return minimal(tuning={"slo": "short-minutes=0.5%", **spec})


def test_tuning_defaults_to_recommend_with_no_period_and_no_bounds():
    t = parse_policy(tuning()).tuning
    assert t is not None
    assert t.mode == "Recommend" and t.every_s is None
    b = t.bounds
    assert (b.min_quantile, b.max_quantile, b.max_headroom_percent) == (None, None, None)
    assert (b.max_lead_time_s, b.max_stabilization_s, b.min_hpa_target_utilization) == (None, None, None)


def test_tuning_bounds_in_their_units():
    t = parse_policy(
        tuning(
            mode="Apply",
            every="12h",
            bounds={
                "minQuantile": 0.5,
                "maxQuantile": 0.95,
                "maxHeadroomPercent": 50,
                "maxLeadTime": "10m",
                "maxStabilizationWindow": "0",
                "minHPATargetUtilization": 1,
            },
        )
    ).tuning
    assert t.mode == "Apply" and t.every_s == 43200.0
    b = t.bounds
    assert (b.min_quantile, b.max_quantile, b.max_headroom_percent) == (0.5, 0.95, 50.0)
    assert (b.max_lead_time_s, b.max_stabilization_s, b.min_hpa_target_utilization) == (600.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ({"mode": "apply"}, "mode"),
        ({"slo": None}, "slo"),
        ({"bounds": {"minQuantile": 1}}, "minQuantile"),
        ({"bounds": {"maxQuantile": 0}}, "maxQuantile"),
        (
            {"bounds": {"minQuantile": 0.9, "maxQuantile": 0.5}},
            "minQuantile (0.9) is above maxQuantile (0.5)",
        ),
        ({"bounds": {"maxHeadroomPercent": -1}}, "maxHeadroomPercent"),
        ({"bounds": {"minHPATargetUtilization": 1.2}}, "minHPATargetUtilization"),
        ({"bounds": {"maxReplicas": 3}}, "maxReplicas"),
        ({"every": "daily"}, "every"),
    ],
)
def test_a_bad_tuning_section_is_refused_by_name(spec, names):
    obj = tuning(**spec)
    if obj["spec"]["tuning"].get("slo") is None:
        del obj["spec"]["tuning"]["slo"]
    with pytest.raises(ConfigError) as info:
        parse_policy(obj)
    assert names in str(info.value)


def test_tuning_needs_a_model_store_target():
    obj = tuning()
    obj["spec"]["forecast"] = {"query": "up", "modelPath": "/m"}
    with pytest.raises(ConfigError, match="forecast.target"):
        parse_policy(obj)


def test_a_policy_file_lists_every_document_and_list_items(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "kind: PrescalePolicy\nmetadata: {name: a}\n---\n---\n"
        "kind: List\nitems:\n- {kind: PrescalePolicy, metadata: {name: b}}\n"
        "- {kind: PrescalePolicy, metadata: {name: c}}\n"
    )
    assert [d["metadata"]["name"] for d in load_policy_file(path)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "names"), [("", "no PrescalePolicy"), ("- a\n- b\n", "document 1"), ("a: [", "invalid YAML")]
)
def test_a_bad_policy_file_is_refused_by_name(tmp_path, text, names):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=names):
        load_policy_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy_file(tmp_path / "missing.yaml")


# -- every refusal names the field's full path, for the status condition --------------------------------------

W = "default/web: spec"


def _drop(obj, key):
    obj["spec"].pop(key)
    return obj


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda o: o["spec"].update(capacityPerReplica=0), f"{W}.capacityPerReplica: must be > 0, got 0"),
        (
            lambda o: o["spec"].update(capacityPerReplica="100"),
            f"{W}.capacityPerReplica: must be a number, got '100'",
        ),
        (lambda o: _drop(o, "capacityPerReplica"), f"{W}.capacityPerReplica: is required"),
        (lambda o: _drop(o, "maxReplicas"), f"{W}.maxReplicas: is required"),
        (lambda o: o["spec"].update(minReplicas=-1), f"{W}.minReplicas: must be >= 0, got -1"),
        (lambda o: o["spec"].update(minReplicas=1.5), f"{W}.minReplicas: must be a whole number, got 1.5"),
        (lambda o: o["spec"].update(minReplicas=21), f"{W}: minReplicas (21) is above maxReplicas (20)"),
        (
            lambda o: o["spec"].update(headroomPercent=1001),
            f"{W}.headroomPercent: must be between 0 and 1000, got 1001",
        ),
        (lambda o: o["spec"].update(leadTime="soon"), f"{W}.leadTime: cannot parse duration 'soon'"),
        (lambda o: o["spec"].update(scaleDown={"window": 1}), f"{W}.scaleDown: unknown field(s) window"),
        (
            lambda o: o["spec"].update(scaleDown={"maxStep": -1}),
            f"{W}.scaleDown.maxStep: must be >= 0, got -1",
        ),
        (
            lambda o: o["spec"].update(scaleDown={"period": "x"}),
            f"{W}.scaleDown.period: cannot parse duration 'x'",
        ),
        (lambda o: o["spec"].update(scaleDown=[1]), f"{W}.scaleDown: expected a mapping, got list"),
        (lambda o: o["spec"].update(forecast={}), f"{W}.forecast: needs a target"),
        (lambda o: o["spec"].update(forecast=None), f"{W}.forecast: expected a mapping, got nothing"),
        (
            lambda o: o["spec"].update(forecast={"target": "a", "query": "q"}),
            f"{W}.forecast: give either target",
        ),
        (
            lambda o: o["spec"].update(forecast={"target": "../x"}),
            f"{W}.forecast.target: '../x' is not a target name",
        ),
        (lambda o: o["spec"].update(forecast={"target": "a", "x": 1}), f"{W}.forecast: unknown field(s) x"),
        (
            lambda o: o["spec"].update(forecast={"target": "a", "prometheusUrl": "prom:9090"}),
            f"{W}.forecast.prometheusUrl: 'prom:9090' must start with http:// or https://",
        ),
        (
            lambda o: o["spec"].update(forecast={"target": "a", "maxStaleness": "x"}),
            f"{W}.forecast.maxStaleness: cannot parse duration 'x'",
        ),
        (
            lambda o: o["spec"].update(forecast={"target": "a", "step": "x"}),
            f"{W}.forecast.step: cannot parse duration 'x'",
        ),
        (lambda o: o["spec"].update(accuracyGuard={}), f"{W}.accuracyGuard.maxError: is required"),
        (
            lambda o: o["spec"].update(accuracyGuard={"maxError": 0}),
            f"{W}.accuracyGuard.maxError: must be > 0, got 0",
        ),
        (
            lambda o: o["spec"].update(accuracyGuard={"maxError": 1, "recoverRatio": 2}),
            f"{W}.accuracyGuard.recoverRatio: must be in (0, 1], got 2",
        ),
        (
            lambda o: o["spec"].update(accuracyGuard={"maxError": 1, "x": 1}),
            f"{W}.accuracyGuard: unknown field(s) x",
        ),
        (
            lambda o: o["spec"].update(accuracyGuard={"maxError": 1, "window": "x"}),
            f"{W}.accuracyGuard.window: cannot parse duration 'x'",
        ),
        (
            lambda o: o["spec"].update(accuracyGuard={"maxError": 1, "minSamples": -2}),
            f"{W}.accuracyGuard.minSamples: must be >= 0, got -2",
        ),
        (
            lambda o: o["spec"].update(accuracyGuard={"maxError": 1, "recoverRatio": "x"}),
            f"{W}.accuracyGuard.recoverRatio: must be a number",
        ),
        (
            lambda o: o["spec"].update(nodeGroup={"podRequest": 1, "nodeAllocatable": 4}),
            f"{W}.nodeGroup: only applies to node-group targets, not a Deployment",
        ),
        (
            lambda o: o["spec"].update(
                workloadRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}
            ),
            f"{W}.workloadRef: only applies to the Placeholder actuator",
        ),
        (lambda o: o["spec"].update(mode="Off"), f"{W}.mode: must be Scale or Forecast, got 'Off'"),
        (lambda o: o["spec"].update(actuator="HPA"), f"{W}.actuator: unknown actuator 'HPA'"),
        (
            lambda o: o["spec"].update(actuator="NodeGroup"),
            f"{W}.actuator: NodeGroup needs a node group target, not a Deployment",
        ),
        (
            lambda o: o["spec"].update(scaleTargetRef={"apiVersion": "apps/v1", "kind": "Deployment"}),
            f"{W}.scaleTargetRef: missing name",
        ),
        (
            lambda o: o["spec"].update(
                scaleTargetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "A"}
            ),
            f"{W}.scaleTargetRef.name: 'A' is not a valid object name",
        ),
        (lambda o: o["spec"].update(x=1), f"{W}: unknown field(s) x"),
        (lambda o: o.update(spec=None), f"{W}: expected a mapping, got nothing"),
        (lambda o: o["spec"].update(tuning={}), f"{W}.tuning.slo: is required"),
        (lambda o: o["spec"].update(tuning={"slo": "fast"}), f"{W}.tuning.slo: "),
        (
            lambda o: o["spec"].update(tuning={"slo": "short-minutes=1%", "mode": "x"}),
            f"{W}.tuning.mode: must be Recommend or Apply, got 'x'",
        ),
        (
            lambda o: o["spec"].update(tuning={"slo": "short-minutes=1%", "x": 1}),
            f"{W}.tuning: unknown field(s) x",
        ),
        (
            lambda o: o["spec"].update(tuning={"slo": "short-minutes=1%", "every": "x"}),
            f"{W}.tuning.every: cannot parse duration 'x'",
        ),
        (
            lambda o: o["spec"].update(tuning={"slo": "short-minutes=1%", "bounds": {"x": 1}}),
            f"{W}.tuning.bounds: unknown field(s) x",
        ),
        (
            lambda o: o["spec"].update(tuning={"slo": "short-minutes=1%", "bounds": {"minQuantile": 1}}),
            f"{W}.tuning.bounds.minQuantile: must be between 0 and 1, got 1",
        ),
        (
            lambda o: o["spec"].update(
                tuning={"slo": "short-minutes=1%", "bounds": {"maxHeadroomPercent": -1}}
            ),
            f"{W}.tuning.bounds.maxHeadroomPercent: must be >= 0, got -1",
        ),
        (
            lambda o: o["spec"].update(
                tuning={"slo": "short-minutes=1%", "bounds": {"maxHeadroomPercent": "x"}}
            ),
            f"{W}.tuning.bounds.maxHeadroomPercent: must be a number",
        ),
        (
            lambda o: o["spec"].update(tuning={"slo": "short-minutes=1%", "bounds": {"maxLeadTime": "x"}}),
            f"{W}.tuning.bounds.maxLeadTime: cannot parse duration 'x'",
        ),
        (
            lambda o: o["spec"].update(
                tuning={"slo": "short-minutes=1%", "bounds": {"maxStabilizationWindow": "x"}}
            ),
            f"{W}.tuning.bounds.maxStabilizationWindow: cannot parse duration 'x'",
        ),
        (
            lambda o: o["spec"].update(
                tuning={"slo": "short-minutes=1%", "bounds": {"minQuantile": 0.9, "maxQuantile": 0.5}}
            ),
            f"{W}.tuning.bounds: minQuantile (0.9) is above maxQuantile (0.5)",
        ),
        (
            lambda o: o["spec"].update(
                tuning={"slo": "short-minutes=1%"}, forecast={"query": "q", "modelPath": "/m"}
            ),
            f"{W}.tuning: needs forecast.target",
        ),
    ],
)
def test_each_refusal_names_the_fields_full_path(change, problem):
    obj = minimal()
    change(obj)
    with pytest.raises(ConfigError) as info:
        parse_policy(obj)
    assert info.value.problem.startswith(problem), info.value.problem


@pytest.mark.parametrize(
    ("node_group", "problem"),
    [
        ({"podRequest": "2 cores"}, "live/live-api: spec.nodeGroup.podRequest: '2 cores' is not a quantity"),
        ({"podRequest": 0}, "live/live-api: spec.nodeGroup.podRequest: must be > 0, got 0"),
        ({"podRequest": "0"}, "live/live-api: spec.nodeGroup.podRequest: must be > 0, got '0'"),
        ({"nodeAllocatable": "x"}, "live/live-api: spec.nodeGroup.nodeAllocatable: 'x' is not a quantity"),
        (
            {"podRequest": "4"},
            "live/live-api: spec.nodeGroup: a pod requesting 4 does not fit a node with 3800m",
        ),
        ({"minNodes": 4, "maxNodes": 3}, "live/live-api: spec.nodeGroup: minNodes (4) is above maxNodes (3)"),
        ({"minNodes": -1}, "live/live-api: spec.nodeGroup.minNodes: must be >= 0, got -1"),
        ({"maxNodes": 1.5}, "live/live-api: spec.nodeGroup.maxNodes: must be a whole number, got 1.5"),
        ({"maxPodsPerNode": 0}, "live/live-api: spec.nodeGroup.maxPodsPerNode: must be at least 1"),
        ({"maxPodsPerNode": -3}, "live/live-api: spec.nodeGroup.maxPodsPerNode: must be >= 0"),
        ({"x": 1}, "live/live-api: spec.nodeGroup: unknown field(s) x"),
    ],
)
def test_node_group_refusals_name_the_fields_full_path(node_group, problem):
    with pytest.raises(ConfigError) as info:
        parse_policy(node_group_policy(**node_group))
    assert info.value.problem.startswith(problem), info.value.problem


def test_a_missing_node_group_field_says_what_to_give():
    obj = node_group_policy()
    del obj["spec"]["nodeGroup"]["podRequest"]
    with pytest.raises(ConfigError) as info:
        parse_policy(obj)
    assert info.value.problem == "live/live-api: spec.nodeGroup.podRequest: is required"
    assert "500m and 3800m" in info.value.hint
    bad = parse_quantity
    with pytest.raises(ConfigError) as info:
        bad("x", path="p")
    assert info.value.hint == "e.g. 500m, 2, 14Gi"


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        ({"maxReplicas": None}, "the most replicas the prescaler may ask for"),
        ({"capacityPerReplica": 0}, "e.g. 80 (requests/s)"),
        ({"leadTime": "x"}, "use forms like"),
        ({"mode": "x"}, "Forecast = compute and publish only"),
        ({"forecast": {}}, "e.g. forecast: {target: live-streaming}"),
        ({"forecast": {"target": "X"}}, "a file name in training/"),
        ({"accuracyGuard": {"maxError": 0}}, "a WAPE fraction, e.g. 0.3"),
        ({"tuning": {}}, "e.g. short-minutes=0.5% or unserved=0.1%"),
        ({"tuning": {"slo": "short-minutes=1%", "mode": "x"}}, "Recommend shows the tuned settings"),
        ({"x": 1}, "known: "),
    ],
)
def test_refusals_say_what_to_write_instead(spec, hint):
    obj = minimal()
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key)
        else:
            obj["spec"][key] = value
    with pytest.raises(ConfigError) as info:
        parse_policy(obj)
    assert hint in (info.value.hint or ""), info.value.hint


@pytest.mark.parametrize(
    ("spec", "field", "value"),
    [
        ({"leadTime": 0}, "lead_time_s", 0.0),
        ({"leadTime": "0s"}, "lead_time_s", 0.0),
        ({"scaleDown": {"stabilizationWindow": 0}}, "scale_down_stabilization_s", 0.0),
        ({"capacityPerReplica": 0.5}, "capacity_per_replica", 0.5),
        ({"capacityPerReplica": 1}, "capacity_per_replica", 1.0),
        ({"headroomPercent": 0.5}, "headroom", 0.005),
    ],
)
def test_zero_and_small_values_where_they_are_valid(spec, field, value):
    assert getattr(parse_policy(minimal(**spec)).scaling, field) == pytest.approx(value)


def test_the_tuning_slo_is_normalised_and_lone_or_equal_bounds_are_valid():
    for written in ("short-minutes=0.5%", "short-minutes = 0.50 %", "short-minutes=.5%"):
        assert parse_policy(tuning(slo=written)).tuning.slo == "short-minutes=0.5%"
    b = parse_policy(tuning(bounds={"maxQuantile": 0.5})).tuning.bounds
    assert (b.min_quantile, b.max_quantile) == (None, 0.5)
    b = parse_policy(tuning(bounds={"minQuantile": 0.6, "maxQuantile": 0.6})).tuning.bounds
    assert b.min_quantile == b.max_quantile == 0.6
    b = parse_policy(
        tuning(bounds={"maxHeadroomPercent": 0, "maxLeadTime": "0", "maxStabilizationWindow": "5m"})
    ).tuning.bounds
    assert (b.max_headroom_percent, b.max_lead_time_s, b.max_stabilization_s) == (0.0, 0.0, 300.0)
    b = parse_policy(tuning(bounds={"maxHeadroomPercent": 0.5, "maxLeadTime": 0})).tuning.bounds
    assert (b.max_headroom_percent, b.max_lead_time_s) == (0.5, 0.0)
