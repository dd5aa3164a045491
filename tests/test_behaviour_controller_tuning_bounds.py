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


@pytest.mark.parametrize(
    ("hpa_target", "reason"),
    [(0.79, "OutOfBounds"), (0.8, "Applied"), (1.0, "Applied")],
)
def test_a_recommendation_tuned_with_less_hpa_headroom_than_allowed_is_applied_and_one_with_more_is_not(
    hpa_target, reason
):
    """bounds.minHPATargetUtilization 0.8: a setting tuned with the HPA at 0.79 relied on spare capacity the
    HPA will not keep; one tuned at 0.8 or above did not."""
    from tests.test_behaviour_controller_tuning_calendar import _use
    from tests.test_prescaler_tuning import tuning_doc

    use = _use({"bounds": {"minHPATargetUtilization": 0.8}}, doc=tuning_doc(hpa_target=hpa_target))
    assert use.condition["reason"] == reason
    if reason == "OutOfBounds":
        assert "below spec.tuning.bounds.minHPATargetUtilization 0.8" in use.condition["message"]
        assert use.policy.scaling.quantile == 0.9, "the spec's own settings are kept"
