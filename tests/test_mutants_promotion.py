"""Promotion behaviours that mutation testing found unpinned (bench/mutation.py promotion).

- the verdict the training job reports after tuning names the setting it recommends, or says none meets the SLO;
- a tuning that fails when an earlier recommendation exists carries that one forward and says why; an
  unexpected failure (a bug, not bad data) is logged with its traceback, an explained one is not;
- a candidate whose forecasts are NaN (a diverged network) is never promoted: the job stops with a clear error;
- the calendar of scheduled events reaches the model trained, the candidate scored and the current model
  scored: the backtest's forecasts are the saved models' forecasts when they read the calendar;
- ``progress=True`` shows the training's progress bar; by default the job prints nothing;
- a holdout of half the history or more (odd lengths included) falls back to the last fifth.

One- or two-epoch models on small synthetic series, as in tests/test_guarantees_promotion_rules.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster import promotion, recommendation, tuning
from forecaster.errors import DataError, NonFiniteForecastError
from forecaster.evaluation import forecast_origins
from forecaster.events import Calendar, Event, bind_calendar
from forecaster.promotion import train_target
from forecaster.recommendation import TUNING_FILE
from forecaster.settings import TargetConfig, TuningSettings
from forecaster.store import ModelStore
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine
from tests.test_guarantees_promotion_rules import CFG as PLAIN
from tests.test_guarantees_promotion_rules import NOW as PLAIN_NOW
from tests.test_guarantees_promotion_rules import _drifting

NOW = pd.Timestamp("2026-03-10 00:00")
TRAIN = dataclasses.replace(TINY_TRAIN, backtest="8h", epochs=1)
TUNING = TuningSettings(slo="short-minutes=2%", capacity_per_replica=20.0, pod_startup="3m", every="24h")
CFG = TargetConfig(name="svc", model=TINY_MODEL, train=TRAIN, tuning=TUNING)


def _small_grid(*, quantiles=(0.5, 0.9)):
    """A few points of each kind (the full grid's replay takes minutes on a busy machine)."""
    q = max(quantiles)
    return [
        *tuning.hpa_grid((1.0, 0.8)),
        tuning.Setting(1.0, "shift", 0.5, headroom=0.2),
        tuning.Setting(1.0, "shift", q),
    ]


@pytest.fixture(autouse=True)
def _small_and_single_threaded(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(tuning, "default_grid", _small_grid)


@pytest.fixture(scope="module")
def series() -> pd.Series:
    return daily_sine(days=4, noise=0.05, seed=3)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, series):
    """A store whose one version holds a fresh recommendation (the costly part, shared), and its result."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tuned") / "store"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tuning, "default_grid", _small_grid)
        result = train_target(CFG, series, store=ModelStore(root), now=NOW)
    return root, result


def _copy(tuned, tmp_path) -> tuple[ModelStore, promotion.PromotionResult]:
    root, result = tuned
    shutil.copytree(root, tmp_path / "store")
    return ModelStore(tmp_path / "store"), result


def _doc(store: ModelStore, version: str) -> dict:
    raw = store.read_file("svc", version, TUNING_FILE)
    assert raw is not None, f"{version} has no {TUNING_FILE}"
    return json.loads(raw)


# -- what the verdict says about the tuning -----------------------------------------------------------------


def test_the_tuning_verdict_names_the_recommended_setting(tuned):
    root, first = tuned
    rec = recommendation.read(ModelStore(root), "svc", first.saved.version)
    assert rec is not None and rec.label, "a 2% SLO is reachable on a smooth daily cycle"
    assert first.tuning == f"tuned for short-minutes=2% (no earlier recommendation): {rec.label}"
    assert first.summary().endswith(f"; prescaler tuning: {first.tuning}")


def test_the_tuning_verdict_says_when_no_setting_meets_the_slo(tmp_path, series):
    # One pod of 20/s against a load around 100/s: no setting of the grid can keep the SLO.
    hopeless = dataclasses.replace(CFG, tuning=dataclasses.replace(TUNING, max_replicas=1))
    store = ModelStore(tmp_path / "store")

    result = train_target(hopeless, series, store=store, now=NOW)

    assert recommendation.read(store, "svc", result.saved.version).label is None
    assert result.tuning == (
        "tuned for short-minutes=2% (no earlier recommendation): no setting of the grid meets it"
    )


# -- a failed tuning with an earlier recommendation --------------------------------------------------------


def test_an_unexpected_tuning_failure_carries_the_last_recommendation_and_logs_the_traceback(
    tuned, series, tmp_path, monkeypatch, caplog
):
    store, first = _copy(tuned, tmp_path)
    before = _doc(store, first.saved.version)

    def broken(*args, **kwargs):
        raise RuntimeError("replay exploded")

    monkeypatch.setattr(recommendation, "tune_document", broken)
    with caplog.at_level(logging.WARNING, logger="forecaster.promotion"):
        # A day later the recommendation is due again, and the tuning fails.
        result = train_target(CFG, series, store=store, now=NOW + pd.Timedelta(hours=25))

    assert result.tuning == (
        "tuning failed (RuntimeError: replay exploded); "
        f"the recommendation of {first.saved.version} is carried forward"
    )
    carried = _doc(store, result.saved.version)
    assert carried["carriedFrom"] == first.saved.version
    assert carried["result"] == before["result"] and carried["tunedAt"] == before["tunedAt"]
    [record] = [r for r in caplog.records if r.name == "forecaster.promotion" and r.levelno >= logging.ERROR]
    assert record.getMessage() == "target svc: tuning failed"
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_an_explained_tuning_failure_is_reported_without_a_traceback(
    tuned, series, tmp_path, monkeypatch, caplog
):
    store, first = _copy(tuned, tmp_path)

    def refused(*args, **kwargs):
        raise DataError("tune: the history has 12 missing points", hint="tune on a range without long gaps")

    monkeypatch.setattr(recommendation, "tune_document", refused)
    with caplog.at_level(logging.DEBUG, logger="forecaster.promotion"):
        result = train_target(CFG, series, store=store, now=NOW + pd.Timedelta(hours=25))

    assert result.tuning == (
        "tuning failed (DataError: tune: the history has 12 missing points (tune on a range without long gaps)); "
        f"the recommendation of {first.saved.version} is carried forward"
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "bad data is no bug: no traceback"


# -- a candidate with no score ------------------------------------------------------------------------------


def test_a_candidate_whose_forecasts_are_nan_is_never_promoted(tmp_path, monkeypatch):
    real_fit = promotion.fit_forecaster

    def diverged(*args, **kwargs):
        model = real_fit(*args, **kwargs)
        model.blend, model.weighting, model.calibration = {"lstm": 1.0}, None, None
        with torch.no_grad():
            for net in getattr(model.network, "members", [model.network]):  # a seed ensemble: every member
                net.head[-1].bias.fill_(float("nan"))  # a network whose training diverged
        return model

    monkeypatch.setattr(promotion, "fit_forecaster", diverged)
    store = ModelStore(tmp_path)

    with pytest.raises(NonFiniteForecastError, match="the forecast is not a finite number \\(model 'svc'\\)"):
        train_target(PLAIN, _drifting(), store=store, now=PLAIN_NOW)

    assert store.current("svc") is None and store.versions("svc") == []


# -- the calendar of scheduled events -----------------------------------------------------------------------


def _calendar(series: pd.Series) -> Calendar:
    """A match every day at 20:00 UTC, in the training range and in the held-out one."""
    days = pd.date_range(series.index[0].normalize(), series.index[-1], freq="1D")
    return Calendar.of(
        [Event(start=(d + pd.Timedelta(hours=20)).tz_localize("UTC"), kind="match") for d in days]
    )


def _with_matches(series: pd.Series, calendar: Calendar) -> pd.Series:
    out = series.copy()
    for event in calendar.events:
        start = event.start.tz_localize(None)
        out[(out.index >= start) & (out.index < start + pd.Timedelta(hours=1))] *= 2.0
    return out


def test_the_calendar_reaches_the_model_the_candidate_and_the_current_model(tmp_path):
    series = _drifting()
    calendar = _calendar(series)
    series = _with_matches(series, calendar)
    store = ModelStore(tmp_path)

    first = train_target(PLAIN, series, store=store, now=PLAIN_NOW, events=calendar)

    saved = store.load("svc", first.saved.version)
    assert saved.events is not None, "the model was trained with the calendar's inputs"
    origins = first.backtest.origins
    bound = bind_calendar(saved, calendar)
    np.testing.assert_allclose(
        first.backtest.forecasts["candidate"], forecast_origins(bound, series, origins), rtol=1e-5
    )
    blind = forecast_origins(saved, series, origins)
    assert not np.allclose(blind, forecast_origins(bound, series, origins), rtol=1e-5), (
        "the held-out matches change the forecasts, so the check above can tell"
    )

    # The next run scores the promoted model as 'current', reading the same calendar.
    store.promote("svc", first.saved.version, reason="seeded", now=PLAIN_NOW)
    second = train_target(PLAIN, series, store=store, now=PLAIN_NOW + pd.Timedelta(days=1), events=calendar)
    assert second.previous_version == first.saved.version
    np.testing.assert_allclose(
        second.backtest.forecasts["current"], forecast_origins(bound, series, origins), rtol=1e-5
    )


# -- progress -------------------------------------------------------------------------------------------------


def test_progress_is_shown_only_when_asked(tmp_path, capsys):
    series = daily_sine(days=2)
    train_target(PLAIN, series, store=ModelStore(tmp_path / "quiet"), now=PLAIN_NOW)
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""

    train_target(PLAIN, series, store=ModelStore(tmp_path / "loud"), now=PLAIN_NOW, progress=True)
    assert "epoch" in capsys.readouterr().err


def test_the_tuning_replays_the_model_reading_the_calendar(tmp_path, monkeypatch):
    series = _drifting()
    calendar = _calendar(series)
    series = _with_matches(series, calendar)
    cfg = dataclasses.replace(CFG, train=dataclasses.replace(PLAIN.train, backtest="8h"))
    store = ModelStore(tmp_path)

    result = train_target(cfg, series, store=store, now=NOW, events=calendar)

    saved = store.load("svc", result.saved.version)
    start = series.index[len(series) - 96]  # the 8 held-out hours, with one match

    def tuned_with(model) -> dict:
        return recommendation.tune_document(model, series, settings=TUNING, tune_start=start, now=NOW)[
            "result"
        ]

    stored = _doc(store, result.saved.version)["result"]
    assert stored == tuned_with(bind_calendar(saved, calendar))
    assert stored != tuned_with(saved), "without the calendar the replay differs, so the check above can tell"


def test_a_holdout_of_half_an_odd_length_history_falls_back_to_the_last_fifth(tmp_path):
    series = _drifting()[: 2 * 288 + 1]  # a one-day holdout is exactly len // 2 points of it
    result = train_target(PLAIN, series, store=ModelStore(tmp_path), now=PLAIN_NOW)
    held = series.index[len(series) - len(series) // 5 :]
    assert (result.metrics["backtest"]["start"], result.metrics["backtest"]["end"]) == (
        str(held[0]),
        str(held[-1]),
    )
