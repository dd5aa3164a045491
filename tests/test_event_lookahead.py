"""``event_lookahead_s`` (spec ``eventLookahead``): at the forecast steps a scheduled event reaches, the plan holds
the largest planned load of the event steps up to that long after each one, so a start's capacity is its step's
size from its first minute. The decision (fixed clock), the helper against a brute force, the batched replay and
the policy spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.prescaler.policy import parse_policy
from forecaster.scaling import (
    EVENT_COLUMN,
    ScalingPolicy,
    ScalingState,
    _looked_ahead,
    decide,
    planned_values,
)
from tests.event_helpers import NOW, SHIFT, batched_floors_as_decide
from tests.prescaler_helpers import policy as policy_object

# A start at minute 5 (the planning window at NOW is [now + 3, now + 4]): 50 before it, then a rise of
# 50 a minute to 300 and a slow decay.
P90 = [50, 50, 50, 50, 50, 100, 150, 200, 250, 300, 290, 280]
MARKS = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]


def frame(p90=P90, event=MARKS, *, start: pd.Timestamp = NOW) -> pd.DataFrame:
    index = pd.date_range(start, periods=len(p90), freq="1min")
    out = pd.DataFrame(
        {"p50": np.asarray(p90, dtype=float) * 0.8, "p90": np.asarray(p90, dtype=float)}, index=index
    )
    if event is not None:
        out[EVENT_COLUMN] = np.asarray(event, dtype=float)
    return out


def desired(forecast: pd.DataFrame, policy: ScalingPolicy, now: pd.Timestamp = NOW) -> int:
    return decide(
        forecast=forecast, policy=policy, state=ScalingState(), now=now, current_replicas=1
    ).desired_replicas


@pytest.mark.parametrize(
    ("lookahead_s", "minute", "replicas"),
    [
        (0, 1, 10),  # off: the window [4, 5] holds the start's own first step, 100
        (0, 2, 15),
        (60, 1, 15),  # the start's step holds the next minute's 150
        (180, 1, 25),  # ... up to minute 8's 250
        (300, 1, 30),  # the peak, from the start's first minute
        (3600, 1, 30),
        (300, 0, 5),  # the window [3, 4] has no event step: nothing earlier than a lead + interval before it
        (300, 6, 30),  # at the peak and after it (a decay) the look-ahead adds nothing
        (300, 7, 29),
    ],
)
def test_an_event_step_holds_the_largest_of_the_event_steps_ahead(lookahead_s, minute, replicas) -> None:
    policy = SHIFT.replace(event_lookahead_s=lookahead_s)
    assert desired(frame(), policy, NOW + pd.Timedelta(minutes=minute)) == replicas


def test_steps_outside_events_and_forecasts_without_marks_are_unchanged() -> None:
    policy = SHIFT.replace(event_lookahead_s=600)
    assert desired(frame(event=[0] * len(P90)), policy, NOW + pd.Timedelta(minutes=1)) == 10
    assert desired(frame(event=None), policy, NOW + pd.Timedelta(minutes=1)) == 10
    # A step before the marks never reads the event steps after it, however far the look-ahead.
    assert desired(frame(), policy, NOW) == 5


def test_a_quantile_outside_events_and_the_look_ahead_combine() -> None:
    policy = SHIFT.replace(quantile=0.9, quantile_outside_events=0.5, event_lookahead_s=300)
    # Outside the marks the median (p50 = 0.8 x p90): 40 -> 4; at the start's step the p90's peak, 300.
    assert desired(frame(), policy, NOW) == 4
    assert desired(frame(), policy, NOW + pd.Timedelta(minutes=1)) == 30


def test_an_unknown_step_stays_unknown_and_an_unknown_later_step_is_not_counted() -> None:
    policy = SHIFT.replace(event_lookahead_s=300)
    own = list(map(float, P90))
    own[5] = float("nan")  # the start's own step: no usable forecast, the decision keeps what it had
    got = decide(
        forecast=frame(own),
        policy=policy,
        state=ScalingState(last_desired=7),
        now=NOW + pd.Timedelta(minutes=1),
        current_replicas=7,
    )
    assert got.reason == "no_forecast" and got.desired_replicas == 7
    later = list(map(float, P90))
    later[9] = float("nan")  # a later step unknown: the largest of the known ones
    assert desired(frame(later), policy, NOW + pd.Timedelta(minutes=1)) == 29


def _brute(values: np.ndarray, event: np.ndarray, times: np.ndarray, ahead: int) -> np.ndarray:
    out = values.copy()
    for i in range(len(values)):
        if event[i] and not np.isnan(values[i]):
            sel = event & (times >= times[i]) & (times <= times[i] + ahead) & ~np.isnan(values)
            out[i] = values[sel].max()
    return out


@pytest.mark.parametrize("seed", range(8))
def test_the_look_ahead_equals_the_brute_force_on_regular_and_irregular_grids(seed) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    values = rng.uniform(0, 100, n)
    values[rng.random(n) < 0.1] = np.nan
    event = rng.random(n) < 0.6
    step = int(rng.choice([60, 300])) * 10**9
    regular = np.arange(n, dtype=np.int64) * step
    irregular = np.cumsum(rng.integers(1, 6, n)).astype(np.int64) * 60 * 10**9
    for times in (regular, irregular):
        for ahead_s in (0, 59, 60, 240, 300, 301, 7200):
            ahead = ahead_s * 10**9
            np.testing.assert_array_equal(
                _looked_ahead(values, event, times, ahead), _brute(values, event, times, ahead)
            )


def test_planned_values_looks_ahead_only_with_the_times_and_the_setting() -> None:
    f = frame()
    cols = {c: f[c].to_numpy(dtype=float) for c in f.columns}
    times = f.index.as_unit("ns").asi8
    plain = planned_values(cols, SHIFT)
    np.testing.assert_array_equal(plain, cols["p90"])
    np.testing.assert_array_equal(planned_values(cols, SHIFT.replace(event_lookahead_s=300)), cols["p90"])
    ahead = planned_values(cols, SHIFT.replace(event_lookahead_s=120), times)
    np.testing.assert_array_equal(ahead, [50, 50, 50, 50, 50, 200, 250, 300, 300, 300, 290, 280])


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), 86401.0])
def test_event_lookahead_must_be_seconds_in_range(bad) -> None:
    with pytest.raises(ConfigError, match="event_lookahead_s must be seconds"):
        SHIFT.replace(event_lookahead_s=bad)


def test_the_policy_spec_carries_event_lookahead() -> None:
    obj = policy_object()
    assert parse_policy(obj).scaling.event_lookahead_s == 0.0
    obj["spec"]["eventLookahead"] = "5m"
    assert parse_policy(obj).scaling.event_lookahead_s == 300.0
    obj["spec"]["eventLookahead"] = "0"
    assert parse_policy(obj).scaling.event_lookahead_s == 0.0
    obj["spec"]["eventLookahead"] = "soon"
    with pytest.raises(ConfigError, match="eventLookahead"):
        parse_policy(obj)


def test_the_batched_replay_looks_ahead_as_decide_does() -> None:
    """replay_many (the tuning grid) reads the look-ahead as decide does, to the floor and the pod."""
    floors = batched_floors_as_decide(
        SHIFT, [{}, {"event_lookahead_s": 300}, {"quantile_outside_events": 0.7, "event_lookahead_s": 300}]
    )
    plain, ahead, _ = floors
    assert (ahead >= plain).all() and (ahead > plain).any()
