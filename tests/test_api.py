"""The forecast service end to end: a real Prometheus (backfilled), a real uvicorn server on 127.0.0.1.

Two targets: ``live`` (a tiny trained LSTM in a temporary model store) and ``counters`` (no model: the
seasonal baseline serves and says so). Prometheus sits behind a counting proxy, so the tests see exactly
how many queries reach it and can make it fail. The clock is fixed at the end of the backfilled data and
moved by hand; the refresher checks every 50 ms, so a step boundary is noticed at once.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import numpy as np
import pandas as pd
import pytest

from forecaster.api.app import create_app
from forecaster.api.schemas import AdhocForecastResponse, ForecastResponse, ReadyResponse, TargetsResponse
from forecaster.api.settings import ServeSettings
from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig, TrainSettings
from tests.prometheus_fixture import STANDARD_END, STANDARD_NOW
from tests.test_api_support import CountingProxy, MutableClock, ServerThread, wait_for

pytestmark = pytest.mark.prometheus

LIVE = "live"
COUNTERS = "counters"
FORECAST = f"/v1/targets/{LIVE}/forecast"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory, prometheus_server):
    """A model store holding one tiny LSTM for ``live``, trained on the backfilled series (seconds)."""
    import torch

    from forecaster.store import ModelStore
    from forecaster.training import fit_forecaster

    torch.set_num_threads(1)
    series = prometheus_server.expected("forecaster_test_rps")
    series = series.loc[STANDARD_END - pd.Timedelta(days=4) :].asfreq("1min")
    model = fit_forecaster(
        series,
        model=ModelSettings(lookback="1h", horizon="30m", hidden_size=8),
        train=TrainSettings(epochs=1, max_windows_per_epoch=400, batch_size=128),
        name=LIVE,
    )
    root = tmp_path_factory.mktemp("store")
    store = ModelStore(root)
    ref = store.save(LIVE, model, metrics={"wape": 0.1, "baseline_wape": 0.2}, now=STANDARD_END)
    store.promote(LIVE, ref.version, reason="test", now=STANDARD_END)
    return root


def _targets(prom_url: str, store: str) -> list[TargetConfig]:
    prom = PrometheusSettings(url=prom_url, step="1m", retries=0, backoff_s=0.01, timeout_s=10)
    model = ModelSettings(lookback="1h", horizon="30m", quantiles=(0.5, 0.9))
    return [
        TargetConfig(
            name=LIVE, prometheus=replace(prom, query="forecaster_test_rps"), model=model, store=store
        ),
        TargetConfig(
            name=COUNTERS,
            prometheus=replace(prom, query='sum(rate(http_requests_total{service="live"}[5m]))'),
            model=model,
            store=store,
        ),
    ]


SETTINGS = ServeSettings(
    tick_s=0.05, refresh_delay="1s", retry_interval="5s", demo_train=False, auth_token_env=None
)


class Service:
    """One running service: its URL, clock, proxy and an HTTP client."""

    def __init__(
        self, *, prom_url: str, store: str, settings: ServeSettings = SETTINGS, proxy_down: bool = False
    ):
        self.proxy = CountingProxy(prom_url)
        self.proxy.down = proxy_down
        self.clock = MutableClock(STANDARD_NOW)
        self.app = create_app(settings, clock=self.clock, targets=_targets(self.proxy.url, store))
        self.server = ServerThread(self.app)

    def __enter__(self) -> Service:
        self.proxy.__enter__()
        self.server.start()
        self.client = httpx.Client(base_url=self.server.url, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.stop()
        self.proxy.__exit__()

    def ready(self) -> None:
        wait_for(lambda: self.client.get("/readyz").status_code == 200, what="/readyz 200")

    def entry_time(self, target: str = LIVE) -> str | None:
        return self.app.state.service.targets[target].entry and str(
            self.app.state.service.targets[target].entry.generated_at
        )


@pytest.fixture
def service(prometheus_server, store_dir):
    with Service(prom_url=prometheus_server.url, store=str(store_dir)) as svc:
        svc.ready()
        yield svc


def test_targets_list_models_metrics_and_refresh_times(service):
    body = TargetsResponse.model_validate(service.client.get("/v1/targets").json())
    by_name = {t.name: t for t in body.targets}
    assert set(by_name) == {LIVE, COUNTERS}
    live, counters = by_name[LIVE], by_name[COUNTERS]
    assert live.model.kind == "model" and live.model.name == "quantile_lstm" and not live.model.fallback
    assert re.match(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$", live.model.version)
    assert live.model.trained_at.startswith(str(STANDARD_END.date()))
    assert live.metrics == {"wape": 0.1, "baseline_wape": 0.2}
    assert live.last_refreshed_at == STANDARD_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert live.step_s == 60 and live.horizon_s == 1800 and live.quantiles == ["p50", "p90"]
    # No model in the store: the baseline serves and every response says so.
    assert counters.model.kind == "baseline" and counters.model.fallback
    assert counters.model.version is None and "no trained model" in counters.model.note


def test_forecast_matches_prometheus_data_and_schema(service, prometheus_server):
    resp = service.client.get(FORECAST, params={"history": "2h"})
    assert resp.status_code == 200
    body = ForecastResponse.model_validate_json(resp.content)
    assert body.target == LIVE and not body.stale and body.stale_reason is None
    assert body.model.kind == "model" and body.quantiles == ["p50", "p90"]
    expected = prometheus_server.expected("forecaster_test_rps").loc[:STANDARD_END].iloc[-120:]
    assert body.actual.timestamps[-1] == STANDARD_END.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(body.actual.values) == 120
    np.testing.assert_allclose(body.actual.values, expected.to_numpy(), rtol=1e-4)
    # 30 one-minute steps after the last actual, p90 never below p50.
    assert len(body.forecast.timestamps) == 30 == body.horizon_steps
    assert body.forecast.timestamps[0] == (STANDARD_END + pd.Timedelta("1min")).strftime("%Y-%m-%dT%H:%M:%SZ")
    p50, p90 = np.array(body.forecast.values["p50"]), np.array(body.forecast.values["p90"])
    assert (p90 >= p50 - 1e-9).all() and (p50 > 0).all()
    # Sanity of scale: the forecast lives near the recent traffic level.
    assert 0.3 < p50.mean() / expected.iloc[-30:].mean() < 3
    assert resp.headers["content-type"] == "application/json"


def test_quantile_subset_and_default_history(service):
    body = ForecastResponse.model_validate(service.client.get(FORECAST, params={"quantiles": "p90"}).json())
    assert body.quantiles == ["p90"] and list(body.forecast.values) == ["p90"]
    assert len(body.actual.values) == 6 * 60  # default_history 6h
    # Order and spelling do not matter: p90,p50 is the same view (and the same ETag) as p50,p90.
    a = service.client.get(FORECAST, params={"quantiles": "p90,p50"})
    b = service.client.get(FORECAST, params={"quantiles": "p50,p90"})
    assert a.headers["etag"] == b.headers["etag"]


def test_a_hundred_pollers_cost_one_query_per_step_per_target(service):
    before = service.proxy.queries()
    assert before == 2  # the first refresh of each target
    urls = [FORECAST, f"/v1/targets/{COUNTERS}/forecast", "/v1/targets", "/metrics"]
    params = [{}, {"quantiles": "p50"}, {"history": "1h"}, {"history": "24h", "quantiles": "p90"}]

    def poll(i: int) -> int:
        return service.client.get(urls[i % 4], params=params[i % 4] if i % 4 < 2 else None).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(poll, range(100)))
    assert codes == [200] * 100
    assert service.proxy.queries() == before  # requests are served from the cache only

    # The next step: exactly one more query per target, however many requests came in between.
    generated = service.entry_time()
    service.clock.advance("1min")
    wait_for(
        lambda: service.entry_time() != generated and service.entry_time(COUNTERS) != generated,
        what="refresh",
    )
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(poll, range(100)))
    assert service.proxy.queries() == before + 2
    body = service.client.get(FORECAST).json()
    assert body["generated_at"] == (STANDARD_NOW + pd.Timedelta("1min")).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_etag_and_cache_control(service):
    first = service.client.get(FORECAST)
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    # max-age: until the next refresh, i.e. the next step boundary plus refresh_delay (1 s). The clock sits on
    # a boundary, so the step that began there is refreshed 1 s later...
    assert first.headers["cache-control"] == "public, max-age=1"
    assert first.headers["age"] == "0"
    service.clock.advance("2s")
    wait_for(lambda: service.client.get(FORECAST).headers["etag"] != etag, what="refresh of the new step")
    # ...and then not before the following boundary: 60 s - 2 s + 1 s.
    first = service.client.get(FORECAST)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=59"
    again = service.client.get(FORECAST, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other_view = service.client.get(FORECAST, params={"history": "1h"}, headers={"If-None-Match": etag})
    assert other_view.status_code == 200 and other_view.headers["etag"] != etag
    # A new forecast is a new representation.
    service.clock.advance("1min")
    wait_for(lambda: service.client.get(FORECAST).headers["etag"] != etag, what="new etag")
    assert service.client.get(FORECAST, headers={"If-None-Match": etag}).status_code == 200
    hits = service.app.state.metrics.cache_requests
    assert hits.labels(LIVE, "not_modified")._value.get() == 1


def test_prometheus_down_serves_last_forecast_as_stale(service):
    good = service.client.get(FORECAST).json()
    assert good["stale"] is False
    service.proxy.down = True
    service.clock.advance("1min")
    wait_for(lambda: service.client.get(FORECAST).json()["stale"], what="stale forecast")
    service.clock.advance("30s")
    stale = ForecastResponse.model_validate(service.client.get(FORECAST).json())
    # The last good forecast, unchanged, with its age and the reason.
    assert stale.generated_at == good["generated_at"] and stale.forecast.values == good["forecast"]["values"]
    assert stale.age_s == 90.0
    assert "history query failed" in stale.stale_reason and "503" in stale.stale_reason
    ready = service.client.get("/readyz")
    assert ready.status_code == 200  # stale forecasts still serve; the reason is reported
    body = ReadyResponse.model_validate(ready.json())
    assert body.ready and any(d.startswith(f"{LIVE}: stale: history query failed") for d in body.degraded)
    metrics = service.client.get("/metrics").text
    assert f'forecaster_forecast_stale{{target="{LIVE}"}} 1.0' in metrics
    assert re.search(rf'forecaster_source_errors_total{{target="{LIVE}"}} [1-9]', metrics)
    # Retries wait retry_interval (5 s) of the service's clock, not every tick: two targets, one good query
    # each, one failed query each when the clock moved a minute, then the clock moved 30 s at once, so at most
    # one retry per target (whether it has happened yet depends on the refresher thread) may have reached
    # Prometheus; a retry on every tick would show many more.
    assert service.proxy.counts["/api/v1/query_range"] in (4, 5, 6)
    # Prometheus is back: the next attempt refreshes and the flag clears.
    service.proxy.down = False
    service.clock.advance("10s")
    wait_for(lambda: not service.client.get(FORECAST).json()["stale"], what="fresh forecast")


def test_not_ready_until_a_first_forecast_and_says_why(prometheus_server, store_dir):
    with Service(prom_url=prometheus_server.url, store=str(store_dir), proxy_down=True) as svc:
        wait_for(lambda: svc.proxy.queries() >= 2, what="first attempts")
        wait_for(lambda: "history query failed" in svc.client.get("/readyz").text, what="readyz reason")
        ready = svc.client.get("/readyz")
        assert ready.status_code == 503
        reasons = ready.json()["reasons"]
        assert any(r.startswith(f"{LIVE}: no forecast yet: history query failed") for r in reasons)
        resp = svc.client.get(FORECAST)
        assert resp.status_code == 503 and "no forecast yet" in resp.json()["error"]
        assert svc.client.get("/healthz").json() == {"status": "ok"}


def test_unreachable_prometheus_is_reported_not_raised(store_dir):
    # Nothing listens on this port: connection refused, reported in /readyz, no crash, no traceback.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    clock = MutableClock(STANDARD_NOW)
    app = create_app(SETTINGS, clock=clock, targets=_targets(dead, str(store_dir))[:1])
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        wait_for(lambda: "history query failed" in client.get("/readyz").text, what="readyz reason")
        assert client.get("/readyz").status_code == 503
        assert "Traceback" not in client.get(FORECAST).text


def test_post_forecast_uses_the_targets_model(service, prometheus_server):
    from forecaster.store import ModelStore

    series = (
        prometheus_server.expected("forecaster_test_rps")
        .loc[: STANDARD_END - pd.Timedelta("3h")]
        .iloc[-1600:]
    )
    payload = {
        "model": LIVE,
        "history": {
            "timestamps": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in series.index],
            "values": series.round(6).tolist(),
        },
        "quantiles": ["p90"],
    }
    resp = service.client.post("/v1/forecast", json=payload)
    assert resp.status_code == 200, resp.text
    body = AdhocForecastResponse.model_validate(resp.json())
    assert body.quantiles == ["p90"] and len(body.forecast.values["p90"]) == 30
    assert body.forecast.timestamps[0] == (series.index[-1] + pd.Timedelta("1min")).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    direct = ModelStore(service.app.state.service.targets[LIVE].config.store).load_current(LIVE)
    expected = direct.predict(series.round(6).asfreq("1min"))["p90"].to_numpy()
    np.testing.assert_allclose(body.forecast.values["p90"], expected, rtol=1e-3)
    # The baseline target forecasts too, and says it is a baseline.
    payload["model"] = COUNTERS
    payload["quantiles"] = None
    base = service.client.post("/v1/forecast", json=payload).json()
    assert base["model"]["kind"] == "baseline" and set(base["forecast"]["values"]) == {"p50", "p90"}


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/targets/nope/forecast", {}, 404, "target"),
        (FORECAST, {"quantiles": "p33"}, 422, "quantiles"),
        (FORECAST, {"quantiles": "median"}, 422, "quantiles"),
        (FORECAST, {"quantiles": "p50,p90,p95"}, 422, "quantiles"),
        (FORECAST, {"history": "30d"}, 422, "history"),
        (FORECAST, {"history": "banana"}, 422, "history"),
        (FORECAST, {"history": "x" * 40}, 422, "history"),
        ("/v1/targets/" + "a" * 80 + "/forecast", {}, 422, "target"),
    ],
)
def test_bad_forecast_requests_name_the_field(service, path, params, status, field):
    resp = service.client.get(path, params=params)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert [f["field"] for f in body["fields"]] == [field]
    assert field in body["error"] and "Traceback" not in resp.text


def _history(n: int, *, step: str = "1min") -> dict:
    index = pd.date_range(STANDARD_END - pd.Timedelta(step) * (n - 1), periods=n, freq=step)
    return {"timestamps": [t.isoformat() + "Z" for t in index], "values": [100.0 + i % 7 for i in range(n)]}


def test_a_history_shorter_than_the_lookback_is_answered_by_the_named_fallback(service):
    resp = service.client.post("/v1/forecast", json={"model": LIVE, "history": _history(100)})
    assert resp.status_code == 200, resp.text
    model = resp.json()["model"]
    assert model["fallback"] is True and model["name"] == "fallback:recent-mean"
    assert "shorter than" in model["note"]
    values = resp.json()["forecast"]["values"]
    assert all(p90 >= p50 for p50, p90 in zip(values["p50"], values["p90"], strict=True))


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model": "nope", "history": _history(10)}, 404, "model"),
        (
            {"model": LIVE, "history": {**_history(5), "values": [1.0, 2.0, "x", 4.0, 5.0]}},
            422,
            "history.values.2",
        ),
        ({"model": LIVE, "history": {**_history(5), "values": [1.0, 2.0]}}, 422, "history.values"),
        ({"model": LIVE, "history": _history(5, step="5min")}, 422, "history.timestamps"),
        (
            {"model": LIVE, "history": {**_history(5), "timestamps": ["yesterday"] * 5}},
            422,
            "history.timestamps.0",
        ),
        ({"model": LIVE, "history": _history(10), "quantiles": ["p99"]}, 422, "quantiles.0"),
        ({"model": LIVE, "history": _history(10), "extra": 1}, 422, "extra"),
        ({"history": _history(10)}, 422, "model"),
    ],
)
def test_bad_post_bodies_name_the_field(service, body, status, field):
    resp = service.client.post("/v1/forecast", json=body)
    assert resp.status_code == status, resp.text
    fields = [f["field"] for f in resp.json()["fields"]]
    assert field in fields, resp.json()
    assert "Traceback" not in resp.text


def test_post_body_limits(service):
    too_big = b'{"model": "live", "history": {"timestamps": [], "values": [' + b"1.0," * 600_000 + b"1.0]}}"
    resp = service.client.post("/v1/forecast", content=too_big, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and "larger than" in resp.json()["error"]

    # A chunked body (no Content-Length) is cut off while streaming in.
    def chunks():
        for _ in range(100):
            yield b" " * 65536

    resp = service.client.post("/v1/forecast", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413
    malformed = service.client.post(
        "/v1/forecast", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422 and malformed.json()["fields"][0]["location"] == "body"


def test_metrics_export_forecasts_and_own_health(service):
    body = service.client.get(FORECAST).json()
    text = service.client.get("/metrics").text
    p50_30m = body["forecast"]["values"]["p50"][29]
    p90_5m = body["forecast"]["values"]["p90"][4]

    def sample(name: str, **labels: str) -> float:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        match = re.search(rf"^{name}{{{re.escape(inner)}}} (\S+)$", text, re.M)
        assert match, f"{name}{{{inner}}} not in /metrics"
        return float(match.group(1))

    assert sample("forecaster_forecast", horizon="30m", quantile="p50", target=LIVE) == pytest.approx(
        p50_30m, abs=1e-3
    )
    assert sample("forecaster_forecast", horizon="5m", quantile="p90", target=LIVE) == pytest.approx(
        p90_5m, abs=1e-3
    )
    for horizon in ("5m", "10m", "15m", "30m"):
        sample("forecaster_forecast", horizon=horizon, quantile="p50", target=COUNTERS)
    assert sample("forecaster_actual", target=LIVE) == pytest.approx(body["actual"]["values"][-1], abs=1e-3)
    assert sample("forecaster_forecast_age_seconds", target=LIVE) == 0.0
    assert sample("forecaster_model_age_seconds", target=LIVE) == 60.0  # trained at STANDARD_END
    assert sample("forecaster_model_fallback", target=COUNTERS) == 1.0
    assert sample("forecaster_model_fallback", target=LIVE) == 0.0
    assert sample("forecaster_cache_requests_total", result="hit", target=LIVE) >= 1
    assert sample("forecaster_refreshes_total", result="ok", target=LIVE) == 1
    assert (
        sample(
            "forecaster_http_request_duration_seconds_count",
            method="GET",
            route="/v1/targets/{target}/forecast",
            status="200",
        )
        >= 1
    )
    assert 'route="unmatched"' not in text


def test_requests_to_unknown_paths_share_one_latency_label_whatever_the_path(service):
    """A client sending random URLs must not grow the latency histogram (and Prometheus' series) by one
    label set per path: every unknown path is counted under route="unmatched"."""
    for path in ("/no-such-page", "/v2/anything/at/all", "/wp-login.php"):
        assert service.client.get(path).status_code == 404
    text = service.client.get("/metrics").text
    routes = set(
        re.findall(r'^forecaster_http_request_duration_seconds_count\{[^}]*route="([^"]*)"', text, re.M)
    )
    assert "unmatched" in routes
    assert not routes & {"/no-such-page", "/v2/anything/at/all", "/wp-login.php"}


def test_newly_promoted_model_serves_without_restart(service, store_dir):
    from forecaster.store import ModelStore

    store = ModelStore(store_dir)
    old = store.current(LIVE)
    model = store.load_current(LIVE)
    ref = store.save(LIVE, model, metrics={"wape": 0.05}, now=STANDARD_NOW)
    try:
        store.promote(LIVE, ref.version, reason="test", now=STANDARD_NOW)
        service.clock.advance("1min")
        wait_for(
            lambda: service.client.get(FORECAST).json()["model"]["version"] == ref.version, what="new model"
        )
    finally:
        store.promote(LIVE, old.version, reason="restore", now=STANDARD_NOW)


def test_bearer_token_auth(prometheus_server, store_dir, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    settings = replace(SETTINGS, auth_token_file=str(token_file))
    with Service(prom_url=prometheus_server.url, store=str(store_dir), settings=settings) as svc:
        svc.ready()  # health endpoints need no token
        assert svc.client.get(FORECAST).status_code == 401
        assert svc.client.get(FORECAST).headers["www-authenticate"].startswith("Bearer")
        assert svc.client.get(FORECAST, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert (
            svc.client.get("/v1/targets", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
        )
        assert svc.client.post("/v1/forecast", json={}).status_code == 401
        ok = svc.client.get(FORECAST, headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert ok.headers["cache-control"].startswith("private")  # shared caches must not keep it
        # /metrics holds the same forecasts: the token protects it too unless auth_metrics is turned off.
        assert svc.client.get("/metrics").status_code == 401
        metrics = svc.client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert metrics.status_code == 200 and "forecaster_forecast{" in metrics.text


def test_cors_only_for_configured_origins(prometheus_server, store_dir):
    settings = replace(SETTINGS, cors_origins=("https://grafana.example",))
    with Service(prom_url=prometheus_server.url, store=str(store_dir), settings=settings) as svc:
        svc.ready()
        allowed = svc.client.get(FORECAST, headers={"Origin": "https://grafana.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://grafana.example"
        assert "etag" in allowed.headers["access-control-expose-headers"].lower()
        other = svc.client.get(FORECAST, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_docs_and_openapi(service):
    assert service.client.get("/docs").status_code == 200
    spec = service.client.get("/openapi.json").json()
    assert {
        "/v1/targets",
        "/v1/targets/{target}/forecast",
        "/v1/forecast",
        "/metrics",
        "/healthz",
        "/readyz",
    } <= set(spec["paths"])
    get = spec["paths"]["/v1/targets/{target}/forecast"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ForecastResponse"
    )


def test_no_stack_traces_from_unexpected_errors(service):
    # A source that raises something unexpected: the refresher logs it, the API reports a clean reason.
    state = service.app.state.service.targets[COUNTERS]

    class Broken:
        def fetch_recent(self, **kwargs):
            raise RuntimeError("secret internals /etc/passwd")

    state.source = Broken()
    service.clock.advance("1min")
    wait_for(lambda: service.client.get(f"/v1/targets/{COUNTERS}/forecast").json()["stale"], what="stale")
    text = service.client.get(f"/v1/targets/{COUNTERS}/forecast").text
    assert "RuntimeError" in json.loads(text)["stale_reason"]
    assert "secret internals" not in text and "Traceback" not in text
