"""What the event profile learns about lateness from a clean history (:func:`forecaster.event_profile.fit_event_profile`):
how late a stream may start before its entry counts as cancelled is a 90% upper confidence bound of the 95th
percentile of the delays of the training starts that showed up, never rounded below it (else a stream as late
as the usual late one is dropped before it starts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forecaster.calibration as calibration
import forecaster.event_profile as event_profile
from forecaster.event_profile import (
    DEFAULT_LATE_S,
    LATE_QUANTILE,
    EventProfile,
    apply_event_profile,
    fit_event_profile,
    lag_knots,
    quantile_upper_bound,
    still_comes_table,
    without_misreads,
)
from forecaster.events import Calendar, Event
from tests.helpers import ProfileOnly

T0 = pd.Timestamp("2026-03-01")


def _history(delays_min: list[float], *, days: int = 7):
    """A 1-minute series with a daily swing and one announced start every 13.3 hours (a different time of day
    each: the daily shape cannot absorb them); the stream of entry i rises ``delays_min[i]`` minutes late."""
    index = pd.date_range(T0, periods=days * 1440, freq="1min")
    t = (index - T0).total_seconds().to_numpy()
    y = 100.0 + 10.0 * np.sin(2 * np.pi * t / 86400)
    events = []
    for i, late in enumerate(delays_min):
        announced = (T0 + pd.Timedelta(hours=5 + 13.3 * i)).round("min")
        events.append(Event(start=announced.tz_localize("UTC"), kind="match"))
        lag = t - (announced + pd.Timedelta(minutes=late) - T0).total_seconds()
        rise = np.minimum(lag / 180, 1.0) * np.exp(-np.maximum(lag - 180, 0) / 1800)
        y = y * (1 + 1.5 * np.where((lag >= 0) & (lag < 3600), rise, 0.0))
    return y, index, Calendar.of(events)


@pytest.mark.parametrize(
    ("delays_min", "late_s"),
    [
        # 9 on time, one 5 minutes late: the plain 95th percentile is 165 s, but from ten starts only the
        # largest bounds it with 90% confidence (P(all ten below it) = 0.95^10 = 0.60): held 5 minutes.
        ([0] * 9 + [5], 300.0),
        ([0] * 9 + [7], 420.0),
    ],
)
def test_the_learnt_lateness_covers_the_late_starts_rounded_up_to_a_minute(delays_min, late_s):
    y, index, calendar = _history(delays_min)
    profile = fit_event_profile(y, index, calendar, season=1440, horizon=10)
    quantile_s = float(np.quantile(np.array(delays_min) * 60.0, LATE_QUANTILE))
    assert profile.late_s >= quantile_s
    assert profile.late_s == late_s


def test_five_starts_are_enough_to_learn_the_lateness():
    # The fewest starts the lateness is learnt from (fewer keep the default): exactly five must count.
    y, index, calendar = _history([0, 0, 0, 0, 5])
    profile = fit_event_profile(y, index, calendar, season=1440, horizon=10)
    assert profile.late_s == 300.0 != DEFAULT_LATE_S  # five starts: the bound is the largest delay, 300 s


def test_with_a_hundred_starts_the_bound_steps_below_the_largest_delays():
    """A hundred starts, the latest read 20 minutes late (a start misread next to an unannounced spike): with
    that many, the 90% bound of the 95th percentile is the 98th smallest delay, 5 minutes, not the misread.
    (Below 77 starts the bound is the largest delay: the misread would hold entries longer, never shorter.)"""
    delays = [0] * 90 + [1, 2, 3, 4, 4, 4, 5, 5, 5, 20]
    y, index, calendar = _history(delays, days=57)
    profile = fit_event_profile(y, index, calendar, season=1440, horizon=10)
    assert profile.late_s == 300.0


def test_a_delay_far_beyond_the_late_ones_is_a_misread_not_the_hold():
    """Forty starts, seven late by 1-6 minutes and one read 27 minutes late (an entry that never started,
    followed by an unannounced spike): with forty starts the bound is the largest delay, so without the
    misread rule every later entry would be held 27 minutes; beyond the late delays' outer fence it is left
    out and the hold is the latest real delay, 6 minutes."""
    delays = [0] * 32 + [1, 2, 3, 4, 5, 6, 6, 27]
    y, index, calendar = _history(delays, days=23)
    profile = fit_event_profile(y, index, calendar, season=1440, horizon=10)
    assert profile.late_s == 360.0


@pytest.mark.parametrize(
    ("delays_min", "kept_min"),
    [
        ([0, 0, 5], [0, 0, 5]),  # one late delay: the fence is 5 + 3 x one step
        ([0, 0, 5, 8], [0, 0, 5, 8]),
        ([0, 0, 5, 9], [0, 0, 5, 9]),  # Q3 + 3 max(IQR, 1 min) = 8.25 + 3 x 1.5 = 12.75
        ([0, 1, 2, 3, 4, 5, 6, 27], [0, 1, 2, 3, 4, 5, 6]),  # fence 4.5 + 3 x 3 = 13.5
        ([0, 5, 10, 15, 20, 25], [0, 5, 10, 15, 20, 25]),  # a long tail spread evenly is no misread
        ([0, 0, 0], [0, 0, 0]),
    ],
)
def test_without_misreads_leaves_out_the_late_delays_beyond_the_outer_fence(delays_min, kept_min):
    got = without_misreads([m * 60.0 for m in delays_min], step_s=60.0)
    assert got == [m * 60.0 for m in kept_min]


def test_the_misread_fence_is_at_least_three_training_steps_above_the_late_delays():
    # Four late streams read 2 minutes late (no spread: IQR 0) and one 400 s late: on a 1-minute grid the
    # fence is 120 + 3 x 60 = 300 s and the 400 s is left out; read on a 5-minute grid (a delay is known to a
    # few minutes there) the fence is 120 + 3 x 300 = 1020 s and it is a late stream.
    delays = [0.0, 120.0, 120.0, 120.0, 120.0]
    assert without_misreads([*delays, 400.0], step_s=60.0) == delays
    assert without_misreads([*delays, 400.0], step_s=300.0) == [*delays, 400.0]
    assert without_misreads([*delays, 1100.0], step_s=300.0) == delays


def test_the_quantile_bound_is_the_binomial_order_statistic():
    """Brute force: the bound is the smallest order statistic whose chance of lying at or above the true
    quantile (P(Binomial(n, q) <= k - 1)) reaches the confidence, and, drawn again and again from a known
    distribution, it lies at or above the true quantile at least that often (and not much more: the next
    order statistic down would not)."""
    from math import comb

    for n in (1, 5, 10, 44, 45, 60, 200):
        x = np.arange(n, dtype=float)[::-1] * 3.0  # any order: the bound sorts
        cdf = np.cumsum([comb(n, j) * 0.95**j * 0.05 ** (n - j) for j in range(n)])
        k = int(np.argmax(cdf >= 0.9)) + 1 if (cdf >= 0.9).any() else n
        assert quantile_upper_bound(list(x), 0.95, 0.9) == np.sort(x)[k - 1], n
    rng = np.random.default_rng(0)
    draws = rng.exponential(size=(4000, 60))
    true_q = -np.log(0.05)
    bounds = np.array([quantile_upper_bound(list(d), 0.95, 0.9) for d in draws])
    assert 0.9 <= float(np.mean(bounds >= true_q)) <= 0.96
    assert quantile_upper_bound([7.0], 0.95, 0.9) == 7.0
    with pytest.raises(ValueError, match="at least one"):
        quantile_upper_bound([], 0.95, 0.9)


def test_without_enough_starts_the_default_lateness_is_kept():
    y, index, calendar = _history([0, 0, 5])
    profile = fit_event_profile(y, index, calendar, season=1440, horizon=10)
    assert profile.late_s == DEFAULT_LATE_S


def test_the_documented_times_and_shares_of_the_event_profile_and_the_band():
    """The numbers the README and the docstrings promise (tests elsewhere read these constants, so a changed
    value, or a value in the wrong unit, would pass them): a started stream is never forecast smaller than
    announced for 10 minutes; an entry is cancelled 2 minutes after its late-start time, which defaults to 10
    minutes and is learnt as a 90% bound of the 95th percentile of delays up to 30 minutes; the profile answers from 30
    minutes before a start to an hour after it, over a 4-hour uplift, from a level of the last two hours;
    a start counts as seen at 0.3 of its announced uplift."""
    ep = event_profile
    assert (ep.CONFIRM_S, ep.DETECT_S, ep.DEFAULT_LATE_S, ep.MAX_LATE_S) == (600.0, 120.0, 600.0, 1800.0)
    assert (ep.LATE_QUANTILE, ep.LATE_CONFIDENCE, ep.STARTED_SCALE) == (0.95, 0.9, 0.3)
    assert (ep.USE_BEFORE_S, ep.USE_AFTER_S, ep.PROFILE_S, ep.LEVEL_S) == (1800.0, 3600.0, 14400.0, 7200.0)
    # Knots a minute apart over the first 10 minutes, then every step, up to the profile's end.
    knots = lag_knots(300.0)
    np.testing.assert_array_equal(knots[:11], np.arange(0.0, 601.0, 60.0))
    assert knots[11] == 900.0 and np.all(np.diff(knots[11:]) == 300.0) and knots[-1] < 4 * 3600
    assert lag_knots(60.0)[-1] < 4 * 3600 and np.all(np.diff(lag_knots(60.0)) == 60.0)
    # The band: never narrower than a twentieth of the network's, at most 100 times it; the validation scores
    # weigh a quarter of a full window of recent ones; the validation floor gives way to the size of 95% of
    # the recent errors.
    assert (calibration.MIN_SCALE, calibration.MAX_SCALE, calibration.PRIOR_WEIGHT) == (0.05, 100.0, 0.25)
    assert calibration.REGIME_QUANTILE == 0.95


def test_delays_beyond_the_longest_searched_are_not_late_streams():
    """Delays of 1..40 minutes, a minute apart (no gap to cut at), 10 entries that never started: only the
    delays up to 30 minutes are late streams; later ones are another stream, not this entry's."""
    table = still_comes_table([60.0 * m for m in range(1, 41)], never_started=10, max_gap_s=300.0)
    assert len(table) == 30
    assert table[0] == pytest.approx(30 / 40)
    assert table[29] == pytest.approx(1 / 11)


def test_around_a_start_lower_quantiles_never_rise_above_the_median():
    """A network band that crossed (its p10 above its p50) must not put the lower quantile above the median
    the profile forecasts at the steps it answers."""
    profile = EventProfile(
        kinds=("match",),
        size_scale=(0.0,),
        events_seen=(20,),
        step_s=300.0,
        uplift=np.array([[0.0, 3.0, 1.0]]),
        daily_shape=np.array([1.0]),
        upper_ratio=np.array([[1.5] * 6, [1.2] * 6]),
    )
    index = pd.date_range("2026-03-05 00:00", periods=300, freq="5min")
    start = pd.Timestamp("2026-03-06T00:05:00Z")  # one step after the origin (288 = 2026-03-06 00:00)
    crossed = np.stack([np.full((1, 6), v) for v in (120.0, 100.0, 130.0)], axis=-1)  # p10 > p50
    out = apply_event_profile(
        profile,
        crossed,
        values=np.full(300, 100.0),
        index=index,
        origins=np.array([288]),
        quantiles=(0.1, 0.5, 0.9),
        calendar=Calendar.of([Event(start, "match")]),
    )
    used = profile.used_steps(index, np.array([288]), 6, Calendar.of([Event(start, "match")]))
    assert used.any()
    assert (out[..., 0][used] <= out[..., 1][used] + 1e-9).all(), out


def test_by_the_minute_an_entry_late_by_the_longest_wait_is_still_judged_and_dropped():
    """An entry announced at 20:07 that never starts, with the longest late-start time (30 minutes): at 20:40
    the 5-minute model (last point 20:35) still waits for it, but the minutes read since say it is over
    (30 + 2 minutes passed): the by-the-minute revision still covers an entry announced 33 minutes ago."""
    from forecaster.event_profile import MAX_LATE_S, judged_by_minute
    from forecaster.simulate import predictor_forecasts

    step_min = np.arange(240) * 5.0
    g = np.clip(step_min / 3, 0, 1) * np.exp(-np.maximum(step_min - 3, 0) / 30)
    profile = EventProfile(
        kinds=("final",),
        size_scale=(0.0,),
        events_seen=(10,),
        step_s=300.0,
        uplift=g[None, :],
        daily_shape=np.ones(1),
        upper_ratio=np.ones((2, 10)),
        late_s=MAX_LATE_S,
    )
    minutes = pd.date_range("2026-03-05 17:00", "2026-03-05 21:30", freq="1min")
    trace = pd.Series(100.0, index=minutes)
    announced = pd.Timestamp("2026-03-05 20:07", tz="UTC")
    calendar = Calendar.of([Event(start=announced, kind="final")])
    fn = predictor_forecasts(
        ProfileOnly(profile, calendar), trace.iloc[::5], start=pd.Timestamp("2026-03-05 19:30")
    )
    minute = judged_by_minute(fn, profile=profile, calendar=calendar)
    now = pd.Timestamp("2026-03-05 20:40")
    history = trace.loc[trace.index < now]
    held, judged = fn(history, now), minute(history, now)
    assert held["p90"].max() > 150  # the model, at 20:35, still holds the entry
    np.testing.assert_allclose(judged["p90"].to_numpy(), 100.0, rtol=1e-6)


def test_a_profile_keeps_its_band_quantile_through_the_manifest():
    profile = EventProfile(
        kinds=("match",),
        size_scale=(0.0,),
        events_seen=(20,),
        step_s=300.0,
        uplift=np.array([[0.0, 3.0, 1.0]]),
        daily_shape=np.array([1.0]),
        upper_ratio=np.array([[1.5] * 6, [1.2] * 6]),
        upper_quantile=0.95,
        late_s=420.0,
        still_comes=(0.8, 0.5),
    )
    back = EventProfile.from_dict(profile.to_dict())
    assert (back.upper_quantile, back.late_s, back.still_comes) == (0.95, 420.0, (0.8, 0.5))
    np.testing.assert_array_equal(back.upper_ratio, profile.upper_ratio)


def test_a_start_is_never_read_from_less_than_the_two_minutes_a_rise_takes_to_show():
    """One noisy point (+30%) a minute before the origin, 5 minutes after the announced start: a real start
    there would have had no time to show (DETECT_S), so the entry is still waiting and its whole announced
    rise is held from the next step, not replaced by a start fitted to the blip (a smaller first step)."""
    lag_min = np.arange(240.0)
    g = np.clip(lag_min / 3, 0, 1) * np.exp(-np.maximum(lag_min - 3, 0) / 30)
    profile = EventProfile(
        kinds=("final",),
        size_scale=(0.0,),
        events_seen=(10,),
        step_s=60.0,
        uplift=g[None, :],
        daily_shape=np.ones(1),
        upper_ratio=np.ones((2, 10)),
        late_s=600.0,
    )
    index = pd.date_range("2026-03-05 18:00", periods=300, freq="1min")
    calendar = Calendar.of([Event(start=index[150].tz_localize("UTC"), kind="final")])
    values = np.full(300, 100.0)
    values[155] = 130.0
    point, pending = profile.forecast(values, index, np.array([156]), horizon=10, calendar=calendar)
    assert point[0, 0] == pytest.approx(200.0) and pending[0, 0] == pytest.approx(100.0)


def test_only_the_entries_inside_the_training_range_are_learnt_from():
    """The calendar also holds next week's entries, one of a kind never seen yet: the profile knows the kinds
    and counts of the training range only (the new kind stays unseen: it gets the known kinds' mean)."""
    y, index, calendar = _history([0] * 6)
    later = index[-1].tz_localize("UTC") + pd.Timedelta(days=2)
    full = Calendar.of([*calendar.events, Event(start=later, kind="concert", expected=5000.0)])
    profile = fit_event_profile(y, index, full, season=1440, horizon=10)
    assert profile.kinds == ("match",) and profile.events_seen == (6,)
    assert profile.size_scale == (0.0,)
