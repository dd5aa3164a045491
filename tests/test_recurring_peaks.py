"""A spike that recurs at the same minute every day: the skill weighting judges the components there by the
previous days' forecasts of that minute (:func:`forecaster.combine.peak_losses`), and the band pools the
same-minute scores of the spike's steps (:mod:`forecaster.calibration`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from forecaster.calibration import BandCalibration, conformal_scales, fit_prior
from forecaster.combine import (
    PEAK_DAYS,
    PEAK_RATIO,
    SkillWeighting,
    combine,
    peak_losses,
    peak_steps,
    recent_losses,
    with_guard,
    with_peaks,
)

DAY = 48  # a short "day" keeps the series small
H = 6
SPIKE = (30, 34)  # minutes of the day, every day


def _series(days: int = 6, *, skip_day: int | None = None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = 100.0 + rng.normal(0, 1.0, days * DAY)
    for d in range(days):
        if d != skip_day:
            values[d * DAY + SPIKE[0] : d * DAY + SPIKE[1]] *= 3.0
    return values


def _components(values: np.ndarray) -> dict[str, np.ndarray]:
    """At every origin ``s``: last value; ``quiet`` (100: right off the spike, never sees it); ``knows``
    (the spike's shape, 5 off everywhere: worse than ``quiet`` on every quiet minute)."""
    S = len(values) - H
    s = np.arange(S)
    last = values[np.maximum(s - 1, 0)]
    minute = (s[:, None] + np.arange(H)[None, :]) % DAY
    shape = np.where((minute >= SPIKE[0]) & (minute < SPIKE[1]), 300.0, 100.0)
    return {
        "last_value": np.repeat(last[:, None], H, axis=1),
        "quiet": np.full((S, H), 100.0),
        "knows": shape + 5.0,
    }


def _weighting(**kw) -> SkillWeighting:
    base = {"eta": 4.0, "half_life_steps": 6.0, "window": 24, "season_steps": DAY}
    return SkillWeighting(**{**base, **kw})


PEAKS = {"peak_days": 3, "peak_halfwidth": 2, "peak_ratio": 4.0}


def test_at_a_recurring_spike_the_component_that_got_it_right_on_previous_days_is_weighted():
    values = _series()
    fc = _components(values)
    origin = np.array([5 * DAY + SPIKE[0] - 3])  # steps 3, 4, 5 are the spike's first minutes
    plain_point, plain = combine(fc, values, first=0, origins=origin, weighting=_weighting())
    point, w = combine(fc, values, first=0, origins=origin, weighting=_weighting(**PEAKS))
    # The recent window holds quiet minutes only: it favours ``quiet``, which never sees the spike.
    assert plain["quiet"][0, 3:].min() > 0.8
    assert w["knows"][0, 3:].min() > 0.9, "judged by the previous days' spike minutes"
    assert point[0, 3:] == pytest.approx(305.0, rel=0.02)
    # Steps whose targets are ordinary minutes are weighted as before.
    assert w["quiet"][0, :3] == pytest.approx(plain["quiet"][0, :3])
    assert point[0, :3] == pytest.approx(plain_point[0, :3])


def test_a_step_is_a_recurring_excursion_only_when_it_was_one_on_every_day_judged():
    origin = np.array([5 * DAY + SPIKE[0] - 3])
    every_day = _series()
    mask = peak_steps(
        _components(every_day), every_day, first=0, origins=origin, weighting=_weighting(**PEAKS)
    )
    assert mask[0].tolist() == [False, False, False, True, True, True]
    two_of_three = _series(skip_day=3)  # no spike the day before yesterday
    fc = _components(two_of_three)
    assert not peak_steps(fc, two_of_three, first=0, origins=origin, weighting=_weighting(**PEAKS)).any()
    _, w = combine(fc, two_of_three, first=0, origins=origin, weighting=_weighting(**PEAKS))
    _, plain = combine(fc, two_of_three, first=0, origins=origin, weighting=_weighting())
    assert w["quiet"] == pytest.approx(plain["quiet"])
    # Without a last value to tell an excursion, nothing changes either.
    del fc["last_value"]
    losses = recent_losses(fc, two_of_three, first=0, origins=origin, weighting=_weighting(**PEAKS))
    assert (
        peak_losses(fc, two_of_three, first=0, origins=origin, weighting=_weighting(**PEAKS), recent=losses)[
            0
        ]
        is None
    )


def test_the_same_minute_judging_never_looks_at_the_origin_or_after_it():
    values = _series()
    origin = 5 * DAY + SPIKE[0] - 3
    _, w = combine(
        _components(values), values, first=0, origins=np.array([origin]), weighting=_weighting(**PEAKS)
    )
    changed = values.copy()
    changed[origin:] = 1e6  # today's spike and everything after the origin
    fc = _components(changed)
    _, w2 = combine(fc, changed, first=0, origins=np.array([origin]), weighting=_weighting(**PEAKS))
    for name in w:
        assert w2[name] == pytest.approx(w[name])


def test_recurring_excursions_are_judged_at_one_minute_steps_only_and_saved_models_keep_their_weighting():
    one_minute = with_guard(SkillWeighting(), step_s=60)
    assert (one_minute.peak_days, one_minute.peak_halfwidth, one_minute.peak_ratio) == (
        PEAK_DAYS,
        10,
        PEAK_RATIO,
    )
    assert one_minute.season_steps == 1440
    assert one_minute.skill_lookback_origins(30) == 3 * 1440 + 10
    # At 5-minute steps three days hold 15 forecasts of a minute: too few (the network series lost 1.08 ->
    # 1.20x its best baseline judged by them).
    assert with_peaks(SkillWeighting(), step_s=300) == SkillWeighting()
    assert with_guard(SkillWeighting(), step_s=300).peak_days == 0
    assert SkillWeighting.from_dict(one_minute.to_dict()) == one_minute
    saved_before = {k: v for k, v in one_minute.to_dict().items() if not k.startswith("peak_")}
    assert SkillWeighting.from_dict(saved_before).peak_days == 0
    with pytest.raises(ValueError):
        SkillWeighting(peak_days=3, peak_halfwidth=2, peak_ratio=4.0)  # no season to look back by


# -- the band at a recurring excursion -------------------------------------------------------------------------


def _band_scale(values: np.ndarray, origin: int, peaks: np.ndarray | None) -> np.ndarray:
    """One component forecasting 100 everywhere, a network band of +1 around it; the p90's scale [H]."""
    first = 10
    S = len(values) - first
    rng = np.random.default_rng(1)
    r = rng.normal(0, 1.0, (2000, H, 1))
    cal = BandCalibration(
        prior=fit_prior(np.concatenate([np.full_like(r, np.nan), r], axis=-1)),
        half_life_steps=12,
        window=36,
        season_steps=DAY,
        seasonal_halfwidth=2,
        seasonal_days=3,
        seasonal_align="target",
    )
    raw = np.stack([np.full((S, H), 100.0), np.full((S, H), 101.0)], axis=-1)
    return conformal_scales(
        cal,
        members={"flat": np.full((S, H), 100.0)},
        weights={"flat": np.ones((1, H))},
        raw=raw,
        values=values,
        first=first,
        origins=np.array([origin]),
        quantiles=(0.5, 0.9),
        floor=1e-3,
        peaks=peaks,
    )[0, :, 1]


def test_at_a_recurring_excursion_the_band_reaches_a_miss_of_any_of_its_minutes_on_any_day():
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 0.2, 8 * DAY)
    # Three minutes a day 2-3 band widths above the forecast; one minute, yesterday, 8 above.
    for d in range(8):
        values[d * DAY + 30 : d * DAY + 33] += 2.0 + 0.5 * (d % 3)
    values[6 * DAY + 31] += 6.0
    origin = 7 * DAY + 27  # steps 3, 4, 5 reach minutes 30, 31, 32
    peaks = np.zeros((1, H), dtype=bool)
    peaks[0, 3:] = True
    alone = _band_scale(values, origin, None)
    pooled = _band_scale(values, origin, peaks)
    assert alone[4] > 7.5, "the minute that missed by 8 widths, step by step"
    assert alone[3] < 4.0 and alone[5] < 4.0, "its neighbours' own days never missed by more than 3"
    # Pooled: nine minutes (three steps, three days), too few for a p90: the largest of them, at every step.
    assert pooled[3:] == pytest.approx([alone[4]] * 3, rel=0.02)
    assert pooled[:3] == pytest.approx(alone[:3]), "steps off the excursion as before"


def test_excursions_found_once_by_the_caller_give_the_very_combination():
    """The model finds the excursion steps once (:func:`peak_steps`) for the combination and the band: the
    combination given them is the one that finds them itself, and given none it skips the judging."""
    values = _series()
    fc = _components(values)
    weighting = _weighting(**PEAKS)
    origins = np.arange(3 * DAY + 20, 3 * DAY + 40)
    mask = peak_steps(fc, values, first=0, origins=origins, weighting=weighting)
    assert mask.any() and not mask.all()
    alone = combine(fc, values, first=0, origins=origins, weighting=weighting)
    given = combine(fc, values, first=0, origins=origins, weighting=weighting, peaks=mask)
    np.testing.assert_array_equal(given[0], alone[0])
    for name in fc:
        np.testing.assert_array_equal(given[1][name], alone[1][name])
    quiet = np.zeros_like(mask)  # told there are none: judged as without the excursion judging
    no_peaks = combine(fc, values, first=0, origins=origins, weighting=_weighting())
    assert not np.array_equal(no_peaks[0], alone[0])
    told = combine(fc, values, first=0, origins=origins, weighting=weighting, peaks=quiet)
    np.testing.assert_array_equal(told[0], no_peaks[0])
    guarded = replace(with_guard(weighting, step_s=86400.0 / DAY), guard_stride=1000)  # off the grid
    differs = 0
    for at in np.flatnonzero(mask.any(axis=1)):  # the guard's own combination at the origin, told or not
        origin = origins[at : at + 1]
        found = combine(fc, values, first=0, origins=origin, weighting=guarded)[0]
        told = combine(fc, values, first=0, origins=origin, weighting=guarded, peaks=mask[at : at + 1])[0]
        np.testing.assert_array_equal(told, found)
        none = combine(fc, values, first=0, origins=origin, weighting=guarded, peaks=quiet[at : at + 1])[0]
        differs += not np.array_equal(none, found)
    assert differs
