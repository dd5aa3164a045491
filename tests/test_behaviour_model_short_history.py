"""What a trained model answers with a history shorter than it needs (:meth:`forecaster.model.Forecaster.predict`):
the network from exactly the points it needs, the recent-mean fallback (the mean of the last 15 minutes,
whatever the step) with one point less; a history in another step or with an infinite value refused by name,
a gap carried forward from before it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from forecaster.errors import DataError
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    series = daily_sine(days=2, noise=0.02)
    model = fit_forecaster(
        series, model=TINY_MODEL, train=dataclasses.replace(TINY_TRAIN, epochs=1), name="tiny"
    )
    return model, series


def test_exactly_the_points_the_network_needs_are_answered_by_the_network(trained):
    model, series = trained
    need = model.min_history_steps
    assert model.predict(series.iloc[-need:]).attrs["answered_by"].startswith("lstm")
    short = model.predict(series.iloc[-(need - 1) :])
    assert short.attrs["answered_by"].startswith("fallback:"), short.attrs


def test_the_recent_mean_fallback_is_the_mean_of_the_last_15_minutes(trained):
    model, series = trained
    history = series.iloc[:10].copy()
    history.iloc[-3:] = [300.0, 330.0, 360.0]  # the last 15 minutes at 5-minute steps
    out = model.predict(history)
    assert out.attrs["answered_by"] == "fallback:recent-mean"
    np.testing.assert_allclose(out["p50"], 330.0)
    assert (out["p90"] >= out["p50"]).all()


def test_a_history_in_another_step_is_refused_saying_so(trained):
    model, series = trained
    with pytest.raises(DataError, match="does not match the model's step"):
        model.predict(series.resample("10min").mean())


def test_an_infinite_value_in_the_history_is_refused(trained):
    model, series = trained
    history = series.copy()
    history.iloc[-5] = np.inf
    with pytest.raises(DataError, match="infinite"):
        model.predict(history)


def test_a_gap_in_the_history_is_carried_forward_from_before_it(trained):
    """A scrape gap (NaN) in the middle of the history is the last value before it, never the first after."""
    model, series = trained
    gap = series.copy()
    gap.iloc[-20:-10] = np.nan
    filled = series.copy()
    filled.iloc[-20:-10] = series.iloc[-21]
    np.testing.assert_allclose(model.predict(gap).to_numpy(), model.predict(filled).to_numpy())


def test_the_fallbacks_band_is_relative_to_the_recent_level(trained):
    """The network's typical band, relative to the level: ten times the level, ten times the band."""
    model, series = trained
    low = series.iloc[:10].copy()
    low.iloc[:] = 50.0
    high = low * 10.0
    a, b = model.predict(low), model.predict(high)
    assert (a["p90"] > a["p50"]).all()
    np.testing.assert_allclose(
        (b["p90"] - b["p50"]).to_numpy(), 10.0 * (a["p90"] - a["p50"]).to_numpy(), rtol=1e-9
    )
