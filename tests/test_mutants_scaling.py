"""The observed-load bound of the decision, found unpinned by mutation testing (bench/mutation.py scaling).

``observed_load`` (the load measured now) is a lower bound on the recommendation: the decision says so in its
reason and its message, a bound equal to the forecast's leaves the forecast as the reason, no or a non-finite
observation changes nothing, and the bound is carried into the scale-down stabilisation like any
recommendation. Table-driven, through :func:`forecaster.scaling.decide` only, with a fixed clock.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecaster.scaling import ScalingPolicy, ScalingState, decide

NOW = pd.Timestamp("2026-03-02 12:00")
POLICY = ScalingPolicy(capacity_per_replica=100, min_replicas=2, max_replicas=20, lead_time_s=180)


FORECAST_TEXT = "p90 peak 500 at 2026-03-02 12:01 / 100 per replica = 5 replicas"


def _flat(p90: float) -> pd.DataFrame:
    index = pd.date_range(NOW + pd.Timedelta(minutes=1), periods=30, freq="1min")
    return pd.DataFrame({"p50": np.full(30, p90 * 0.8), "p90": np.full(30, p90)}, index=index)


@pytest.mark.parametrize(
    ("description", "observed_load", "desired", "reason", "message_end"),
    [
        (
            "above the forecast's 5: the observation is the reason, and the message says what it needs",
            1200.0,
            12,
            "observed_load",
            "; the load observed now (1200) needs 12",
        ),
        (
            "capped at max_replicas: the message names the capped count",
            5000.0,
            20,
            "observed_load",
            "; the load observed now (5000) needs 20",
        ),
        ("needs exactly the forecast's 5: the forecast stays the reason", 500.0, 5, "forecast", ""),
        ("below the forecast: the forecast stands", 100.0, 5, "forecast", ""),
        ("no observation", None, 5, "forecast", ""),
        ("a NaN observation is no observation", math.nan, 5, "forecast", ""),
    ],
)
def test_the_observed_load_bound_and_what_the_decision_says(
    description, observed_load, desired, reason, message_end
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
    assert decision.raw_replicas == 5, "the forecast's own need is reported unchanged"
    assert decision.message == f"{FORECAST_TEXT}{message_end}", description


def test_the_observed_bound_is_held_by_the_stabilisation_window_like_any_recommendation():
    policy = ScalingPolicy(
        capacity_per_replica=100,
        min_replicas=2,
        max_replicas=20,
        lead_time_s=180,
        scale_down_stabilization_s=300,
    )
    surge = decide(
        forecast=_flat(500.0),
        policy=policy,
        state=ScalingState(),
        now=NOW,
        current_replicas=5,
        observed_load=1200.0,
    )
    assert surge.desired_replicas == 12

    later = NOW + pd.Timedelta(minutes=1)
    calm = decide(
        forecast=_flat(500.0).shift(1, freq="1min"),
        policy=policy,
        state=surge.state,
        now=later,
        current_replicas=12,
        observed_load=100.0,
    )

    assert (calm.desired_replicas, calm.reason) == (12, "stabilizing"), calm.message
