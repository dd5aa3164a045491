"""Event inputs of the windows, by hand, found untested by mutation testing (bench/mutation.py windows).

- :meth:`EventFeatures.fit` keeps the kinds that start in the training range, their mean size hint and how many
  events of each were seen, and refuses a calendar with none there; ``unseen`` and ``variants`` handle kinds
  a model never saw; ``to_dict``/``from_dict`` round-trip through the manifest and refuse malformed entries;
- :func:`event_features` at every step: time until the next start, since the last, whether it still runs,
  the next and the last size hint, per kind, computed here by hand;
- :func:`make_windows` appends exactly those inputs at the window's past and future positions (including
  steps after the end of the series), and none without an ``event_spec``; overlapping windows (a training
  epoch) read them at their own positions too, a window is the same whichever others are built with it, and no
  origins give empty windows of the right shape.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.events import Calendar, Event
from forecaster.windows import EventFeatures, Scaler, WindowSpec, event_features, make_windows

STEP = pd.Timedelta(minutes=5)


def _at(hhmm: str, **kwargs) -> Event:
    return Event(start=pd.Timestamp(f"2026-03-05 {hhmm}", tz="UTC"), **kwargs)


# -- EventFeatures ----------------------------------------------------------------------------------------------


def test_fit_keeps_the_kinds_of_the_training_range_with_their_hint_scale_and_count():
    calendar = Calendar.of(
        [
            _at("08:00", kind="match", expected=100.0),  # on the range's first instant: counted
            _at("10:00", kind="match", expected=300.0),
            _at("12:00", kind="match"),  # no hint: counted, not averaged
            _at("09:00", kind="concert"),  # no hint at all: scale 0
            _at("11:00", kind="talk", expected=0.0),  # hints averaging 0: scale 0
            _at("20:00", kind="match", expected=5000.0),  # on the range's last instant: counted
            _at("20:05", kind="late", expected=7.0),  # after the range: not a kind of this model
        ],
        source="cal.csv",
    )

    spec = EventFeatures.fit(
        calendar, start=pd.Timestamp("2026-03-05 08:00"), end=pd.Timestamp("2026-03-05 20:00")
    )

    assert spec == EventFeatures(
        kinds=("concert", "match", "talk"), size_scale=(0.0, 1800.0, 0.0), events_seen=(1, 4, 1)
    )
    assert (spec.until_cap_s, spec.since_cap_s, spec.n_features) == (7200.0, 10800.0, 15)


def test_fit_refuses_a_calendar_with_no_event_in_the_training_range():
    calendar = Calendar.of([_at("21:00", kind="match")], source="cal.csv")
    with pytest.raises(DataError) as err:
        EventFeatures.fit(
            calendar, start=pd.Timestamp("2026-03-05 08:00"), end=pd.Timestamp("2026-03-05 20:00"), name="svc"
        )
    assert err.value.problem == (
        "svc: the calendar cal.csv has no event between 2026-03-05 08:00:00 and 2026-03-05 20:00:00"
    )
    assert err.value.hint == (
        "give a calendar covering the training history (past events are how the model learns each kind's "
        "effect), or train without --events"
    )
    with pytest.raises(DataError, match="^model: the calendar"):
        EventFeatures.fit(calendar, start=pd.Timestamp("2026-03-05"), end=pd.Timestamp("2026-03-05 20:00"))


def test_unseen_kinds_and_the_variants_to_average_over():
    spec = EventFeatures(kinds=("a", "b"), size_scale=(0.0, 0.0), events_seen=(1, 1))
    known = Calendar.of([_at("10:00", kind="a"), _at("11:00", kind="b")])
    odd = Calendar.of([_at("10:00", kind="a"), _at("11:00", kind="x"), _at("12:00", kind="y")])

    assert spec.unseen(None) == () and spec.unseen(known) == ()
    assert spec.unseen(odd) == ("x", "y")
    assert spec.variants(known) == [known]
    assert spec.variants(None) == [Calendar()]
    assert spec.variants(odd) == [odd.relabel({"x": "a", "y": "a"}), odd.relabel({"x": "b", "y": "b"})]


def test_the_manifest_entry_round_trips_and_fills_defaults():
    spec = EventFeatures(
        kinds=("a", "b"), size_scale=(2.5, 0.0), events_seen=(3, 1), until_cap_s=600.0, since_cap_s=900.0
    )
    assert spec.to_dict() == {
        "kinds": ["a", "b"],
        "size_scale": [2.5, 0.0],
        "events_seen": [3, 1],
        "until_cap_s": 600.0,
        "since_cap_s": 900.0,
    }
    assert EventFeatures.from_dict(spec.to_dict()) == spec
    # Entries written before events_seen and the caps existed.
    old = EventFeatures.from_dict({"kinds": ["a"], "size_scale": ["2"]})
    assert old == EventFeatures(kinds=("a",), size_scale=(2.0,), events_seen=(0,))
    assert (old.until_cap_s, old.since_cap_s) == (7200.0, 10800.0)
    assert EventFeatures.from_dict({"kinds": ["a"], "size_scale": [1], "events_seen": None}).events_seen == (
        0,
    )


@pytest.mark.parametrize(
    "data",
    [
        {"kinds": [], "size_scale": []},
        {"kinds": ["a", "b"], "size_scale": [1.0]},
        {"kinds": ["a"], "size_scale": [1.0], "events_seen": [1, 2]},
    ],
)
def test_a_malformed_manifest_entry_is_refused(data):
    with pytest.raises(ValueError) as err:
        EventFeatures.from_dict(data)
    assert str(err.value) == "events: kinds, size_scale and events_seen must be non-empty and of equal length"


# -- event_features by hand ---------------------------------------------------------------------------------------

SPEC = EventFeatures(kinds=("a", "b"), size_scale=(200.0, 0.0), events_seen=(2, 1))
CALENDAR = Calendar.of(
    [
        _at("10:00", kind="a", end=pd.Timestamp("2026-03-05 10:30", tz="UTC"), expected=100.0),
        _at("13:00", kind="a"),  # no end: runs an hour; no hint: size 1
        _at("11:00", kind="b", expected=50.0),  # the kind has no hint scale: size 1
        _at("10:45", kind="c", expected=9.0),  # a kind the model does not know: no input
    ]
)
TIMES = ["09:00", "09:30", "10:00", "10:15", "10:30", "11:00", "12:00", "13:00", "16:30"]
# Per kind: until next start / 2 h (1 when none that close), since last start / 3 h (1 when none),
# running, size of the next start (0 beyond 2 h), size of the last start (0 beyond 3 h).
A = [
    [0.5, 1, 0, 0.5, 0],
    [0.25, 1, 0, 0.5, 0],
    [1, 0, 1, 0, 0.5],
    [1, 1 / 12, 1, 0, 0.5],
    [1, 1 / 6, 0, 0, 0.5],  # the end is exclusive
    [1, 1 / 3, 0, 0, 0.5],  # the next start exactly 2 h ahead is at the cap: no size yet
    [0.5, 2 / 3, 0, 1, 0.5],
    [1, 0, 1, 0, 1],
    [1, 1, 0, 0, 0],  # 3.5 h after the last start: beyond the cap
]
B = [
    [1, 1, 0, 0, 0],
    [0.75, 1, 0, 1, 0],
    [0.5, 1, 0, 1, 0],
    [0.375, 1, 0, 1, 0],
    [0.25, 1, 0, 1, 0],
    [1, 0, 1, 0, 1],
    [1, 1 / 3, 0, 0, 1],
    [1, 2 / 3, 0, 0, 1],
    [1, 1, 0, 0, 0],
]


def test_event_features_by_hand():
    index = pd.DatetimeIndex([pd.Timestamp(f"2026-03-05 {t}") for t in TIMES])
    out = event_features(index, CALENDAR, SPEC)  # [T, 10]
    assert out.dtype == np.float32 and out.shape == (len(TIMES), 10)
    np.testing.assert_allclose(out, np.hstack([np.array(A), np.array(B)]), atol=1e-6)


def test_no_calendar_or_no_event_of_a_kind_reads_as_nothing_scheduled():
    index = pd.DatetimeIndex([pd.Timestamp(f"2026-03-05 {t}") for t in TIMES])
    nothing = np.tile([1.0, 1.0, 0.0, 0.0, 0.0], (len(TIMES), 2))
    np.testing.assert_array_equal(event_features(index, None, SPEC), nothing)
    only_b = Calendar.of([e for e in CALENDAR.events if e.kind == "b"])
    out = event_features(index, only_b, SPEC)
    np.testing.assert_array_equal(out[:, :5], nothing[:, :5])
    np.testing.assert_allclose(out[:, 5:], np.array(B), atol=1e-6)


# -- make_windows -------------------------------------------------------------------------------------------------


def test_make_windows_appends_the_event_inputs_at_past_and_future_positions():
    index = pd.date_range("2026-03-05 09:00", periods=40, freq=STEP)  # until 12:15
    values = 100.0 + np.arange(40, dtype=float)
    spec = WindowSpec(lookback=6, horizon=4, season=0)
    scaler = Scaler.fit(values, lookback=6)
    origins = np.array([12, 40])  # 10:00, and the end of the series (the horizon lies after it)

    def windows(**kwargs):
        return make_windows(
            values, index, spec=spec, scaler=scaler, origins=origins, with_target=False, step=STEP, **kwargs
        )

    plain = windows(events=CALENDAR)  # no event_spec: the calendar is ignored
    assert plain.past.shape == (2, 6, 6) and plain.future.shape == (2, 4, 5)
    with_events = windows(events=CALENDAR, event_spec=SPEC)
    assert with_events.past.shape == (2, 6, 16) and with_events.future.shape == (2, 4, 15)
    np.testing.assert_array_equal(with_events.past[..., :6], plain.past)
    np.testing.assert_array_equal(with_events.future[..., :5], plain.future)
    for n, origin in enumerate(origins):
        past_times = pd.date_range(index[0] + (origin - 6) * STEP, periods=6, freq=STEP)
        future_times = pd.date_range(index[0] + origin * STEP, periods=4, freq=STEP)
        np.testing.assert_array_equal(with_events.past[n, :, 6:], event_features(past_times, CALENDAR, SPEC))
        np.testing.assert_array_equal(
            with_events.future[n, :, 5:], event_features(future_times, CALENDAR, SPEC)
        )
    assert with_events.future[1, 0, 5 + 2] == 0.0 and with_events.past[0, -1, 6 + 1] == 1.0, (
        "12:15 is after a's 10:30 end; at 09:55 nothing of a has started"
    )
    none_scheduled = windows(events=None, event_spec=SPEC)
    np.testing.assert_array_equal(
        none_scheduled.future[..., 5:], np.tile([1.0, 1.0, 0.0, 0.0, 0.0], (2, 4, 2))
    )


def test_size_hints_below_one_are_a_scale_too():
    """Hints in any unit: a kind whose hints average 0.5 (e.g. millions of viewers) scales by 0.5."""
    calendar = Calendar.of([_at("10:00", kind="a", expected=0.25), _at("12:00", kind="a", expected=0.75)])
    spec = EventFeatures.fit(calendar, start=pd.Timestamp("2026-03-05"), end=pd.Timestamp("2026-03-06"))
    assert spec.size_scale == (0.5,)

    index = pd.DatetimeIndex([pd.Timestamp("2026-03-05 09:30"), pd.Timestamp("2026-03-05 10:30")])
    out = event_features(index, calendar, spec)  # [2, 5]
    assert out[0, 3] == pytest.approx(0.5) and out[1, 4] == pytest.approx(0.5)


def _windows_at(origins, *, spec, events=CALENDAR, event_spec=SPEC, with_target=True):
    index = pd.date_range("2026-03-05 06:00", periods=120, freq=STEP)  # until 15:55
    values = 100.0 + 10.0 * np.sin(np.arange(120) / 7.0)
    scaler = Scaler.fit(values, lookback=spec.lookback)
    return make_windows(
        values,
        index,
        spec=spec,
        scaler=scaler,
        origins=np.asarray(origins, dtype=np.int64),
        with_target=with_target,
        step=STEP,
        events=events,
        event_spec=event_spec,
    )


def test_overlapping_windows_get_the_event_inputs_of_their_own_positions():
    """Many overlapping windows (a training epoch): every step reads the calendar at its own time."""
    spec = WindowSpec(lookback=6, horizon=4, season=0)
    origins = np.arange(40, 60)  # 09:20 .. 10:55, around a's 10:00 start and b's 11:00
    index = pd.date_range("2026-03-05 06:00", periods=120, freq=STEP)

    windows = _windows_at(origins, spec=spec)

    assert windows.past.shape == (20, 6, 16) and windows.future.shape == (20, 4, 15)
    for n, origin in enumerate(origins):
        past_times, future_times = index[origin - 6 : origin], index[origin : origin + 4]
        np.testing.assert_array_equal(windows.past[n, :, 6:], event_features(past_times, CALENDAR, SPEC))
        np.testing.assert_array_equal(windows.future[n, :, 5:], event_features(future_times, CALENDAR, SPEC))
    assert windows.past[:, :, 6 + 2].any(), "a runs from 10:00 inside these windows"


@pytest.mark.parametrize("season", [0, 24])
@pytest.mark.parametrize(
    "origins",
    [[30, 31, 33], [30, 31, 33, 70, 71, 120]],
    ids=["close-together", "far-apart"],  # the last one's horizon lies after the end of the series
)
def test_a_window_is_the_same_whichever_other_windows_are_built_with_it(season, origins):
    """Windows built together equal the same windows built one at a time."""
    spec = WindowSpec(lookback=6, horizon=4, season=season)
    together = _windows_at(origins, spec=spec, with_target=False)
    for n, origin in enumerate(origins):
        alone = _windows_at([origin], spec=spec, with_target=False)
        for field in ("past", "future", "level", "scale"):
            np.testing.assert_array_equal(
                getattr(together, field)[n], getattr(alone, field)[0], err_msg=field
            )


def test_no_origins_give_empty_windows_of_the_right_shape():
    """A series with no valid origin yet (too short, or every window crosses a gap) builds zero windows."""
    spec = WindowSpec(lookback=6, horizon=4, season=24)
    windows = _windows_at([], spec=spec)
    assert windows.past.shape == (0, 6, 16) and windows.future.shape == (0, 4, 15)
    assert windows.level.shape == (0, 1) and windows.scale.shape == (0,) and windows.target.shape == (0, 4)
    assert windows.origins.shape == (0,)
    plain = _windows_at([], spec=spec, events=None, event_spec=None, with_target=False)
    assert plain.past.shape == (0, 6, 6) and plain.future.shape == (0, 4, 5) and plain.target is None
