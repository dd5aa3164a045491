"""What API callers rely on: settings from file and environment, bearer auth, each route's validation and error
codes, caching headers, pagination and label filters, and the cache's refresh and staleness rules.

Over HTTP (uvicorn on 127.0.0.1, the app ``forecaster serve`` builds, auth on) with an in-memory source and the
seasonal baseline serving (nothing to train), plus the pure pieces (selectors, page tokens, quantile choice,
the cache with a fixed clock) called directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from forecaster.api.app import create_app
from forecaster.api.cache import ForecastService, ServingModel, TargetState, iso, json_floats, model_info
from forecaster.api.handlers import RequestFieldError
from forecaster.api.metrics import ServiceMetrics
from forecaster.api.quantiles import select_quantiles
from forecaster.api.selectors import MAX_SELECTOR_TERMS, decode_token, encode_token, parse_selector
from forecaster.api.settings import ServeSettings, load_serve_settings
from forecaster.errors import ConfigError, DataError, SourceError
from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig
from tests.test_api_support import MutableClock, ServerThread, wait_for

TOKEN = "s3cret-token-42"
STEP = pd.Timedelta(minutes=5)
INDEX = pd.date_range("2026-03-02", periods=3 * 288, freq=STEP)
SERIES = pd.Series(100 + 50 * np.sin(np.arange(len(INDEX)) * 2 * np.pi / 288), index=INDEX)
NOW = INDEX[-1] + pd.Timedelta("30s")
LABELS = {
    "a-web": {"team": "shop", "tier": "web"},
    "b-api": {"team": "shop", "tier": "api"},
    "c-batch": {"team": "data", "tier": "batch"},
    "d-nolabels": {},
}


class _FixedSource:
    def fetch_recent(self, *, duration: pd.Timedelta, now: pd.Timestamp) -> pd.Series:
        return SERIES.loc[now - duration : now]


def _cfg(name: str) -> TargetConfig:
    return TargetConfig(
        name=name,
        prometheus=PrometheusSettings(url="http://127.0.0.1:9", query="up", step="5m"),
        model=ModelSettings(lookback="1h", horizon="30m", quantiles=(0.1, 0.5, 0.9)),
    )


CLOCK = MutableClock(NOW)


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[httpx.Client]:
    token_file = tmp_path_factory.mktemp("auth") / "token"
    token_file.write_text(f"  {TOKEN}\n")
    app = create_app(
        ServeSettings(
            tick_s=0.05,
            demo_train=False,
            auth_token_env=None,
            auth_token_file=str(token_file),
            default_history="1h",
            max_history="6h",
            max_points=500,
        ),
        clock=CLOCK,
        targets=[_cfg(n) for n in LABELS],
        labels=LABELS,
        source_factory=lambda _cfg: _FixedSource(),
        model_loader=lambda _cfg: ServingModel.baseline("no trained model in this test"),
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30, headers=headers) as c:
        wait_for(lambda: c.get("/readyz").status_code == 200, what="the first forecasts")
        yield c


# -- auth -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        f"Token {TOKEN}",
    ],
)
@pytest.mark.parametrize("path", ["/v1/targets", "/v1/targets/a-web/forecast", "/metrics"])
def test_every_protected_route_refuses_a_missing_or_wrong_token(client, header, path):
    headers = {"Authorization": header} if header is not None else {}
    r = httpx.get(str(client.base_url) + path, headers=headers, timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="forecaster"'
    assert r.json()["error"] == "missing or wrong bearer token"


def test_post_forecast_needs_the_token_too(client):
    r = httpx.post(str(client.base_url) + "/v1/forecast", json={}, timeout=30)
    assert r.status_code == 401


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN}"])
def test_the_right_token_is_accepted_whatever_the_schemes_case(client, header):
    r = httpx.get(str(client.base_url) + "/v1/targets", headers={"Authorization": header}, timeout=30)
    assert r.status_code == 200


def test_health_probes_need_no_token(client):
    for path in ("/healthz", "/readyz"):
        assert httpx.get(str(client.base_url) + path, timeout=30).status_code == 200


# -- the forecast route -----------------------------------------------------------------------------------------


def test_a_forecast_answers_every_quantile_and_the_default_history(client):
    r = client.get("/v1/targets/a-web/forecast")
    assert r.status_code == 200
    body = r.json()
    assert body["target"] == "a-web" and body["quantiles"] == ["p10", "p50", "p90"]
    assert body["step_s"] == 300.0 and body["horizon_steps"] == 6
    assert len(body["actual"]["timestamps"]) == 12  # default_history 1h at 5-minute steps
    assert body["actual"]["timestamps"][-1] == iso(INDEX[-1])
    assert body["stale"] is False and body["stale_reason"] is None
    assert body["model"]["fallback"] is True and body["model"]["kind"] == "baseline"
    p10, p50, p90 = (body["forecast"]["values"][q] for q in ("p10", "p50", "p90"))
    assert all(lo <= mid <= hi for lo, mid, hi in zip(p10, p50, p90, strict=True))
    assert body["forecast"]["timestamps"][0] == iso(INDEX[-1] + STEP)


def test_caching_headers_are_private_with_auth_and_an_etag_gives_304(client):
    r = client.get("/v1/targets/a-web/forecast")
    etag = r.headers["etag"]
    assert etag.startswith('W/"')
    assert r.headers["cache-control"].startswith("private, max-age=")
    assert int(r.headers["cache-control"].rsplit("=", 1)[1]) >= 1
    assert int(r.headers["age"]) >= 0
    again = client.get("/v1/targets/a-web/forecast", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = client.get("/v1/targets/a-web/forecast", headers={"If-None-Match": 'W/"other"'})
    assert other.status_code == 200
    narrower = client.get("/v1/targets/a-web/forecast?quantiles=p90")
    assert narrower.headers["etag"] != etag


@pytest.mark.parametrize(
    ("query", "quantiles"),
    [("p90", ["p90"]), ("p90,p10", ["p10", "p90"]), ("P50", ["p50"]), ("", ["p10", "p50", "p90"])],
)
def test_quantiles_are_chosen_and_answered_in_canonical_order(client, query, quantiles):
    body = client.get(f"/v1/targets/a-web/forecast?quantiles={query}").json()
    assert body["quantiles"] == quantiles and sorted(body["forecast"]["values"]) == quantiles


@pytest.mark.parametrize(("history", "points"), [("6h", 72), ("5m", 1), ("10m", 2), ("1m", 0), ("3h", 36)])
def test_the_history_asked_for_is_the_history_answered(client, history, points):
    body = client.get(f"/v1/targets/a-web/forecast?history={history}").json()
    assert len(body["actual"]["values"]) == points


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/v1/targets/nope/forecast", 404, "target"),
        ("/v1/targets/a-web/forecast?history=7h", 422, "history"),
        ("/v1/targets/a-web/forecast?history=soon", 422, "history"),
        ("/v1/targets/a-web/forecast?quantiles=p95", 422, "quantiles"),
        ("/v1/targets/a-web/forecast?quantiles=p10,p50,p90,p99", 422, "quantiles"),
        ("/v1/targets/a-web/forecast?quantiles=median", 422, "quantiles"),
        ("/v1/targets?limit=0", 422, "limit"),
        ("/v1/targets?limit=1001", 422, "limit"),
        ("/v1/targets?continue=%%%", 422, "continue"),
        ("/v1/targets?labelSelector=team%3D%3D%3Dx", 422, "labelSelector"),
    ],
)
def test_bad_requests_get_their_code_naming_the_field(client, url, status, field):
    r = client.get(url)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "hint", "fields", "omitted"}
    assert [f["field"] for f in body["fields"]] == [field]


def test_an_unknown_target_lists_the_configured_ones(client):
    body = client.get("/v1/targets/nope/forecast").json()
    assert all(name in body["error"] for name in LABELS)


# -- listing ------------------------------------------------------------------------------------------------------


def test_the_listing_pages_through_every_target_once_in_name_order(client):
    seen, token, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"continue": token} if token else {})
        body = client.get("/v1/targets", params=params).json()
        assert body["total"] == 4
        seen += [t["name"] for t in body["targets"]]
        pages += 1
        token = body.get("continue")
        if not token:
            break
    assert seen == sorted(LABELS) and pages == 2


def test_a_page_that_ends_the_list_has_no_continue_token(client):
    body = client.get("/v1/targets", params={"limit": 4}).json()
    assert len(body["targets"]) == 4 and body.get("continue") is None
    assert client.get("/v1/targets", params={"limit": 1000}).status_code == 200
    assert len(client.get("/v1/targets", params={"limit": 1}).json()["targets"]) == 1


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("team=shop", ["a-web", "b-api"]),
        ("team==shop", ["a-web", "b-api"]),
        ("team=shop,tier!=web", ["b-api"]),
        ("tier!=web", ["b-api", "c-batch", "d-nolabels"]),  # no label: not equal
        ("team", ["a-web", "b-api", "c-batch"]),
        ("!team", ["d-nolabels"]),
        ("team=nobody", []),
    ],
)
def test_label_selectors_filter_and_count(client, selector, names):
    body = client.get("/v1/targets", params={"labelSelector": selector}).json()
    assert [t["name"] for t in body["targets"]] == names
    assert body["total"] == len(names)


def test_a_target_in_the_listing_says_what_serves_it(client):
    body = client.get("/v1/targets", params={"labelSelector": "tier=web"}).json()
    [info] = body["targets"]
    assert info["labels"] == LABELS["a-web"]
    assert info["step_s"] == 300.0 and info["horizon_s"] == 1800.0
    assert info["quantiles"] == ["p10", "p50", "p90"]
    assert info["stale"] is False and info["stale_reason"] is None
    assert info["last_refreshed_at"] == iso(NOW)


# -- POST /v1/forecast ------------------------------------------------------------------------------------------


def _history(n: int, step: pd.Timedelta = STEP) -> dict:
    index = pd.date_range(end=INDEX[-1], periods=n, freq=step)
    return {
        "timestamps": [t.isoformat() + "Z" for t in index],
        "values": SERIES.reindex(index).fillna(100.0).tolist(),
    }


def test_a_posted_history_is_forecast_by_the_targets_model(client):
    r = client.post("/v1/forecast", json={"model": "a-web", "history": _history(400), "quantiles": ["p50"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["quantiles"] == ["p50"] and len(body["forecast"]["values"]["p50"]) == 6
    assert body["forecast"]["timestamps"][0] == iso(INDEX[-1] + STEP)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model": "nope", "history": _history(10)}, 404, "model"),
        ({"model": "a-web", "history": _history(501)}, 422, "history.timestamps"),
        ({"model": "a-web", "history": _history(2)}, 422, "history.timestamps"),
        (
            {"model": "a-web", "history": {**_history(10), "values": [1.0] * 9}},
            422,
            "history.values",
        ),
        ({"model": "a-web", "history": _history(50, pd.Timedelta(minutes=1))}, 422, "history.timestamps"),
        ({"model": "a-web", "history": _history(50), "quantiles": ["p10", "p42"]}, 422, "quantiles.1"),
    ],
)
def test_bad_posted_histories_are_refused_naming_the_field(client, body, status, field):
    r = client.post("/v1/forecast", json=body)
    assert r.status_code == status, r.text
    assert [f["field"] for f in r.json()["fields"]] == [field]


def test_exactly_max_points_and_exactly_three_points_are_accepted(client):
    assert client.post("/v1/forecast", json={"model": "a-web", "history": _history(500)}).status_code == 200
    assert client.post("/v1/forecast", json={"model": "a-web", "history": _history(3)}).status_code in (
        200,
        422,
    )


# -- the pure pieces ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    ["team=", "Team=x", "a/b=c", "example.com/team=x", "x=a-b_c.d", "x!=", "!x"],
)
def test_valid_selector_terms(term):
    parse_selector(term)


@pytest.mark.parametrize("term", ["=x", "te am=x", "x=a b", "x=-a", "x=" + "a" * 64, "!", "x=>y"])
def test_invalid_selector_terms_are_named(term):
    with pytest.raises(DataError) as info:
        parse_selector(term)
    assert repr(term.strip()) in str(info.value) or "label" in str(info.value)


def test_a_prefixed_label_key_may_be_longer_than_63_characters():
    # Kubernetes allows a DNS-subdomain prefix (up to 253 characters) before the 63-character name:
    # app.kubernetes.io/... and vendor keys are often longer than 63 in all, and must still filter.
    key = "team." + "platform-" * 8 + "example.com/" + "n" * 63
    assert len(key) > 63
    match = parse_selector(f"{key}=payments")
    assert match({key: "payments"}) and not match({key: "search"})


def test_the_selector_term_limit():
    parse_selector(",".join(f"k{i}=v" for i in range(MAX_SELECTOR_TERMS)))
    with pytest.raises(DataError, match="more than 20"):
        parse_selector(",".join(f"k{i}=v" for i in range(MAX_SELECTOR_TERMS + 1)))


@pytest.mark.parametrize("name", ["a", "web-api", "x" * 63, "ünïcode"])
def test_page_tokens_round_trip(name):
    token = encode_token(name)
    assert "=" not in token
    assert decode_token(token) == name


@pytest.mark.parametrize("token", ["%%%", "a", "not base64!"])
def test_a_token_not_from_this_service_is_refused(token):
    with pytest.raises(DataError, match="continue token"):
        decode_token(token)


@pytest.mark.parametrize(
    ("asked", "location", "field"),
    [
        ("p95", "query", "quantiles"),
        (["p50", "p95"], "body", "quantiles.1"),
        (["p50", "x"], "body", "quantiles.1"),
        ("p10,p50,p90,p99", "query", "quantiles"),
    ],
)
def test_quantile_refusals_name_the_field_where_it_was(asked, location, field):
    with pytest.raises(RequestFieldError) as info:
        select_quantiles(asked, ["p10", "p50", "p90"], location=location)
    assert (info.value.location, info.value.field, info.value.status_code) == (location, field, 422)


def test_quantiles_asked_twice_are_answered_once():
    assert select_quantiles("p90,p90", ["p10", "p50", "p90"], location="query") == ("p90",)
    assert select_quantiles(None, ["p10", "p90"], location="query") == ("p10", "p90")
    assert select_quantiles(" , ", ["p10", "p90"], location="query") == ("p10", "p90")


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"FORECASTER_SERVE_PORT": "1"}, "port", 1),
        ({"FORECASTER_SERVE_PORT": "65535"}, "port", 65535),
        ({"FORECASTER_SERVE_MAX_BODY_BYTES": "1024"}, "max_body_bytes", 1024),
        ({"FORECASTER_SERVE_MAX_POINTS": "10"}, "max_points", 10),
        ({"FORECASTER_SERVE_AUTH_METRICS": "off"}, "auth_metrics", False),
        ({"FORECASTER_SERVE_AUTH_METRICS": "yes"}, "auth_metrics", True),
        ({"FORECASTER_SERVE_ACCESS_LOG": "1"}, "access_log", True),
        ({"FORECASTER_SERVE_TICK_S": "0.5"}, "tick_s", 0.5),
        ({"FORECASTER_SERVE_DEFAULT_HISTORY": "24h"}, "default_history", "24h"),
        ({"FORECASTER_SERVE_AUTH_TOKEN_ENV": ""}, "auth_token_env", None),
        ({"FORECASTER_SERVE_STALE_AFTER_STEPS": "1"}, "stale_after_steps", 1),
    ],
)
def test_settings_from_the_environment_at_their_boundaries(env, field, value):
    assert getattr(load_serve_settings(environ=env), field) == value


@pytest.mark.parametrize(
    "env",
    [
        {"FORECASTER_SERVE_PORT": "0"},
        {"FORECASTER_SERVE_PORT": "65536"},
        {"FORECASTER_SERVE_MAX_BODY_BYTES": "1023"},
        {"FORECASTER_SERVE_MAX_POINTS": "9"},
        {"FORECASTER_SERVE_REFRESH_WORKERS": "0"},
        {"FORECASTER_SERVE_TICK_S": "0"},
        {"FORECASTER_SERVE_STALE_AFTER_STEPS": "0"},
        {"FORECASTER_SERVE_DEMO_EPOCHS": "0"},
        {"FORECASTER_SERVE_TORCH_THREADS": "0"},
        {"FORECASTER_SERVE_LEASE_DURATION_S": "0"},
        {"FORECASTER_SERVE_REFRESHER": "everyone"},
        {"FORECASTER_SERVE_REFRESHER": "elected"},
        {"FORECASTER_SERVE_DEFAULT_HISTORY": "25h"},
        {"FORECASTER_SERVE_PORT": "true"},
        {"FORECASTER_SERVE_AUTH_METRICS": "2"},
    ],
)
def test_settings_out_of_bounds_are_refused_naming_the_variable_or_field(env):
    with pytest.raises(ConfigError) as info:
        load_serve_settings(environ=env)
    (key,) = env
    assert key.removeprefix("FORECASTER_SERVE_").lower() in str(info.value) or key in str(info.value)


def test_the_environment_wins_over_the_file_which_wins_over_the_defaults(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("port: 9000\nmax_points: 100\n")
    s = load_serve_settings(path, environ={"FORECASTER_SERVE_PORT": "9100"})
    assert (s.port, s.max_points, s.max_body_bytes) == (9100, 100, 2 * 1024 * 1024)


def test_default_history_may_equal_max_history():
    s = load_serve_settings(environ={"FORECASTER_SERVE_DEFAULT_HISTORY": "24h"})
    assert s.default_history_td == s.max_history_td == pd.Timedelta(hours=24)


def test_the_token_file_wins_and_an_empty_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECASTER_API_TOKEN", "from-env")
    assert ServeSettings().auth_token() == "from-env"
    (tmp_path / "t").write_text("from-file\n")
    assert ServeSettings(auth_token_file=str(tmp_path / "t")).auth_token() == "from-file"
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ConfigError, match="empty"):
        ServeSettings(auth_token_file=str(tmp_path / "empty")).auth_token()
    monkeypatch.setenv("FORECASTER_API_TOKEN", "")
    assert ServeSettings().auth_token() is None


# -- the cache with a fixed clock ----------------------------------------------------------------------------

T0 = pd.Timestamp("2026-02-02 12:00:00")


class _Source:
    def __init__(self):
        self.fail = False
        self.gap = False
        self.series = pd.Series(
            100 + 50 * np.sin(np.arange(4 * 1440) * 2 * np.pi / 1440),
            index=pd.date_range(T0 - pd.Timedelta(days=3), periods=4 * 1440, freq="1min"),
        )

    def fetch_recent(self, *, duration, now):
        if self.fail:
            raise SourceError("Prometheus unreachable")
        out = self.series.loc[now - duration + pd.Timedelta(1, "ns") : now - pd.Timedelta("1min")].copy()
        if self.gap:
            out.iloc[-3] = np.nan
        return out


def _service(clock, **kw):
    cfg = TargetConfig(
        name="web", prometheus=PrometheusSettings(query="up", step="1m"), model=ModelSettings()
    )
    source = _Source()
    state = TargetState(config=cfg, source=source, model=ServingModel.baseline("no trained model"))
    svc = ForecastService(
        [state],
        clock=clock,
        max_history=pd.Timedelta("24h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
        **kw,
    )
    svc.models_loaded = True
    return svc, state, source


@pytest.mark.parametrize(
    ("at", "due"),
    [("12:01:09", False), ("12:01:10", True), ("12:00:59", False)],
)
def test_a_target_is_due_once_the_next_step_and_its_delay_have_passed(at, due):
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    assert svc.refresh("web")
    clock._now = pd.Timestamp(f"2026-02-02 {at}")
    assert svc.due(state, clock()) is due


def test_after_a_failure_the_retry_waits_exactly_the_retry_interval():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)
    svc.refresh("web")
    clock.advance("1min")
    source.fail = True
    assert svc.refresh("web") is False
    clock.advance("14s")
    assert svc.due(state, clock()) is False
    assert svc.next_refresh_in_s(state, clock()) == pytest.approx(1.0)
    clock.advance("1s")
    assert svc.due(state, clock()) is True
    source.fail = False
    assert svc.refresh("web") is True and svc.stale_reason(state, clock()) is None


def test_next_refresh_is_at_the_next_step_plus_the_delay_never_below_a_second():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    svc.refresh("web")
    assert svc.next_refresh_in_s(state, clock()) == 60.0
    clock.advance("30s")
    assert svc.next_refresh_in_s(state, clock()) == 30.0
    clock.advance("29.5s")
    assert svc.next_refresh_in_s(state, clock()) == 1.0


def test_a_forecast_is_stale_after_exactly_stale_after_steps():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    svc.refresh("web")
    clock.advance("3min")
    assert svc.stale_reason(state, clock()) is None
    clock.advance("1ns")
    assert svc.stale_reason(state, clock()) == "not refreshed for more than 3m"


def test_a_failed_refresh_serves_the_last_forecast_saying_why_and_when():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)
    svc.refresh("web")
    entry = state.entry
    clock.advance("1min")
    source.fail = True
    svc.refresh("web")
    assert state.entry is entry
    reason = svc.stale_reason(state, clock())
    assert reason.startswith("history query failed: Prometheus unreachable (at 2026-02-02T12:01:10Z)")
    assert "serving the forecast from 2026-02-02T12:00:10Z" in reason
    rendered = svc.render(state, quantiles=("p50",), history_steps=10, now=clock())
    body = json.loads(rendered.body(60.0))
    assert body["stale"] is True and body["stale_reason"] == reason and body["age_s"] == 60.0


def test_a_gap_in_the_actuals_is_null_and_the_body_is_valid_json():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)
    source.gap = True
    svc.refresh("web")
    body = json.loads(svc.render(state, quantiles=("p50",), history_steps=5, now=clock()).body(0.0))
    assert body["actual"]["values"][2] is None
    assert len(body["actual"]["values"]) == 5
    assert json.loads(svc.render(state, quantiles=("p50",), history_steps=0, now=clock()).body(0))[
        "actual"
    ] == {
        "timestamps": [],
        "values": [],
    }


def test_json_numbers():
    assert json_floats(np.array([1.23456, np.nan, -0.0004, 2.0])) == [1.235, None, -0.0, 2.0]
    assert iso(pd.Timestamp("2026-02-02 12:00:00.9")) == "2026-02-02T12:00:00Z" and iso(None) is None


def test_model_info_says_when_a_baseline_answered_for_a_model():
    trained = ServingModel(
        predictor=object(), kind="model", name="quantile_lstm", version="v7", trained_at="t"
    )
    assert model_info(trained) == {
        "kind": "model",
        "name": "quantile_lstm",
        "version": "v7",
        "trained_at": "t",
        "fallback": False,
        "note": None,
    }
    fell_back = model_info(trained, ran="seasonal_naive_daily", note="history too short")
    assert fell_back["kind"] == "baseline" and fell_back["fallback"] is True
    assert fell_back["version"] is None and fell_back["note"] == "history too short"


# -- the cached fast path answers exactly as the route ------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?history=2h", "?quantiles=p90,p50", "?quantiles=p10&history=30m"])
def test_the_fast_path_and_the_route_give_the_same_answer(client, query):
    """An unknown extra parameter sends the request through FastAPI's route; without it the fast path
    answers. Both must say the same: body (but its age), ETag, cache headers."""
    fast = client.get(f"/v1/targets/b-api/forecast{query}")
    routed = client.get(f"/v1/targets/b-api/forecast{query}{'&' if query else '?'}via=route")
    assert fast.status_code == routed.status_code == 200
    a, b = fast.json(), routed.json()
    a.pop("age_s"), b.pop("age_s")
    assert a == b
    assert fast.headers["etag"] == routed.headers["etag"]
    assert fast.headers["cache-control"] == routed.headers["cache-control"]
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"


@pytest.mark.parametrize("query", ["?history=1h&history=24h", "?history=7h", "?quantiles=p42", "?history=0m"])
def test_requests_the_fast_path_cannot_answer_get_the_apps_422(client, query):
    r = client.get(f"/v1/targets/a-web/forecast{query}")
    assert r.status_code == 422
    assert set(r.json()) == {"error", "hint", "fields", "omitted"}


@pytest.mark.parametrize("header", ["*", 'W/"nope", {etag}', "{bare}", '{etag},W/"other"'])
def test_if_none_match_forms(client, header):
    etag = client.get("/v1/targets/a-web/forecast").headers["etag"]
    value = header.format(etag=etag, bare=etag.removeprefix("W/"))
    assert client.get("/v1/targets/a-web/forecast", headers={"If-None-Match": value}).status_code == 304
    assert (
        client.get("/v1/targets/a-web/forecast?via=route", headers={"If-None-Match": value}).status_code
        == 304
    )


def test_metrics_with_the_token_carry_the_forecasts(client):
    r = client.get("/metrics")
    assert r.status_code == 200
    assert 'target="a-web"' in r.text


# -- what a refresh serves when the model or the source misbehaves -------------------------------------------------


class _RaisingModel:
    lookback_steps = 60

    def __init__(self, exc):
        self.exc = exc

    def predict(self, history):
        raise self.exc


class _NanModel:
    lookback_steps = 60

    def predict(self, history):
        index = pd.date_range(history.index[-1] + pd.Timedelta("1min"), periods=30, freq="1min")
        return pd.DataFrame({"p50": np.nan, "p90": np.nan}, index=index)


def _with_model(clock, predictor, **kw):
    svc, state, source = _service(clock, **kw)
    state.model = ServingModel(predictor=predictor, kind="model", name="quantile_lstm", version="v9")
    return svc, state, source


def test_a_model_that_cannot_use_the_history_is_answered_by_the_baseline_saying_why():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _with_model(clock, _RaisingModel(DataError("history too short after an outage")))
    assert svc.refresh("web") is True
    body = json.loads(svc.render(state, quantiles=("p50",), history_steps=0, now=clock()).body(0))
    assert body["model"]["kind"] == "baseline" and body["model"]["fallback"] is True
    assert (
        "model v9 could not forecast (history too short after an outage); baseline used"
        in body["model"]["note"]
    )


def test_a_model_bug_fails_the_refresh_and_keeps_the_last_forecast():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    svc.refresh("web")
    entry = state.entry
    clock.advance("1min")
    state.model = ServingModel(
        predictor=_RaisingModel(ZeroDivisionError("x")), kind="model", name="m", version="v1"
    )
    assert svc.refresh("web") is False and state.entry is entry
    assert svc.stale_reason(state, clock()).startswith("forecast failed: ZeroDivisionError")


def test_a_non_finite_model_forecast_is_replaced_by_the_baseline_saying_why():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _with_model(clock, _NanModel())
    assert svc.refresh("web") is True
    body = json.loads(svc.render(state, quantiles=("p50", "p90"), history_steps=0, now=clock()).body(0))
    assert body["model"]["fallback"] is True and "not a finite number" in body["model"]["note"]
    assert all(v is not None for v in body["forecast"]["values"]["p90"])


def test_a_source_with_no_samples_fails_the_refresh():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)
    source.series = source.series * np.nan
    assert svc.refresh("web") is False
    assert "the source returned no samples for target web" in svc.stale_reason(state, clock())
    ready, reasons, _ = svc.readiness()
    assert ready is False and reasons[0].startswith("web: no forecast yet: forecast failed")


def test_a_newer_model_from_the_store_is_used_at_the_next_refresh():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    newer = ServingModel(
        predictor=_RaisingModel(DataError("short")), kind="model", name="quantile_lstm", version="v2"
    )
    svc, state, _ = _service(clock, model_refresher=lambda st: newer)
    svc.refresh("web")
    assert state.model is newer
    assert "model v2 could not forecast" in state.entry.note


def test_a_failing_model_check_keeps_the_model_in_use():
    from forecaster.errors import ModelStoreError

    def broken(state):
        raise ModelStoreError("pointer damaged")

    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock, model_refresher=broken)
    before = state.model
    assert svc.refresh("web") is True and state.model is before


def test_the_history_fetched_covers_the_models_lookback_or_max_history():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    asked = []
    svc, state, source = _service(clock)
    fetch = source.fetch_recent

    def recording(*, duration, now):
        asked.append(duration)
        return fetch(duration=duration, now=now)

    source.fetch_recent = recording
    svc.refresh("web")  # the baseline: two days
    state.model = ServingModel(predictor=_RaisingModel(DataError("x")), kind="model", name="m")
    state.model.predictor.lookback_steps = 3000  # longer than max_history (24h at 1-minute steps)
    svc.refresh("web")
    state.model.predictor.lookback_steps = 60
    svc.refresh("web")
    assert asked == [pd.Timedelta(days=2), pd.Timedelta(minutes=3001), pd.Timedelta(hours=24)]


def test_unknown_fields_in_a_posted_body_are_refused(client):
    r = client.post("/v1/forecast", json={"model": "a-web", "history": _history(10), "horizon": 5})
    assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == ["horizon"]
    r = client.post("/v1/forecast", json={"model": "a-web", "history": {**_history(10), "step": 300}})
    assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == ["history.step"]


def _sample(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            got = head[len(name) :].strip("{}")
            if ",".join(sorted(got.split(","))) == want:
                return float(value)
    return None


def test_the_forecast_gauges_are_the_served_forecast_at_each_horizon(client):
    body = client.get("/v1/targets/c-batch/forecast?history=5m").json()
    text = client.get("/metrics").text
    for k, horizon in ((0, "5m"), (1, "10m"), (2, "15m"), (5, "30m")):
        for q in ("p10", "p50", "p90"):
            got = _sample(text, "forecaster_forecast", target="c-batch", quantile=q, horizon=horizon)
            assert got == pytest.approx(body["forecast"]["values"][q][k], abs=1e-3), (q, horizon)
    assert _sample(text, "forecaster_actual", target="c-batch") == pytest.approx(
        body["actual"]["values"][-1], abs=1e-3
    )
    assert _sample(text, "forecaster_forecast_stale", target="c-batch") == 0.0
    assert _sample(text, "forecaster_model_fallback", target="c-batch") == 1.0
    assert _sample(text, "forecaster_forecast_age_seconds", target="c-batch") == 0.0


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(client):
    big = b'{"model": "a-web", "history": {"timestamps": [], "values": [' + b"1.0," * 600_000 + b"1.0]}}"
    r = client.post("/v1/forecast", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "request body larger than 2097152 bytes"


# -- one refresher for every replica ------------------------------------------------------------------------------


class _Elector:
    def __init__(self, leading):
        self.leading = leading
        self.released = False

    def ensure(self, now):
        return self.leading

    def release(self, now):
        self.released = True


def test_followers_serve_exactly_the_leaders_forecast_without_querying(tmp_path):
    import asyncio

    from forecaster.api.shared import SharedRefresher, SnapshotFile

    clock = MutableClock(T0 + pd.Timedelta("10s"))
    leader_svc, leader_state, leader_source = _service(clock)
    leader_source.gap = True
    follower_svc, follower_state, follower_source = _service(clock)
    follower_source.fail = True  # a follower must never need it
    path = tmp_path / "snap" / "api.json"
    leader = SharedRefresher(leader_svc, elector=_Elector(True), snapshot=SnapshotFile(path))
    follower = SharedRefresher(follower_svc, elector=_Elector(False), snapshot=SnapshotFile(path))

    asyncio.run(follower.step())  # nothing written yet: nothing served, nothing queried
    assert follower_state.entry is None
    asyncio.run(leader.step())
    asyncio.run(follower.step())

    view = dict(quantiles=("p50", "p90"), history_steps=10, now=clock())
    a, b = leader_svc.render(leader_state, **view), follower_svc.render(follower_state, **view)
    assert a.body(3.0) == b.body(3.0) and a.etag == b.etag
    assert json.loads(b.body(0))["actual"]["values"][-3] is None
    assert follower_svc.metrics.refreshes.labels("web", "error")._value.get() == 0
    assert leader.leading is True and follower.leading is False

    # the leader fails next: the follower reports the same staleness, keeping the same forecast
    clock.advance("1min")
    leader_source.fail = True
    asyncio.run(leader.step())
    asyncio.run(follower.step())
    assert follower_svc.stale_reason(follower_state, clock()) == leader_svc.stale_reason(
        leader_state, clock()
    )
    assert follower_state.entry.generated_at == leader_state.entry.generated_at


def test_an_older_snapshot_never_replaces_a_newer_forecast_and_another_version_is_refused(tmp_path):
    from forecaster.api.shared import apply_snapshot, snapshot_document

    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    svc.refresh("web")
    old = snapshot_document(svc, written_at=clock())
    clock.advance("1min")
    svc.refresh("web")
    newer = state.entry
    assert apply_snapshot(svc, old) == 0 and state.entry is newer
    with pytest.raises(ConfigError, match="snapshot version"):
        apply_snapshot(svc, {**old, "version": 999})
    assert apply_snapshot(svc, {**old, "targets": {"unknown": old["targets"]["web"]}}) == 0


def test_an_unchanged_snapshot_file_is_not_read_again_and_a_torn_one_is_an_error(tmp_path):
    from forecaster.api.shared import SnapshotFile

    snap = SnapshotFile(tmp_path / "s.json")
    assert snap.read_if_changed() is None
    snap.write({"version": 1, "targets": {}})
    assert snap.read_if_changed() == {"version": 1, "targets": {}}
    assert snap.read_if_changed() is None
    (tmp_path / "s.json").write_text('{"version": ')
    with pytest.raises(ConfigError, match="cannot read the forecast snapshot"):
        snap.read_if_changed()
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary left behind


def test_a_cached_answer_says_how_old_it_is_on_both_paths(client):
    """age_s and the Age header count from the refresh, whichever path answers (a minute later, before the
    next step: no new forecast)."""
    CLOCK.advance("61s")
    try:
        for via in ("", "?via=route"):
            r = client.get(f"/v1/targets/a-web/forecast{via}")
            assert r.status_code == 200
            assert r.headers["age"] == "61" and r.json()["age_s"] == 61.0, via
            assert int(r.headers["cache-control"].rsplit("=", 1)[1]) == 300 - 61 - 30 + 10
    finally:
        CLOCK._now = NOW


# -- the page, errors without stack traces ------------------------------------------------------------------------


def test_the_page_and_its_assets_and_nothing_else_from_disk(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    js = client.get("/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.headers["cache-control"] == "public, max-age=300"
    for name in ("index.html", "..%2Fsettings.py", "app.py"):
        assert client.get(f"/static/{name}").status_code == 404


@pytest.mark.parametrize(("raw", "position"), [(b'{"model": "a-web",', 18), (b"not json", 0)])
def test_invalid_json_is_a_422_naming_the_body_and_where(client, raw, position):
    r = client.post("/v1/forecast", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    [field] = r.json()["fields"]
    assert field["field"] == "body" and f"not valid JSON at character {position}" in field["message"]


def test_readiness_and_metrics_are_never_cached(client):
    assert client.get("/readyz").headers["cache-control"] == "no-store"
    assert client.get("/metrics").headers["cache-control"] == "no-store"
    body = client.get("/readyz").json()
    assert body["ready"] is True and body["reasons"] == []
    assert any("no trained model in this test" in d for d in body["degraded"])
