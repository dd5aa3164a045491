"""Weekly-lag inputs (:class:`forecaster.windows.WindowSpec` ``week``): a model trained on two weeks or more
reads the value a week before each input and forecast step, says so in its manifest's architecture, and
round-trips; models saved without the key read none (their files load as before)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.errors import ConfigError, ModelStoreError
from forecaster.model import MANIFEST_FILE, Forecaster
from forecaster.settings import ModelSettings
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

TRAIN = dataclasses.replace(TINY_TRAIN, epochs=1, pretrained="off")
WEEKLY = dataclasses.replace(TINY_MODEL, weekly_lags=True)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _weekly(days: float) -> pd.Series:
    """A daily cycle that is 30% lower on Saturdays and Sundays, with a little noise."""
    s = daily_sine(days=days, noise=0.02)
    weekend = np.asarray(s.index.day_of_week >= 5)
    return s * np.where(weekend, 0.7, 1.0)


@pytest.fixture(scope="module")
def weekly_model() -> Forecaster:
    torch.set_num_threads(1)
    return fit_forecaster(_weekly(15), model=WEEKLY, train=TRAIN, name="weekly")


def test_two_weeks_of_history_give_the_network_a_weekly_lag_input(weekly_model):
    week = int(pd.Timedelta(days=7) / pd.Timedelta("5min"))
    assert weekly_model.spec.week == week and weekly_model.architecture["week_steps"] == week
    assert weekly_model.network.lstm.input_size == 6 + 1  # y, daily lag, calendar (4), weekly lag
    assert weekly_model.min_history_steps == week + 12
    short = fit_forecaster(_weekly(13), model=WEEKLY, train=TRAIN, name="daily")
    assert short.spec.week == 0 and "week_steps" not in short.architecture
    assert short.network.lstm.input_size == 6
    off = fit_forecaster(_weekly(15), model=TINY_MODEL, train=TRAIN, name="off")  # opt-in: off by default
    assert off.spec.week == 0 and off.network.lstm.input_size == 6


def test_weekly_lags_are_a_yes_or_no():
    with pytest.raises(ConfigError, match="weekly_lags must be true or false"):
        ModelSettings(weekly_lags="yes")


def test_a_weekly_model_round_trips_and_forecasts_the_same(weekly_model):
    history = _weekly(16)
    again = Forecaster.from_bytes(weekly_model.to_bytes())
    assert again.spec == weekly_model.spec
    pd.testing.assert_frame_equal(again.predict(history), weekly_model.predict(history))
    assert again.predict(history).attrs["answered_by"] == "lstm+skill-weighted"


def test_a_history_without_its_week_back_is_answered_by_the_fallback_and_says_so(weekly_model):
    out = weekly_model.predict(_weekly(6))
    assert out.attrs["answered_by"].startswith("fallback")
    assert np.isfinite(out.to_numpy()).all()


def test_a_manifest_without_the_weekly_key_reads_no_weekly_input(weekly_model):
    """What a model saved before weekly lags looks like to this version: no key, no input. Its weights (here
    a weekly network's, so one input too many) must then be refused clearly, not misread."""
    files = weekly_model.to_bytes()
    manifest = json.loads(files[MANIFEST_FILE])
    del manifest["architecture"]["week_steps"]
    files[MANIFEST_FILE] = json.dumps(manifest).encode()
    with pytest.raises(ModelStoreError, match="weights do not fit the architecture"):
        Forecaster.from_bytes(files)
