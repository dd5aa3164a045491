"""HPA-model behaviours that campaign 3 of the planted bugs showed no test held (bench/results/planted3.md).

Through :func:`forecaster.hpa.hpa_step` only, with the numbers the Kubernetes controller would produce.
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.hpa import HPAConfig, HPAPolicy, HPARules, HPAState, hpa_step

NOW = pd.Timestamp("2026-03-02 12:00:00")


@pytest.mark.parametrize(
    ("description", "percent", "current", "expected"),
    [
        ("+50% of 1 pod: ceil(1 x 1.5) = 2 (rounding down would never let one pod grow)", 50, 1, 2),
        ("+50% of 3 pods: ceil(3 x 1.5) = 5", 50, 3, 5),
        ("+10% of 7 pods: ceil(7 x 1.1) = 8", 10, 7, 8),
    ],
)
def test_percent_scale_up_limit_rounds_up_like_kubernetes(description, percent, current, expected):
    """calculateScaleUpLimitWithScalingRules: ceil(float64(periodStartReplicas) * (1 + value/100))."""
    config = HPAConfig(
        capacity_per_replica=100,
        min_replicas=1,
        max_replicas=50,
        scale_up=HPARules(0.0, (HPAPolicy("Percent", percent, 60),)),
    )
    # A load 20 pods' worth: the proposal is far above the limit, so the limit decides.
    result = hpa_step(
        config=config,
        state=HPAState(),
        now=NOW,
        load=2000.0,
        current_replicas=current,
        ready_replicas=current,
    )
    assert result.desired_replicas == expected, description


@pytest.mark.parametrize("current", [10, 6])
def test_a_floor_above_max_replicas_is_capped_at_the_maximum_and_stays_there(current):
    """A prescaler floor (``min_replicas``) above the HPA's maxReplicas is clipped to the maximum, as the real
    controller clips minReplicas to maxReplicas: the replayed HPA goes to the maximum and stays, never above it
    and never flapping between the floor and the maximum."""
    config = HPAConfig(capacity_per_replica=100, min_replicas=1, max_replicas=10)
    state = HPAState()
    seen = []
    for k in range(4):
        result = hpa_step(
            config=config,
            state=state,
            now=NOW + pd.Timedelta(seconds=15 * k),
            load=100.0 * current,
            current_replicas=current,
            ready_replicas=current,
            min_replicas=15,
        )
        state, current = result.state, result.desired_replicas
        seen.append(current)
    assert seen == [10, 10, 10, 10]
