"""The decision's bounds hold on every path, found unheld by the planted-bug campaign (bench/planted_bugs.py).

``max_replicas`` is the operator's hard ceiling: neither a surge in the observed load nor a decision without a
forecast (which keeps the last value) may go above it, even when the last value was above a lowered maximum.
Checked through :func:`forecaster.scaling.decide` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.scaling import ScalingPolicy, ScalingState, decide

NOW = pd.Timestamp("2026-03-02 12:00")
POLICY = ScalingPolicy(capacity_per_replica=100, min_replicas=2, max_replicas=20, lead_time_s=180)


def _flat(p90: float) -> pd.DataFrame:
    index = pd.date_range(NOW + pd.Timedelta(minutes=1), periods=30, freq="1min")
    return pd.DataFrame({"p50": np.full(30, p90 * 0.8), "p90": np.full(30, p90)}, index=index)


@pytest.mark.parametrize(
    ("description", "observed_load", "desired", "reason"),
    [
        ("the observed load needs 12: above the forecast's 5", 1200.0, 12, "observed_load"),
        ("the observed load needs 50: capped at max_replicas", 5000.0, 20, "observed_load"),
        ("the observed load needs 3: the forecast's 5 stands", 300.0, 5, "forecast"),
    ],
)
def test_the_observed_load_raises_the_decision_but_never_past_max_replicas(
    description, observed_load, desired, reason
):
    decision = decide(
        forecast=_flat(500.0),
        policy=POLICY,
        state=ScalingState(),
        now=NOW,
        current_replicas=5,
        observed_load=observed_load,
    )
    assert (decision.desired_replicas, decision.reason) == (desired, reason), description
    assert decision.desired_replicas <= POLICY.max_replicas


@pytest.mark.parametrize(
    ("description", "last_desired", "current", "desired"),
    [
        ("keeps the last value", 12, 3, 12),
        ("no last value: keeps the current replicas", None, 7, 7),
        ("the last value is above a lowered max_replicas: the maximum", 35, 35, 20),
        ("the current replicas are above max_replicas: the maximum", None, 50, 20),
        ("the last value is below min_replicas: the minimum", 1, 1, 2),
    ],
)
def test_without_a_forecast_the_kept_value_stays_within_the_bounds(
    description, last_desired, current, desired
):
    for forecast in (None, _flat(float("nan"))):
        decision = decide(
            forecast=forecast,
            policy=POLICY,
            state=ScalingState(last_desired=last_desired),
            now=NOW,
            current_replicas=current,
        )
        assert (decision.desired_replicas, decision.reason) == (desired, "no_forecast"), description
        assert decision.state.last_desired == desired
