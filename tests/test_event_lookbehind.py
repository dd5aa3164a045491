"""``event_lookbehind_s`` (spec ``eventLookbehind``): at the forecast steps a scheduled event reaches, the plan also
holds the largest planned load of the event steps up to that long before each one, so a started stream's capacity
steps down that much later than its forecast falls after the peak: a stabilisation only inside scheduled events.
The decision (fixed clock), the helper against a brute force, the batched replay and the policy spec."""

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

# An event from minute 2: a peak of 300 at minute 4, then a fast decay; the entry's steps end at minute 9
# (e.g. judged over, or the table's end of the event), where the load without it is 40.
P90 = [40, 40, 200, 260, 300, 200, 150, 120, 100, 40, 40, 40]
MARKS = [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize(
    ("lookbehind_s", "minute", "replicas"),
    [
        (0, 2, 20),  # off: the window [5, 6] holds 200, 150
        (0, 3, 15),
        (60, 2, 30),  # minute 5 also holds minute 4's peak
        (60, 3, 20),  # minute 6 holds minute 5's 200
        (180, 3, 30),  # minute 6 holds minutes 3-6: the peak
        (180, 4, 30),  # minute 7 holds minutes 4-7
        (180, 5, 20),  # minute 8 holds minutes 5-8
        (3600, 5, 30),  # every event step since the start
        (3600, 6, 4),  # minutes 9-10 are not event steps: never held, however long the look-behind
        (3600, -1, 26),  # before the peak: the rise's own step, nothing later is read
    ],
)
def test_an_event_step_holds_the_largest_of_the_event_steps_before_it(lookbehind_s, minute, replicas) -> None:
    policy = SHIFT.replace(event_lookbehind_s=lookbehind_s)
    assert desired(frame(P90, MARKS), policy, NOW + pd.Timedelta(minutes=minute)) == replicas


@pytest.mark.parametrize("change", [{"event_lookbehind_s": 600}, {"event_band_scale": 3.0}])
def test_steps_outside_events_and_forecasts_without_marks_are_unchanged(change) -> None:
    """The look-behind and the band scale (tests/test_event_band_scale.py) act at event steps only."""
    policy = SHIFT.replace(**change)
    at = NOW + pd.Timedelta(minutes=3)
    assert desired(frame(P90, [0] * len(P90)), policy, at) == 15
    assert desired(frame(P90, None), policy, at) == 15


def test_the_look_behind_and_the_look_ahead_combine() -> None:
    cols = {"p90": np.asarray(P90, dtype=float), EVENT_COLUMN: np.asarray(MARKS, dtype=float)}
    times = frame(P90, MARKS).index.as_unit("ns").asi8
    both = planned_values(cols, SHIFT.replace(event_lookahead_s=60, event_lookbehind_s=60), times)
    np.testing.assert_array_equal(both, [40, 40, 260, 300, 300, 300, 200, 150, 120, 40, 40, 40])
    # Without the times (a caller that has none) nothing is looked at, as for the look-ahead.
    np.testing.assert_array_equal(planned_values(cols, SHIFT.replace(event_lookbehind_s=60)), cols["p90"])


def _brute(values: np.ndarray, event: np.ndarray, times: np.ndarray, behind: int) -> np.ndarray:
    out = values.copy()
    for i in range(len(values)):
        if event[i] and not np.isnan(values[i]):
            sel = event & (times <= times[i]) & (times >= times[i] - behind) & ~np.isnan(values)
            out[i] = values[sel].max()
    return out


@pytest.mark.parametrize("seed", range(8))
def test_the_look_behind_equals_the_brute_force_on_regular_and_irregular_grids(seed) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    values = rng.uniform(0, 100, n)
    values[rng.random(n) < 0.1] = np.nan
    event = rng.random(n) < 0.6
    cols = {"p90": values, EVENT_COLUMN: event.astype(float)}
    step = int(rng.choice([60, 300])) * 10**9
    regular = np.arange(n, dtype=np.int64) * step
    irregular = np.cumsum(rng.integers(1, 6, n)).astype(np.int64) * 60 * 10**9
    for times in (regular, irregular):
        for behind_s in (59, 60, 240, 300, 301, 7200):
            got = planned_values(cols, SHIFT.replace(event_lookbehind_s=behind_s), times)
            np.testing.assert_array_equal(got, _brute(values, event, times, behind_s * 10**9))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), 86401.0])
def test_event_lookbehind_must_be_seconds_in_range(bad) -> None:
    with pytest.raises(ConfigError, match="event_lookbehind_s must be seconds"):
        SHIFT.replace(event_lookbehind_s=bad)


def test_the_policy_spec_carries_event_lookbehind() -> None:
    obj = policy_object()
    assert parse_policy(obj).scaling.event_lookbehind_s == 0.0
    obj["spec"]["eventLookbehind"] = "3m"
    assert parse_policy(obj).scaling.event_lookbehind_s == 180.0
    obj["spec"]["eventLookbehind"] = "0"
    assert parse_policy(obj).scaling.event_lookbehind_s == 0.0
    obj["spec"]["eventLookbehind"] = "later"
    with pytest.raises(ConfigError, match="eventLookbehind"):
        parse_policy(obj)


def test_the_batched_replay_looks_behind_as_decide_does() -> None:
    """replay_many (the tuning grid) reads the look-behind as decide does, to the floor and the pod."""
    floors = batched_floors_as_decide(
        SHIFT,
        [
            {},
            {"event_lookbehind_s": 600},
            {"quantile_outside_events": 0.7, "event_lookahead_s": 300, "event_lookbehind_s": 600},
        ],
    )
    plain, behind, _ = floors
    assert (behind >= plain).all() and (behind > plain).any()
