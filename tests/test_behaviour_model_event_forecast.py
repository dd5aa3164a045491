"""The event profile's forecast where a user meets it (:meth:`forecaster.event_profile.EventProfile.forecast`):
the step of a start carries its uplift (the load jumps in the first minutes of a match), and the level the
uplift multiplies is the median of the last two hours (a burst there, or an idle service's one spike, does
not lift it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecaster.event_profile import EventProfile
from forecaster.events import Calendar, Event

INDEX = pd.date_range("2026-03-05 16:00", periods=60, freq="5min")  # 5-minute steps, 16:00 to 20:55
ORIGIN = 48  # the forecast's first step is 20:00


def _profile(uplift=(0.5, 1.0, 1.0, 0.5, 0.2, 0.0)) -> EventProfile:
    """A 5-minute profile whose uplift is half the load at the start's own step, then doubles it."""
    return EventProfile(
        kinds=("match",),
        size_scale=(0.0,),
        events_seen=(10,),
        step_s=300.0,
        uplift=np.array([uplift], dtype=float),
        daily_shape=np.ones(1),
        upper_ratio=np.ones((2, 6)),
    )


def _forecast(values: np.ndarray, *, at: int | None = ORIGIN, origin: int = ORIGIN) -> np.ndarray:
    calendar = Calendar.of([Event(INDEX[at].tz_localize("UTC"), "match")]) if at is not None else None
    point, _ = _profile().forecast(values, INDEX, np.array([origin]), horizon=6, calendar=calendar)
    return point[0]


@pytest.mark.parametrize("at", [ORIGIN, ORIGIN + 2])
def test_the_step_of_a_start_carries_its_uplift(at):
    """A match announced at a forecast step: that very step is already 1.5x (the first minutes of a match,
    when the load jumps), the next ones 2x; the steps before it the level alone."""
    point = _forecast(np.full(60, 100.0), at=at)
    lag = np.arange(6) - (at - ORIGIN)
    expected = np.where(
        lag >= 0, 100.0 * (1 + np.array([0.5, 1.0, 1.0, 0.5, 0.2, 0.0])[np.clip(lag, 0, 5)]), 100
    )
    np.testing.assert_allclose(point, expected, rtol=1e-9)


def test_a_burst_in_the_last_two_hours_does_not_lift_the_level():
    """Two hours at 100 with an unannounced burst of 30 minutes at 400 just before the origin: the level the
    next match's uplift multiplies is still 100 (their median), not their mean (175)."""
    values = np.full(60, 100.0)
    values[ORIGIN - 6 : ORIGIN] = 400.0
    point = _forecast(values)
    np.testing.assert_allclose(point[0], 150.0, rtol=1e-9)
    np.testing.assert_allclose(point[1], 200.0, rtol=1e-9)


def test_an_idle_service_with_one_spike_forecasts_its_idle_level():
    """A service idle (0) for two hours but for one spike: its level is 0, and nothing is forecast for it,
    not the spike spread over the hours (a floor held for load that is not there)."""
    values = np.zeros(60)
    values[ORIGIN - 3] = 600.0
    np.testing.assert_allclose(_forecast(values, at=None), 0.0, atol=1e-9)
    np.testing.assert_allclose(_forecast(values), 0.0, atol=1e-9)


def test_around_a_start_each_upper_quantile_gets_its_own_share_of_the_profiles_band():
    """The profile's band is fitted at its upper quantile (p90: 1.5x the point); a p75 lies inside it as a
    normal spread would put it (z(0.75) / z(0.9) of the way), not at the p90."""
    from statistics import NormalDist

    from forecaster.event_profile import apply_event_profile

    profile = EventProfile(**{**_profile().__dict__, "upper_ratio": np.full((2, 6), 1.5)})
    calendar = Calendar.of([Event(INDEX[ORIGIN].tz_localize("UTC"), "match")])
    network = np.stack([np.full((1, 6), v) for v in (100.0, 110.0, 120.0)], axis=-1)  # p50, p75, p90
    out = apply_event_profile(
        profile,
        network,
        values=np.full(60, 100.0),
        index=INDEX,
        origins=np.array([ORIGIN]),
        quantiles=(0.5, 0.75, 0.9),
        calendar=calendar,
    )[0]
    z = NormalDist().inv_cdf
    np.testing.assert_allclose(out[:, 2], 1.5 * out[:, 0])
    np.testing.assert_allclose(out[:, 1], out[:, 0] * (1 + 0.5 * z(0.75) / z(0.9)))
    assert (out[:, 0] < out[:, 1]).all() and (out[:, 1] < out[:, 2]).all()


def test_a_started_stream_is_judged_against_the_level_of_the_last_two_hours_only():
    """Three hours at 300 then two at 100 (a quieter evening), and a stream that started 20 minutes ago
    doubling the load: judged against the last two hours' level (100) it has started, at its size; against
    the whole history's (300) the doubled load would look like no stream at all."""
    minutes = pd.date_range("2026-03-05 15:00", "2026-03-05 20:20", freq="1min")
    t = ((minutes - minutes[0]).total_seconds()).to_numpy()
    values = np.where(minutes < pd.Timestamp("2026-03-05 18:00"), 300.0, 100.0)
    start = pd.Timestamp("2026-03-05 20:00")
    values = np.where(minutes >= start, 200.0, values)
    profile = EventProfile(
        kinds=("match",),
        size_scale=(0.0,),
        events_seen=(10,),
        step_s=60.0,
        uplift=np.ones((1, 240)),  # doubles the load for four hours from its start
        daily_shape=np.ones(1),
        upper_ratio=np.ones((2, 6)),
    )
    times_s = minutes.as_unit("ns").asi8 / 1e9
    calendar = Calendar.of([Event(start.tz_localize("UTC"), "match")])
    uplift = profile.judged_uplift(
        values,
        times_s,
        last_s=float(times_s[-1]),
        at_s=times_s[-1] + 60.0 * np.arange(1, 6),
        calendar=calendar,
    )
    assert t[-1] > 5 * 3600  # the history reaches back beyond the two hours
    np.testing.assert_allclose(uplift, 1.0, rtol=0.05)


def test_a_long_event_that_started_before_the_level_window_still_carries_its_tail():
    """A four-hour stream that started two and a half hours ago (before the two hours the level is read from)
    and decays linearly: its uplift is still taken out of the level (100, not the load's 160) and its
    declining tail is forecast, not a flat line at today's load."""
    g = np.linspace(1.0, 0.0, 49)  # 4 hours at 5-minute knots
    profile = dataclasses.replace(_profile(), uplift=g[None, :])
    start = ORIGIN - 30
    lag = np.arange(60) - start
    values = 100.0 * (1 + np.where(lag >= 0, g[np.clip(lag, 0, 48)], 0.0))
    calendar = Calendar.of([Event(INDEX[start].tz_localize("UTC"), "match")])
    point, _ = profile.forecast(values, INDEX, np.array([ORIGIN]), horizon=6, calendar=calendar)
    np.testing.assert_allclose(point[0], values[ORIGIN : ORIGIN + 6], rtol=1e-6)


def test_the_level_is_read_from_the_last_two_hours_not_the_whole_history():
    """Two hours at 300, then two at 100 (a quieter evening): the next match's uplift multiplies 100."""
    values = np.where(np.arange(60) < ORIGIN - 24, 300.0, 100.0)
    np.testing.assert_allclose(_forecast(values)[:2], [150.0, 200.0], rtol=1e-9)


def test_a_started_stream_is_followed_at_most_three_times_its_announced_size():
    """Twenty minutes after its start the load shows ten times the announced uplift (a misread: another
    spike on top): the stream is followed at three times its size at most, not at ten."""
    profile = dataclasses.replace(_profile(), uplift=np.ones((1, 49)))
    start = ORIGIN - 4
    values = np.where(np.arange(60) >= start, 1100.0, 100.0)
    calendar = Calendar.of([Event(INDEX[start].tz_localize("UTC"), "match")])
    point, _ = profile.forecast(values, INDEX, np.array([ORIGIN]), horizon=6, calendar=calendar)
    np.testing.assert_allclose(point[0], 400.0, rtol=1e-6)


def test_revising_by_the_minute_a_profile_that_takes_the_whole_load_away_stays_a_number():
    """A kind whose learnt effect is to take the load away (a maintenance window: uplift -1): revised by the
    minute, the steps it reaches are a number (zero load), not 0 / 0."""
    from forecaster.event_profile import revise_by_minute

    profile = dataclasses.replace(_profile(), uplift=np.full((1, 49), -1.0))
    minutes = pd.date_range("2026-03-05 18:00", "2026-03-05 20:02", freq="1min")
    history = pd.Series(100.0, index=minutes)
    origin = pd.Timestamp("2026-03-05 20:00")
    frame = pd.DataFrame(
        {"p50": 0.0, "p90": 0.0}, index=pd.date_range("2026-03-05 20:05", periods=6, freq="5min")
    )
    calendar = Calendar.of([Event(pd.Timestamp("2026-03-05 20:10", tz="UTC"), "match")])
    out = revise_by_minute(
        frame, history=history, now=minutes[-1], origin=origin, profile=profile, calendar=calendar
    )
    assert np.isfinite(out.to_numpy()).all(), out


def test_a_start_that_fits_equally_well_at_several_delays_is_read_at_the_earliest():
    """A 5-minute series whose stream shows at the first sample after its announced 00:00 start: any real start
    from 1 to 5 minutes late explains the samples exactly (the kind's uplift is flat for its first 15 minutes),
    so the start is read at the earliest of them, 1 minute late. Its decay is then forecast from there (at
    25 minutes after the announced start, 24 minutes into the stream: 0.6 of the uplift), not 4 minutes
    later (still 1.0: a floor held up for minutes the stream no longer needs)."""
    g = np.array([1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125] + [0.0] * 20)  # knots every 5 minutes from the start
    profile = EventProfile(
        kinds=("final",),
        size_scale=(0.0,),
        events_seen=(10,),
        step_s=300.0,
        uplift=g[None, :],
        daily_shape=np.ones(1),
        upper_ratio=np.ones((2, 10)),
        late_s=1800.0,
    )
    index = pd.date_range("2026-03-05 00:00", periods=300, freq="5min")
    calendar = Calendar.of([Event(start=index[150].tz_localize("UTC"), kind="final")])
    values = np.full(300, 100.0)
    values[151:154] = 200.0  # the uplift at 5, 10 and 15 minutes after the announced start
    point, _ = profile.forecast(values, index, np.array([154]), horizon=4, calendar=calendar)
    lags_s = (
        np.arange(154, 158) - 150
    ) * 300.0 - 60.0  # each step's time since the start read, 1 minute late
    np.testing.assert_allclose(point[0], 100.0 * (1.0 + np.interp(lags_s, np.arange(len(g)) * 300.0, g)))
    assert point[0, 0] == pytest.approx(160.0)
