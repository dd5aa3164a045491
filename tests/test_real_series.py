"""Integration with the real traffic series in ../shared/data/traffic (skipped where the folder is absent)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.evaluation import backtest, rolling_origins
from forecaster.predictors import baselines_for
from forecaster.sources.files import read_series
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "traffic"
FILES = sorted(DATA.glob("*.csv")) if DATA.is_dir() else []
pytestmark = pytest.mark.skipif(not FILES, reason=f"no real series in {DATA}")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_real_series_loads_on_a_regular_grid(path):
    series = read_series(path, duplicates="mean")
    assert series.index.freq in (pd.Timedelta("1min"), pd.Timedelta("5min"))
    assert series.notna().mean() > 0.99  # only the DST-clamped hour of ec2_network_in is masked
    assert (series.dropna() >= 0).all()


def test_duplicated_dst_hour_is_reported_unless_merged():
    from forecaster.errors import DataError

    path = DATA / "ec2_network_in_5abac7.csv"
    with pytest.raises(DataError, match="duplicated timestamp 2014-03-09 03:00:00"):
        read_series(path)


def test_tiny_lstm_on_a_real_database_series_backtests_against_the_baselines():
    torch.set_num_threads(1)
    series = read_series(DATA / "rds_cpu_utilization_cc0c53.csv")
    split = int(len(series) * 0.8)
    model = fit_forecaster(series.iloc[:split], model=TINY_MODEL, train=TINY_TRAIN, name="lstm")
    baselines = baselines_for(series.iloc[:split], step=model.step, horizon_steps=model.horizon_steps)
    origins = rolling_origins(series, start=split, every=pd.Timedelta("2h"), horizon_steps=6, need=2 * 288)
    result = backtest([model, *baselines], series, origins=origins)
    scores = result.scores
    assert np.isfinite([s.wape for s in scores.values()]).all()
    # A busy database's CPU: even a tiny model is within 10% WAPE, and not worse than the daily naive.
    assert scores["lstm"].wape < 0.10
    assert scores["lstm"].wape < scores["seasonal_naive_daily"].wape
