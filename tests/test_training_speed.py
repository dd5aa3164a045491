"""What makes training cheaper must not change what it computes: time inputs gathered per position equal the
per-window computation, early stopping stops where its patience says (or
earlier when the loss has clearly turned up), Holt-Winters
fitted as a blend member has the same weights without its unused bands, a fit records where its time went, and
training reuses the memory it frees instead of page-faulting fresh memory every step."""

from __future__ import annotations

import platform
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.events import Calendar, Event
from forecaster.predictors import HoltWinters
from forecaster.training import fit_early_stopping, fit_forecaster
from forecaster.windows import EventFeatures, Scaler, WindowSpec, _calendar_at, event_features, make_windows
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

STEP = pd.Timedelta(minutes=5)


def _per_window(values, index, *, spec, origins, calendar, event_spec):
    """The time inputs of each window computed on its own timestamps (what make_windows did before)."""
    t0 = int(index[0].value)
    past_ns = t0 + (origins[:, None] + np.arange(-spec.lookback, 0)[None, :]) * STEP.value  # [N, L]
    future_ns = t0 + (origins[:, None] + np.arange(spec.horizon)[None, :]) * STEP.value  # [N, H]
    out = []
    for ns in (past_ns, future_ns):
        cal = _calendar_at(ns)
        if event_spec is not None:
            ev = event_features(pd.to_datetime(ns.ravel(), unit="ns"), calendar, event_spec)
            cal = np.concatenate([cal, ev.reshape(*ns.shape, -1)], axis=2)
        out.append(cal)
    return out


@pytest.mark.parametrize(
    ("description", "origins"),
    [
        ("overlapping windows: gathered from one table", np.arange(300, 700)),
        ("a few windows far apart: computed per window", np.array([300, 1500, 2800])),
        ("an origin at the end of the series (prediction time)", np.array([2880])),
    ],
)
@pytest.mark.parametrize("with_events", [False, True])
def test_time_inputs_equal_the_per_window_computation(description, origins, with_events):
    values = daily_sine(days=10, step="5min").to_numpy()
    index = pd.date_range("2026-03-02", periods=len(values), freq=STEP, unit="ns")
    spec = WindowSpec(lookback=24, horizon=6, season=288)
    scaler = Scaler.fit(values, lookback=24)
    calendar, event_spec = None, None
    if with_events:
        calendar = Calendar.of(
            [Event(start=index[k].tz_localize("UTC"), kind="match") for k in (400, 1510, 2870)]
        )
        event_spec = EventFeatures(kinds=("match",), size_scale=(0.0,), events_seen=(3,))
    w = make_windows(
        values,
        index,
        spec=spec,
        scaler=scaler,
        origins=origins,
        with_target=False,
        step=STEP,
        events=calendar,
        event_spec=event_spec,
    )
    past, future = _per_window(
        values, index, spec=spec, origins=origins, calendar=calendar, event_spec=event_spec
    )
    assert np.array_equal(w.past[..., 2:], past), description
    assert np.array_equal(w.future[..., 1:], future), description


class _Constant(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))

    def forward(self, past, future, level):  # noqa: ANN001, ANN201
        return self.bias.expand(len(past), 2, 1)


@pytest.mark.parametrize(
    ("description", "losses", "patience", "epochs_run", "best"),
    [
        ("stops after `patience` epochs without improvement", [1.0, 0.9, 0.95, 0.96, 0.97, 0.5], 3, 4, 0.9),
        ("an improvement resets the count", [1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.87], 3, 6, 0.8),
        (
            "patience 5 waits out three epochs on a noisy plateau",
            [1.0, 0.9, 0.905, 0.91, 0.906, 0.5, 0.6],
            5,
            6,
            0.5,
        ),
        ("three epochs clearly above the best stop early", [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6], 5, 4, 0.9),
        ("one epoch within the margin keeps it going", [1.0, 0.9, 0.95, 0.91, 0.97, 0.96, 0.5], 5, 6, 0.5),
        ("1.44% above the best is within the margin", [1.0, 0.9, 0.914, 0.915, 0.913, 0.5], 5, 5, 0.5),
        ("1.52% above the best is past it", [1.0, 0.9, 0.914, 0.915, 0.91366, 0.5], 5, 4, 0.9),
    ],
)
def test_early_stopping_patience(description, losses, patience, epochs_run, best):
    network = _Constant()
    scripted = iter(losses)
    batch = (torch.zeros(4, 3, 1), torch.zeros(4, 2, 1), torch.zeros(4, 1), torch.zeros(4, 2))
    run = fit_early_stopping(
        network,
        optimiser=torch.optim.SGD(network.parameters(), lr=0.0),
        quantiles=torch.tensor([0.5]),
        peak_weight=0.0,
        epochs=len(losses) - 1,
        patience=patience,
        epoch_batches=lambda: [batch],
        validation_loss=lambda: next(scripted),
        bar=type(
            "Bar",
            (),
            {"update": lambda *a: None, "set_postfix": lambda *a, **k: None, "close": lambda *a: None},
        )(),
    )
    assert (run.epochs_run, run.best_loss) == (epochs_run, best), description
    assert list(run.curve) == losses[: epochs_run + 1], description


def test_holt_winters_without_bands_has_the_same_weights_and_profile():
    series = daily_sine(days=5, step="5min", noise=0.05)
    with_bands = HoltWinters(step=STEP, horizon_steps=6, fit_seasons=2).fit(series)
    without = HoltWinters(step=STEP, horizon_steps=6, fit_seasons=2).fit(series, bands=False)
    assert with_bands.to_state() == without.to_state()
    assert with_bands.bands.table is not None and without.bands.table is None


def test_a_fit_records_its_phases_and_validation_curve():
    model = fit_forecaster(daily_sine(days=4, noise=0.05), model=TINY_MODEL, train=TINY_TRAIN, name="t")
    training = model.info["training"]
    phases = training["phases"]
    assert {"prepare", "epochs", "validation", "windows", "holt_winters", "blend", "calibration"} <= set(
        phases
    )
    assert all(v["cpu_s"] >= 0 and v["wall_s"] >= 0 for v in phases.values())
    assert sum(v["wall_s"] for v in phases.values()) <= training["seconds"] + 0.05
    curve = training["validation_curve"]
    assert len(curve) == training["epochs_run"] + 1
    assert min(curve) == pytest.approx(training["best_validation_pinball"], abs=1e-5)


_PAGE_FAULTS_OF_A_100MB_BLOCK = """
import resource, sys, torch
from forecaster import training
if sys.argv[1] == "keep":
    assert training.keep_freed_memory() is True
    assert training.keep_freed_memory() is True  # once per process; asking again changes nothing
block = 100 * 2**20 // 4  # float32 elements in 100 MB
for _ in range(4):  # the heap grows to two blocks, the second a round late when a small allocation took its top
    torch.empty(block).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    torch.empty(block).fill_(1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the heap thresholds are glibc's")
def test_training_keeps_freed_blocks_instead_of_page_faulting_them_again():
    # A training step frees ~100 MB of LSTM workspace and allocates it again at the next step: with glibc's
    # defaults each such block is fresh mmap pages (25,600 page faults per 100 MB), with the raised
    # thresholds the heap keeps it. Each case runs in a fresh interpreter, as a training job does: in this
    # test process the heap already holds whatever 2,900 other tests left at its top, and a top above the
    # trim threshold is handed back to the kernel on the next free whatever the thresholds are.
    def faults(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _PAGE_FAULTS_OF_A_100MB_BLOCK, mode],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1])

    assert faults("defaults") > 3 * 20_000  # the measurement sees the faults it is meant to remove
    assert faults("keep") < 2_000
