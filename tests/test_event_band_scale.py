"""``event_band_scale`` (spec ``eventBandScale``): at the forecast steps a scheduled event reaches, the plan is the
p50 plus that many times the planned quantile's margin over it (a wider band where a stream's size is least known),
before the look-ahead and look-behind; steps outside events, and forecasts without event marks, are unchanged.
The decision (fixed clock), the planned values, the batched replay and the policy spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.prescaler.policy import parse_policy
from forecaster.scaling import EVENT_COLUMN, planned_values
from tests.event_helpers import NOW, SHIFT, batched_floors_as_decide
from tests.prescaler_helpers import policy as policy_object
from tests.test_event_lookahead import desired, frame

# p50 is 0.8 x p90 (tests.test_event_lookahead.frame): the margin is a fifth of the p90.
P90 = [40, 40, 200, 260, 300, 200, 150, 120, 100, 40, 40, 40]
MARKS = [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize(
    ("scale", "minute", "replicas"),
    [
        (1.0, 2, 20),  # off: the window [5, 6] holds 200, 150
        (1.5, 2, 22),  # 160 + 1.5 x 40 = 220
        (2.0, 2, 24),
        (1.5, 0, 33),  # the window [3, 4]: 240 + 1.5 x 60 = 330
        (1.5, 6, 4),  # minutes 9-10 are not event steps: the p90 itself, 40
    ],
)
def test_an_event_step_plans_the_p50_plus_the_scaled_margin(scale, minute, replicas) -> None:
    policy = SHIFT.replace(event_band_scale=scale)
    assert desired(frame(P90, MARKS), policy, NOW + pd.Timedelta(minutes=minute)) == replicas


def test_the_outside_quantile_is_not_widened_and_the_look_ahead_reads_the_widened_band() -> None:
    p90 = np.asarray(P90, dtype=float)
    cols = {"p50": 0.8 * p90, "p90": p90, EVENT_COLUMN: np.asarray(MARKS, dtype=float)}
    times = frame(P90, MARKS).index.as_unit("ns").asi8
    policy = SHIFT.replace(event_band_scale=1.5, quantile_outside_events=0.5)
    widened = np.where(np.asarray(MARKS) > 0, 0.8 * p90 + 1.5 * 0.2 * p90, 0.8 * p90)
    np.testing.assert_allclose(planned_values(cols, policy, times), widened)
    # The look-ahead and look-behind take the largest of the widened event steps.
    both = planned_values(cols, policy.replace(event_lookahead_s=60, event_lookbehind_s=60), times)
    want = widened.copy()
    for i in np.flatnonzero(MARKS):
        near = [j for j in (i - 1, i, i + 1) if 0 <= j < len(MARKS) and MARKS[j]]
        want[i] = widened[near].max()
    np.testing.assert_allclose(both, want)


def test_a_forecast_without_the_median_is_a_clear_error() -> None:
    forecast = frame(P90, MARKS).drop(columns="p50")
    with pytest.raises(ConfigError, match="no p50 column"):
        desired(forecast, SHIFT.replace(event_band_scale=1.2))
    # Without event steps, or with the scale off, the median is not needed.
    assert desired(forecast, SHIFT) == 30  # the window [3, 4]: 260, 300
    assert desired(frame(P90, None).drop(columns="p50"), SHIFT.replace(event_band_scale=1.2)) == 30


@pytest.mark.parametrize(
    ("forecast", "policy", "problem"),
    [
        # The median is named only when this forecast has event steps and the band is widened.
        (frame(P90, MARKS), SHIFT.replace(event_band_scale=2.0), "no p50 column (it has p90, event)"),
        (
            frame(P90, MARKS),
            SHIFT.replace(quantile=0.99, event_band_scale=1.2),
            "no p99, p50 column (it has p90, event)",
        ),
        (frame(P90, MARKS), SHIFT.replace(quantile=0.99), "no p99 column (it has p90, event)"),
        (frame(P90, None), SHIFT.replace(quantile=0.99, event_band_scale=1.2), "no p99 column (it has p90)"),
    ],
)
def test_a_missing_column_error_names_what_this_forecast_and_policy_need(forecast, policy, problem) -> None:
    with pytest.raises(ConfigError) as info:
        desired(forecast.drop(columns="p50"), policy)
    assert info.value.problem == f"the forecast has {problem}"
    assert info.value.hint == "plan on a quantile the model predicts, or retrain the model with that quantile"


@pytest.mark.parametrize("fine", [1.0, 1.15, 10.0])
def test_event_band_scale_from_1_to_10_is_accepted(fine) -> None:
    assert SHIFT.replace(event_band_scale=fine).event_band_scale == fine


@pytest.mark.parametrize("bad", [0.99, 0.0, float("nan"), float("inf"), 10.5])
def test_event_band_scale_must_be_a_factor_in_range(bad) -> None:
    with pytest.raises(ConfigError) as info:
        SHIFT.replace(event_band_scale=bad)
    assert info.value.problem == f"scaling policy: event_band_scale must be a factor in [1, 10], got {bad!r}"
    assert info.value.hint == "e.g. 1.15 (the band 15% wider at event steps), or 1 for the quantile itself"


def test_the_policy_spec_carries_event_band_scale() -> None:
    obj = policy_object()
    assert parse_policy(obj).scaling.event_band_scale == 1.0
    obj["spec"]["eventBandScale"] = 1.15
    assert parse_policy(obj).scaling.event_band_scale == 1.15
    for bad in ("wide", 0.5):
        obj["spec"]["eventBandScale"] = bad
        with pytest.raises(ConfigError, match="eventBandScale|event_band_scale"):
            parse_policy(obj)


def test_the_batched_replay_widens_the_band_as_decide_does() -> None:
    """replay_many (the tuning grid) reads the widened band as decide does, to the floor and the pod."""
    plain, wide, _ = batched_floors_as_decide(
        SHIFT,
        [
            {},
            {"event_band_scale": 1.3},
            {"quantile_outside_events": 0.7, "event_lookahead_s": 300, "event_band_scale": 1.3},
        ],
    )
    assert (wide >= plain).all() and (wide > plain).any()
