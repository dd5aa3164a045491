"""How well forecasts carry scheduled events (:mod:`forecaster.event_scores`), as the event benchmark and
``forecaster evaluate`` report it: only the steps in ``[start, start + window)`` count as the event's, every
origin from a horizon before the start is scored, a window without load has no score (not a perfect one),
and a start too early to have a horizon of origins before it is left out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecaster.event_scores import event_window_mask, event_window_wape
from forecaster.events import Calendar, Event
from forecaster.predictors import LastValue

STEP = pd.Timedelta(minutes=5)
INDEX = pd.date_range("2026-03-05", periods=600, freq=STEP)
START = pd.Timestamp("2026-03-06 12:00")
CAL = Calendar.of([Event(start=START.tz_localize("UTC"), kind="match")])


def _model(series: pd.Series) -> LastValue:
    return LastValue(step=STEP, horizon_steps=6, quantiles=(0.5,)).fit(series.iloc[:100])


def test_the_window_is_half_open_from_the_start():
    mask = event_window_mask(INDEX, CAL, window=pd.Timedelta(minutes=30))
    assert INDEX[mask][0] == START and INDEX[mask][-1] == START + pd.Timedelta(minutes=25)
    assert mask.sum() == 6


def test_origins_from_a_horizon_before_the_start_to_the_windows_end_are_scored():
    values = np.full(len(INDEX), 100.0)
    series = pd.Series(values, index=INDEX)
    score = event_window_wape(_model(series), series, CAL, start=100)
    # 6 origins before the start (their forecasts reach into the window) and the window's 6.
    assert (score.events, score.origins) == (1, 12)
    assert score.wape_in_windows == 0.0 and score.wape_outside == 0.0


def test_a_window_without_load_has_no_score():
    values = np.full(len(INDEX), 100.0)
    at = INDEX.searchsorted(START)
    values[at : at + 6] = 0.0  # the stream's 30 minutes: nothing (an idle service)
    series = pd.Series(values, index=INDEX)
    score = event_window_wape(_model(series), series, CAL, start=100)
    assert math.isnan(score.wape_in_windows), score
    assert score.wape_outside > 0


@pytest.mark.parametrize(
    ("start", "events"), [(INDEX.searchsorted(START) - 6, 1), (INDEX.searchsorted(START) - 5, 0)]
)
def test_a_start_without_a_horizon_of_origins_after_the_scoring_start_is_left_out(start, events):
    series = pd.Series(np.full(len(INDEX), 100.0), index=INDEX)
    assert event_window_wape(_model(series), series, CAL, start=int(start)).events == events


def _by_hand(model, series: pd.Series, origins, window_mask: np.ndarray) -> tuple[float, float]:  # noqa: ANN001
    """The p50 WAPE inside and outside the windows, from each origin's own ``predict``."""
    errs = {True: 0.0, False: 0.0}
    loads = {True: 0.0, False: 0.0}
    for t in origins:
        p50 = model.predict(series.iloc[:t])["p50"].to_numpy()
        for h in range(len(p50)):
            inside = bool(window_mask[t + h])
            errs[inside] += abs(p50[h] - series.iloc[t + h])
            loads[inside] += abs(series.iloc[t + h])
    return errs[True] / loads[True], errs[False] / loads[False]


def test_the_scores_are_the_p50_wape_of_the_steps_inside_and_outside_the_window():
    rng = np.random.default_rng(4)
    values = 100.0 + rng.normal(0, 5, len(INDEX))
    at = INDEX.searchsorted(START)
    values[at : at + 6] += 150.0  # the stream: half an hour at 2.5x
    series = pd.Series(values, index=INDEX)
    model = LastValue(step=STEP, horizon_steps=6, quantiles=(0.1, 0.5, 0.9)).fit(series.iloc[:200])
    assert (model.predict(series.iloc[:300])["p10"] < model.predict(series.iloc[:300])["p50"]).all()

    score = event_window_wape(model, series, CAL, start=100)

    mask = event_window_mask(INDEX, CAL, window=pd.Timedelta(minutes=30))
    inside, outside = _by_hand(model, series, range(at - 6, at + 6), mask)
    assert score.wape_in_windows == pytest.approx(inside)
    assert score.wape_outside == pytest.approx(outside)


def test_a_stride_scores_every_other_origin():
    series = pd.Series(100.0 + np.arange(len(INDEX)) % 7, index=INDEX)
    at = INDEX.searchsorted(START)
    score = event_window_wape(_model(series), series, CAL, start=100, stride=2)
    assert score.origins == 6
    mask = event_window_mask(INDEX, CAL, window=pd.Timedelta(minutes=30))
    inside, _ = _by_hand(_model(series), series, range(at - 6, at + 6, 2), mask)
    assert score.wape_in_windows == pytest.approx(inside)


def test_a_calendar_in_another_offset_scores_the_same_minutes():
    berlin = Calendar.of([Event(start=pd.Timestamp("2026-03-06T13:00:00+01:00"), kind="match")])
    np.testing.assert_array_equal(
        event_window_mask(INDEX, berlin, window=pd.Timedelta(minutes=30)),
        event_window_mask(INDEX, CAL, window=pd.Timedelta(minutes=30)),
    )
    series = pd.Series(100.0 + np.arange(len(INDEX)) % 5, index=INDEX)
    assert event_window_wape(_model(series), series, berlin, start=100) == event_window_wape(
        _model(series), series, CAL, start=100
    )


class _NeedsHistory:
    """Last value that asks for ``lookback_steps`` of history, as a network does."""

    def __init__(self, inner: LastValue, lookback_steps: int) -> None:
        self._inner, self.lookback_steps = inner, lookback_steps
        self.step, self.horizon_steps, self.quantiles = inner.step, inner.horizon_steps, inner.quantiles
        self.name = "needs-history"

    def predict(self, history: pd.Series) -> pd.DataFrame:
        assert len(history) >= self.lookback_steps
        return self._inner.predict(history)


@pytest.mark.parametrize(
    ("lookback", "events"), [(INDEX.searchsorted(START) - 6, 1), (INDEX.searchsorted(START) - 5, 0)]
)
def test_a_start_before_the_model_has_its_history_is_left_out(lookback, events):
    series = pd.Series(np.full(len(INDEX), 100.0), index=INDEX)
    model = _NeedsHistory(_model(series), int(lookback))
    assert event_window_wape(model, series, CAL, start=10).events == events


def test_a_start_whose_last_forecast_would_run_past_the_series_is_left_out():
    series = pd.Series(np.full(len(INDEX), 100.0), index=INDEX)
    end = Calendar.of(
        [Event(start=INDEX[-11].tz_localize("UTC")), Event(start=INDEX[-12].tz_localize("UTC"))]
    )
    score = event_window_wape(_model(series), series, end, start=100)
    assert (score.events, score.origins) == (1, 12)  # 6 window steps + 6 forecast steps must fit: the -12th
