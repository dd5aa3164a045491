"""A quantile the model does not predict (read between two it does), and a lower quantile away from scheduled
events (``quantile_outside_events``): the decision, the batched replay, the policy spec and the forecast's
event column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError
from forecaster.event_profile import USE_AFTER_S, USE_BEFORE_S, marking_event_steps, with_event_steps
from forecaster.events import Calendar, Event
from forecaster.prescaler.policy import parse_policy
from forecaster.scaling import EVENT_COLUMN, ScalingPolicy, ScalingState, decide
from tests.event_helpers import NOW, SHIFT, batched_floors_as_decide
from tests.prescaler_helpers import policy as policy_object


def frame(p50: float, p90: float, *, event: list[float] | None = None, minutes: int = 8) -> pd.DataFrame:
    index = pd.date_range(NOW, periods=minutes, freq="1min")
    out = pd.DataFrame({"p50": [p50] * minutes, "p90": [p90] * minutes}, index=index)
    if event is not None:
        out[EVENT_COLUMN] = event
    return out


def desired(forecast: pd.DataFrame, policy: ScalingPolicy) -> int:
    return decide(
        forecast=forecast, policy=policy, state=ScalingState(), now=NOW, current_replicas=1
    ).desired_replicas


@pytest.mark.parametrize(
    ("quantile", "replicas"),
    [
        (0.9, 20),  # the column itself: 200 / 10
        (0.5, 10),
        (0.8, 18),  # 100 + (0.8 - 0.5) / 0.4 x (200 - 100) = 175 -> 18
        (0.7, 15),  # 150
        (0.6, 13),  # 125
    ],
)
def test_a_quantile_between_two_columns_is_read_linearly_between_them(quantile, replicas) -> None:
    assert desired(frame(100, 200), SHIFT.replace(quantile=quantile)) == replicas


def test_a_quantile_outside_the_columns_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no p95 column"):
        desired(frame(100, 200), SHIFT.replace(quantile=0.95))
    with pytest.raises(ConfigError, match="no p40 column"):
        desired(frame(100, 200), SHIFT.replace(quantile=0.9, quantile_outside_events=0.4))
    # p90 between p50 and p95 (a model trained on those): read between them, no error.
    between = frame(100, 200).rename(columns={"p90": "p95"})
    assert desired(between, SHIFT) == 19  # 100 + 0.4 / 0.45 x 100 = 188.9


def test_outside_events_the_lower_quantile_at_events_the_policy_quantile() -> None:
    policy = SHIFT.replace(quantile_outside_events=0.7)
    # The planning window is [now + 3, now + 4]: minutes 3 and 4.
    clear = frame(100, 200, event=[0.0] * 8)
    near = frame(100, 200, event=[0, 0, 0, 0, 1, 1, 1, 1])  # an event reaches minute 4
    assert desired(clear, policy) == 15  # p70 = 150
    assert desired(near, policy) == 20  # p90 at minute 4
    # A step whose mark is unknown (NaN) is not known to be clear: the policy's quantile.
    assert desired(frame(100, 200, event=[0, 0, 0, float("nan"), 0, 0, 0, 0]), policy) == 20
    # A forecast made without a calendar says nothing about events: the policy's quantile everywhere.
    assert desired(frame(100, 200), policy) == 20
    # Unset: the quantile everywhere, the event column or not.
    assert desired(clear, SHIFT) == 20


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, float("nan"), float("inf")])
def test_quantile_outside_events_must_be_a_fraction(bad) -> None:
    with pytest.raises(ConfigError, match="quantile_outside_events must be between 0 and 1"):
        SHIFT.replace(quantile_outside_events=bad)


def test_event_steps_are_the_profile_steps_of_each_entry() -> None:
    start = pd.Timestamp("2026-01-05 21:00", tz="UTC")
    calendar = Calendar.of([Event(start=start, kind="match")])
    index = pd.date_range("2026-01-05 20:00", "2026-01-05 22:30", freq="5min")
    got = with_event_steps(pd.DataFrame({"p50": 1.0, "p90": 2.0}, index=index), calendar)
    lag = (index - start.tz_localize(None)).total_seconds()
    want = ((lag >= -USE_BEFORE_S) & (lag < USE_AFTER_S)).astype(float)
    np.testing.assert_array_equal(got[EVENT_COLUMN].to_numpy(), want)
    assert got[EVENT_COLUMN].sum() == 18  # 20:30 .. 21:55
    # No calendar (none read, or unavailable): the frame as it was, so the policy's quantile everywhere.
    plain = pd.DataFrame({"p50": 1.0, "p90": 2.0}, index=index)
    assert with_event_steps(plain, None) is plain


def test_marking_a_forecast_function_keeps_a_repeated_frame_one_object() -> None:
    calendar = Calendar.of([Event(start=pd.Timestamp("2026-01-05 20:10", tz="UTC"), kind="match")])
    same = frame(100, 200)
    fn = marking_event_steps(lambda history, now: same, calendar)
    a, b = fn(pd.Series(dtype=float), NOW), fn(pd.Series(dtype=float), NOW)
    assert a is b and EVENT_COLUMN in a.columns and EVENT_COLUMN not in same.columns
    assert marking_event_steps(lambda history, now: None, calendar)(pd.Series(dtype=float), NOW) is None


def test_the_batched_replay_plans_the_same_quantiles_as_decide() -> None:
    """replay_many (the tuning grid) reads the interpolated quantile and the event column as decide does."""
    changes = [{}, {"quantile": 0.8}, {"quantile_outside_events": 0.7}]
    p90, p80, outside = batched_floors_as_decide(SHIFT, changes)
    assert (p80 <= p90).all() and (p80 < p90).any()
    assert (outside <= p90).all() and (outside < p90).any()
    assert (outside == p90).any()  # at the event steps


def test_the_policy_spec_carries_quantile_outside_events() -> None:
    obj = policy_object()
    assert parse_policy(obj).scaling.quantile_outside_events is None
    obj["spec"]["quantileOutsideEvents"] = 0.8
    assert parse_policy(obj).scaling.quantile_outside_events == 0.8
    obj["spec"]["quantileOutsideEvents"] = 1.5
    with pytest.raises(ConfigError, match="quantile_outside_events"):
        parse_policy(obj)
    obj["spec"]["quantileOutsideEvents"] = "low"
    with pytest.raises(ConfigError, match="quantileOutsideEvents: must be a number"):
        parse_policy(obj)


def _brute_force_steps(index: pd.DatetimeIndex, calendar: Calendar) -> np.ndarray:
    """Every step against every entry ([T, E]): what the sorted search must equal."""
    at = index.as_unit("ns").asi8 / 1e9
    starts = np.array([e.start.timestamp() for e in calendar.events])
    lag = at[:, None] - starts[None, :]
    return ((lag >= -USE_BEFORE_S) & (lag < USE_AFTER_S)).any(axis=1).astype(float)


@pytest.mark.parametrize("seed", range(6))
def test_the_event_steps_compare_only_the_entries_near_the_frame_with_the_same_result(seed) -> None:
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2026-01-05", tz="UTC")
    # Entries on a few days, some on the same minute, some exactly a window's edge from the frame.
    starts = [base + pd.Timedelta(minutes=int(m)) for m in rng.integers(0, 3 * 1440, size=40)]
    frame_start = base + pd.Timedelta(minutes=int(rng.integers(0, 3 * 1440)))
    index = pd.date_range(frame_start.tz_localize(None), periods=int(rng.integers(1, 240)), freq="1min")
    frame_end = index[-1].tz_localize("UTC")
    after, before = pd.Timedelta(seconds=USE_AFTER_S), pd.Timedelta(seconds=USE_BEFORE_S)
    minute = pd.Timedelta(minutes=1)
    starts += [
        frame_start - after,
        frame_start - after + minute,
        frame_end + before,
        frame_end + before + minute,
    ]
    calendar = Calendar.of([Event(start=s, kind="match") for s in starts])
    got = with_event_steps(pd.DataFrame({"p50": 1.0}, index=index), calendar)[EVENT_COLUMN].to_numpy()
    np.testing.assert_array_equal(got, _brute_force_steps(index, calendar))
