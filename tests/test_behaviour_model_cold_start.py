"""Cold start (:func:`forecaster.pretrain.cold_start_plan`): which histories fine-tune a pretrained network and
which train from scratch, read from the reason a plan records in the manifest. A pretrained directory that
does not exist keeps these tests free of any network: the reason then names the variant that was looked for.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.pretrain import cold_start_plan
from forecaster.settings import TrainSettings
from tests.helpers import TINY_MODEL

STEP = pd.Timedelta("5min")


def _points(span: pd.Timedelta) -> pd.Series:
    """A history of ``span`` worth of 5-minute points (its last point covers the step after it)."""
    index = pd.date_range("2026-03-02", periods=int(span / STEP), freq=STEP)
    return pd.Series(1.0, index=index)


def _plan(series, tmp_path, **settings):
    # These tests are about the span: a full history trains from scratch under ``init: scratch`` (the
    # default ``init: pretrained`` fine-tunes it instead; tests/test_coldstart.py covers that).
    settings.setdefault("init", "scratch")
    train = dataclasses.replace(TrainSettings(), pretrained=str(tmp_path / "none"), **settings)
    return cold_start_plan(series, step=STEP, model=TINY_MODEL, train=train)


@pytest.mark.parametrize(
    ("span", "scratch"),
    [
        (pd.Timedelta(days=7), True),  # 2016 points of 5 minutes: seven whole days
        (pd.Timedelta(days=7) - STEP, False),
    ],
)
def test_a_history_of_the_cold_start_span_or_more_trains_from_scratch(tmp_path, span, scratch):
    plan = _plan(_points(span), tmp_path)
    assert plan.pretrained is None
    assert plan.span == span
    assert ("of history is at least 7d: trained from scratch" in plan.reason) is scratch
    assert ("no pretrained network 5m-daily" in plan.reason) is not scratch


@pytest.mark.parametrize(
    ("span", "variant"),
    [
        (pd.Timedelta(days=2), "5m-daily (daily variant"),
        (pd.Timedelta(days=2) - STEP, "5m-flat (flat variant"),
    ],
)
def test_two_days_of_points_read_yesterday_and_less_does_not(tmp_path, span, variant):
    assert f"no pretrained network {variant} for a 5m step)" in _plan(_points(span), tmp_path).reason


def test_the_span_setting_moves_the_limit(tmp_path):
    series = _points(pd.Timedelta(days=3))
    assert "at least 3d" in _plan(series, tmp_path, cold_start_span="3d").reason
    assert "no pretrained network" in _plan(series, tmp_path, cold_start_span="3d5m").reason
    with pytest.raises(ConfigError, match="cold_start_span"):
        _plan(series, tmp_path, cold_start_span="a week")


def test_a_model_that_reads_a_calendar_always_trains_from_scratch(tmp_path):
    train = dataclasses.replace(TrainSettings(), pretrained=str(tmp_path / "none"))
    plan = cold_start_plan(
        _points(pd.Timedelta(days=1)), step=STEP, model=TINY_MODEL, train=train, with_events=True
    )
    assert plan.pretrained is None and "read no calendar" in plan.reason


def test_auto_looks_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECASTER_PRETRAINED", str(tmp_path / "elsewhere"))
    train = dataclasses.replace(TrainSettings(), pretrained="auto")
    plan = cold_start_plan(_points(pd.Timedelta(days=1)), step=STEP, model=TINY_MODEL, train=train)
    assert plan.pretrained is None and str(tmp_path / "elsewhere") in plan.reason
    off = dataclasses.replace(train, pretrained="off")
    assert (
        "turned off"
        in cold_start_plan(_points(pd.Timedelta(days=1)), step=STEP, model=TINY_MODEL, train=off).reason
    )


@pytest.mark.parametrize(
    ("quantiles", "horizon", "answered_by"),
    [
        (
            (0.5, 0.9),
            "30m",
            "fallback:pretrained:5m-flat",
        ),  # the shipped flat network's quantiles and horizon
        ((0.5, 0.95), "30m", "fallback:recent-mean"),  # another quantile: the flat network cannot answer it
        ((0.5, 0.9), "1h", "fallback:recent-mean"),  # another horizon
    ],
)
def test_a_short_history_falls_back_to_the_pretrained_network_only_when_it_forecasts_the_same(
    quantiles, horizon, answered_by
):
    import torch

    from forecaster.training import fit_forecaster
    from tests.helpers import TINY_TRAIN, daily_sine

    torch.set_num_threads(1)
    settings = dataclasses.replace(TINY_MODEL, quantiles=quantiles, horizon=horizon)
    train = dataclasses.replace(TINY_TRAIN, epochs=1, max_windows_per_epoch=64, blend=False)
    series = daily_sine(days=3.2, noise=0.02)
    model = fit_forecaster(series, model=settings, train=train, name="cold")
    assert model.min_history_steps > 24  # a day and its lookback: more than the flat network's two hours
    short = series.iloc[-30:]
    frame = model.predict(short)
    assert frame.attrs["answered_by"] == answered_by
    assert list(frame.columns) == [f"p{round(q * 100)}" for q in quantiles]
