"""Leader election on a coordination.k8s.io Lease: two controllers, one acts; the other takes over in time."""

from __future__ import annotations

import threading

import pandas as pd
from prometheus_client import CollectorRegistry

from forecaster.prescaler.kube import LEASES, KubeClient
from forecaster.prescaler.leader import LeaderElector
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import CrdPolicySource
from tests import prescaler_helpers
from tests.fake_kube_api import FakeKubeApiServer
from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, hpa, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

LEASE_S = 10.0
S = pd.Timedelta(seconds=1)


def replica(kube: KubeClient, identity: str, forecasts: FakeForecasts) -> Controller:
    return Controller(
        policies=CrdPolicySource(kube),
        forecasts=forecasts,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        elector=LeaderElector(kube, namespace="forecaster", identity=identity, lease_duration_s=LEASE_S),
        identity=identity,
    )


def hpa_patches(fake: FakeKubeApiServer) -> int:
    return len(fake.requests_matching(verb="patch", resource="horizontalpodautoscalers"))


def lease(fake: FakeKubeApiServer) -> dict:
    obj = fake.get("leases", "forecaster", "forecaster-prescaler")
    assert obj is not None
    return obj["spec"]


def test_one_leader_acts_and_the_other_takes_over_within_the_lease_duration(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    a, b = replica(kube, "prescaler-a", forecasts), replica(kube, "prescaler-b", forecasts)

    assert [o.key for o in a.tick(NOW)] == [f"{NS}/live-api"]
    assert b.tick(NOW + S) == []  # b sees a's fresh lease and stays passive
    assert lease(fake_api)["holderIdentity"] == "prescaler-a"
    assert hpa_patches(fake_api) == 1
    assert [name for name, _ in forecasts.calls] == ["live-api"]  # b did not even forecast

    # a renews for a while; b keeps waiting.
    for t in (5, 10, 15):
        a.tick(NOW + t * S)
        assert b.tick(NOW + (t + 1) * S) == []
    assert a.metrics.registry.get_sample_value("forecaster_prescaler_leader") == 1
    assert b.metrics.registry.get_sample_value("forecaster_prescaler_leader") == 0

    # a dies without releasing (no more ticks). b has seen the lease last change at t=16 and takes over once
    # it has stayed unchanged for the lease duration, not before.
    assert b.tick(NOW + 25 * S) == []
    outcomes = b.tick(NOW + 27 * S)
    assert [o.key for o in outcomes] == [f"{NS}/live-api"]
    spec = lease(fake_api)
    assert spec["holderIdentity"] == "prescaler-b" and spec["leaseTransitions"] == 1
    # The floor was raised once, by a; b found it already right: no double scaling.
    assert hpa_patches(fake_api) == 1
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 10

    # a comes back (a long GC pause, a partition healed): it sees b's lease and does not act.
    assert a.tick(NOW + 28 * S) == []
    assert hpa_patches(fake_api) == 1


def test_clean_shutdown_releases_the_lease_for_an_immediate_takeover(fake_api, kube):
    forecasts = FakeForecasts()
    a, b = replica(kube, "prescaler-a", forecasts), replica(kube, "prescaler-b", forecasts)
    a.tick(NOW)
    assert b.tick(NOW + S) == [] and not b.elector.leading

    a.shutdown(NOW + 2 * S)
    assert lease(fake_api)["holderIdentity"] == ""

    b.tick(NOW + 3 * S)  # long before the lease duration would have run out
    assert b.elector.leading and lease(fake_api)["holderIdentity"] == "prescaler-b"


def test_two_replicas_racing_for_a_free_lease_get_one_winner(fake_api, kube):
    forecasts = FakeForecasts()
    a, b = replica(kube, "prescaler-a", forecasts), replica(kube, "prescaler-b", forecasts)
    a.tick(NOW)
    a.shutdown(NOW + S)
    # Both read the free lease; a writes first, b's write carries the stale resourceVersion and gets a 409.
    free = kube.get(LEASES, namespace="forecaster", name="forecaster-prescaler")
    assert a.elector.ensure(NOW + 2 * S)
    real_get = kube.get
    kube.get = lambda resource, **kw: free if resource.plural == "leases" else real_get(resource, **kw)  # type: ignore[method-assign]
    try:
        assert not b.elector.ensure(NOW + 2 * S)
    finally:
        kube.get = real_get  # type: ignore[method-assign]
    assert lease(fake_api)["holderIdentity"] == "prescaler-a"


def test_run_loop_renews_and_releases_on_stop(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy())
    forecasts = FakeForecasts(**{"live-api": 500.0})
    ctl = replica(kube, "prescaler-a", forecasts)
    stop = threading.Event()
    clock_calls = []

    def clock() -> pd.Timestamp:
        clock_calls.append(1)
        if len(clock_calls) >= 3:
            stop.set()  # stop after a few loop turns
        return NOW + len(clock_calls) * S

    ctl.run(stop=stop, interval_s=60.0, renew_s=0.01, clock=clock)

    assert fake_api.get("deployments", NS, "live-api")["spec"]["replicas"] == 5
    assert len(forecasts.calls) == 1  # renewed each turn, reconciled once per interval
    assert lease(fake_api)["holderIdentity"] == ""  # released on the way out
