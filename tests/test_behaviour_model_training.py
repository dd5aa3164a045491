"""The pure parts of training (:mod:`forecaster.training`) as a model's quality depends on them: the pinball
loss and its peak term by hand, early stopping on a scripted validation curve (which weights are kept, when it
stops, a tie, a noisy plateau, a loss that has turned up), the window shape read from the settings, the
split between training and validation windows, and the settings it refuses.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.errors import ConfigError, DataError
from forecaster.settings import ModelSettings
from forecaster.training import (
    fit_early_stopping,
    fit_forecaster,
    level_weights,
    peak_pinball_loss,
    pinball_loss,
    training_loss,
    window_spec_for,
)
from forecaster.windows import WindowSpec, valid_origins
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# -- the loss ---------------------------------------------------------------------------------------------


def test_the_pinball_loss_charges_a_miss_below_the_quantile_q_and_one_above_it_1_minus_q():
    q = torch.tensor([0.5, 0.9])
    target = torch.tensor([[10.0]])  # [B=1, H=1]
    below = torch.tensor([[[8.0, 8.0]]])  # both quantiles 2 under the truth
    above = torch.tensor([[[12.0, 12.0]]])  # both 2 over it
    # Mean over the quantiles: (0.5 * 2 + 0.9 * 2) / 2 under; (0.5 * 2 + 0.1 * 2) / 2 over.
    assert float(pinball_loss(below, target, q)) == pytest.approx(1.4)
    assert float(pinball_loss(above, target, q)) == pytest.approx(0.6)
    assert float(pinball_loss(torch.tensor([[[10.0, 10.0]]]), target, q)) == 0.0


def test_the_peak_term_compares_the_upper_quantiles_highest_step_with_the_true_peak():
    # Two steps: the truth peaks at 10 in step 0; the p90 peaks at 7 in step 1 (its p50 column is ignored).
    target = torch.tensor([[10.0, 4.0]])
    pred = torch.tensor([[[1.0, 5.0], [1.0, 7.0]]])  # [B, H, Q]
    assert float(peak_pinball_loss(pred, target, 0.9)) == pytest.approx(0.9 * 3.0)
    over = torch.tensor([[[1.0, 11.0], [50.0, 12.0]]])  # p90 peak 12 over the true 10 (p50's 50 ignored)
    assert float(peak_pinball_loss(over, target, 0.9)) == pytest.approx(0.1 * 2.0)


def test_the_training_loss_adds_the_peak_term_of_the_highest_quantile_at_its_weight():
    q = torch.tensor([0.5, 0.9])
    target = torch.tensor([[4.0, 10.0]])
    pred = torch.tensor([[[3.0, 7.0], [6.0, 8.0]]])
    plain = float(pinball_loss(pred, target, q))
    peak = float(peak_pinball_loss(pred, target, 0.9))
    assert peak > 0
    assert float(training_loss(pred, target, q, peak_weight=0.0)) == pytest.approx(plain)
    assert float(training_loss(pred, target, q, peak_weight=0.5)) == pytest.approx(plain + 0.5 * peak)
    # One quantile: no peak term (it would be the quantile's own loss again).
    one = pred[..., :1]
    assert float(training_loss(one, target, q[:1], peak_weight=0.5)) == pytest.approx(
        float(pinball_loss(one, target, q[:1]))
    )


def test_window_weights_share_the_loss_by_window():
    q = torch.tensor([0.5, 0.9])
    target = torch.tensor([[10.0], [10.0]])
    pred = torch.tensor([[[8.0, 8.0]], [[12.0, 12.0]]])  # window 0 costs 1.4, window 1 costs 0.6 (above)
    assert float(pinball_loss(pred, target, q)) == pytest.approx(1.0)
    assert float(pinball_loss(pred, target, q, torch.tensor([1.5, 0.5]))) == pytest.approx(
        (1.5 * 1.4 + 0.5 * 0.6) / 2
    )
    # The peak term by window too: window 0's p90 peak is 2 under (0.9 * 2), window 1's 2 over (0.1 * 2).
    assert float(peak_pinball_loss(pred, target, 0.9, torch.tensor([0.0, 2.0]))) == pytest.approx(0.2)
    both = training_loss(pred, target, q, peak_weight=0.5, weights=torch.tensor([0.0, 2.0]))
    assert float(both) == pytest.approx(0.6 + 0.5 * 0.2)
    # The median's share alone: p50 costs 1 (window 0) and 1 (window 1), p90 1.8 and 0.2, peak 1.8 and 0.2.
    median = training_loss(
        pred, target, q, peak_weight=0.5, weights=torch.tensor([0.0, 2.0]), median_only=True
    )
    assert float(median) == pytest.approx((0 * 1 + 2 * 1 + 1.8 + 0.2) / 4 + 0.5 * (1.8 + 0.2) / 2)


def test_level_weights_are_the_scale_to_the_power_relative_to_the_batch():
    # Normalised log levels 0 and 1 with a log-level spread of ln 2: scales in the ratio 1 : 2.
    level = torch.tensor([[0.0], [1.0], [1.0]])
    assert level_weights(level, power=0.0, log_level_std=float(np.log(2))) is None
    w = level_weights(level, power=1.0, log_level_std=float(np.log(2)))
    assert w.tolist() == pytest.approx([0.6, 1.2, 1.2])  # 1 : 2 : 2, mean 1
    half = level_weights(level, power=0.5, log_level_std=float(np.log(2)))
    assert half.tolist() == pytest.approx(np.array([1, 2**0.5, 2**0.5]) / ((1 + 2 * 2**0.5) / 3))
    far = level_weights(torch.tensor([[-4.0], [4.0]]), power=1.0, log_level_std=60.0)  # e^480: no overflow
    assert torch.isfinite(far).all() and far.tolist() == pytest.approx([0.0, 2.0])


# -- early stopping on a scripted validation curve --------------------------------------------------------


class _Toy(torch.nn.Module):
    """One weight, forecast at every step and quantile; trained towards a target of 1."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, past, future, level):  # noqa: ANN001, ANN201
        return self.w.expand(past.shape[0], 2, 1)


class _Bar:
    def __init__(self) -> None:
        self.updates = 0

    def update(self, n: int) -> None:
        self.updates += n

    def set_postfix(self, **kwargs: str) -> None: ...

    def close(self) -> None: ...


def _stop(curve: list[float], *, epochs: int, patience: int):
    """Run early stopping on ``_Toy`` with the validation losses ``curve`` (the first one: before training;
    the last one repeats); returns the run, the weight at each validation and the weight kept."""
    net = _Toy()
    seen: list[float] = []

    def validation_loss() -> float:
        seen.append(float(net.w.detach()))
        return curve[min(len(seen) - 1, len(curve) - 1)]

    def batches():
        x = torch.zeros(4, 3, 1)
        yield x, x, torch.ones(4, 1), torch.ones(4, 2)

    run = fit_early_stopping(
        net,
        optimiser=torch.optim.SGD(net.parameters(), lr=0.1),
        quantiles=torch.tensor([0.5]),
        peak_weight=0.0,
        epochs=epochs,
        patience=patience,
        epoch_batches=batches,
        validation_loss=validation_loss,
        bar=_Bar(),
    )
    assert len(set(seen)) == len(seen)  # every epoch moved the weight: the kept one says which epoch it was
    return run, seen, float(net.w.detach())


def test_the_weights_of_the_best_epoch_are_kept_not_the_last_ones():
    run, seen, kept = _stop([1.0, 0.8, 0.6, 0.7, 0.9], epochs=4, patience=5)
    assert run.epochs_run == 4
    assert kept == seen[2]
    assert run.best_loss == 0.6 and run.initial_loss == 1.0
    assert run.curve == (1.0, 0.8, 0.6, 0.7, 0.9)


def test_a_network_that_never_beats_its_start_is_kept_as_it_was():
    run, seen, kept = _stop([1.0, 1.1, 1.2, 1.3], epochs=10, patience=2)
    assert run.epochs_run == 2
    assert kept == seen[0] == 0.0
    assert run.best_loss == 1.0


def test_a_tie_with_the_best_is_no_improvement():
    """An epoch that only equals the best loss counts towards patience and does not replace the weights."""
    run, seen, kept = _stop([1.0, 0.6, 0.6], epochs=10, patience=2)
    assert run.epochs_run == 3
    assert kept == seen[1]


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_training_stops_after_patience_epochs_without_improvement(patience):
    # A noisy plateau just above the best (within the turned-up margin): only patience stops it.
    run, _, _ = _stop([1.0, 0.9, 0.905], epochs=20, patience=patience)
    assert run.epochs_run == 1 + patience


def test_a_loss_that_has_clearly_turned_up_for_three_epochs_stops_before_patience():
    run, seen, kept = _stop([1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6], epochs=20, patience=10)
    assert run.epochs_run == 4  # three epochs all more than 1.5% above the best
    assert kept == seen[1]


def test_two_epochs_above_the_best_are_not_yet_a_turn():
    run, seen, kept = _stop([1.0, 0.5, 0.6, 0.6, 0.4], epochs=4, patience=10)
    assert run.epochs_run == 4
    assert kept == seen[4]


@pytest.mark.parametrize(
    "curve",
    [
        [1.0, 0.5, 0.507, 0.507, 0.507, 0.507],  # within 1.5% of the best: a plateau, not a turn
        [1.0, 0.5, 0.6, 0.505, 0.6, 0.6],  # one of the stale epochs came back near the best
    ],
)
def test_a_noisy_plateau_near_the_best_is_not_a_turn(curve):
    run, _, _ = _stop(curve, epochs=5, patience=10)
    assert run.epochs_run == 5


# -- the window shape and the split -------------------------------------------------------------------------


def _series(span: pd.Timedelta, step: str = "5min") -> pd.Series:
    index = pd.date_range("2026-03-02", periods=int(span / pd.Timedelta(step)) + 1, freq=step)
    return pd.Series(1.0, index=index)


@pytest.mark.parametrize(
    ("span", "season"),
    [(pd.Timedelta(days=3), 288), (pd.Timedelta(days=3) - pd.Timedelta("5min"), 0)],
)
def test_daily_lags_need_three_days_of_history(span, season):
    spec = window_spec_for(_series(span), step=pd.Timedelta("5min"), model=TINY_MODEL)
    assert (spec.lookback, spec.horizon, spec.season) == (12, 6, season)


@pytest.mark.parametrize(
    ("span", "week"),
    [(pd.Timedelta(days=14, minutes=30), 2016), (pd.Timedelta(days=14, minutes=25), 0)],
)
def test_weekly_lags_need_two_weeks_and_the_horizon_of_history(span, week):
    weekly = dataclasses.replace(TINY_MODEL, weekly_lags=True)
    spec = window_spec_for(_series(span), step=pd.Timedelta("5min"), model=weekly)
    assert (spec.season, spec.week) == (288, week)
    assert window_spec_for(_series(span), step=pd.Timedelta("5min"), model=TINY_MODEL).week == 0  # opt-in


def test_the_window_is_the_lookback_and_horizon_in_steps_at_least_one_each():
    model = dataclasses.replace(TINY_MODEL, lookback="2h", horizon="1m")
    spec = window_spec_for(_series(pd.Timedelta(days=1)), step=pd.Timedelta("5min"), model=model)
    assert (spec.lookback, spec.horizon, spec.season) == (24, 1, 0)
    one = window_spec_for(_series(pd.Timedelta(days=4), "1min"), step=pd.Timedelta("1min"), model=TINY_MODEL)
    assert (one.lookback, one.horizon, one.season) == (60, 30, 1440)


def test_no_training_window_reads_the_validation_range():
    """Early stopping is only honest when every training target lies before the validation range and the
    validation windows are all after its start (time order, no leak)."""
    series = daily_sine(days=2)
    train = dataclasses.replace(TINY_TRAIN, epochs=1, blend=False, pretrained="off")
    model = fit_forecaster(series, model=TINY_MODEL, train=train, name="split")
    values = series.to_numpy()
    split = int(len(values) * (1 - train.validation_fraction))
    origins = valid_origins(values, WindowSpec(lookback=12, horizon=6, season=0), with_target=True)
    info = model.info["training"]
    assert info["train_windows"] == int(np.sum(origins + 6 <= split))
    assert info["validation_windows"] == int(np.sum(origins >= split))
    assert info["train_windows"] + info["validation_windows"] < len(origins)  # the windows across the split


@pytest.mark.parametrize("members", [0, 9, 2.0, True])
def test_an_ensemble_outside_one_to_eight_whole_networks_is_refused(members):
    train = dataclasses.replace(TINY_TRAIN, ensemble_members=members)
    with pytest.raises(ConfigError, match="ensemble_members"):
        fit_forecaster(daily_sine(days=2), model=TINY_MODEL, train=train, name="ens")


def test_a_history_too_short_is_refused_saying_how_much_to_give():
    train = dataclasses.replace(TINY_TRAIN, pretrained="off")
    with pytest.raises(DataError, match="too short"):
        fit_forecaster(daily_sine(days=0.1), model=TINY_MODEL, train=train, name="short")
    with pytest.raises(DataError, match="too short"):
        fit_forecaster(daily_sine(days=2).iloc[:2], model=TINY_MODEL, train=train, name="short")


def test_quantiles_are_trained_in_increasing_order_whatever_the_config_says():
    train = dataclasses.replace(TINY_TRAIN, epochs=1, blend=False, pretrained="off")
    model = fit_forecaster(
        daily_sine(days=2),
        model=ModelSettings(lookback="1h", horizon="30m", quantiles=(0.9, 0.5), hidden_size=8),
        train=train,
        name="order",
    )
    assert tuple(model.quantiles) == (0.5, 0.9)
    frame = model.predict(daily_sine(days=2))
    assert (frame["p90"] >= frame["p50"]).all()


def test_an_improvement_after_a_stale_epoch_starts_patience_again():
    run, seen, kept = _stop([1.0, 0.9, 0.95, 0.8, 0.85, 0.85, 0.85], epochs=20, patience=2)
    assert run.epochs_run == 5  # stale at 2, improved at 3, stale at 4 and 5
    assert kept == seen[3]


def test_the_manifest_records_the_epochs_early_stopping_ran():
    train = dataclasses.replace(
        TINY_TRAIN, epochs=40, patience=1, max_windows_per_epoch=64, blend=False, pretrained="off"
    )
    info = fit_forecaster(daily_sine(days=2, noise=0.05), model=TINY_MODEL, train=train, name="stop").info
    ran = info["training"]["epochs_run"]
    assert 1 <= ran < 40
    assert len(info["training"]["validation_curve"]) == ran + 1
    assert info["training"]["ensemble_members"] == [
        {"epochs_run": ran, "best_validation_pinball": info["training"]["best_validation_pinball"]}
    ]
