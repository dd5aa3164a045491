"""Models committed in models/ keep loading and forecasting: a format change must not strand stored models."""

from pathlib import Path

import numpy as np
import pytest

from forecaster.sources.synthetic import live_streaming
from forecaster.store import ModelStore

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.mark.parametrize("target", ["live-streaming-demo"])
def test_committed_model_loads_and_forecasts(target):
    store = ModelStore(MODELS)
    ref = store.current(target)
    assert ref is not None, f"models/{target}/current.json is missing"
    model = store.load_current(target)
    assert model.step.total_seconds() == 60 and model.horizon_steps == 30
    history = live_streaming(days=3, seed=7)  # unseen seed, same kind of traffic
    forecast = model.predict(history)
    assert list(forecast.columns) == ["p50", "p90"]
    assert (forecast["p90"] >= forecast["p50"]).all()
    # A sane forecast of this traffic: within a factor of two of the last hour's level.
    level = history.iloc[-60:].mean()
    assert np.all((forecast["p50"] > level / 2) & (forecast["p50"] < level * 2))
    assert ref.metrics["backtest"]["models"]["candidate"]["wape"] < 0.2
