"""What the controller tells people (:class:`~forecaster.prescaler.report.Reporter`): the status written only
when it changed, Events on the target or on the policy, and neither ever failing a tick.
"""

from __future__ import annotations

import pandas as pd
from prometheus_client import CollectorRegistry

from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy import parse_policy
from forecaster.prescaler.policy_sources import CrdPolicySource
from forecaster.prescaler.report import Reporter
from forecaster.prescaler.status import condition
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


def _reporter(kube):
    metrics = PrescalerMetrics(CollectorRegistry())
    return Reporter(
        policies=CrdPolicySource(kube), kube=kube, metrics=metrics, identity="prescaler-0"
    ), metrics


def _value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _seed(fake_api):
    fake_api.put(policy())
    return fake_api.get("prescalepolicies", NS, "live-api")


def _status(desired=5, peak=100.0, ready=True):
    return {
        "desiredReplicas": desired,
        "forecastPeak": peak,
        "message": f"peak {peak}",
        "conditions": [
            condition("Ready", ready, "Reconciled" if ready else "ForecastUnavailable", f"peak {peak}")
        ],
    }


def test_a_status_is_written_when_it_changed_and_not_otherwise(fake_api, kube):
    obj = _seed(fake_api)
    reporter, metrics = _reporter(kube)
    first = _status()
    assert reporter.write_status(obj, {}, first, NOW) is True
    stored = fake_api.get("prescalepolicies", NS, "live-api")["status"]
    assert stored["desiredReplicas"] == 5
    assert stored["conditions"][0]["lastTransitionTime"] == "2024-05-01T20:00:00Z"

    obj = fake_api.get("prescalepolicies", NS, "live-api")
    same = _status()
    writes = len(fake_api.writes())
    assert reporter.write_status(obj, obj["status"], same, NOW + pd.Timedelta(minutes=1)) is False
    assert len(fake_api.writes()) == writes
    assert _value(metrics, "forecaster_prescaler_status_writes_total") == 1


def test_only_material_changes_are_written_when_asked(fake_api, kube):
    obj = _seed(fake_api)
    reporter, metrics = _reporter(kube)
    reporter.write_status(obj, {}, _status(), NOW)
    obj = fake_api.get("prescalepolicies", NS, "live-api")

    assert reporter.write_status(obj, obj["status"], _status(peak=120.0), NOW, only_material=True) is False
    assert _value(metrics, "forecaster_prescaler_status_writes_skipped_total") == 1
    assert fake_api.get("prescalepolicies", NS, "live-api")["status"]["forecastPeak"] == 100.0

    assert reporter.write_status(obj, obj["status"], _status(desired=6), NOW, only_material=True) is True
    assert fake_api.get("prescalepolicies", NS, "live-api")["status"]["desiredReplicas"] == 6


def test_a_removed_status_field_is_removed_from_the_cluster(fake_api, kube):
    obj = _seed(fake_api)
    reporter, _ = _reporter(kube)
    reporter.write_status(obj, {}, {**_status(), "preparingFor": {"kind": "football"}}, NOW)
    obj = fake_api.get("prescalepolicies", NS, "live-api")
    reporter.write_status(obj, obj["status"], _status(), NOW)
    assert "preparingFor" not in fake_api.get("prescalepolicies", NS, "live-api")["status"]


def test_a_failed_status_write_is_counted_and_does_not_raise(fake_api, kube):
    obj = _seed(fake_api)
    reporter, metrics = _reporter(kube)
    fake_api.fail(403, verb="patch", resource="prescalepolicies", subresource="status")
    assert reporter.write_status(obj, {}, _status(), NOW) is False
    assert _value(metrics, "forecaster_prescaler_errors_total", kind="forbidden") == 1


def test_events_go_to_the_target_or_the_policy_and_their_failure_is_counted(fake_api, kube):
    obj = _seed(fake_api)
    reporter, metrics = _reporter(kube)
    p = parse_policy(obj)
    reporter.write_status(
        obj, {}, _status(), NOW, events=[("Normal", "FloorRaised", "raised", True)], policy=p
    )
    [event] = [e for e in fake_api.events() if e["reason"] == "FloorRaised"]
    assert event["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "live-api",
        "namespace": NS,
    }
    assert event["reportingInstance"] == "prescaler-0" and event["type"] == "Normal"

    old = fake_api.get("prescalepolicies", NS, "live-api")
    reporter.write_status(old, old["status"], _status(ready=False), NOW, policy=p)
    [warning] = [e for e in fake_api.events() if e["reason"] == "ForecastUnavailable"]
    assert warning["type"] == "Warning" and warning["involvedObject"]["kind"] == "PrescalePolicy"

    fake_api.fail(500, verb="create", resource="events", times=10)
    reporter.event("Normal", "X", "y", involved=warning["involvedObject"], now=NOW)
    assert _value(metrics, "forecaster_prescaler_errors_total", kind="api_temporary") == 1


def test_a_cloud_node_groups_events_go_to_the_policy():
    obj = policy(
        kind="AutoScalingGroup",
        api_version="autoscaling.aws/v1",
        target="workers",
        nodeGroup={"podRequest": 1, "nodeAllocatable": 4},
    )
    assert Reporter.about_target(parse_policy(obj)) is None
    assert Reporter.about_target(None) is None
    assert Reporter.about_target(parse_policy(policy()))["kind"] == "Deployment"


def test_without_a_cluster_events_are_only_logged():
    metrics = PrescalerMetrics(CollectorRegistry())

    class Source:
        uses_finalizers = False

        def __init__(self):
            self.written = []

        def patch_status(self, obj, status):
            self.written.append(status)

    source = Source()
    reporter = Reporter(policies=source, kube=None, metrics=metrics, identity="x")
    obj = policy()
    assert reporter.write_status(obj, {}, _status(ready=False), NOW) is True
    assert source.written[0]["desiredReplicas"] == 5


def test_policy_files_default_the_namespace_and_keep_each_policys_status(tmp_path):
    import yaml

    from forecaster.prescaler.policy_sources import FilePolicySource

    one = policy("a")
    del one["metadata"]["namespace"]
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(one))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump_all([policy("b"), policy("c", namespace="other")]))
    source = FilePolicySource(tmp_path / "a.yaml", tmp_path / "b.yaml")

    listed = source.list()
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed] == [
        ("default", "a"),
        ("live", "b"),
        ("other", "c"),
    ]
    assert source.uses_finalizers is False
    source.patch_status(listed[1], {"desiredReplicas": 4})
    assert source.set_finalizers(listed[1], ["x"]) is None
    again = {o["metadata"]["name"]: o for o in source.list()}
    assert again["b"]["status"] == {"desiredReplicas": 4} and "status" not in again["a"]


def test_a_watched_source_serves_its_own_status_write_at_once(fake_api, kube):
    from forecaster.prescaler.informer import WatchCache
    from forecaster.prescaler.kube import POLICIES
    from forecaster.prescaler.policy_sources import WatchedPolicySource

    fake_api.put(policy())
    cache = WatchCache(kube, POLICIES)
    source = WatchedPolicySource(kube, cache=cache)
    [obj] = source.list()  # not synced yet: it lists
    assert cache.synced.is_set()
    source.patch_status(obj, {"desiredReplicas": 9})
    [cached] = source.list()
    assert cached["status"] == {"desiredReplicas": 9}


def test_a_deleted_policys_series_are_all_dropped():
    metrics = PrescalerMetrics(CollectorRegistry())
    for name in ("a", "b"):
        metrics.desired.labels(namespace=NS, policy=name).set(3)
        metrics.forecast.labels(namespace=NS, policy=name, quantile="p90").set(100)
        metrics.decisions.labels(namespace=NS, policy=name, reason="forecast").inc()
    metrics.forget(NS, "a")
    samples = {
        (s.name, s.labels.get("policy"))
        for fam in metrics.registry.collect()
        for s in fam.samples
        if s.labels.get("namespace") == NS
    }
    assert {p for _, p in samples} == {"b"}
    assert ("forecaster_prescaler_forecast", "b") in samples
