"""Which object a policy's floor goes on, and what it puts back: the HPA of its own target (the same kind, name
and API group, not a namesake elsewhere), KEDA only when KEDA owns the HPA, and a damaged record of the original
floor never lowering the floor on restore.

Through :class:`~forecaster.prescaler.loop.Controller` against the fake API server, scripted forecasts.
"""

from __future__ import annotations

import pandas as pd

from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION, OWNER_ANNOTATION
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, floor, hpa, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

make = prescaler_helpers.controller

MIN = pd.Timedelta(minutes=1)


def test_the_floor_goes_on_the_hpa_of_the_targets_api_group_not_a_namesake_in_another(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    namesake = hpa("a-namesake-hpa", min_replicas=2)  # listed first
    namesake["spec"]["scaleTargetRef"]["apiVersion"] = "apps.example.com/v1"  # a CRD named Deployment
    fake_api.put(namesake)
    fake_api.put(hpa("b-deployment-hpa", min_replicas=2))
    fake_api.put(policy())  # Auto on apps/v1 Deployment live-api
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1000.0})).tick(NOW)
    assert outcome.ready and outcome.actuator == "HPAFloor", outcome.message
    assert floor(fake_api, "b-deployment-hpa") == 10
    assert floor(fake_api, "a-namesake-hpa") == 2


def test_an_hpa_owned_by_a_scaledobject_of_another_api_than_keda_is_an_ordinary_hpa(fake_api, kube):
    # Only keda.sh's ScaledObject regenerates the HPA it owns; another controller's kind of the same name does
    # not, so the floor goes on the HPA itself.
    fake_api.put(deployment(replicas=3))
    owned = hpa(min_replicas=2)
    owned["metadata"]["ownerReferences"] = [
        {"apiVersion": "autoscaling.example.com/v1", "kind": "ScaledObject", "name": "live-api", "uid": "u-9"}
    ]
    fake_api.put(owned)
    fake_api.put(policy())
    [outcome] = make(kube, FakeForecasts(**{"live-api": 1000.0})).tick(NOW)
    assert outcome.ready and outcome.actuator == "HPAFloor", outcome.message
    assert floor(fake_api) == 10


def test_a_damaged_record_of_the_original_floor_never_lowers_the_floor_on_restore(fake_api, kube):
    # The annotation holding the original was edited into something that is not a number: what the original
    # was is unknown, so letting go keeps the floor as it is rather than dropping it to the HPA's implicit 1.
    fake_api.put(deployment(replicas=10))
    raised = hpa(min_replicas=10)
    raised["metadata"]["annotations"] = {
        ORIGINAL_FLOOR_ANNOTATION: "three",
        OWNER_ANNOTATION: f"{NS}/live-api",
    }
    fake_api.put(raised)
    fake_api.put(policy(mode="Forecast"))  # lets go: restores the original
    [outcome] = make(kube, FakeForecasts(**{"live-api": 300.0})).tick(NOW)
    assert floor(fake_api) == 10, outcome.message
    annotations = (
        fake_api.get("horizontalpodautoscalers", NS, "live-api")["metadata"].get("annotations") or {}
    )
    assert ORIGINAL_FLOOR_ANNOTATION not in annotations and OWNER_ANNOTATION not in annotations


def _raised(name: str, *, target: str = "live-api", original: int = 2, now: int = 10) -> dict:
    """An HPA whose floor this policy raised from ``original`` to ``now``."""
    obj = hpa(name, target=target, min_replicas=now)
    obj["metadata"]["annotations"] = {
        ORIGINAL_FLOOR_ANNOTATION: str(original),
        OWNER_ANNOTATION: f"{NS}/live-api",
    }
    return obj


def test_deleting_a_policy_restores_every_floor_it_raised(fake_api, kube):
    # The policy raised two floors (its target's HPA was replaced by a new one while it ran): deleting it puts
    # both back, not only the first one found.
    fake_api.put(deployment(replicas=3))
    fake_api.put(_raised("live-api-old", original=2))
    fake_api.put(_raised("live-api-new", original=3))
    fake_api.put(policy())
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    fake_api.delete("prescalepolicies", NS, "live-api")
    [outcome] = ctl.tick(NOW + MIN)
    assert outcome.reason == "Deleted", outcome.message
    assert (floor(fake_api, "live-api-old"), floor(fake_api, "live-api-new")) == (2, 3)
    assert fake_api.get("prescalepolicies", NS, "live-api") is None, "the finalizer was released"


def test_deleting_a_policy_restores_the_floor_where_its_status_says_it_acted(fake_api, kube):
    # The policy raised the HPA's floor, then was edited to act on a ScaledObject and deleted before the next
    # tick: its status still names HPAFloor, and that is where the raised floor is put back.
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy(actuator="HPAFloor"))
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    assert floor(fake_api) == 10
    edited = fake_api.get("prescalepolicies", NS, "live-api")
    edited["spec"]["actuator"] = "KEDAScaledObject"
    fake_api.put(edited)
    fake_api.delete("prescalepolicies", NS, "live-api")
    [outcome] = ctl.tick(NOW + MIN)
    assert outcome.reason == "Deleted", outcome.message
    assert floor(fake_api) == 2
