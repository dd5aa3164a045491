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


EXACT = AccuracyGuardSpec(max_error=0.5, window_s=3600.0, min_samples=5, recover_ratio=0.5)
"""Binary fractions: an error of exactly 0.5 or 0.25 is computed exactly (125 against 100 is 0.25 on the dot)."""


@pytest.mark.parametrize(
    ("error", "was_active", "active"),
    [
        (0.5, False, False),  # exactly maxError: not yet on
        (0.25, True, False),  # exactly maxError x recoverRatio: off again
        (0.375, True, True),  # between the two: stays on
    ],
)
def test_the_guard_thresholds_are_exact(error, was_active, active):
    reading = judge(EXACT, log=_log(error, 8), history=ACTUAL, was_active=was_active, now=NOW)
    assert reading.error == error
    assert reading.active is active
