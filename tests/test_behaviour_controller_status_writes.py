"""A status written by the controller is exactly what the cluster holds afterwards
(:class:`~forecaster.prescaler.policy_sources.CrdPolicySource` writes a JSON merge patch, which keeps what it
does not mention): a field removed inside a nested block (``tuning.applied`` once a recommendation is lost,
``accuracy.error`` once the guard has no samples) is removed from the cluster too, and a list is replaced whole.

Against the fake API server.
"""

from __future__ import annotations

from forecaster.prescaler.policy_sources import CrdPolicySource
from tests import prescaler_helpers
from tests.prescaler_helpers import NS, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


def _stored(fake):
    return fake.get("prescalepolicies", NS, "live-api")["status"]


def test_a_field_removed_inside_a_nested_block_is_removed_from_the_cluster(fake_api, kube):
    fake_api.put(policy())
    source = CrdPolicySource(kube)
    first = {
        "desiredReplicas": 5,
        "tuning": {"mode": "Apply", "applied": {"quantile": 0.9}, "message": "applying shift-p90"},
        "accuracy": {"window": "3600s", "samples": 40, "error": 0.12, "guardActive": False},
    }
    source.patch_status(fake_api.get("prescalepolicies", NS, "live-api"), first)
    assert _stored(fake_api) == first

    second = {
        "desiredReplicas": 5,
        "tuning": {"mode": "Apply", "lastApplied": {"quantile": 0.9}, "message": "the SLO changed"},
        "accuracy": {"window": "3600s", "samples": 0, "guardActive": False},
    }
    source.patch_status(fake_api.get("prescalepolicies", NS, "live-api"), second)

    assert _stored(fake_api) == second


def test_lists_in_the_status_are_replaced_whole(fake_api, kube):
    fake_api.put(policy())
    source = CrdPolicySource(kube)
    two = [{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": "False"}]
    source.patch_status(fake_api.get("prescalepolicies", NS, "live-api"), {"conditions": two})
    source.patch_status(fake_api.get("prescalepolicies", NS, "live-api"), {"conditions": two[:1]})
    assert _stored(fake_api) == {"conditions": two[:1]}
