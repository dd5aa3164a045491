"""The API at fleet scale: /v1/targets in pages and filtered by label; one elected refresher shares its
forecasts with follower replicas through an atomic snapshot on the shared volume.

Fixed clock, fake sources that count their queries, the baseline as the model (no training here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from forecaster.api.app import create_app
from forecaster.api.cache import ServingModel
from forecaster.api.selectors import parse_selector
from forecaster.api.settings import ServeSettings
from forecaster.errors import DataError
from forecaster.settings import PrometheusSettings, TargetConfig
from tests.test_api_support import ServerThread, wait_for

NOW = pd.Timestamp("2024-05-01 20:00:30")


class FlatSource:
    """A flat series (one value per target) up to ``now``; counts its queries."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0

    def fetch_recent(self, *, duration, now):
        self.calls += 1
        index = pd.date_range(end=now.floor("1min") - pd.Timedelta("1min"), periods=120, freq="1min")
        return pd.Series(np.full(len(index), self.value), index=index)


def configs(count: int) -> list[TargetConfig]:
    return [
        TargetConfig(name=f"svc-{i:03d}", prometheus=PrometheusSettings(query=f'up{{i="{i}"}}', step="1m"))
        for i in range(count)
    ]


def labels(count: int) -> dict[str, dict[str, str]]:
    return {
        f"svc-{i:03d}": {"team": "payments" if i % 3 == 0 else "search", **({"tier": "1"} if i < 10 else {})}
        for i in range(count)
    }


@contextlib.contextmanager
def serve(count: int, *, settings: ServeSettings | None = None, sources=None) -> Iterator[httpx.Client]:
    sources = sources if sources is not None else {}
    app = create_app(
        settings or ServeSettings(tick_s=0.05, auth_token_env=None),
        clock=lambda: NOW,
        targets=configs(count),
        labels=labels(count),
        source_factory=lambda cfg: sources.setdefault(cfg.name, FlatSource(float(len(sources) + 1))),
        model_loader=lambda cfg: None,
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


# -- pages and labels -------------------------------------------------------------------------------------


def test_targets_come_in_pages_that_cover_every_target_once():
    with serve(25) as client:
        names, token, pages = [], None, 0
        while True:
            params = {"limit": 10} | ({"continue": token} if token else {})
            body = client.get("/v1/targets", params=params).json()
            pages += 1
            assert body["total"] == 25 and len(body["targets"]) <= 10
            names += [t["name"] for t in body["targets"]]
            token = body["continue"]
            if token is None:
                break
        assert pages == 3 and names == [f"svc-{i:03d}" for i in range(25)]
        default = client.get("/v1/targets").json()
        assert len(default["targets"]) == 25 and default["continue"] is None


def test_targets_are_filtered_by_label_selector_and_pages_follow_the_filter():
    with serve(25) as client:
        body = client.get("/v1/targets", params={"labelSelector": "team=payments,tier=1", "limit": 2}).json()
        assert body["total"] == 4  # 0, 3, 6, 9
        assert [t["name"] for t in body["targets"]] == ["svc-000", "svc-003"]
        assert body["targets"][0]["labels"] == {"team": "payments", "tier": "1"}
        rest = client.get(
            "/v1/targets", params={"labelSelector": "team=payments,tier=1", "continue": body["continue"]}
        ).json()
        assert [t["name"] for t in rest["targets"]] == ["svc-006", "svc-009"] and rest["continue"] is None
        assert client.get("/v1/targets", params={"labelSelector": "!tier,team!=search"}).json()["total"] == 5


@pytest.mark.parametrize(
    ("params", "field", "needle"),
    [
        ({"labelSelector": "team=pay ments"}, "labelSelector", "not a label value"),
        ({"labelSelector": "=x"}, "labelSelector", "not a label key"),
        ({"continue": "%%%"}, "continue", "not a continue token"),
        ({"limit": 0}, "limit", ""),
        ({"limit": 5000}, "limit", ""),
    ],
)
def test_bad_page_or_selector_parameters_are_a_422_naming_the_parameter(params, field, needle):
    with serve(3) as client:
        answer = client.get("/v1/targets", params=params)
        assert answer.status_code == 422
        text = answer.text
        assert field in text and needle in text


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("team=a", {"team": "a"}, True),
        ("team==a", {"team": "b"}, False),
        ("team!=a", {}, True),
        ("team", {"team": ""}, True),
        ("!team", {"team": "a"}, False),
        ("team=a,tier=1", {"team": "a"}, False),
        ("", {}, True),
    ],
)
def test_selector_semantics(selector, labels, matches):
    assert parse_selector(selector)(labels) is matches


def test_too_many_selector_terms_are_refused():
    with pytest.raises(DataError, match="more than 20"):
        parse_selector(",".join(f"k{i}=v" for i in range(21)))


def test_the_baseline_serves_every_target_of_a_small_fleet():
    with serve(5) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="ready")
        body = client.get("/v1/targets/svc-004/forecast").json()
        assert body["model"]["kind"] == "baseline" and body["forecast"]["values"]["p50"][0] == 5.0


_ = ServingModel  # the model a replica serves is the shared snapshot's (see below)


# -- one elected refresher, followers serve its snapshot ----------------------------------------------------


def test_one_elected_replica_queries_and_the_follower_serves_its_snapshot(tmp_path):
    from forecaster.prescaler.kube import KubeClient
    from forecaster.prescaler.leader import LeaderElector
    from tests.fake_kube_api import FakeKubeApiServer

    count = 6
    snapshot = tmp_path / "shared" / "api.json"
    settings = ServeSettings(
        tick_s=0.05, auth_token_env=None, refresher="elected", snapshot_path=str(snapshot)
    )
    with FakeKubeApiServer(rbac_checked=False) as fake:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")

        def elector(identity: str) -> LeaderElector:
            kube = KubeClient.from_kubeconfig(str(kubeconfig))
            return LeaderElector(kube, namespace="forecaster", name="api", identity=identity)

        def app(identity: str, sources: dict) -> object:
            return create_app(
                settings,
                clock=lambda: NOW,
                targets=configs(count),
                labels=labels(count),
                source_factory=lambda cfg: sources.setdefault(cfg.name, FlatSource(float(len(sources) + 1))),
                model_loader=lambda cfg: None,
                elector=elector(identity),
            )

        a_sources: dict = {}
        b_sources: dict = {}
        with ServerThread(app("a", a_sources)) as a, httpx.Client(base_url=a.url, timeout=30) as ca:
            wait_for(lambda: ca.get("/readyz").status_code == 200, what="the leader ready")
            with ServerThread(app("b", b_sources)) as b, httpx.Client(base_url=b.url, timeout=30) as cb:
                wait_for(lambda: cb.get("/readyz").status_code == 200, what="the follower ready")
                for name in ("svc-000", "svc-005"):
                    url = f"/v1/targets/{name}/forecast"
                    assert cb.get(url).json() == ca.get(url).json(), (
                        "the follower serves the leader's forecast"
                    )
                assert sum(s.calls for s in b_sources.values()) == 0, "the follower never queries"
                assert sorted(s.calls for s in a_sources.values()) == [1] * count, "one query per target"
                assert "forecaster_refresher_leader 1.0" in ca.get("/metrics").text
                metrics_b = cb.get("/metrics").text
                assert "forecaster_refresher_leader 0.0" in metrics_b
                assert "forecaster_source_queries_total 0.0" in metrics_b
                assert fake.get("leases", "forecaster", "api")["spec"]["holderIdentity"] == "a"
            # The leader stops: it releases the Lease; the snapshot stays for whoever leads next.
        assert snapshot.exists() and not list(snapshot.parent.glob(".*.tmp")), "no temporary file left"
        assert fake.get("leases", "forecaster", "api")["spec"].get("holderIdentity") in (None, "")


def test_a_snapshot_round_trip_keeps_every_field_a_response_shows(tmp_path):
    from forecaster.api.shared import SnapshotFile, apply_snapshot, snapshot_document

    sources: dict = {}
    leader_app = create_app(
        ServeSettings(tick_s=0.05, auth_token_env=None),
        clock=lambda: NOW,
        targets=configs(3),
        source_factory=lambda cfg: sources.setdefault(cfg.name, FlatSource(7.0)),
        model_loader=lambda cfg: None,
    )
    with ServerThread(leader_app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="ready")
        service = leader_app.state.service
        before = client.get("/v1/targets/svc-001/forecast").json()
        file = SnapshotFile(tmp_path / "s.json")
        file.write(snapshot_document(service, written_at=NOW))
        doc = file.read_if_changed()
        assert doc is not None and file.read_if_changed() is None, "unchanged: not read again"
        for state in service.targets.values():
            state.entry = None
        assert apply_snapshot(service, doc) == 3
        assert client.get("/v1/targets/svc-001/forecast").json() == before
        doc["version"] = 99
        with pytest.raises(Exception, match="snapshot version 99"):
            apply_snapshot(service, doc)


def test_metrics_fast_path_gives_what_the_collector_gives():
    from prometheus_client import CollectorRegistry, generate_latest

    from forecaster.api.metrics import ForecastCollector, render_forecasts

    app = create_app(
        ServeSettings(tick_s=0.05, auth_token_env=None),
        clock=lambda: NOW,
        targets=configs(4),
        source_factory=lambda cfg: FlatSource(3.0),
        model_loader=lambda cfg: (
            ServingModel(
                predictor=None,
                kind="baseline",
                name="seasonal_naive_daily",
                trained_at="2024-05-01T19:00:00Z",
            )
            if cfg.name == "svc-001"
            else None
        ),
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="ready")
        service = app.state.service
        registry = CollectorRegistry()
        registry.register(ForecastCollector(service))
        expected = sorted(generate_latest(registry).decode().splitlines())
        assert sorted(render_forecasts(service).decode().splitlines()) == expected
        assert render_forecasts(service) == render_forecasts(service), "cached lines are stable"
        scraped = client.get("/metrics").text
        assert 'forecaster_model_age_seconds{target="svc-001"} 3630.0' in scraped
        assert scraped.count("# TYPE forecaster_forecast gauge") == 1
