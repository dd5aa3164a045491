"""The cached forecast's fast path answers exactly as the route does, and leaves everything else to it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from forecaster.api.app import create_app
from forecaster.api.fastpath import CachedForecastFastPath
from forecaster.api.settings import ServeSettings
from tests.test_api_fleet import NOW, FlatSource, configs, labels
from tests.test_api_support import ServerThread, wait_for

TOKEN = "s3cret-token"


@contextlib.contextmanager
def serve(*, fast: bool, auth: bool, monkeypatch) -> Iterator[tuple[httpx.Client, object]]:
    if auth:
        monkeypatch.setenv("FASTPATH_TEST_TOKEN", TOKEN)
    settings = ServeSettings(
        tick_s=0.05, auth_token_env="FASTPATH_TEST_TOKEN" if auth else None, cached_fast_path=fast
    )
    sources: dict = {}
    app = create_app(
        settings,
        clock=lambda: NOW,
        targets=configs(4),
        labels=labels(4),
        source_factory=lambda cfg: sources.setdefault(cfg.name, FlatSource(float(len(sources) + 1))),
        model_loader=lambda cfg: None,
    )
    headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
    with (
        ServerThread(app) as server,
        httpx.Client(base_url=server.url, timeout=30, headers=headers) as client,
    ):
        wait_for(lambda: client.get("/readyz").status_code == 200, what="ready")
        yield client, app


REQUESTS = [
    ("/v1/targets/svc-001/forecast", {}),
    ("/v1/targets/svc-001/forecast?quantiles=p90", {}),
    ("/v1/targets/svc-001/forecast?quantiles=P50,p90&history=2h", {}),
    ("/v1/targets/svc-002/forecast?history=0m", {}),
    ("/v1/targets/svc-002/forecast?history=", {}),  # the app's 422
    ("/v1/targets/svc-002/forecast?history=48h", {}),  # beyond max_history: the app's 422
    ("/v1/targets/svc-002/forecast?quantiles=p42", {}),  # the app's 422
    ("/v1/targets/svc-002/forecast?history=1h&history=2h", {}),  # repeated: the app decides
    ("/v1/targets/svc-002/forecast?extra=1", {}),  # unknown parameter: the app decides
    ("/v1/targets/nope/forecast", {}),  # the app's 404
    ("/v1/targets/svc-003/forecast", {"If-None-Match": "ETAG"}),  # 304
    ("/v1/targets/svc-003/forecast", {"If-None-Match": 'W/"other", ETAG'}),  # 304
    ("/v1/targets/svc-003/forecast", {"If-None-Match": 'W/"other"'}),  # 200
    ("/v1/targets/svc-003/forecast", {"If-None-Match": "*"}),  # 304
]


def exchange(client: httpx.Client, auth_ok: bool = True) -> list[tuple]:
    etag = client.get("/v1/targets/svc-003/forecast").headers["etag"]
    out = []
    for path, headers in REQUESTS:
        headers = {k: v.replace("ETAG", etag) for k, v in headers.items()}
        if not auth_ok:
            headers["Authorization"] = "Bearer wrong"
        r = client.get(path, headers=headers)
        shown = {k: v for k, v in r.headers.items() if k not in ("date",)}
        out.append((path, r.status_code, shown, r.content))
    return out


@pytest.mark.parametrize("auth", [False, True])
def test_the_fast_path_answers_byte_for_byte_as_the_route(auth, monkeypatch):
    with serve(fast=False, auth=auth, monkeypatch=monkeypatch) as (slow, _):
        expected = exchange(slow) + (exchange(slow, auth_ok=False) if auth else [])
        slow_metrics = slow.get("/metrics").text
    with serve(fast=True, auth=auth, monkeypatch=monkeypatch) as (fast, app):
        got = exchange(fast) + (exchange(fast, auth_ok=False) if auth else [])
        fast_metrics = fast.get("/metrics").text
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    assert {g[1] for g in got} >= {200, 304, 404, 422} | ({401} if auth else set())
    assert got == expected

    def counted(text: str) -> list[str]:
        keep = ("forecaster_cache_requests_total{", "forecaster_http_request_duration_seconds_count{")
        return sorted(line for line in text.splitlines() if line.startswith(keep))

    assert counted(fast_metrics) == counted(slow_metrics), "the same hit counters and latency labels"
    assert any(
        'route="/v1/targets/{target}/forecast"' in line and 'status="304"' in line
        for line in counted(fast_metrics)
    )


def test_the_fast_path_answers_hits_itself_and_passes_the_rest_on(monkeypatch):
    seen = []
    real = CachedForecastFastPath._answer

    async def spy(self, target, scope, receive, send):
        answered = await real(self, target, scope, receive, send)
        seen.append((scope["path"], scope["query_string"], answered))
        return answered

    monkeypatch.setattr(CachedForecastFastPath, "_answer", spy)
    with serve(fast=True, auth=False, monkeypatch=monkeypatch) as (client, _):
        assert client.get("/v1/targets/svc-001/forecast?history=1h").status_code == 200
        assert client.get("/v1/targets/svc-001/forecast?history=nonsense").status_code == 422
        assert client.get("/v1/targets/nope/forecast").status_code == 404
    assert [s[2] for s in seen[-3:]] == [True, False, False]


def test_the_fast_paths_integer_timing_equals_the_services_pandas_rules():
    """ForecastService.fresh_timing (what the fast path computes per request) against stale_reason, the age
    and next_refresh_in_s, at times around step boundaries, the refresh delay and the stale limit."""
    import numpy as np
    import pandas as pd

    from forecaster.api.cache import CachedForecast, ForecastService, ServingModel, TargetState
    from forecaster.api.metrics import ServiceMetrics
    from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig

    cfg = TargetConfig(
        name="web", prometheus=PrometheusSettings(query="up", step="1m"), model=ModelSettings()
    )
    state = TargetState(config=cfg, source=None, model=ServingModel.baseline("no trained model"))
    svc = ForecastService(
        [state],
        clock=lambda: pd.Timestamp("2026-11-30T12:00:00"),
        max_history=pd.Timedelta("24h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
    )
    generated = pd.Timestamp("2026-11-30T12:00:10.25")
    for last_sample_ago in ("1min", "2min59s", "3min", "3min1s"):
        actual = pd.Series(
            [1.0, 2.0], index=[generated - pd.Timedelta("2min"), generated - pd.Timedelta(last_sample_ago)]
        ).sort_index()
        state.entry = CachedForecast(
            target="web",
            generated_at=generated,
            actual=actual,
            forecast=pd.DataFrame({"p50": [1.0]}),
            model=state.model,
            model_name="seasonal_naive_daily",
            note=None,
        )
        for error in (None, "history query failed: 503"):
            state.last_error, state.last_error_at = error, (generated if error else None)
            for offset_s in np.arange(-1.0, 200.0, 0.37):
                now = generated + pd.Timedelta(seconds=float(offset_s))
                got = svc.fresh_timing(state, int(now.value))
                if svc.stale_reason(state, now) is not None:
                    assert got is None, (last_sample_ago, error, offset_s)
                    continue
                assert got is not None, (last_sample_ago, offset_s)
                assert got == pytest.approx(  # the same to the nanosecond (float rounding apart)
                    (max(0.0, (now - generated).total_seconds()), svc.next_refresh_in_s(state, now)),
                    abs=1e-9,
                ), (last_sample_ago, offset_s)


def test_a_fast_path_hit_says_how_old_its_forecast_is(monkeypatch):
    """A forecast made at 20:00:30 and served from the cache at 20:00:50 (same refresh step, still fresh) is
    20 s old: the Age header and the body's age say so on the fast path, as the route does. A hit that
    claimed age 0 would make an old forecast look just made to every dashboard and cache in between."""
    now = [NOW]
    for fast in (False, True):
        now[0] = NOW
        app = create_app(
            ServeSettings(tick_s=0.05, cached_fast_path=fast),
            clock=lambda: now[0],
            targets=configs(1),
            labels=labels(1),
            source_factory=lambda cfg: FlatSource(2.0),
            model_loader=lambda cfg: None,
        )
        with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            wait_for(lambda: client.get("/readyz").status_code == 200, what="ready")
            now[0] = NOW + pd.Timedelta(seconds=20)
            r = client.get("/v1/targets/svc-000/forecast")
            assert r.status_code == 200, r.text
            assert r.headers["age"] == "20", (fast, r.headers)
            assert r.json()["age_s"] == pytest.approx(20.0), fast
