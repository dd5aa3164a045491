"""The forecast API given bad input: each case answers a clear 4xx naming the problem, never a 500 or a huge body.

No Prometheus here: a fixed in-memory source and a tiny trained model behind ``create_app``'s seams, served
by uvicorn on 127.0.0.1 (the lifespan runs, so the routes see exactly what ``forecaster serve`` builds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import httpx
import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.api.app import create_app
from forecaster.api.cache import ServingModel
from forecaster.api.settings import ServeSettings
from forecaster.settings import PrometheusSettings, TargetConfig
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine
from tests.test_api_support import ServerThread

TARGET = "svc"
SERIES = daily_sine(days=3, noise=0.02)  # 5-minute steps
NOW = SERIES.index[-1] + pd.Timedelta("30s")
SETTINGS = ServeSettings(tick_s=0.05, demo_train=False, auth_token_env=None)


class FixedSource:
    def __init__(self, series: pd.Series = SERIES) -> None:
        self.series = series

    def fetch_recent(self, *, duration: pd.Timedelta, now: pd.Timestamp) -> pd.Series:
        return self.series.loc[now - duration : now]


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return fit_forecaster(SERIES, model=TINY_MODEL, train=TINY_TRAIN, name=TARGET)


@contextlib.contextmanager
def _client(
    model, settings: ServeSettings = SETTINGS, *, source: FixedSource | None = None
) -> Iterator[httpx.Client]:
    cfg = TargetConfig(
        name=TARGET,
        prometheus=PrometheusSettings(url="http://127.0.0.1:9", query="up", step="5m"),
        model=TINY_MODEL,
    )
    app = create_app(
        settings,
        clock=lambda: NOW,
        targets=[cfg],
        source_factory=lambda _cfg: source or FixedSource(),
        model_loader=lambda _cfg: ServingModel(
            predictor=model, kind="model", name="quantile_lstm", version="v1"
        ),
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _history(values, *, n: int = 400, step: str = "5min") -> dict:
    index = pd.date_range(end=SERIES.index[-1], periods=n, freq=step)
    values = np.broadcast_to(np.asarray(values, dtype=float), (n,))
    return {"timestamps": [t.isoformat() + "Z" for t in index], "values": values.tolist()}


@pytest.fixture(scope="module")
def client(model):
    with _client(model) as c:
        yield c


def test_a_normal_history_forecasts(client):
    resp = client.post("/v1/forecast", json={"model": TARGET, "history": _history(SERIES.iloc[-400:])})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["forecast"]["values"]["p50"]) == 6


@pytest.mark.parametrize("value", [1e308, -1e308])
def test_values_too_large_to_forecast_are_a_422_naming_the_history(client, value):
    resp = client.post("/v1/forecast", json={"model": TARGET, "history": _history(value)})
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert [f["field"] for f in body["fields"]] == ["history"]
    assert "the forecast is not a finite number" in body["error"]
    assert "the history's values reach 1e+308" in body["error"]


def test_a_refresh_that_cannot_forecast_finite_numbers_fails_and_says_why(model):
    """Model and baseline overflow on 1e308 everywhere: no NaN is ever served, and the reason is named."""
    from tests.test_api_support import wait_for

    huge = pd.Series(1e308, index=SERIES.index)
    with _client(model, source=FixedSource(huge)) as client:
        wait_for(lambda: "not a finite number" in client.get("/readyz").text, what="the refresh's failure")
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "forecast failed: the forecast is not a finite number" in ready.json()["reasons"][0]
        resp = client.get(f"/v1/targets/{TARGET}/forecast")
        assert resp.status_code == 503 and "not a finite number" in resp.json()["error"]
        assert "NaN" not in client.get("/metrics").text


def test_many_bad_timestamps_list_a_few_and_count_the_rest(client):
    from forecaster.api.handlers import MAX_LISTED_ERRORS

    n = 50_000
    body = {"model": TARGET, "history": {"timestamps": ["x"] * n, "values": [1.0] * n}}
    resp = client.post("/v1/forecast", json=body)
    assert resp.status_code == 422
    assert len(resp.content) < 10_000  # was 7.7 MB for a 0.5 MB request
    error = resp.json()
    listed = [f["field"] for f in error["fields"]]
    assert listed == [f"history.timestamps.{i}" for i in range(MAX_LISTED_ERRORS)]  # in body order
    assert error["omitted"] == n - MAX_LISTED_ERRORS
    assert error["error"].endswith(
        f"history.timestamps.{MAX_LISTED_ERRORS - 1} and {n - MAX_LISTED_ERRORS} more"
    )
    assert f"the first {MAX_LISTED_ERRORS} of {n} problems" in error["hint"]


@pytest.mark.parametrize(
    ("raw", "position"),
    [(b"{not json", 1), (b'{"model": "svc", "history": {"timestamps": [1, 2, ]}}', 50)],
)
def test_invalid_json_names_the_body_and_says_where(client, raw, position):
    resp = client.post("/v1/forecast", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 422
    error = resp.json()
    assert error["fields"] == [
        {"field": "body", "location": "body", "message": error["fields"][0]["message"]}
    ]
    assert f"not valid JSON at character {position}: " in error["fields"][0]["message"]
    assert error["error"].startswith(f"invalid request: body: not valid JSON at character {position}")


def test_metrics_need_the_token_when_one_is_set_unless_turned_off(model, tmp_path):
    """/metrics carries forecaster_forecast and forecaster_actual: the data the token protects on /v1."""
    from tests.test_api_support import wait_for

    token = tmp_path / "token"
    token.write_text("scrape-me\n")
    protected = replace(SETTINGS, auth_token_file=str(token))
    bearer = {"Authorization": "Bearer scrape-me"}
    with _client(model, protected) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="first forecast")
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = client.get("/metrics", headers=bearer)
        assert (
            scraped.status_code == 200
            and f'forecaster_forecast{{horizon="30m",quantile="p50",target="{TARGET}"}}' in scraped.text
        )
    with _client(model, replace(protected, auth_metrics=False)) as client:  # the explicit opt-out
        assert client.get("/metrics").status_code == 200
        assert client.get(f"/v1/targets/{TARGET}/forecast").status_code == 401
    with _client(model) as client:  # no token configured: nothing to protect with
        assert client.get("/metrics").status_code == 200


def test_every_error_body_has_the_documented_shape(client):
    from forecaster.api.schemas import ErrorResponse

    too_big = b"[" + b"1," * (SETTINGS.max_body_bytes // 2) + b"1]"
    answers = [
        client.post("/v1/forecast", content=too_big, headers={"content-type": "application/json"}),
        client.post("/v1/forecast", content=b"{x", headers={"content-type": "application/json"}),
        client.post("/v1/forecast", json={"model": "nope", "history": _history(1.0, n=5)}),
    ]
    assert [r.status_code for r in answers] == [413, 422, 404]
    for resp in answers:
        body = resp.json()
        assert set(body) == set(ErrorResponse.model_fields), body
        ErrorResponse.model_validate(body)
