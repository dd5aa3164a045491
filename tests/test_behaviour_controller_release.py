"""Deleting a policy that never recorded where it acted (``spec.actuator: Auto``, deleted before any status was
written): every floor it owns on its target's kind is put back, the HPA's and the ScaledObject's alike, not only
the first one restored. And the status block that names an upcoming event says "holding" when the capacity is
not raised for it.

Through the controller against the fake API server.
"""

from __future__ import annotations

import pandas as pd

from forecaster.events import Event
from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION, OWNER_ANNOTATION
from forecaster.prescaler.loop import preparing_for
from forecaster.prescaler.policy_sources import FINALIZER
from tests import prescaler_helpers
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    controller,
    deployment,
    floor,
    hpa,
    policy,
    scaled_object,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

OWNED = {ORIGINAL_FLOOR_ANNOTATION: "2", OWNER_ANNOTATION: f"{NS}/live-api"}


def test_an_auto_policy_deleted_before_its_first_status_restores_every_floor_it_owns(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    raised_hpa = hpa("web-hpa", min_replicas=9)
    raised_hpa["metadata"]["annotations"] = dict(OWNED)
    fake_api.put(raised_hpa)
    raised_so = scaled_object("web-so", min_count=9)
    raised_so["metadata"]["annotations"] = dict(OWNED)
    fake_api.put(raised_so)
    doomed = policy()  # Auto
    doomed["metadata"]["finalizers"] = [FINALIZER]
    fake_api.put(doomed)
    fake_api.delete("prescalepolicies", NS, "live-api")  # held by the finalizer, no status yet

    [outcome] = controller(kube, FakeForecasts()).tick(NOW)

    assert outcome.reason == "Deleted", outcome.message
    assert floor(fake_api, "web-hpa") == 2
    assert fake_api.get("scaledobjects", NS, "web-so")["spec"]["minReplicaCount"] == 2
    assert fake_api.get("prescalepolicies", NS, "live-api") is None, "the finalizer was released"


def _event():
    return Event(start=pd.Timestamp("2024-05-01 20:07:00", tz="UTC"), kind="football")


def test_preparing_for_says_raising_only_when_the_capacity_goes_up():
    seen = {"football": 11}
    assert preparing_for(_event(), seen=seen, desired=42, current=30)["message"].startswith("raising to 42 ")
    assert preparing_for(_event(), seen=seen, desired=30, current=30)["message"].startswith("holding 30 ")
    assert preparing_for(_event(), seen=seen, desired=20, current=30)["message"].startswith("holding 20 ")
    block = preparing_for(_event(), seen={}, desired=5, current=3)
    assert block["learnedFrom"] == 0 and "a kind never seen in training" in block["message"]
    assert block["start"] == "2024-05-01T20:07:00Z" and "at 20:07 UTC" in block["message"]
