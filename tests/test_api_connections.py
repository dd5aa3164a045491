"""The service at fleet scale: the targets of one Prometheus share one connection pool, and the refresh pass
runs on a small pool of its own.

Why it matters: Prometheus serves at most ``--web.max-connections`` (512 by default) connections at once, and
a source keeps its connection open between refreshes. With a pool per target, a service of 1,000 targets
held one connection per target: the 513th target's first query waited for a free one until it timed out,
and readiness came in waves paced by Prometheus' idle timeout (minutes), not by CPU. These tests count the
TCP connections a small local Prometheus stand-in sees during one refresh pass of every target (a fixed
clock, a bounded worker pool, no sleeps, no timing asserts).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from forecaster.api.app import SharedConnectionSources, create_app, default_source_factory
from forecaster.api.cache import ForecastService, ServingModel, TargetState
from forecaster.api.metrics import ServiceMetrics
from forecaster.api.settings import ServeSettings
from forecaster.settings import PrometheusSettings, TargetConfig
from tests.test_api_support import ServerThread

NOW = pd.Timestamp("2026-02-02 00:00:30")
WORKERS = 4
"""Worker threads of the refresh pass: at most this many queries are in flight at once."""


class CountingPrometheus:
    """Answers every range query with a flat series over the asked range; records each request's client
    address (host, port): one port per TCP connection the service opened."""

    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] = []
        self.queries: list[str] = []
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Prometheus (Go's net/http) does

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                with lock:
                    owner.peers.append(self.client_address)
                    owner.queries.append(params.get("query", ""))
                start, end = int(float(params["start"])), int(float(params["end"]))
                step = int(float(params["step"]))
                values = [[t, "5.0"] for t in range(start, end + 1, step)]
                body = json.dumps(
                    {
                        "status": "success",
                        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def connections(self) -> int:
        return len(set(self.peers))


@pytest.fixture
def prometheus() -> Iterator[CountingPrometheus]:
    fake = CountingPrometheus()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def configs(url: str, count: int) -> list[TargetConfig]:
    return [
        TargetConfig(
            name=f"svc-{i:03d}",
            prometheus=PrometheusSettings(url=url, query=f'up{{i="{i}"}}', step="1m", retries=0),
        )
        for i in range(count)
    ]


def refresh_every_target(make_source, cfgs: list[TargetConfig]) -> ForecastService:
    """One refresh pass over every target (the baseline forecasts), WORKERS threads at most."""
    states = [
        TargetState(config=c, source=make_source(c), model=ServingModel.baseline("test: no model"))
        for c in cfgs
    ]
    service = ForecastService(
        states,
        clock=lambda: NOW,
        max_history=pd.Timedelta("6h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
    )

    refresh_pass(service)
    return service


def refresh_pass(service: ForecastService) -> None:
    async def one_pass() -> list[str]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(WORKERS))
        return await service.refresh_due()

    done = asyncio.run(one_pass())
    assert sorted(done) == sorted(service.targets)


def test_the_targets_of_one_prometheus_share_a_bounded_pool_of_connections(prometheus):
    cfgs = configs(prometheus.url, 40)
    sources = SharedConnectionSources()
    service = refresh_every_target(sources, cfgs)
    assert len(prometheus.queries) == 40
    # A connection per target (40) was the old behaviour; a pool is reused across targets, at most one
    # connection per query in flight.
    assert 1 <= prometheus.connections() <= WORKERS
    assert sources.pools() == 1
    # A second pass reuses the kept-alive connections: still at most one per worker thread.
    for state in service.targets.values():
        service.invalidate(state.name)
    refresh_pass(service)
    assert len(prometheus.queries) == 80
    assert prometheus.connections() <= WORKERS


def test_a_pool_per_target_is_what_the_shared_one_replaces(prometheus):
    # The plain factory (one pool per source) opens one connection per target: this is what capped a
    # service at Prometheus' max-connections. It stays available for one-off sources.
    refresh_every_target(default_source_factory, configs(prometheus.url, 12))
    assert prometheus.connections() == 12


def test_each_prometheus_gets_its_own_pool(prometheus):
    other = CountingPrometheus()
    other.thread.start()
    try:
        sources = SharedConnectionSources()
        refresh_every_target(sources, configs(prometheus.url, 10))
        cfgs_other = [
            TargetConfig(
                name=f"other-{i}",
                prometheus=PrometheusSettings(url=other.url, query=f'up{{j="{i}"}}', step="1m", retries=0),
            )
            for i in range(10)
        ]
        refresh_every_target(sources, cfgs_other)
        assert sources.pools() == 2
        assert len(other.queries) == 10 and len(prometheus.queries) == 10
        assert other.connections() <= WORKERS and prometheus.connections() <= WORKERS
    finally:
        other.server.shutdown()
        other.server.server_close()


def test_the_service_builds_its_sources_with_one_pool_per_prometheus(prometheus):
    app = create_app(
        ServeSettings(tick_s=3600, auth_token_env=None),
        clock=lambda: NOW,
        targets=configs(prometheus.url, 5),
        model_loader=lambda cfg: None,
    )
    with ServerThread(app):  # the lifespan has built every source once uvicorn has started
        sources = [state.source for state in app.state.service.targets.values()]
        adapters = {id(s.http_adapter) for s in sources}
        assert all(s.http_adapter is not None for s in sources)
    assert len(adapters) == 1


def test_a_source_built_with_pools_uses_the_shared_pool_and_leaves_it_open_when_closed(prometheus):
    from forecaster.sources.prometheus import ConnectionPools, PrometheusSource

    pools = ConnectionPools(pool_maxsize=2)
    cfgs = configs(prometheus.url, 6)
    sources = [PrometheusSource(c.prometheus, pools=pools) for c in cfgs]
    assert len(pools) == 1
    assert {id(s.http_adapter) for s in sources} == {id(pools.adapter(prometheus.url))}
    for source in sources:  # one after another: the first connection is reused by every source
        source.fetch_recent(duration="10m", now=NOW)
    assert prometheus.connections() == 1
    sources[0].close()  # a closed source gives its session's pool back, not the shared connections
    sources[1].fetch_recent(duration="10m", now=NOW)
    assert prometheus.connections() == 1
    # Without pools each source has a pool of its own (and a connection of its own).
    alone = PrometheusSource(cfgs[0].prometheus)
    assert alone.http_adapter is not None and alone.http_adapter is not pools.adapter(prometheus.url)
    alone.fetch_recent(duration="10m", now=NOW)
    assert prometheus.connections() == 2
    alone.close()
    pools.close()


def test_pool_maxsize_must_be_positive():
    from forecaster.errors import ConfigError
    from forecaster.sources.prometheus import ConnectionPools

    with pytest.raises(ConfigError, match="pool_maxsize"):
        ConnectionPools(pool_maxsize=0)


def test_pool_size_must_be_positive():
    with pytest.raises(ValueError, match="pool_size"):
        SharedConnectionSources(pool_size=0)


class ThreadRecordingSource:
    """A flat series; records the name of the thread each fetch ran in."""

    def __init__(self, seen: set[str], lock: threading.Lock) -> None:
        self.seen, self.lock = seen, lock

    def fetch_recent(self, *, duration, now):
        with self.lock:
            self.seen.add(threading.current_thread().name)
        index = pd.date_range(end=now.floor("1min") - pd.Timedelta("1min"), periods=120, freq="1min")
        return pd.Series(5.0, index=index)


def test_the_refresh_pass_runs_on_a_pool_of_refresh_workers_threads():
    # The event loop competes for the GIL with every busy refresh thread: the pass is bounded to
    # refresh_workers threads of its own (asyncio's default pool has cpu + 4, 6 on 2 cores).
    seen: set[str] = set()
    lock = threading.Lock()
    states = [
        TargetState(
            config=c,
            source=ThreadRecordingSource(seen, lock),
            model=ServingModel.baseline("test: no model"),
        )
        for c in configs("http://127.0.0.1:9", 30)
    ]
    service = ForecastService(
        states,
        clock=lambda: NOW,
        max_history=pd.Timedelta("6h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
        refresh_workers=2,
    )
    try:
        done = asyncio.run(service.refresh_due())
    finally:
        service.close()
    assert len(done) == 30
    assert 1 <= len(seen) <= 2
    assert all(name.startswith("forecast-refresh") for name in seen)


def test_refresh_workers_must_be_positive():
    with pytest.raises(ValueError, match="refresh_workers"):
        ForecastService(
            [],
            clock=lambda: NOW,
            max_history=pd.Timedelta("6h"),
            refresh_delay=pd.Timedelta("10s"),
            retry_interval=pd.Timedelta("15s"),
            stale_after_steps=3,
            metrics=ServiceMetrics(),
            refresh_workers=0,
        )


def test_a_serve_config_with_no_refresh_workers_is_refused(tmp_path):
    from forecaster.api.settings import load_serve_settings
    from forecaster.errors import ConfigError

    path = tmp_path / "serve.yaml"
    path.write_text("refresh_workers: 0\n")
    with pytest.raises(ConfigError, match="refresh_workers must be >= 1"):
        load_serve_settings(str(path))
    path.write_text("refresh_workers: 3\n")
    assert load_serve_settings(str(path)).refresh_workers == 3
