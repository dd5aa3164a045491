"""The Predictor contract, passed by every forecaster on small synthetic series (tiny models, seconds).

Contract: ``predict(history)`` returns a DataFrame indexed by the ``horizon_steps`` timestamps after the
history's last one, one column per quantile (``p50``, ``p90``), finite, non-crossing, non-negative for
non-negative data, deterministic, using nothing after the history's end, and no worse than wild guessing
on a clean daily pattern.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.predictors import HoltWinters, LastValue, Predictor, SeasonalNaive
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

STEP = pd.Timedelta("5min")
H = 6


def _lstm(series):
    torch.set_num_threads(1)
    return fit_forecaster(series, model=TINY_MODEL, train=TINY_TRAIN, name="lstm")


BUILDERS = {
    "last_value": lambda s: LastValue(step=STEP, horizon_steps=H).fit(s),
    "seasonal_naive": lambda s: SeasonalNaive(step=STEP, horizon_steps=H).fit(s),
    "holt_winters": lambda s: HoltWinters(step=STEP, horizon_steps=H).fit(s),
    "lstm": _lstm,
}


@pytest.fixture(scope="module")
def series():
    return daily_sine(days=5, noise=0.02)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def predictor(request, series):
    return BUILDERS[request.param](series.iloc[:-288])


def test_is_a_predictor(predictor):
    assert isinstance(predictor, Predictor)
    assert predictor.step == STEP and predictor.horizon_steps == H
    assert tuple(predictor.quantiles) == (0.5, 0.9)


def test_forecast_shape_index_and_columns(predictor, series):
    history = series.iloc[:-100]
    forecast = predictor.predict(history)
    assert list(forecast.columns) == ["p50", "p90"]
    expected = pd.date_range(history.index[-1] + STEP, periods=H, freq=STEP)
    pd.testing.assert_index_equal(forecast.index, expected, check_names=False, exact=False)
    values = forecast.to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (forecast["p90"] >= forecast["p50"]).all()


def test_uses_nothing_after_the_history(predictor, series):
    cut = len(series) - 100
    a = predictor.predict(series.iloc[:cut])
    changed = series.copy()
    changed.iloc[cut:] *= 10
    b = predictor.predict(changed.iloc[:cut])
    pd.testing.assert_frame_equal(a, b)


def test_deterministic(predictor, series):
    pd.testing.assert_frame_equal(predictor.predict(series.iloc[:-50]), predictor.predict(series.iloc[:-50]))


def test_follows_a_daily_pattern(predictor, series):
    # Over the last day (unseen in fitting), p50 is within 15% of the truth on average, and p90 covers most.
    errors, covered = [], []
    for cut in range(len(series) - 288, len(series) - H, 24):
        forecast = predictor.predict(series.iloc[:cut])
        actual = series.iloc[cut : cut + H].to_numpy()
        errors.append(np.abs(forecast["p50"].to_numpy() - actual).sum() / actual.sum())
        covered.append(np.mean(actual <= forecast["p90"].to_numpy()))
    assert np.mean(errors) < 0.15
    assert np.mean(covered) > 0.5


def test_short_history_is_refused_clearly_or_answered_by_a_named_fallback(predictor, series):
    from forecaster.errors import DataError

    need = getattr(predictor, "min_history_steps", getattr(predictor, "min_history", 1))
    if hasattr(predictor, "min_history_steps"):  # the LSTM falls back to a statistical forecast and says so
        forecast = predictor.predict(series.iloc[: need - 1])
        assert forecast.attrs["answered_by"].startswith("fallback")
        assert np.isfinite(forecast.to_numpy()).all()
    else:
        with pytest.raises(DataError, match="needs"):
            predictor.predict(series.iloc[: need - 1])
