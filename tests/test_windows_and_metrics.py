"""Windows (no leakage, no window across a gap), scalers and metrics, table-driven."""

import math

import numpy as np
import pandas as pd
import pytest

from forecaster.evaluation import score, wape
from forecaster.windows import Scaler, WindowSpec, make_windows, valid_origins


def _series(n=600, step="5min"):
    index = pd.date_range("2026-01-01", periods=n, freq=step, unit="ns")
    return np.linspace(10, 20, n), index


@pytest.mark.parametrize(
    ("spec", "gap", "expect_first", "excluded"),
    [
        (WindowSpec(lookback=12, horizon=6, season=0), None, 12, []),
        (WindowSpec(lookback=12, horizon=6, season=288), None, 300, []),
        # a gap at 400: no window may read it as lookback, as target or as a daily lag
        (WindowSpec(lookback=12, horizon=6, season=0), 400, 12, list(range(395, 413))),
        (WindowSpec(lookback=12, horizon=6, season=288), 400, 300, list(range(395, 413))),
    ],
)
def test_valid_origins(spec, gap, expect_first, excluded):
    values, _ = _series()
    if gap is not None:
        values = values.copy()
        values[gap] = np.nan
    origins = valid_origins(values, spec, with_target=True)
    assert origins[0] == expect_first
    assert origins[-1] == len(values) - spec.horizon
    assert not set(excluded) & set(origins.tolist())
    for t in origins:
        assert np.isfinite(values[t - spec.lookback : t + spec.horizon]).all()
        if spec.season:
            assert np.isfinite(values[t - spec.lookback - spec.season : t + spec.horizon - spec.season]).all()


def test_daily_lag_window_skips_gap_a_day_back():
    values, _ = _series(n=700)
    values[100] = np.nan
    spec = WindowSpec(lookback=12, horizon=6, season=288)
    origins = set(valid_origins(values, spec, with_target=True).tolist())
    # origin t reads lags y[t-12-288 : t+6-288]; 100 is in it for t in [383, 400]
    assert not origins & set(range(383, 401))
    assert 382 in origins and 401 in origins


def test_make_windows_has_no_future_leakage():
    values, index = _series()
    spec = WindowSpec(lookback=12, horizon=6, season=288)
    scaler = Scaler.fit(values, lookback=12)
    origins = np.array([350, 450])
    a = make_windows(
        values, index, spec=spec, scaler=scaler, origins=origins, with_target=False, step=index.freq
    )
    changed = values.copy()
    changed[350:] = 1e6  # everything from the first origin on
    b = make_windows(
        changed, index, spec=spec, scaler=scaler, origins=origins[:1], with_target=False, step=index.freq
    )
    np.testing.assert_array_equal(a.past[:1], b.past)
    np.testing.assert_array_equal(a.future[:1], b.future)
    assert a.past.shape == (2, 12, 6) and a.future.shape == (2, 6, 5) and a.level.shape == (2, 1)


def test_per_window_scale_makes_inputs_level_free():
    values, index = _series()
    spec = WindowSpec(lookback=12, horizon=6, season=0)
    scaler = Scaler.fit(values, lookback=12)
    w1 = make_windows(
        values, index, spec=spec, scaler=scaler, origins=np.array([100]), with_target=True, step=index.freq
    )
    w2 = make_windows(
        values * 1000,
        index,
        spec=spec,
        scaler=scaler,
        origins=np.array([100]),
        with_target=True,
        step=index.freq,
    )
    np.testing.assert_allclose(w1.past[..., 0], w2.past[..., 0], rtol=1e-5)
    np.testing.assert_allclose(w1.target, w2.target, rtol=1e-5)
    assert w2.level[0, 0] > w1.level[0, 0]  # but the level input still tells them apart


def test_scaler_floor_protects_idle_series():
    scaler = Scaler.fit(np.zeros(100) + 1e-12, lookback=10)
    assert scaler.floor > 0 and scaler.nonnegative


@pytest.mark.parametrize(
    ("actual", "forecast", "expected"),
    [([10, 10], [10, 10], 0.0), ([10, 10], [5, 15], 0.5), ([0, 0], [1, 1], math.nan), ([4, 6], [6, 4], 0.4)],
)
def test_wape(actual, forecast, expected):
    got = wape(np.array(actual, float), np.array(forecast, float))
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_score_coverage_and_peak_miss():
    actual = np.array([[10.0, 10.0, 10.0], [10.0, 30.0, 10.0]])  # the second window has a spike
    fc = np.zeros((2, 3, 2))
    fc[..., 0] = 10.0  # p50
    fc[..., 1] = 12.0  # p90
    s = score(actual, fc, quantiles=(0.5, 0.9), mase_denominator=5.0)
    assert s.wape == pytest.approx(20 / 80)
    assert s.coverage == pytest.approx(5 / 6)
    assert s.peak_miss == pytest.approx(0.5)  # 30 > 1.1 * 12 in one window of two
    assert s.peak_miss_p50 == pytest.approx(0.5)
    assert s.mase == pytest.approx((20 / 6) / 5.0)
    assert s.origins == 2
