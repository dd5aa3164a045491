"""The prescaler at fleet scale: the list + watch cache, bounded concurrent forecasts with a per-target
deadline, forecasts shared by policies naming the same target, writes only on change, tick metrics.

Against the fake API server through the real kubernetes client (its watch included); forecasts are scripted.
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from forecaster.prescaler.forecasts import StoreForecastProvider
from forecaster.prescaler.informer import WatchCache
from forecaster.prescaler.kube import POLICIES, GoneError, KubeClient
from forecaster.prescaler.loop import Controller, FleetSettings
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy import PrescalePolicy
from forecaster.prescaler.policy_sources import WatchedPolicySource
from forecaster.settings import PrometheusSettings
from tests import prescaler_helpers
from tests.fake_kube_api import FakeKubeApiServer
from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, forecast_frame, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


def names(cache: WatchCache) -> list[str]:
    return [o["metadata"]["name"] for o in cache.items()]


# -- the watch cache --------------------------------------------------------------------------------------


def test_the_cache_lists_once_then_follows_adds_changes_and_deletes_by_watch(
    fake_api: FakeKubeApiServer, kube: KubeClient
):
    fake_api.put(policy("a"))
    fake_api.put(policy("b"))
    cache = WatchCache(kube, POLICIES, watch_timeout_s=1)
    cache.step()  # the list
    assert names(cache) == ["a", "b"] and cache.lists == 1
    fake_api.put(policy("c"))
    fake_api.set_field("prescalepolicies", NS, "a", "spec.minReplicas", 7)
    fake_api.remove("prescalepolicies", NS, "b")
    cache.step()  # one watch round (ends after its 1 s timeout)
    assert names(cache) == ["a", "c"]
    assert cache.get(f"{NS}/a")["spec"]["minReplicas"] == 7
    assert cache.lists == 1, "a watch round must not list again"
    assert len(fake_api.requests_matching(verb="list", resource="prescalepolicies")) == 1
    assert len(fake_api.requests_matching(verb="watch", resource="prescalepolicies")) == 1
    assert cache.resource_version == fake_api.get("prescalepolicies", NS, "a")["metadata"][
        "resourceVersion"
    ] or (
        int(cache.resource_version)
        > int(fake_api.get("prescalepolicies", NS, "a")["metadata"]["resourceVersion"])
    )


def test_a_410_gone_lists_again_and_the_cache_holds_what_happened_meanwhile(
    fake_api: FakeKubeApiServer, kube: KubeClient
):
    fake_api.put(policy("a"))
    cache = WatchCache(kube, POLICIES, watch_timeout_s=1)
    cache.step()
    fake_api.put(policy("b"))
    fake_api.compact()  # etcd compacted: the cache's resourceVersion is gone
    cache.step()
    assert cache.resource_version is None, "the 410 must make the next round list"
    cache.step()
    assert names(cache) == ["a", "b"] and cache.lists == 2


def test_the_client_raises_gone_for_a_compacted_resource_version(
    fake_api: FakeKubeApiServer, kube: KubeClient
):
    fake_api.put(policy("a"))
    _, version = kube.list_with_version(POLICIES)
    fake_api.put(policy("b"))
    fake_api.compact()
    with pytest.raises(GoneError, match="too old"):
        list(kube.watch(POLICIES, resource_version=version, timeout_s=1))


def test_the_cache_thread_follows_changes_until_stopped(fake_api: FakeKubeApiServer, kube: KubeClient):
    fake_api.put(policy("a"))
    cache = WatchCache(kube, POLICIES, watch_timeout_s=1)
    stop = threading.Event()
    thread = cache.start(stop)
    assert cache.synced.wait(5)
    fake_api.put(policy("b"))
    for _ in range(100):
        if names(cache) == ["a", "b"]:
            break
        stop.wait(0.05)
    stop.set()
    thread.join(5)
    assert names(cache) == ["a", "b"] and not thread.is_alive()


def test_a_failing_watch_keeps_the_cache_serving_and_restarts_on_the_backoff_schedule(
    fake_api: FakeKubeApiServer, kube: KubeClient
):
    from forecaster.prescaler.informer import RESTART_BACKOFF_S
    from forecaster.prescaler.kube import TemporaryKubeError

    fake_api.put(policy("a"))
    cache = WatchCache(kube, POLICIES, watch_timeout_s=1)
    cache.step()
    fake_api.fail(503, verb="watch", resource="prescalepolicies", times=2)
    with pytest.raises(TemporaryKubeError):
        cache.step()
    assert names(cache) == ["a"], "the last state is still served"
    stop = threading.Event()
    waits: list[float] = []

    def wait(delay: float) -> bool:
        waits.append(delay)
        return False

    fake_api.put(policy("b"))
    thread = threading.Thread(target=cache.run, args=(stop,), kwargs={"wait": wait}, daemon=True)
    thread.start()
    for _ in range(200):
        if names(cache) == ["a", "b"]:
            break
        stop.wait(0.05)
    stop.set()
    thread.join(5)
    assert waits == [RESTART_BACKOFF_S[0]], "one more failure, one wait, then the watch resumed"
    assert names(cache) == ["a", "b"] and cache.lists == 1, "resumed from its resourceVersion, no relist"


# -- the controller: bounded concurrency, deadlines, groups, writes only on change ---------------------------


def controller(
    kube: KubeClient, forecasts: Any, *, fleet: FleetSettings, watched: bool = False
) -> Controller:
    cache = WatchCache(kube, POLICIES, watch_timeout_s=1)
    from forecaster.prescaler.policy_sources import CrdPolicySource

    source = WatchedPolicySource(kube, cache=cache) if watched else CrdPolicySource(kube)
    return Controller(
        policies=source,
        forecasts=forecasts,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        fleet=fleet,
    )


def seed(fake: FakeKubeApiServer, count: int, **spec: Any) -> list[str]:
    names = [f"svc-{i:02d}" for i in range(count)]
    for name in names:
        fake.put(deployment(name, replicas=2))
        fake.put(policy(name, target=name, **spec))
    return names


class GatedForecasts(FakeForecasts):
    """Each forecast call waits for ``gate`` (per policy name: ``blocked`` never passes until released)."""

    def __init__(self, *, blocked: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.release = threading.Event()
        self.blocked = blocked
        self.active = 0
        self.most = 0
        self._lock = threading.Lock()

    def forecast(self, policy: PrescalePolicy, now: pd.Timestamp) -> Any:
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            (self.release if policy.name in self.blocked else self.gate).wait(10)
            return super().forecast(policy, now)
        finally:
            with self._lock:
                self.active -= 1


def test_no_more_forecasts_run_at_once_than_the_pool_allows(fake_api, kube):
    seed(fake_api, 8)
    forecasts = GatedForecasts()
    ctl = controller(kube, forecasts, fleet=FleetSettings(forecast_workers=3))
    outcomes: list[Any] = []
    ticking = threading.Thread(target=lambda: outcomes.extend(ctl.tick(NOW)))
    ticking.start()
    for _ in range(200):
        if forecasts.active == 3:
            break
        forecasts.gate.wait(0.01)
    assert forecasts.active == 3
    forecasts.gate.set()
    ticking.join(10)
    assert forecasts.most == 3, "the pool bounds the Prometheus reads in flight"
    assert len(outcomes) == 8 and all(o.ready for o in outcomes)
    ctl.shutdown(NOW)


def test_a_slow_target_fails_safe_at_its_deadline_and_does_not_hold_up_the_others(fake_api, kube):
    names = seed(fake_api, 4)
    forecasts = GatedForecasts(blocked=frozenset({names[0]}))
    forecasts.gate.set()
    ctl = controller(kube, forecasts, fleet=FleetSettings(forecast_workers=2, forecast_deadline_s=0.5))
    try:
        outcomes = {o.key: o for o in ctl.tick(NOW)}
        slow = outcomes[f"{NS}/{names[0]}"]
        assert not slow.ready and "deadline" in slow.message and "never scaling down" in slow.message
        assert all(outcomes[f"{NS}/{n}"].ready for n in names[1:]), "the others were reconciled on time"
        assert (
            ctl.metrics.registry.get_sample_value("forecaster_prescaler_forecast_deadline_exceeded_total")
            == 1
        )
        # Next tick: the slow read is still the one in flight; a second one is not started beside it.
        outcomes = {o.key: o for o in ctl.tick(NOW + pd.Timedelta(minutes=1))}
        assert not outcomes[f"{NS}/{names[0]}"].ready
        assert [n for n, _ in forecasts.calls].count(names[0]) == 0  # still blocked inside its first call
        assert forecasts.active == 1
    finally:
        forecasts.release.set()
        ctl.shutdown(NOW)


class Model:
    """A stand-in model for inline policies: the last value, flat, as p50 and p90."""

    step = "1min"
    lookback_steps = 60
    predictions = 0

    def predict(self, series: pd.Series) -> pd.DataFrame:
        Model.predictions += 1
        last = float(series.dropna().iloc[-1])
        return forecast_frame(pd.Timestamp(series.index[-1]), p90=last, p50=last)


def test_policies_sharing_a_forecast_share_one_prometheus_read_and_the_tick_exports_its_query_count(
    fake_api, kube
):
    fetches: list[str] = []

    def fetch(settings: PrometheusSettings, *, now: pd.Timestamp, history: pd.Timedelta) -> pd.Series:
        fetches.append(settings.query)
        return prescaler_helpers.history(now, value=500.0)

    shared = {"forecast": {"query": "sum(rate(http_requests_total[1m]))", "modelPath": "/models/x"}}
    other = {"forecast": {"query": "sum(rate(http_errors_total[1m]))", "modelPath": "/models/x"}}
    seed(fake_api, 3, **shared)
    fake_api.put(deployment("other", replicas=2))
    fake_api.put(policy("other", target="other", **other))
    provider = StoreForecastProvider(fetch=fetch, load_model=lambda path: Model())
    ctl = controller(kube, provider, fleet=FleetSettings(forecast_workers=4))
    Model.predictions = 0
    outcomes = ctl.tick(NOW)
    assert all(o.ready for o in outcomes) and len(outcomes) == 4
    assert sorted(fetches) == sorted([shared["forecast"]["query"], other["forecast"]["query"]])
    assert Model.predictions == 2, "one forward pass per group"
    value = ctl.metrics.registry.get_sample_value
    assert value("forecaster_prescaler_tick_prometheus_queries") == 2
    assert value("forecaster_prescaler_policies") == 4
    assert value("forecaster_prescaler_tick_duration_seconds_count") == 1
    ctl.shutdown(NOW)


def steady(fake_api: FakeKubeApiServer, kube: KubeClient, fleet: FleetSettings, forecasts: Any = None) -> Any:
    """Three working policies, a broken one and an orphan, ticked at NOW, +1m (replicas 2 -> 3 then seen)."""
    seed(fake_api, 3)
    fake_api.put(policy("broken", capacityPerReplica=-1))  # its status never changes
    fake_api.put(policy("orphan", target="missing"))  # nor does this one's (target not found)
    ctl = controller(kube, forecasts or FakeForecasts(), fleet=fleet, watched=True)
    for minute in (0, 1):  # statuses, finalizers, replicas 2 -> 3; then the new current replicas
        ctl.tick(NOW + pd.Timedelta(minutes=minute))
        ctl.policies.cache.step()  # the watch brings our own writes back
    return ctl


def tick_writes(fake_api: FakeKubeApiServer, ctl: Controller, minute: int) -> list[tuple]:
    writes = len(fake_api.writes())
    outcomes = ctl.tick(NOW + pd.Timedelta(minutes=minute))
    ctl.policies.cache.step()
    assert [o.ready for o in outcomes] == [False, False, True, True, True]
    return sorted((w.resource, w.subresource, w.name) for w in fake_api.writes()[writes:])


def test_an_unchanged_tick_reads_the_cache_and_writes_nothing(fake_api, kube):
    ctl = steady(fake_api, kube, FleetSettings())
    before = fake_api.get("prescalepolicies", NS, "svc-00")["status"]
    # Only the clock moved (the forecast's peak time, the window's newest recommendation): no status patch,
    # no scale write, no finalizer, no event, for any policy.
    assert tick_writes(fake_api, ctl, 2) == []
    assert tick_writes(fake_api, ctl, 3) == []
    assert ctl.metrics.registry.get_sample_value("forecaster_prescaler_status_writes_skipped_total") == 6
    assert len(fake_api.requests_matching(verb="list", resource="prescalepolicies")) == 1, (
        "one list, then watch"
    )
    hpa_lists = len(fake_api.requests_matching(verb="list", resource="horizontalpodautoscalers"))
    tick_writes(fake_api, ctl, 4)
    assert (
        len(fake_api.requests_matching(verb="list", resource="horizontalpodautoscalers")) == hpa_lists + 1
    ), "the namespace's HPAs are listed once a tick, not once per policy"
    # The refresh interval (5 minutes after the last write at +1m) brings the clock-following parts up to date.
    patches = [("prescalepolicies", "status", f"svc-0{i}") for i in range(3)]
    assert tick_writes(fake_api, ctl, 6) == patches
    after = fake_api.get("prescalepolicies", NS, "svc-00")["status"]
    assert after["forecastPeakTime"] > before["forecastPeakTime"] and after["desiredReplicas"] == 3
    # The stabilisation window holds one recommendation per value, not one per tick.
    assert [r["replicas"] for r in after["scalingState"]["recommendations"]] == [3]
    assert tick_writes(fake_api, ctl, 7) == []
    ctl.shutdown(NOW)


def test_without_a_refresh_interval_every_change_is_written(fake_api, kube):
    ctl = steady(fake_api, kube, FleetSettings(status_refresh_s=0))
    assert tick_writes(fake_api, ctl, 2) == [("prescalepolicies", "status", f"svc-0{i}") for i in range(3)]
    ctl.shutdown(NOW)


def test_a_changed_decision_is_written_at_once(fake_api, kube):
    peak = {"svc-01": lambda now: 450.0 if now >= NOW + pd.Timedelta(minutes=2) else 250.0}
    ctl = steady(fake_api, kube, FleetSettings(), forecasts=FakeForecasts(**peak))
    # svc-01's forecast rises (p90 450 / 100 per replica -> 5): its replicas, its status and the Event, now.
    assert tick_writes(fake_api, ctl, 2) == [
        ("deployments", "scale", "svc-01"),
        ("events", None, None),
        ("prescalepolicies", "status", "svc-01"),
    ]
    assert fake_api.get("prescalepolicies", NS, "svc-01")["status"]["desiredReplicas"] == 5
    ctl.shutdown(NOW)


# -- targets discovered from ForecastTargets ----------------------------------------------------------------


def forecast_target(name: str, *, store: str) -> dict[str, Any]:
    return {
        "apiVersion": "forecasting.forecaster.io/v1alpha1",
        "kind": "ForecastTarget",
        "metadata": {"name": name, "namespace": "forecaster"},
        "spec": {"prometheus": {"url": "http://127.0.0.1:1", "query": f'up{{job="{name}"}}'}, "store": store},
    }


def test_a_policy_finds_its_target_among_the_clusters_forecast_targets(fake_api, kube, tmp_path):
    from forecaster.errors import ConfigError, ModelStoreError
    from forecaster.prescaler.forecasts import ClusterTargetConfigs
    from forecaster.prescaler.kube import FORECAST_TARGETS
    from forecaster.prescaler.policy import parse_policy

    store = tmp_path / "models"
    fake_api.put(forecast_target("web", store=str(store)))
    cache = WatchCache(kube, FORECAST_TARGETS, namespace="forecaster", watch_timeout_s=1)
    provider = StoreForecastProvider(
        training_dir=tmp_path / "nothing-here", targets=ClusterTargetConfigs(cache)
    )
    web = parse_policy(policy("web", forecast={"target": "web"}))
    # The config (its store) came from the ForecastTarget: the store it names has no model yet.
    with pytest.raises(ModelStoreError, match="no promoted model for target 'web'"):
        provider.forecast(web, NOW)
    with pytest.raises(ConfigError, match="no ForecastTarget 'api' in namespace forecaster"):
        provider.forecast(parse_policy(policy("api", forecast={"target": "api"})), NOW)
    fake_api.put(forecast_target("api", store=str(store)))
    cache.step()  # the watch brings the new target
    with pytest.raises(ModelStoreError, match="target 'api'"):
        provider.forecast(parse_policy(policy("api", forecast={"target": "api"})), NOW)
    assert cache.lists == 1


class FakeStore:
    """``load_for`` of a model store holding a :class:`Model` for each name in ``targets``."""

    def __init__(self, targets: set[str]) -> None:
        self.targets = targets

    def load_for(self, target: str, **kw: Any) -> Any:
        from types import SimpleNamespace

        if target not in self.targets:
            return None
        return SimpleNamespace(model=Model(), ref=SimpleNamespace(version=f"{target}-v1"))


@pytest.mark.parametrize("predict_workers", [1, 3])
def test_members_of_a_template_share_one_read_of_its_query(fake_api, kube, predict_workers):
    from forecaster.prescaler.forecasts import ClusterTargetConfigs
    from forecaster.prescaler.kube import FORECAST_TARGETS
    from forecaster.templates import member_name

    template = forecast_target("web", store="/models")
    template["spec"]["prometheus"]["query"] = "sum by (service) (rate(http_requests_total[1m]))"
    template["spec"]["splitBy"] = ["service"]
    fake_api.put(template)
    services = [f"s{i:02d}" for i in range(30)]
    members = [member_name("web", (s,)) for s in services]
    for i, member in enumerate(members):
        fake_api.put(deployment(f"d{i:02d}", replicas=2))
        fake_api.put(policy(f"p{i:02d}", target=f"d{i:02d}", forecast={"target": member}))
    reads: list[tuple[str, ...]] = []

    def fetch_split(settings, *, now, split_by, max_series, history):
        reads.append(split_by)
        assert settings.query == template["spec"]["prometheus"]["query"] and max_series == 100
        # One series is gone from Prometheus now.
        return {(s,): prescaler_helpers.history(now, value=100.0 + i) for i, s in enumerate(services[:-1])}

    provider = StoreForecastProvider(
        targets=ClusterTargetConfigs(WatchCache(kube, FORECAST_TARGETS, namespace="forecaster")),
        fetch_split=fetch_split,
        stores=lambda root: FakeStore(set(members) - {members[0]}),  # the first was never trained
        predict_workers=predict_workers,
    )
    ctl = controller(kube, provider, fleet=FleetSettings(forecast_workers=4))
    outcomes = {o.key: o for o in ctl.tick(NOW)}
    assert reads == [("service",)], "one read of the template for all 30 members"
    assert ctl.metrics.registry.get_sample_value("forecaster_prescaler_tick_prometheus_queries") == 2
    assert "no promoted model for target 'web--s00'" in outcomes[f"{NS}/p00"].message
    assert "has no series for 'web--s29'" in outcomes[f"{NS}/p29"].message
    ready = [k for k, o in outcomes.items() if o.ready]
    assert len(ready) == 28
    assert fake_api.get("prescalepolicies", NS, "p05")["status"]["modelVersion"] == "web--s05-v1"
    # Each member's own series (value 100 + i, flat): p90 105 / 100 per replica -> 2 replicas (min 2), p20: 120.
    assert outcomes[f"{NS}/p20"].desired == 2 and fake_api.get("prescalepolicies", NS, "p20")["status"][
        "forecastPeak"
    ] == pytest.approx(120.0)
    ctl.shutdown(NOW)


def test_a_member_is_reconciled_as_soon_as_its_forecast_is_made_not_after_its_whole_template(fake_api, kube):
    from forecaster.prescaler.forecasts import ClusterTargetConfigs
    from forecaster.prescaler.kube import FORECAST_TARGETS
    from forecaster.templates import member_name

    template = forecast_target("web", store="/models")
    template["spec"]["prometheus"]["query"] = "sum by (service) (rate(http_requests_total[1m]))"
    template["spec"]["splitBy"] = ["service"]
    fake_api.put(template)
    members = [member_name("web", (s,)) for s in ("fast", "slow")]
    for i, member in enumerate(members):
        fake_api.put(deployment(f"d{i}", replicas=2))
        fake_api.put(policy(f"p{i}", target=f"d{i}", forecast={"target": member}))
    release = threading.Event()

    class SlowModel(Model):
        def predict(self, series: pd.Series) -> pd.DataFrame:
            release.wait(10)
            return super().predict(series)

    class Store(FakeStore):
        def load_for(self, target: str, **kw: Any) -> Any:
            promoted = super().load_for(target, **kw)
            if target.endswith("slow"):
                promoted.model = SlowModel()
            return promoted

    provider = StoreForecastProvider(
        targets=ClusterTargetConfigs(WatchCache(kube, FORECAST_TARGETS, namespace="forecaster")),
        fetch_split=lambda settings, **kw: {
            ("fast",): prescaler_helpers.history(NOW, value=300.0),
            ("slow",): prescaler_helpers.history(NOW, value=300.0),
        },
        stores=lambda root: Store(set(members)),
    )
    ctl = controller(kube, provider, fleet=FleetSettings(forecast_workers=2, forecast_deadline_s=1.0))
    try:
        outcomes = {o.key: o for o in ctl.tick(NOW)}
        assert outcomes[f"{NS}/p0"].ready, "its forecast was made before its slow sibling's"
        assert not outcomes[f"{NS}/p1"].ready and "deadline" in outcomes[f"{NS}/p1"].message
    finally:
        release.set()
        ctl.shutdown(NOW)
