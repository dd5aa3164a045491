"""The controller's contract with the cluster: retries, error kinds, fresh writes, times, the lease, the guard.

Against the fake API server (tests/fake_kube_api.py) through :class:`~forecaster.prescaler.kube.KubeClient`,
:func:`~forecaster.prescaler.kube.update_fresh` and :class:`~forecaster.prescaler.leader.LeaderElector`; the
accuracy guard through :func:`~forecaster.prescaler.guard.judge`. No sleeping: the client's ``sleep`` records.
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.prescaler import kube as kube_module
from forecaster.prescaler.guard import ForecastLog, judge
from forecaster.prescaler.kube import (
    HPAS,
    LEASES,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    KubeClient,
    KubeSettings,
    NotFoundError,
    PermanentKubeError,
    TemporaryKubeError,
    micro_time,
    rfc3339,
    scalable_resource,
    update_fresh,
)
from forecaster.prescaler.leader import LeaderElector
from forecaster.prescaler.policy import AccuracyGuardSpec
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, hpa

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


# -- the one retry point ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_a_temporary_failure_is_retried_on_the_schedule_then_answered(fake_api, kube, status):
    fake_api.put(hpa())
    fake_api.fail(status, verb="get", resource="horizontalpodautoscalers", times=3)

    got = kube.get(HPAS, namespace=NS, name="live-api")

    assert got["metadata"]["name"] == "live-api"
    assert kube.sleeps == [0.2, 0.5, 1.0]
    assert len(fake_api.requests_matching(verb="get", resource="horizontalpodautoscalers")) == 4


def test_a_failure_that_outlasts_the_schedule_is_raised_as_temporary(fake_api, kube):
    fake_api.put(hpa())
    fake_api.fail(503, verb="get", resource="horizontalpodautoscalers", times=10)

    with pytest.raises(TemporaryKubeError) as info:
        kube.get(HPAS, namespace=NS, name="live-api")

    assert info.value.temporary is True and info.value.status == 503
    assert len(fake_api.requests_matching(verb="get", resource="horizontalpodautoscalers")) == 4
    assert kube.sleeps == [0.2, 0.5, 1.0]


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(2.0, 2.0), (60.0, 5.0), (0.0, 0.2)],
)
def test_retry_after_is_honoured_but_capped(fake_api, kube, retry_after, expected):
    """A busy API server's Retry-After is waited (at least the schedule's delay), at most max_retry_after_s."""
    fake_api.put(hpa())
    fake_api.fail(429, verb="get", resource="horizontalpodautoscalers", retry_after_s=retry_after)

    kube.get(HPAS, namespace=NS, name="live-api")

    assert kube.sleeps == [expected]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidError),
        (422, InvalidError),
        (401, ForbiddenError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (410, GoneError),
        (405, PermanentKubeError),
    ],
)
def test_a_permanent_failure_is_raised_at_once_with_its_kind(fake_api, kube, status, error):
    fake_api.put(hpa())
    fake_api.fail(status, verb="get", resource="horizontalpodautoscalers")

    with pytest.raises(error) as info:
        kube.get(HPAS, namespace=NS, name="live-api")

    assert info.value.temporary is False and info.value.status == status
    assert kube.sleeps == []
    assert len(fake_api.requests_matching(verb="get", resource="horizontalpodautoscalers")) == 1


def test_a_missing_permission_is_named(fake_api, kube):
    fake_api.fail(403, verb="list", resource="horizontalpodautoscalers")

    with pytest.raises(ForbiddenError) as info:
        kube.list(HPAS, namespace=NS)

    assert info.value.permission == "list horizontalpodautoscalers.autoscaling in namespace live"
    assert "prescaler-rbac.yaml" in (info.value.hint or "")


def test_a_missing_object_is_not_found(kube):
    with pytest.raises(NotFoundError):
        kube.get(HPAS, namespace=NS, name="nothing")


def test_lists_in_pages_return_every_object_once(fake_api, kube):
    for i in range(7):
        fake_api.put(hpa(f"h{i}", target=f"t{i}"))

    items, rv = kube.list_with_version(HPAS, namespace=NS, page_size=3)

    assert sorted(o["metadata"]["name"] for o in items) == [f"h{i}" for i in range(7)]
    assert rv is not None
    assert len(fake_api.requests_matching(verb="list", resource="horizontalpodautoscalers")) == 3
    assert sorted(o["metadata"]["name"] for o in kube.list(HPAS, namespace=NS)) == [f"h{i}" for i in range(7)]


# -- read, decide, write ------------------------------------------------------------------------------------


def _raise_floor(to: int):
    seen: list[int] = []

    def compute(obj):
        seen.append(int(obj["spec"]["minReplicas"]))
        if obj["spec"]["minReplicas"] == to:
            return None, "unchanged"
        return {"spec": {"minReplicas": to}}, "written"

    return compute, seen


def test_update_fresh_writes_once_and_nothing_when_nothing_changes(fake_api, kube):
    fake_api.put(hpa(min_replicas=2))
    compute, _ = _raise_floor(5)

    assert update_fresh(kube, HPAS, namespace=NS, name="live-api", compute=compute) == "written"
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 5
    writes = len(fake_api.writes())

    assert update_fresh(kube, HPAS, namespace=NS, name="live-api", compute=compute) == "unchanged"
    assert len(fake_api.writes()) == writes


def test_update_fresh_rereads_and_decides_again_after_a_conflict(fake_api, kube):
    """The copy read first is stale (someone changed the HPA since): the 409 makes it read and decide again,
    and the other writer's change (maxReplicas) is kept."""
    fake_api.put(hpa(min_replicas=2))
    stale = kube.get(HPAS, namespace=NS, name="live-api")
    fake_api.set_field("horizontalpodautoscalers", NS, "live-api", "spec.maxReplicas", 30)
    compute, seen = _raise_floor(5)

    result = update_fresh(kube, HPAS, namespace=NS, name="live-api", compute=compute, first=stale)

    assert result == "written"
    assert seen == [2, 2]
    stored = fake_api.get("horizontalpodautoscalers", NS, "live-api")
    assert stored["spec"]["minReplicas"] == 5 and stored["spec"]["maxReplicas"] == 30


def test_update_fresh_gives_up_after_its_attempts(fake_api, kube):
    fake_api.put(hpa(min_replicas=2))
    fake_api.fail(409, verb="patch", resource="horizontalpodautoscalers", times=10)
    compute, seen = _raise_floor(5)

    with pytest.raises(ConflictError, match="kept changing"):
        update_fresh(kube, HPAS, namespace=NS, name="live-api", compute=compute)

    assert len(seen) == kube_module.CONFLICT_ATTEMPTS == 3
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 2


@pytest.mark.parametrize(
    ("api_version", "kind", "plural"),
    [
        ("apps/v1", "Deployment", "deployments"),
        ("apps/v1", "StatefulSet", "statefulsets"),
        ("cluster.x-k8s.io/v1beta1", "MachineDeployment", "machinedeployments"),
        ("cluster.x-k8s.io/v1beta1", "MachinePool", "machinepools"),
    ],
)
def test_scalable_kinds(api_version, kind, plural):
    r = scalable_resource(api_version, kind)
    assert (r.plural, r.api_version, r.kind) == (plural, api_version, kind)


@pytest.mark.parametrize(
    ("api_version", "kind"), [("v1", "Deployment"), ("apps/v1", "DaemonSet"), ("apps", "Pod")]
)
def test_unscalable_kinds_are_refused(api_version, kind):
    with pytest.raises(ConfigError, match="cannot scale"):
        scalable_resource(api_version, kind)


@pytest.mark.parametrize(
    ("ts", "seconds", "micro"),
    [
        ("2024-05-01T20:00:00.123456", "2024-05-01T20:00:00Z", "2024-05-01T20:00:00.123456Z"),
        ("2024-05-01T23:30:05+03:30", "2024-05-01T20:00:05Z", "2024-05-01T20:00:05.000000Z"),
        ("2024-12-31T23:59:59-01:00", "2025-01-01T00:59:59Z", "2025-01-01T00:59:59.000000Z"),
    ],
)
def test_kubernetes_times_are_utc(ts, seconds, micro):
    assert rfc3339(pd.Timestamp(ts)) == seconds
    assert micro_time(pd.Timestamp(ts)) == micro


# -- the lease --------------------------------------------------------------------------------------------------


def lease(fake_api):
    return fake_api.get("leases", "forecaster", "forecaster-prescaler")


def elector(kube, identity, duration=15.0):
    return LeaderElector(kube, namespace="forecaster", identity=identity, lease_duration_s=duration)


def test_the_first_replica_creates_the_lease_and_leads(fake_api, kube):
    a = elector(kube, "a", duration=14.2)

    assert a.ensure(NOW) is True and a.leading is True

    spec = lease(fake_api)["spec"]
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15  # whole seconds, rounded up
    assert spec["renewTime"] == micro_time(NOW) and spec["acquireTime"] == micro_time(NOW)


def test_renewing_keeps_the_acquire_time_and_the_transitions(fake_api, kube):
    a = elector(kube, "a")
    a.ensure(NOW)
    later = NOW + pd.Timedelta(seconds=5)

    assert a.ensure(later) is True

    spec = lease(fake_api)["spec"]
    assert spec["renewTime"] == micro_time(later)
    assert spec["acquireTime"] == micro_time(NOW)
    assert int(spec.get("leaseTransitions") or 0) == 0


def test_a_standby_waits_a_full_lease_duration_on_its_own_clock_then_takes_over(fake_api, kube):
    a, b = elector(kube, "a"), elector(kube, "b")
    assert a.ensure(NOW) is True

    assert b.ensure(NOW + pd.Timedelta(seconds=1)) is False  # b sees the lease first here
    assert b.ensure(NOW + pd.Timedelta(seconds=15.9)) is False
    assert b.leading is False
    taken = NOW + pd.Timedelta(seconds=16)
    assert b.ensure(taken) is True

    spec = lease(fake_api)["spec"]
    assert spec["holderIdentity"] == "b"
    assert spec["acquireTime"] == micro_time(taken)
    assert int(spec["leaseTransitions"]) == 1
    # the old leader, back, sees another holder and stands by
    assert a.ensure(taken + pd.Timedelta(seconds=1)) is False and a.leading is False


def test_a_renewed_lease_restarts_the_standbys_timer(fake_api, kube):
    a, b = elector(kube, "a"), elector(kube, "b")
    a.ensure(NOW)
    assert b.ensure(NOW) is False
    a.ensure(NOW + pd.Timedelta(seconds=10))  # the leader renews

    # b first sees the renewal at 20 s (20 s after its first look): the 15 s count from there, on b's clock
    assert b.ensure(NOW + pd.Timedelta(seconds=20)) is False
    assert b.ensure(NOW + pd.Timedelta(seconds=34)) is False
    assert b.ensure(NOW + pd.Timedelta(seconds=35)) is True


def test_a_clean_release_lets_the_standby_take_over_at_once(fake_api, kube):
    a, b = elector(kube, "a"), elector(kube, "b")
    a.ensure(NOW)
    assert b.ensure(NOW + pd.Timedelta(seconds=1)) is False

    a.release(NOW + pd.Timedelta(seconds=2))

    assert a.leading is False
    spec = lease(fake_api)["spec"]
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    assert b.ensure(NOW + pd.Timedelta(seconds=3)) is True


def test_a_replica_that_does_not_lead_releases_nothing(fake_api, kube):
    a, b = elector(kube, "a"), elector(kube, "b")
    a.ensure(NOW)
    b.ensure(NOW)
    writes = len(fake_api.writes())

    b.release(NOW)

    assert len(fake_api.writes()) == writes
    assert lease(fake_api)["spec"]["holderIdentity"] == "a"


@pytest.mark.parametrize(("fault", "verb"), [(409, "update"), (500, "update"), (403, "get"), (409, "create")])
def test_any_lease_failure_means_do_not_act(fake_api, kube, fault, verb):
    a = elector(kube, "a")
    if verb != "create":
        assert a.ensure(NOW) is True
    fake_api.fail(fault, verb=verb, resource="leases", times=10)

    assert a.ensure(NOW + pd.Timedelta(seconds=5)) is False
    assert a.leading is False


def test_two_replicas_racing_for_a_free_lease_get_one_leader(fake_api, kube):
    a, b = elector(kube, "a"), elector(kube, "b")
    a.ensure(NOW)
    a.release(NOW)

    results = [a.ensure(NOW + pd.Timedelta(seconds=1)), b.ensure(NOW + pd.Timedelta(seconds=1))]

    assert results == [True, False]
    assert lease(fake_api)["spec"]["holderIdentity"] == "a"


# -- the accuracy guard -----------------------------------------------------------------------------------------

SPEC = AccuracyGuardSpec(max_error=0.3, window_s=3600.0, min_samples=3, recover_ratio=0.5)


def _log_with(errors_fraction: float, *, points: int = 10, made: pd.Timestamp | None = None) -> ForecastLog:
    made = NOW - pd.Timedelta(minutes=30) if made is None else made
    p50 = pd.Series(
        100.0 * (1 + errors_fraction),
        index=pd.date_range(made + pd.Timedelta(minutes=1), periods=points, freq="1min"),
    )
    log = ForecastLog()
    log.record(made, p50, keep_s=7200)
    return log


ACTUAL = pd.Series(100.0, index=pd.date_range(NOW - pd.Timedelta(hours=2), NOW, freq="1min"))


@pytest.mark.parametrize(
    ("error", "was_active", "active"),
    [
        (0.31, False, True),  # above maxError: on
        (0.30, False, False),  # at maxError: not yet
        (0.20, True, True),  # between maxError x recoverRatio and maxError: stays on (hysteresis)
        (0.16, True, True),
        (0.15, True, False),  # at maxError x recoverRatio: off again
        (0.10, True, False),
        (0.20, False, False),  # below the threshold and off: stays off
        (0.50, True, True),
    ],
)
def test_the_guard_switches_on_above_max_error_and_off_only_below_the_recovery(error, was_active, active):
    reading = judge(SPEC, log=_log_with(error), history=ACTUAL, was_active=was_active, now=NOW)

    assert reading.error == pytest.approx(error)
    assert reading.active is active
    assert reading.accuracy["guardActive"] is active
    assert reading.accuracy["samples"] == 10 and reading.accuracy["window"] == "3600s"


def test_without_a_guard_it_is_never_active():
    reading = judge(None, log=_log_with(5.0), history=ACTUAL, was_active=True, now=NOW)
    assert reading.active is False


@pytest.mark.parametrize("was_active", [True, False])
def test_without_history_or_with_too_few_points_the_guard_keeps_its_state(was_active):
    assert judge(SPEC, log=_log_with(0.9), history=None, was_active=was_active, now=NOW).active is was_active
    few = _log_with(0.9 if not was_active else 0.0, points=2)
    assert judge(SPEC, log=few, history=ACTUAL, was_active=was_active, now=NOW).active is was_active


def test_only_forecasts_made_in_the_window_and_points_up_to_now_are_judged():
    """A bad forecast made before the window is forgotten (a recovered model is trusted again); a point at
    the moment the forecast was made, or after now, is not compared."""
    log = ForecastLog()
    old = NOW - pd.Timedelta(minutes=61)
    log.record(old, pd.Series(500.0, index=pd.date_range(old, periods=5, freq="1min")), keep_s=7200)
    made = NOW - pd.Timedelta(minutes=5)
    good = pd.Series(100.0, index=pd.date_range(made, NOW + pd.Timedelta(minutes=5), freq="1min"))
    good[made] = 900.0  # the value at the making time is not a forecast of the future
    good[NOW + pd.Timedelta(minutes=1)] = 900.0
    log.record(made, good, keep_s=7200)

    reading = judge(SPEC, log=log, history=ACTUAL, was_active=True, now=NOW)

    assert reading.accuracy["samples"] == 5  # (made, now]: 5 minutes
    assert reading.error == pytest.approx(0.0)
    assert reading.active is False


def test_a_forecast_made_exactly_at_the_window_start_is_judged():
    made = NOW - pd.Timedelta(seconds=SPEC.window_s)
    reading = judge(SPEC, log=_log_with(0.9, made=made), history=ACTUAL, was_active=False, now=NOW)
    assert reading.accuracy["samples"] == 10 and reading.active is True


def test_the_log_keeps_only_what_the_window_needs():
    log = ForecastLog()
    for minutes in (0, 30, 61, 90):
        made = NOW + pd.Timedelta(minutes=minutes)
        log.record(made, pd.Series([1.0], index=[made + pd.Timedelta(minutes=1)]), keep_s=3600)
    assert [t for t, _ in log.forecasts] == [NOW + pd.Timedelta(minutes=m) for m in (30, 61, 90)]


def test_an_idle_service_has_no_error_and_the_guard_keeps_its_state():
    zero = pd.Series(0.0, index=ACTUAL.index)
    reading = judge(SPEC, log=_log_with(0.0), history=zero, was_active=True, now=NOW)
    assert reading.error is None and reading.active is True


def test_a_kube_client_needs_a_readable_kubeconfig(tmp_path):
    with pytest.raises(ConfigError, match="kubeconfig"):
        KubeClient.from_kubeconfig(str(tmp_path / "missing"), settings=KubeSettings())


def test_lease_resource_is_coordination_v1():
    assert LEASES.path(namespace="ns", name="l") == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"
    assert HPAS.rbac_name() == "horizontalpodautoscalers.autoscaling"


def test_a_released_lease_taken_over_counts_one_transition_and_a_new_acquire_time(fake_api, kube):
    a, b = elector(kube, "a"), elector(kube, "b")
    a.ensure(NOW)
    a.release(NOW + pd.Timedelta(seconds=2))
    assert int(lease(fake_api)["spec"].get("leaseTransitions") or 0) == 0

    at = NOW + pd.Timedelta(seconds=3)
    assert b.ensure(at) is True
    spec = lease(fake_api)["spec"]
    assert (spec["holderIdentity"], int(spec["leaseTransitions"])) == ("b", 1)
    assert spec["acquireTime"] == spec["renewTime"] == micro_time(at)
    assert spec["leaseDurationSeconds"] == 15


def test_the_holders_own_lease_duration_decides_when_it_expires(fake_api, kube):
    a, b = elector(kube, "a", duration=30), elector(kube, "b", duration=15)
    a.ensure(NOW)
    assert b.ensure(NOW) is False
    assert b.ensure(NOW + pd.Timedelta(seconds=20)) is False  # 15 s by b's setting, 30 by the lease's
    assert b.ensure(NOW + pd.Timedelta(seconds=30)) is True


def test_a_leader_keeps_leading_through_renewals(fake_api, kube):
    a = elector(kube, "a")
    for k in range(5):
        assert a.ensure(NOW + pd.Timedelta(seconds=5 * k)) is True
    assert lease(fake_api)["spec"]["renewTime"] == micro_time(NOW + pd.Timedelta(seconds=20))
    assert elector(kube, "b").ensure(NOW + pd.Timedelta(seconds=21)) is False


def test_a_watch_from_a_lists_version_sees_what_changed_after_it(fake_api, kube):
    from forecaster.prescaler.kube import POLICIES
    from tests.prescaler_helpers import policy

    fake_api.put(policy("a"))
    items, rv = kube.list_with_version(POLICIES, namespace=NS)
    assert [o["metadata"]["name"] for o in items] == ["a"]
    fake_api.put(policy("b"))
    fake_api.remove("prescalepolicies", NS, "a")

    seen = [
        (e.type, e.obj["metadata"]["name"])
        for e in kube.watch(POLICIES, namespace=NS, resource_version=rv, timeout_s=1)
    ]

    assert seen == [("ADDED", "b"), ("DELETED", "a")]


def test_a_watch_from_a_compacted_version_is_gone_and_core_resources_are_refused(fake_api, kube):
    from forecaster.prescaler.kube import POLICIES
    from tests.prescaler_helpers import policy

    fake_api.put(policy("a"))
    _, rv = kube.list_with_version(POLICIES, namespace=NS)
    fake_api.put(policy("b"))
    fake_api.compact()
    with pytest.raises(GoneError):
        list(kube.watch(POLICIES, namespace=NS, resource_version=rv, timeout_s=1))
    with pytest.raises(ConfigError, match="custom resources only"):
        list(kube.watch(kube_module.EVENTS, namespace=NS, resource_version="1", timeout_s=1))
