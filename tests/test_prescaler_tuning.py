"""PrescalePolicy ``spec.tuning``: the controller shows the recommendation stored with the model version it uses,
and in Apply mode decides with it within bounds; Recommend never changes behaviour; an unusable recommendation
keeps the spec's settings and never plans below the last one applied.

The controller runs against the fake API server with scripted forecasts (fixed clock); the pure choice of
settings is tested table-driven; the provider reads ``tuning.json`` from a real store directory.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pandas as pd
import pytest

from forecaster import recommendation
from forecaster.errors import ConfigError
from forecaster.prescaler.forecasts import ForecastResult, StoreForecastProvider
from forecaster.prescaler.policy import parse_policy
from forecaster.prescaler.recommended import use_recommendation
from forecaster.recommendation import TUNING_FILE, RecommendationError
from forecaster.store import ModelStore
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, forecast_frame, history, hpa, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

V1 = "20240501T021700Z-0123abcd"
MIN = pd.Timedelta(minutes=1)


def tuning_doc(
    *,
    slo: str = "short-minutes=0.5%",
    capacity: float = 100.0,
    tuned_at: str = "2024-05-01T02:17:00Z",
    fields: dict[str, Any] | None = None,
    hpa_target: float = 1.0,
    label: str = "shift-p50-+20% hpa@1",
) -> dict[str, Any]:
    """A stored recommendation in the format the training job writes (tests/test_tuning_training.py checks
    the real one parses the same way)."""
    spec = {
        "capacityPerReplica": capacity,
        "plan": "shift",
        "quantile": 0.5,
        "headroomPercent": 20.0,
        "maxOverMedian": 0.0,
        "leadTime": "3m",
        "interval": "1m",
        "scaleDown": {"stabilizationWindow": "0"},
    }
    spec.update(fields or {})
    expected = {
        "slo": slo,
        "slo_rate": 0.002,
        "slo_rate_upper": 0.004,
        "short_minutes": 12,
        "short_minute_rate": 0.002,
        "unserved_fraction": 0.0001,
        "replica_minutes": 50_000.0,
        "cost_vs_hpa_alone": -0.18,
    }
    alone = {
        "label": "hpa@0.7",
        "hpa": {"targetUtilisation": 0.7, "averageValue": 70.0},
        "policy": None,
        "expected": {
            **expected,
            "replica_minutes": 61_000.0,
            "short_minute_rate": 0.003,
            "cost_vs_hpa_alone": 0,
        },
    }
    return {
        "format": 1,
        "tunedAt": tuned_at,
        "carriedFrom": None,
        "inputs": {
            "slo": slo,
            "capacityPerReplica": capacity,
            "podStartup": "3m",
            "minReplicas": 1,
            "maxReplicas": 100,
        },
        "result": {
            "tuned_on": {"start": "2024-04-28 02:17:00", "end": "2024-05-01 02:16:00", "minutes": 4320},
            "recommended": {
                "label": label,
                "policy": spec,
                "hpa": {"targetUtilisation": hpa_target, "averageValue": capacity * hpa_target},
                "expected": expected,
            },
            "hpa_alone": alone,
        },
    }


class TunedForecasts(FakeForecasts):
    """Scripted forecasts (p90 1000, p50 500, from model version V1) and recommendations by version."""

    def __init__(self, recs: dict[str, Any]) -> None:
        super().__init__()
        self.recs = recs
        self.by_policy = {"live-api": self._result, "twin": self._result}

    @staticmethod
    def _result(now: pd.Timestamp) -> ForecastResult:
        return ForecastResult(
            frame=forecast_frame(now, p90=1000.0, p50=500.0),
            history=history(now, value=400.0),
            model_version=V1,
        )

    def recommendation(self, policy, version):
        what = self.recs.get(version)
        if isinstance(what, Exception):
            raise what
        return recommendation.parse(what) if what is not None else None


make = prescaler_helpers.controller


def seed(fake, **spec: Any) -> None:
    fake.put(deployment(replicas=3))
    fake.put(hpa(min_replicas=2))
    fake.put(policy(**spec))


def status(fake, name: str = "live-api") -> dict[str, Any]:
    return fake.get("prescalepolicies", NS, name).get("status") or {}


def tuning_condition(fake, name: str = "live-api") -> dict[str, str]:
    [cond] = [c for c in status(fake, name)["conditions"] if c["type"] == "TuningApplied"]
    return cond


def floor(fake) -> int:
    return fake.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"]


# -- the controller ---------------------------------------------------------------------------------------------


def test_recommend_mode_shows_the_recommendation_and_changes_nothing(fake_api, kube):
    seed(fake_api, tuning={"slo": "short-minutes=0.5%"})
    twin = policy("twin")  # the same policy without spec.tuning, on another workload
    twin["spec"]["scaleTargetRef"]["name"] = "twin"
    fake_api.put(twin)
    fake_api.put(deployment("twin", replicas=3))
    fake_api.put(hpa("twin", target="twin", min_replicas=2))
    ctl = make(kube, TunedForecasts({V1: tuning_doc()}))

    outcomes = {o.key: o for o in ctl.tick(NOW)}

    assert outcomes[f"{NS}/live-api"].desired == outcomes[f"{NS}/twin"].desired == 10  # p90 1000 / 100
    st = status(fake_api)
    assert st["quantile"] == "p90"
    tuning = st["tuning"]
    assert tuning["mode"] == "Recommend" and tuning["slo"] == "short-minutes=0.5%"
    assert tuning["modelVersion"] == V1 and tuning["tunedWith"] == V1
    assert tuning["tunedAt"] == "2024-05-01T02:17:00Z"
    assert tuning["recommended"] == {
        "setting": "shift-p50-+20% hpa@1",
        "plan": "shift",
        "quantile": 0.5,
        "headroomPercent": 20.0,
        "maxOverMedian": 0.0,
        "leadTime": "3m",
        "stabilizationWindow": "0",
        "hpaTargetUtilization": 1.0,
    }
    assert tuning["expected"]["shortMinuteRate"] == 0.002 and tuning["expected"]["costVsHPAAlone"] == -0.18
    assert tuning["hpaAlone"] == {
        "setting": "hpa@0.7",
        "targetUtilization": 0.7,
        "shortMinuteRate": 0.003,
        "replicaMinutes": 61000.0,
    }
    assert "applied" not in tuning
    cond = tuning_condition(fake_api)
    assert (cond["status"], cond["reason"]) == ("False", "ModeRecommend")
    assert "TuningApplied" not in {c["type"] for c in status(fake_api, "twin")["conditions"]}
    _valid_status(fake_api.get("prescalepolicies", NS, "live-api"))


def test_apply_mode_decides_with_the_recommended_settings(fake_api, kube):
    seed(fake_api, tuning={"slo": "short-minutes=0.5%", "mode": "Apply"})
    ctl = make(kube, TunedForecasts({V1: tuning_doc()}))

    [outcome] = ctl.tick(NOW)

    # shift on p50 + 20%: 500 x 1.2 / 100 = 6 (the spec's own p90 would be 10)
    assert outcome.desired == 6 and floor(fake_api) == 6
    st = status(fake_api)
    assert st["quantile"] == "p50"
    assert st["tuning"]["applied"] == {
        "plan": "shift",
        "quantile": 0.5,
        "headroomPercent": 20.0,
        "maxOverMedian": 0.0,
        "leadTime": "3m",
        "stabilizationWindow": "0",
    }
    cond = tuning_condition(fake_api)
    assert (cond["status"], cond["reason"]) == ("True", "Applied")
    assert "clamped" not in st["tuning"]
    _valid_status(fake_api.get("prescalepolicies", NS, "live-api"))


def test_apply_clamps_to_the_bounds_and_says_so(fake_api, kube):
    bounds = {"minQuantile": 0.9, "maxHeadroomPercent": 10}
    seed(fake_api, tuning={"slo": "short-minutes=0.5%", "mode": "Apply", "bounds": bounds})
    ctl = make(kube, TunedForecasts({V1: tuning_doc()}))

    [outcome] = ctl.tick(NOW)

    assert outcome.desired == 11  # p90 1000 x 1.1 / 100
    tuning = status(fake_api)["tuning"]
    assert tuning["applied"]["quantile"] == 0.9 and tuning["applied"]["headroomPercent"] == 10
    assert tuning["clamped"] == [
        "quantile 0.5 -> 0.9 (bounds.minQuantile)",
        "headroomPercent 20.0 -> 10 (bounds.maxHeadroomPercent)",
    ]
    assert "clamped to spec.tuning.bounds" in tuning_condition(fake_api)["message"]


@pytest.mark.parametrize(
    ("lost", "reason"),
    [
        (None, "NoRecommendation"),
        (RecommendationError("tuning.json is not valid JSON"), "RecommendationUnreadable"),
        (tuning_doc(slo="unserved=1%"), "SLOMismatch"),
    ],
)
def test_losing_the_recommendation_never_scales_down_by_itself(fake_api, kube, lost, reason):
    # The recommendation plans higher than the spec (p90 + 20% vs the spec's p50): 12 vs 5. The spec has no
    # scale-down stabilisation, so only the last applied recommendation can hold the 12.
    seed(
        fake_api,
        quantile=0.5,
        scaleDown={"stabilizationWindow": "0"},
        tuning={"slo": "short-minutes=0.5%", "mode": "Apply"},
    )
    recs: dict[str, Any] = {V1: tuning_doc(fields={"quantile": 0.9}, label="shift-p90-+20% hpa@1")}
    ctl = make(kube, TunedForecasts(recs))
    ctl.tick(NOW)
    assert floor(fake_api) == 12

    recs[V1] = lost
    [outcome] = ctl.tick(NOW + MIN)
    [again] = ctl.tick(NOW + 2 * MIN)

    assert outcome.desired == again.desired == 12 and floor(fake_api) == 12
    tuning = status(fake_api)["tuning"]
    assert "applied" not in tuning and tuning["lastApplied"]["quantile"] == 0.9
    cond = tuning_condition(fake_api)
    assert (cond["status"], cond["reason"]) == ("False", reason)
    assert "never planning below the last applied recommendation" in cond["message"]
    assert status(fake_api)["conditions"][0]["status"] == "True", "the forecast itself is fine: still Ready"


def test_switching_back_to_recommend_uses_the_spec_again(fake_api, kube):
    seed(
        fake_api,
        quantile=0.5,
        scaleDown={"stabilizationWindow": "0"},
        tuning={"slo": "short-minutes=0.5%", "mode": "Apply"},
    )
    ctl = make(kube, TunedForecasts({V1: tuning_doc(fields={"quantile": 0.9})}))
    ctl.tick(NOW)
    obj = fake_api.get("prescalepolicies", NS, "live-api")
    obj["spec"]["tuning"]["mode"] = "Recommend"
    fake_api.put(obj)

    [outcome] = ctl.tick(NOW + MIN)

    assert outcome.desired == 5  # the spec's p50 500 / 100: the user's choice, not a lost recommendation
    assert tuning_condition(fake_api)["reason"] == "ModeRecommend"


# -- the pure choice ------------------------------------------------------------------------------------------------


def _obj(**tuning: Any) -> dict[str, Any]:
    return policy(tuning={"slo": "short-minutes=0.5%", "mode": "Apply", **tuning}, actuator="HPAFloor")


# (description, spec.tuning extras, recommendation document or None, reason, what the message says)
CASES = [
    ("no file", {}, None, "NoRecommendation", "set tuning.slo and tuning.capacityPerReplica in target"),
    ("other SLO", {}, tuning_doc(slo="unserved=0.1%"), "SLOMismatch", "set tuning.slo: short-minutes=0.5%"),
    ("other capacity", {}, tuning_doc(capacity=80.0), "CapacityMismatch", "capacityPerReplica 80"),
    (
        "stale",
        {"every": "24h"},
        tuning_doc(tuned_at="2024-04-28T02:17:00Z"),
        "RecommendationStale",
        "more than 2 x spec.tuning.every (1d) ago",
    ),
    (
        "HPA below the bound",
        {"bounds": {"minHPATargetUtilization": 0.9}},
        tuning_doc(hpa_target=0.8),
        "OutOfBounds",
        "below spec.tuning.bounds.minHPATargetUtilization 0.9",
    ),
    (
        "quantile the model lacks",
        {"bounds": {"minQuantile": 0.95}},
        tuning_doc(),
        "NotApplicable",
        "not the p95 to apply",
    ),
    ("fresh enough", {"every": "24h"}, tuning_doc(tuned_at="2024-04-30T02:17:00Z"), "Applied", "applying"),
]


@pytest.mark.parametrize(
    ("extra", "doc", "reason", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_which_recommendations_are_used(extra, doc, reason, says):
    obj = _obj(**extra)
    spec_policy = parse_policy(obj)
    rec = recommendation.parse(doc) if doc is not None else None

    use = use_recommendation(
        obj,
        spec_policy,
        recommendation=rec,
        problem=None,
        model_version=V1,
        now=NOW,
        old_status={},
        columns=("p50", "p90"),
        actuator="HPAFloor",
    )

    assert use is not None
    assert use.condition["reason"] == reason and says in use.condition["message"], use.condition["message"]
    if reason == "Applied":
        assert use.policy.scaling.quantile == 0.5 and use.policy.scaling.plan == "shift"
    else:
        assert use.policy is spec_policy and use.fallback is None


def test_a_shift_recommendation_needs_a_floor_actuator():
    obj = policy(tuning={"slo": "short-minutes=0.5%", "mode": "Apply"}, actuator="Replicas")
    use = use_recommendation(
        obj,
        parse_policy(obj),
        recommendation=recommendation.parse(tuning_doc()),
        problem=None,
        model_version=V1,
        now=NOW,
        old_status={},
        actuator="Replicas",
    )
    assert use is not None and use.condition["reason"] == "NotApplicable"
    assert "shift needs the HPAFloor actuator" in use.condition["message"]


# -- spec.tuning validation -------------------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    from tests.test_manifests import _our_crd_schemas

    return _our_crd_schemas()[("prescaling.forecaster.io/v1alpha1", "PrescalePolicy")]


def _valid_status(obj: dict[str, Any]) -> None:
    errors = list(jsonschema.Draft4Validator(_schema()).iter_errors(obj))
    assert not errors, [e.message for e in errors]


# (description, spec.tuning, the parser's message, whether the CRD schema rejects it at admission)
BAD = [
    ("no slo", {"mode": "Apply"}, "spec.tuning.slo: is required", True),
    ("bad slo", {"slo": "latency=1%"}, "SLO metric 'latency' is unknown", True),
    ("slo of 0", {"slo": "unserved=0%"}, "must be above 0", False),
    ("bad mode", {"slo": "unserved=1%", "mode": "Auto"}, "must be Recommend or Apply", True),
    ("bad every", {"slo": "unserved=1%", "every": "daily"}, "spec.tuning.every", True),
    ("unknown field", {"slo": "unserved=1%", "period": "1d"}, "unknown field(s) period", True),
    (
        "unknown bound",
        {"slo": "unserved=1%", "bounds": {"maxQuantil": 0.9}},
        "unknown field(s) maxQuantil",
        True,
    ),
    ("quantile bound of 1", {"slo": "unserved=1%", "bounds": {"maxQuantile": 1}}, "between 0 and 1", True),
    (
        "min above max",
        {"slo": "unserved=1%", "bounds": {"minQuantile": 0.9, "maxQuantile": 0.5}},
        "minQuantile (0.9) is above maxQuantile (0.5)",
        False,  # a CEL rule, enforced by the API server, not by JSON schema
    ),
    ("bad lead bound", {"slo": "unserved=1%", "bounds": {"maxLeadTime": "5 min"}}, "maxLeadTime", True),
]


@pytest.mark.parametrize(("tuning", "message", "admission"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_tuning_specs_are_rejected_by_name(tuning, message, admission):
    obj = policy(tuning=tuning)
    with pytest.raises(ConfigError) as err:
        parse_policy(obj)
    assert message in str(err.value) and f"{NS}/live-api: spec.tuning" in str(err.value)
    assert bool(list(jsonschema.Draft4Validator(_schema()).iter_errors(obj))) == admission


def test_tuning_needs_a_model_store_target():
    obj = policy(tuning={"slo": "unserved=1%"}, forecast={"query": "sum(x)", "modelPath": "/models/x"})
    with pytest.raises(ConfigError, match="needs forecast.target"):
        parse_policy(obj)


def test_a_good_tuning_spec_parses_with_defaults():
    parsed = parse_policy(policy(tuning={"slo": "short-minutes=0.50%", "every": "24h"})).tuning
    assert parsed is not None
    assert (parsed.slo, parsed.mode, parsed.every_s) == ("short-minutes=0.5%", "Recommend", 86400.0)
    assert parsed.bounds.min_quantile is None
    assert not list(
        jsonschema.Draft4Validator(_schema()).iter_errors(policy(tuning={"slo": "unserved=0.1%"}))
    )


# -- the provider reads the store -------------------------------------------------------------------------------


def test_the_provider_reads_each_versions_recommendation_once(tmp_path, fake_api, kube):
    store = tmp_path / "models"
    folder = store / "live-streaming" / "versions" / V1
    folder.mkdir(parents=True)
    (folder / TUNING_FILE).write_text(json.dumps(tuning_doc()))
    provider = StoreForecastProvider(store=str(store), stores=ModelStore)
    parsed = parse_policy(policy(tuning={"slo": "short-minutes=0.5%"}))

    rec = provider.recommendation(parsed, V1)
    (folder / TUNING_FILE).unlink()  # a version's files never change: the first answer stands

    assert rec is not None and rec.label == "shift-p50-+20% hpa@1"
    assert provider.recommendation(parsed, V1) == rec
    other = "20240502T021700Z-4567cdef"
    assert provider.recommendation(parsed, other) is None
    bad = store / "live-streaming" / "versions" / "20240503T021700Z-89abcdef"
    bad.mkdir()
    doc = copy.deepcopy(tuning_doc())
    del doc["result"]["recommended"]["expected"]["slo_rate"]
    (bad / TUNING_FILE).write_text(json.dumps(doc))
    with pytest.raises(RecommendationError, match="recommended.expected.slo_rate is missing"):
        provider.recommendation(parsed, bad.name)
