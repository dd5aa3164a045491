"""The ForecastTarget <-> TargetConfig converter: round trips, every field spelt the Kubernetes way, and each bad
field rejected with its name (by the converter always, and by the CRD's schema at admission where it can)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import jsonschema
import pytest
import yaml

from forecaster.errors import ConfigError
from forecaster.settings import (
    ModelSettings,
    PrometheusSettings,
    TargetConfig,
    TrainSettings,
    TuningSettings,
    load_target_config,
)
from forecaster.target_resource import (
    SECTIONS,
    TrainingRecord,
    field_name,
    object_from_target_config,
    target_config_from_object,
    training_status,
)
from tests.test_manifests import _strict

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "k8s" / "base" / "crd-forecasttarget.yaml"


def _schema():
    crd = yaml.safe_load(CRD.read_text())
    schema = copy.deepcopy(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    strict = _strict(schema)
    strict["properties"]["metadata"].pop("additionalProperties", None)
    return strict


def _target(**spec):
    base = {
        "apiVersion": "forecasting.forecaster.io/v1alpha1",
        "kind": "ForecastTarget",
        "metadata": {"name": "web", "namespace": "forecaster"},
        "spec": {"prometheus": {"query": "sum(rate(http_requests_total[1m]))"}},
    }
    for path, value in spec.items():
        node = base["spec"]
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return base


def test_field_names_follow_kubernetes_spelling():
    assert field_name("max_points_per_query") == "maxPointsPerQuery"
    assert field_name("timeout_s") == "timeoutSeconds"
    assert field_name("backoff_s") == "backoffSeconds"
    assert field_name("epochs") == "epochs"


def test_every_settings_field_is_in_the_crd_schema():
    """A new settings field must be added to the CRD too, or kubectl apply would prune it."""
    spec = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    for section, cls in SECTIONS.items():
        declared = set(spec["properties"][section]["properties"])
        assert declared == {field_name(f.name) for f in dataclasses.fields(cls)}, section


def test_round_trip_keeps_every_field():
    cfg = TargetConfig(
        name="checkout",
        prometheus=PrometheusSettings(
            url="https://prom:9090",
            query='sum(rate(x{service="checkout"}[1m]))',
            step="30s",
            history="14d",
            timeout_s=12.5,
            bearer_token_env="TOKEN",
            insecure_skip_verify=True,
            retries=2,
            max_points_per_query=5000,
        ),
        model=ModelSettings(lookback="1h", horizon="15m", quantiles=(0.1, 0.5, 0.95), hidden_size=32),
        train=TrainSettings(epochs=3, learning_rate=1e-3, blend=False, backtest="1d", seed=7),
        tuning=TuningSettings(slo="unserved=0.1%", capacity_per_replica=80.0, pod_startup="2m", every="7d"),
        store="s3://bucket/models",
        description="checkout requests",
    )
    obj = object_from_target_config(cfg, namespace="forecaster")
    assert obj["spec"]["prometheus"]["timeoutSeconds"] == 12.5
    assert "dropout" not in obj["spec"]["model"], "defaults are left out"
    assert obj["spec"]["tuning"] == {
        "slo": "unserved=0.1%",
        "capacityPerReplica": 80.0,
        "podStartup": "2m",
        "every": "7d",
    }
    assert target_config_from_object(obj) == cfg
    assert not list(jsonschema.Draft4Validator(_schema()).iter_errors(obj))


def test_the_committed_declaration_loads_as_a_file():
    cfg = load_target_config(ROOT / "training" / "live-streaming.yaml")
    assert cfg.name == "live-streaming" and cfg.prometheus.timeout_s == 30.0
    assert cfg.prometheus.bearer_token_env == "PROMETHEUS_BEARER_TOKEN" and cfg.model.quantiles == (0.5, 0.9)


# (description, spec fields, the field the error names, whether the CRD schema rejects it at admission)
BAD = [
    ("bad step", {"prometheus.step": "1 minute"}, "spec.prometheus.step", True),
    ("bad history", {"prometheus.history": "4 weeks"}, "spec.prometheus.history", True),
    ("bad horizon", {"model.horizon": "30"}, "spec.model.horizon", True),
    ("bad lookback", {"model.lookback": "2hours"}, "spec.model.lookback", True),
    ("bad backtest", {"train.backtest": "x"}, "spec.train.backtest", True),
    ("missing query", {"prometheus.query": ""}, "spec.prometheus.query", True),
    ("unknown field", {"model.horizonMinutes": 30}, "spec.model.horizonMinutes", True),
    ("unknown section", {"training": {}}, "spec.training", True),
    ("snake case", {"prometheus.timeout_s": 3}, "spec.prometheus.timeout_s", True),
    ("wrong type", {"train.epochs": "many"}, "spec.train.epochs", True),
    ("bool for int", {"model.hiddenSize": True}, "spec.model.hiddenSize", True),
    ("quantiles not numbers", {"model.quantiles": ["p50"]}, "spec.model.quantiles", True),
    ("no median", {"model.quantiles": [0.9]}, "quantiles must include 0.5", False),  # CEL, not JSON schema
    ("horizon under a step", {"prometheus.step": "5m", "model.horizon": "1m"}, "at least one step", False),
    ("bad slo metric", {"tuning.slo": "latency=1%", "tuning.capacityPerReplica": 80}, "latency", True),
    ("bad slo limit", {"tuning.slo": "unserved=lots", "tuning.capacityPerReplica": 80}, "lots", True),
    ("slo of 100%", {"tuning.slo": "unserved=100%", "tuning.capacityPerReplica": 80}, "below 100%", False),
    (
        "bad tuning every",
        {"tuning.slo": "unserved=1%", "tuning.capacityPerReplica": 8, "tuning.every": "1 day"},
        "spec.tuning.every",
        True,
    ),
    ("slo without capacity", {"tuning.slo": "short-minutes=0.5%"}, "capacity_per_replica", False),  # CEL
    (
        "zero capacity",
        {"tuning.slo": "unserved=1%", "tuning.capacityPerReplica": 0},
        "capacity_per_replica",
        True,
    ),
]


@pytest.mark.parametrize(("spec", "named", "admission"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_fields_are_rejected_by_name(spec, named, admission):
    obj = _target(**spec)
    with pytest.raises(ConfigError) as err:
        target_config_from_object(obj, source="t.yaml")
    assert named in str(err.value) and "ForecastTarget forecaster/web" in str(err.value)
    schema_errors = list(jsonschema.Draft4Validator(_schema()).iter_errors(obj))
    assert bool(schema_errors) == admission


def test_bad_name_and_kind_are_rejected():
    obj = _target()
    obj["metadata"]["name"] = "Web_1"
    with pytest.raises(ConfigError, match="metadata.name"):
        target_config_from_object(obj)
    assert list(jsonschema.Draft4Validator(_schema()).iter_errors(obj))
    obj["metadata"]["name"] = "web--a"  # reserved for generated targets
    with pytest.raises(ConfigError, match="metadata.name"):
        target_config_from_object(obj)
    assert list(jsonschema.Draft4Validator(_schema()).iter_errors(obj))
    obj = _target()
    obj["kind"] = "PrescalePolicy"
    with pytest.raises(ConfigError, match="apiVersion/kind"):
        target_config_from_object(obj)


def test_status_keeps_the_last_promotion_through_a_failure():
    ok = TrainingRecord(
        target="web",
        finished_at="2026-11-30T02:20:00Z",
        duration_s=61.2,
        shard="1/4",
        version="v1",
        promoted=True,
        reason="beats seasonal naive",
    )
    status = training_status(ok, previous=None, generation=3)
    assert status["lastPromotion"] == {"time": "2026-11-30T02:20:00Z", "modelVersion": "v1"}
    assert status["lastTraining"]["outcome"] == "Promoted" and status["lastTraining"]["shard"] == "1/4"
    assert status["conditions"][0]["type"] == "Trained" and status["conditions"][0]["status"] == "True"
    failed = TrainingRecord(
        target="web",
        finished_at="2026-12-01T02:20:00Z",
        duration_s=2.0,
        shard="1/4",
        error="SourceError: down",
    )
    after = training_status(failed, previous=status, generation=3)
    assert after["lastPromotion"] == status["lastPromotion"], "an earlier promotion stays recorded"
    assert after["lastError"] == {"time": "2026-12-01T02:20:00Z", "message": "SourceError: down"}
    assert after["lastTraining"]["outcome"] == "Failed" and "modelVersion" not in after["lastTraining"]
    cond = after["conditions"][0]
    assert (cond["status"], cond["reason"], cond["lastTransitionTime"]) == (
        "False",
        "Failed",
        "2026-12-01T02:20:00Z",
    )
    again = training_status(failed, previous=after)
    assert again["conditions"][0]["lastTransitionTime"] == "2026-12-01T02:20:00Z", (
        "no flip, no new transition"
    )
    full = {
        "apiVersion": "forecasting.forecaster.io/v1alpha1",
        "kind": "ForecastTarget",
        "metadata": {"name": "web"},
        "spec": {"prometheus": {"query": "up"}},
        "status": after,
    }
    assert not list(jsonschema.Draft4Validator(_schema()).iter_errors(full))
