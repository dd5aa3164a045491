"""The accuracy guard's exact edge (:func:`forecaster.prescaler.guard.judge`): it acts once it has exactly
``minSamples`` compared points, switching on and off alike; fewer say nothing yet.
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.prescaler.guard import ForecastLog, judge
from forecaster.prescaler.policy import AccuracyGuardSpec
from tests.prescaler_helpers import NOW

SPEC = AccuracyGuardSpec(max_error=0.3, window_s=3600.0, min_samples=5, recover_ratio=0.5)
ACTUAL = pd.Series(100.0, index=pd.date_range(NOW - pd.Timedelta(hours=2), NOW, freq="1min"))


def _log(error: float, points: int) -> ForecastLog:
    made = NOW - pd.Timedelta(minutes=30)
    p50 = pd.Series(
        100.0 * (1 + error), index=pd.date_range(made + pd.Timedelta(minutes=1), periods=points, freq="1min")
    )
    log = ForecastLog()
    log.record(made, p50, keep_s=7200)
    return log


@pytest.mark.parametrize(("points", "switches"), [(4, False), (5, True), (6, True)])
def test_the_guard_switches_on_with_exactly_min_samples_points(points, switches):
    reading = judge(SPEC, log=_log(0.8, points), history=ACTUAL, was_active=False, now=NOW)
    assert reading.accuracy["samples"] == points
    assert reading.active is switches


@pytest.mark.parametrize(("points", "stays"), [(4, True), (5, False)])
def test_the_guard_switches_off_with_exactly_min_samples_good_points(points, stays):
    reading = judge(SPEC, log=_log(0.0, points), history=ACTUAL, was_active=True, now=NOW)
    assert reading.active is stays
