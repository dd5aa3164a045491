"""Forecasts users can trust: an idle service gets finite numbers, and old data is never served as fresh.

- a lookback window of all zeros (a service idle at night, or after an outage) gives finite, non-negative
  forecasts from the LSTM and from every baseline: never NaN, which JSON cannot even carry;
- the LSTM's quantiles stay ordered on a trend;
- when the source answers with old samples only (Prometheus up, the exporter gone), the forecast service
  serves the forecast as stale and says why, over HTTP and in its own state, with a fixed clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.api.app import create_app
from forecaster.api.cache import ForecastService, ServingModel, TargetState
from forecaster.api.metrics import ServiceMetrics
from forecaster.api.settings import ServeSettings
from forecaster.model import Forecaster
from forecaster.predictors import HoltWinters, LastValue, SeasonalNaive
from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine
from tests.test_api_support import MutableClock, ServerThread, wait_for

STEP = pd.Timedelta(minutes=5)


@pytest.fixture(scope="module")
def model() -> Forecaster:
    torch.set_num_threads(1)
    return fit_forecaster(daily_sine(days=5, noise=0.03), model=TINY_MODEL, train=TINY_TRAIN, name="idle")


def _idle_tail(series: pd.Series, steps: int) -> pd.Series:
    out = series.copy()
    out.iloc[-steps:] = 0.0
    return out


# -- idle services -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "zero_steps"),
    [
        ("the lookback hour is all zeros", 12),
        ("a whole idle day: the daily lags are zeros too", 2 * 288),
        ("idle since the series began", None),
    ],
)
def test_an_all_zero_lookback_gives_finite_lstm_forecasts(model, description, zero_steps):
    series = daily_sine(days=3, noise=0.03)
    history = series * 0.0 if zero_steps is None else _idle_tail(series, zero_steps)

    forecast = model.predict(history)

    values = forecast.to_numpy()
    assert np.isfinite(values).all(), description
    assert (values >= 0).all(), description  # the series never went negative: neither does the forecast
    assert (forecast["p90"] >= forecast["p50"]).all(), description


def test_a_model_trained_across_a_long_idle_stretch_forecasts_finite_numbers():
    torch.set_num_threads(1)
    series = daily_sine(days=5, noise=0.03)
    series.iloc[2 * 288 : 3 * 288] = 0.0  # a whole day of nothing inside the training range
    trained = fit_forecaster(series, model=TINY_MODEL, train=TINY_TRAIN, name="gap")
    assert np.isfinite(trained.predict(series).to_numpy()).all()
    assert np.isfinite(trained.predict(_idle_tail(series, 12)).to_numpy()).all()


@pytest.mark.parametrize("kind", [LastValue, SeasonalNaive, HoltWinters])
def test_an_all_zero_lookback_gives_finite_baseline_forecasts(kind):
    series = daily_sine(days=4, noise=0.03)
    baseline = kind(step=STEP, horizon_steps=6, quantiles=(0.1, 0.5, 0.9)).fit(series)
    for history in (_idle_tail(series, 12), _idle_tail(series, 2 * 288), series * 0.0):
        values = baseline.predict(history).to_numpy()
        assert np.isfinite(values).all(), kind.__name__
        assert (values >= 0).all(), kind.__name__


def test_lstm_quantiles_stay_ordered_on_a_trend(model):
    series = daily_sine(days=3, noise=0.03)
    for slope in (1.0, -1.0):
        trend = series * (1 + slope * np.linspace(0, 0.8, len(series)))
        for end in range(len(trend) - 200, len(trend), 41):
            forecast = model.predict(trend.iloc[:end])
            assert (forecast["p90"] >= forecast["p50"]).all(), (slope, end)


# -- staleness -----------------------------------------------------------------------------------------------------

T0 = pd.Timestamp("2026-02-02 12:00:10")


class OldSamplesSource:
    """A source that answers, but its newest sample is ``lag`` old (the exporter stopped; Prometheus did not)."""

    def __init__(self, lag: pd.Timedelta) -> None:
        self.lag = lag
        index = pd.date_range(T0 - pd.Timedelta(days=3), periods=3 * 1440 + 60, freq="1min")
        self.series = pd.Series(100 + 50 * np.sin(np.arange(len(index)) * 2 * np.pi / 1440), index=index)

    def fetch_recent(self, *, duration: pd.Timedelta, now: pd.Timestamp) -> pd.Series:
        newest = now - self.lag
        return self.series.loc[now - duration : newest]


def _target() -> TargetConfig:
    return TargetConfig(
        name="web", prometheus=PrometheusSettings(query="up", step="1m"), model=ModelSettings()
    )


def _service(clock: MutableClock, lag: pd.Timedelta) -> tuple[ForecastService, TargetState]:
    state = TargetState(
        config=_target(), source=OldSamplesSource(lag), model=ServingModel.baseline("no trained model")
    )
    service = ForecastService(
        [state],
        clock=clock,
        max_history=pd.Timedelta("24h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
    )
    service.models_loaded = True
    return service, state


@pytest.mark.parametrize(
    ("description", "lag", "stale"),
    [
        ("the newest sample is a minute old: fresh", "1min", False),
        ("three steps old: still within stale_after_steps", "3min", False),
        ("just over three steps old: stale", "3min 1s", True),
        ("twenty minutes old: stale", "20min", True),
        ("a day old: stale", "24h", True),
    ],
)
def test_a_forecast_from_old_samples_only_is_stale(description, lag, stale):
    clock = MutableClock(T0)
    service, state = _service(clock, pd.Timedelta(lag))

    assert service.refresh("web") is True  # the source answered: no error to report
    reason = service.stale_reason(state, clock())

    assert (reason is not None) is stale, description
    if stale:  # (both outcomes are parametrised above)
        assert "the source has no recent data" in reason
        _, _, degraded = service.readiness()
        assert f"web: stale: {reason}" in degraded
    body = service.render(state, quantiles=("p50",), history_steps=10, now=clock())
    assert body is not None
    assert (b'"stale":true' in body.tail) is stale, description


def test_old_samples_are_served_as_stale_over_http():
    clock = MutableClock(T0)
    app = create_app(
        ServeSettings(tick_s=0.05, demo_train=False, auth_token_env=None),
        clock=clock,
        targets=[_target()],
        source_factory=lambda cfg: OldSamplesSource(pd.Timedelta("20min")),
    )
    with _serving(app) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="a first forecast")
        body = client.get("/v1/targets/web/forecast").json()
        assert body["stale"] is True
        assert "the source has no recent data" in body["stale_reason"]
        assert body["actual"]["timestamps"][-1].startswith("2026-02-02T11:40")
        assert any(d.startswith("web: stale:") for d in client.get("/readyz").json()["degraded"])
        assert 'forecaster_forecast_stale{target="web"} 1.0' in client.get("/metrics").text


@contextmanager
def _serving(app) -> Iterator[httpx.Client]:
    server = ServerThread(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()
