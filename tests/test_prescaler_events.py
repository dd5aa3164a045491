"""The prescaler's forecasts read the target's calendar; one that cannot be read is replaced by its last good copy,
then by none (tests/test_prescaler_calendar.py covers what the controller does then)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.errors import SourceError
from forecaster.event_profile import MARK_BEFORE_S, USE_AFTER_S
from forecaster.events import calendar_to_csv
from forecaster.prescaler.forecasts import StoreForecastProvider, fetch_forecast
from forecaster.prescaler.policy import parse_policy
from forecaster.scaling import EVENT_COLUMN
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.synthetic import live_streaming_events
from forecaster.store import ModelStore
from forecaster.training import fit_forecaster
from tests import prescaler_helpers
from tests.prescaler_helpers import policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("prescale-events")
    scenario = live_streaming_events(days=6, step="5m", seed=5)
    series, calendar = scenario.series, scenario.calendar
    model = fit_forecaster(
        series.iloc[:1200],
        model=ModelSettings(lookback="1h", hidden_size=8),
        train=TrainSettings(epochs=2, blend=False, max_windows_per_epoch=500),
        name="live-streaming",
        events=calendar,
    )
    store = ModelStore(root / "store")
    saved = store.save("live-streaming", model, metrics={}, now=pd.Timestamp("2026-01-11"))
    store.promote("live-streaming", saved.version, reason="test", now=pd.Timestamp("2026-01-11"))
    (root / "events.csv").write_text(calendar_to_csv(calendar))
    training = root / "training"
    training.mkdir()
    (training / "live-streaming.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "live-streaming",
                "prometheus": {"query": "sum(rate(x[1m]))", "step": "5m"},
                "model": {"lookback": "1h", "quantiles": [0.5, 0.9]},
                "events": {"file": str(root / "events.csv")},
                "store": str(root / "store"),
            }
        )
    )
    return series, calendar, model, training


def _provider(series, training, **seams):
    def fetch(settings, *, now, history):
        return series.loc[(series.index >= now - history) & (series.index < now)]

    return StoreForecastProvider(training_dir=training, fetch=fetch, **seams)


def test_forecasts_read_the_targets_calendar_and_name_upcoming_events(target):
    series, calendar, model, training = target
    # Just before a scheduled start, so that it falls inside the horizon.
    start = next(e.start for e in calendar.events if e.start.tz_localize(None) > series.index[1300])
    now = start.tz_localize(None).floor("5min") - pd.Timedelta(minutes=10)
    result = _provider(series, training).forecast(parse_policy(policy()), now)
    expected = model.predict(result.history, events=calendar)
    np.testing.assert_allclose(result.frame["p90"].to_numpy(), expected["p90"].to_numpy())
    assert start in [e.start for e in result.upcoming]
    without = model.predict(result.history, events=None)
    assert not np.allclose(without["p50"].to_numpy(), expected["p50"].to_numpy()), "the calendar is read"
    # The steps the entry reaches from its start (spec.quantileOutsideEvents plans its own quantile elsewhere).
    lag = (result.frame.index - start.tz_localize(None)).total_seconds()
    near = (lag >= -MARK_BEFORE_S) & (lag < USE_AFTER_S)
    assert near.any() and (~near).any()
    np.testing.assert_array_equal(result.frame[EVENT_COLUMN].to_numpy(), near.astype(float))


def test_a_calendar_that_goes_away_is_forecast_with_the_last_good_copy_then_without(target, tmp_path):
    """The target's calendar file (a mounted ConfigMap) disappears after a good read: the forecast keeps the
    last good copy for events.max_age_s, then is made without a calendar; the history source still works."""
    series, calendar, model, _ = target
    calendar_file = tmp_path / "events.csv"
    calendar_file.write_text(calendar_to_csv(calendar))
    training = tmp_path / "training"
    training.mkdir()
    config = yaml.safe_load((target[3] / "live-streaming.yaml").read_text())
    config["events"] = {"file": str(calendar_file), "max_age_s": 600}
    (training / "live-streaming.yaml").write_text(yaml.safe_dump(config))
    provider = _provider(series, training)
    pol = parse_policy(policy())
    now = series.index[1400]

    first, problem = fetch_forecast(provider, pol, now)
    assert problem is None and first.calendar.reason == "CalendarRead"
    calendar_file.unlink()
    within, problem = fetch_forecast(provider, pol, now + pd.Timedelta(minutes=5))
    assert problem is None, "a calendar outage is no forecast outage"
    assert within.calendar.reason == "LastGoodCalendar" and "No such file" in within.calendar.problem
    expected = model.predict(within.history, events=calendar)
    np.testing.assert_allclose(within.frame["p90"].to_numpy(), expected["p90"].to_numpy())
    beyond, problem = fetch_forecast(provider, pol, now + pd.Timedelta(minutes=15))
    assert problem is None and beyond.calendar.reason == "CalendarUnavailable" and beyond.upcoming == ()
    without = model.predict(beyond.history, events=None)
    np.testing.assert_allclose(beyond.frame["p90"].to_numpy(), without["p90"].to_numpy())
    # Without the calendar no step is said to be clear of events: the policy's quantile everywhere.
    assert EVENT_COLUMN in within.frame.columns and EVENT_COLUMN not in beyond.frame.columns


def test_a_calendar_source_that_errors_is_forecast_without_it(target):
    series, _, model, training = target

    def down(events, *, prometheus, now):
        raise SourceError("Prometheus at http://127.0.0.1:1 unreachable", hint="check it")

    provider = _provider(series, training, load_calendar=down)
    result, problem = fetch_forecast(provider, parse_policy(policy()), series.index[1400])
    assert problem is None and result.calendar.reason == "CalendarUnavailable"
    assert "unreachable" in result.calendar.problem
    without = model.predict(result.history, events=None)
    np.testing.assert_allclose(result.frame["p50"].to_numpy(), without["p50"].to_numpy())


# -- the status names the event ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "kind", "seen", "desired", "current", "message"),
    [
        (
            "a known kind, raising",
            "football",
            {"football": 11},
            42,
            10,
            "raising to 42 for football at 20:07 UTC, learned from 11 past events",
        ),
        (
            "already enough",
            "football",
            {"football": 11},
            10,
            10,
            "holding 10 for football at 20:07 UTC, learned from 11 past events",
        ),
        (
            "an unseen kind",
            "esports",
            {"football": 11},
            12,
            10,
            "raising to 12 for esports at 20:07 UTC, a kind never seen in training",
        ),
    ],
)
def test_preparing_for_names_the_event(description, kind, seen, desired, current, message):
    from forecaster.events import Event
    from forecaster.prescaler.loop import preparing_for

    event = Event(start=pd.Timestamp("2024-05-01 20:07", tz="UTC"), kind=kind)
    block = preparing_for(event, seen=seen, desired=desired, current=current)
    assert block["message"].startswith(message), description
    assert block["start"] == "2024-05-01T20:07:00Z" and block["learnedFrom"] == seen.get(kind, 0)


def test_the_policy_status_names_the_event_it_prepares_for(fake_api, kube):
    from prometheus_client import CollectorRegistry

    from forecaster.events import Event
    from forecaster.prescaler.forecasts import ForecastResult
    from forecaster.prescaler.loop import Controller
    from forecaster.prescaler.metrics import PrescalerMetrics
    from forecaster.prescaler.policy_sources import CrdPolicySource
    from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, forecast_frame, history, hpa

    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    match = Event(start=(NOW + pd.Timedelta(minutes=7)).tz_localize("UTC"), kind="football")
    result = ForecastResult(
        frame=forecast_frame(NOW, p90=1000.0),
        history=history(NOW, value=500.0),
        upcoming=(match,),
        events_seen={"football": 11},
    )
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=FakeForecasts(**{"live-api": result}),
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
    )
    [outcome] = ctl.tick(NOW)
    assert outcome.ready and outcome.desired == 10
    status = fake_api.get("prescalepolicies", NS, "live-api")["status"]
    assert (
        status["preparingFor"]["message"]
        == "raising to 10 for football at 20:07 UTC, learned from 11 past events"
    )
    assert status["preparingFor"]["kind"] == "football" and status["preparingFor"]["learnedFrom"] == 11


# -- entries judged from the minute load between the model's origins -----------------------------------------


def _hold_end_min(profile) -> int:
    """Minutes after its announced start that an entry without a rise is held (then dropped)."""
    from forecaster.event_profile import DETECT_S

    held_s = len(profile.still_comes) * 60.0 if profile.still_comes is not None else profile.late_s
    return int(round((held_s + DETECT_S) / 60.0))


def _ghost_setup(target, tmp_path):
    """The target's calendar plus one football entry that never happens, in a quiet hour, and a ``now`` one
    minute after it is dropped, between two of the 5-minute model's origins (the origin still holds it)."""
    from forecaster.events import Calendar, Event

    series, calendar, model, _ = target
    hold = _hold_end_min(model.event_profile)
    starts = [e.start.tz_localize(None) for e in calendar.events]
    for t in series.index[1300:1700:12]:
        if all(abs((t - s).total_seconds()) > 3 * 3600 for s in starts):
            break
    # The entry's minute: ghost + hold lands 2 minutes past a 5-minute point.
    ghost_at = t + pd.Timedelta(minutes=(2 - hold) % 5)
    hints = [e.expected for e in calendar.events if e.kind == "football"]
    ghost = Event(start=ghost_at.tz_localize("UTC"), kind="football", expected=float(np.max(hints)))
    with_ghost = Calendar.of([*calendar.events, ghost])
    calendar_file = tmp_path / "events.csv"
    calendar_file.write_text(calendar_to_csv(with_ghost))
    training = tmp_path / "training"
    training.mkdir()
    config = yaml.safe_load((target[3] / "live-streaming.yaml").read_text())
    config["events"] = {"file": str(calendar_file)}
    (training / "live-streaming.yaml").write_text(yaml.safe_dump(config))
    now = ghost_at + pd.Timedelta(minutes=hold + 1)
    return training, with_ghost, ghost, now


def _minute_provider(series, training, *, reads, fail=False):
    from forecaster.simulate import prepare_trace

    minutes = prepare_trace(series)

    def fetch(settings, *, now, history):
        reads.append(settings.step)
        if settings.step == "1m":
            if fail:
                raise SourceError("Prometheus at http://127.0.0.1:1 unreachable", hint="check it")
            return minutes.loc[(minutes.index >= now - history) & (minutes.index < now)]
        return series.loc[(series.index >= now - history) & (series.index < now)]

    return StoreForecastProvider(training_dir=training, fetch=fetch)


def test_an_entry_without_a_rise_is_released_a_minute_after_the_evidence_not_at_the_next_origin(
    target, tmp_path
):
    """The model forecasts every 5 minutes; the prescaler reads the load every minute: an entry that did not
    start is dropped from the forecast the minute its hold ends (the origin, 3 minutes earlier, still held it),
    and a minute read that fails keeps the held forecast (fail safe)."""
    from forecaster.event_profile import USE_AFTER_S

    series, calendar, model, _ = target
    training, with_ghost, ghost, now = _ghost_setup(target, tmp_path)
    reads: list[str] = []
    result = _minute_provider(series, training, reads=reads).forecast(parse_policy(policy()), now)
    assert reads == ["5m", "1m"], "one extra read, at a 1-minute step, while an entry is near"
    held = model.predict(result.history, events=with_ghost)  # judged at the model's origin
    without = model.predict(result.history, events=calendar)  # as if the entry had never been announced
    rows = pd.DatetimeIndex(held.index) < ghost.start.tz_localize(None) + pd.Timedelta(seconds=USE_AFTER_S)
    assert (held["p50"].to_numpy()[rows] > 1.2 * without["p50"].to_numpy()[rows]).all(), "the origin held it"
    # Released: as if never announced (within the level read from the minute load instead of the 5-minute one),
    # and its steps no longer marked for the event quantile (spec.quantileOutsideEvents plans them again).
    np.testing.assert_allclose(result.frame["p50"].to_numpy(), without["p50"].to_numpy(), rtol=0.05)
    assert (result.frame[EVENT_COLUMN].to_numpy()[rows] == 0.0).all()

    failing: list[str] = []
    safe = _minute_provider(series, training, reads=failing, fail=True).forecast(parse_policy(policy()), now)
    assert failing == ["5m", "1m"]
    np.testing.assert_allclose(safe.frame["p50"].to_numpy(), held["p50"].to_numpy())
    # Judged from the model's own history (its origin still waits for the stream): still marked.
    assert (safe.frame[EVENT_COLUMN].to_numpy()[rows] == 1.0).all()


def test_no_minute_read_far_from_any_entry(target, tmp_path):
    series, _, _, _ = target
    training, _, ghost, _ = _ghost_setup(target, tmp_path)
    reads: list[str] = []
    far = ghost.start.tz_localize(None) + pd.Timedelta(hours=1, minutes=2)
    _minute_provider(series, training, reads=reads).forecast(parse_policy(policy()), far)
    assert reads == ["5m"]


def test_the_controller_releases_an_entry_without_a_rise_from_the_minute_load(
    target, tmp_path, fake_api, kube
):
    """A controller tick at a fixed clock against the fake API server: with the minute read the entry that never
    started is released (fewer replicas than the model's origin asks for); when that read fails, the controller
    keeps the capacity raised for it (fail safe: a missing read never lowers it)."""
    from prometheus_client import CollectorRegistry

    from forecaster.prescaler.loop import Controller
    from forecaster.prescaler.metrics import PrescalerMetrics
    from forecaster.prescaler.policy_sources import CrdPolicySource
    from tests.prescaler_helpers import NS, deployment, hpa

    series, _, _, _ = target
    training, _, _, now = _ghost_setup(target, tmp_path)
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(policy())
    desired = {}
    for name, fail in (("minute read", False), ("minute read failing", True)):
        ctl = Controller(
            policies=CrdPolicySource(kube),
            forecasts=_minute_provider(series, training, reads=[], fail=fail),
            kube=kube,
            metrics=PrescalerMetrics(CollectorRegistry()),
        )
        [outcome] = ctl.tick(now)
        assert outcome.ready, name
        desired[name] = outcome.desired
        assert (
            fake_api.get("prescalepolicies", NS, "live-api")["status"]["desiredReplicas"] == outcome.desired
        )
    assert desired["minute read"] < desired["minute read failing"], desired


def test_a_model_trained_without_a_calendar_forecasts_although_its_target_now_has_one(target, tmp_path):
    """The target's config gained an events source, but the promoted model was trained before it (it reads no
    calendar): the prescaler forecasts with the model it has, as the model was trained, rather than failing
    every forecast until the next training."""
    series, calendar, _, training = target
    plain = fit_forecaster(
        series.iloc[:1200],
        model=ModelSettings(lookback="1h", hidden_size=8),
        train=TrainSettings(epochs=1, blend=False, max_windows_per_epoch=200),
        name="live-streaming",
    )
    assert getattr(plain, "events", None) is None
    config = yaml.safe_load((training / "live-streaming.yaml").read_text())
    store = ModelStore(tmp_path / "store")
    saved = store.save("live-streaming", plain, metrics={}, now=pd.Timestamp("2026-01-11"))
    store.promote("live-streaming", saved.version, reason="test", now=pd.Timestamp("2026-01-11"))
    config["store"] = str(tmp_path / "store")
    own = tmp_path / "training"
    own.mkdir()
    (own / "live-streaming.yaml").write_text(yaml.safe_dump(config))
    now = series.index[1400]
    result, problem = fetch_forecast(_provider(series, own), parse_policy(policy()), now)
    assert problem is None, problem
    expected = plain.predict(result.history)
    np.testing.assert_allclose(result.frame["p90"].to_numpy(), expected["p90"].to_numpy())
