"""The model's pure numerics as users depend on them: the skill weighting (:mod:`forecaster.combine`), the band's
conformal calibration (:mod:`forecaster.calibration`) and the per-kind event profile
(:mod:`forecaster.event_profile`).

Each on small hand-built arrays: weights are a distribution, never look ahead, follow the documented formula;
each quantile's band covers what it says, below the median too; the event band is never under the median.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecaster.calibration import (
    MAX_SCALE,
    MIN_SCALE,
    BandCalibration,
    carried_width,
    conformal_scales,
    fit_prior,
    scores,
)
from forecaster.combine import (
    SkillWeighting,
    combine,
    hedge_rate,
    recent_losses,
    with_guard,
    with_seasonal_memory,
)
from forecaster.event_profile import (
    CONFIRM_S,
    DETECT_S,
    MAX_LATE_S,
    STARTED_SCALE,
    USE_AFTER_S,
    USE_BEFORE_S,
    EventProfile,
    apply_event_profile,
    fit_event_profile,
    judge_start,
)
from forecaster.events import Calendar, Event

# -- the skill weighting ----------------------------------------------------------------------------------------


def _flat(S=120, H=3, **levels):
    """Components forecasting a constant each, against a series that is 10 everywhere."""
    values = np.full(S + H, 10.0)
    return {name: np.full((S, H), float(v)) for name, v in levels.items()}, values


@pytest.mark.parametrize("eta", [0.0, 1.0, 4.0, 10.0])
def test_a_component_r_times_worse_than_the_best_weighs_exp_minus_eta_r_minus_1(eta):
    forecasts, values = _flat(lstm=11.0, naive=12.0, seasonal=13.0)  # errors 10%, 20%, 30%
    w = SkillWeighting(eta=eta)
    point, weights = combine(forecasts, values, first=0, origins=np.array([100]), weighting=w)

    e = np.exp(-eta * np.array([0.0, 1.0, 2.0]))
    expected = e / e.sum()
    for name, want in zip(("lstm", "naive", "seasonal"), expected, strict=True):
        np.testing.assert_allclose(weights[name], want, rtol=1e-9)
    np.testing.assert_allclose(point, np.full((1, 3), expected @ [11.0, 12.0, 13.0]), rtol=1e-9)


def test_the_static_blend_carries_its_prior():
    forecasts, values = _flat(blend=11.0, lstm=11.0, naive=11.0)
    _, weights = combine(
        forecasts, values, first=0, origins=np.array([100]), weighting=SkillWeighting(prior=3.0)
    )
    np.testing.assert_allclose(weights["blend"], 0.6)
    np.testing.assert_allclose(weights["lstm"], 0.2)
    np.testing.assert_allclose(weights["naive"], 0.2)


def test_weights_are_a_distribution_and_the_point_lies_between_the_components():
    rng = np.random.default_rng(3)
    S, H = 200, 4
    values = 100 + 10 * rng.standard_normal(S + H)
    forecasts = {
        n: values[np.arange(S)[:, None] + np.arange(H)] + rng.normal(0, s, (S, H))
        for n, s in (("lstm", 2.0), ("naive", 5.0), ("seasonal", 9.0))
    }
    origins = np.arange(60, 200, 7)
    for weighting in (
        SkillWeighting(),
        SkillWeighting(pooled=True),
        with_guard(SkillWeighting(), step_s=3600),
    ):
        point, weights = combine(forecasts, values, first=0, origins=origins, weighting=weighting)
        total = sum(weights.values())
        np.testing.assert_allclose(total, 1.0, atol=1e-9)
        assert all((w >= -1e-12).all() for w in weights.values())
        stacked = np.stack([forecasts[n][origins] for n in forecasts])
        assert (point <= stacked.max(axis=0) + 1e-9).all() and (point >= stacked.min(axis=0) - 1e-9).all()


def test_pooled_weights_are_the_same_at_every_step():
    rng = np.random.default_rng(5)
    S, H = 150, 3
    values = 50 + rng.standard_normal(S + H)
    forecasts = {"lstm": rng.normal(50, 1, (S, H)), "naive": rng.normal(50, 2, (S, H))}
    _, weights = combine(
        forecasts, values, first=0, origins=np.array([120]), weighting=SkillWeighting(pooled=True)
    )
    assert np.ptp(weights["lstm"]) < 1e-12


def test_the_weighting_never_reads_values_at_or_after_the_origin():
    """For origin t and step h only targets y[s + h] with s + h <= t - 1 are judged: what happens from t on
    cannot change the forecast made at t."""
    rng = np.random.default_rng(7)
    S, H = 180, 5
    values = 100 + 10 * rng.standard_normal(S + H)
    forecasts = {n: rng.normal(100, s, (S, H)) for n, s in (("lstm", 3.0), ("naive", 6.0))}
    origins = np.array([90, 150])
    for weighting in (SkillWeighting(), with_guard(SkillWeighting(), step_s=3600)):
        before, w_before = combine(forecasts, values, first=0, origins=origins, weighting=weighting)
        for t in origins:
            changed = values.copy()
            changed[t:] = rng.normal(0, 1000, len(values) - t)
            after, w_after = combine(forecasts, changed, first=0, origins=np.array([t]), weighting=weighting)
            i = list(origins).index(t)
            np.testing.assert_allclose(after[0], before[i])
            np.testing.assert_allclose(w_after["lstm"][0], w_before["lstm"][i])
        # and the values just before do matter
        changed = values.copy()
        changed[origins[0] - 1] += 500.0
        moved, _ = combine(forecasts, changed, first=0, origins=origins[:1], weighting=weighting)
        assert not np.allclose(moved[0, 0], before[0, 0])


def test_recent_errors_count_half_after_half_life_origins_and_nothing_beyond_the_window():
    S, H, t = 120, 1, 100
    values = np.full(S + H, 10.0)
    w = SkillWeighting(half_life_steps=12.0, window=48)

    def loss_with_error_at(s):
        fc = np.full((S, H), 10.0)
        fc[s, 0] = 20.0  # one forecast 10 off
        return recent_losses({"a": fc}, values, first=0, origins=np.array([t]), weighting=w)["a"][0, 0]

    newest = loss_with_error_at(t - 1)
    assert loss_with_error_at(t - 13) == pytest.approx(newest / 2)
    assert loss_with_error_at(t - 48) > 0  # the window's oldest origin
    assert loss_with_error_at(t - 49) == 0.0  # beyond the window
    assert loss_with_error_at(t) == 0.0  # the origin's own forecast is not judged
    decay = 0.5 ** (np.arange(48) / 12.0)
    assert newest == pytest.approx(10.0 / (10.0 * decay.sum()))


def test_an_idle_series_weighs_components_that_are_all_exact_alike():
    forecasts = {"lstm": np.zeros((80, 2)), "naive": np.zeros((80, 2))}
    point, weights = combine(
        forecasts, np.zeros(82), first=0, origins=np.array([70]), weighting=SkillWeighting()
    )
    assert np.isfinite(point).all() and point.max() == 0.0
    np.testing.assert_allclose(weights["lstm"], 0.5)


def test_with_nothing_to_judge_yet_the_prior_decides():
    forecasts, values = _flat(blend=11.0, naive=30.0)
    _, weights = combine(
        forecasts, values, first=0, origins=np.array([0]), weighting=SkillWeighting(prior=4.0)
    )
    np.testing.assert_allclose(weights["blend"], 0.8)


def test_the_guarded_forecast_is_never_much_worse_than_its_best_component_over_the_window():
    """Hedge's bound: over the guard window the mixture's mean error is within a few per cent of the best
    expert's. One component is right all along; the skill weighting is made to chase a noisy one."""
    rng = np.random.default_rng(11)
    S, H = 800, 3
    values = 100 + 20 * np.sin(np.arange(S + H) / 9.0)
    truth = values[np.arange(S)[:, None] + np.arange(H)]
    forecasts = {"lstm": truth + rng.normal(0, 1.0, (S, H)), "naive": truth + rng.normal(0, 8.0, (S, H))}
    weighting = with_guard(SkillWeighting(eta=0.0), step_s=300.0 * 2 * 86400 / 200)  # a 200-origin window
    origins = np.arange(600, 800)
    point, _ = combine(forecasts, values, first=0, origins=origins, weighting=weighting)
    best = np.mean(np.abs(forecasts["lstm"][origins] - truth[origins]))
    mixed = np.mean(np.abs(point - truth[origins]))
    assert mixed <= 1.15 * best


@pytest.mark.parametrize(
    ("kw"),
    [
        {"eta": -0.1},
        {"half_life_steps": 0.0},
        {"window": 0},
        {"prior": 0.0},
        {"guard_stride": 0},
        {"seasonal_days": -1},
    ],
)
def test_an_invalid_weighting_is_refused(kw):
    with pytest.raises(ValueError):
        SkillWeighting(**kw)


def test_a_weighting_round_trips_and_old_manifests_take_the_defaults():
    w = with_guard(
        with_seasonal_memory(SkillWeighting(eta=2.5, prior=2.0), season_steps=288, horizon=6), step_s=300
    )
    assert SkillWeighting.from_dict(w.to_dict()) == w
    old = SkillWeighting.from_dict({"eta": 3.0, "half_life_steps": 6.0, "window": 24})
    assert old == SkillWeighting(eta=3.0, half_life_steps=6.0, window=24)


def test_seasonal_memory_and_the_guard_settings():
    w = with_seasonal_memory(SkillWeighting(), season_steps=288, horizon=6)
    assert (w.season_steps, w.seasonal_days, w.seasonal_halfwidth, w.seasonal_weight) == (288, 3, 6, 0.25)
    assert w.seasonal and w.skill_lookback_origins(6) == 3 * 288 + 6
    assert with_seasonal_memory(SkillWeighting(), season_steps=12, horizon=6) == SkillWeighting()
    assert with_seasonal_memory(SkillWeighting(), season_steps=0, horizon=6) == SkillWeighting()
    g = with_guard(SkillWeighting(), step_s=300)
    assert (g.guard_window, g.guard_stride) == (576, 1)
    g = with_guard(SkillWeighting(), step_s=60)
    assert (g.guard_window, g.guard_stride) == (2880, 5)
    assert SkillWeighting(window=48).lookback_origins(6) == 54
    # At 1-minute steps the weighting also judges recurring excursions by the same minute on the last 3 days
    # (tests/test_recurring_peaks.py): each origin the guard judges looks back that far.
    assert g.lookback_origins(6) == 3 * 1440 + 10 + 2880 + 6
    assert with_guard(SkillWeighting(window=48), step_s=300).lookback_origins(6) == 54 + 576 + 6


def test_the_hedge_rate():
    assert hedge_rate(8, np.array([576.0]))[0] == pytest.approx(math.sqrt(8 * math.log(8) * 576))
    assert hedge_rate(1, np.array([4.0]))[0] == pytest.approx(math.sqrt(8 * math.log(2) * 4))
    assert hedge_rate(3, np.array([-5.0]))[0] == 0.0


# -- the band's calibration -------------------------------------------------------------------------------------


def test_the_band_is_carried_relative_to_the_level_and_absolute_near_zero():
    raw = np.array([[80.0, 100.0, 130.0], [0.5, 1.0, 1.5]])  # [2, Q]
    point = np.array([200.0, 3.0])
    width = carried_width(raw, point, i50=1, floor=1.0)
    np.testing.assert_allclose(width[0], [-40.0, 0.0, 60.0])  # 20% and 30% of 200
    np.testing.assert_allclose(width[1], [-0.5, 0.0, 0.5])  # |p50| 1 <= 10 x floor: absolute


def test_scores_are_band_widths_to_the_truth_and_nan_where_nothing_can_be_scored():
    r = scores(
        np.array([110.0, np.nan, 90.0]), np.array([100.0, 100.0, 100.0]), np.array([[-5.0, 0.0, 5.0]] * 3)
    )
    np.testing.assert_allclose(r[0], [-2.0, np.nan, 2.0])
    assert np.isnan(r[1]).all()
    np.testing.assert_allclose(r[2], [2.0, np.nan, -2.0])


def test_the_prior_sketch_is_evenly_spaced_quantiles_per_quantile():
    r = np.stack([np.arange(1000.0), -np.arange(1000.0), np.full(1000, np.nan)], axis=-1)[:, None, :]
    sketch = fit_prior(r, sketch=4)
    np.testing.assert_allclose(sketch[0], np.quantile(np.arange(1000.0), [0.125, 0.375, 0.625, 0.875]))
    assert np.isnan(sketch[2]).all()


Q = (0.1, 0.5, 0.9)


def _setup(residuals, *, S=400, window=200):
    """A point forecast of 0 with a unit band (p10 at -1, p90 at +1, absolute) and the given truths."""
    values = np.asarray(residuals, dtype=float)
    raw = np.zeros((S, 1, 3))
    raw[..., 0], raw[..., 2] = -1.0, 1.0
    members = {"lstm": np.zeros((S, 1))}
    prior_scores = np.stack([values, values, values], axis=-1)[:S, None, :]
    prior_scores[..., 0] *= -1  # a p10 score: (y - point) / -1
    cal = BandCalibration(prior=fit_prior(prior_scores), half_life_steps=1e9, window=window)
    return cal, dict(members=members, raw=raw, values=values, first=0, quantiles=Q, floor=1.0)


def _scales(cal, kw, origins, **extra):
    N = len(origins)
    return conformal_scales(
        cal, weights={"lstm": np.ones((N, 1))}, origins=np.asarray(origins), **kw, **extra
    )


def test_both_tails_cover_what_they_say_and_the_median_is_one():
    """Errors spread evenly over [-5, 5]: the p90 needs about 4 band widths above, the p10 about 4 below."""
    grid = np.tile(np.linspace(-5, 5, 101), 5)[:420]
    cal, kw = _setup(grid)
    k = _scales(cal, kw, [400])[0, 0]
    assert k[1] == 1.0
    assert 3.8 <= k[2] <= 4.7, k
    assert 3.8 <= k[0] <= 4.7, k


def test_the_band_is_never_narrower_than_validation_asked_while_recent_errors_reach_it_and_bounded():
    """Errors over [-5, 5]: a p90 needs ~4 band widths, 95% of the error sizes reach 4.75: a validation
    scale of 4.5 holds on both tails. Errors over [-0.1, 0.1], a regime twenty times quieter: the band
    narrows to what held 95% of their sizes (0.095), never below the p90 of them."""
    grid = np.tile(np.linspace(-5, 5, 101), 5)[:420]
    cal, kw = _setup(grid)
    k = _scales(cal, kw, [400], validation_scale=[4.5, 1.0, 4.5])[0, 0]
    np.testing.assert_allclose(k, [4.5, 1.0, 4.5])
    quiet = np.tile(np.linspace(-0.1, 0.1, 21), 25)[:420]
    cal, kw = _setup(quiet)
    k = _scales(cal, kw, [400], validation_scale=[2.0, 1.0, 3.0])[0, 0]
    assert k[1] == 1.0
    np.testing.assert_allclose(k[[0, 2]], 0.1, atol=0.006)
    still = np.tile(np.linspace(-1e-3, 1e-3, 21), 25)[:420]
    cal, kw = _setup(still)
    tiny = _scales(cal, kw, [400], validation_scale=[2.0, 1.0, 3.0])[0, 0]
    np.testing.assert_allclose(tiny[[0, 2]], MIN_SCALE)
    huge = np.tile(np.linspace(-1e6, 1e6, 21), 25)[:420]
    cal, kw = _setup(huge)
    assert (_scales(cal, kw, [400])[0, 0][[0, 2]] == MAX_SCALE).all()


def test_the_calibration_reads_only_errors_already_observed():
    grid = np.tile(np.linspace(-5, 5, 101), 5)[:420]
    cal, kw = _setup(grid)
    before = _scales(cal, kw, [300])
    changed = dict(kw, values=np.concatenate([grid[:300], np.full(120, 1e4)]))
    np.testing.assert_allclose(_scales(cal, changed, [300]), before)


def test_recent_errors_widen_the_band_after_a_regime_change():
    calm = np.tile(np.linspace(-1, 1, 21), 20)[:420]
    cal, kw = _setup(calm, window=50)
    wild = calm.copy()
    wild[340:] *= 6
    k_calm = _scales(cal, kw, [400])[0, 0]
    k_wild = _scales(cal, dict(kw, values=wild), [400])[0, 0]
    assert k_wild[2] > 2 * k_calm[2] and k_wild[0] > 2 * k_calm[0]


def test_a_band_calibration_round_trips_and_refuses_a_bad_shape():
    cal = BandCalibration(
        prior=np.array([[1.0, np.nan], [0.0, 0.0]]),
        half_life_steps=6,
        window=24,
        season_steps=288,
        seasonal_halfwidth=6,
        seasonal_days=3,
    )
    back = BandCalibration.from_dict(cal.to_dict())
    assert (back.half_life_steps, back.window, back.season_steps, back.seasonal_days) == (6, 24, 288, 3)
    np.testing.assert_array_equal(np.isnan(back.prior), np.isnan(cal.prior))
    assert cal.lookback_origins(6) == 3 * 288 + 6
    assert BandCalibration(prior=np.zeros((3, 4)), half_life_steps=6, window=24).lookback_origins(6) == 30
    for bad in (
        dict(prior=np.zeros(3), half_life_steps=6, window=24),
        dict(prior=np.zeros((3, 2)), half_life_steps=0, window=24),
        dict(prior=np.zeros((3, 2)), half_life_steps=6, window=0),
    ):
        with pytest.raises(ValueError):
            BandCalibration(**bad)


# -- the event profile ----------------------------------------------------------------------------------------

LATE = 600.0


@pytest.mark.parametrize(
    ("last_s", "seen", "state", "scale", "pending"),
    [
        (-1.0, None, "announced", 1.0, True),
        (0.0, None, "waiting", 1.0, True),  # the announced start is now
        (LATE + DETECT_S - 1, None, "waiting", 1.0, True),
        (LATE + DETECT_S, None, "cancelled", 0.0, False),
        (300.0, (STARTED_SCALE, 100.0), "started", 1.0, True),  # young: never below announced
        (300.0, (STARTED_SCALE - 0.01, 100.0), "waiting", 1.0, True),
        (100.0 + CONFIRM_S - 1, (0.5, 100.0), "started", 1.0, True),
        (100.0 + CONFIRM_S, (0.5, 100.0), "started", 0.5, False),
        (100.0 + CONFIRM_S, (2.0, 100.0), "started", 2.0, False),
    ],
)
def test_what_an_entry_is_at_an_origin(last_s, seen, state, scale, pending):
    s = judge_start(announced_s=0.0, last_s=last_s, late_s=LATE, seen=seen)
    assert (s.state, s.scale, s.pending) == (state, pytest.approx(scale), pending)


def test_a_waiting_entry_keeps_its_rise_ahead_and_a_started_one_follows_its_real_start():
    assert judge_start(announced_s=0.0, last_s=60.0, late_s=LATE, seen=None).start_s == 0.0
    assert judge_start(announced_s=0.0, last_s=400.0, late_s=LATE, seen=None).start_s == 400.0 - DETECT_S
    assert judge_start(announced_s=0.0, last_s=400.0, late_s=LATE, seen=(1.0, 180.0)).start_s == 180.0


def _profile(**over):
    base = dict(
        kinds=("concert", "match"),
        size_scale=(1000.0, 0.0),
        events_seen=(12, 20),
        step_s=300.0,
        uplift=np.array([[0.0, 1.0, 0.5], [0.0, 3.0, 1.0]]),
        daily_shape=np.array([1.0]),
        upper_ratio=np.array([[1.5] * 6, [1.2] * 6]),
    )
    base.update(over)
    return EventProfile(**base)


def test_sizes_and_unseen_kinds():
    p = _profile()
    t = pd.Timestamp("2026-03-05T20:00:00Z")
    assert p.size(Event(t, "concert", expected=2000.0)) == 2.0
    assert p.size(Event(t, "concert")) == 1.0
    assert p.size(Event(t, "match", expected=5.0)) == 1.0  # no hints in training
    assert p.size(Event(t, "festival", expected=500.0)) == 0.5  # the known kinds' mean hint
    np.testing.assert_allclose(p.kind_uplift("festival"), [0.0, 2.0, 0.75])
    np.testing.assert_allclose(p.kind_uplift("match"), [0.0, 3.0, 1.0])


def test_the_steps_the_profile_answers_span_half_an_hour_before_to_an_hour_after_a_start():
    p = _profile()
    index = pd.date_range("2026-03-05 18:00", periods=48, freq="5min")
    start = pd.Timestamp("2026-03-05T20:00:00Z")
    used = p.used_steps(index, np.array([0]), 48, Calendar.of([Event(start)]))[0]
    times = index[used]
    assert times[0] == pd.Timestamp("2026-03-05 20:00") - pd.Timedelta(seconds=USE_BEFORE_S)
    assert times[-1] == pd.Timestamp("2026-03-05 20:00") + pd.Timedelta(seconds=USE_AFTER_S) - pd.Timedelta(
        minutes=5
    )


def test_a_profile_round_trips_and_a_damaged_one_is_refused():
    p = _profile(late_s=420.0)
    back = EventProfile.from_dict(p.to_dict())
    assert back.kinds == p.kinds and back.late_s == 420.0 and back.events_seen == (12, 20)
    np.testing.assert_allclose(back.uplift, p.uplift)
    for change in (
        {"upper_ratio": [[0.0] * 6, [1.0] * 6]},
        {"late_s": MAX_LATE_S + 1},
        {"daily_shape": [1.0, 0.0]},
        {"kinds": ["a"]},
        {"uplift": [[0.0, float("nan"), 1.0], [0.0, 1.0, 1.0]]},
        {"lag_knots_s": [0.0, 300.0, 300.0]},
    ):
        with pytest.raises(ValueError):
            EventProfile.from_dict({**p.to_dict(), **change})


def _training_with_one_outsized_event():
    """Two weeks of 5-minute load, 26 starts of one kind: 25 add 20% for an hour, one adds 500%. The mean
    uplift the profile learns over-forecasts almost every start: the load falls short of it there."""
    idx = pd.date_range("2026-03-01", periods=14 * 288, freq="5min")
    t = np.arange(len(idx))
    up = np.zeros(len(idx))
    events = []
    for d in range(1, 14):
        for hour in (8, 20):
            start = pd.Timestamp("2026-03-01") + pd.Timedelta(days=d, hours=hour)
            at = idx.searchsorted(start)
            up[at : at + 12] += 5.0 if (d, hour) == (7, 20) else 0.2
            events.append(Event(start.tz_localize("UTC"), "match"))
    values = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 288)) * (1 + up)
    return values, idx, Calendar.of(events)


def test_around_an_event_the_upper_band_is_never_below_the_median():
    values, idx, cal = _training_with_one_outsized_event()
    profile = fit_event_profile(values, idx, cal, season=288, horizon=6)
    assert profile is not None
    assert (profile.upper_ratio >= 1.0).all(), profile.upper_ratio

    # a new start after the training range: every quantile in order at every step it reaches
    start = idx[-1] + pd.Timedelta(minutes=20)
    future = Calendar.of([*cal.events, Event(start.tz_localize("UTC"), "match")])
    origins = np.array([len(values) - 3, len(values)])
    n = len(values) + 6
    longer = np.concatenate([values, np.full(6, values[-1])])
    index = pd.date_range(idx[0], periods=n, freq="5min")
    p50 = np.full((2, 6), 100.0)
    forecast = np.stack([p50 * 0.8, p50, p50 * 1.3], axis=-1)
    out = apply_event_profile(
        profile, forecast, values=longer, index=index, origins=origins, quantiles=Q, calendar=future
    )
    assert (out[..., 0] <= out[..., 1] + 1e-9).all() and (out[..., 1] <= out[..., 2] + 1e-9).all(), out
    used = profile.used_steps(index, origins, 6, future)
    assert used.any()
    assert (out[..., 2][used] >= out[..., 1][used]).all()


def test_steps_no_event_reaches_keep_the_networks_forecast():
    p = _profile()
    index = pd.date_range("2026-03-05 00:00", periods=300, freq="5min")
    values = np.full(300, 100.0)
    forecast = np.stack([np.full((1, 6), v) for v in (80.0, 100.0, 130.0)], axis=-1)
    far = Calendar.of([Event(pd.Timestamp("2026-03-09T20:00:00Z"), "concert")])
    out = apply_event_profile(
        p, forecast, values=values, index=index, origins=np.array([288]), quantiles=Q, calendar=far
    )
    np.testing.assert_array_equal(out, forecast)


def test_the_width_is_capped_by_the_errors_themselves_where_the_band_had_collapsed():
    """Past bands a hundred times narrower than today's make the scores huge; times today's band that would be
    absurd: the widening stops at the same quantile of the raw errors."""
    from forecaster.calibration import conformal_width

    grid = np.tile(np.linspace(-5, 5, 101), 5)[:420]
    cal, kw = _setup(grid)
    raw = kw["raw"].copy()
    raw[:399, :, 0], raw[:399, :, 2] = -0.01, 0.01  # collapsed in the past, a unit band today (399)
    width = conformal_width(
        cal,
        members=kw["members"],
        weights={"lstm": np.ones((1, 1))},
        raw=raw,
        values=kw["values"],
        first=0,
        origins=np.array([399]),
        point=np.zeros((1, 1)),
        quantiles=Q,
        floor=1.0,
        validation_scale=[1.0, 1.0, 1.0],
    )[0, 0]
    assert width[1] == 0.0
    assert 3.8 <= width[2] <= 4.7 and -4.7 <= width[0] <= -3.8, width


def test_same_time_errors_of_previous_days_widen_that_step_only():
    """A spike every day at the same time (step 25 of a 50-step day): the seasonal scores widen the band at the
    step of the horizon that lands on it, and only there; the recent window holds no spike."""
    S, H, season, days = 1000, 3, 50, 12
    values = np.tile(np.linspace(-1, 1, 21), 60)[: S + H].copy()
    values[np.arange(S + H) % season == 25] = 40.0
    raw = np.zeros((S, H, 3))
    raw[..., 0], raw[..., 2] = -1.0, 1.0
    members = {"lstm": np.zeros((S, H))}
    calm = np.tile(np.linspace(-1, 1, 21), 10)[:200]
    prior = fit_prior(np.stack([-calm, calm, calm], axis=-1)[:, None, :])
    cal = BandCalibration(
        prior=prior,
        half_life_steps=12,
        window=24,
        season_steps=season,
        seasonal_halfwidth=0,
        seasonal_days=days,
    )
    origin = 974  # its step h = 1 is at 975, a spike time
    k = conformal_scales(
        cal,
        members=members,
        weights={"lstm": np.ones((1, H))},
        raw=raw,
        values=values,
        first=0,
        origins=np.array([origin]),
        quantiles=Q,
        floor=1.0,
        validation_scale=[1.0, 1.0, 1.0],
    )[0]
    assert k[1, 2] >= 30 and k[0, 2] < 3 and k[2, 2] < 3, k[:, 2]


def test_seasonal_scores_never_read_the_value_at_the_origin():
    """With a short season and a wide same-time window, a seasonal score's target can fall on the origin
    itself: that value is the future at serving time and must not be read."""
    S, H = 400, 3
    values = np.tile(np.linspace(-1, 1, 21), 25)[: S + H].copy()
    raw = np.zeros((S, H, 3))
    raw[..., 0], raw[..., 2] = -1.0, 1.0
    members = {"lstm": np.zeros((S, H))}
    prior = fit_prior(np.stack([-values[:S], values[:S], values[:S]], axis=-1)[:, None, :])
    cal = BandCalibration(
        prior=prior, half_life_steps=12, window=24, season_steps=4, seasonal_halfwidth=2, seasonal_days=3
    )
    origin = 300
    kw = dict(
        members=members,
        weights={"lstm": np.ones((1, H))},
        raw=raw,
        first=0,
        origins=np.array([origin]),
        quantiles=Q,
        floor=1.0,
        validation_scale=[0.25, 1.0, 0.25],
    )
    before = conformal_scales(cal, values=values, **kw)
    future = values.copy()
    future[origin:] = 1e4
    np.testing.assert_allclose(conformal_scales(cal, values=future, **kw), before)


@pytest.mark.parametrize("stride", [1, 3])
def test_a_guarded_forecast_from_kept_skill_points_equals_the_one_computed_afresh(stride):
    """The service keeps the skill-weighted points between forecasts (:class:`Skill`); reusing them must give
    the very forecast and weights that computing everything again gives."""
    from dataclasses import replace

    from forecaster.combine import Skill, skill_points

    rng = np.random.default_rng(21)
    S, H = 400, 4
    values = 100 + 10 * np.sin(np.arange(S + H) / 7.0) + rng.normal(0, 1, S + H)
    truth = values[np.arange(S)[:, None] + np.arange(H)]
    forecasts = {"lstm": truth + rng.normal(0, 2, (S, H)), "naive": truth + rng.normal(0, 5, (S, H))}
    weighting = replace(SkillWeighting(), guard_window=100, guard_stride=stride)
    origins = np.array([399])
    start = max(0, 399 - 100 - H)
    points, weights = skill_points(forecasts, values, first=0, start=start, last=399, weighting=weighting)
    skill = Skill(start=start, points=points, weights={n: w[-1:] for n, w in weights.items()})

    fresh, w_fresh = combine(forecasts, values, first=0, origins=origins, weighting=weighting)
    kept, w_kept = combine(forecasts, values, first=0, origins=origins, weighting=weighting, skill=skill)

    np.testing.assert_allclose(kept, fresh)
    for name in forecasts:
        np.testing.assert_allclose(w_kept[name], w_fresh[name])
