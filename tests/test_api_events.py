"""The forecast service and the calendar: forecasts read it, responses list upcoming events, a calendar that
cannot be read never stops forecasts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.api.cache import ForecastService, ServingModel, TargetState
from forecaster.api.metrics import ServiceMetrics
from forecaster.api.schemas import ForecastResponse
from forecaster.errors import SourceError
from forecaster.events import Event, calendar_to_csv
from forecaster.settings import EventsSettings, ModelSettings, PrometheusSettings, TargetConfig, TrainSettings
from forecaster.sources.synthetic import live_streaming_events
from forecaster.training import fit_forecaster
from tests.test_api_support import MutableClock


class Source:
    def __init__(self, series: pd.Series) -> None:
        self.series = series

    def fetch_recent(self, *, duration, now):
        return self.series.loc[now - duration + pd.Timedelta(1, "ns") : now - pd.Timedelta("1min")]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    scenario = live_streaming_events(days=6, step="5m", seed=5)
    series, calendar = scenario.series, scenario.calendar
    train = TrainSettings(epochs=2, blend=False, max_windows_per_epoch=500)
    model = fit_forecaster(
        series.iloc[:1200], model=ModelSettings(lookback="1h", hidden_size=8), train=train, events=calendar
    )
    path = tmp_path_factory.mktemp("cal") / "events.csv"
    path.write_text(calendar_to_csv(calendar))
    return series, calendar, model, path


def _service(series, model, path, *, loader=None):
    cfg = TargetConfig(
        name="live",
        prometheus=PrometheusSettings(query="up", step="5m"),
        model=ModelSettings(lookback="1h"),
        events=EventsSettings(file=str(path)),
    )
    state = TargetState(
        config=cfg,
        source=Source(series),
        model=ServingModel(predictor=model, kind="model", name="quantile_lstm"),
    )
    svc = ForecastService(
        [state],
        clock=MutableClock(series.index[1400] + pd.Timedelta("10s")),
        max_history=pd.Timedelta("6h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
        calendar_loader=loader,
    )
    svc.models_loaded = True
    return svc, state


def _body(svc, state):
    rendered = svc.render(state, quantiles=("p50", "p90"), history_steps=12, now=svc.clock())
    return ForecastResponse.model_validate(json.loads(rendered.body(0.0)))


def test_forecasts_read_the_calendar_and_list_upcoming_events(setup):
    series, calendar, model, path = setup
    svc, state = _service(series, model, path)
    assert svc.refresh("live")
    history = series.iloc[:1400]
    expected = model.predict(history, events=calendar)
    np.testing.assert_allclose(state.entry.forecast["p50"].to_numpy(), expected["p50"].to_numpy())
    body = _body(svc, state)
    last = history.index[-1].tz_localize("UTC")
    want = calendar.upcoming(last, within=pd.Timedelta(hours=24))
    assert want, "the scenario has events in the next day"
    assert [(e.kind, e.start) for e in body.events] == [
        (e.kind, e.start.strftime("%Y-%m-%dT%H:%M:%SZ")) for e in want
    ]
    assert body.model.note is None


def test_a_calendar_that_cannot_be_read_means_forecasting_without_it(setup):
    series, calendar, model, path = setup

    def down(state, now):
        raise SourceError("Prometheus at http://127.0.0.1:1 unreachable")

    svc, state = _service(series, model, path, loader=down)
    assert svc.refresh("live"), "the forecast is still made"
    expected = model.predict(series.iloc[:1400], events=None)
    np.testing.assert_allclose(state.entry.forecast["p50"].to_numpy(), expected["p50"].to_numpy())
    body = _body(svc, state)
    assert body.events == [] and "calendar unavailable" in body.model.note
    assert not body.stale


def test_a_calendar_file_that_goes_away_is_read_from_its_last_good_copy_then_not_at_all(setup, tmp_path):
    """The prescaler's rule (forecaster.prescaler.calendars), so the page shows what the prescaler acts on."""
    import shutil
    from dataclasses import replace

    series, calendar, model, path = setup
    copy = tmp_path / "events.csv"
    shutil.copy(path, copy)
    svc, state = _service(series, model, copy)
    state.config = replace(state.config, events=EventsSettings(file=str(copy), max_age_s=600))
    metrics = svc.metrics.registry

    def value(name, **labels):
        return metrics.get_sample_value(name, {"target": "live", **labels})

    assert svc.refresh("live")
    assert value("forecaster_calendar_up") == 1 and value("forecaster_calendar_age_seconds") == 0
    last = series.index[1399].tz_localize("UTC")
    assert value("forecaster_calendar_entries", outcome="past") == calendar.past_count(
        last + pd.Timedelta("10s")
    )
    assert value("forecaster_calendar_entries", outcome="duplicate") == calendar.duplicates
    copy.unlink()

    svc.clock.advance("5min")  # the copy is 300 s old: still used
    svc.invalidate("live")
    assert svc.refresh("live")
    body = _body(svc, state)
    assert "forecast with the last good copy" in body.model.note and body.events, "events still listed"
    assert value("forecaster_calendar_up") == 0 and value("forecaster_calendar_age_seconds") == 300

    svc.clock.advance("10min")  # 900 s: forecast without it
    svc.invalidate("live")
    assert svc.refresh("live")
    body = _body(svc, state)
    assert "forecast without scheduled events" in body.model.note and body.events == []
    assert value("forecaster_calendar_entries", outcome="upcoming") == 0


def test_an_unseen_kind_is_said_in_the_response(setup, tmp_path):
    series, calendar, model, _ = setup
    soon = series.index[1400].tz_localize("UTC") + pd.Timedelta(minutes=20)
    odd = tmp_path / "odd.csv"
    odd.write_text(calendar_to_csv(calendar) + f"{Event(start=soon).start.isoformat()},esports,,\n")
    svc, state = _service(series, model, odd)
    assert svc.refresh("live")
    body = _body(svc, state)
    assert "esports never seen in training" in body.model.note
    assert "esports" in [e.kind for e in body.events]
