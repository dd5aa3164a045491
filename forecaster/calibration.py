"""Calibrating the forecast's band from the errors the forecast would have made (pure numpy: no torch, no I/O).

The network learns a band around its own p50; the forecast is centred on the skill-weighted combination
(:mod:`forecaster.combine`), so the band is carried there (relative to the level) and then *scaled* so
that each quantile covers what it says. A scale fitted once on validation covers on validation only:
after a regime change (a quieter week, an auto-scaling group that starts flapping) coverage drifts, and a
spike that recurs every day is a few minutes a day that a global scale barely sees.

This module scales the band by weighted split-conformal calibration (non-exchangeable conformal
prediction, Barber et al. 2023). A *score* is how many unit band widths away from the point forecast the
truth landed: ``r = (y - point) / width`` with ``width`` the network's band carried to ``point`` at scale
1. The scale of a quantile above the median is the largest of:

- the *validation* scale: the model's ``band_scale``, fitted on validation and bounded there (a short
  validation range with a level shift in it asked for 25x the network's band on a real series, and got
  4x). The band is never narrower, but for one case: recent evidence widens it (a band that narrows in a
  calm hour misses the next peak, and capacity is planned on the peak), and narrows it only where even
  the large errors of the recent window (``REGIME_QUANTILE`` of their sizes) stayed inside a narrower band,
  down to that band: a regime much quieter than validation's (a CPU pinned at its ceiling, a service that
  settled), where a band of the validation scale would hold every minute;
- the *recent* scale: the weighted quantile of the scores of the forecasts made at the origins just
  before this one (targets already observed), weighted by recency (the skill weighting's half-life) and
  pooled over the horizon (one scale for all steps, so the band keeps the network's shape), joined by the
  validation scores at ``PRIOR_WEIGHT`` of their weight: after a regime change the band follows the
  errors made now, and returns to the validation scale once they leave the window;
- the *seasonal* scale, step by step, where enough days are kept: the quantile of the scores of the
  forecasts made around the same time on the last days: a spike that recurs daily widens the band at that
  time of day, which the recent errors (all before it) cannot tell. Which forecasts (``seasonal_align``):
  ``"target"``, the forecasts *of the same minute* as the step's target on those days, from the origins
  within ``seasonal_halfwidth`` of the same time (for step h, the origin i steps after it, at step h - i,
  where that is a step of the horizon); ``"origin"``
  (models saved before it), the forecasts made within ``seasonal_halfwidth`` of the same time, at the same
  step, whose targets spread over a horizon either side of the same minute. Origin-aligned, three quarters
  of a spike's scores were of minutes before it or of forecasts made once it had started (both easy), and
  the p90 of the mixture missed the spike minutes forecast from before it (``bench/daily_spike.py``).

At a recurring excursion's steps (``peaks``, from :func:`forecaster.combine.peak_steps`: a daily spike) the
seasonal scores of all its steps are pooled, each minute of each day one sample: the forecasts of one minute
on one day share that minute's noise and that day's level, so a step alone holds as many samples as days
(three), and the p90 of ~60 near-copies of three numbers missed the spike as often as not. With fewer minutes
than the quantile needs, the largest of them.

Past forecasts are re-scored with the combination weights of *now* (the forecast being calibrated), applied
to the components kept at those origins: that is the error this forecast's recipe made there. The forecast
being calibrated counts as a score at +infinity of unit weight (the conformal finite-sample correction);
fewer scores than a quantile needs (10 for a p90) say nothing, and the validation scale decides.
Quantiles below the median are handled alike (their width is negative: the 1 - q quantile of the scores).

Axis convention as in :mod:`forecaster.combine`: components at consecutive origins ``first..`` (``[S, H]``,
the network's quantiles ``[S, H, Q]``); origin ``s`` forecasts ``y[s : s + H]`` from ``y[:s]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BandCalibration", "carried_width", "fit_prior", "conformal_scales", "conformal_width", "scores"]

MIN_SCALE = 0.05
"""Smallest scale: the band is never narrower than a twentieth of the network's (a run of forecasts that all
landed on the truth must not collapse it). Not a quarter, as before :data:`REGIME_QUANTILE`: a CPU pinned
at 99% (a regime its network never saw) missed by 0.7% of the level where the network's band, learnt at a
third of that level, said 13%; a band a quarter as wide still held every minute."""
MAX_SCALE = 100.0
"""Largest scale: a burst from an idle level (a score in the thousands) must not make the band unbounded.
(The network's band collapses in a regime it never saw, so the scale that covers there can be large.)"""
_SKETCH = 64
_COUNT_TOLERANCE = 1e-9
"""Slack in "at least 1 / (1 - q) scores" (:func:`_weighted_quantile`): 10 scores make a p90, although
10 * (1 - 0.9) < 1 in floating point."""
_BLOCK_ELEMENTS = 1 << 18
"""Scores computed at once when calibrating many origins: arrays of 2 MiB, which the allocator reuses (at
16 MiB each a block's temporaries were fresh pages every time: a fifth of the CPU went to the kernel)."""

REGIME_QUANTILE = 0.95
"""The validation scale floors the band (a calm hour must not narrow it before the next peak) only down to
this quantile of the recent window's error sizes, in band widths, either side of the point. A band that
would have held 95% of the last window's errors on both sides, about 97.5% above the point for a p90, is
wide enough whatever validation said: the floor gives way only in a regime much quieter than validation's
(``ec2_cpu_utilization_ac20cd`` pinned at 99% for a day and a half of its test range: the band stayed 13% of
the level over errors of 0.7%, and the whole range's coverage was 0.96-0.97; 0.94-0.955 with this floor,
seeds 0-2, ``bench/results/accuracy-band.md``). A lower quantile let the band
narrow in the calm hours of bursty series and missed their next peaks (0.9: median peak miss 0.101 ->
0.114 over the five-minute development series)."""

PRIOR_WEIGHT = 0.25
"""The validation scores weigh as much as this share of a full window of recent scores: enough to steady a
window that is still almost empty, little enough that a window of recent evidence decides."""


@dataclass(frozen=True)
class BandCalibration:
    """How a forecast's band is calibrated at prediction time (fitted on validation, saved in the manifest)."""

    prior: np.ndarray = field(repr=False)
    """``[Q, M]`` sorted validation scores per quantile, all steps together (the median's row unused)."""
    half_life_steps: float
    """Recent scores this many origins old count half as much as the latest."""
    window: int
    """Recent origins looked back at most."""
    season_steps: int = 0
    """Steps in a day (0: no seasonal scores)."""
    seasonal_halfwidth: int = 0
    """Seasonal scores come from the origins within this many steps of the same time on previous days."""
    seasonal_days: int = 0
    """How many previous days give seasonal scores (0: none)."""
    seasonal_align: str = "origin"
    """``"target"``: the seasonal scores are the forecasts of the same minute as the target on previous days,
    from the origins up to ``seasonal_halfwidth`` steps before or after the same time (each at the step
    that reaches that minute); ``"origin"`` (models saved before it): the forecasts made at those origins,
    at the same step."""

    def __post_init__(self) -> None:
        prior = np.asarray(self.prior, dtype=float)
        if prior.ndim != 2 or not (self.half_life_steps > 0 and self.window >= 1):
            raise ValueError(
                f"invalid band calibration (prior shape {prior.shape}, {self.half_life_steps}, {self.window})"
            )
        if min(self.season_steps, self.seasonal_halfwidth, self.seasonal_days) < 0:
            raise ValueError("invalid band calibration: negative season")
        if self.seasonal_align not in ("origin", "target"):
            raise ValueError(f"invalid band calibration: seasonal_align {self.seasonal_align!r}")
        object.__setattr__(self, "prior", prior)

    def lookback_origins(self, horizon: int) -> int:
        """Consecutive origins before the forecast's whose components the calibration reads."""
        recent = self.window + horizon
        if not (self.season_steps and self.seasonal_days):
            return recent
        return max(recent, self.seasonal_days * self.season_steps + self.seasonal_halfwidth)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prior": np.where(np.isfinite(self.prior), np.round(self.prior, 5), None).tolist(),
            "half_life_steps": self.half_life_steps,
            "window": self.window,
            "season_steps": self.season_steps,
            "seasonal_halfwidth": self.seasonal_halfwidth,
            "seasonal_days": self.seasonal_days,
            "seasonal_align": self.seasonal_align,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BandCalibration:
        return cls(
            prior=np.asarray(data["prior"], dtype=float),
            half_life_steps=float(data["half_life_steps"]),
            window=int(data["window"]),
            season_steps=int(data.get("season_steps", 0)),
            seasonal_halfwidth=int(data.get("seasonal_halfwidth", 0)),
            seasonal_days=int(data.get("seasonal_days", 0)),
            seasonal_align=str(data.get("seasonal_align", "origin")),
        )


def _relative(p50: np.ndarray, floor: float) -> np.ndarray:
    """Where a band is carried relative to its p50 (noise grows with the level); elsewhere, near zero,
    absolute."""
    return np.abs(p50) > 10 * floor


def carried_width(raw: np.ndarray, point: np.ndarray, *, i50: int, floor: float) -> np.ndarray:
    """The network's band ``raw [..., Q]`` carried to ``point [...]`` at scale 1: each quantile's distance
    from the p50, relative to the p50 (noise grows with the level), absolute near zero."""
    p50 = raw[..., i50]
    dist = raw - p50[..., None]  # [..., Q]
    relative = _relative(p50, floor)
    rel = dist / np.where(relative, np.abs(p50), 1.0)[..., None]
    return np.where(relative[..., None], rel * np.abs(point)[..., None], dist)


def scores(actual: np.ndarray, point: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Band widths between the point and the truth ``[..., Q]`` (NaN where nothing can be scored)."""
    tiny = np.abs(width) <= 1e-12 * np.maximum(np.abs(point)[..., None], 1.0)
    r = (actual - point)[..., None] / np.where(tiny, 1.0, width)
    return np.where(tiny | ~np.isfinite(actual)[..., None], np.nan, r)


def _scores_one(actual: np.ndarray, point: np.ndarray, width: np.ndarray) -> np.ndarray:
    """:func:`scores` for one quantile: ``width`` without the quantile axis."""
    tiny = np.abs(width) <= 1e-12 * np.maximum(np.abs(point), 1.0)
    r = (actual - point) / np.where(tiny, 1.0, width)
    return np.where(tiny | ~np.isfinite(actual), np.nan, r)


def fit_prior(r: np.ndarray, *, sketch: int = _SKETCH) -> np.ndarray:
    """The validation scores ``[N, H, Q]`` of all steps summarised as ``[Q, sketch]`` evenly spaced quantiles."""
    levels = (np.arange(sketch) + 0.5) / sketch
    out = np.full((r.shape[2], sketch), np.nan)
    for q in range(r.shape[2]):
        col = r[..., q].ravel()
        col = col[np.isfinite(col)]
        if len(col):
            out[q] = np.quantile(col, levels)
    return out


def conformal_width(
    calibration: BandCalibration,
    *,
    members: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray],
    raw: np.ndarray,
    values: np.ndarray,
    first: int,
    origins: np.ndarray,
    point: np.ndarray,
    quantiles: Sequence[float],
    floor: float,
    validation_scale: Sequence[float] | None = None,
    peaks: np.ndarray | None = None,
) -> np.ndarray:
    """Each quantile's distance from the point forecast ``[N, H, Q]`` at ``origins`` (0 for the median).

    ``members``: every component's point forecasts ``[S, H]`` at the consecutive origins from ``first``;
    ``weights``: the combination weights ``[N, H]`` of each at ``origins``; ``raw``: the network's
    quantiles ``[S, H, Q]`` at the same consecutive origins; ``point``: the forecast ``[N, H]``.
    """
    S, H, Q = raw.shape
    i50 = list(quantiles).index(0.5)
    unit = carried_width(raw[origins - first], point, i50=i50, floor=floor)  # [N, H, Q]
    scale = conformal_scales(
        calibration,
        members=members,
        weights=weights,
        raw=raw,
        values=values,
        first=first,
        origins=origins,
        quantiles=quantiles,
        floor=floor,
        validation_scale=validation_scale,
        unit=unit,
        peaks=peaks,
    )
    return unit * scale


def conformal_scales(
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
    peaks: np.ndarray | None = None,
) -> np.ndarray:
    """The scale ``[N, H, Q]`` of the network's carried band at ``origins`` (1 for the median).

    ``unit``: that band ``[N, H, Q]`` (scale 1): the widening is then capped by the residuals themselves.

    ``validation_scale``: the per-quantile scale fitted on validation and bounded there (the model's
    ``band_scale``), the floor; without it the validation scores' quantile.

    Origins are independent of each other: a backtest's thousands of them are calibrated in blocks of
    ``_BLOCK_ELEMENTS`` scores, so memory stays bounded and each block's arrays stay in cache (the same
    numbers as one block: every reduction runs along a row of one origin).
    """
    S, H, Q = raw.shape
    origins = np.asarray(origins, dtype=np.int64)
    N = len(origins)
    cal = calibration
    raw = np.ascontiguousarray(raw)  # read at flat positions (the kept components' rows: already so)
    per_origin = H * (cal.window + (_seasonal_offsets(cal).size if _seasons(cal) else 0))
    block = max(1, _BLOCK_ELEMENTS // max(per_origin, 1))
    out = np.ones((N, H, Q))
    for b in range(0, N, block):
        rows = slice(b, b + block)
        out[rows] = _block_scales(
            cal,
            members=members,
            weights={name: w[rows] for name, w in weights.items()},
            raw=raw,
            floor=floor,
            values=values,
            first=first,
            S=S,
            origins=origins[rows],
            quantiles=quantiles,
            validation_scale=validation_scale,
            unit=None if unit is None else unit[rows],
            peaks=None if peaks is None else peaks[rows],
        )
    return out


def _seasons(cal: BandCalibration) -> bool:
    return bool(cal.season_steps and cal.seasonal_days)


def _seasonal_offsets(cal: BandCalibration) -> np.ndarray:
    """How far back the seasonal scores' origins are: a horizon around the same time on previous days."""
    i = np.arange(-cal.seasonal_halfwidth, cal.seasonal_halfwidth + 1)
    return (np.arange(1, cal.seasonal_days + 1)[:, None] * cal.season_steps - i[None, :]).ravel()  # [K]


def _seasonal_shifts(cal: BandCalibration) -> np.ndarray:
    """How many steps after the same time each of :func:`_seasonal_offsets`' origins is (``i``)."""
    i = np.arange(-cal.seasonal_halfwidth, cal.seasonal_halfwidth + 1)
    return np.broadcast_to(i[None, :], (cal.seasonal_days, len(i))).ravel()  # [K]


def _block_scales(
    cal: BandCalibration,
    *,
    members: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray],
    raw: np.ndarray,
    floor: float,
    values: np.ndarray,
    first: int,
    S: int,
    origins: np.ndarray,
    quantiles: Sequence[float],
    validation_scale: Sequence[float] | None,
    unit: np.ndarray | None,
    peaks: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`conformal_scales` for one block of origins."""
    N = len(origins)
    H = raw.shape[1]
    Q = len(quantiles)
    h = np.arange(H)
    i50 = list(quantiles).index(0.5)

    def scores_at(
        s_abs: np.ndarray, step: np.ndarray | None = None
    ) -> tuple[dict[int, np.ndarray], np.ndarray]:
        """Scores ``[N, H, K]`` per quantile and residuals ``y - point`` ``[N, H, K]`` of the forecasts made
        at origins ``s_abs [N, H, K]`` for step h (or at ``step``, broadcast alike), with the combination
        weights of now (of step h); NaN where the origin is not kept, the step beyond the horizon or the
        target not yet seen."""
        step = h[None, :, None] if step is None else step
        target = s_abs + step
        ok = (s_abs >= first) & (s_abs < first + S) & (target < origins[:, None, None]) & (target >= 0)
        ok &= (step >= 0) & (step < H)
        s_rel = np.clip(s_abs - first, 0, S - 1)
        y = np.where(ok, values[np.clip(target, 0, len(values) - 1)], np.nan)  # [N, H, K]
        at = s_rel * H + np.clip(step, 0, H - 1)  # positions in the flattened [S, H] arrays
        past = np.zeros(s_rel.shape)
        for name, w in weights.items():
            past += w[:, :, None] * np.take(members[name], at)  # [N, H, K]
        # The network's band at scale 1 carried to ``past`` (carried_width, quantile by quantile), read at
        # the scored positions only (not over every kept origin: a 1-minute model keeps five days).
        p50 = np.take(raw, at * Q + i50)
        relative = _relative(p50, floor)
        to_p50 = np.where(relative, np.abs(p50), 1.0)
        size = np.abs(past)
        out = {}
        for q, level in enumerate(quantiles):
            if level != 0.5:
                dist = np.take(raw, at * Q + q) - p50
                out[q] = _scores_one(y, past, np.where(relative, dist / to_p50 * size, dist))
        return out, y - past

    # Recent: the origins whose target y[s + h] is observed (s <= t - 1 - h), pooled over the steps: one
    # scale for the whole horizon (the network's band keeps its shape across it; capacity is planned on
    # the band's peak over the lead time, which a per-step scale that narrows early steps misses more).
    j = np.arange(cal.window)
    recent, recent_d = scores_at(origins[:, None, None] - 1 - h[None, :, None] - j[None, None, :])
    recent_w = np.broadcast_to((0.5 ** (j / cal.half_life_steps))[None, None, :], recent_d.shape)
    recent = {q: r.reshape(N, 1, -1) for q, r in recent.items()}  # [N, 1, H * W]
    recent_w, recent_d = recent_w.reshape(N, 1, -1), recent_d.reshape(N, 1, -1)
    # Seasonal: the forecasts made within a few steps of the same time on previous days, step by step.
    seasonal = seasonal_d = None
    if _seasons(cal):
        back = _seasonal_offsets(cal)
        step = None
        if cal.seasonal_align == "target":  # i steps after the same time, step h - i reaches the same minute
            step = h[None, :, None] - _seasonal_shifts(cal)[None, None, :]  # [1, H, K]
        seasonal, seasonal_d = scores_at(
            np.broadcast_to(origins[:, None, None] - back[None, None, :], (N, H, len(back))), step
        )
    # At a recurring excursion's steps (``peaks``, from the skill weighting: a daily spike), the seasonal
    # scores of all its steps together, each minute of each day one sample (its forecasts share that
    # minute's noise and that day's level: a step alone holds three samples).
    pooled = pooled_d = pooled_w = pooled_dw = None
    if seasonal is not None and peaks is not None and peaks.any() and cal.seasonal_align == "target":
        m = peaks[:, :, None]
        pooled = {q: np.where(m, r, np.nan).reshape(N, 1, -1) for q, r in seasonal.items()}  # [N, 1, H K]
        pooled_d = np.where(m, seasonal_d, np.nan).reshape(N, 1, -1)
        pooled_w = {q: _per_minute_weights(r, H=H, days=cal.seasonal_days) for q, r in pooled.items()}
        pooled_dw = _per_minute_weights(pooled_d, H=H, days=cal.seasonal_days)
    none = np.zeros(0)
    out = np.ones((N, H, Q))
    for q, level in enumerate(quantiles):
        if level == 0.5:
            continue
        prior = cal.prior[q][np.isfinite(cal.prior[q])]  # [M]
        # Above the median: covered when r <= scale, so the scale is the q quantile of the scores. Below
        # (the width is negative): covered when r >= scale, so it is the 1 - q quantile. Either way a wider
        # band is a larger scale.
        at = level if level > 0.5 else 1 - level
        k = _weighted_quantile(recent[q], recent_w, prior=prior, at=at)  # [N, 1]
        if seasonal is not None:
            ks = _weighted_quantile(seasonal[q], None, prior=prior, at=at)  # [N, H]
            if pooled is not None:
                ks = np.where(peaks, _peak_quantile(pooled[q], pooled_w[q], at=at), ks)
            k = np.maximum(k, ks)  # [N, H]
        if unit is not None:
            # Never beyond the errors themselves: the same quantile of the raw residuals, in the band's
            # direction. Scores divide by the network's band at past origins; where that band had
            # collapsed (a regime it never saw) they are huge, and times today's band would be absurd.
            sign = 1.0 if level > 0.5 else -1.0
            cap = _weighted_quantile(sign * recent_d, recent_w, prior=none, at=at, beyond=np.inf)
            if seasonal_d is not None:
                cs = _weighted_quantile(sign * seasonal_d, None, prior=none, at=at, beyond=np.inf)
                if pooled_d is not None:
                    cs = np.where(peaks, _peak_quantile(sign * pooled_d, pooled_dw, at=at, beyond=np.inf), cs)
                cap = np.maximum(cap, cs)
            cap = np.where(cap == -np.inf, np.inf, cap)  # too few residuals: no cap
            size = np.abs(unit[..., q])  # [N, H]
            k = np.minimum(k, np.where(size > 0, cap / np.where(size > 0, size, 1.0), np.inf))
        # Never narrower than validation asked for (the network's own band without validation scores),
        # unless even the recent window's large errors (REGIME_QUANTILE of their sizes, either side of the
        # point) stayed inside a narrower band: then never narrower than they.
        if validation_scale is not None:
            floor = validation_scale[q]
        else:
            floor = np.quantile(prior, at) if len(prior) else 1.0
        held = _weighted_quantile(np.abs(recent[q]), recent_w, prior=none, at=REGIME_QUANTILE, beyond=np.inf)
        held = np.where(held == -np.inf, np.inf, held)  # too few recent scores: validation decides
        k = np.maximum(k, np.minimum(floor, held))
        out[..., q] = np.clip(k, MIN_SCALE, MAX_SCALE)
    return out


def _per_minute_weights(r: np.ndarray, *, H: int, days: int) -> np.ndarray:
    """Weights of the pooled seasonal scores ``r [N, 1, H D I]`` (NaN: not scored): each (step, day), one
    target minute, weighs 1 in all, shared by the forecasts of it from the origins around the same time."""
    N = r.shape[0]
    found = np.isfinite(r).reshape(N, H, days, -1)  # [N, H, D, I]
    per_minute = np.sum(found, axis=3, keepdims=True)
    return np.where(found, 1.0 / np.maximum(per_minute, 1), 0.0).reshape(N, 1, -1)


def _peak_quantile(r: np.ndarray, w: np.ndarray, *, at: float, beyond: float = MAX_SCALE) -> np.ndarray:
    """The ``at`` quantile ``[N, 1]`` of a recurring excursion's pooled scores, each minute of each day one
    sample (``w``), with the conformal correction and no validation scores (ordinary minutes are not the
    excursion's); with fewer minutes than that quantile needs, the largest score (a p90 of three days of
    one minute: the largest of the three, not nothing)."""
    k = _weighted_quantile(r, w, prior=np.zeros(0), at=at, beyond=beyond)
    largest = np.max(np.where(np.isfinite(r), r, -np.inf), axis=2)
    return np.where(k == -np.inf, largest, k)


def _weighted_quantile(
    r: np.ndarray, w: np.ndarray | None, *, prior: np.ndarray, at: float, beyond: float = MAX_SCALE
) -> np.ndarray:
    """The weighted ``at`` quantile over the last axis of ``r [N, H, K]`` (weights ``w``, 1 when None),
    joined by the validation ``prior`` scores (``PRIOR_WEIGHT`` of the scores' total weight) and by the
    forecast being calibrated as a score at +infinity of unit weight (the conformal correction);
    -infinity where there are too few scores to say anything."""
    if w is None and not len(prior):
        return _count_quantile(r, at=at, beyond=beyond)
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
    K = vals.shape[2]
    # The scores in increasing order, as positions in the flattened arrays (a flat take is several times
    # cheaper than take_along_axis's broadcast fancy index).
    order = np.argsort(vals, axis=2) + (np.arange(N * H) * K).reshape(N, H, 1)
    cw = np.cumsum(np.take(w, order), axis=2)
    pick = np.sum(cw < at * cw[..., -1:], axis=2)  # the first sorted score reaching the level
    k = np.take(vals, np.take_along_axis(order, np.minimum(pick, K - 1)[..., None], axis=2)[..., 0])
    # Too few scores for this quantile (under 1 / (1 - at), e.g. 10 for a p90: a cold start, a history
    # shorter than the seasonal look-back): no evidence either way, the validation scale decides. The
    # tolerance: 10 * (1 - 0.9) is 0.9999999999999998 in floating point, and ten scores are enough.
    k = np.where(total[..., 0] * (1 - at) < 1.0 - _COUNT_TOLERANCE, -np.inf, k)
    return np.where(np.isfinite(k) | (k == -np.inf), k, beyond)


def _count_quantile(r: np.ndarray, *, at: float, beyond: float) -> np.ndarray:
    """:func:`_weighted_quantile` with unit weights and no prior, by counting: the +inf of unit weight
    after the ``n`` scores, the first sorted score whose running count reaches ``at * (n + 1)``. Counts
    are exact, so this is the weighted sort's very number, for a sort of the values alone."""
    found = np.isfinite(r)
    n = np.sum(found, axis=2)  # [N, H]
    ordered = np.sort(np.where(found, r, np.inf), axis=2)
    level = at * (n + 1.0)
    pick = np.minimum(np.ceil(level).astype(np.int64) - 1, n)  # sorted scores whose count stays below it
    K = ordered.shape[2]
    k = np.take_along_axis(ordered, np.minimum(pick, K - 1)[..., None], axis=2)[..., 0]
    k = np.where(pick < n, k, np.inf)
    k = np.where(n * (1 - at) < 1.0 - _COUNT_TOLERANCE, -np.inf, k)
    return np.where(np.isfinite(k) | (k == -np.inf), k, beyond)
