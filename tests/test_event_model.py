"""Event inputs of the model: no leakage past the origin, a calendar that helps, old artifacts untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import DataError
from forecaster.events import Calendar, Event
from forecaster.model import Forecaster
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.synthetic import EventKind, ScheduleShape, live_streaming_events
from forecaster.training import fit_forecaster
from forecaster.windows import EventFeatures, Scaler, WindowSpec, event_features, make_windows

STEP = pd.Timedelta(minutes=5)
UTC = "UTC"
MATCH = EventKind("match", jump=1.5, rise_min=4.0, decay_min=60.0, duration_min=100.0, weight=1.0)


def _spec(kinds=("match",)) -> EventFeatures:
    return EventFeatures(kinds=kinds, size_scale=(0.0,) * len(kinds), events_seen=(1,) * len(kinds))


def test_event_inputs_at_a_start_inside_the_horizon():
    index = pd.date_range("2026-03-05 19:00", periods=36, freq=STEP)
    cal = Calendar.of([Event(start=pd.Timestamp("2026-03-05 20:00", tz=UTC), kind="match")])
    f = event_features(index, cal, _spec())  # [T, 5]: until, since, running, size_next, size_last
    at = list(index).index(pd.Timestamp("2026-03-05 20:00"))
    assert f[at - 1, 0] == pytest.approx(300 / 7200) and f[at - 1, 1] == 1.0 and f[at - 1, 2] == 0.0
    assert f[at, 1] == 0.0 and f[at, 2] == 1.0 and f[at, 4] == 1.0, "the start step: running, since 0"
    assert f[at + 12, 2] == 0.0, "an hour later (no end given) it no longer runs"
    assert f[at + 12, 1] == pytest.approx(3600 / 10800)
    unknown = event_features(index, cal.relabel({"match": "concert"}), _spec())
    assert (unknown[:, :2] == 1.0).all() and (unknown[:, 2:] == 0.0).all(), (
        "kinds the model lacks are no input"
    )


def test_no_leakage_inputs_at_the_origin_use_only_history_and_the_schedule():
    n = 400
    index = pd.date_range("2026-03-01", periods=n, freq=STEP)
    rng = np.random.default_rng(0)
    values = 100 + rng.random(n) * 10
    spec = WindowSpec(lookback=24, horizon=6, season=0)
    scaler = Scaler.fit(values, lookback=24)
    origin = 300
    start = index[origin + 3].tz_localize(UTC)  # scheduled inside the horizon
    cal = Calendar.of(
        [Event(start=start, kind="match"), Event(start=index[100].tz_localize(UTC), kind="match")]
    )

    def windows(vals, calendar):
        return make_windows(
            vals,
            index,
            spec=spec,
            scaler=scaler,
            origins=np.array([origin]),
            with_target=False,
            step=STEP,
            events=calendar,
            event_spec=_spec(),
        )

    base = windows(values, cal)
    changed = values.copy()
    changed[origin:] *= 5  # what happens after the origin (the spike itself) must not change the inputs
    other = windows(changed, cal)
    for a, b in ((base.past, other.past), (base.future, other.future), (base.level, other.level)):
        np.testing.assert_array_equal(a, b)
    # The horizon's event inputs are the schedule's: at step 3 the match starts.
    ev_future = base.future[0, :, -5:]  # [H, 5]
    assert ev_future[3, 1] == 0.0 and ev_future[3, 2] == 1.0 and (ev_future[:3, 2] == 0.0).all()
    # Without the future entry the inputs differ: the schedule is what carries the event.
    without = windows(values, Calendar.of([cal.events[0]]))
    assert not np.array_equal(without.future, base.future)
    np.testing.assert_array_equal(without.past[..., :6], base.past[..., :6])


def _scenario(seed: int = 3):
    schedule = ScheduleShape(
        kinds=(MATCH,),
        events_per_day=3.0,
        cancelled_fraction=0.0,
        late_fraction=0.0,
        surprise_spikes_per_week=0.0,
        hinted=False,
    )
    return live_streaming_events(days=14, step=STEP, seed=seed, schedule=schedule)


TINY_MODEL = ModelSettings(lookback="2h", horizon="30m", quantiles=(0.5, 0.9), hidden_size=16)
TINY_TRAIN = TrainSettings(
    epochs=25, patience=6, learning_rate=5e-3, blend=False, seed=0, max_windows_per_epoch=3000
)


@pytest.fixture(scope="module")
def trained():
    scenario = _scenario()
    series = scenario.series
    train = series.iloc[: int(len(series) * 0.75)]
    with_cal = fit_forecaster(
        train, model=TINY_MODEL, train=TINY_TRAIN, name="with", events=scenario.calendar
    )
    without = fit_forecaster(train, model=TINY_MODEL, train=TINY_TRAIN, name="without")
    return scenario, len(train), with_cal, without


def test_a_calendar_forecasts_scheduled_spikes_at_the_origin(trained):
    scenario, split, with_cal, without = trained
    series = scenario.series
    H = with_cal.horizon_steps
    index = series.index
    # Origins in the held-out range with a scheduled start 1..H-1 steps ahead: the spike is not visible yet.
    starts = [int(index.searchsorted(e.start.tz_localize(None))) for e in scenario.calendar.events]
    origins = sorted({s - k for s in starts for k in range(1, H) if split + 30 <= s - k <= len(series) - H})
    assert len(origins) > 40, "the held-out range has scheduled starts to judge"
    actual = np.stack([series.to_numpy()[t : t + H] for t in origins])  # [N, H]

    def wape(model, events):
        frames = model.predict_many(series, origins=np.array(origins), events=events)
        pred = np.stack([f["p50"].to_numpy() for f in frames])
        return float(np.abs(pred - actual).sum() / np.abs(actual).sum())

    w_cal, w_none = wape(with_cal, scenario.calendar), wape(without, None)
    assert w_cal < 0.7 * w_none, (w_cal, w_none)
    # The same model told nothing is scheduled forecasts no spike: the calendar is what it reads.
    assert wape(with_cal, Calendar()) > w_cal


def test_events_are_saved_and_old_style_models_have_no_event_section(trained, tmp_path):
    scenario, split, with_cal, without = trained
    assert "events" not in without.manifest() and without.events is None
    section = with_cal.manifest()["events"]
    assert section["kinds"] == ["match"] and section["events_seen"][0] >= 20
    profile = with_cal.manifest()["event_profile"]
    assert profile["kinds"] == ["match"] and "event_profile" not in without.manifest()
    assert max(profile["uplift"][0]) > 0.5 * MATCH.jump, "the profile learnt the match's height"
    with_cal.save(tmp_path / "m")
    loaded = Forecaster.load(tmp_path / "m")
    history = scenario.series.iloc[: split + 100]
    a = with_cal.predict(history, events=scenario.calendar)
    b = loaded.predict(history, events=scenario.calendar)
    pd.testing.assert_frame_equal(a, b)
    assert "note" not in a.attrs


def test_predict_says_what_it_did_with_the_calendar(trained):
    scenario, split, with_cal, without = trained
    history = scenario.series.iloc[: split + 100]
    t = history.index[-1].tz_localize(UTC) + pd.Timedelta(minutes=10)
    assert "none was given" in with_cal.predict(history).attrs["note"]
    assert "ignored" in without.predict(history, events=scenario.calendar).attrs["note"]
    odd = Calendar.of([*scenario.calendar.events, Event(start=t, kind="esports")])
    out = with_cal.predict(history, events=odd)
    assert "esports never seen in training" in out.attrs["note"]
    # With one known kind, the default effect of an unseen kind is that kind's effect.
    as_match = with_cal.predict(history, events=odd.relabel({"esports": "match"}))
    np.testing.assert_allclose(out.to_numpy(), as_match.to_numpy())


def test_a_calendar_without_events_in_the_training_range_is_refused():
    series = _scenario().series.iloc[:2000]
    late = Calendar.of([Event(start=pd.Timestamp("2030-01-01", tz=UTC), kind="match")])
    with pytest.raises(DataError, match="no event between"):
        fit_forecaster(series, model=TINY_MODEL, train=TINY_TRAIN, events=late)
