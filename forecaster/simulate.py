"""Replay simulator: a load trace against the reactive HPA, the prescaler + HPA, and a perfect-foresight oracle.

Pure and deterministic (a fixed seed for the optional start-up jitter): no clock, no cluster, no file. The
trace is replayed on a 1-minute grid; inside each minute the HPA syncs every ``sync_period_s`` with the load held
constant. A Deployment is modelled as a list of pods that become ready ``pod_startup_s`` after they are scheduled;
with a node group (``pods_per_node > 0``) pods wait for a ready node with a free slot, nodes are added for pending
pods (Cluster Autoscaler) and become ready after ``node_startup_s``, and empty nodes go after a delay.

Runs, side by side on the same trace and the same starting point:

1. ``hpa``: the HPA model (:mod:`forecaster.hpa`) alone.
2. ``prescaler``: the same :func:`forecaster.scaling.decide` the controller runs, every ``policy.interval_s``,
   applied as the HPA's ``minReplicas`` (capacity = max(HPA, floor)); with a node group, a second decision with
   the node lead time sizes the node group's floor. Forecasts come from ``forecast_fn(history, now)``, where
   ``history`` ends before ``now``.
3. ``oracle``: the cheapest schedule that is never short, knowing the whole trace (:mod:`forecaster.oracle`).

"Capacity" everywhere is ready pods x ``capacity_per_replica`` (the load a pod serves at full use): a minute is
under-provisioned when the load exceeds it. The HPA keeps pods at ``hpa.target_utilisation`` of that (1.0 by
default: the HPA's target is the capacity itself, and any rise it has not caught yet is a short minute); the
prescaler's floor plans at full capacity, plus its ``headroom``; the oracle is never short at full capacity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError, DataError
from forecaster.hpa import HPAConfig, HPAState, hpa_step
from forecaster.oracle import oracle_schedule
from forecaster.scaling import ScalingPolicy, ScalingState, decide, nodes_needed
from forecaster.series import format_duration, regularize

__all__ = [
    "ClusterConfig",
    "ReplayConfig",
    "RunResult",
    "ReplayResult",
    "ForecastFn",
    "prepare_trace",
    "replay",
    "run_metrics",
    "predictor_forecasts",
    "ForecastTable",
    "precompute_forecasts",
]

ForecastFn = Callable[[pd.Series, pd.Timestamp], "pd.DataFrame | None"]
TICK = pd.Timedelta(minutes=1)


@dataclass(frozen=True)
class ForecastTable:
    """The forecast made at every minute of a replay, computed once and reused by many replays.

    A tuning grid replays the same trace with the same forecasts under dozens of policies: the model and the
    per-tick interpolation run once here, and each replay only reads ``frames[minute]``.
    """

    start: pd.Timestamp
    """The first tick covered."""
    frames: tuple[pd.DataFrame | None, ...]
    """One per minute from ``start``: the forecast made then (None where the forecaster had none)."""

    @property
    def end(self) -> pd.Timestamp:
        """The last tick covered."""
        return self.start + TICK * (len(self.frames) - 1)

    def at(self, now: pd.Timestamp) -> pd.DataFrame | None:
        """The forecast made at ``now`` (a tick inside the table)."""
        m = (pd.Timestamp(now).as_unit("ns").value - self.start.value) // TICK.value
        if not 0 <= m < len(self.frames):
            raise ConfigError(
                f"replay: no precomputed forecast for {now} (the table covers {self.start} .. {self.end})",
                hint="precompute the forecasts over the whole replayed range",
            )
        return self.frames[int(m)]


def precompute_forecasts(
    trace: pd.Series, *, forecast_fn: ForecastFn, replay_start: pd.Timestamp | None = None
) -> ForecastTable:
    """Ask ``forecast_fn`` once per minute of ``trace`` from ``replay_start`` on, exactly as :func:`replay`
    would (the history ends before each tick), and keep the answers for any number of replays."""
    index = pd.DatetimeIndex(trace.index).as_unit("ns")
    start = index[0] if replay_start is None else pd.Timestamp(replay_start)
    offset = int(index.searchsorted(start))
    if offset >= len(index):
        raise DataError(f"replay: replay start {start} is after the trace's end {index[-1]}")
    history = trace.set_axis(index)
    frames: list[pd.DataFrame | None] = []
    last: tuple[pd.DataFrame, pd.DataFrame] | None = None  # (as returned, as kept)
    for m in range(offset, len(index)):
        frame = forecast_fn(history.iloc[:m], index[m])
        if frame is not None:
            # Plain object column labels: a lookup by name (every decision makes several) is several times
            # cheaper than on pandas' string dtype. The same frame returned for several ticks is kept once.
            if last is None or last[0] is not frame:
                last = (frame, frame.set_axis(pd.Index(list(frame.columns), dtype=object), axis=1))
            frame = last[1]
        frames.append(frame)
    return ForecastTable(start=index[offset].as_unit("ns"), frames=tuple(frames))


@dataclass(frozen=True)
class ClusterConfig:
    """How fast capacity arrives. Times in seconds."""

    pod_startup_s: float = 180.0
    """From scheduling to ready (image pull, start, readiness probe, warm-up)."""
    pod_startup_jitter_s: float = 0.0
    """Uniform extra start-up in [0, jitter] per pod, drawn from the replay's seed."""
    pods_per_node: int = 0
    """0: no node model (pods never wait for nodes)."""
    node_startup_s: float = 300.0
    node_scale_down_delay_s: float = 600.0
    """How long a node stays unneeded before it goes (Cluster Autoscaler's scale-down-unneeded-time)."""

    def __post_init__(self) -> None:
        for name in ("pod_startup_s", "pod_startup_jitter_s", "node_startup_s", "node_scale_down_delay_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"replay: {name} must be seconds >= 0, got {value!r}")
        if (
            isinstance(self.pods_per_node, bool)
            or int(self.pods_per_node) != self.pods_per_node
            or self.pods_per_node < 0
        ):
            raise ConfigError(
                f"replay: pods_per_node must be a whole number >= 0, got {self.pods_per_node!r}"
            )

    @property
    def has_nodes(self) -> bool:
        return self.pods_per_node > 0


@dataclass(frozen=True)
class ReplayConfig:
    hpa: HPAConfig
    policy: ScalingPolicy
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if 60 % self.hpa.sync_period_s != 0:
            raise ConfigError(
                f"replay: the HPA sync period must divide a minute, got {self.hpa.sync_period_s:g}s",
                hint="use 5, 10, 15, 20, 30 or 60 seconds",
            )
        if self.policy.interval_s % 60 != 0:
            raise ConfigError(
                f"replay: the prescaler interval must be whole minutes, got {self.policy.interval_s:g}s"
            )
        if not math.isclose(self.policy.capacity_per_replica, self.hpa.capacity_per_replica):
            raise ConfigError(
                "replay: the policy and the HPA must use the same capacity_per_replica",
                hint="both are the load one pod serves at full use (the HPA's target_utilisation is separate)",
            )

    @property
    def node_policy(self) -> ScalingPolicy:
        """The node group plans on the same forecast with the node + pod start-up as its lead time."""
        return self.policy.replace(
            lead_time_s=self.cluster.node_startup_s + self.cluster.pod_startup_s,
            min_replicas=0,
        )


@dataclass
class RunResult:
    name: str
    ready: np.ndarray  # [M] ready pods at the start of each minute
    pods: np.ndarray  # [M] pods existing (starting or ready), averaged over the minute
    nodes: np.ndarray  # [M] nodes existing, averaged over the minute (0 without a node model)
    actions: int
    floor: np.ndarray | None = None  # [M] the prescaler's floor
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class ReplayResult:
    load: pd.Series
    runs: dict[str, RunResult]
    forecast: pd.DataFrame | None
    """Per minute, the forecast made then for ``now + lead_time`` (columns p50, planned quantile)."""
    config: ReplayConfig
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "start": str(self.load.index[0]),
            "end": str(self.load.index[-1]),
            "minutes": len(self.load),
            "config": {
                "hpa": _jsonable(asdict(cfg.hpa)),
                "policy": _jsonable(asdict(cfg.policy)),
                "cluster": _jsonable(asdict(cfg.cluster)),
                "seed": cfg.seed,
            },
            "runs": {name: dict(run.metrics) for name, run in self.runs.items()},
            "prescaler_reasons": dict(self.reasons),
        }

    def timeline(self) -> pd.DataFrame:
        """One row per replayed minute: ``timestamp``, ``load`` and each run's ready capacity
        (``<run>_ready_capacity`` = ready pods x capacity per replica) and ready pods."""
        cap = self.config.hpa.capacity_per_replica
        columns: dict[str, Any] = {
            "timestamp": [ts.isoformat() for ts in pd.DatetimeIndex(self.load.index)],
            "load": self.load.to_numpy(dtype=float),
        }
        for name, run in self.runs.items():
            columns[f"{name}_ready_capacity"] = run.ready.astype(float) * cap
        for name, run in self.runs.items():
            columns[f"{name}_ready_replicas"] = run.ready.astype(np.int64)
        return pd.DataFrame(columns)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def prepare_trace(series: pd.Series, *, max_gap: str = "15m", name: str = "trace") -> pd.Series:
    """A load trace on the 1-minute replay grid: regular, no NaN; coarser traces are linearly interpolated.

    Raises :class:`DataError` for gaps longer than ``max_gap`` (a replay over missing data would be fiction),
    negative loads, and steps finer than a minute that do not aggregate.
    """
    if len(series) < 3:
        raise DataError(f"{name}: {len(series)} points is too short to replay", hint="give hours of data")
    regular = regularize(series, max_interp_gap=max_gap, name=name)
    if regular.isna().any():
        missing = regular.isna()
        raise DataError(
            f"{name}: {int(missing.sum())} points missing in gaps longer than {max_gap} "
            f"(first at {regular.index[int(np.argmax(missing.to_numpy()))]})",
            hint="replay a range without long gaps, or fill them deliberately before replaying",
        )
    if (regular < 0).any():
        raise DataError(f"{name}: negative load at {regular.idxmin()}", hint="a load must be >= 0")
    step = pd.Timedelta(regular.index.freq)  # regularize puts the series on a grid of this step
    if step == TICK:
        return regular.astype(float)
    if step < TICK:
        if TICK % step != pd.Timedelta(0):
            raise DataError(f"{name}: step {format_duration(step)} does not divide a minute")
        return regular.resample(TICK, origin=regular.index[0]).mean().astype(float)
    if step % TICK != pd.Timedelta(0):
        raise DataError(
            f"{name}: step {format_duration(step)} is not whole minutes", hint="resample it first"
        )
    grid = pd.date_range(regular.index[0], regular.index[-1], freq=TICK, unit="ns")
    out = regular.reindex(grid).interpolate(method="linear")
    out.name = series.name
    return out.astype(float)


def run_metrics(
    *,
    load: np.ndarray,
    capacity_per_replica: float,
    ready: np.ndarray,
    pods: np.ndarray,
    nodes: np.ndarray,
    actions: int,
) -> dict[str, float]:
    """The per-run numbers every table reports; ``ready``/``pods``/``nodes`` are per minute."""
    capacity = ready * capacity_per_replica
    short = np.maximum(load - capacity, 0.0)
    total = float(load.sum())
    served_capacity = float(capacity.sum())
    return {
        "under_provisioned_minutes": int((short > 1e-9 * max(1.0, capacity_per_replica)).sum()),
        "unserved_fraction": float(short.sum() / total) if total > 0 else 0.0,
        "replica_minutes": float(pods.sum()),
        "node_minutes": float(nodes.sum()),
        "scaling_actions": int(actions),
        "mean_utilisation": float(np.minimum(load, capacity).sum() / served_capacity)
        if served_capacity
        else 0.0,
        "peak_replicas": int(np.ceil(pods.max())) if len(pods) else 0,
    }


class _Deployment:
    """Pods (scheduled-at / ready-at seconds) and optionally nodes; LIFO removal like ReplicaSet scale-down."""

    def __init__(self, *, cluster: ClusterConfig, initial: int, rng: np.random.Generator) -> None:
        self.cluster = cluster
        self.rng = rng
        self.pod_ready: list[float | None] = [-math.inf] * initial  # None = pending (no node slot)
        n0 = math.ceil(initial / cluster.pods_per_node) if cluster.has_nodes else 0
        self.node_ready: list[float] = [-math.inf] * n0
        self.unneeded_since: float | None = None

    def _startup(self) -> float:
        jitter = self.cluster.pod_startup_jitter_s
        return self.cluster.pod_startup_s + (float(self.rng.uniform(0, jitter)) if jitter else 0.0)

    @property
    def replicas(self) -> int:
        return len(self.pod_ready)

    def ready_count(self, t: float) -> int:
        return sum(1 for r in self.pod_ready if r is not None and r <= t)

    def scale_to(self, n: int, t: float) -> None:
        if n > len(self.pod_ready):
            for _ in range(n - len(self.pod_ready)):
                self.pod_ready.append(None if self.cluster.has_nodes else t + self._startup())
        elif n < len(self.pod_ready):
            del self.pod_ready[n:]

    def tick_nodes(self, t: float, node_floor: int) -> None:
        """Schedule pending pods on ready nodes, add nodes for the rest, retire long-unneeded nodes."""
        if not self.cluster.has_nodes:
            return
        ppn = self.cluster.pods_per_node
        ready_nodes = sum(1 for r in self.node_ready if r <= t)
        slots = ready_nodes * ppn
        for i, r in enumerate(self.pod_ready):
            if i >= slots:
                break
            if r is None:
                self.pod_ready[i] = t + self._startup()
        need = max(math.ceil(len(self.pod_ready) / ppn), node_floor)
        if need > len(self.node_ready):
            self.node_ready.extend([t + self.cluster.node_startup_s] * (need - len(self.node_ready)))
            self.unneeded_since = None
        elif need < len(self.node_ready):
            if self.unneeded_since is None:
                self.unneeded_since = t
            elif t - self.unneeded_since >= self.cluster.node_scale_down_delay_s:
                # Starting nodes go first, then the newest ready ones.
                self.node_ready.sort()
                del self.node_ready[need:]
                self.unneeded_since = None
        else:
            self.unneeded_since = None


def _ns_times(index: pd.Index) -> np.ndarray:
    """Nanosecond times of a forecast's index; an index already in ns is read as is (a 1-minute trace brings
    a new frame every simulated minute, and building a DatetimeIndex for each cost more than reading it)."""
    if isinstance(index, pd.DatetimeIndex) and index.unit == "ns":
        return index.asi8
    return pd.DatetimeIndex(index).as_unit("ns").asi8


def _metric_loads(
    load_all: np.ndarray, *, offset: int, hpa: HPAConfig, n_minutes: int, sub_s: float
) -> np.ndarray:
    """The load the HPA reads at each sync: the mean over the metric window, ``metric_lag_s`` old.

    Indexed [minute, sync in minute]; minutes before the trace reuse its first value.
    """
    csum = np.concatenate([[0.0], np.cumsum(load_all)])
    subs = int(round(60 / sub_s))
    t = (np.arange(n_minutes)[:, None] * 60 + np.arange(subs)[None, :] * sub_s) - hpa.metric_lag_s  # seconds
    end = np.floor(t / 60).astype(np.int64) + offset  # exclusive: only complete minutes are in the metric
    width = max(1, int(round(hpa.metric_window_s / 60)))
    end = np.clip(end, 1, len(load_all))
    start = np.clip(end - width, 0, None)
    return (csum[end] - csum[start]) / (end - start)


def _simulate(
    *,
    load_all: np.ndarray,
    offset: int,
    index: pd.DatetimeIndex,
    config: ReplayConfig,
    initial: int,
    tick_forecast: Callable[[int, pd.Timestamp], pd.DataFrame | None] | None,
    name: str,
) -> tuple[RunResult, pd.DataFrame | None, dict[str, int]]:
    """One HPA run; with ``tick_forecast(minute, now)``, the prescaler's floor under it."""
    n = len(index)
    hpa = config.hpa
    sub_s = float(hpa.sync_period_s)
    subs = int(round(60 / sub_s))
    metric = _metric_loads(load_all, offset=offset, hpa=hpa, n_minutes=n, sub_s=sub_s)
    rng = np.random.default_rng(config.seed)
    dep = _Deployment(cluster=config.cluster, initial=initial, rng=rng)
    ready = np.zeros(n)
    pods = np.zeros(n)
    nodes = np.zeros(n)
    floor_arr = np.zeros(n) if tick_forecast is not None else None
    state = HPAState()
    pstate, nstate = ScalingState(), ScalingState()
    floor: int | None = None
    node_floor = 0
    actions = 0
    reasons: dict[str, int] = {}
    interval_min = int(config.policy.interval_s // 60)
    lead = pd.Timedelta(seconds=config.policy.lead_time_s)
    col = config.policy.column
    # The forecast for now + lead: p50 and the planned quantile (one column when that is p50 itself).
    band_columns = ["p50"] if col == "p50" else ["p50", col]
    band = np.full((n, len(band_columns)), np.nan) if tick_forecast is not None else None
    band_of: tuple[pd.DataFrame, np.ndarray, np.ndarray] | None = None
    sync_offsets = [pd.Timedelta(seconds=k * sub_s) for k in range(subs)]
    for m in range(n):
        now = index[m]
        if tick_forecast is not None and m % interval_min == 0:
            fc = tick_forecast(m, now)
            d = decide(
                forecast=fc, policy=config.policy, state=pstate, now=now, current_replicas=dep.replicas
            )
            pstate, floor = d.state, d.desired_replicas
            reasons[d.reason] = reasons.get(d.reason, 0) + 1
            if config.cluster.has_nodes:
                nd = decide(
                    forecast=fc,
                    policy=config.node_policy,
                    state=nstate,
                    now=now,
                    current_replicas=dep.replicas,
                )
                nstate = nd.state
                node_floor = nodes_needed(
                    replicas=nd.desired_replicas,
                    pod_request=1.0,
                    node_allocatable=float(config.cluster.pods_per_node),
                )
            if band is not None and fc is not None and len(fc):
                if band_of is None or band_of[0] is not fc:
                    # Ticks often share one forecast frame (a 5-minute model): read its columns once.
                    band_of = (
                        fc,
                        _ns_times(fc.index),
                        np.column_stack(
                            [
                                fc[c].to_numpy(dtype=float) if c in fc else np.full(len(fc), np.nan)
                                for c in band_columns
                            ]
                        ),
                    )
                at = int(np.searchsorted(band_of[1], (now + lead).value))
                if at < len(band_of[1]):
                    band[m] = band_of[2][at]
        if floor_arr is not None:
            floor_arr[m] = floor if floor is not None else 0
        pod_acc = node_acc = 0.0
        for k in range(subs):
            t = m * 60.0 + k * sub_s
            dep.tick_nodes(t, node_floor)
            ready_now = dep.ready_count(t)
            if k == 0:
                ready[m] = ready_now
            current = dep.replicas
            r = hpa_step(
                config=hpa,
                state=state,
                now=now + sync_offsets[k],
                load=float(metric[m, k]),
                current_replicas=current,
                ready_replicas=ready_now,
                # The actuator raises the HPA's floor and never lowers it below the HPA's own minimum
                # (prescaler/actuators: max(desired, original)): a policy minimum below it changes nothing.
                min_replicas=None if floor is None else max(int(floor), hpa.min_replicas),
            )
            state = r.state
            if r.desired_replicas != current:
                actions += 1
                dep.scale_to(r.desired_replicas, t)
                dep.tick_nodes(t, node_floor)
            pod_acc += dep.replicas
            node_acc += len(dep.node_ready)
        pods[m] = pod_acc / subs
        nodes[m] = node_acc / subs
    run = RunResult(name=name, ready=ready, pods=pods, nodes=nodes, actions=actions, floor=floor_arr)
    fc_frame = None
    if band is not None:
        fc_frame = pd.DataFrame(band, index=index + lead, columns=band_columns)
    return run, fc_frame, reasons


def checked_trace(trace: pd.Series, replay_start: pd.Timestamp | None) -> tuple[pd.Series, np.ndarray, int]:
    """The replay's checks of a trace: (the trace with an ns index, its values, the offset of the replay start).

    Shared by :func:`replay` and :func:`forecaster.replay_batch.replay_many`, so both refuse the same traces.
    """
    if not isinstance(trace.index, pd.DatetimeIndex) or len(trace) < 2:
        raise DataError(
            "replay: the trace must be a series indexed by timestamps", hint="use prepare_trace()"
        )
    trace = trace.set_axis(pd.DatetimeIndex(trace.index).as_unit("ns"))
    step = pd.Timedelta(trace.index[1] - trace.index[0])
    if step != TICK or (np.diff(trace.index.asi8) != TICK.value).any():
        raise DataError("replay: the trace must be on a regular 1-minute grid", hint="use prepare_trace()")
    values = trace.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = int(np.argmax(~np.isfinite(values)))
        raise DataError(f"replay: the trace has a missing or infinite value at {trace.index[bad]}")
    if (values < 0).any():
        raise DataError(f"replay: negative load at {trace.index[int(np.argmax(values < 0))]}")
    start = trace.index[0] if replay_start is None else pd.Timestamp(replay_start)
    offset = int(trace.index.searchsorted(start))
    if offset >= len(trace):
        raise DataError(f"replay: replay start {start} is after the trace's end {trace.index[-1]}")
    return trace, values, offset


def replay(
    trace: pd.Series,
    *,
    config: ReplayConfig,
    forecast_fn: ForecastFn | None,
    replay_start: pd.Timestamp | None = None,
    include: tuple[str, ...] = ("hpa", "prescaler", "oracle"),
    forecasts: ForecastTable | None = None,
) -> ReplayResult:
    """Replay ``trace`` (a 1-minute series, see :func:`prepare_trace`) from ``replay_start`` to its end.

    The part before ``replay_start`` is history only (forecasts may read it, and the HPA's metric window).
    The prescaler's forecasts come from ``forecast_fn`` at each tick, or, for many replays of one trace,
    from ``forecasts`` (:func:`precompute_forecasts`, the same answers computed once).
    """
    if forecast_fn is not None and forecasts is not None:
        raise ConfigError("replay: give forecast_fn or precomputed forecasts, not both")
    trace, values, offset = checked_trace(trace, replay_start)
    index = trace.index[offset:]
    n = len(index)
    cluster = config.cluster
    delay_s = cluster.pod_startup_s + (cluster.node_startup_s if cluster.has_nodes else 0.0)
    if delay_s >= n * 60:
        raise ConfigError(
            f"replay: start-up ({format_duration(pd.Timedelta(seconds=delay_s))}) is longer than the replayed "
            f"trace ({n} minutes)",
            hint="replay a longer trace or shorten the start-up",
        )
    if "prescaler" in include and forecast_fn is None and forecasts is None:
        raise ConfigError("replay: the prescaler run needs a forecast_fn or precomputed forecasts")
    tick_forecast: Callable[[int, pd.Timestamp], pd.DataFrame | None] | None = None
    if forecasts is not None:
        if forecasts.start > index[0] or forecasts.end < index[-1]:
            raise ConfigError(
                f"replay: the precomputed forecasts cover {forecasts.start} .. {forecasts.end}, not the "
                f"replayed {index[0]} .. {index[-1]}",
                hint="precompute them from the replay start to the trace's end",
            )
        tick_forecast = lambda m, now: forecasts.at(now)  # noqa: E731
    elif forecast_fn is not None:
        history = trace
        tick_forecast = lambda m, now: forecast_fn(history.iloc[: offset + m], now)  # noqa: E731
    cap = config.hpa.capacity_per_replica
    load = values[offset:]
    startup_min = math.ceil(cluster.pod_startup_s / 60)
    warm_min = math.ceil(delay_s / 60)
    need = np.clip(np.ceil(load / cap - 1e-9), config.hpa.min_replicas, config.hpa.max_replicas).astype(
        np.int64
    )
    # Everyone starts with what the first start-up's worth of load needs, ready (no cold start).
    initial = int(need[: warm_min + 1].max())

    runs: dict[str, RunResult] = {}
    forecast_frame = None
    reasons: dict[str, int] = {}
    for name in include:
        if name == "oracle":
            sched = oracle_schedule(
                need=need,
                initial=initial,
                pod_startup_min=startup_min,
                pods_per_node=cluster.pods_per_node,
                node_startup_min=math.ceil(cluster.node_startup_s / 60),
            )
            runs[name] = RunResult(
                name=name, ready=sched.ready, pods=sched.pods, nodes=sched.nodes, actions=sched.actions
            )
        elif name in ("hpa", "prescaler"):
            run, fc, why = _simulate(
                load_all=values,
                offset=offset,
                index=index,
                config=config,
                initial=initial,
                tick_forecast=tick_forecast if name == "prescaler" else None,
                name=name,
            )
            runs[name] = run
            if name == "prescaler":
                forecast_frame, reasons = fc, why
        else:
            raise ConfigError(f"replay: unknown run {name!r}", hint="hpa, prescaler or oracle")
    for run in runs.values():
        run.metrics = run_metrics(
            load=load,
            capacity_per_replica=cap,
            ready=run.ready,
            pods=run.pods,
            nodes=run.nodes,
            actions=run.actions,
        )
    return ReplayResult(
        load=pd.Series(load, index=index, name=trace.name),
        runs=runs,
        forecast=forecast_frame,
        config=config,
        reasons=reasons,
    )


def predictor_forecasts(
    predictor: Any,
    series: pd.Series,
    *,
    start: pd.Timestamp,
    refit: Callable[[pd.Series], Any] | None = None,
    refit_every: pd.Timedelta | None = None,
) -> ForecastFn:
    """A ``forecast_fn`` from a Predictor on its own (native) grid, computed ahead in batches for speed.

    ``series`` is the trace at the predictor's step. At a tick ``now`` the forecast is the one made from the
    native points strictly before ``now`` (nothing at or after the tick is read), linearly interpolated onto
    the 1-minute grid from the last observed point. With ``refit``, a new predictor is fitted on the native
    data before each ``refit_every`` block (as a daily training CronJob would) and used for that block.
    """
    step = pd.Timedelta(predictor.step)
    index = pd.DatetimeIndex(series.index)
    values = series.to_numpy(dtype=float)
    start = pd.Timestamp(start)
    first = int(index.searchsorted(start - step))  # the origin whose forecast covers the first ticks
    origins = np.arange(max(first, 1), len(index) + 1)
    frames: dict[int, pd.DataFrame] = {}

    def compute(model: Any, block: np.ndarray) -> None:
        block = block[block >= getattr(model, "lookback_steps", getattr(model, "min_history", 1))]
        if len(block) == 0:
            return
        many = getattr(model, "predict_many", None)
        if many is not None:
            for t, frame in zip(block, many(series, origins=block), strict=True):
                frames[int(t)] = frame
        else:
            for t in block:
                frames[int(t)] = model.predict(series.iloc[: int(t)])

    if refit is None or refit_every is None:
        compute(predictor, origins)
    else:
        if refit_every <= pd.Timedelta(0):
            raise ConfigError(f"replay: refit_every must be a positive duration, got {refit_every}")

        def first_origin(at: pd.Timestamp) -> int:
            # Origin t serves the ticks in (index[t-1], index[t]]; it belongs to the block of its first tick, so
            # a model fitted at a block's start never forecasts a tick before it (it has seen those points).
            return int(index.searchsorted(at - TICK)) + 1

        model = predictor
        block_start = start
        while True:
            block_end = block_start + refit_every
            lo = first_origin(block_start) if block_start > start else 0
            block = origins[(origins >= lo) & (origins < first_origin(block_end))]
            if block_start > start:
                model = refit(series.iloc[: int(index.searchsorted(block_start))])
            compute(model, block)
            if block_end > index[-1]:
                break
            block_start = block_end
    cache: dict[int, pd.DataFrame] = {}

    def forecast_fn(history: pd.Series, now: pd.Timestamp) -> pd.DataFrame | None:
        # Native points strictly before ``now``: the origin is the count of them.
        t = int(index.searchsorted(pd.Timestamp(now), side="left"))
        if t in cache:
            return cache[t]
        frame = frames.get(t)
        if frame is None:
            return None
        last_at, last_value = index[t - 1], values[t - 1]
        # Linear in time from the last observed point through the forecast steps (numpy: called every tick).
        known = np.concatenate(
            [[last_at.as_unit("ns").value], pd.DatetimeIndex(frame.index).as_unit("ns").asi8]
        )
        grid = pd.date_range(last_at + TICK, frame.index[-1], freq=TICK, unit="ns")
        out = pd.DataFrame(
            {
                c: np.interp(grid.asi8, known, np.concatenate([[last_value], frame[c].to_numpy(dtype=float)]))
                for c in frame.columns
            },
            index=grid,
        )
        cache.clear()
        cache[t] = out
        return out

    return forecast_fn
