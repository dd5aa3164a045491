"""The observed-load bound of the decision, found unpinned by mutation testing (bench/mutation.py scaling).

``observed_load`` (the load measured now) is a lower bound on the recommendation: the decision says so in its
reason and its message, a bound equal to the forecast's leaves the forecast as the reason, no or a non-finite
observation changes nothing, and the bound is carried into the scale-down stabilisation like any
recommendation. Also what a forecast frame may hold: a text column beside the quantiles changes nothing (float64
or float32), a gap in nullable floats is no usable forecast, and the planning window ends at lead + interval to the
nanosecond. And ``event_lookahead_s`` on short, sub-minute, nanosecond-bounded and repeated-time grids, with its
accepted range and its error, and ``event_lookbehind_s`` (the same window backwards) on sub-minute and
nanosecond-bounded grids, with its range and its error. Table-driven, through :func:`forecaster.scaling.decide`
(or planned_values and the policy, where they are the subject), with a fixed clock.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecaster.scaling import ScalingPolicy, ScalingState, decide

NOW = pd.Timestamp("2026-03-02 12:00")
POLICY = ScalingPolicy(capacity_per_replica=100, min_replicas=2, max_replicas=20, lead_time_s=180)


FORECAST_TEXT = "p90 peak 500 at 2026-03-02 12:01 / 100 per replica = 5 replicas"


def _flat(p90: float) -> pd.DataFrame:
    index = pd.date_range(NOW + pd.Timedelta(minutes=1), periods=30, freq="1min")
    return pd.DataFrame({"p50": np.full(30, p90 * 0.8), "p90": np.full(30, p90)}, index=index)


@pytest.mark.parametrize(
    ("description", "observed_load", "desired", "reason", "message_end"),
    [
        (
            "above the forecast's 5: the observation is the reason, and the message says what it needs",
            1200.0,
            12,
            "observed_load",
            "; the load observed now (1200) needs 12",
        ),
        (
            "capped at max_replicas: the message names the capped count",
            5000.0,
            20,
            "observed_load",
            "; the load observed now (5000) needs 20",
        ),
        ("needs exactly the forecast's 5: the forecast stays the reason", 500.0, 5, "forecast", ""),
        ("below the forecast: the forecast stands", 100.0, 5, "forecast", ""),
        ("no observation", None, 5, "forecast", ""),
        ("a NaN observation is no observation", math.nan, 5, "forecast", ""),
    ],
)
def test_the_observed_load_bound_and_what_the_decision_says(
    description, observed_load, desired, reason, message_end
):
    decision = decide(
        forecast=_flat(500.0),
        policy=POLICY,
        state=ScalingState(),
        now=NOW,
        current_replicas=5,
        observed_load=observed_load,
    )

    assert (decision.desired_replicas, decision.reason) == (desired, reason), description
    assert decision.raw_replicas == 5, "the forecast's own need is reported unchanged"
    assert decision.message == f"{FORECAST_TEXT}{message_end}", description


def test_the_observed_bound_is_held_by_the_stabilisation_window_like_any_recommendation():
    policy = ScalingPolicy(
        capacity_per_replica=100,
        min_replicas=2,
        max_replicas=20,
        lead_time_s=180,
        scale_down_stabilization_s=300,
    )
    surge = decide(
        forecast=_flat(500.0),
        policy=policy,
        state=ScalingState(),
        now=NOW,
        current_replicas=5,
        observed_load=1200.0,
    )
    assert surge.desired_replicas == 12

    later = NOW + pd.Timedelta(minutes=1)
    calm = decide(
        forecast=_flat(500.0).shift(1, freq="1min"),
        policy=policy,
        state=surge.state,
        now=later,
        current_replicas=12,
        observed_load=100.0,
    )

    assert (calm.desired_replicas, calm.reason) == (12, "stabilizing"), calm.message


# -- what a forecast frame may hold ------------------------------------------------------------------------------


def _with_label(forecast: pd.DataFrame) -> pd.DataFrame:
    """The forecast with a text column beside its quantiles (e.g. which model made it)."""
    return forecast.assign(model="lstm-v3")


@pytest.mark.parametrize(
    ("description", "dtype", "max_over_median", "desired"),
    [
        ("float64 quantiles", "float64", 0.0, 5),
        ("float64, the band capped at 1.5 x the median", "float64", 0.5, 5),
        # float32 (a model's own precision): the cap is computed in float64 either way, to the last digit.
        ("float32, the band capped at 1.5 x the median", "float32", 0.5, 7),
    ],
)
def test_a_text_column_beside_the_quantiles_changes_nothing(description, dtype, max_over_median, desired):
    policy = ScalingPolicy(
        capacity_per_replica=100,
        min_replicas=2,
        max_replicas=20,
        lead_time_s=180,
        max_over_median=max_over_median,
    )
    forecast = _flat(500.0) if dtype == "float64" else _flat(1000.0).assign(p50=401.7)
    forecast = forecast.astype(dtype)

    def run(frame):
        return decide(forecast=frame, policy=policy, state=ScalingState(), now=NOW, current_replicas=3)

    plain, labelled = run(forecast), run(_with_label(forecast))

    assert (labelled.desired_replicas, labelled.reason, labelled.message, labelled.forecast_peak) == (
        plain.desired_replicas,
        plain.reason,
        plain.message,
        plain.forecast_peak,
    ), description
    assert labelled.desired_replicas == desired, description


@pytest.mark.parametrize("labelled", [False, True], ids=["quantiles-only", "with-a-text-column"])
def test_a_missing_value_in_nullable_float_columns_is_no_usable_forecast(labelled):
    """Nullable floats (pandas' Float64, e.g. read from parquet) with a gap in the planning window: the
    decision keeps what it had (never scales on a hole), and the same frame without the gap is used."""
    forecast = _flat(500.0).astype("Float64")
    forecast.iloc[1, forecast.columns.get_loc("p90")] = pd.NA  # 12:02, inside the window
    if labelled:
        forecast = _with_label(forecast)

    gap = decide(
        forecast=forecast, policy=POLICY, state=ScalingState(last_desired=7), now=NOW, current_replicas=7
    )
    assert (gap.desired_replicas, gap.reason) == (7, "no_forecast"), gap.message

    filled = forecast.copy()
    filled.iloc[1, filled.columns.get_loc("p90")] = 900.0
    ok = decide(
        forecast=filled, policy=POLICY, state=ScalingState(last_desired=7), now=NOW, current_replicas=7
    )
    assert (ok.desired_replicas, ok.reason) == (9, "forecast"), ok.message


def test_the_planning_window_ends_at_lead_plus_interval_to_the_nanosecond():
    """With the default 'peak' plan the window is [now, now + lead_time + interval], both ends included."""
    end = NOW + pd.Timedelta(seconds=POLICY.lead_time_s + POLICY.interval_s)
    index = pd.DatetimeIndex([NOW + pd.Timedelta(minutes=1), end, end + pd.Timedelta(nanoseconds=1)])
    forecast = pd.DataFrame({"p50": [100.0, 300.0, 5000.0], "p90": [200.0, 700.0, 9000.0]}, index=index)

    decision = decide(forecast=forecast, policy=POLICY, state=ScalingState(), now=NOW, current_replicas=2)

    assert (decision.desired_replicas, decision.forecast_peak_at) == (7, end), decision.message


# -- planned quantiles: interpolation and quantile_outside_events (found unpinned by bench/mutation.py) ------------

# Non-quantile columns first ("event" and "pod" start a scan), odd names that are not quantiles ("pX", "p0",
# "p100"), and quantiles that are not evenly spaced, so that the nearest two around a quantile matter.
_COLUMNS = {
    "event": np.array([0.0, 1.0, np.nan]),
    "pod": np.array([7.0, 7.0, 7.0]),
    "pX": np.array([1.0, 1.0, 1.0]),
    "p0": np.array([0.0, 0.0, 0.0]),
    "p10": np.array([10.0, 20.0, 30.0]),
    "p50": np.array([50.0, 60.0, 70.0]),
    "p75": np.array([80.0, 90.0, 100.0]),
    "p90": np.array([110.0, 130.0, 150.0]),
    "p100": np.array([1000.0, 1000.0, 1000.0]),
}


@pytest.mark.parametrize(
    ("quantile", "expected"),
    [
        (0.75, [80.0, 90.0, 100.0]),  # a column of its own
        (0.8, [90.0, 103.33333333333333, 116.66666666666667]),  # p75 + 1/3 of (p90 - p75)
        (0.6, [62.0, 72.0, 82.0]),  # p50 + 0.4 x (p75 - p50)
        (0.2, [20.0, 30.0, 40.0]),  # p10 + 0.25 x (p50 - p10)
        (0.95, None),  # above p90: p100 is no quantile (a quantile lies strictly between 0 and 1)
        (0.05, None),  # below p10: nor is p0
    ],
)
def test_planned_values_read_between_the_nearest_two_quantiles(quantile, expected):
    from forecaster.scaling import planned_values

    got = planned_values(_COLUMNS, POLICY.replace(quantile=quantile))
    if expected is None:
        assert got is None
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_planned_values_outside_events_use_their_own_quantile_only_where_no_event_is_known():
    from forecaster.scaling import planned_values

    policy = POLICY.replace(quantile=0.9, quantile_outside_events=0.6)
    # Step 0: clear of events -> p60; step 1: an event -> p90; step 2: unknown (NaN) -> p90, the safe side.
    np.testing.assert_allclose(planned_values(_COLUMNS, policy), [62.0, 130.0, 150.0], rtol=1e-12)
    without_event = {k: v for k, v in _COLUMNS.items() if k != "event"}
    np.testing.assert_allclose(planned_values(without_event, policy), [110.0, 130.0, 150.0], rtol=1e-12)
    assert planned_values(_COLUMNS, POLICY.replace(quantile=0.9, quantile_outside_events=0.05)) is None
    assert planned_values(_COLUMNS, POLICY.replace(quantile=0.95, quantile_outside_events=0.6)) is None


def test_a_policy_planning_a_quantile_the_forecast_cannot_give_names_what_it_has():
    index = pd.date_range(NOW + pd.Timedelta(minutes=1), periods=30, freq="1min")
    forecast = pd.DataFrame({"p50": np.full(30, 400.0), "p90": np.full(30, 500.0)}, index=index)
    policy = POLICY.replace(quantile=0.9, quantile_outside_events=0.3)
    with pytest.raises(Exception) as info:
        decide(forecast=forecast, policy=policy, state=ScalingState(), now=NOW, current_replicas=2)
    assert str(info.value).startswith("the forecast has no p30 column (it has p50, p90)")


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.2, float("nan"), float("inf")])
def test_a_quantile_outside_events_that_is_no_fraction_is_refused_with_what_to_do(bad):
    from forecaster.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        POLICY.replace(quantile_outside_events=bad)
    assert info.value.problem == (
        f"scaling policy: quantile_outside_events must be between 0 and 1 exclusive, got {bad!r}"
    )
    assert info.value.hint == "e.g. 0.8, or leave it unset to plan on quantile everywhere"


@pytest.mark.parametrize("fine", [None, 1e-9, 0.5, 1 - 1e-9])
def test_a_quantile_outside_events_strictly_between_0_and_1_or_unset_is_accepted(fine):
    assert POLICY.replace(quantile_outside_events=fine).quantile_outside_events == fine


def _frame(**columns: float | str) -> pd.DataFrame:
    index = pd.date_range(NOW + pd.Timedelta(minutes=1), periods=30, freq="1min")
    return pd.DataFrame({name: [value] * 30 for name, value in columns.items()}, index=index)


def _desired(forecast: pd.DataFrame, policy: ScalingPolicy) -> int:
    return decide(
        forecast=forecast, policy=policy, state=ScalingState(), now=NOW, current_replicas=2
    ).desired_replicas


def test_a_text_column_starting_with_p_beside_interpolated_quantiles_changes_nothing():
    # Only quantile columns (p<number>) are read as numbers: a "phase" label must not be converted.
    forecast = _frame(p50=400.0, p90=800.0, phase="prime time")
    assert _desired(forecast, POLICY.replace(quantile=0.8)) == 7  # 400 + 0.75 x 400 = 700 -> 7


def test_max_over_median_caps_at_the_median_even_with_quantile_outside_events():
    forecast = _frame(p50=400.0, p90=800.0, event=1.0)
    policy = POLICY.replace(quantile=0.9, quantile_outside_events=0.6, max_over_median=0.25)
    assert _desired(forecast, policy) == 5  # p90 800 capped at p50 x 1.25 = 500


def test_a_forecast_without_a_median_still_interpolates_with_quantile_outside_events():
    forecast = _frame(p10=100.0, p90=900.0, event=0.0)
    policy = POLICY.replace(quantile=0.9, quantile_outside_events=0.5)
    assert _desired(forecast, policy) == 5  # outside events: p10 + 0.5 x (p90 - p10) = 500


def test_the_missing_median_for_max_over_median_is_named_with_what_to_do():
    from forecaster.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        _desired(_frame(p90=800.0), POLICY.replace(quantile=0.9, max_over_median=0.25))
    assert info.value.problem == "the forecast has no p50 column (it has p90)"
    with pytest.raises(ConfigError) as info:
        _desired(_frame(p90=800.0, p95=900.0), POLICY.replace(quantile=0.9, max_over_median=0.25))
    assert info.value.problem == "the forecast has no p50 column (it has p90, p95)"
    assert info.value.hint == "plan on a quantile the model predicts, or retrain the model with that quantile"
    # Two columns missing at once are both named.
    with pytest.raises(ConfigError) as info:
        _desired(_frame(p50=1.0, p90=2.0), POLICY.replace(quantile=0.95, quantile_outside_events=0.3))
    assert info.value.problem == "the forecast has no p95, p30 column (it has p50, p90)"


def test_the_quantile_columns_are_read_by_the_one_label_parser_and_only_lower_case_p():
    """``_quantile_columns`` reads names through ``predictors.parse_quantile_label``; what it keeps is what the
    hand-written parser kept: a lower-case ``p`` and a number strictly between 0 and 100 (trailing spaces as
    ``float`` allows them), nothing else (``P80``, ``p0``, ``p100``, ``pnan``, text, the event column)."""
    from forecaster.scaling import EVENT_COLUMN, _quantile_columns

    names = ["p90", "P80", "p12.5", "p50", "pfoo", "p0", "p100", "pnan", " p70", "p75 ", EVENT_COLUMN, 7]
    assert _quantile_columns(names) == [(0.125, "p12.5"), (0.5, "p50"), (0.75, "p75 "), (0.9, "p90")]


# -- event_lookahead_s: short and odd grids, the bounds and the setting (found unpinned by bench/mutation.py) ------

# The planning window at NOW is [now + 3 min, now + 4 min] with plan 'shift'; the look-ahead lets an event step in
# it hold the larger event steps after it, outside it.
_SHIFT = ScalingPolicy(
    capacity_per_replica=10, max_replicas=100, lead_time_s=180, interval_s=60, plan="shift",
    scale_down_stabilization_s=0,
)  # fmt: skip


def _marked(times: list[pd.Timestamp], p90: list[float], event: list[float]) -> pd.DataFrame:
    p90_values = np.asarray(p90, dtype=float)
    return pd.DataFrame(
        {"p50": p90_values * 0.8, "p90": p90_values, "event": np.asarray(event, dtype=float)},
        index=pd.DatetimeIndex(times),
    )


def _desired_with(forecast: pd.DataFrame, **changes: float) -> int:
    """The replicas ``decide`` asks for at NOW from one replica, with the shift policy so changed."""
    policy = _SHIFT.replace(**changes)
    return decide(
        forecast=forecast, policy=policy, state=ScalingState(), now=NOW, current_replicas=1
    ).desired_replicas


def _shift_desired(forecast: pd.DataFrame, lookahead_s: float) -> int:
    return _desired_with(forecast, event_lookahead_s=lookahead_s)


def test_a_forecast_of_one_or_two_event_steps_is_looked_ahead_to_its_last_step():
    """A forecast as short as one or two steps (the end of a horizon, a model with a coarse step) is read like any
    other: one step holds itself, and with two the first holds the second when the look-ahead reaches it."""
    at = NOW + pd.Timedelta(minutes=4)  # the window's last minute
    assert _shift_desired(_marked([at], [100.0], [1.0]), 600) == 10
    two = [at, at + pd.Timedelta(minutes=1)]
    assert _shift_desired(_marked(two, [100.0, 300.0], [1.0, 1.0]), 0) == 10
    assert _shift_desired(_marked(two, [100.0, 300.0], [1.0, 1.0]), 60) == 30
    assert _shift_desired(_marked(two, [100.0, 300.0], [1.0, 1.0]), 3600) == 30
    assert _shift_desired(_marked(two, [100.0, 300.0], [1.0, 0.0]), 3600) == 10  # the second is no event step
    # Three steps, the largest the last: a look-ahead over the whole horizon reaches it from the first.
    three = [at, at + pd.Timedelta(minutes=1), at + pd.Timedelta(minutes=2)]
    assert _shift_desired(_marked(three, [100.0, 200.0, 300.0], [1.0, 1.0, 1.0]), 3600) == 30
    assert _shift_desired(_marked(three, [100.0, 200.0, 300.0], [1.0, 1.0, 1.0]), 60) == 20


def test_the_look_ahead_ends_at_its_length_to_the_nanosecond():
    """An event step holds the event steps up to exactly ``event_lookahead_s`` after it, not one nanosecond more
    (on an irregular grid, and on a regular one whose step is just longer than the look-ahead)."""
    at = NOW + pd.Timedelta(minutes=4)
    inside = [at, at + pd.Timedelta(seconds=60), at + pd.Timedelta(seconds=61)]
    assert _shift_desired(_marked(inside, [100.0, 300.0, 500.0], [1.0, 1.0, 1.0]), 60) == 30
    past = [at, at + pd.Timedelta(seconds=60, nanoseconds=1), at + pd.Timedelta(seconds=61)]
    assert _shift_desired(_marked(past, [100.0, 300.0, 500.0], [1.0, 1.0, 1.0]), 60) == 10
    regular = [at + k * pd.Timedelta(seconds=60, nanoseconds=1) for k in range(4)]
    assert _shift_desired(_marked(regular, [100.0, 300.0, 400.0, 500.0], [1.0] * 4), 60) == 10
    assert _shift_desired(_marked(regular, [100.0, 300.0, 400.0, 500.0], [1.0] * 4), 120) == 30


def test_a_look_ahead_of_one_second_reads_a_forecast_by_the_second():
    """The setting is seconds, not model steps: on a forecast by the second a 1 s look-ahead holds the next second's
    step (and a half second, none)."""
    index = pd.date_range(NOW, NOW + pd.Timedelta(minutes=6), freq="1s")
    p90 = np.full(len(index), 100.0)
    p90[index > NOW + pd.Timedelta(minutes=4)] = 300.0  # from the first second after the window
    forecast = _marked(list(index), list(p90), [1.0] * len(index))
    assert _shift_desired(forecast, 0) == 10
    assert _shift_desired(forecast, 0.5) == 10
    assert _shift_desired(forecast, 1) == 30


def test_rows_at_the_same_time_are_within_any_look_ahead_and_none_without_one():
    """A forecast whose times repeat (a frame joined from two sources): with a look-ahead each event row holds the
    larger event rows after it at its time, and with none (0) every row keeps its own value."""
    from forecaster.scaling import planned_values

    times = np.full(3, NOW.as_unit("ns").value, dtype=np.int64)
    unordered = {"p90": np.array([100.0, 300.0, 200.0]), "event": np.array([1.0, 1.0, 1.0])}
    np.testing.assert_array_equal(planned_values(unordered, _SHIFT, times), [100.0, 300.0, 200.0])
    rising = {"p90": np.array([100.0, 200.0, 300.0]), "event": np.array([1.0, 1.0, 1.0])}
    ahead = planned_values(rising, _SHIFT.replace(event_lookahead_s=60), times)
    np.testing.assert_array_equal(ahead, [300.0, 300.0, 300.0])


# -- event_lookbehind_s: the same window backwards, on odd grids, with its range and its error -------------------


def _behind_desired(forecast: pd.DataFrame, lookbehind_s: float) -> int:
    return _desired_with(forecast, event_lookbehind_s=lookbehind_s)


def test_a_look_behind_of_one_second_reads_a_forecast_by_the_second():
    """The setting is seconds, not model steps: on a forecast by the second a 1 s look-behind makes the window's
    first step hold the second before it (and a half second, none), with or without a look-ahead beside it."""
    index = pd.date_range(NOW, NOW + pd.Timedelta(minutes=6), freq="1s")
    p90 = np.full(len(index), 100.0)
    p90[index < NOW + pd.Timedelta(minutes=3)] = 300.0  # up to the last second before the window
    forecast = _marked(list(index), list(p90), [1.0] * len(index))
    assert _behind_desired(forecast, 0) == 10
    assert _behind_desired(forecast, 0.5) == 10
    assert _behind_desired(forecast, 1) == 30
    assert _desired_with(forecast, event_lookahead_s=1, event_lookbehind_s=1) == 30
    from forecaster.scaling import planned_values

    cols = {"p90": p90, "event": np.ones(len(index))}
    times = index.as_unit("ns").asi8
    behind = planned_values(cols, _SHIFT.replace(event_lookbehind_s=1), times)
    assert behind[180] == 300.0 and behind[181] == 100.0  # the window's first second, then the next one


def test_the_look_behind_ends_at_its_length_to_the_nanosecond():
    """An event step holds the event steps up to exactly ``event_lookbehind_s`` before it, not one nanosecond more
    (on an irregular grid, and on a regular one whose step is just longer than the look-behind)."""
    at = NOW + pd.Timedelta(minutes=3)  # the window's first minute
    inside = [at - pd.Timedelta(seconds=61), at - pd.Timedelta(seconds=60), at]
    assert _behind_desired(_marked(inside, [500.0, 300.0, 100.0], [1.0, 1.0, 1.0]), 60) == 30
    past = [at - pd.Timedelta(seconds=61), at - pd.Timedelta(seconds=60, nanoseconds=1), at]
    assert _behind_desired(_marked(past, [500.0, 300.0, 100.0], [1.0, 1.0, 1.0]), 60) == 10
    regular = [at - k * pd.Timedelta(seconds=60, nanoseconds=1) for k in range(3, -1, -1)]
    assert _behind_desired(_marked(regular, [500.0, 400.0, 300.0, 100.0], [1.0] * 4), 60) == 10
    assert _behind_desired(_marked(regular, [500.0, 400.0, 300.0, 100.0], [1.0] * 4), 120) == 30


_LOOK_HINTS = {
    "event_lookahead_s": "e.g. 300 (one 5-minute model step), or 0 for none",
    "event_lookbehind_s": "e.g. 180 (one pod start-up), or 0 for none",
}


@pytest.mark.parametrize("field", sorted(_LOOK_HINTS))
@pytest.mark.parametrize("fine", [0.0, 0.5, 180.0, 300.0, 86400.0])
def test_an_event_look_window_from_0_to_a_day_is_accepted(field, fine):
    assert getattr(_SHIFT.replace(**{field: fine}), field) == fine


@pytest.mark.parametrize("field", sorted(_LOOK_HINTS))
@pytest.mark.parametrize("bad", [-1.0, 86400.5, float("nan")])
def test_an_event_look_window_out_of_range_is_refused_with_what_to_do(field, bad):
    from forecaster.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        _SHIFT.replace(**{field: bad})
    assert info.value.problem == f"scaling policy: {field} must be seconds in [0, 86400], got {bad!r}"
    assert info.value.hint == _LOOK_HINTS[field]
