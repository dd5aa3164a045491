"""Model-store behaviours that campaign 2 of the planted bugs showed no test held (bench/results/planted2.md).

Through :class:`forecaster.store.ModelStore`'s public methods on a directory store, with a tiny trained model.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from forecaster.errors import ModelStoreError
from forecaster.store import ModelStore
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

NOW = pd.Timestamp("2026-03-10 00:00")


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return fit_forecaster(daily_sine(days=6, noise=0.03), model=TINY_MODEL, train=TINY_TRAIN, name="tiny")


@pytest.mark.parametrize(
    ("description", "factor"),
    [
        ("the target's config asks for a finer step than the model forecasts in", 0.2),
        ("the target's config asks for a coarser step than the model forecasts in", 5.0),
    ],
)
def test_a_model_on_another_grid_than_the_config_is_refused_either_way(tmp_path, model, description, factor):
    """A forecast on the wrong grid is wrong numbers at the wrong times, whichever way the step differs."""
    store = ModelStore(tmp_path)
    ref = store.save("svc", model, now=NOW)
    store.promote("svc", ref.version, reason="t", now=NOW)
    other_step = pd.Timedelta(model.step) * factor
    with pytest.raises(ModelStoreError, match="retrain") as info:
        store.load_for("svc", step=other_step)
    assert f"the target's step is {other_step}" in str(info.value), description
    assert store.load_for("svc", step=model.step) is not None  # the right step still loads
