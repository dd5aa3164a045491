"""HPA-model behaviours that campaign 2 of the planted bugs showed no test held (bench/results/planted2.md).

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
        ("50% of 5 pods may go: int(5 x 0.5) = 2 pods stay, as in Kubernetes", 50, 5, 2),
        ("30% of 7 pods: int(7 x 0.7) = 4 stay (the limit is truncated, never rounded up)", 30, 7, 4),
        ("10% of 9 pods: int(9 x 0.9) = 8 stay", 10, 9, 8),
    ],
)
def test_percent_scale_down_limit_truncates_like_kubernetes(description, percent, current, expected):
    """calculateScaleDownLimitWithBehaviors: int32(float64(periodStartReplicas) * (1 - value/100))."""
    config = HPAConfig(
        capacity_per_replica=100,
        min_replicas=1,
        max_replicas=50,
        scale_down=HPARules(0.0, (HPAPolicy("Percent", percent, 60),)),
    )
    result = hpa_step(
        config=config, state=HPAState(), now=NOW, load=0.0, current_replicas=current, ready_replicas=current
    )
    assert result.desired_replicas == expected, description
