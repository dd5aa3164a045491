"""A scale-up rate limit never scales down (:func:`forecaster.hpa.hpa_step`, as horizontal.go clamps
``scaleUpLimit`` to the current replicas): pods added earlier in the policy's period use up its budget, and
the HPA then holds, it does not give pods back.
"""

from __future__ import annotations

import pandas as pd

from forecaster.hpa import HPAConfig, HPAPolicy, HPARules, HPAState, hpa_step

NOW = pd.Timestamp("2026-03-05 20:00:00")


def test_a_used_up_scale_up_budget_holds_the_replicas_it_never_lowers_them():
    # Pods: +4 per 60 s. 6 pods were added 30 s ago (before a rule change, or by hand): the budget now is
    # 16 - 6 + 4 = 14, below the 16 running. The load asks for 30: the HPA holds 16.
    config = HPAConfig(capacity_per_replica=100.0, scale_up=HPARules(0.0, (HPAPolicy("Pods", 4, 60),)))
    state = HPAState(scale_up_events=((NOW - pd.Timedelta(seconds=30), 6),))
    result = hpa_step(
        config=config, state=state, now=NOW, load=3000.0, current_replicas=16, ready_replicas=16
    )
    assert result.desired_replicas == 16
    assert result.proposal == 30
    # Once the period has passed, the budget is back: +4.
    later = hpa_step(
        config=config,
        state=result.state,
        now=NOW + pd.Timedelta(seconds=31),
        load=3000.0,
        current_replicas=16,
        ready_replicas=16,
    )
    assert later.desired_replicas == 20
