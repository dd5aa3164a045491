"""A model that reads a calendar (:class:`forecaster.model.Forecaster`) keeps the components it computed between
calls on a growing history; a call with another calendar (an entry added, moved or cancelled) must forecast
as a freshly loaded model does with that calendar, never from what the previous calendar computed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.events import Calendar, Event
from forecaster.model import Forecaster, events_note
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine


def _calendar(starts) -> Calendar:  # noqa: ANN001
    return Calendar.of(Event(start=pd.Timestamp(s).tz_localize("UTC"), kind="match") for s in starts)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    series = daily_sine(days=3, noise=0.02)
    starts = [pd.Timestamp("2026-03-02 20:00") + pd.Timedelta(days=d) for d in range(3)]
    values = series.to_numpy().copy()
    for s in starts:
        at = series.index.searchsorted(s)
        values[at : at + 12] *= 2.0  # an hour at twice the load after each start
    series = pd.Series(values, index=series.index)
    train = dataclasses.replace(TINY_TRAIN, epochs=2, max_windows_per_epoch=256, pretrained="off")
    model = fit_forecaster(series, model=TINY_MODEL, train=train, name="cal", events=_calendar(starts))
    return model, series, starts


def test_another_calendar_is_another_forecast_never_the_kept_one(trained):
    model, series, starts = trained
    history = series.iloc[: series.index.searchsorted(pd.Timestamp("2026-03-04 19:40"))]
    before = _calendar(starts)
    after = _calendar(starts[:2])  # tonight's entry cancelled: the network answers, not the event profile
    model.reset()
    first = model.predict(history, events=before)
    second = model.predict(history, events=after)
    fresh = Forecaster.from_bytes(model.to_bytes())
    expected = fresh.predict(history, events=after)
    assert not np.allclose(first.to_numpy(), expected.to_numpy(), rtol=1e-3)  # the calendar matters here
    np.testing.assert_allclose(second.to_numpy(), expected.to_numpy(), rtol=1e-6)
    # And back: the first calendar's forecast again, not the second's.
    np.testing.assert_allclose(model.predict(history, events=before).to_numpy(), first.to_numpy(), rtol=1e-6)


def test_a_forecast_says_when_its_calendar_is_missing_ignored_or_holds_an_unseen_kind(trained):
    model, series, starts = trained
    history = series.iloc[: series.index.searchsorted(pd.Timestamp("2026-03-04 12:00"))]
    assert model.predict(history, events=_calendar(starts)).attrs.get("note") is None
    missing = model.predict(history).attrs["note"]
    assert missing == "the model reads a calendar but none was given: forecast as if nothing were scheduled"
    concert = Calendar.of([Event(start=pd.Timestamp("2026-03-04 20:00", tz="UTC"), kind="concert")])
    unseen = model.predict(history, events=concert).attrs["note"]
    assert unseen == (
        "event kind(s) concert never seen in training: forecast with the average effect of the known kinds (match)"
    )
    assert (
        events_note(None, concert)
        == "the model was trained without a calendar: the events given were ignored"
    )
    assert events_note(None, None) == ""
