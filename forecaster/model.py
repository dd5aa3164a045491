"""``Forecaster``: a trained LSTM with everything needed to use it, saved as safetensors + a JSON manifest.

This is the Predictor the rest of the system uses (``Forecaster.load(path).predict(history)``). Loading
never unpickles anything: the weights are a safetensors file and every other fact (architecture, scaler,
step, horizon, quantiles, training range, metrics) is JSON. Loading checks the manifest against the
weights (format, checksum, tensor shapes) and refuses a mismatched or damaged artifact with a clear message.
Training lives in :mod:`forecaster.training`; the store that versions and promotes models in
:mod:`forecaster.store`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from forecaster import __version__
from forecaster.calibration import BandCalibration, carried_width, conformal_width
from forecaster.combine import Skill, SkillWeighting, combine, peak_steps, skill_points
from forecaster.errors import DataError, ModelStoreError, NonFiniteForecastError
from forecaster.event_profile import EventProfile, apply_event_profile
from forecaster.events import Calendar
from forecaster.nn import EnsembleLSTM, QuantileLSTM
from forecaster.predictors import HoltWinters, HoltWintersState, future_index, quantile_label
from forecaster.series import format_duration, infer_step
from forecaster.windows import EventFeatures, Scaler, WindowSpec, make_windows

__all__ = [
    "Forecaster",
    "MANIFEST_FILE",
    "WEIGHTS_FILE",
    "FORMAT",
    "BLEND_MEMBERS",
    "baseline_points",
    "blend_points",
    "smoothed_points",
    "VALUE_TRANSFORMS",
    "choose_value_transform",
    "to_network_scale",
    "from_network_scale",
]

MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT = "forecaster.quantile-lstm/1"
BLEND_MEMBERS = ("lstm", "last_value", "seasonal_naive", "holt_winters")
_CORE_KEYS = frozenset(
    {
        "format",
        "package_version",
        "name",
        "step_s",
        "horizon_steps",
        "lookback_steps",
        "season_steps",
        "quantiles",
        "architecture",
        "scaler",
        "weights",
        "blend",
        "holt_winters",
        "weighting",
        "band_scale",
        "calibration",
        "events",
        "event_profile",
    }
)
"""Manifest keys that :meth:`Forecaster.manifest` writes itself; everything else is ``info``."""
_PAST_FEATURES = 6
_FUTURE_FEATURES = 5
_MAX_ENSEMBLE = 8
"""The most seed-ensemble members a manifest may declare (a damaged manifest must not build thousands)."""
VALUE_TRANSFORMS = ("none", "anscombe")
"""What the network's inputs and outputs are measured in: the values themselves, or (count-like series)
the Anscombe transform ``2 sqrt(y + 3/8)``, under which Poisson noise has about the same spread at every
level. Forecast quantiles are mapped back through the inverse (a monotone map keeps quantiles)."""
_FORWARD_BATCH = 256
"""Windows per forward pass when forecasting many origins (training's blend, calibration, backtests)."""
_COMBINE_BLOCK_ELEMENTS = 1 << 18
"""Scored errors per pass when combining many origins (a backtest's): bounded memory, 2 MiB arrays."""
_COUNT_LIKE_INTEGER_SHARE = 0.99


def choose_value_transform(values: np.ndarray) -> str:
    """``anscombe`` for a count-like series (non-negative, integer-valued: requests, mentions, events per
    interval, whose noise grows like the square root of the level), else ``none``."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0 or np.any(finite < 0) or np.ptp(finite) == 0:
        return "none"
    integral = float(np.mean(np.abs(finite - np.round(finite)) < 1e-9))
    return "anscombe" if integral >= _COUNT_LIKE_INTEGER_SHARE else "none"


def to_network_scale(values: np.ndarray, transform: str) -> np.ndarray:
    """Values in the unit the network reads (see :data:`VALUE_TRANSFORMS`); NaN stays NaN."""
    if transform == "anscombe":
        return 2.0 * np.sqrt(np.maximum(values, 0.0) + 0.375)
    return values


def from_network_scale(out: np.ndarray, transform: str) -> np.ndarray:
    """The inverse of :func:`to_network_scale` (clipped at zero below the transform's range)."""
    if transform == "anscombe":
        return np.maximum(np.square(np.maximum(out, 0.0) / 2.0) - 0.375, 0.0)
    return out


class Forecaster:
    """A trained quantile LSTM for one target. Implements :class:`forecaster.predictors.Predictor`."""

    def __init__(
        self,
        *,
        name: str,
        step: pd.Timedelta,
        spec: WindowSpec,
        scaler: Scaler,
        quantiles: tuple[float, ...],
        network: QuantileLSTM | EnsembleLSTM,
        architecture: Mapping[str, Any],
        info: Mapping[str, Any] | None = None,
        blend: Mapping[str, float] | None = None,
        holt_winters: HoltWinters | None = None,
        weighting: SkillWeighting | None = None,
        band_scale: list[float] | None = None,
        events: EventFeatures | None = None,
        calibration: BandCalibration | None = None,
        event_profile: EventProfile | None = None,
    ) -> None:
        self.name = name
        self.step = step
        self.spec = spec
        self.scaler = scaler
        self.quantiles = tuple(quantiles)
        self.network = network.eval()
        self.architecture = dict(architecture)
        if self.value_transform not in VALUE_TRANSFORMS:
            raise ValueError(f"unknown value transform {self.value_transform!r} (known: {VALUE_TRANSFORMS})")
        self.info: dict[str, Any] = dict(info or {})
        self.blend: dict[str, float] = dict(blend or {"lstm": 1.0})
        """Weights of the p50 combination (see :func:`blend_points`), fitted on the validation split."""
        self.holt_winters = holt_winters
        """The Holt-Winters blend member (weights and seasonal profile fitted on the training range)."""
        self.weighting = weighting
        """How components are weighted by recent skill at prediction time (None: the static blend only)."""
        self.band_scale = list(band_scale) if band_scale is not None else None
        """Per quantile, how much the network's relative band is widened (>1) or narrowed (<1) around the
        combined p50 so that its coverage on validation matches the quantile."""
        self.events = events
        """The event inputs the network reads (None: a model trained without a calendar)."""
        self.calibration = calibration
        """How the band is scaled at prediction time from the errors of recent and same-time-yesterday
        forecasts (:mod:`forecaster.calibration`; None: ``band_scale`` alone, as models trained before)."""
        self.event_profile = event_profile
        """Each kind's learnt uplift, used at the steps scheduled events reach (None: the network alone)."""

    @property
    def value_transform(self) -> str:
        """The unit the network reads (manifest ``architecture.value_transform``; absent: ``none``)."""
        return str(self.architecture.get("value_transform", "none"))

    @property
    def floor(self) -> float:
        """The scaler's floor in the series' own unit (below it a level counts as zero)."""
        if self.value_transform == "anscombe":
            # The floor is 1e-3 of the mean level; in Anscombe units that level is about 2 sqrt(level).
            return max(self.scaler.floor**2 / 4e-3, 1e-6)
        return self.scaler.floor

    # -- Predictor protocol -------------------------------------------------------------------------------
    @property
    def horizon_steps(self) -> int:
        return self.spec.horizon

    @property
    def lookback_steps(self) -> int:
        """Points of history ``predict`` wants: the network's inputs plus the recent origins whose errors
        the skill weighting judges (callers that fetch history fetch this much)."""
        return self.spec.history_needed + self._lookback_origins()

    def components_first(self, origin: int) -> int:
        """The first consecutive origin whose components a forecast at ``origin`` reads: its lookback, but
        never before the network's input window or Holt-Winters' first season (a short history judges
        fewer past origins)."""
        season = self.holt_winters.season_steps if self.holt_winters is not None else 0
        return max(self.spec.history_needed, season, origin - self._lookback_origins())

    def _lookback_origins(self) -> int:
        """Consecutive origins before a forecast's whose components the weighting and calibration read."""
        H = self.spec.horizon
        extra = self.weighting.lookback_origins(H) if self.weighting is not None else 0
        if self.calibration is not None:
            extra = max(extra, self.calibration.lookback_origins(H))
        return extra

    @property
    def min_history_steps(self) -> int:
        """Points of history the network needs (the lookback, plus a day when daily lags are used).

        ``predict`` answers with less too: from the statistical fallback, and says so.
        """
        return self.spec.history_needed

    @property
    def columns(self) -> list[str]:
        return [quantile_label(q) for q in self.quantiles]

    def predict(self, history: pd.Series, *, events: Calendar | None = None) -> pd.DataFrame:
        """Forecast the ``horizon_steps`` steps after the last timestamp of ``history``.

        ``forecast.attrs["answered_by"]`` says which model answered: the network with the skill-weighted
        combination, or (history shorter than the network needs) the statistical fallback, with
        ``attrs["note"]`` saying why. ``events``: the calendar of scheduled events, for a model trained with
        one (``attrs["note"]`` says when it is missing, ignored or holds kinds never seen in training).
        """
        if isinstance(history.index, pd.DatetimeIndex) and 0 < len(history) < self.min_history_steps:
            return self._fallback(history)
        out = self.predict_many(history, origins=None, events=events)[0]
        out.attrs["answered_by"] = self.answered_by
        return out

    @property
    def answered_by(self) -> str:
        """``lstm`` (``lstm-fine-tuned``: a pretrained network fine-tuned on the target's history, a cold
        start or ``train.init: pretrained``, the default; see :mod:`forecaster.pretrain`), with ``+skill-weighted`` or ``+blend`` when combined with baselines."""
        cold = (self.info.get("training") or {}).get("cold_start") or {}
        net = "lstm-fine-tuned" if cold.get("fine_tuned") else "lstm"
        if self.weighting is not None:
            return f"{net}+skill-weighted"
        return f"{net}+blend" if set(self.blend) - {"lstm"} else net

    def _fallback(self, history: pd.Series) -> pd.DataFrame:
        """A short history: the pretrained network that reads no daily lags when the history covers its
        lookback, else the recent mean with the band the network typically gives, relative to it."""
        pretrained = self._pretrained_fallback(history)
        if pretrained is not None:
            return pretrained
        values, _ = self._check_history(history, need=1)
        q = max(1, int(pd.Timedelta(minutes=15) / self.step))
        level = float(np.mean(values[-q:]))
        band = np.asarray(
            self.info.get("training", {}).get("relative_band") or np.zeros((self.horizon_steps, 0)),
            dtype=float,
        )
        out = np.full((self.horizon_steps, len(self.quantiles)), level)
        p50 = self.quantiles.index(0.5)
        if band.shape == out.shape:
            out = out + band * abs(level)
        else:  # a model trained before the band was recorded: a symmetric 10% per quantile step
            out = out + 0.1 * abs(level) * (np.arange(len(self.quantiles)) - p50)[None, :]
        frame = pd.DataFrame(
            self._finish(out[None], values)[0],
            index=future_index(history, self.horizon_steps, self.step),
            columns=self.columns,
        )
        frame.attrs["answered_by"] = "fallback:recent-mean"
        frame.attrs["note"] = (
            f"history of {len(history)} points is shorter than the {self.min_history_steps} the network "
            f"needs ({format_duration(self.step * self.min_history_steps)}): answered by the mean of the "
            "last 15 minutes with the network's typical band"
        )
        return frame

    def _pretrained_fallback(self, history: pd.Series) -> pd.DataFrame | None:
        """The shipped pretrained ``flat`` network on this model's scaler, or None when none fits."""
        from forecaster.pretrain import fallback_network  # the pretraining module imports this one

        setting = ((self.info.get("training") or {}).get("settings") or {}).get("pretrained")
        net = fallback_network(
            step=self.step, horizon_steps=self.horizon_steps, quantiles=self.quantiles, setting=setting
        )
        if net is None or len(history) < net.spec.history_needed:
            return None
        values, index = self._check_history(history, need=net.spec.history_needed)
        # The pretrained weights read scale-free inputs; the log-level input is normalised by this model's
        # scaler, fitted on this target's training range (in the series' own unit: the pretrained network
        # reads untransformed values).
        view = Forecaster(
            name=net.name,
            step=self.step,
            spec=net.spec,
            scaler=self._raw_scaler(),
            quantiles=self.quantiles,
            network=net.network,
            architecture=net.architecture,
        )
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _finish, as an error
            out = view._run(values, index, np.array([len(values)]), blend=False)  # [1, H, Q]
        frame = pd.DataFrame(
            out[0], index=future_index(history, self.horizon_steps, self.step), columns=self.columns
        )
        frame.attrs["answered_by"] = f"fallback:pretrained:{net.name}"
        frame.attrs["note"] = (
            f"history of {len(history)} points is shorter than the {self.min_history_steps} the network "
            f"needs ({format_duration(self.step * self.min_history_steps)}): answered by the pretrained "
            f"network {net.name}, which reads the last {format_duration(self.step * net.spec.lookback)} only"
        )
        return frame

    def _raw_scaler(self) -> Scaler:
        """This model's scaler for untransformed values: under the Anscombe transform a window level ``l``
        corresponds to about ``(l / 2)^2``, so the log level doubles, less ``2 log 2``."""
        if self.value_transform != "anscombe":
            return self.scaler
        return dataclasses.replace(
            self.scaler,
            floor=self.floor,
            log_level_mean=2.0 * self.scaler.log_level_mean - 2.0 * float(np.log(2.0)),
            log_level_std=2.0 * self.scaler.log_level_std,
        )

    def predict_many(
        self, history: pd.Series, *, origins: np.ndarray | None, events: Calendar | None = None
    ) -> list[pd.DataFrame]:
        """Forecasts for several origins of one series in one batch (backtests). ``None``: after the end.

        An origin ``t`` forecasts ``history.iloc[t : t + H]`` from ``history.iloc[:t]`` and the schedule only.
        """
        values, index = self._check_history(history)
        if origins is None:
            origins = np.array([len(values)])
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _finish, as an error
            out = self._run(values, index, np.asarray(origins, dtype=np.int64), events=events)  # [N, H, Q]
        note = events_note(self.events, events)
        labels = getattr(self, "_labels", None)  # building the column index costs as much as the frame
        if labels is None or labels[0] != self.quantiles:
            labels = self._labels = (self.quantiles, pd.Index(self.columns))
        columns = labels[1]
        frames = []
        for i, t in enumerate(origins):
            # The steps after the origin's last observed point (t - 1), whatever the history's anchor.
            future = pd.date_range(index[int(t) - 1] + self.step, periods=self.horizon_steps, freq=self.step)
            frames.append(pd.DataFrame(out[i], index=future, columns=columns.copy()))  # its own, to rename
            if note:
                frames[-1].attrs["note"] = note
        return frames

    def _check_history(
        self, history: pd.Series, *, need: int | None = None
    ) -> tuple[np.ndarray, pd.DatetimeIndex]:
        if not isinstance(history.index, pd.DatetimeIndex):
            raise DataError(
                "history must be indexed by timestamps", hint="pass a pandas Series with a DatetimeIndex"
            )
        need = self.min_history_steps if need is None else need
        if len(history) < need:
            raise DataError(
                f"model {self.name!r} needs {need} points ({format_duration(self.step * need)}) of history, "
                f"got {len(history)}",
                hint="fetch a longer history",
            )
        index = pd.DatetimeIndex(history.index).as_unit("ns")
        if index.freq is not None:
            step = pd.Timedelta(index.freq)
        elif len(index) >= 3 and self.step.value % 10**9 == 0 and _evenly(index[-50:], self.step.value):
            step = self.step  # what infer_step says of evenly spaced points, without its median
        elif len(index) >= 2:
            step = infer_step(index[-min(len(index), 50) :])
        else:  # one point (the fallback's shortest history) carries no step of its own
            step = self.step
        if step != self.step:
            raise DataError(
                f"history step {format_duration(step)} does not match the model's step {format_duration(self.step)}",
                hint="query Prometheus with the step the model was trained on",
            )
        values = history.to_numpy(dtype=float)
        if np.isinf(values).any():
            raise DataError("history contains infinite values")
        if np.isnan(values).any():
            # Masked gaps: carry the last value so an outage does not produce garbage; callers that care
            # (the prescaler) check staleness themselves.
            values = pd.Series(values).ffill().bfill().to_numpy()
        return values, index

    @torch.inference_mode()
    def _network(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        origins: np.ndarray,
        *,
        events: Calendar | None = None,
    ) -> np.ndarray:
        """The network's own quantile forecasts ``[N, H, Q]`` at ``origins`` (no combination).

        A calendar with kinds never seen in training: the mean over the known kinds standing in for them.
        """
        calendars = self.events.variants(events) if self.events is not None else [None]
        net_values = to_network_scale(values, self.value_transform)
        outs = []
        for calendar in calendars:
            w = make_windows(
                net_values,
                index,
                spec=self.spec,
                scaler=self.scaler,
                origins=origins,
                with_target=False,
                step=self.step,
                events=calendar,
                event_spec=self.events,
            )
            device = next(self.network.parameters()).device
            # In batches of _FORWARD_BATCH windows: one batch of thousands ran 30% slower a window on a CPU.
            out = torch.cat(
                [
                    self.network(
                        torch.from_numpy(w.past[s : s + _FORWARD_BATCH]).to(device),
                        torch.from_numpy(w.future[s : s + _FORWARD_BATCH]).to(device),
                        torch.from_numpy(w.level[s : s + _FORWARD_BATCH]).to(device),
                    )
                    for s in range(0, max(len(w.past), 1), _FORWARD_BATCH)
                ]
            )  # [N, H, Q]
            outs.append(out.cpu().numpy().astype(np.float64) * w.scale[:, None, None])  # [N, H, Q]
        return from_network_scale(np.mean(outs, axis=0), self.value_transform)  # [N, H, Q]

    def components(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        *,
        first: int,
        last: int,
        events: Calendar | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The network's quantiles ``[S, H, Q]`` and every component's point forecast ``[S, H]``.

        At every origin ``first..last`` (consecutive): the network's p50, last value, seasonal naive,
        Holt-Winters (when the model carries it), the validation-fitted static blend of those, and the
        smoothed components of :func:`smoothed_points`.

        The service and the prescaler call ``predict`` once a step on a history that grew by a step: the
        components of origins already computed on identical data are reused from the previous call, so
        only the new origins cost a forward pass. A forecast once made is kept, as it was made: computed
        afresh in one batch, Holt-Winters' recursion starts a fixed number of seasons before the batch's
        first origin, so a reused row can differ from a fresh one in the fourth digit
        (:meth:`reset` drops what was kept).
        """
        raw, members, _ = self._components(values, index, first=first, last=last, events=events)
        return raw, members

    def _components(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        *,
        first: int,
        last: int,
        events: Calendar | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[_Rows, int]]:
        """:meth:`components`, and where their rows lie: the buffer and the time (ns) of its first row's
        origin (two calls given the same rows of one buffer at the same times read the same numbers)."""
        reused = self._reuse(values, index, first=first, last=last, events=events)
        step, t0 = self.step.value, int(index[0].value)
        if reused is not None:
            done, rows, at, hw_state = reused
            kept = done - first + 1
            if done == last:
                return (*rows.view(at, kept), (rows, t0 + (first - at) * step))
            raw_new, members_new, hw_state = self._compute_components(
                values, index, first=done + 1, last=last, hw_state=hw_state, events=events
            )
            if set(members_new) == set(rows.members):
                if not rows.append(at + kept, raw_new, members_new):  # no room: a new buffer, with room
                    raw_old, members_old = rows.view(at, kept)
                    rows, at = _Rows.of(raw_old, members_old, raw_new, members_new, room=True), 0
                self._remember(
                    values, index, first=first, last=last, rows=(rows, at), hw_state=hw_state, events=events
                )
                return (*rows.view(at, last - first + 1), (rows, t0 + (first - at) * step))
        raw, members, hw_state = self._compute_components(
            values, index, first=first, last=last, events=events
        )
        rows = _Rows.of(raw, members)
        self._remember(
            values, index, first=first, last=last, rows=(rows, 0), hw_state=hw_state, events=events
        )
        return (*rows.view(0, last - first + 1), (rows, t0 + first * step))

    def reset(self) -> None:
        """Forget the components kept from previous calls (the next ``predict`` computes them afresh)."""
        self._cache = None
        self._skill_cache = None

    def _skill_points(
        self,
        members: Mapping[str, np.ndarray],
        values: np.ndarray,
        index: pd.DatetimeIndex,
        *,
        first: int,
        origins: np.ndarray,
        events: Calendar | None = None,
        anchor: tuple[_Rows, int] | None = None,
    ) -> tuple[Skill, dict[str, Any]]:
        """The unguarded skill-weighted forecasts over the guard window of ``origins``: the guard judges
        them at every call, so those computed on identical data by the previous call are reused, as the
        components are (a call a step later computes one new origin).

        And the guard's memo for :func:`forecaster.combine.combine`: the per-origin error totals of the
        previous call (:class:`forecaster.combine.WindowTotals`), where they still hold: the skill-weighted
        points they were summed from are the ones kept, and the components (``anchor``, from
        :meth:`_components`) the same rows of the same buffer at the same times, and the values their targets
        read unchanged; never otherwise."""
        weighting = self.weighting
        assert weighting is not None
        H = self.spec.horizon
        start = max(first, int(origins.min()) - weighting.guard_window - H)
        last = int(origins.max())
        key = (self._cache_key(events), weighting)
        cache = getattr(self, "_skill_cache", None)
        totals = None
        if cache is None or cache[0] != key or not len(index):
            kept = None
        else:
            _, t0, old_values, old_first, old_points, old_anchor, old_memo = cache
            shift, rem = divmod(t0 - int(index[0].value), self.step.value)  # old position 0 in new positions
            lo, done = old_first + shift, min(old_first + shift + len(old_points) - 1, last - 1)
            a = max(0, shift)
            ok = (
                not rem
                and lo <= start <= done
                and done - shift <= len(old_values)
                and np.array_equal(values[a:done], old_values[a - shift : done - shift])
            )
            kept = old_points[start - lo : done - lo + 1] if ok else None
            same_rows = anchor is not None and old_anchor is not None and old_anchor[0] is anchor[0]
            if kept is not None and len(kept) and same_rows and old_anchor[1] == anchor[1]:
                totals = old_memo.get("window")
            if totals is not None:  # to this call's positions, where the targets they summed are unchanged
                totals = dataclasses.replace(totals, start=totals.start + shift)
                end = min(totals.start + totals.totals.shape[1] - 1 + H, len(values))  # past the last target
                if not np.array_equal(values[a:end], old_values[a - shift : end - shift]):
                    totals = None
        if kept is None or int(origins.min()) < start + len(kept):
            kept = np.empty((0, H))  # the origins' own weights come from the new rows
            totals = None
        phase = (int(index[0].value) // self.step.value) % weighting.guard_stride  # the grid, fixed in time
        new, weights = skill_points(
            members, values, first=first, start=start + len(kept), last=last, weighting=weighting, phase=phase
        )
        points = np.concatenate([kept, new])
        memo: dict[str, Any] = {"window": totals}  # the guard puts this call's totals there
        self._skill_cache = (key, int(index[0].value), values.copy(), start, points, anchor, memo)
        return Skill(start=start, points=points, weights=weights, phase=phase), memo

    def _remember(self, values, index, *, first, last, rows, hw_state, events=None) -> None:  # noqa: ANN001
        # One entry, replaced whole (a reference swap: safe for the service's concurrent readers).
        self._cache = (
            self._cache_key(events),
            int(index[0].value),
            values.copy(),
            first,
            last,
            *rows,
            hw_state,
        )

    def _cache_key(self, events: Calendar | None = None) -> tuple:
        """What the kept components depend on besides the data (the blend and its Holt-Winters member, and
        the calendar for a model that reads one: another calendar is another forecast)."""
        calendar = events.events if (events is not None and self.events is not None) else None
        return (tuple(sorted(self.blend.items())), id(self.holt_winters), id(self.network), calendar)

    def _reuse(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        *,
        first: int,
        last: int,
        events: Calendar | None = None,
    ) -> tuple[int, _Rows, int, HoltWintersState | None] | None:
        """Cached components for origins ``first..done`` when computed before on identical data: ``done``,
        the rows kept and where origin ``first``'s row lies in them, and Holt-Winters' state."""
        cache = getattr(self, "_cache", None)
        if cache is None or len(index) == 0:
            return None
        key, t0, old_values, old_first, old_last, rows, at, hw_state = cache
        if key != self._cache_key(events):
            return None
        shift, rem = divmod(t0 - int(index[0].value), self.step.value)  # old position 0 in new positions
        if rem:
            return None
        lo, done = old_first + shift, min(old_last + shift, last)
        if not (lo <= first <= done):
            return None
        # Every input of the reused origins (everything before ``done``) must be unchanged.
        a, b = max(0, shift), min(done, shift + len(old_values))
        if b - a < done - a or not np.array_equal(values[a:done], old_values[a - shift : done - shift]):
            return None
        if hw_state is not None:  # the recursion's state, moved to the new positions
            hw_state = dataclasses.replace(hw_state, origin=hw_state.origin + shift)
        return done, rows, at + first - lo, hw_state

    def _compute_components(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        *,
        first: int,
        last: int,
        hw_state: HoltWintersState | None = None,
        events: Calendar | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], HoltWintersState | None]:
        origins = np.arange(first, last + 1, dtype=np.int64)
        raw = self._network(values, index, origins, events=events)  # [S, H, Q]
        members = baseline_points(values, origins, horizon=self.spec.horizon, season=self.spec.season)
        if self.holt_winters is not None:
            members["holt_winters"], hw_state = self.holt_winters.range_state(
                values, index, first=first, last=last, state=hw_state
            )
        members["lstm"] = raw[..., self.quantiles.index(0.5)]
        if not self.spec.season:
            members.pop("seasonal_naive", None)  # the same as last value without a season
        if set(self.blend) - {"lstm"}:
            members["blend"] = blend_points(members, self.blend)
        members.update(
            smoothed_points(
                values, origins, horizon=self.spec.horizon, season=self.spec.season, step=self.step
            )
        )
        return raw, members, hw_state

    def _run(
        self,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        origins: np.ndarray,
        *,
        blend: bool = True,
        events: Calendar | None = None,
    ) -> np.ndarray:
        """Quantile forecasts ``[N, H, Q]`` at ``origins``: the network's band around the combined p50."""
        if not blend:
            return self._finish(self._network(values, index, origins, events=events), values)
        H = self.spec.horizon
        if self.weighting is None:
            # Models trained before skill weighting: the static blend, at the requested origins only, with
            # every quantile shifted by the same amount.
            raw = self._network(values, index, origins, events=events)
            p50 = raw[..., self.quantiles.index(0.5)]
            members = baseline_points(
                values,
                origins,
                horizon=H,
                season=self.spec.season,
                index=index,
                holt_winters=self.holt_winters if self.blend.get("holt_winters") else None,
            )
            members["lstm"] = p50
            point = blend_points(members, self.blend) if set(self.blend) - {"lstm"} else p50
            return self._finish(
                self._with_event_profile(raw + (point - p50)[..., None], values, index, origins, events),
                values,
            )
        lo = self.components_first(int(origins.min()))
        raw_all, members, anchor = self._components(
            values, index, first=lo, last=int(origins.max()), events=events
        )
        skill = memo = None
        if self.weighting.guard_window:
            skill, memo = self._skill_points(
                members, values, index, first=lo, origins=origins, events=events, anchor=anchor
            )
        # The recurring excursions' steps, found once for the combination and the band.
        peaks = peak_steps(members, values, first=lo, origins=origins, weighting=self.weighting)
        point, weights = self._combine(
            members, values, first=lo, origins=origins, skill=skill, memo=memo, peaks=peaks
        )
        if self.calibration is None:
            out = self.band_around(raw_all[origins - lo], point)
        else:
            width = conformal_width(
                self.calibration,
                members=members,
                weights=weights,
                raw=raw_all,
                values=values,
                first=lo,
                origins=origins,
                point=point,
                quantiles=self.quantiles,
                floor=self.floor,
                validation_scale=self.band_scale,
                peaks=peaks,
            )  # [N, H, Q]
            out = point[..., None] + width
        return self._finish(self._with_event_profile(out, values, index, origins, events), values)

    def _combine(
        self,
        members: Mapping[str, np.ndarray],
        values: np.ndarray,
        *,
        first: int,
        origins: np.ndarray,
        skill: Skill | None,
        memo: dict[str, Any] | None = None,
        peaks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The skill-weighted p50 and its weights at ``origins`` (:func:`forecaster.combine.combine`).

        Unguarded, each origin's weights come from its own recent errors alone: a backtest's thousands of
        origins are combined in blocks, so memory stays bounded (the same numbers as one block: every
        reduction runs along one origin's scored errors). Guarded, in one pass (the guard's running sums
        depend on the origins asked for together)."""
        weighting = self.weighting
        assert weighting is not None
        offsets, _ = weighting.offsets(self.spec.horizon)
        block = max(1, _COMBINE_BLOCK_ELEMENTS // offsets.size)
        if weighting.guard_window or len(origins) <= block:
            return combine(
                members,
                values,
                first=first,
                origins=origins,
                weighting=weighting,
                skill=skill,
                memo=memo,
                peaks=peaks,
            )
        parts = [
            combine(
                members,
                values,
                first=first,
                origins=origins[b : b + block],
                weighting=weighting,
                peaks=None if peaks is None else peaks[b : b + block],
            )
            for b in range(0, len(origins), block)
        ]
        point = np.concatenate([p for p, _ in parts])
        return point, {name: np.concatenate([w[name] for _, w in parts]) for name in parts[0][1]}

    def _with_event_profile(
        self,
        forecast: np.ndarray,
        values: np.ndarray,
        index: pd.DatetimeIndex,
        origins: np.ndarray,
        events: Calendar | None,
    ) -> np.ndarray:
        """``forecast`` ``[N, H, Q]`` with the steps that scheduled events reach taken from the event profile
        (:mod:`forecaster.event_profile`); unchanged for a model without one or without a calendar."""
        if self.event_profile is None or events is None or not len(events):
            return forecast
        return apply_event_profile(
            self.event_profile,
            forecast,
            values=values,
            index=index,
            origins=origins,
            quantiles=self.quantiles,
            calendar=events,
        )

    def band_around(self, raw: np.ndarray, point: np.ndarray) -> np.ndarray:
        """The network's band ``[N, H, Q]`` carried to the combined p50 ``[N, H]``.

        Traffic noise grows with the level, so each quantile keeps its distance from the p50 *relative to
        the p50* (a forecast spike to 3x gets a band three times as wide, which a band of fixed width
        computed at the pre-spike level does not), scaled by ``band_scale`` (fitted on validation so that
        the combined forecast's quantiles cover what they say). Near zero the distance is absolute.
        """
        width = carried_width(raw, point, i50=self.quantiles.index(0.5), floor=self.floor)
        scale = np.asarray(self.band_scale or [1.0] * len(self.quantiles))  # [Q]
        return point[..., None] + width * scale

    def _finish(self, pred: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        if not np.isfinite(pred).all():
            cause = ""
            if values is not None and np.isfinite(values).any():
                largest = float(np.nanmax(np.abs(values[np.isfinite(values)])))
                cause = f": the history's values reach {largest:.3g}, beyond what the model can forecast"
            raise NonFiniteForecastError(
                f"the forecast is not a finite number (model {self.name!r}){cause}",
                hint="check the history's values and their unit; a model forecasts values of the size it "
                "was trained on",
            )
        if self.scaler.nonnegative:
            pred = np.maximum(pred, 0.0)
        return pred

    # -- persistence ----------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "package_version": __version__,
            "name": self.name,
            "step_s": self.step.total_seconds(),
            "horizon_steps": self.spec.horizon,
            "lookback_steps": self.spec.lookback,
            "season_steps": self.spec.season,
            "quantiles": list(self.quantiles),
            "architecture": self.architecture,
            "scaler": self.scaler.to_dict(),
            "blend": self.blend,
            "holt_winters": self.holt_winters.to_state() if self.holt_winters is not None else None,
            "weighting": self.weighting.to_dict() if self.weighting is not None else None,
            "band_scale": self.band_scale,
            **({"calibration": self.calibration.to_dict()} if self.calibration is not None else {}),
            **({"events": self.events.to_dict()} if self.events is not None else {}),
            **({"event_profile": self.event_profile.to_dict()} if self.event_profile is not None else {}),
            **{k: v for k, v in self.info.items() if k not in _CORE_KEYS},
        }

    def to_bytes(self) -> dict[str, bytes]:
        """The artifact's files: ``{"manifest.json": ..., "weights.safetensors": ...}``."""
        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        weights = save_safetensors(state, metadata={"format": FORMAT})
        manifest = self.manifest()
        manifest["weights"] = {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(weights).hexdigest()}
        return {MANIFEST_FILE: json.dumps(manifest, indent=2, sort_keys=True).encode(), WEIGHTS_FILE: weights}

    def save(self, path: str | Path) -> Path:
        """Write the artifact to directory ``path`` atomically (a temporary directory, then a rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and any(target.iterdir()):
            raise ModelStoreError(f"{target} already exists and is not empty", hint="choose a new directory")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        for name, data in self.to_bytes().items():
            (tmp / name).write_bytes(data)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a model: a version directory, a target directory (its promoted version) or a store.

        A store written by ``forecaster train --out DIR`` holds one target: ``Forecaster.load(DIR)``
        follows its ``current.json`` pointer to the promoted version.
        """
        from forecaster.store import resolve_model_dir  # the store imports this module

        p = resolve_model_dir(path)
        try:
            files = {
                MANIFEST_FILE: (p / MANIFEST_FILE).read_bytes(),
                WEIGHTS_FILE: (p / WEIGHTS_FILE).read_bytes(),
            }
        except FileNotFoundError as exc:
            raise ModelStoreError(
                f"{p} is not a model directory: {Path(exc.filename).name} is missing",
                hint="retrain the model with 'forecaster train'",
            ) from exc
        return cls.from_bytes(files, where=str(p))

    @classmethod
    def from_bytes(cls, files: Mapping[str, bytes], *, where: str = "model") -> Forecaster:
        try:
            manifest = json.loads(files[MANIFEST_FILE])
        except (KeyError, ValueError) as exc:
            raise ModelStoreError(
                f"{where}: manifest.json is missing or not valid JSON", hint="retrain the model"
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise ModelStoreError(
                f"{where}: unsupported model format {found!r} (this version reads {FORMAT!r})",
                hint="retrain the model with this version of forecaster",
            )
        weights = files.get(WEIGHTS_FILE)
        if weights is None:
            raise ModelStoreError(f"{where}: {WEIGHTS_FILE} is missing", hint="retrain the model")
        expected = (manifest.get("weights") or {}).get("sha256")
        if expected != hashlib.sha256(weights).hexdigest():
            raise ModelStoreError(
                f"{where}: {WEIGHTS_FILE} does not match the checksum in the manifest (damaged or replaced)",
                hint="restore the artifact or retrain",
            )
        try:
            arch = manifest["architecture"]
            spec = WindowSpec(
                lookback=int(manifest["lookback_steps"]),
                horizon=int(manifest["horizon_steps"]),
                season=int(manifest["season_steps"]),
                # Weekly-lag inputs: models saved before them have no such key and read none.
                week=int(arch.get("week_steps", 0)),
            )
            scaler = Scaler(**manifest["scaler"])
            quantiles = tuple(float(q) for q in manifest["quantiles"])
            step = pd.Timedelta(seconds=float(manifest["step_s"]))
            events_state = manifest.get("events")
            events = EventFeatures.from_dict(events_state) if events_state else None
            profile_state = manifest.get("event_profile")
            event_profile = EventProfile.from_dict(profile_state) if profile_state else None
            network = cls.build_network(
                spec=spec,
                n_quantiles=len(quantiles),
                architecture=arch,
                events=events,
                median=quantiles.index(0.5) if 0.5 in quantiles else None,
            )
            blend = _check_blend(manifest.get("blend"), where=where)
            weighting_state = manifest.get("weighting")
            weighting = SkillWeighting.from_dict(weighting_state) if weighting_state else None
            band_scale = manifest.get("band_scale")
            if band_scale is not None:
                band_scale = [float(v) for v in band_scale]
                if len(band_scale) != len(manifest["quantiles"]) or not all(0 < v < 100 for v in band_scale):
                    raise ValueError(f"band_scale {band_scale} does not fit the quantiles")
            calibration_state = manifest.get("calibration")
            calibration = BandCalibration.from_dict(calibration_state) if calibration_state else None
            if calibration is not None and calibration.prior.shape[0] != len(quantiles):
                raise ValueError(f"calibration prior {calibration.prior.shape} does not fit the quantiles")
            hw_state = manifest.get("holt_winters")
            holt_winters = (
                HoltWinters.from_state(hw_state, step=step, horizon_steps=spec.horizon) if hw_state else None
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelStoreError(
                f"{where}: manifest is incomplete ({exc})", hint="retrain the model"
            ) from exc
        if blend.get("holt_winters") and holt_winters is None:
            raise ModelStoreError(
                f"{where}: the blend uses Holt-Winters but the manifest has no Holt-Winters state",
                hint="retrain the model",
            )
        try:
            state = load_safetensors(weights)
            network.load_state_dict(state, strict=True)
        except (RuntimeError, ValueError) as exc:
            raise ModelStoreError(
                f"{where}: weights do not fit the architecture in the manifest ({str(exc).splitlines()[0]})",
                hint="the manifest and weights come from different models; retrain",
            ) from exc
        info = {k: v for k, v in manifest.items() if k not in _CORE_KEYS}
        return cls(
            name=str(manifest.get("name", "model")),
            step=step,
            spec=spec,
            scaler=scaler,
            quantiles=quantiles,
            network=network,
            architecture=arch,
            info=info,
            blend=blend,
            holt_winters=holt_winters,
            weighting=weighting,
            band_scale=band_scale,
            events=events,
            calibration=calibration,
            event_profile=event_profile,
        )

    @staticmethod
    def build_network(
        *,
        spec: WindowSpec,
        n_quantiles: int,
        architecture: Mapping[str, Any],
        events: EventFeatures | None = None,
        median: int | None = None,
    ) -> QuantileLSTM | EnsembleLSTM:
        n_events = events.n_features if events is not None else 0
        n_weekly = 1 if spec.week else 0  # the weekly lag (architecture.week_steps), after any event inputs

        def one() -> QuantileLSTM:
            return QuantileLSTM(
                past_features=_PAST_FEATURES + n_events + n_weekly,
                future_features=_FUTURE_FEATURES + n_events + n_weekly,
                horizon=spec.horizon,
                n_quantiles=n_quantiles,
                hidden_size=int(architecture["hidden_size"]),
                num_layers=int(architecture["num_layers"]),
                dropout=float(architecture.get("dropout", 0.0)),
            )

        # A seed ensemble (TrainSettings.ensemble_members); models without the key are one network, as before,
        # and ensembles saved without ``ensemble_band`` average every quantile, as they did.
        members = int(architecture.get("ensemble", 1))
        if not 1 <= members <= _MAX_ENSEMBLE:
            raise ValueError(f"architecture.ensemble {members} is not between 1 and {_MAX_ENSEMBLE}")
        if members == 1:
            return one()
        band = str(architecture.get("ensemble_band", "mean"))
        return EnsembleLSTM([one() for _ in range(members)], band=band, median=median)


class _Rows:
    """The components kept between ``predict`` calls: the network's quantiles ``[S, H, Q]`` and every
    component's point forecasts ``[S, H]`` at consecutive origins, in buffers with room to grow.

    The service calls ``predict`` once a step on a history one step longer: the new origin's rows are
    written after the kept ones in place, and the days kept are handed out as views, not copied (a 1-minute
    model keeps five days: copying them cost more than the rest of the combination). A row once handed out
    is never written again: only rows past every row written so far are filled in place (claimed under a
    lock, so two concurrent callers never fill the same rows), anything else goes to a new buffer, and the
    views handed out are read-only."""

    ROOM = 0.5
    """Room for this share of the rows kept more (a buffer is copied once every that many steps)."""

    def __init__(self, raw: np.ndarray, members: Mapping[str, np.ndarray], used: int) -> None:
        self.raw = raw
        self.members = dict(members)
        self.used = used
        self._lock = threading.Lock()

    @classmethod
    def of(cls, *parts: Any, room: bool = False) -> _Rows:
        """Rows from ``raw, members`` pairs, one after the other (``room``: with room to grow)."""
        pairs = list(zip(parts[::2], parts[1::2], strict=True))
        n = sum(len(raw) for raw, _ in pairs)
        if len(pairs) == 1 and not room:
            return cls(pairs[0][0], pairs[0][1], n)
        cap = n + (max(64, int(cls.ROOM * n)) if room else 0)
        raw0, members0 = pairs[0]
        out = cls(
            np.empty((cap, *raw0.shape[1:]), dtype=raw0.dtype),
            {k: np.empty((cap, *v.shape[1:]), dtype=v.dtype) for k, v in members0.items()},
            0,
        )
        at = 0
        for raw, members in pairs:
            out.raw[at : at + len(raw)] = raw
            for k, v in members.items():
                out.members[k][at : at + len(v)] = v
            at += len(raw)
        out.used = n
        return out

    def __deepcopy__(self, memo: dict[int, Any]) -> _Rows:  # a lock of its own (a lock is not copied)
        return _Rows(self.raw.copy(), {k: v.copy() for k, v in self.members.items()}, self.used)

    def append(self, at: int, raw: np.ndarray, members: Mapping[str, np.ndarray]) -> bool:
        """Write ``raw, members`` at row ``at`` when no row from there on was ever written and they fit."""
        n = len(raw)
        with self._lock:
            if at != self.used or at + n > len(self.raw):
                return False
            self.used = at + n
        self.raw[at : at + n] = raw
        for k, v in members.items():
            self.members[k][at : at + n] = v
        return True

    def view(self, at: int, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rows ``at .. at + n - 1``, read-only."""
        raw = self.raw[at : at + n].view()
        raw.flags.writeable = False
        members = {}
        for k, v in self.members.items():
            members[k] = v[at : at + n].view()
            members[k].flags.writeable = False
        return raw, members


def _evenly(index: pd.DatetimeIndex, step_ns: int) -> bool:
    """Whether consecutive timestamps of ``index`` (nanoseconds) are all ``step_ns`` apart."""
    return bool(np.all(np.diff(index.asi8) == step_ns))


def events_note(spec: EventFeatures | None, calendar: Calendar | None) -> str:
    """What a forecast should say about the calendar it was given ("" when there is nothing to say)."""
    if spec is None:
        return "the model was trained without a calendar: the events given were ignored" if calendar else ""
    if calendar is None:
        return "the model reads a calendar but none was given: forecast as if nothing were scheduled"
    unseen = spec.unseen(calendar)
    if unseen:
        return (
            f"event kind(s) {', '.join(unseen)} never seen in training: forecast with the average effect of "
            f"the known kinds ({', '.join(spec.kinds)})"
        )
    return ""


def baseline_points(
    values: np.ndarray,
    origins: np.ndarray,
    *,
    horizon: int,
    season: int,
    index: pd.DatetimeIndex | None = None,
    holt_winters: HoltWinters | None = None,
) -> dict[str, np.ndarray]:
    """Point forecasts ``[N, H]`` of the baseline blend members for each origin (data before it only).

    Holt-Winters is computed only when given (it costs a pass over a few days of history per origin).
    """
    last = values[origins - 1]  # [N]
    out = {"last_value": np.repeat(last[:, None], horizon, axis=1)}
    if season:
        idx = origins[:, None] + np.arange(horizon)[None, :] - season  # [N, H]
        idx = np.where(idx >= origins[:, None], idx - season, idx)
        out["seasonal_naive"] = values[idx]
    else:
        out["seasonal_naive"] = out["last_value"]
    if holt_winters is not None and index is not None:
        need = holt_winters.min_history
        out["holt_winters"] = np.stack(
            [
                holt_winters._point_at(values[max(0, t - 2 * need) : t], index[t - 1])
                if t >= need
                else np.repeat(values[t - 1], horizon)
                for t in origins
            ]
        )
    return out


def smoothed_points(
    values: np.ndarray, origins: np.ndarray, *, horizon: int, season: int, step: pd.Timedelta
) -> dict[str, np.ndarray]:
    """Two noise-robust point forecasts ``[N, H]`` that the skill weighting can lean on.

    - ``recent_mean``: the mean of the last 15 minutes (on count-like series the last value alone carries
      the full Poisson noise of one interval);
    - ``seasonal_mean``: today's level (the last hour) plus the average deviation from their own level at
      the same time of day over up to the last three days (yesterday's shape, de-noised and re-levelled).
    """
    csum = np.concatenate([[0.0], np.cumsum(values)])

    def mean_before(end: np.ndarray, n: int) -> np.ndarray:
        start = np.maximum(end - n, 0)
        return (csum[end] - csum[start]) / np.maximum(end - start, 1)

    q = max(1, int(pd.Timedelta(minutes=15) / step))
    out = {"recent_mean": np.repeat(mean_before(origins, q)[:, None], horizon, axis=1)}
    if season and horizon <= season:
        hour = max(1, int(pd.Timedelta(hours=1) / step))
        level_now = mean_before(origins, hour)  # [N]
        steps = np.arange(horizon)
        devs = []
        for k in range(1, 4):
            back = origins - k * season  # [N]
            if back.min() - hour < 0:
                break
            dev = values[back[:, None] + steps[None, :]] - mean_before(back, hour)[:, None]  # [N, H]
            devs.append(dev)
        if devs:
            out["seasonal_mean"] = level_now[:, None] + np.mean(devs, axis=0)
    return out


def blend_points(members: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted p50: ``sum(weight * member)`` over the members named in ``weights``."""
    return sum(float(w) * members[name] for name, w in weights.items() if w)  # type: ignore[return-value]


def _check_blend(raw: Any, *, where: str) -> dict[str, float]:
    if raw is None:
        return {"lstm": 1.0}
    if (
        not isinstance(raw, dict)
        or set(raw) - set(BLEND_MEMBERS)
        or any(not isinstance(v, int | float) or v < 0 for v in raw.values())
        or abs(sum(raw.values()) - 1.0) > 1e-6
    ):
        raise ModelStoreError(f"{where}: manifest blend {raw!r} is invalid", hint="retrain the model")
    return {k: float(v) for k, v in raw.items()}
