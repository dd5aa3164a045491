"""What a dashboard and the caches between it and the service see over HTTP as time passes: the Age and
max-age headers following the clock, 304 answers that still carry the cache headers, a view served fresh that
turns stale when a refresh fails, the listing's refresh time, and a browser's CORS preflight for the calls a
dashboard with a token makes.

Over HTTP (uvicorn on 127.0.0.1, the app ``forecaster serve`` builds, auth and CORS on) with a clock the test
moves, an in-memory source that can fail, and the seasonal baseline serving. Each request is sent twice: as
the cached fast path answers it and through FastAPI's route (an extra parameter the fast path leaves alone).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from forecaster.api.app import create_app
from forecaster.api.cache import ServingModel, iso
from forecaster.api.settings import ServeSettings
from forecaster.errors import SourceError
from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig
from tests.test_api_support import MutableClock, ServerThread, wait_for

TOKEN = "tok-7f3a9"
ORIGIN = "https://grafana.example"
STEP = pd.Timedelta(minutes=5)
START = pd.Timestamp("2026-03-02")
INDEX = pd.date_range(START, periods=4 * 288, freq=STEP)
SERIES = pd.Series(200 + 80 * np.sin(np.arange(len(INDEX)) * 2 * np.pi / 288), index=INDEX)
T0 = START + pd.Timedelta(days=3) + pd.Timedelta("15s")  # 15 s into a step: past the 10 s refresh delay
URL = "/v1/targets/web/forecast"
WAYS = {"fast path": "", "route": "?via=route"}


class _Source:
    def __init__(self) -> None:
        self.fail = False

    def fetch_recent(self, *, duration: pd.Timedelta, now: pd.Timestamp) -> pd.Series:
        if self.fail:
            raise SourceError("Prometheus unreachable")
        return SERIES.loc[now - duration : now]


def _sample(text: str, series: str) -> float | None:
    """The value of one series in a Prometheus text exposition (labels as written there, sorted)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


class _Service:
    def __init__(self, client: httpx.Client, clock: MutableClock, source: _Source) -> None:
        self.client, self.clock, self.source = client, clock, source

    def get(self, way: str, **headers: str) -> httpx.Response:
        return self.client.get(URL + WAYS[way], headers=headers)


@pytest.fixture
def svc() -> Iterator[_Service]:
    clock = MutableClock(T0)
    source = _Source()
    cfg = TargetConfig(
        name="web",
        prometheus=PrometheusSettings(url="http://127.0.0.1:9", query="up", step="5m"),
        model=ModelSettings(lookback="1h", horizon="30m", quantiles=(0.5, 0.9)),
    )
    app = create_app(
        ServeSettings(
            tick_s=0.02,
            demo_train=False,
            auth_token_env="FORECASTER_TEST_HTTP_TOKEN_UNSET",
            cors_origins=(ORIGIN,),
            default_history="1h",
            max_history="6h",
            retry_interval="20s",
        ),
        clock=clock,
        targets=[cfg],
        source_factory=lambda _cfg: source,
        model_loader=lambda _cfg: ServingModel.baseline("no trained model in this test"),
    )
    app.state.auth_token = TOKEN.encode()  # as a mounted token file would set it
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30, headers=headers) as c:
        wait_for(lambda: c.get("/readyz").status_code == 200, what="the first forecast")
        yield _Service(c, clock, source)


@pytest.mark.parametrize("way", list(WAYS))
def test_age_and_max_age_follow_the_clock_and_a_304_keeps_the_cache_headers(svc, way):
    first = svc.get(way)
    assert first.status_code == 200
    assert first.headers["age"] == "0" and first.json()["age_s"] == 0.0
    assert first.headers["cache-control"] == "private, max-age=295"  # the next step starts in 4:45, +10 s
    svc.clock.advance("100s")
    later = svc.get(way)
    assert later.headers["etag"] == first.headers["etag"], "the same forecast"
    assert later.headers["age"] == "100" and later.json()["age_s"] == 100.0
    assert later.headers["cache-control"] == "private, max-age=195"
    same = svc.get(way, **{"If-None-Match": first.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == first.headers["etag"]
    assert same.headers["cache-control"] == "private, max-age=195"
    assert same.headers["age"] == "100"
    text = svc.client.get("/metrics").text
    assert _sample(text, 'forecaster_cache_requests_total{result="hit",target="web"}') == 2.0
    assert _sample(text, 'forecaster_cache_requests_total{result="not_modified",target="web"}') == 1.0


@pytest.mark.parametrize("way", list(WAYS))
def test_a_view_served_fresh_turns_stale_when_the_next_refresh_fails(svc, way):
    before = svc.get(way)
    fresh = before.json()
    assert fresh["stale"] is False
    svc.source.fail = True
    svc.clock.advance(STEP)  # the next step: the refresher tries, and fails
    wait_for(lambda: svc.client.get("/v1/targets").json()["targets"][0]["stale"], what="the failed refresh")
    r = svc.get(way)
    body = r.json()
    assert body["stale"] is True
    assert body["stale_reason"].startswith("history query failed: Prometheus unreachable")
    assert body["generated_at"] == fresh["generated_at"], "the last good forecast is still served"
    assert r.headers["etag"] != before.headers["etag"], "a body of its own, not the fresh one's"
    # A failed refresh is retried after retry_interval (20 s): that is how long a cache may keep the answer.
    assert r.headers["cache-control"] == "private, max-age=20"
    svc.clock.advance("5s")
    assert svc.get(way).headers["cache-control"] == "private, max-age=15"
    assert _sample(svc.client.get("/metrics").text, 'forecaster_forecast_stale{target="web"}') == 1.0


def test_the_listing_says_when_the_served_forecast_was_made_not_when_a_refresh_last_failed(svc):
    [info] = svc.client.get("/v1/targets").json()["targets"]
    assert info["last_refreshed_at"] == iso(T0) and info["stale"] is False
    svc.source.fail = True
    svc.clock.advance(STEP)
    wait_for(lambda: svc.client.get("/v1/targets").json()["targets"][0]["stale"], what="the failed refresh")
    [info] = svc.client.get("/v1/targets").json()["targets"]
    assert info["last_refreshed_at"] == iso(T0)
    assert info["stale_reason"].startswith("history query failed")
    assert info["horizon_s"] == 1800.0 and info["step_s"] == 300.0


@pytest.mark.parametrize(
    ("method", "asked_headers"),
    [("GET", "authorization,if-none-match"), ("POST", "authorization,content-type")],
)
def test_a_browser_dashboard_may_send_its_token_and_read_the_cache_headers(svc, method, asked_headers):
    preflight = httpx.options(
        str(svc.client.base_url) + (URL if method == "GET" else "/v1/forecast"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": asked_headers,
        },
        timeout=30,
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert method in preflight.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert set(asked_headers.split(",")) <= allowed
    r = svc.client.get(URL, headers={"Origin": ORIGIN})
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "age"} <= exposed, "a dashboard reads the ETag and how old the forecast is"


def test_another_origins_preflight_is_refused(svc):
    preflight = httpx.options(
        str(svc.client.base_url) + URL,
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=30,
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
