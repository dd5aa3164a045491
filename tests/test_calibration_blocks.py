"""Calibrating a backtest's thousands of origins in blocks (forecaster.calibration, Forecaster.predict_many)
gives the very numbers the one-pass implementation gave: the reference below is conformal_scales and
_weighted_quantile as they were before the blocks (commit 64d9e0e), verbatim but for their names and the
validation floor's giving way to the recent errors' sizes (``REGIME_QUANTILE``, session 13)."""

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest
import torch

import forecaster.calibration as calibration
import forecaster.model as model_module
from forecaster.calibration import (
    MAX_SCALE,
    MIN_SCALE,
    PRIOR_WEIGHT,
    REGIME_QUANTILE,
    BandCalibration,
    carried_width,
    conformal_scales,
    fit_prior,
    scores,
)
from forecaster.training import fit_forecaster
from tests.helpers import TINY_MODEL, TINY_TRAIN, daily_sine

H = 6
DAY = 48


def _reference_scales(
    calibration: BandCalibration,
    *,
    members: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray],
    raw: np.ndarray,
    values: np.ndarray,
    first: int,
    origins: np.ndarray,
    quantiles: Sequence[float],
    floor: float,
    validation_scale: Sequence[float] | None = None,
    unit: np.ndarray | None = None,
) -> np.ndarray:
    """The scale ``[N, H, Q]`` of the network's carried band at ``origins`` (1 for the median).

    ``unit``: that band ``[N, H, Q]`` (scale 1): the widening is then capped by the residuals themselves.

    ``validation_scale``: the per-quantile scale fitted on validation and bounded there (the model's
    ``band_scale``), the floor; without it the validation scores' quantile.
    """
    S, H, Q = raw.shape
    N = len(origins)
    cal = calibration
    h = np.arange(H)
    i50 = list(quantiles).index(0.5)

    def scores_at(s_abs: np.ndarray, step: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``[N, H, K, Q]`` and residuals ``y - point`` ``[N, H, K]`` of the forecasts made at
        origins ``s_abs [N, H, K]`` for step h (or ``step``), with the combination weights of now; NaN
        where the origin is not kept, the step outside the horizon or its target not yet seen."""
        step = np.broadcast_to(h[None, :, None] if step is None else step, s_abs.shape)
        target = s_abs + step
        ok = (s_abs >= first) & (s_abs < first + S) & (target < origins[:, None, None]) & (target >= 0)
        ok = ok & (step >= 0) & (step < H)
        s_rel = np.clip(s_abs - first, 0, S - 1)
        y = np.where(ok, values[np.clip(target, 0, len(values) - 1)], np.nan)  # [N, H, K]
        hh = np.clip(step, 0, H - 1)
        past = np.zeros(s_rel.shape)
        for name, w in weights.items():
            past += w[:, :, None] * members[name][s_rel, hh]  # [N, H, K]
        return scores(y, past, carried_width(raw[s_rel, hh], past, i50=i50, floor=floor)), y - past

    # Recent: the origins whose target y[s + h] is observed (s <= t - 1 - h), pooled over the steps: one
    # scale for the whole horizon (the network's band keeps its shape across it; capacity is planned on
    # the band's peak over the lead time, which a per-step scale that narrows early steps misses more).
    j = np.arange(cal.window)
    recent, recent_d = scores_at(origins[:, None, None] - 1 - h[None, :, None] - j[None, None, :])
    recent_w = np.broadcast_to((0.5 ** (j / cal.half_life_steps))[None, None, :], recent.shape[:3])
    recent, recent_w = recent.reshape(N, 1, -1, Q), recent_w.reshape(N, 1, -1)  # [N, 1, H * W, (Q)]
    recent_d = recent_d.reshape(N, 1, -1)
    # Seasonal: the forecasts made within a few steps of the same time on previous days, step by step.
    seasonal = seasonal_d = None
    if cal.season_steps and cal.seasonal_days:
        i = np.arange(-cal.seasonal_halfwidth, cal.seasonal_halfwidth + 1)
        back = (np.arange(1, cal.seasonal_days + 1)[:, None] * cal.season_steps - i[None, :]).ravel()  # [K]
        step = None
        if cal.seasonal_align == "target":  # the origin i steps after the same time reaches it at step h - i
            step = h[None, :, None] - np.tile(i, cal.seasonal_days)[None, None, :]
        seasonal, seasonal_d = scores_at(
            np.broadcast_to(origins[:, None, None] - back[None, None, :], (N, H, len(back))), step
        )
    out = np.ones((N, H, Q))
    for q, level in enumerate(quantiles):
        if level == 0.5:
            continue
        prior = cal.prior[q][np.isfinite(cal.prior[q])]  # [M]
        # Above the median: covered when r <= scale, so the scale is the q quantile of the scores. Below
        # (the width is negative): covered when r >= scale, so it is the 1 - q quantile. Either way a wider
        # band is a larger scale.
        at = level if level > 0.5 else 1 - level
        k = _reference_quantile(recent[..., q], recent_w, prior=prior, at=at)  # [N, 1]
        if seasonal is not None:
            k = np.maximum(k, _reference_quantile(seasonal[..., q], None, prior=prior, at=at))  # [N, H]
        if unit is not None:
            # Never beyond the errors themselves: the same quantile of the raw residuals, in the band's
            # direction. Scores divide by the network's band at past origins; where that band had
            # collapsed (a regime it never saw) they are huge, and times today's band would be absurd.
            sign = 1.0 if level > 0.5 else -1.0
            none = np.zeros(0)
            cap = _reference_quantile(sign * recent_d, recent_w, prior=none, at=at, beyond=np.inf)
            if seasonal_d is not None:
                cap = np.maximum(
                    cap, _reference_quantile(sign * seasonal_d, None, prior=none, at=at, beyond=np.inf)
                )
            cap = np.where(cap == -np.inf, np.inf, cap)  # too few residuals: no cap
            size = np.abs(unit[..., q])  # [N, H]
            k = np.minimum(k, np.where(size > 0, cap / np.where(size > 0, size, 1.0), np.inf))
        # Never narrower than validation asked for (the network's own band without validation scores),
        # nor than 95% of the recent errors' sizes where they fit inside less.
        floor = validation_scale[q] if validation_scale is not None else None
        if floor is None:
            floor = np.quantile(prior, at) if len(prior) else 1.0
        held = _reference_quantile(
            np.abs(recent[..., q]), recent_w, prior=np.zeros(0), at=REGIME_QUANTILE, beyond=np.inf
        )
        k = np.maximum(k, np.minimum(floor, np.where(held == -np.inf, np.inf, held)))
        out[..., q] = np.clip(k, MIN_SCALE, MAX_SCALE)
    return out


def _reference_quantile(
    r: np.ndarray, w: np.ndarray | None, *, prior: np.ndarray, at: float, beyond: float = MAX_SCALE
) -> np.ndarray:
    """The weighted ``at`` quantile over the last axis of ``r [N, H, K]`` (weights ``w``, 1 when None),
    joined by the validation ``prior`` scores (``PRIOR_WEIGHT`` of the scores' total weight) and by the
    forecast being calibrated as a score at +infinity of unit weight (the conformal correction);
    -infinity where there are too few scores to say anything."""
    N, H, _ = r.shape
    found = np.isfinite(r)
    w = np.where(found, 1.0 if w is None else w, 0.0)
    total = np.sum(w, axis=2, keepdims=True)  # [N, H, 1]
    m = len(prior)
    vals = np.concatenate(
        [np.where(found, r, np.inf), np.broadcast_to(prior, (N, H, m)), np.full((N, H, 1), np.inf)], axis=2
    )
    prior_w = np.broadcast_to(PRIOR_WEIGHT * np.maximum(total, 1.0) / max(m, 1), (N, H, m))
    w = np.concatenate([w, prior_w, np.ones((N, H, 1))], axis=2)
    order = np.argsort(vals, axis=2)
    vs = np.take_along_axis(vals, order, axis=2)
    cw = np.cumsum(np.take_along_axis(w, order, axis=2), axis=2)
    pick = np.sum(cw < at * cw[..., -1:], axis=2)  # the first sorted score reaching the level
    k = np.take_along_axis(vs, np.minimum(pick, vs.shape[2] - 1)[..., None], axis=2)[..., 0]
    # Too few scores for this quantile (under 1 / (1 - at), e.g. 10 for a p90: a cold start, a history
    # shorter than the seasonal look-back): no evidence either way, the validation scale decides.
    k = np.where(total[..., 0] * (1 - at) < 1.0 - 1e-9, -np.inf, k)  # ten scores make a p90 (session 9)
    return np.where(np.isfinite(k) | (k == -np.inf), k, beyond)


def _inputs(
    seed: int, *, quantiles: tuple[float, ...], seasonal: bool, align: str = "origin"
) -> tuple[BandCalibration, dict]:
    """Three components at consecutive origins from ``first``, a network band whose p50 is near zero in
    places (the band is absolute there), gaps in the values, per-origin weights; origins scattered over the
    range (some before any score is kept, some at its end)."""
    rng = np.random.default_rng(seed)
    n, first = 12 * DAY, 20
    S = n - first
    values = 100 + 30 * np.sin(np.arange(n) * 2 * np.pi / DAY) + rng.normal(0, 8, n)
    values[rng.choice(n, 15, replace=False)] = np.nan
    level = np.where(rng.random((S, H)) < 0.1, rng.uniform(0, 5, (S, H)), 100 + rng.normal(0, 20, (S, H)))
    spread = rng.uniform(0.5, 15, (S, H))
    sign = np.sign(np.array(quantiles) - 0.5)  # [Q]: below, at, above the median
    raw = level[..., None] + spread[..., None] * sign  # [S, H, Q]
    members = {
        "a": 100 + rng.normal(0, 10, (S, H)),
        "b": np.asfortranarray(100 + rng.normal(0, 5, (S, H))),  # not C-contiguous
        "lstm": raw[..., quantiles.index(0.5)],  # a strided view
    }
    origins = np.sort(rng.choice(np.arange(first, n), 150, replace=False))
    origins = np.concatenate([origins, [first, first + 1, n - 2, n - 1]])
    w = rng.dirichlet(np.ones(3), (len(origins), H))  # [N, H, 3]
    weights = {name: w[..., i] for i, name in enumerate(members)}
    r = rng.standard_t(4, (3000, H, len(quantiles)))
    r[..., quantiles.index(0.5)] = np.nan
    cal = BandCalibration(
        prior=fit_prior(r),
        half_life_steps=7.0,
        window=24,
        season_steps=DAY if seasonal else 0,
        seasonal_halfwidth=H if seasonal else 0,
        seasonal_days=3 if seasonal else 0,
        seasonal_align=align,
    )
    point = sum(weights[k] * members[k][origins - first] for k in members)
    unit = carried_width(raw[origins - first], point, i50=quantiles.index(0.5), floor=1.0)
    kw = {
        "members": members,
        "weights": weights,
        "raw": raw,
        "values": values,
        "first": first,
        "origins": origins,
        "quantiles": quantiles,
        "floor": 1.0,
        "unit": unit,
    }
    return cal, kw


@pytest.mark.parametrize("seasonal", [False, "origin", "target"])
@pytest.mark.parametrize("quantiles", [(0.5, 0.9), (0.1, 0.5, 0.9)])
@pytest.mark.parametrize("validation_scale", [None, "given", "above the recent errors"])
@pytest.mark.parametrize("block_elements", [1, 5000, 1 << 21])
def test_blocks_of_origins_give_the_one_pass_numbers(
    monkeypatch, seasonal, quantiles, validation_scale, block_elements
):
    cal, kw = _inputs(
        len(quantiles) + 2 * bool(seasonal),
        quantiles=quantiles,
        seasonal=bool(seasonal),
        align=seasonal or "origin",
    )
    wide = {"given": 1.3, "above the recent errors": 30.0}.get(validation_scale)
    vs = None if wide is None else [wide if q != 0.5 else 1.0 for q in quantiles]
    expected = _reference_scales(cal, validation_scale=vs, **kw)
    monkeypatch.setattr(calibration, "_BLOCK_ELEMENTS", block_elements)  # 1: one origin a block
    got = conformal_scales(cal, validation_scale=vs, **kw)
    np.testing.assert_array_equal(got, expected)
    # Not a vacuous comparison: the scales move with the errors, and some are capped or floored.
    moved = got[..., [i for i, q in enumerate(quantiles) if q != 0.5]]
    assert len(np.unique(moved)) > 50
    if wide == 30.0:  # the validation floor holds at some origins, gives way to the recent errors at others
        below = (moved < 30.0) & (moved > MIN_SCALE)
        assert (moved == 30.0).any() and below.mean() > 0.2, (np.mean(moved == 30.0), below.mean())
    without_cap = conformal_scales(cal, validation_scale=vs, **{**kw, "unit": None})
    np.testing.assert_array_equal(
        without_cap, _reference_scales(cal, validation_scale=vs, **{**kw, "unit": None})
    )


@pytest.mark.parametrize("at", [0.5, 0.75, 0.8, 0.9, 0.95])
def test_unit_weights_without_a_prior_are_counted_to_the_weighted_sorts_number(at):
    rng = np.random.default_rng(int(at * 100))
    r = np.round(rng.standard_t(4, (40, 7, 61)) * 2) / 2  # ties
    r[rng.random(r.shape) < 0.3] = np.nan
    r[:3] = np.nan  # nothing to score
    r[3:6, :, 5:] = np.nan  # fewer scores than the quantile needs
    for beyond in (np.inf, MAX_SCALE):
        counted = calibration._weighted_quantile(r, None, prior=np.zeros(0), at=at, beyond=beyond)
        weighted = calibration._weighted_quantile(
            r, np.ones(r.shape), prior=np.zeros(0), at=at, beyond=beyond
        )
        np.testing.assert_array_equal(counted, weighted)
        assert np.isneginf(counted[:3]).all() and np.isfinite(counted[6:]).any()


@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "unguarded"])
def test_predict_many_combines_and_calibrates_in_blocks_with_the_same_numbers(monkeypatch, guarded):
    """Training turns the guard on (its combination runs in one pass, the calibration in blocks); without it
    the combination runs in blocks too. Either way the numbers are those of one block."""
    torch.set_num_threads(1)
    series = daily_sine(days=6, noise=0.05, seed=2)
    m = fit_forecaster(series.iloc[: 4 * 288], model=TINY_MODEL, train=TINY_TRAIN, name="blocks")
    assert m.weighting is not None and bool(m.weighting.guard_window) and m.calibration is not None
    if not guarded:
        m.weighting = dataclasses.replace(m.weighting, guard_window=0)
    origins = np.arange(len(series) - 100, len(series) + 1)  # the last one: after the end
    whole = m.predict_many(series, origins=origins)
    m.reset()
    monkeypatch.setattr(model_module, "_COMBINE_BLOCK_ELEMENTS", 1)  # one origin a block
    monkeypatch.setattr(calibration, "_BLOCK_ELEMENTS", 1)
    blocked = m.predict_many(series, origins=origins)
    for a, b in zip(whole, blocked, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # Each frame's index is the steps after its origin's last observed point.
    assert blocked[0].index[0] == series.index[origins[0] - 1] + m.step
    assert blocked[-1].index[-1] == series.index[-1] + m.step * m.horizon_steps
