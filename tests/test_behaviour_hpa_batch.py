"""The tuning grid's vectorised HPA (:class:`forecaster.hpa_batch.HPABatch`) decides as the HPA model
(:func:`forecaster.hpa.hpa_step`) exactly at the edges a random comparison rarely hits: a usage ratio exactly at
the tolerance (binary fractions, so the float arithmetic is exact) keeps the replicas, one step past it scales.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.hpa import HPAConfig, HPAState, hpa_step
from forecaster.hpa_batch import HPABatch, PodsBatch

T0 = pd.Timestamp("2026-01-05 20:00:00")


@pytest.mark.parametrize(
    ("tolerance", "load", "expected"),
    [
        (0.25, 500.0, 4),  # 4 pods of 100 at 125%: exactly at the tolerance, kept
        (0.25, 300.0, 4),  # 75%: exactly at the tolerance below, kept
        (0.25, 504.0, 6),  # just past it: ceil(4 x 1.26) = 6
        (0.5, 600.0, 4),  # 150% with a tolerance of 0.5: kept
        (0.5, 200.0, 4),  # 50%: kept
        (0.0, 400.0, 4),  # tolerance 0: exactly at target is no change
        (0.0, 404.0, 5),  # and any excess scales
    ],
)
def test_a_ratio_exactly_at_the_tolerance_keeps_the_replicas_in_the_batch_as_in_the_model(
    tolerance, load, expected
):
    config = HPAConfig(capacity_per_replica=100.0, max_replicas=20, tolerance=tolerance)
    single = hpa_step(
        config=config, state=HPAState(), now=T0, load=load, current_replicas=4, ready_replicas=4
    )
    desired, proposal = HPABatch([config]).step(
        load=np.array([load]), current_replicas=np.array([4]), ready_replicas=np.array([4])
    )
    assert single.desired_replicas == expected
    assert int(desired[0]) == expected and int(proposal[0]) == expected


def test_pods_are_ready_exactly_their_start_up_after_they_were_scheduled():
    pods = PodsBatch(initial=np.array([2]), width=10, pod_startup_s=60.0)
    pods.scale_to(np.array([5]), 30.0)
    assert int(pods.ready_count(89.0)[0]) == 2
    assert int(pods.ready_count(90.0)[0]) == 5  # scheduled at 30 s, ready at 90 s on the dot
    pods.scale_to(np.array([3]), 120.0)  # the newest go first
    assert int(pods.ready_count(120.0)[0]) == 3
