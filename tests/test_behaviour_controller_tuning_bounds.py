"""``spec.tuning.bounds`` given one side at a time: a lower bound alone or an upper bound alone is a valid policy
(the other side is open), and each is carried as given.

Through :func:`~forecaster.prescaler.policy.parse_policy`.
"""

from __future__ import annotations

import pytest

from forecaster.errors import ConfigError
from forecaster.prescaler.policy import parse_policy
from tests.prescaler_helpers import policy


@pytest.mark.parametrize(
    ("bounds", "low", "high"),
    [
        ({"minQuantile": 0.8}, 0.8, None),
        ({"maxQuantile": 0.3}, None, 0.3),
        ({"minQuantile": 0.7, "maxQuantile": 0.7}, 0.7, 0.7),
    ],
)
def test_one_sided_quantile_bounds_are_valid(bounds, low, high):
    p = parse_policy(policy(tuning={"slo": "short-minutes=0.5%", "mode": "Apply", "bounds": bounds}))
    assert (p.tuning.bounds.min_quantile, p.tuning.bounds.max_quantile) == (low, high)


def test_crossed_bounds_are_refused():
    with pytest.raises(ConfigError, match="minQuantile"):
        parse_policy(
            policy(tuning={"slo": "short-minutes=0.5%", "bounds": {"minQuantile": 0.8, "maxQuantile": 0.6}})
        )
