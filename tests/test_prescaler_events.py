"""The prescaler's forecasts read the target's calendar; a calendar that cannot be read fails safe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.errors import SourceError
from forecaster.events import calendar_to_csv
from forecaster.prescaler.forecasts import StoreForecastProvider, fetch_forecast
from forecaster.prescaler.policy import parse_policy
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.synthetic import live_streaming_events
from forecaster.store import ModelStore
from forecaster.training import fit_forecaster
from tests.prescaler_helpers import policy


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("prescale-events")
    scenario = live_streaming_events(days=6, step="5m", seed=5)
    series, calendar = scenario.series, scenario.calendar
    model = fit_forecaster(
        series.iloc[:1200],
        model=ModelSettings(lookback="1h", hidden_size=8),
        train=TrainSettings(epochs=2, blend=False, max_windows_per_epoch=500),
        name="live-streaming",
        events=calendar,
    )
    store = ModelStore(root / "store")
    saved = store.save("live-streaming", model, metrics={}, now=pd.Timestamp("2026-01-11"))
    store.promote("live-streaming", saved.version, reason="test", now=pd.Timestamp("2026-01-11"))
    (root / "events.csv").write_text(calendar_to_csv(calendar))
    training = root / "training"
    training.mkdir()
    (training / "live-streaming.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "live-streaming",
                "prometheus": {"query": "sum(rate(x[1m]))", "step": "5m"},
                "model": {"lookback": "1h", "quantiles": [0.5, 0.9]},
                "events": {"file": str(root / "events.csv")},
                "store": str(root / "store"),
            }
        )
    )
    return series, calendar, model, training


def _provider(series, training, **seams):
    def fetch(settings, *, now, history):
        return series.loc[(series.index >= now - history) & (series.index < now)]

    return StoreForecastProvider(training_dir=training, fetch=fetch, **seams)


def test_forecasts_read_the_targets_calendar_and_name_upcoming_events(target):
    series, calendar, model, training = target
    # Just before a scheduled start, so that it falls inside the horizon.
    start = next(e.start for e in calendar.events if e.start.tz_localize(None) > series.index[1300])
    now = start.tz_localize(None).floor("5min") - pd.Timedelta(minutes=10)
    result = _provider(series, training).forecast(parse_policy(policy()), now)
    expected = model.predict(result.history, events=calendar)
    np.testing.assert_allclose(result.frame["p90"].to_numpy(), expected["p90"].to_numpy())
    assert start in [e.start for e in result.upcoming]
    without = model.predict(result.history, events=None)
    assert not np.allclose(without["p50"].to_numpy(), expected["p50"].to_numpy()), "the calendar is read"


def test_a_calendar_that_cannot_be_read_is_a_forecast_problem(target):
    series, _, _, training = target

    def down(events, *, prometheus, now):
        raise SourceError("Prometheus at http://127.0.0.1:1 unreachable", hint="check it")

    provider = _provider(series, training, load_calendar=down)
    result, problem = fetch_forecast(provider, parse_policy(policy()), series.index[1400])
    assert result is None
    assert "calendar of scheduled events is unavailable" in problem and "unreachable" in problem
