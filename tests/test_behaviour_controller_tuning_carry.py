"""``spec.tuning`` across model versions: a recommendation carried from an earlier version says which version it
was tuned with, and the last applied recommendation is no floor candidate once the model no longer predicts
its quantile (that plan cannot be made any more: the spec's own settings are used).

Through :func:`~forecaster.prescaler.recommended.use_recommendation`, pure (tests/test_prescaler_tuning.py's
stored-recommendation format).
"""

from __future__ import annotations

from forecaster import recommendation
from forecaster.prescaler.policy import parse_policy
from forecaster.prescaler.recommended import use_recommendation
from tests.prescaler_helpers import NOW, policy
from tests.test_prescaler_tuning import V1, tuning_doc

V0 = "20240424T021700Z-99887766"


def _use(*, doc=None, old_status=None, columns=("p10", "p50", "p90"), mode="Apply"):
    obj = policy(
        tuning={"slo": "short-minutes=0.5%", "mode": mode},
        actuator="HPAFloor",
        capacityPerReplica=100,
        minReplicas=3,
        maxReplicas=33,
    )
    return use_recommendation(
        obj,
        parse_policy(obj),
        recommendation=recommendation.parse(doc) if doc is not None else None,
        problem=None,
        model_version=V1,
        now=NOW,
        old_status=old_status or {},
        columns=columns,
        actuator="HPAFloor",
    )


def test_a_recommendation_carried_from_an_earlier_version_says_it_was_tuned_with_that_one():
    carried = {**tuning_doc(), "carriedFrom": V0}
    for mode in ("Apply", "Recommend"):
        use = _use(doc=carried, mode=mode)
        assert use.status["tunedWith"] == V0 and use.status["modelVersion"] == V1
    assert _use(doc=tuning_doc()).status["tunedWith"] == V1


def test_the_last_applied_quantile_is_no_floor_once_the_model_no_longer_predicts_it():
    applied = {"plan": "shift", "quantile": 0.95, "headroomPercent": 20.0, "leadTime": "3m"}
    use = _use(doc=tuning_doc(slo="unserved=0.1%"), old_status={"tuning": {"applied": applied}})
    assert use.condition["reason"] == "SLOMismatch"
    assert use.fallback is None and "lastApplied" not in use.status
    assert use.condition["message"].endswith("the spec's own settings are used")
    # The control: a model that still predicts p95 keeps that plan as the floor candidate.
    still = _use(
        doc=tuning_doc(slo="unserved=0.1%"),
        old_status={"tuning": {"applied": applied}},
        columns=("p50", "p90", "p95"),
    )
    assert still.fallback is not None and still.fallback.scaling.quantile == 0.95
    assert still.status["lastApplied"] == applied
