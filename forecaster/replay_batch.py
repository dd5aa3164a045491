"""Many replays of one trace at once: the tuning grid's settings in lockstep, with the same answers as
:func:`forecaster.simulate.replay` run once per setting (pure).

Two facts make the grid cheap to replay together:

1. The prescaler's floor does not depend on the HPA under it. :func:`forecaster.scaling.decide` reads the
   forecast, its own state and ``now``; the replicas only when it has never decided and has no forecast (the
   first tick, where they are the replay's starting replicas). So each policy's floors are computed first, for
   every minute (:func:`floor_schedule`), reading each forecast frame once for all policies
   (:class:`FrameArrays`) instead of through pandas at every decision.
2. With the floors known, every setting's HPA and Deployment advance together, one numpy pass per HPA sync
   (:class:`forecaster.hpa_batch.HPABatch`, :class:`forecaster.hpa_batch.PodsBatch`).

:func:`replay_many` returns one :class:`forecaster.simulate.ReplayResult` per setting, equal to
:func:`~forecaster.simulate.replay`'s (``tests/test_replay_batch.py`` holds them equal: ready pods, pods,
floors, actions, metrics, decision reasons and the forecast band). Settings it cannot batch (a node model,
start-up jitter) go through :func:`~forecaster.simulate.replay` one by one; ``plan: rise`` decisions call
:func:`~forecaster.scaling.decide` itself. No clock, no file, no model here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError
from forecaster.hpa_batch import HPABatch, PodsBatch, batch_key
from forecaster.scaling import ScalingPolicy, ScalingState, decide, planned_values
from forecaster.simulate import (
    TICK,
    ForecastTable,
    ReplayConfig,
    ReplayResult,
    RunResult,
    _metric_loads,
    _ns_times,
    checked_trace,
    replay,
    run_metrics,
)

__all__ = ["FrameArrays", "floor_schedule", "replay_many", "batchable"]

RUNS = ("hpa", "prescaler")


class FrameArrays:
    """Each forecast frame of a :class:`ForecastTable` as plain arrays (times in ns, one float array per
    column), converted once and shared by every policy that reads it."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]] = {}
        self._peaks: dict[tuple, float | None] = {}
        self._planned: dict[tuple, np.ndarray | None] = {}

    def get(self, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        hit = self._by_id.get(id(frame))
        if hit is not None and hit[0] is frame:
            return hit[1], hit[2]
        names = [str(c) for c in frame.columns]
        try:
            values = frame.to_numpy(dtype=float)  # [T, C]
            columns = (
                {n: values[:, i] for i, n in enumerate(names)} if len(set(names)) == len(names) else None
            )
        except (TypeError, ValueError):
            columns = None
        if columns is None:
            columns = {}
            for n in names:
                try:
                    columns[n] = frame[n].to_numpy(dtype=float)
                except (TypeError, ValueError):
                    continue
        times = _ns_times(frame.index)
        self._by_id[id(frame)] = (frame, times, columns)  # the frame is kept: its id stays its own
        return times, columns

    def planned(self, frame: pd.DataFrame, policy: ScalingPolicy) -> np.ndarray | None:
        """:func:`forecaster.scaling.planned_values` of ``frame`` for the policy's quantiles (kept per frame)."""
        times, cols = self.get(frame)
        key = (
            id(frame),
            policy.quantile,
            policy.quantile_outside_events,
            policy.event_lookahead_s,
            policy.event_lookbehind_s,
            policy.event_band_scale,
        )
        if key not in self._planned:
            self._planned[key] = planned_values(cols, policy, times)
        return self._planned[key]

    def peak(
        self,
        frame: pd.DataFrame,
        *,
        now_ns: int,
        policy: ScalingPolicy,
        cap_factor: float | None,
        start_ns: int,
        end_ns: int,
    ) -> float | None:
        """scaling._planning_window's peak: the largest planned value (capped at p50 x ``cap_factor``) at
        times in [start_ns, end_ns], None when there is none or one is not finite. Policies that differ only in
        headroom, stabilisation or the HPA under them read the same window: it is computed once."""
        key = (
            id(frame),
            now_ns,
            policy.quantile,
            policy.quantile_outside_events,
            policy.event_lookahead_s,
            policy.event_lookbehind_s,
            policy.event_band_scale,
            cap_factor,
            start_ns,
            end_ns,
        )
        if key in self._peaks:
            return self._peaks[key]
        times, cols = self.get(frame)
        planned = self.planned(frame, policy)
        assert planned is not None  # floor_schedule checked it
        inside = (times >= start_ns) & (times <= end_ns)
        value = None
        if inside.any():
            window = planned[inside]
            if cap_factor is not None:
                window = np.minimum(window, cols["p50"][inside] * cap_factor)
            if np.isfinite(window).all():
                value = float(window.max())
        self._peaks[key] = value
        return value


def batchable(config: ReplayConfig) -> bool:
    """Whether :func:`replay_many` runs this setting in lockstep (else it replays it alone)."""
    return not config.cluster.has_nodes and config.cluster.pod_startup_jitter_s == 0


def _ceil_replicas(load: float, policy: ScalingPolicy) -> int:
    """scaling._replicas_for for a finite load."""
    return max(0, math.ceil(load * (1 + policy.headroom) / policy.capacity_per_replica - 1e-9))


def floor_schedule(
    *,
    forecasts: ForecastTable,
    policy: ScalingPolicy,
    index: pd.DatetimeIndex,
    initial: int,
    frames: FrameArrays | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The prescaler's floor at every replayed minute, as ``simulate._simulate`` sets it with
    :func:`~forecaster.scaling.decide`: (floor per minute [M], forecast band [M, 1 or 2]: p50 and the planned
    column for now + lead, NaN where none; decision reasons counted).

    ``initial``: the replicas at the first tick (decide reads them only there, when there is no forecast).
    """
    frames = FrameArrays() if frames is None else frames
    n = len(index)
    interval_min = int(policy.interval_s // 60)
    column = policy.column
    band_columns = ["p50"] if column == "p50" else ["p50", column]
    band = np.full((n, len(band_columns)), np.nan)
    floor = np.zeros(n, dtype=np.int64)
    reasons: dict[str, int] = {}
    ns = index.asi8
    lead_ns = pd.Timedelta(seconds=policy.lead_time_s).value
    start_off = int(policy.lead_time_s * 1e9 if policy.plan in ("rise", "shift") else 0)
    end_off = int((policy.lead_time_s + policy.interval_s) * 1e9)
    stab_ns = pd.Timedelta(seconds=policy.scale_down_stabilization_s).value
    period_ns = pd.Timedelta(seconds=policy.scale_down_period_s).value
    lo, hi = policy.min_replicas, policy.max_replicas
    cap_factor = 1 + policy.max_over_median if policy.max_over_median > 0 else None
    exact = policy.plan == "rise"  # its base reads the median's first non-NaN value: decide does it
    state = ScalingState()
    recs: list[tuple[int, int]] = []  # (ns, bounded) inside the stabilisation window
    last: int | None = None
    last_down: int | None = None
    current = 0
    for m in range(n):
        now_ns = int(ns[m])
        if m % interval_min == 0:
            fc = forecasts.frames[int((now_ns - forecasts.start.value) // TICK.value)]
            has_frame = fc is not None and len(fc) > 0
            times = cols = None
            if has_frame:
                times, cols = frames.get(fc)
            if (
                has_frame
                and not exact
                and (frames.planned(fc, policy) is None or (policy.max_over_median > 0 and "p50" not in cols))
            ):
                # A frame decide refuses: let it raise its own clear error.
                decide(forecast=fc, policy=policy, state=state, now=index[m], current_replicas=current)
                raise AssertionError(f"decide accepted a forecast without {column}")  # pragma: no cover
            if exact:
                # plan: rise reads the median's first non-NaN value as its base: decide itself. It reads the
                # replicas only when it has never decided (the first tick), so they are the starting ones.
                d = decide(
                    forecast=fc,
                    policy=policy,
                    state=state,
                    now=index[m],
                    current_replicas=initial if m == 0 else current,
                )
                state = d.state
                last = current = d.desired_replicas
                reasons[d.reason] = reasons.get(d.reason, 0) + 1
            else:
                peak = None
                if has_frame:
                    peak = frames.peak(
                        fc,
                        now_ns=now_ns,
                        policy=policy,
                        cap_factor=cap_factor,
                        start_ns=now_ns + start_off,
                        end_ns=now_ns + end_off,
                    )
                cutoff = now_ns - stab_ns
                recs = [(t, r) for t, r in recs if cutoff < t <= now_ns]
                if peak is None:
                    keep = last if last is not None else initial
                    keep = min(max(keep, lo), hi)
                    reason, desired = "no_forecast", keep
                else:
                    raw = _ceil_replicas(peak, policy)
                    bounded = min(max(raw, lo), hi)
                    reason = "bound_min" if raw < lo else "bound_max" if raw > hi else "forecast"
                    recs.append((now_ns, bounded))
                    desired = bounded
                    if last is not None and bounded < last:
                        desired = min(last, max(r for _, r in recs))
                        if desired > bounded:
                            reason = "stabilizing"
                        if desired < last and policy.scale_down_max_step > 0:
                            if last_down is not None and now_ns - last_down < period_ns:
                                desired, reason = last, "rate_limited"
                            elif last - desired > policy.scale_down_max_step:
                                desired, reason = last - policy.scale_down_max_step, "rate_limited"
                        if desired < last:
                            last_down = now_ns
                last = current = int(desired)
                reasons[reason] = reasons.get(reason, 0) + 1
            if has_frame:
                at = int(np.searchsorted(times, now_ns + lead_ns))
                if at < len(times):
                    band[m] = [cols[c][at] if c in cols else np.nan for c in band_columns]
        floor[m] = current if last is not None else 0
    return floor, band, reasons


def replay_many(
    trace: pd.Series,
    *,
    configs: Sequence[ReplayConfig],
    runs: Sequence[str],
    forecasts: ForecastTable | None,
    replay_start: pd.Timestamp | None = None,
) -> list[ReplayResult]:
    """For each ``configs[i]``, what ``replay(trace, config=configs[i], forecast_fn=None, forecasts=forecasts,
    replay_start=replay_start, include=(runs[i],))`` returns (``runs[i]``: ``"hpa"`` or ``"prescaler"``), the
    batchable ones computed in lockstep."""
    if len(configs) != len(runs):
        raise ConfigError(
            f"replay_many: {len(configs)} configs but {len(runs)} runs", hint="one run per config"
        )
    for run in runs:
        if run not in RUNS:
            raise ConfigError(f"replay_many: unknown run {run!r}", hint="hpa or prescaler")
    if not configs:
        return []
    trace, values, offset = checked_trace(trace, replay_start)
    index = trace.index[offset:]
    n = len(index)
    results: list[ReplayResult | None] = [None] * len(configs)
    groups: dict[tuple, list[int]] = {}
    for i, (config, run) in enumerate(zip(configs, runs, strict=True)):
        if run == "prescaler" and forecasts is None:
            raise ConfigError("replay: the prescaler run needs a forecast_fn or precomputed forecasts")
        if not batchable(config):
            results[i] = replay(
                trace,
                config=config,
                forecast_fn=None,
                forecasts=forecasts if run == "prescaler" else None,
                replay_start=replay_start,
                include=(run,),
            )
            continue
        groups.setdefault((batch_key(config.hpa), float(config.cluster.pod_startup_s)), []).append(i)
    if not groups:
        return results  # type: ignore[return-value]
    if any(runs[i] == "prescaler" for g in groups.values() for i in g):
        assert forecasts is not None
        if forecasts.start > index[0] or forecasts.end < index[-1]:
            raise ConfigError(
                f"replay: the precomputed forecasts cover {forecasts.start} .. {forecasts.end}, not the "
                f"replayed {index[0]} .. {index[-1]}",
                hint="precompute them from the replay start to the trace's end",
            )
    load = values[offset:]
    frames = FrameArrays()
    for members in groups.values():
        first = configs[members[0]]
        pod_startup_s = first.cluster.pod_startup_s
        if pod_startup_s >= n * 60:
            from forecaster.series import format_duration

            raise ConfigError(
                f"replay: start-up ({format_duration(pd.Timedelta(seconds=pod_startup_s))}) is longer than "
                f"the replayed trace ({n} minutes)",
                hint="replay a longer trace or shorten the start-up",
            )
        warm_min = math.ceil(pod_startup_s / 60)
        initial = np.array(
            [
                int(
                    np.clip(
                        np.ceil(load / configs[i].hpa.capacity_per_replica - 1e-9),
                        configs[i].hpa.min_replicas,
                        configs[i].hpa.max_replicas,
                    )
                    .astype(np.int64)[: warm_min + 1]
                    .max()
                )
                for i in members
            ],
            dtype=np.int64,
        )
        floors = np.full((len(members), n), -1, dtype=np.int64)  # -1: no floor (the HPA alone)
        extras: dict[int, tuple[np.ndarray, np.ndarray, dict[str, int]]] = {}
        for row, i in enumerate(members):
            if runs[i] == "prescaler":
                floor, band, reasons = floor_schedule(
                    forecasts=forecasts,  # type: ignore[arg-type]
                    policy=configs[i].policy,
                    index=index,
                    initial=int(initial[row]),
                    frames=frames,
                )
                # As replay: the HPA's floor is never set below the HPA's own minimum (0: no decision yet).
                floors[row] = np.maximum(floor, configs[i].hpa.min_replicas)
                extras[i] = (floor, band, reasons)
        ready, pods, actions = _lockstep(
            load_all=values,
            offset=offset,
            n=n,
            hpas=[configs[i].hpa for i in members],
            initial=initial,
            floors=floors,
            pod_startup_s=pod_startup_s,
        )
        for row, i in enumerate(members):
            config = configs[i]
            run = runs[i]
            floor_arr = None
            fc_frame = None
            reasons: dict[str, int] = {}
            if run == "prescaler":
                floor, band, reasons = extras[i]
                floor_arr = floor.astype(float)
                col = config.policy.column
                lead = pd.Timedelta(seconds=config.policy.lead_time_s)
                fc_frame = pd.DataFrame(
                    band, index=index + lead, columns=["p50"] if col == "p50" else ["p50", col]
                )
            result = RunResult(
                name=run,
                ready=ready[row],
                pods=pods[row],
                nodes=np.zeros(n),
                actions=int(actions[row]),
                floor=floor_arr,
            )
            result.metrics = run_metrics(
                load=load,
                capacity_per_replica=config.hpa.capacity_per_replica,
                ready=result.ready,
                pods=result.pods,
                nodes=result.nodes,
                actions=result.actions,
            )
            results[i] = ReplayResult(
                load=pd.Series(load, index=index, name=trace.name),
                runs={run: result},
                forecast=fc_frame,
                config=config,
                reasons=reasons,
            )
    return results  # type: ignore[return-value]


def _lockstep(
    *,
    load_all: np.ndarray,
    offset: int,
    n: int,
    hpas: Sequence,
    initial: np.ndarray,
    floors: np.ndarray,
    pod_startup_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every HPA (and its Deployment) over the replayed minutes: (ready at each minute's start, pods averaged
    over the minute, scaling actions), as simulate._simulate's sync loop computes them."""
    hpa0 = hpas[0]
    sub_s = float(hpa0.sync_period_s)
    subs = int(round(60 / sub_s))
    metric = _metric_loads(load_all, offset=offset, hpa=hpa0, n_minutes=n, sub_s=sub_s)  # [M, subs]
    batch = HPABatch(hpas)
    width = max(int(initial.max()), max(h.max_replicas for h in hpas))
    dep = PodsBatch(initial=initial, width=width, pod_startup_s=pod_startup_s)
    s = len(hpas)
    ready = np.zeros((s, n))
    pods = np.zeros((s, n))
    actions = np.zeros(s, dtype=np.int64)
    for m in range(n):
        floor = floors[:, m]
        pod_acc = np.zeros(s)
        for k in range(subs):
            t = m * 60.0 + k * sub_s
            ready_now = dep.ready_count(t)
            if k == 0:
                ready[:, m] = ready_now
            current = dep.replicas
            desired, _ = batch.step(
                load=np.full(s, metric[m, k]),
                current_replicas=current,
                ready_replicas=ready_now,
                min_replicas=floor,
            )
            changed = desired != current
            if changed.any():
                actions += changed
                dep.scale_to(desired, t)
            pod_acc += dep.replicas
        pods[:, m] = pod_acc / subs
    return ready, pods, actions
