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
