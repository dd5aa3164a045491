"""API behaviours that campaign 3 of the planted bugs showed no test held (bench/results/planted3.md).

Over HTTP (uvicorn on 127.0.0.1) against ``create_app`` with an in-memory source and the seasonal baseline (no
model to train), and through :class:`~forecaster.api.settings.ServeSettings`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd

from forecaster.api.app import create_app
from forecaster.api.cache import ServingModel
from forecaster.api.settings import ServeSettings
from forecaster.settings import PrometheusSettings, TargetConfig
from tests.helpers import TINY_MODEL, daily_sine
from tests.test_api_support import ServerThread

TARGET = "svc"


class FixedSource:
    def __init__(self, series: pd.Series) -> None:
        self.series = series

    def fetch_recent(self, *, duration: pd.Timedelta, now: pd.Timestamp) -> pd.Series:
        return self.series.loc[now - duration : now]


@contextlib.contextmanager
def _client(series: pd.Series, now: pd.Timestamp) -> Iterator[httpx.Client]:
    cfg = TargetConfig(
        name=TARGET,
        prometheus=PrometheusSettings(url="http://127.0.0.1:9", query="up", step="5m"),
        model=TINY_MODEL,
    )
    app = create_app(
        ServeSettings(tick_s=0.05, demo_train=False, auth_token_env=None),
        clock=lambda: now,
        targets=[cfg],
        source_factory=lambda _cfg: FixedSource(series),
        model_loader=lambda _cfg: ServingModel.baseline("no trained model in this test"),
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _strict_json(text: str):
    """JSON as every client reads it: NaN and Infinity are not JSON."""

    def refuse(name: str):
        raise AssertionError(f"the body holds {name}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_an_empty_token_variable_leaves_auth_off(monkeypatch):
    """Auth is on when the token variable is set *and non-empty*: an empty one must not turn auth on with an
    empty token (which 'Authorization: Bearer' would then match)."""
    monkeypatch.setenv("PLANTED3_TOKEN", "")
    assert ServeSettings(auth_token_env="PLANTED3_TOKEN").auth_token() is None
    monkeypatch.setenv("PLANTED3_TOKEN", "t0ken")
    assert ServeSettings(auth_token_env="PLANTED3_TOKEN").auth_token() == "t0ken"


def test_a_history_across_a_dst_change_is_forecast_in_utc():
    """A client sending local times with their offset (+01:00, then +02:00 after the clocks change) gets a
    forecast, on the UTC grid that continues its history: offsets are converted, never a 500."""
    series = daily_sine(days=3)
    index = pd.date_range(
        "2026-03-28T00:00:00Z", periods=400, freq="5min"
    )  # Paris changes at 01:00 UTC on 03-29
    local = index.tz_convert("Europe/Paris")
    assert {t.utcoffset() for t in local} == {pd.Timedelta(hours=1), pd.Timedelta(hours=2)}
    body = {
        "model": TARGET,
        "history": {"timestamps": [t.isoformat() for t in local], "values": series.iloc[:400].tolist()},
    }
    with _client(series, series.index[-1]) as client:
        response = client.post("/v1/forecast", json=body)

    assert response.status_code == 200, response.text
    first = pd.Timestamp(response.json()["forecast"]["timestamps"][0])
    assert first == (index[-1] + pd.Timedelta(minutes=5)).tz_convert("UTC")


def test_a_gap_in_the_served_history_is_null_not_nan():
    """History the source does not have (a gap longer than the interpolation limit) is served as null: the
    body stays valid JSON for every client."""
    series = daily_sine(days=3)
    gapped = series.copy()
    # 100 minutes missing inside the last 6 hours (a source keeps long gaps NaN)
    gapped.iloc[-40:-20] = np.nan
    now = series.index[-1] + pd.Timedelta("30s")
    with _client(gapped, now) as client:
        for _ in range(100):
            response = client.get(f"/v1/targets/{TARGET}/forecast", params={"history": "6h"})
            if response.status_code == 200:
                break
        assert response.status_code == 200, response.text

    body = _strict_json(response.text)
    values = body["actual"]["values"]
    assert values.count(None) == 20, values
    assert all(isinstance(v, float | int) for v in values if v is not None)
    assert np.isfinite([v for v in values if v is not None]).all()
