"""Weighting forecast components by their recent skill (pure numpy: no torch, no I/O).

A network fitted weeks ago is the best forecaster while the service behaves as it did then, and loses to
"the last value" right after a level shift (a release that doubles CPU, a launch, a broken exporter). The
history handed to ``predict`` already says which component is tracking *now*: every component's forecasts
from the recent origins can be scored against what happened since. :func:`combine` weights each component
by that recent skill, per horizon step, so that after a shift the forecast follows what is tracking, and
returns to the network once the network's recent errors are again the smallest.

Axis convention: components are forecast at *consecutive* origins ``first .. first + S - 1`` (positions in
the series; origin ``s`` forecasts ``y[s : s + H]`` from ``y[:s]``), arrays ``[S, H]``. The combination is
asked for at ``origins`` (a subset of that range); for origin ``t`` and step ``h`` (0-based) only errors of
origins ``s <= t - 1 - h`` are used: their targets ``y[s + h]`` were observed before ``t``.

With seasonal memory (:func:`with_seasonal_memory`) the errors made around the same time on the last days
join the recent ones: a spike that recurs daily is judged by who got it right on the previous days.

At a recurring excursion (:func:`peak_losses`: a step whose target minute was far from the origin's level on
each of the last days, a daily spike) the components are judged by their forecasts of that minute on those
days, pooled over the excursion's steps: the recent window holds only the quiet minutes before it.

With a guard (:func:`with_guard`) the skill-weighted forecast is itself one expert among its components,
judged over a longer window (two days): the final forecast is their exponentially weighted average with
the Hedge learning rate ``sqrt(8 ln(N) / T)`` over the ``T`` origins judged, on losses measured in units
of the best expert's mean error over that window. For losses within that range, Hedge's regret bound says
the mixture's mean error over the window is at most ``1 + sqrt(ln(N) / (2 T))`` times the best expert's
(N = 8, T = 576 five-minute origins: 4.2%), so the forecast is never much worse than its best component
over the recent window, whichever component that is (a daily spike that only yesterday's value gets right,
a level shift that only the last value follows). Two refinements keep that bound: identical components (a
static blend of one member) are one expert, and the skill-weighted forecast's prior odds are
``exp(margin * eta)`` (:data:`GUARD_MARGIN`): a component outweighs it only when better by more than the
margin over the window. Hedge's regret vs an expert of prior ``p_c`` is ``ln(1 / p_c) / eta + eta / 8``; here
``ln(1 / p_c) <= ln N + margin * eta`` for a component, so the bound vs every component becomes
``1 + sqrt(ln(N) / (2 T)) + margin``, and vs the skill-weighted forecast it stays ``1 + sqrt(ln(N) / (2 T))``
(or better), whatever ``T``: the margin costs the same few per cent on a one-round window as on two days,
where a fixed prior (odds independent of ``eta``) costs ``ln(odds) / eta`` and dominates short windows.

Weights: ``w_c ∝ prior_c * exp(-eta * L_c / min_c L_c)`` where ``L_c`` is the component's recent relative
error (discounted by ``half_life_steps``, over at most ``window`` origins). Scoring by the ratio to the best
component makes ``eta`` scale-free: a component twice as bad as the best weighs ``exp(-eta)`` as much.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

__all__ = [
    "Skill",
    "SkillWeighting",
    "combine",
    "recent_losses",
    "skill_points",
    "with_guard",
    "with_seasonal_memory",
]

_EPS = 1e-12
_MAX_RATIO = 1e6
_FEW_ORIGINS = 8  # up to this many origins the guard's window sums are one matrix product
_BLOCK_ELEMENTS = 1 << 21  # [N, H, K] elements per pass of the unguarded weighting


@dataclass(frozen=True)
class SkillWeighting:
    """How sharply and over how much recent history components are weighted (fitted on validation data)."""

    eta: float = 4.0
    """Sharpness: a component whose recent error is ``r`` times the best one's weighs ``exp(-eta (r - 1))``."""
    half_life_steps: float = 12.0
    """Errors this many origins old count half as much as the latest."""
    window: int = 48
    """Origins looked back at most (bounds the work per forecast)."""
    prior: float = 1.0
    """Prior weight of the static blend relative to each other component (>= 1: stay with the blend
    unless another component has clearly done better recently)."""
    pooled: bool = False
    """Judge each component by its error over all horizon steps together (steadier on noisy series)
    rather than step by step (sharper where components differ by lead time)."""
    season_steps: int = 0
    """Steps in a day; with ``seasonal_days`` the errors made around the same time on previous days join
    the recent ones (0: recent errors only, as models saved before this field)."""
    seasonal_days: int = 0
    """Previous days whose same-time errors are judged: a spike that recurs daily is where components
    differ most, and the recent window (all before it) cannot tell which one gets it right."""
    seasonal_halfwidth: int = 0
    """Same-time errors come from the origins within this many steps of the same time on those days."""
    seasonal_weight: float = 1.0
    """Total weight of the same-time errors relative to the recent window's."""
    guard_window: int = 0
    """Origins over which the skill-weighted forecast and each component are compared by the guard
    (:func:`with_guard`; 0: no guard, as models saved before this field)."""
    guard_stride: int = 1
    """The guard judges one origin in this many, on a grid fixed in time (1-minute steps: one a 5 minutes;
    neighbouring origins' errors are nearly the same, and the cost is the grid's)."""
    guard_margin: float = 0.0
    """How much better over the guard window (in units of the best expert's mean error) a component must
    be than the skill-weighted forecast to outweigh it (:data:`GUARD_MARGIN`); 0: none, as models saved
    before this field."""
    peak_days: int = 0
    """Previous days (``season_steps`` apart) whose forecasts *of the same minute* judge the components at
    a step whose target is a recurring excursion (:func:`peak_losses`); 0: off, as models saved before."""
    peak_halfwidth: int = 0
    """Those forecasts come from the origins within this many steps of the same time on each day."""
    peak_ratio: float = 0.0
    """A step is a recurring excursion when, on every one of those days, last value's error at that minute
    was more than this many times its recent error at that step."""

    def __post_init__(self) -> None:
        if not (self.eta >= 0 and self.half_life_steps > 0 and self.window >= 1 and self.prior > 0):
            raise ValueError(f"invalid skill weighting {self}")
        if (
            min(self.season_steps, self.seasonal_days, self.seasonal_halfwidth) < 0
            or self.seasonal_weight < 0
            or self.guard_window < 0
            or self.guard_stride < 1
            or not 0.0 <= self.guard_margin < 1.0
            or min(self.peak_days, self.peak_halfwidth) < 0
            or self.peak_ratio < 0
            or (self.peak_days and not self.season_steps)
        ):
            raise ValueError(f"invalid skill weighting {self}: negative season")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> SkillWeighting:
        return cls(
            eta=float(data["eta"]),
            half_life_steps=float(data["half_life_steps"]),
            window=int(data["window"]),
            prior=float(data.get("prior", 1.0)),
            pooled=bool(data.get("pooled", False)),
            season_steps=int(data.get("season_steps", 0)),
            seasonal_days=int(data.get("seasonal_days", 0)),
            seasonal_halfwidth=int(data.get("seasonal_halfwidth", 0)),
            seasonal_weight=float(data.get("seasonal_weight", 1.0)),
            guard_window=int(data.get("guard_window", 0)),
            guard_stride=int(data.get("guard_stride", 1)),
            guard_margin=float(data.get("guard_margin", 0.0)),
            peak_days=int(data.get("peak_days", 0)),
            peak_halfwidth=int(data.get("peak_halfwidth", 0)),
            peak_ratio=float(data.get("peak_ratio", 0.0)),
        )

    @property
    def seasonal(self) -> bool:
        return bool(self.season_steps and self.seasonal_days)

    def lookback_origins(self, horizon: int) -> int:
        """Consecutive origins before the first requested one that the weighting reads (with a guard: the
        skill-weighted forecasts of the guard window, each with its own lookback)."""
        return self.skill_lookback_origins(horizon) + (
            self.guard_window + horizon if self.guard_window else 0
        )

    def skill_lookback_origins(self, horizon: int) -> int:
        """Consecutive origins before an origin that its skill-weighted forecast reads."""
        recent = self.window + horizon
        if self.peak_days:
            recent = max(recent, self.peak_days * self.season_steps + self.peak_halfwidth)
        if not self.seasonal:
            return recent
        return max(recent, self.seasonal_days * self.season_steps + self.seasonal_halfwidth)

    def offsets(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """How far back each judged origin lies, ``[H, K]`` (origin ``t - offset`` is judged for step ``h``),
        and its weight ``[K]``: the recent window (decaying), then the same-time origins of previous days
        (usable only where their target, ``h`` steps later, was observed before the origin)."""
        W = self.window
        decay = 0.5 ** (np.arange(W) / self.half_life_steps)  # [W]
        h = np.arange(horizon)
        recent = 1 + h[:, None] + np.arange(W)[None, :]  # [H, W]
        if not self.seasonal:
            return recent, decay
        k = np.arange(-self.seasonal_halfwidth, self.seasonal_halfwidth + 1)  # [2hw + 1]
        days = np.arange(1, self.seasonal_days + 1)  # [D]
        same_time = (days[:, None] * self.season_steps - k[None, :]).ravel()  # [D * (2hw + 1)]
        per_score = self.seasonal_weight * float(np.sum(decay)) / len(same_time)
        seasonal = np.repeat(same_time[None, :], horizon, axis=0)  # [H, D * (2hw + 1)]
        # A same-time origin whose target step lies at or after the forecast origin is not yet observed.
        seasonal = np.where(seasonal - h[:, None] >= 1, seasonal, -1)  # -1: skipped
        weights = np.concatenate([decay, np.full(len(same_time), per_score)])
        return np.concatenate([recent, seasonal], axis=1), weights


SEASONAL_DAYS = 3
SEASONAL_WEIGHT = 0.25
"""Same-time errors of the last 3 days at a quarter of the recent window's weight. Measured on the 16
development series (same networks, same protocol): the worst series (a daily 03:19 spike on an idle CPU)
1.17x -> 1.09x its best baseline; at equal weight they also outvoted the recent window after level shifts
(a network series 1.06x -> 1.43x), at a quarter they do not (1.06x)."""


def with_seasonal_memory(weighting: SkillWeighting, *, season_steps: int, horizon: int) -> SkillWeighting:
    """``weighting`` that also judges the errors made around the same time on the last days."""
    if not season_steps or horizon + horizon >= season_steps:
        return weighting
    return replace(
        weighting,
        season_steps=season_steps,
        seasonal_days=SEASONAL_DAYS,
        seasonal_halfwidth=horizon,
        seasonal_weight=SEASONAL_WEIGHT,
    )


GUARD_DAYS = 2.0
"""The guard compares over the last two days: long enough to hold a daily event twice and for the Hedge
bound to be tight (4.2% at 5-minute steps), short enough to follow a level shift within a day. Measured
offline on the 16 development series (the same networks, the test range): one day 1.10x worst, two days
1.07x, three 1.09x; median 0.90 for each (0.92 without a guard)."""


GUARD_GRID_S = 300.0
"""The guard judges one origin per 5 minutes (every origin at 5-minute steps or coarser)."""


GUARD_MARGIN = 0.03
"""A component must beat the skill-weighted forecast by 3% of the best expert's mean error over the guard
window to outweigh it (Hedge's bound vs each component grows by exactly that, module docstring). Without it,
a tie over the window moved half the weight or more to a component that had merely done as well over two
days: the CronJob's end-to-end model (tests/test_cronjob.py: the network on 3 days of a launch growing
50% a day, the static blend Holt-Winters alone) scored 0.0455 WAPE unguarded on its backtest, 0.0512 with
the uniform guard with duplicates merged (0.0527 as two experts), against last value's 0.0487: not promoted;
margins 0.01 / 0.02 / 0.03 / 0.05: 0.0495 / 0.0478 / 0.0466 / 0.0457."""


def with_guard(weighting: SkillWeighting, *, step_s: float) -> SkillWeighting:
    """``weighting`` whose forecast is guarded by its components over the last :data:`GUARD_DAYS` (and
    that judges recurring excursions by the previous days' same minutes: :func:`with_peaks`)."""
    return with_peaks(
        replace(
            weighting,
            guard_window=max(1, int(round(GUARD_DAYS * 86400.0 / step_s))),
            guard_stride=max(1, int(round(GUARD_GRID_S / step_s))),
            guard_margin=GUARD_MARGIN,
        ),
        step_s=step_s,
    )


PEAK_DAYS = 3
"""Recurring excursions are judged by the same minute on the last 3 days (as the band's seasonal scores)."""
PEAK_HALFWIDTH_S = 600.0
"""From the origins within 10 minutes of the same time on each day (as the band's seasonal scores)."""
PEAK_RATIO = 4.0
"""A step is a recurring excursion when last value missed its minute by over 4x its recent error at that
step on each of those days (a 3x spike: ~15x; 4 and 8 gave the same 126 of 150 spike minutes)."""
PEAK_MIN_FORECASTS = 60
"""Only where those days hold this many forecasts of a minute (a 30-minute horizon at 1-minute steps: 63;
at 5-minute steps 15, and judging by them picked noise: the network series 1.08x -> 1.20x its best
baseline, 1.10x with a ratio of 10)."""


def with_peaks(weighting: SkillWeighting, *, step_s: float) -> SkillWeighting:
    """``weighting`` that judges the components at a recurring excursion by their forecasts of the same
    minute on the last :data:`PEAK_DAYS` days (:func:`peak_losses`)."""
    season = int(round(86400.0 / step_s))
    halfwidth = max(1, int(round(PEAK_HALFWIDTH_S / step_s)))
    if not PEAK_DAYS or season < 2 or PEAK_DAYS * (2 * halfwidth + 1) < PEAK_MIN_FORECASTS:
        return weighting
    return replace(
        weighting, season_steps=season, peak_days=PEAK_DAYS, peak_halfwidth=halfwidth, peak_ratio=PEAK_RATIO
    )


def hedge_rate(experts: int, rounds: np.ndarray) -> np.ndarray:
    """Hedge's learning rate ``sqrt(8 ln(N) / T)`` for ``N`` experts over ``T`` rounds, on losses of range
    1; times ``T`` (the mixture weighs mean losses, not sums): ``sqrt(8 ln(N) T)``."""
    return np.sqrt(8.0 * np.log(max(experts, 2)) * np.maximum(rounds, 0.0))


def skill_points(
    forecasts: Mapping[str, np.ndarray],
    values: np.ndarray,
    *,
    first: int,
    start: int,
    last: int,
    weighting: SkillWeighting,
    phase: int = 0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The skill-weighted (unguarded) forecasts ``[last - start + 1, H]`` at the consecutive origins
    ``start..last`` and their weights (name -> ``[last - start + 1, H]``): what the guard judges (a caller
    that keeps them between calls passes them to :func:`combine` as ``skill``). Only the origins of the
    guard's grid (``(origin + phase) % guard_stride == 0``) are computed; the others are NaN."""
    unguarded = replace(weighting, guard_window=0)
    H = next(iter(forecasts.values())).shape[1]
    n = last - start + 1
    points = np.full((max(n, 0), H), np.nan)
    weights = {name: np.full((max(n, 0), H), np.nan) for name in forecasts}
    grid = np.arange(start, last + 1, dtype=np.int64)
    grid = grid[(grid + phase) % weighting.guard_stride == 0]
    offsets, _ = unguarded.offsets(H)
    block = max(1, _BLOCK_ELEMENTS // (H * offsets.shape[1]))  # origins per pass: bounded memory
    for i in range(0, len(grid), block):
        origins = grid[i : i + block]
        points[origins - start], w = combine(
            forecasts, values, first=first, origins=origins, weighting=unguarded
        )
        for name in forecasts:
            weights[name][origins - start] = w[name]
    return points, weights


def recent_losses(
    forecasts: Mapping[str, np.ndarray],
    values: np.ndarray,
    *,
    first: int,
    origins: np.ndarray,
    weighting: SkillWeighting,
) -> dict[str, np.ndarray]:
    """Recent relative error ``[N, H]`` of each component at each requested origin (NaN: nothing to judge)."""
    any_fc = next(iter(forecasts.values()))
    S, H = any_fc.shape
    offsets, decay = weighting.offsets(H)  # [H, K], [K]
    h = np.arange(H)
    # Origins scored for (t, h): s = t - offset[h, k] -> positions in the component arrays.
    s_abs = origins[:, None, None] - offsets[None, :, :]  # [N, H, K]
    s_rel = s_abs - first
    target_pos = s_abs + h[None, :, None]  # [N, H, K]  y index of each scored step
    ok = (offsets[None] >= 1) & (s_rel >= 0) & (s_rel < S) & (target_pos >= 0) & (target_pos < len(values))
    s_rel_c = np.clip(s_rel, 0, S - 1)
    y = values[np.clip(target_pos, 0, len(values) - 1)]  # [N, H, K]
    ok &= np.isfinite(y)
    wts = np.where(ok, decay[None, None, :], 0.0)  # [N, H, K]
    denom = np.sum(wts * np.abs(np.where(ok, y, 0.0)), axis=2)  # [N, H]
    seen = np.sum(wts, axis=2)  # [N, H]
    if weighting.pooled:
        denom = np.repeat(np.sum(denom, axis=1, keepdims=True), H, axis=1)
        seen = np.repeat(np.sum(seen, axis=1, keepdims=True), H, axis=1)
    at = s_rel_c * H + h[None, :, None]  # [N, H, K] positions in the flattened [S, H] arrays
    out = {}
    for name, fc in forecasts.items():
        pred = np.take(fc, at)  # [N, H, K] (a flat take: several times cheaper than a 2-d fancy index)
        err = np.where(ok, np.abs(y - pred), 0.0)
        num = np.sum(wts * err, axis=2)  # [N, H]
        if weighting.pooled:
            num = np.repeat(np.sum(num, axis=1, keepdims=True), H, axis=1)
        out[name] = np.where(seen > 0, num / np.maximum(denom, _EPS), np.nan)
    return out


def _same_minute(
    values: np.ndarray, *, first: int, S: int, origins: np.ndarray, H: int, weighting: SkillWeighting
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the forecasts *of the same minute* as each step's target on the last ``peak_days`` days lie in
    the flattened ``[S, H]`` component arrays ``[N, H, D, I]`` (origin ``i`` steps after the same time, at
    step ``h - i``), which of them are kept and scored ``[N, H, D, I]``, and that minute's value ``[N, H, D]``."""
    D, hw, season = weighting.peak_days, weighting.peak_halfwidth, weighting.season_steps
    h = np.arange(H)
    i = np.arange(-hw, hw + 1)  # [I]
    back = np.arange(1, D + 1) * season  # [D]
    step = h[:, None, None] - i[None, None, :]  # [H, 1, I]
    s_rel = (
        (origins - first)[:, None, None, None] - back[None, None, :, None] + i[None, None, None, :]
    )  # [N,1,D,I]
    ok = (s_rel >= 0) & (s_rel < S) & (step[None] >= 0) & (step[None] < H)  # [N, H, D, I]
    target = (origins[:, None] + h[None, :])[:, :, None] - back[None, None, :]  # [N, H, D]
    y = values[np.clip(target, 0, len(values) - 1)]
    seen = (target >= 0) & (target < len(values)) & np.isfinite(y)
    at = np.clip(s_rel, 0, S - 1) * H + np.clip(step[None], 0, H - 1)  # [N, H, D, I]
    return at, ok & seen[..., None], np.where(seen, y, 0.0)


def peak_losses(
    forecasts: Mapping[str, np.ndarray],
    values: np.ndarray,
    *,
    first: int,
    origins: np.ndarray,
    weighting: SkillWeighting,
    recent: Mapping[str, np.ndarray],
    mask: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray] | None, np.ndarray]:
    """Where each origin's steps are a recurring excursion ``[N, H]``, and each component's relative error
    there ``[N, 1]`` (None where no step is one): its forecasts *of the same minute* as those steps' targets
    on the last ``peak_days`` days (from the origins within ``peak_halfwidth`` of the same time, each at the
    step that reaches that minute), pooled over the excursion's steps.

    A step is a recurring excursion when, on every one of those days, last value's error at that minute
    was above ``peak_ratio`` times its ``recent`` error at that step: the load moved far from where it was
    at the origin's time, every day. The recent window (all before the origin) cannot tell who forecasts
    such a minute: it holds the quiet minutes before it, where the smoothest components win (a daily spike:
    the static blend and Holt-Winters, 0.94x of the spike, bench/daily_spike.py). Pooled over the
    excursion's steps because one minute a day is a handful of samples sharing that minute's noise.

    ``mask``: where the steps are recurring excursions, already found by :func:`peak_steps` with the same
    weighting (the same numbers: last value's errors alone decide), not found again."""
    S, H = next(iter(forecasts.values())).shape
    N = len(origins)
    if mask is not None and not mask.any():
        return None, mask
    if mask is None and ("last_value" not in forecasts or "last_value" not in recent):
        return None, np.zeros((N, H), dtype=bool)
    at, ok, y = _same_minute(values, first=first, S=S, origins=origins, H=H, weighting=weighting)

    def day_errors(fc: np.ndarray) -> np.ndarray:  # [N, H, D]
        return np.sum(np.where(ok, np.abs(y[..., None] - np.take(fc, at)), 0.0), axis=3)

    count = np.sum(ok, axis=3)  # [N, H, D]
    size = count * np.abs(y)  # [N, H, D]
    if mask is None:
        lv = day_errors(forecasts["last_value"]) / np.maximum(size, _EPS)
        usual = recent["last_value"]  # [N, H]
        mask = np.all((count > 0) & (size > 0) & (lv > weighting.peak_ratio * usual[..., None]), axis=2)
        mask &= np.isfinite(usual)
    if not mask.any():
        return None, mask
    m = mask[..., None]
    total = np.sum(np.where(m, size, 0.0), axis=(1, 2))[:, None]  # [N, 1]
    out = {
        name: np.sum(np.where(m, day_errors(fc), 0.0), axis=(1, 2))[:, None] / np.maximum(total, _EPS)
        for name, fc in forecasts.items()
    }
    return out, mask


def peak_steps(
    forecasts: Mapping[str, np.ndarray],
    values: np.ndarray,
    *,
    first: int,
    origins: np.ndarray,
    weighting: SkillWeighting,
) -> np.ndarray | None:
    """Where each origin's steps are recurring excursions ``[N, H]`` (:func:`peak_losses`); None when the
    weighting does not look for them (the band's calibration pools its same-minute scores there)."""
    if not weighting.peak_days or "last_value" not in forecasts:
        return None
    lv = {"last_value": forecasts["last_value"]}
    recent = recent_losses(lv, values, first=first, origins=origins, weighting=weighting)
    return peak_losses(lv, values, first=first, origins=origins, weighting=weighting, recent=recent)[1]


def combine(
    forecasts: Mapping[str, np.ndarray],
    values: np.ndarray,
    *,
    first: int,
    origins: np.ndarray,
    weighting: SkillWeighting,
    losses: Mapping[str, np.ndarray] | None = None,
    skill: Skill | None = None,
    memo: dict[str, Any] | None = None,
    peaks: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The skill-weighted point forecast ``[N, H]`` at ``origins`` and the weights used (name -> ``[N, H]``).

    The static blend (component ``blend``, or the network without one) carries ``weighting.prior`` times
    the prior weight of the others: it is what the forecast falls back to when recent errors do not clearly
    favour another component, and where nothing can be judged yet. ``losses`` (from
    :func:`recent_losses` with the same weighting) saves recomputing them.

    With ``weighting.guard_window`` the result is guarded (module docstring); ``skill``: the unguarded
    forecasts already computed at consecutive origins (:class:`Skill`), reused where they cover what the
    guard reads. ``memo``: what a call a step later can reuse (:class:`WindowTotals`, under ``"window"``):
    read when the caller has checked it is still valid (same components, skill-weighted points and values
    for the origins it covers), replaced by this call's. ``peaks``: the recurring excursions' steps at
    ``origins`` ``[N, H]`` (:func:`peak_steps` with this weighting), when the caller has found them already.
    """
    if weighting.guard_window:
        return _guarded(
            forecasts,
            values,
            first=first,
            origins=origins,
            weighting=weighting,
            skill=skill,
            memo=memo,
            peaks=peaks,
        )
    names = list(forecasts)
    anchor = "blend" if "blend" in forecasts else "lstm"
    pri = np.array([weighting.prior if n == anchor else 1.0 for n in names])  # [C]
    if losses is None:
        losses = recent_losses(forecasts, values, first=first, origins=origins, weighting=weighting)
    if weighting.peak_days:  # at a recurring excursion: judged by the previous days' same minutes
        peak, at_peak = peak_losses(
            forecasts, values, first=first, origins=origins, weighting=weighting, recent=losses, mask=peaks
        )
        if peak is not None:
            losses = {n: np.where(at_peak, peak[n], losses[n]) for n in names}

    L = np.stack([losses[n] for n in names])  # [C, N, H]
    best = np.nanmin(np.where(np.isfinite(L), L, np.inf), axis=0)  # [N, H]
    known = np.isfinite(best) & np.isfinite(L).all(axis=0)
    ratio = np.where(known[None], L / np.maximum(best, _EPS)[None], 1.0)  # [C, N, H]
    # Scores of exactly zero error on both sides (an idle series) tie: ratio 1.
    ratio = np.where(known[None] & (best[None] <= _EPS), np.where(L <= _EPS, 1.0, _MAX_RATIO), ratio)
    ratio = np.minimum(ratio, _MAX_RATIO)
    logits = np.log(np.maximum(pri, _EPS))[:, None, None] - weighting.eta * (ratio - 1.0)
    logits -= np.max(logits, axis=0, keepdims=True)
    w = np.exp(logits)
    w /= np.sum(w, axis=0, keepdims=True)  # [C, N, H]
    pos = origins - first
    point = np.zeros((len(origins), next(iter(forecasts.values())).shape[1]))
    for i, n in enumerate(names):
        point += w[i] * forecasts[n][pos]
    return point, {n: w[i] for i, n in enumerate(names)}


def _guarded(
    forecasts: Mapping[str, np.ndarray],
    values: np.ndarray,
    *,
    first: int,
    origins: np.ndarray,
    weighting: SkillWeighting,
    skill: Skill | None,
    memo: dict[str, Any] | None = None,
    peaks: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The exponentially weighted mixture of the skill-weighted forecast and each component, judged by
    their mean relative error over the guard window (pooled over the steps), at the Hedge rate."""
    H = next(iter(forecasts.values())).shape[1]
    G = weighting.guard_window
    start = max(first, int(origins.min()) - G - H)
    last = int(origins.max())
    phase = skill.phase if skill is not None else 0
    w1: dict[str, np.ndarray] | None
    if skill is not None and skill.start <= start and skill.start + len(skill.points) > last:
        points = skill.points[start - skill.start : last - skill.start + 1]
        w1 = skill.weights_at(origins)
    else:
        points, w_all = skill_points(
            forecasts, values, first=first, start=start, last=last, weighting=weighting, phase=phase
        )
        w1 = {n: w[origins - start] for n, w in w_all.items()}
    at = origins - start
    now = points[at]  # the origins' own skill-weighted forecasts (off the grid: computed here)
    if w1 is None or not np.isfinite(now).all():
        now, w1 = combine(
            forecasts,
            values,
            first=first,
            origins=origins,
            weighting=replace(weighting, guard_window=0),
            peaks=peaks,
        )
    judged = (start + np.arange(len(points)) + phase) % weighting.guard_stride == 0
    experts = {"skill": points}
    for n, fc in forecasts.items():
        rows = fc[start - first : last - first + 1]
        # A component identical to another (a static blend of one member) is one expert, not two: twice
        # the prior mass would pull the guard towards it on a tie.
        if not any(
            np.array_equal(rows[-1], e[-1]) and np.array_equal(rows, e) for e in list(experts.values())[1:]
        ):
            experts[n] = rows
    names = list(experts)
    kept = (memo or {}).get("window")
    L, rounds, totals = _window_losses(
        experts,
        values,
        first=start,
        origins=origins,
        window=G,
        judged=judged & np.isfinite(points).all(axis=1),
        kept=kept if kept is not None and kept.names == tuple(names) else None,
    )  # [E, N], [N]
    if memo is not None:
        memo["window"] = totals
    finite = np.isfinite(L).all(axis=0)  # [N]
    best = np.min(np.where(np.isfinite(L), L, np.inf), axis=0)  # [N]
    eta = hedge_rate(len(names), rounds)  # [N]
    ratio = np.where(finite[None], L / np.maximum(best, _EPS)[None], 1.0)  # [E, N]
    # Exactly zero error on both sides (an idle series) ties.
    ratio = np.where(finite[None] & (best[None] <= _EPS), np.where(L <= _EPS, 1.0, _MAX_RATIO), ratio)
    logits = -eta[None] * (np.minimum(ratio, _MAX_RATIO) - 1.0)  # [E, N]
    # The skill-weighted forecast's prior odds exp(margin eta): a component outweighs it only when better
    # by more than the margin over the window (in units of the best expert's mean error, as the ratios).
    logits[0] += weighting.guard_margin * eta
    # Nothing judged yet: the skill-weighted forecast alone.
    logits = np.where(finite[None], logits, np.where(np.arange(len(names))[:, None] == 0, 0.0, -np.inf))
    logits -= np.max(logits, axis=0, keepdims=True)
    v = np.exp(logits)
    v /= np.sum(v, axis=0, keepdims=True)  # [E, N]
    point = v[0][:, None] * now
    weights = {}
    for i, n in enumerate(names[1:], start=1):
        point = point + v[i][:, None] * experts[n][at]
        weights[n] = v[0][:, None] * w1[n] + v[i][:, None]  # [N, H]: the mixture, component by component
    for n in forecasts:
        if n not in weights:  # a duplicate: only through the skill-weighted forecast
            weights[n] = v[0][:, None] * w1[n]
    return point, weights


def _window_losses(
    experts: Mapping[str, np.ndarray],
    values: np.ndarray,
    *,
    first: int,
    origins: np.ndarray,
    window: int,
    judged: np.ndarray | None = None,
    kept: WindowTotals | None = None,
) -> tuple[np.ndarray, np.ndarray, WindowTotals | None]:
    """Each expert's relative error ``[E, N]`` over the forecasts of the last ``window`` origins whose
    target was observed before each origin (``s + h <= t - 1``), pooled over the steps, and the rounds
    judged ``[N]`` (NaN losses where none); ``judged`` ``[S]``: the origins on the guard's grid (all when
    None). Running sums over the origins: O(E S H).

    One origin (the service's): the origins in every step's window with all their targets observed are
    summed from their totals (:class:`WindowTotals`), the ones ``kept`` from the previous call and the new
    ones (a call a step later: one), and the totals returned for the next call; the window's edges (a
    horizon of origins at either end) are summed step by step. O(E H^2) a call instead of O(E S H)."""
    S = len(next(iter(experts.values())))
    H = next(iter(experts.values())).shape[1]
    judged = np.ones(S, dtype=bool) if judged is None else judged
    if len(origins) != 1:
        return (
            *_window_sums(experts, values, first=first, origins=origins, window=window, judged=judged),
            None,
        )
    t = int(origins[0])
    lo, hi = max(t - window, first), min(t - H, first + S - 1)  # in every step's window, targets observed
    if hi < lo:
        return (
            *_window_sums(experts, values, first=first, origins=origins, window=window, judged=judged),
            None,
        )
    rows = np.full((len(experts) + 2, hi - lo + 1), np.nan)  # the totals of origins lo..hi
    if kept is not None:
        a, b = max(lo, kept.start), min(hi, kept.start + kept.totals.shape[1] - 1)
        if a <= b:
            rows[:, a - lo : b - lo + 1] = kept.totals[:, a - kept.start : b - kept.start + 1]
    new = np.flatnonzero(np.isnan(rows[0]))  # rows not kept (a call a step later: the newest)
    rows[:, new] = 0.0  # an origin not judged counts nothing
    new = new[judged[lo - first + new]]
    if len(new):
        pos = lo - first + new  # [R] rows of the expert arrays
        target = first + pos[:, None] + np.arange(H)[None, :]  # [R, H] all observed: before t
        y = values[target]
        ok = np.isfinite(y)
        y = np.where(ok, y, 0.0)
        for i, e in enumerate(experts.values()):
            rows[i, new] = np.sum(np.where(ok, np.abs(e[pos] - y), 0.0), axis=1)
        rows[-2, new] = np.sum(np.abs(y), axis=1)
        rows[-1, new] = np.sum(ok, axis=1)
    edges = judged.copy()
    edges[lo - first : hi - first + 1] = False  # the rest of the window: its edges, step by step
    sums = np.sum(rows, axis=1)[:, None] + _window_sums(
        experts, values, first=first, origins=origins, window=window, judged=edges, raw=True
    )
    rounds = sums[-1] / H
    losses = np.where(rounds > 0, sums[:-2] / np.maximum(sums[-2], _EPS), np.nan)
    return losses, rounds, WindowTotals(start=lo, totals=rows, names=tuple(experts))


@dataclass(frozen=True)
class WindowTotals:
    """The guard's per-origin totals over all steps ``[E + 2, M]`` at the consecutive origins from
    ``start``: each expert's absolute error (in ``names``' order), the targets' absolute sum and the steps
    scored (all 0 for an origin not judged). Only origins whose targets were all observed."""

    start: int
    totals: np.ndarray
    names: tuple[str, ...]


def _window_sums(
    experts: Mapping[str, np.ndarray],
    values: np.ndarray,
    *,
    first: int,
    origins: np.ndarray,
    window: int,
    judged: np.ndarray,
    raw: bool = False,
) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """:func:`_window_losses` over the ``judged`` origins, step by step (``raw``: the sums ``[E + 2, N]``
    of the errors, the targets' absolute values and the steps scored, instead of losses and rounds)."""
    S = len(next(iter(experts.values())))
    pos = np.flatnonzero(judged)  # [P] the judged origins' rows
    H = next(iter(experts.values())).shape[1]
    h = np.arange(H)
    hi = np.clip(origins[:, None] - h[None, :] - first, 0, S)  # [N, H] exclusive: s <= t - 1 - h
    lo = np.clip(hi - window, 0, S)
    if len(origins) <= _FEW_ORIGINS:  # the service's one origin: only the rows its windows cover
        pos = pos[(pos >= lo.min()) & (pos < hi.max())]
    rows_of = _rows(pos)
    fc = np.stack([e[rows_of] for e in experts.values()])  # [E, P, H]
    E, P, _ = fc.shape
    target = first + pos[:, None] + h[None, :]  # [P, H]
    ok = target < len(values)
    y = values[np.minimum(target, len(values) - 1)]
    ok &= np.isfinite(y)
    y = np.where(ok, y, 0.0)
    if len(origins) <= _FEW_ORIGINS:  # a window mask and one product (components are finite where judged)
        s = pos[None, :, None]
        inside = ((s >= lo[:, None, :]) & (s < hi[:, None, :]) & ok[None]).astype(float)  # [N, P, H]
        m = inside.reshape(len(origins), -1).T  # [P H, N]
        err = np.abs(fc - y[None]).reshape(E, -1)  # [E, P H]
        err[:, ~ok.ravel()] = 0.0  # a gap's target is never scored
        sums = np.concatenate([err @ m, (np.abs(y).reshape(1, -1) @ m), np.sum(m, axis=0)[None]])
    else:
        err = np.where(
            ok[None], np.abs(fc - y[None]), 0.0
        )  # [E, P, H]  # many origins (backtests, calibration): running sums over the origins, O(E P H)
        rows = np.concatenate([err, np.abs(y)[None], ok[None].astype(float)])
        rows = rows.transpose(0, 2, 1)  # [E + 2, H, P]: the running sum along the contiguous axis
        c = np.concatenate([np.zeros((E + 2, H, 1)), np.cumsum(rows, axis=2)], axis=2)  # [E + 2, H, P + 1]
        hi_i, lo_i = np.searchsorted(pos, hi), np.searchsorted(pos, lo)  # rows before hi / lo
        sums = np.sum(c[:, h[None, :], hi_i] - c[:, h[None, :], lo_i], axis=2)  # [E + 2, N]
    if raw:
        return sums
    rounds = sums[E + 1] / H  # judged origins (one round each)
    losses = np.where(rounds > 0, sums[:E] / np.maximum(sums[E], _EPS), np.nan)
    return losses, rounds


def _rows(pos: np.ndarray) -> np.ndarray | slice:
    """``pos`` as a slice when evenly spaced (the guard's grid: a view, not a copy)."""
    if len(pos) > 1:
        step = int(pos[1] - pos[0])
        if step > 0 and np.all(np.diff(pos) == step):
            return slice(int(pos[0]), int(pos[-1]) + 1, step)
    return pos


@dataclass(frozen=True)
class Skill:
    """Unguarded skill-weighted forecasts kept between calls: ``points`` ``[S, H]`` at the consecutive
    origins from ``start`` (NaN off the guard's grid, whose phase is ``phase``), and the weights ``[S', H]``
    of the last ``S'`` of them (the ones just computed: the guard mixes them into the weights it returns)."""

    start: int
    points: np.ndarray
    weights: Mapping[str, np.ndarray]
    phase: int = 0

    def weights_at(self, origins: np.ndarray) -> dict[str, np.ndarray] | None:
        """The weights at ``origins``; None where they were not just computed."""
        rows = origins - (self.start + len(self.points) - len(next(iter(self.weights.values()))))
        if rows.min() < 0:
            return None
        return {n: w[rows] for n, w in self.weights.items()}
