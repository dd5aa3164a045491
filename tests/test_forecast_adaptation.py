"""Forecasts that adapt at prediction time: components weighted by recent skill, the fallback, the contract."""

import copy
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

import forecaster.combine as combine_module
from forecaster.combine import (
    GUARD_MARGIN,
    Skill,
    SkillWeighting,
    combine,
    hedge_rate,
    recent_losses,
    skill_points,
    with_guard,
    with_seasonal_memory,
)
from forecaster.errors import ModelStoreError, NonFiniteForecastError
from forecaster.evaluation import wape
from forecaster.model import Forecaster
from forecaster.predictors import HoltWinters
from forecaster.store import ModelStore
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

H = 6


def _components(values: np.ndarray, first: int, last: int) -> dict[str, np.ndarray]:
    """Two hand-made components at consecutive origins: 'stale' forecasts the old level, 'last' the last value."""
    origins = np.arange(first, last + 1)
    return {
        "stale": np.full((len(origins), H), 100.0),
        "last": np.repeat(values[origins - 1][:, None], H, axis=1),
    }


# -- the pure combination ---------------------------------------------------------------------------------


def test_after_a_level_shift_the_weight_moves_to_what_tracks_and_back_when_it_stops():
    values = np.full(400, 100.0)
    values[200:300] = 200.0  # a shift up for 100 steps, then back
    comps = _components(values, 50, 399)
    weighting = SkillWeighting(eta=8, half_life_steps=6, window=18)
    origins = np.array([190, 230, 290, 350])
    point, weights = combine(comps, values, first=50, origins=origins, weighting=weighting)
    # Before the shift both are exact: equal weights.
    assert weights["stale"][0, 0] == pytest.approx(0.5)
    # Well into the shift: the last value tracks (exact), the stale level is off by 100%.
    assert weights["last"][1].min() > 0.99 and point[1] == pytest.approx(np.full(H, 200.0), rel=0.01)
    assert weights["last"][2].min() > 0.99
    # Long after the shift ended, the stale component is exact again and shares the weight.
    assert weights["stale"][3].min() == pytest.approx(0.5)


def test_the_combination_is_never_much_worse_than_its_best_component_over_the_recent_window():
    rng = np.random.default_rng(0)
    values = 100 + np.cumsum(rng.normal(0, 3, 600))  # a random walk: last value is the best component
    comps = _components(values, 100, 599)
    comps["noisy"] = comps["last"] + rng.normal(0, 20, comps["last"].shape)
    origins = np.arange(200, 590)
    point, _ = combine(comps, values, first=100, origins=origins, weighting=SkillWeighting(eta=8))
    actual = np.stack([values[t : t + H] for t in origins])
    best = min(wape(actual, comps[n][origins - 100]) for n in comps)
    assert wape(actual, point) <= 1.05 * best


def test_only_errors_observed_before_the_origin_are_judged():
    values = np.full(200, 100.0)
    comps = _components(values, 20, 199)
    weighting = SkillWeighting(window=10, half_life_steps=5)
    before = recent_losses(comps, values, first=20, origins=np.array([120]), weighting=weighting)
    changed = values.copy()
    changed[120:] = 1e6  # the future changes wildly; the judgement at origin 120 must not
    after = recent_losses(comps, changed, first=20, origins=np.array([120]), weighting=weighting)
    for name in comps:
        np.testing.assert_array_equal(before[name], after[name])


def test_the_static_blend_keeps_its_prior_until_another_component_is_clearly_better():
    values = np.full(300, 100.0)
    comps = {"blend": np.full((250, H), 101.0), "last": np.full((250, H), 99.0)}  # equally good (1% off)
    strong = SkillWeighting(eta=8, prior=4)
    _, weights = combine(comps, values, first=50, origins=np.array([250]), weighting=strong)
    assert weights["blend"][0, 0] == pytest.approx(0.8)  # 4:1
    with pytest.raises(ValueError):
        SkillWeighting(prior=0)


def test_an_idle_series_gives_finite_weights():
    values = np.zeros(300)
    comps = _components(values, 50, 299)
    point, weights = combine(comps, values, first=50, origins=np.array([200]), weighting=SkillWeighting())
    assert np.isfinite(point).all() and all(np.isfinite(w).all() for w in weights.values())


def test_weighting_round_trips_through_json():
    w = SkillWeighting(eta=2.5, half_life_steps=7, window=21, prior=4, pooled=True)
    assert SkillWeighting.from_dict(w.to_dict()) == w
    seasonal = with_seasonal_memory(w, season_steps=48, horizon=H)
    assert seasonal.seasonal and SkillWeighting.from_dict(seasonal.to_dict()) == seasonal
    assert seasonal.lookback_origins(H) == 3 * 48 + H
    # A weighting saved before the seasonal fields existed judges recent errors only.
    assert not SkillWeighting.from_dict({"eta": 4.0, "half_life_steps": 12.0, "window": 48}).seasonal
    # No season, or a horizon too long for one: recent errors only.
    assert with_seasonal_memory(w, season_steps=0, horizon=H) == w
    assert with_seasonal_memory(w, season_steps=10, horizon=H) == w


@pytest.mark.parametrize("seasonal_days, daily_weight_above", [(0, None), (3, 0.9)])
def test_a_daily_spike_weights_what_got_it_right_on_previous_days(seasonal_days, daily_weight_above):
    """An idle series with a spike at the same time every day: 'flat' is exact except at the spike, 'daily'
    repeats yesterday (exact at the spike, a little off elsewhere). Recent errors alone (all before the
    spike) favour 'flat' at the spike; with the same-time errors of previous days, 'daily' wins there."""
    season = 48
    values = np.full(6 * season, 1.0)
    values[np.arange(6) * season + 30] = 50.0  # the daily spike
    first = season
    origins = np.arange(first, len(values) - H)
    flat = np.full((len(origins), H), 1.0)
    daily = np.stack([values[t - season : t - season + H] for t in origins]) * 1.01
    comps = {"flat": flat, "daily": daily}
    weighting = SkillWeighting(
        eta=8,
        half_life_steps=6,
        window=18,
        season_steps=season,
        seasonal_days=seasonal_days,
        seasonal_halfwidth=H,
        seasonal_weight=0.25,
    )
    spike_origin = np.array([4 * season + 28])  # the spike is its third step
    point, weights = combine(comps, values, first=first, origins=spike_origin, weighting=weighting)
    if daily_weight_above is None:
        assert weights["daily"][0, 2] < 0.5
    else:
        assert weights["daily"][0, 2] > daily_weight_above and point[0, 2] > 40
    # Only errors observed before the origin are judged, the same-time ones included.
    changed = values.copy()
    changed[spike_origin[0] :] = 1e6
    before = recent_losses(comps, values, first=first, origins=spike_origin, weighting=weighting)
    after = recent_losses(comps, changed, first=first, origins=spike_origin, weighting=weighting)
    for name in comps:
        np.testing.assert_array_equal(before[name], after[name])


def _daily_spike(season: int = 48, days: int = 8) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """An idle series with a spike at the same time every day; 'flat' is exact except at the spike,
    'daily' repeats yesterday (exact at the spike, 1% off elsewhere)."""
    values = np.full(days * season, 1.0)
    values[np.arange(days) * season + 30] = 50.0
    first = season
    origins = np.arange(first, len(values) - H)
    flat = np.full((len(origins), H), 1.0)
    daily = np.stack([values[t - season : t - season + H] for t in origins]) * 1.01
    return values, {"flat": flat, "daily": daily}, first


def test_the_guard_follows_the_component_that_was_best_over_the_last_days():
    """Recent errors alone (all before the spike) weight 'flat' at the spike; over two days 'daily' is the
    better component, and the guarded forecast is within Hedge's bound of it over the window."""
    season = 48
    values, comps, first = _daily_spike(season)
    weighting = SkillWeighting(eta=8, half_life_steps=6, window=18)
    guarded = replace(weighting, guard_window=2 * season)
    origins = np.arange(first + weighting.lookback_origins(H) + 2 * season, len(values) - H)
    actual = np.stack([values[t : t + H] for t in origins])
    plain, _ = combine(comps, values, first=first, origins=origins, weighting=weighting)
    point, weights = combine(comps, values, first=first, origins=origins, weighting=guarded)
    best = min(wape(actual, comps[n][origins - first]) for n in comps)
    assert wape(actual, plain) > 1.5 * best  # the recent window alone misses every spike
    bound = 1 + np.sqrt(np.log(3) / (2 * 2 * season))  # experts: the skill weighting, flat, daily
    assert wape(actual, point) <= bound * best
    spike = np.flatnonzero(origins % season == 28)  # the spike is the third step
    assert (weights["daily"][spike, 2] > 0.9).all() and (point[spike, 2] > 40).all()
    # The weights say how the forecast was made, component by component (the band's calibration reads them).
    made = sum(weights[n] * comps[n][origins - first] for n in comps)
    np.testing.assert_allclose(made, point)


def test_the_guard_leaves_the_skill_weighted_forecast_only_for_a_component_better_by_its_margin():
    """A tie over the window: a uniform guard moved two thirds of the weight to components that were merely
    as good (the CronJob's backtest lost to last value that way); with the margin it keeps the skill-weighted
    forecast, and a component repeated under another name (a blend of one member) is one expert, not two. A
    component better by more than the margin still takes over (the daily spike)."""
    rng = np.random.default_rng(0)
    values = 100.0 + rng.random(400)
    first = 10
    origins_all = np.arange(first, len(values) - H)
    target = np.stack([values[t : t + H] for t in origins_all])
    comps = {"lstm": target * 1.05, "alt": target * 0.95}  # both 5% off, on either side
    # The skill weighting sticks to the network (its prior is overwhelming): three experts 5% off each.
    weighting = SkillWeighting(eta=8, half_life_steps=6, window=18, prior=1e6, guard_window=200)
    origin = np.array([350])
    at = origin - first
    uniform, _ = combine(comps, values, first=first, origins=origin, weighting=weighting)
    np.testing.assert_allclose(uniform, target[at] * (2 * 1.05 + 0.95) / 3, rtol=1e-4)
    margin = replace(weighting, guard_margin=GUARD_MARGIN)
    point, weights = combine(comps, values, first=first, origins=origin, weighting=margin)
    # The skill-weighted forecast's prior odds vs each component: exp(margin * eta), eta for 3 experts over
    # 200 rounds (~3.5): a tie now leaves the components a sixth of the weight each, not a third.
    odds = np.exp(GUARD_MARGIN * hedge_rate(3, np.array([200.0]))[0])
    np.testing.assert_allclose(weights["alt"], 1 / (odds + 2), rtol=1e-3)
    np.testing.assert_allclose(point, target[at] * ((odds + 1) * 1.05 + 0.95) / (odds + 2), rtol=1e-4)
    twice = {**comps, "alt_again": comps["alt"].copy()}
    again, w2 = combine(twice, values, first=first, origins=origin, weighting=weighting)
    np.testing.assert_allclose(again, uniform, rtol=1e-5)  # the copy is not a fourth expert
    np.testing.assert_allclose(w2["alt"] + w2["alt_again"], 1 / 3, rtol=1e-3)
    # Clear evidence still wins: the component that gets the daily spike right over two days.
    season = 48
    values, comps, first = _daily_spike(season)
    guarded = SkillWeighting(eta=8, half_life_steps=6, window=18, guard_window=2 * season)
    guarded = replace(guarded, guard_margin=GUARD_MARGIN)
    origins = np.arange(first + guarded.lookback_origins(H), len(values) - H)
    point, weights = combine(comps, values, first=first, origins=origins, weighting=guarded)
    spike = np.flatnonzero(origins % season == 28)
    assert (weights["daily"][spike, 2] > 0.9).all() and (point[spike, 2] > 40).all()
    actual = np.stack([values[t : t + H] for t in origins])
    best = min(wape(actual, comps[n][origins - first]) for n in comps)
    assert wape(actual, point) <= (1 + np.sqrt(np.log(3) / (2 * 2 * season)) + GUARD_MARGIN) * best
    with pytest.raises(ValueError):
        SkillWeighting(guard_margin=1.0)


def test_the_guard_judges_only_what_was_observed_before_the_origin_and_reuses_kept_points():
    season = 48
    values, comps, first = _daily_spike(season)
    guarded = SkillWeighting(eta=8, half_life_steps=6, window=18, guard_window=2 * season)
    origin = np.array([6 * season + 28])
    before, _ = combine(comps, values, first=first, origins=origin, weighting=guarded)
    changed = values.copy()
    changed[origin[0] :] = 1e6
    after, _ = combine(comps, changed, first=first, origins=origin, weighting=guarded)
    np.testing.assert_array_equal(before, after)
    # The unguarded forecasts kept from an earlier call give the same result as computing them afresh.
    start = first + 10
    kept, weights = skill_points(
        comps, values, first=first, start=start, last=int(origin[0]), weighting=guarded
    )
    skill = Skill(start=start, points=kept, weights={n: w[-1:] for n, w in weights.items()})
    again, _ = combine(comps, values, first=first, origins=origin, weighting=guarded, skill=skill)
    np.testing.assert_allclose(again, before)


def test_a_guard_on_a_coarser_grid_judges_only_its_origins_and_agrees_with_kept_points():
    """At 1-minute steps the guard judges one origin in five (a grid fixed in time): the unguarded forecasts
    are computed on the grid only, and an origin off the grid still gets its own."""
    season = 48
    values, comps, first = _daily_spike(season)
    guarded = SkillWeighting(eta=8, half_life_steps=6, window=18, guard_window=2 * season, guard_stride=3)
    origins = np.arange(6 * season, 6 * season + 7)  # on and off the grid
    points, _ = skill_points(
        comps, values, first=first, start=first, last=int(origins[-1]), weighting=guarded
    )
    on_grid = (np.arange(first, origins[-1] + 1) % 3) == 0
    assert np.isfinite(points[on_grid]).all() and np.isnan(points[~on_grid]).all()
    point, weights = combine(comps, values, first=first, origins=origins, weighting=guarded)
    assert np.isfinite(point).all()
    made = sum(weights[n] * comps[n][origins - first] for n in comps)
    np.testing.assert_allclose(made, point)
    for t in origins:  # one origin at a time, with the kept grid points, as the service calls it
        start = int(t) - 2 * season - H
        kept, w = skill_points(comps, values, first=first, start=start, last=int(t), weighting=guarded)
        skill = Skill(start=start, points=kept, weights={n: v[-1:] for n, v in w.items()})
        alone, _ = combine(comps, values, first=first, origins=np.array([t]), weighting=guarded, skill=skill)
        np.testing.assert_allclose(alone[0], point[t - origins[0]])
    assert SkillWeighting.from_dict(guarded.to_dict()) == guarded
    with pytest.raises(ValueError):
        SkillWeighting(guard_stride=0)


def test_with_nothing_to_judge_the_guard_keeps_the_skill_weighted_forecast():
    values = np.full(300, 100.0)
    comps = _components(values, 50, 299)
    comps["last"] = comps["last"] * 1.02
    weighting = SkillWeighting(eta=8, half_life_steps=6, window=18)
    guarded = replace(weighting, guard_window=100)
    origin = np.array([50])  # nothing before it was observed
    np.testing.assert_allclose(
        combine(comps, values, first=50, origins=origin, weighting=guarded)[0],
        combine(comps, values, first=50, origins=origin, weighting=weighting)[0],
    )
    idle = np.zeros(300)
    zero = _components(idle, 50, 299)
    point, weights = combine(zero, idle, first=50, origins=np.array([250]), weighting=guarded)
    assert np.isfinite(point).all() and all(np.isfinite(w).all() for w in weights.values())


def test_guard_round_trips_and_is_off_for_models_saved_before_it():
    w = with_guard(SkillWeighting(window=21), step_s=300.0)
    assert w.guard_window == 576 and w.guard_stride == 1  # two days of 5-minute origins, each judged
    minute = with_guard(SkillWeighting(window=21), step_s=60.0)
    assert minute.guard_window == 2880 and minute.guard_stride == 5  # one in five 1-minute origins
    assert w.guard_margin == minute.guard_margin == GUARD_MARGIN
    assert SkillWeighting.from_dict(w.to_dict()) == w
    saved_before_the_margin = {k: v for k, v in w.to_dict().items() if k != "guard_margin"}
    assert SkillWeighting.from_dict(saved_before_the_margin).guard_margin == 0.0  # no margin, as it was
    assert w.lookback_origins(H) == 21 + H + 576 + H
    assert SkillWeighting.from_dict({"eta": 4.0, "half_life_steps": 12.0, "window": 48}).guard_window == 0
    with pytest.raises(ValueError):
        SkillWeighting(guard_window=-1)


# -- Holt-Winters over many origins in one pass ------------------------------------------------------------


def test_holt_winters_one_pass_matches_its_per_origin_forecast_at_the_first_origin():
    series = daily_sine(days=6, noise=0.05)
    hw = HoltWinters(step=pd.Timedelta("5min"), horizon_steps=H, fit_seasons=2).fit(series.iloc[: 288 * 4])
    values, index = series.to_numpy(), series.index
    first = 288 * 4
    many = hw.points_range(values, index, first=first, last=first + 40)
    single = hw._point_at(values[first - 2 * hw.min_history : first], index[first - 1])
    np.testing.assert_allclose(many[0], single)
    assert many.shape == (41, H)
    # Every later origin is a proper forecast: close to the truth on this smooth series.
    actual = np.stack([values[t : t + H] for t in range(first, first + 41)])
    assert wape(actual, many) < 0.1


# -- the model: adaptation, fallback, overflow, loading ------------------------------------------------------


@pytest.fixture(scope="module")
def shifted():
    """Six days of a daily cycle, then the level doubles (a launch) for the last day."""
    base = daily_sine(days=7, noise=0.02)
    values = base.to_numpy().copy()
    values[-288:] *= 2.0
    return pd.Series(values, index=base.index, name="load")


@pytest.fixture(scope="module")
def model(shifted):
    torch.set_num_threads(1)
    return fit_forecaster(shifted.iloc[:-288], model=TINY_MODEL, train=TINY_TRAIN, name="svc")


def test_after_a_level_shift_the_forecast_follows_the_new_level(model, shifted):
    assert model.weighting is not None
    static = copy.copy(model)
    static.weighting = None  # the same network and blend, without weighting by recent skill
    origin = len(shifted) - 288 + 36  # three hours after the shift
    history = shifted.iloc[:origin]
    actual = shifted.iloc[origin : origin + H].to_numpy()
    adapted = model.predict(history)["p50"].to_numpy()
    fixed = static.predict(history)["p50"].to_numpy()
    last = np.repeat(history.iloc[-1], H)
    assert wape(actual, adapted) < wape(actual, fixed)
    assert wape(actual, adapted) <= 1.1 * wape(actual, last) + 0.01


def test_the_model_wants_the_recent_origins_it_judges_and_saves_its_weighting(model, tmp_path):
    assert model.weighting.guard_window == 2 * 288  # training guards it by its components over two days
    assert model.weighting.guard_margin == GUARD_MARGIN
    assert model.lookback_steps == model.min_history_steps + model.weighting.lookback_origins(H)
    unguarded = copy.copy(model)
    unguarded.weighting = replace(model.weighting, guard_window=0)
    assert model.lookback_steps > unguarded.lookback_steps
    loaded = Forecaster.load(model.save(tmp_path / "m"))
    assert loaded.weighting == model.weighting
    assert loaded.info["training"]["relative_band"]


def test_overflowing_history_is_an_error_not_nan(model, shifted):
    huge = pd.Series(np.full(len(shifted), 1e308), index=shifted.index)
    with pytest.raises(NonFiniteForecastError, match="not a finite number.*reach 1e\\+308"):
        model.predict(huge)


def test_load_follows_the_pointer_of_a_store_written_by_train(model, shifted, tmp_path):
    store = ModelStore(tmp_path / "out")
    ref = store.save("svc", model, now=pd.Timestamp("2026-03-10"))
    with pytest.raises(ModelStoreError, match="none was promoted"):
        Forecaster.load(tmp_path / "out")  # versions exist, nothing promoted: says so and where to look
    store.promote("svc", ref.version, reason="test", now=pd.Timestamp("2026-03-10"))
    history = shifted.iloc[:-300]
    expected = model.predict(history)
    for path in (tmp_path / "out", tmp_path / "out" / "svc", ref.path):
        pd.testing.assert_frame_equal(Forecaster.load(path).predict(history), expected)
    pd.testing.assert_frame_equal(ModelStore.load_dir(tmp_path / "out").predict(history), expected)


def test_calls_on_a_growing_history_reuse_what_was_computed_and_agree_with_a_fresh_model(model, shifted):
    model.reset()
    fresh = Forecaster.from_bytes(model.to_bytes())
    history = shifted.iloc[:-100]
    model.predict(history.iloc[:-3])
    for k in (2, 1, 0):  # the service's pattern: one more point each call
        grown = history.iloc[: len(history) - k]
        kept = model.predict(grown)
        fresh.reset()
        again = fresh.predict(grown)
        np.testing.assert_allclose(kept.to_numpy(), again.to_numpy(), rtol=1e-3)
    # A changed past is never served from what was kept.
    edited = history.copy()
    edited.iloc[-10] *= 3
    fresh.reset()
    # (The band is calibrated on the network's past bands, computed in other batches than the fresh
    # model's: float32 rounding differs in the seventh digit; a stale row would differ in the first.)
    np.testing.assert_allclose(model.predict(edited).to_numpy(), fresh.predict(edited).to_numpy(), rtol=1e-6)


def test_kept_components_grow_in_place_and_rows_handed_out_never_change(model, shifted):
    """A call a step after the last appends the new origin's rows to the kept ones in place (the days kept
    are not copied); a call that does not extend the last one (a changed past, an earlier end) gets rows
    of its own, equal to a fresh model's; rows handed out are read-only and never written again."""
    model.reset()
    fresh = copy.deepcopy(model)  # (not through the manifest: it rounds Holt-Winters' parameters)
    values = shifted.to_numpy()[:-100]
    index = shifted.index[:-100]
    n = len(values)

    def components(m: Forecaster, v: np.ndarray, end: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return m.components(v[:end], index[:end], first=m.components_first(end), last=end)

    for end in (n - 6, n - 5):
        components(model, values, end)
    raw1, members1 = components(model, values, n - 4)
    before = raw1.copy(), {k: v.copy() for k, v in members1.items()}
    raw2, members2 = components(model, values, n - 3)
    assert np.shares_memory(raw1, raw2)  # the new origin's row was written after the kept ones
    np.testing.assert_array_equal(raw2[:-1], raw1[1:])  # one origin later: the first row dropped
    with pytest.raises(ValueError, match="read-only"):
        members2["lstm"][0, 0] = 0.0

    edited = values.copy()
    edited[n - 4] *= 3  # the last origin's last value: never served from what was kept
    fresh.reset()
    raw3, members3 = components(model, edited, n - 3)
    want_raw, want_members = components(fresh, edited, n - 3)
    np.testing.assert_array_equal(raw3, want_raw)
    for name, want in want_members.items():
        np.testing.assert_array_equal(members3[name], want)
    assert not np.array_equal(members3["last_value"][-1], members2["last_value"][-1])
    components(model, values, n - 2)  # back to the unchanged series, a step later
    earlier = components(model, values, n - 8)  # an earlier end: origins kept from before, none written
    # (Those rows were computed in another batch than the first calls': float32 rounding differs in the
    # seventh digit; a stale row would differ in the first.)
    np.testing.assert_allclose(earlier[0][-1], before[0][-5], rtol=1e-6)
    np.testing.assert_array_equal(raw1, before[0])  # what the first calls were given is as it was
    for name, kept in before[1].items():
        np.testing.assert_array_equal(members1[name], kept)
    twin = copy.deepcopy(model)  # a model that kept components can be copied (their lock is not)
    # (Its own network and Holt-Winters: the kept rows are not its, and it computes them in one batch.)
    np.testing.assert_allclose(
        components(twin, values, n - 1)[0], components(model, values, n - 1)[0], rtol=1e-6
    )


@pytest.mark.parametrize("stride", [1, 3])
def test_the_guards_totals_kept_between_calls_give_what_summing_the_window_afresh_gives(stride):
    """One origin a step after another (the service): the guard sums the origins inside every step's window
    from the totals kept by the previous call (plus the newest), the window's edges step by step; the
    forecast, its weights and the totals it keeps are those of a call that sums everything afresh."""
    season = 48
    values, comps, first = _daily_spike(season)
    guarded = SkillWeighting(
        eta=8, half_life_steps=6, window=18, guard_window=2 * season, guard_stride=stride
    )
    memo: dict = {}
    used = 0
    for t in range(6 * season + 20, 6 * season + 40):  # across the spike
        origin = np.array([t])
        used += memo.get("window") is not None
        kept, w_kept = combine(comps, values, first=first, origins=origin, weighting=guarded, memo=memo)
        afresh: dict = {}
        want, w_want = combine(comps, values, first=first, origins=origin, weighting=guarded, memo=afresh)
        np.testing.assert_allclose(kept, want, rtol=1e-12)
        for name in w_want:
            np.testing.assert_allclose(w_kept[name], w_want[name], rtol=1e-12, atol=1e-15)
        assert memo["window"].start == afresh["window"].start == t - 2 * season
        np.testing.assert_allclose(memo["window"].totals, afresh["window"].totals, rtol=1e-12)
        assert memo["window"].totals[-1].sum() > 0  # origins judged
    assert used == 19  # every call after the first read the previous call's totals
    # Totals of other experts are not read (a component more, a static blend of one member less).
    other = {**comps, "extra": comps["flat"] * 1.5}
    more, _ = combine(other, values, first=first, origins=origin, weighting=guarded, memo=memo)
    alone, _ = combine(other, values, first=first, origins=origin, weighting=guarded)
    np.testing.assert_allclose(more, alone, rtol=1e-12)


def test_a_model_never_sums_the_guard_from_totals_of_another_history(model, shifted, monkeypatch):
    """The totals kept between predict calls are read only while the skill-weighted points and the
    components they were summed from are the ones kept: after a changed past or on another series they are
    summed afresh; a shorter history or a gap over the same kept rows reads them. Either way the forecast
    and the totals a model keeps are those of a model that kept none."""
    model.reset()
    twin = copy.deepcopy(model)
    end = len(shifted) - 150
    other = shifted * 1.3
    edited = shifted.copy()
    edited.iloc[end - 60] *= 3.0
    calls = [shifted.iloc[: end + k] for k in range(6)]
    calls += [edited.iloc[: end + 5], shifted.iloc[: end + 6], shifted.iloc[: end + 20]]  # changed past, gap
    calls += [shifted.iloc[end - 1200 : end + 21], shifted.iloc[: end + 30]]  # shorter (same rows), a gap
    revised = shifted.iloc[: end + 32].copy()
    revised.iloc[-1] *= 2.0  # the newest point revised (a late scrape): the window's newest target
    calls += [other.iloc[: end + 31], shifted.iloc[: end + 32], revised]
    read = []
    window_losses = combine_module._window_losses

    def spy(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        read.append(kw.get("kept") is not None)
        return window_losses(*args, **kw)

    monkeypatch.setattr(combine_module, "_window_losses", spy)
    reused = []
    for history in calls:
        read.clear()
        got = model.predict(history)
        reused.append(read == [True])
        twin._skill_cache = None  # nothing kept: the guard's totals summed afresh
        want = twin.predict(history)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12)
        kept, fresh = model._skill_cache[-1]["window"], twin._skill_cache[-1]["window"]
        assert kept.start == fresh.start
        np.testing.assert_allclose(kept.totals, fresh.totals, rtol=1e-12)
    # Not read by the first two calls (the second builds the buffer the components grow in), after the
    # changed past (and the call after it, and the gap after that: new buffers), nor on the other series,
    # nor after the newest point was revised.
    assert reused == [k in (2, 3, 4, 5, 9, 10) for k in range(len(calls))]
