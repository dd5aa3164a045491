"""Forecast API behaviours the planted-bug campaign found unheld (bench/planted_bugs.py, bench/results/planted.md).

Over HTTP (uvicorn on 127.0.0.1, the app ``forecaster serve`` builds) with an in-memory source and the seasonal
baseline serving (no model to train, so each test costs well under a second once the server is up):

- ``POST /v1/forecast`` refuses a history whose step is not the model's, finer or coarser, naming the field;
- ``GET /v1/targets/{t}/forecast?history=`` shorter than one step returns no actuals, not the whole day.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from forecaster.api.app import create_app
from forecaster.api.cache import ServingModel
from forecaster.api.settings import ServeSettings
from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig
from tests.test_api_support import ServerThread, wait_for

TARGET = "svc"
STEP = pd.Timedelta(minutes=5)
INDEX = pd.date_range("2026-03-02", periods=3 * 288, freq=STEP)
SERIES = pd.Series(100 + 50 * np.sin(np.arange(len(INDEX)) * 2 * np.pi / 288), index=INDEX)
NOW = INDEX[-1] + pd.Timedelta("30s")


class _FixedSource:
    def fetch_recent(self, *, duration: pd.Timedelta, now: pd.Timestamp) -> pd.Series:
        return SERIES.loc[now - duration : now]


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    cfg = TargetConfig(
        name=TARGET,
        prometheus=PrometheusSettings(url="http://127.0.0.1:9", query="up", step="5m"),
        model=ModelSettings(lookback="1h", horizon="30m", quantiles=(0.5, 0.9)),
    )
    app = create_app(
        ServeSettings(tick_s=0.05, demo_train=False, auth_token_env=None),
        clock=lambda: NOW,
        targets=[cfg],
        source_factory=lambda _cfg: _FixedSource(),
        model_loader=lambda _cfg: ServingModel.baseline("no trained model in this test"),
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        wait_for(lambda: c.get("/readyz").status_code == 200, what="the first forecast")
        yield c


def _history(step: str, n: int = 600) -> dict:
    index = pd.date_range(end=INDEX[-1], periods=n, freq=step)
    values = 100 + 50 * np.sin(np.arange(n) * 2 * np.pi / 288)
    return {"timestamps": [t.isoformat() + "Z" for t in index], "values": values.tolist()}


def test_a_history_at_the_models_step_forecasts(client):
    resp = client.post("/v1/forecast", json={"model": TARGET, "history": _history("5min")})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["forecast"]["values"]["p50"]) == 6


@pytest.mark.parametrize(("step", "said"), [("10min", "10m"), ("1min", "1m"), ("1h", "1h")])
def test_a_history_at_another_step_is_refused_naming_both_steps(client, step, said):
    resp = client.post("/v1/forecast", json={"model": TARGET, "history": _history(step)})
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert [f["field"] for f in body["fields"]] == ["history.timestamps"]
    assert f"the history's step is {said}; model 'svc' forecasts in steps of 5m" in body["error"]


@pytest.mark.parametrize(("history", "points"), [("1m", 0), ("4m", 0), ("5m", 1), ("1h", 12)])
def test_the_actuals_returned_are_the_history_asked_for(client, history, points):
    resp = client.get(f"/v1/targets/{TARGET}/forecast", params={"history": history})
    assert resp.status_code == 200, resp.text
    actual = resp.json()["actual"]
    assert len(actual["timestamps"]) == len(actual["values"]) == points
    if points:
        assert actual["timestamps"][-1] == INDEX[-1].strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("value", [1e308, -1e308])
def test_a_history_the_baseline_cannot_forecast_in_finite_numbers_is_a_422(client, value):
    """The seasonal baseline serves here (no trained model): its forecast of 1e308 overflows. JSON has no
    Infinity or NaN, so the answer must be a 422 naming the history, never a 500 or a body with NaN."""
    history = _history("5min")
    history["values"] = [value] * len(history["values"])
    resp = client.post("/v1/forecast", json={"model": TARGET, "history": history})
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert [f["field"] for f in body["fields"]] == ["history"]
    assert "the forecast is not a finite number" in body["error"]


@pytest.mark.parametrize(
    ("history", "status", "points"),
    [("6h", 200, 72), ("12h", 200, 144), ("24h", 200, 288), ("25h", 422, None)],
)
def test_any_history_up_to_max_history_is_served(client, history, status, points):
    """default_history (6h) is what a request gets without asking; max_history (24h) is the limit."""
    resp = client.get(f"/v1/targets/{TARGET}/forecast", params={"history": history})
    assert resp.status_code == status, resp.text
    if points is None:
        assert resp.json()["fields"][0]["field"] == "history"
        assert "at most 24h of history is served" in resp.json()["error"]
    else:
        assert len(resp.json()["actual"]["timestamps"]) == points


def test_a_listing_that_ends_on_a_page_boundary_has_no_continue_token(client):
    """One target, one per page: that page is the last, and nothing invites a request for an empty page."""
    body = client.get("/v1/targets", params={"limit": 1}).json()
    assert [t["name"] for t in body["targets"]] == [TARGET]
    assert body["total"] == 1 and body["continue"] is None
    assert client.get("/v1/targets", params={"limit": 2}).json()["continue"] is None
