"""Model-side behaviours that campaign 2 of the planted bugs showed no test held (bench/results/planted2.md).

Through the public functions of the band calibration (:mod:`forecaster.calibration`), the skill-weighted
combination (:mod:`forecaster.combine`), the event calendar (:mod:`forecaster.events`) and the event profile
(:mod:`forecaster.event_profile`), on small hand-made inputs whose right answer is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.calibration import BandCalibration, conformal_scales, fit_prior
from forecaster.events import bind_calendar
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.synthetic import live_streaming_events
from forecaster.training import fit_forecaster

H = 6


# -- the band calibration -------------------------------------------------------------------------------------


def _symmetric_scales(noise: float) -> np.ndarray:
    """Scales ``[H, 3]`` of a p10/p50/p90 band of +-1 around a flat forecast of 100, on symmetric noise."""
    quantiles = (0.1, 0.5, 0.9)
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, noise, 400)
    first = 10
    S = len(values) - first
    raw = np.stack([np.full((S, H), 99.0), np.full((S, H), 100.0), np.full((S, H), 101.0)], axis=-1)
    r = np.random.default_rng(1).normal(0, 1.0, (2000, H, 1))
    prior = fit_prior(np.concatenate([r, np.full_like(r, np.nan), -r], axis=-1))
    cal = BandCalibration(prior=prior, half_life_steps=12, window=36)
    return conformal_scales(
        cal,
        members={"flat": np.full((S, H), 100.0)},
        weights={"flat": np.ones((1, H))},
        raw=raw,
        values=values,
        first=first,
        origins=np.array([390]),
        quantiles=quantiles,
        floor=1e-3,
    )[0]


@pytest.mark.parametrize(("description", "noise"), [("as on validation", 1.0), ("five times noisier", 5.0)])
def test_the_lower_band_is_calibrated_like_the_upper_one_on_symmetric_errors(description, noise):
    """A p10 must cover 90% from below as a p90 covers 90% from above: on symmetric errors both scales agree
    (the lower quantile is calibrated at its own coverage, 1 - 0.1, not at 0.1)."""
    k = _symmetric_scales(noise)
    assert np.all(k[:, 1] == 1.0)  # the median is never scaled
    np.testing.assert_allclose(k[:, 0], k[:, 2], rtol=0.25, err_msg=description)
    assert k[0, 0] > 1.0, (description, k[0])  # wider than the network's band, never collapsed


def test_a_band_with_a_horizon_near_the_season_reads_no_value_at_or_after_the_origin():
    """Seasonal scores come from forecasts made about a day earlier; with a horizon that reaches the season
    (a 1-hour step forecasting a day ahead) some of those forecasts' targets are at or after the origin: not
    yet seen, so they must not count. The future changing wildly must not change the band at the origin."""
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 1.0, 400)
    cal = BandCalibration(
        prior=fit_prior(
            np.concatenate([np.full((500, H, 1), np.nan), rng.normal(0, 1, (500, H, 1))], axis=-1)
        ),
        half_life_steps=12,
        window=36,
        season_steps=6,  # a season as long as the horizon
        seasonal_halfwidth=2,
        seasonal_days=3,
    )
    origin, first = 300, 10

    def scale(vals: np.ndarray) -> np.ndarray:
        S = len(vals) - first
        raw = np.stack([np.full((S, H), 100.0), np.full((S, H), 101.0)], axis=-1)
        return conformal_scales(
            cal,
            members={"flat": np.full((S, H), 100.0)},
            weights={"flat": np.ones((1, H))},
            raw=raw,
            values=vals,
            first=first,
            origins=np.array([origin]),
            quantiles=(0.5, 0.9),
            floor=1e-3,
        )[0]

    changed = values.copy()
    changed[origin:] = 1e6
    np.testing.assert_array_equal(scale(values), scale(changed))


# -- a model bound to its calendar ----------------------------------------------------------------------------


def test_a_model_bound_to_its_calendar_forecasts_with_it():
    """Backtests, promotion and replays know only ``predict(history)``: the bound calendar must reach the model
    there, or an event model is judged (and promoted or not) on forecasts made blind to its events."""
    torch.set_num_threads(1)
    scenario = live_streaming_events(days=5, step="5m", seed=5)
    model = fit_forecaster(
        scenario.series.iloc[:1100],
        model=ModelSettings(lookback="1h", hidden_size=8),
        train=TrainSettings(epochs=1, blend=False, max_windows_per_epoch=200, seed=0),
        name="events",
        events=scenario.calendar,
    )
    index = scenario.series.index
    start = next(
        int(index.searchsorted(e.start.tz_convert("UTC").tz_localize(None)))
        for e in scenario.calendar.events
        if int(index.searchsorted(e.start.tz_convert("UTC").tz_localize(None))) >= 1150
    )
    history = scenario.series.iloc[: start - 3]  # a start inside the horizon
    bound = bind_calendar(model, scenario.calendar)

    with_calendar = model.predict(history, events=scenario.calendar)
    blind = model.predict(history)
    assert float((with_calendar - blind).abs().max().max()) > 1.0, "the calendar must matter here"
    pd.testing.assert_frame_equal(bound.predict(history), with_calendar)
    many = bound.predict_many(scenario.series, origins=np.array([start - 3]))
    pd.testing.assert_frame_equal(many[0], with_calendar, check_freq=False)
