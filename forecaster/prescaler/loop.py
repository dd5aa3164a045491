"""The prescaler's reconcile loop: for each PrescalePolicy, fetch -> predict -> decide -> act -> report.

One tick reads every policy and, for each one independently (one bad policy never stops the others):

1. **fetch**: parse it (an invalid one gets ``Ready=False`` naming the field) and read its target through its
   actuator (:mod:`~forecaster.prescaler.actuators`);
2. **predict**: get a forecast (:mod:`~forecaster.prescaler.forecasts`); failures, staleness and NaN become
   "no forecast", and the last good forecast bridges the part of its horizon that has not passed yet;
3. **decide**: update the accuracy guard (:mod:`~forecaster.prescaler.guard`) and call the pure
   :func:`forecaster.scaling.decide` (the replay simulates the same call), with the state persisted in status;
4. **act** (Scale mode only): the actuator applies the decision, or restores the original floor when the
   prescaler lets go (forecast lost beyond the last good one, Forecast mode, the accuracy guard);
5. **report**: status describing what was actually applied, Events on transitions and actions, metrics.

At fleet scale (:class:`FleetSettings`) a tick first starts every policy's forecast on a bounded pool
(``forecast_workers``: at most that many Prometheus reads at once), one per forecast group (policies whose
provider says they share a forecast get one read and one forward pass), then reconciles the policies on a
second bounded pool (``reconcile_workers``). Each policy waits for its forecast only until its deadline
(``forecast_deadline_s`` from the tick's start, by default half its interval): a slow target then fails safe
like an outage (the last good forecast, else no scale-down) and never delays the others past their interval;
its read stays the one in flight for its group, so slow reads never pile up.

This module must not import the kubernetes client or boto3, read the wall clock inside a tick (``now`` is
passed in) or decide capacity itself.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError, ForecasterError
from forecaster.events import Event
from forecaster.prescaler.actuators import ActuatorContext, Actuators, Applied, Target
from forecaster.prescaler.calendars import CONDITION as CALENDAR_CONDITION
from forecaster.prescaler.calendars import (
    CalendarReading,
    calendar_condition,
    calendar_hold,
    calendar_status,
    holding_for,
)
from forecaster.prescaler.forecasts import (
    ForecastProvider,
    ForecastResult,
    LastGoodForecast,
    call_provider,
    check_forecast,
)
from forecaster.prescaler.guard import ForecastLog, GuardReading, judge
from forecaster.prescaler.kube import KubeClient, rfc3339
from forecaster.prescaler.leader import LeaderElector
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy import PrescalePolicy, parse_policy
from forecaster.prescaler.policy_sources import FINALIZER, PolicySource
from forecaster.prescaler.problems import Problem, as_problem, error_kind
from forecaster.prescaler.recommended import TuningUse, use_recommendation
from forecaster.prescaler.report import Reporter
from forecaster.prescaler.status import (
    COMPONENT,
    Outcome,
    condition,
    policy_ref,
    state_from_status,
    state_to_status,
    utc_naive,
)
from forecaster.prescaler.status_diff import compact, widen_after_restart
from forecaster.scaling import EVENT_COLUMN, Decision, ScalingState, decide

__all__ = ["Controller", "FleetSettings", "utcnow"]

log = logging.getLogger(__name__)


def utcnow() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC)).tz_localize(None)


@dataclass(frozen=True)
class FleetSettings:
    """How one tick spreads its work (see the module docstring)."""

    forecast_workers: int = 8
    """Forecasts (Prometheus read + model) in flight at once: the bound on the load put on Prometheus."""
    reconcile_workers: int = 1
    """Policies reconciled at once (their reads and writes to the API server); 1 keeps them in list order."""
    forecast_deadline_s: float | None = None
    """How long after the tick's start a policy waits for its forecast; None: half the policy's interval."""
    status_refresh_s: float = 300.0
    """How long a status may go unwritten while only its clock-following parts change (the forecast peak
    and its time, the message's numbers, the stabilisation window's newest times: see
    :mod:`~forecaster.prescaler.status_diff`); any other change is written at once. 0: write every change."""

    def __post_init__(self) -> None:
        if self.forecast_workers < 1 or self.reconcile_workers < 1:
            raise ConfigError(
                f"workers must be at least 1 (forecast {self.forecast_workers}, reconcile "
                f"{self.reconcile_workers})",
                hint="e.g. --forecast-workers 8 --reconcile-workers 4",
            )
        if self.status_refresh_s < 0:
            raise ConfigError(
                f"status refresh must be 0 or more seconds, not {self.status_refresh_s}",
                hint="e.g. --status-refresh 300 (0: write every change at once)",
            )
        if self.forecast_deadline_s is not None and self.forecast_deadline_s <= 0:
            raise ConfigError(
                f"forecast deadline must be positive, not {self.forecast_deadline_s}",
                hint="e.g. --forecast-deadline 20",
            )


_Answers = dict[str, tuple[ForecastResult | None, str | None]]
"""A forecast group's answer: (forecast or None, why not) by policy key."""


_Answer = tuple[ForecastResult | None, str | None]


@dataclass
class _Pending:
    """A policy's forecast started for this tick: its future (set as soon as this policy's forecast is made,
    before the rest of its group's) and when (monotonic seconds) the policy stops waiting."""

    future: concurrent.futures.Future[_Answer]
    deadline: float
    deadline_s: float


@dataclass
class _Group:
    """A forecast group in flight: the task, and one future per policy of the group."""

    task: concurrent.futures.Future[Any]
    futures: dict[str, concurrent.futures.Future[_Answer]]


@dataclass
class _Memory:
    """What the controller remembers about one policy between ticks (in memory)."""

    log: ForecastLog = field(default_factory=ForecastLog)
    last_good: LastGoodForecast | None = None
    state: ScalingState | None = None
    """The decision state after the last tick (the status may hold an older one: see ``status_refresh_s``)."""
    persisted: Any = None
    """The ``scalingState`` the cluster's status holds as far as this controller knows (written or read)."""
    written_at: pd.Timestamp | None = None
    """When the cluster's status was last brought fully up to date by this controller."""


@dataclass
class _Tick:
    """One policy in one tick: what the pipeline's steps share."""

    obj: dict[str, Any]
    policy: PrescalePolicy
    old: dict[str, Any]
    """The status as read (the decision's state, the guard's, the last action)."""
    now: pd.Timestamp
    actuator: Any = None
    target: Target | None = None
    tuning: TuningUse | None = None
    """``spec.tuning``: the settings decided with and what the status says about them."""


@dataclass
class _Plan:
    """The predict and decide steps' result for one policy."""

    decision: Decision
    units: int
    """The decision in the actuator's unit."""
    result: ForecastResult | None
    problem: str | None
    """Why there is no usable forecast now (None: there is one)."""
    holding: LastGoodForecast | None
    """Acting on the last good forecast while ``problem`` lasts."""
    guard: GuardReading
    forecast_only: bool
    forecast_only_why: str = ""
    calendar_hold: Any = None
    """The scheduled event capacity is not lowered for while the calendar is unavailable (an Event), or None."""


class Controller:
    """Reconciles every policy from ``policies`` on each :meth:`tick`; see the module docstring."""

    def __init__(
        self,
        *,
        policies: PolicySource,
        forecasts: ForecastProvider,
        kube: KubeClient | None,
        metrics: PrescalerMetrics | None = None,
        elector: LeaderElector | None = None,
        asg_factory: Callable[[str | None], Any] | None = None,
        dry_run: bool = False,
        identity: str = COMPONENT,
        fleet: FleetSettings | None = None,
    ) -> None:
        self.policies = policies
        self.fleet = fleet or FleetSettings()
        self._forecast_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._reconcile_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: dict[Hashable, _Group] = {}
        self._pending: dict[str, _Pending] = {}
        self.forecasts = forecasts
        self.kube = kube
        self.metrics = metrics if metrics is not None else PrescalerMetrics()
        self.elector = elector
        self.dry_run = dry_run
        self.identity = identity
        self.actuators = Actuators(ActuatorContext(kube, asg_factory))
        self.reporter = Reporter(policies=policies, kube=kube, metrics=self.metrics, identity=identity)
        self._memory: dict[str, _Memory] = {}
        self._known: set[str] = set()
        self._heartbeat: float | None = None
        self._wake_s = 60.0
        self._turns = 0

    # -- the loop -------------------------------------------------------------------------------------------

    def tick(self, now: pd.Timestamp) -> list[Outcome]:
        """One pass over every policy, if this replica leads (always, without an elector)."""
        now = utc_naive(now)
        if self.elector is not None:
            leading = self.elector.ensure(now)
            self.metrics.leader.set(1 if leading else 0)
            if not leading:
                return []
        return self.reconcile_all(now)

    def reconcile_all(self, now: pd.Timestamp) -> list[Outcome]:
        tick_started = time.perf_counter()
        queries_before = _queries(self.forecasts)
        try:
            objects = self.policies.list()
        except ForecasterError as exc:
            self.metrics.errors.labels(kind=error_kind(exc)).inc()
            log.error("cannot list policies: %s", exc)
            return []
        keys = [_key(obj) for obj in objects]
        self._start_forecasts(objects, now)
        self.actuators.ctx.hpa_lists = {}  # each namespace's HPAs listed once this tick
        try:
            if self.fleet.reconcile_workers == 1 or len(objects) <= 1:
                outcomes = [
                    self._reconcile_one(obj, key, now) for obj, key in zip(objects, keys, strict=True)
                ]
            else:
                if self._reconcile_pool is None:
                    self._reconcile_pool = concurrent.futures.ThreadPoolExecutor(
                        self.fleet.reconcile_workers, thread_name_prefix="reconcile"
                    )
                pool = self._reconcile_pool
                outcomes = list(pool.map(lambda obj, key: self._reconcile_one(obj, key, now), objects, keys))
        finally:
            self._pending = {}
            self.actuators.ctx.hpa_lists = None
        seen = set(keys)
        for gone in self._known - seen:
            ns, _, name = gone.partition("/")
            self.metrics.forget(ns, name)
            self._memory.pop(gone, None)
        self._known = seen
        queries = _queries(self.forecasts)
        if queries is not None and queries_before is not None:
            self.metrics.tick_queries.set(queries - queries_before)
        self.metrics.tick_duration.observe(time.perf_counter() - tick_started)
        self.metrics.policies.set(len(objects))
        return outcomes

    def _reconcile_one(self, obj: dict[str, Any], key: str, now: pd.Timestamp) -> Outcome:
        started = time.perf_counter()
        try:
            return self.reconcile(obj, now)
        except Exception as exc:  # one policy's bug must not stop the others
            log.exception("reconciling %s failed", key)
            self.metrics.errors.labels(kind=error_kind(exc)).inc()
            return Outcome(key=key, ready=False, reason="InternalError", message=str(exc))
        finally:
            self.metrics.reconcile_duration.observe(time.perf_counter() - started)

    def _start_forecasts(self, objects: list[dict[str, Any]], now: pd.Timestamp) -> None:
        """Start every policy's forecast on the bounded pool, one per forecast group (see the module docstring).

        A group whose read from an earlier tick is still running keeps that one: never two reads of one
        target at once, however slow Prometheus is.
        """
        group_key = getattr(self.forecasts, "group_key", None)
        if self._forecast_pool is None:
            self._forecast_pool = concurrent.futures.ThreadPoolExecutor(
                self.fleet.forecast_workers, thread_name_prefix="forecast"
            )
        self._inflight = {k: g for k, g in self._inflight.items() if not g.task.done()}
        started = time.monotonic()
        groups: dict[Hashable, list[PrescalePolicy]] = {}
        for obj in objects:
            try:
                policy = parse_policy(obj)
            except ConfigError:
                continue  # reported by its reconcile
            if policy.deleting:
                continue
            group: Hashable = group_key(policy) if group_key is not None else ("policy", policy.key)
            groups.setdefault(group, []).append(policy)
        pending: dict[str, _Pending] = {}
        for group, members in groups.items():
            running = self._inflight.get(group)
            if running is None:
                futures = {p.key: concurrent.futures.Future[_Answer]() for p in members}
                task = self._forecast_pool.submit(_forecast_group, self.forecasts, members, now, futures)
                running = self._inflight[group] = _Group(task, futures)
            for policy in members:
                deadline_s = self.fleet.forecast_deadline_s or policy.scaling.interval_s / 2
                future = running.futures.get(policy.key)
                if future is None:  # new in a group whose earlier read is still running
                    future = concurrent.futures.Future()
                    future.set_result(
                        (None, "the forecast started for its group by an earlier tick is still running")
                    )
                pending[policy.key] = _Pending(future, started + deadline_s, deadline_s)
        self._pending = pending

    def _forecast(
        self, policy: PrescalePolicy, now: pd.Timestamp
    ) -> tuple[ForecastResult | None, str | None]:
        """This tick's forecast for ``policy``: the one started for its group (waiting until its deadline at most),
        or one fetched now (a lone :meth:`reconcile`)."""
        pending = self._pending.get(policy.key)
        if pending is None:
            return check_forecast(call_provider(self.forecasts, policy, now), policy, now)
        try:
            called = pending.future.result(timeout=max(0.0, pending.deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            self.metrics.deadline_exceeded.inc()
            return None, (
                f"forecast not ready within its deadline ({pending.deadline_s:.0f}s after the tick started): "
                "Prometheus or the model is slow"
            )
        return check_forecast(called, policy, now)

    def run(
        self,
        *,
        stop: threading.Event,
        interval_s: float = 60.0,
        renew_s: float = 5.0,
        clock: Callable[[], pd.Timestamp] = utcnow,
    ) -> None:
        """Reconcile every ``interval_s`` while leading, renewing the lease every ``renew_s``, until ``stop``."""
        next_tick = 0.0
        was_leading = False
        self._wake_s = min(renew_s, interval_s) if self.elector is not None else interval_s
        try:
            while not stop.is_set():
                self._heartbeat = time.monotonic()
                now = clock()
                leading = True
                if self.elector is not None:
                    leading = self.elector.ensure(now)
                    self.metrics.leader.set(1 if leading else 0)
                if leading and (time.monotonic() >= next_tick or not was_leading):
                    next_tick = time.monotonic() + interval_s
                    self.reconcile_all(now)
                was_leading = leading
                self._turns += 1
                stop.wait(self._wake_s)
        finally:
            self.shutdown(clock())

    def health(self, probe: str) -> tuple[bool, str]:
        """``healthz``: the loop still turns (a hung tick fails it); ``readyz``: it has completed a turn.
        A standby replica is ready: it is doing its job, which is to wait."""
        if self._heartbeat is None:
            return (probe == "healthz"), "starting"
        # A tick may legitimately take a while (retries, slow Prometheus): allow a few wake periods.
        stale_s = 3 * self._wake_s + 120.0
        age = time.monotonic() - self._heartbeat
        if probe == "healthz" and age > stale_s:
            return False, f"reconcile loop stuck for {age:.0f}s"
        if probe == "readyz" and self._turns == 0:
            return False, "first pass running"
        leading = self.elector is None or self.elector.leading
        return True, "leader" if leading else "standby"

    def shutdown(self, now: pd.Timestamp) -> None:
        for pool in (self._forecast_pool, self._reconcile_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._forecast_pool = self._reconcile_pool = None
        if self.elector is not None:
            self.elector.release(now)
            self.metrics.leader.set(0)

    # -- one policy: fetch -> predict -> decide -> act -> report ----------------------------------------------

    def reconcile(self, obj: dict[str, Any], now: pd.Timestamp) -> Outcome:
        policy = self._parse(obj, now)
        if isinstance(policy, Outcome):
            return policy
        if policy.deleting:
            return self._finalize(obj, policy, now)
        tick = _Tick(obj=obj, policy=policy, old=dict(obj.get("status") or {}), now=now)
        try:
            tick.actuator, tick.target = self._fetch(policy)
            result, problem, guard = self._predict(tick)
            plan = self._decide_tuned(tick, result=result, problem=problem, guard=guard)
            applied = self._act(tick, plan)
        except Problem as problem:
            return self._problem(obj, policy, old=tick.old, problem=problem, now=now)
        return self._report(tick, plan, applied)

    def _parse(self, obj: dict[str, Any], now: pd.Timestamp) -> PrescalePolicy | Outcome:
        try:
            return parse_policy(obj)
        except ConfigError as exc:
            meta = obj.get("metadata") or {}
            key = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
            self.metrics.errors.labels(kind="invalid_policy").inc()
            conditions = [
                condition("Ready", False, "InvalidPolicy", str(exc)),
                condition("Degraded", True, "InvalidPolicy", str(exc)),
            ]
            status = {"observedGeneration": meta.get("generation"), "conditions": conditions}
            self.reporter.write_status(obj, dict(obj.get("status") or {}), status, now)
            return Outcome(key=key, ready=False, reason="InvalidPolicy", message=str(exc))

    def _fetch(self, policy: PrescalePolicy) -> tuple[Any, Target]:
        try:
            return self.actuators.read(policy)
        except ForecasterError as exc:
            raise as_problem(
                exc, target=f"{policy.target.describe()} not found in {policy.namespace}"
            ) from exc

    def _predict(self, tick: _Tick) -> tuple[ForecastResult | None, str | None, GuardReading]:
        """The forecast (or why there is none) and the accuracy guard's reading."""
        policy, now = tick.policy, tick.now
        memory = self._memory.setdefault(policy.key, _Memory())
        result, problem = self._forecast(policy, now)
        if problem is not None:
            self.metrics.errors.labels(kind="forecast").inc()
        was_on = bool((tick.old.get("accuracy") or {}).get("guardActive", False))
        history = result.history if result is not None else None
        guard = judge(policy.guard, log=memory.log, history=history, was_active=was_on, now=now)
        if guard.error is not None:
            self.metrics.forecast_error.labels(namespace=policy.namespace, policy=policy.name).set(
                guard.error
            )
        if result is not None and "p50" in result.frame.columns:
            keep_s = (policy.guard.window_s if policy.guard else 0) + 86400
            memory.log.record(now, result.frame["p50"], keep_s=keep_s)
        return result, problem, guard

    def _decide_tuned(
        self, tick: _Tick, *, result: ForecastResult | None, problem: str | None, guard: GuardReading
    ) -> _Plan:
        """:meth:`_decide` with the settings ``spec.tuning`` says to use (:mod:`~forecaster.prescaler.recommended`);
        when a recommendation applied before cannot be used now, also with its settings, keeping the higher."""
        tick.tuning = self._tuning(tick, result)
        if tick.tuning is None:
            return self._decide(tick, result=result, problem=problem, guard=guard)
        fallback = tick.tuning.fallback
        if fallback is not None:
            tick.policy = fallback
            floor = self._decide(tick, result=result, problem=problem, guard=guard)
        tick.policy = tick.tuning.policy
        plan = self._decide(tick, result=result, problem=problem, guard=guard)
        if fallback is not None and floor.units > plan.units:
            plan, tick.policy = floor, fallback
        return plan

    def _tuning(self, tick: _Tick, result: ForecastResult | None) -> TuningUse | None:
        """Read the recommendation stored with the model version in use (the fresh forecast's, else the last
        good one's) through the provider, and decide which settings to use."""
        policy = tick.policy
        if policy.tuning is None:
            return None
        version = result.model_version if result is not None else None
        memory = self._memory.get(policy.key)
        if version is None and memory is not None and memory.last_good is not None:
            version = memory.last_good.model_version
        read = getattr(self.forecasts, "recommendation", None)
        rec, why = None, None
        if version is not None and read is None:
            why = "the forecast provider cannot read recommendations from the model store"
        elif version is not None:
            try:
                rec = read(policy, version)
            except ForecasterError as exc:
                why = f"cannot read the recommendation of {version}: {exc}"
        return use_recommendation(
            tick.obj,
            policy,
            recommendation=rec,
            problem=why,
            model_version=version,
            now=tick.now,
            old_status=tick.old,
            columns=tuple(str(c) for c in result.frame.columns) if result is not None else None,
            actuator=getattr(tick.actuator, "name", None),
        )

    def _decide(
        self, tick: _Tick, *, result: ForecastResult | None, problem: str | None, guard: GuardReading
    ) -> _Plan:
        """One call to :func:`forecaster.scaling.decide`: on the fresh forecast, else on the last good one while
        it still covers the planning window, else without a forecast (which never scales down)."""
        policy, now, target = tick.policy, tick.now, tick.target
        assert target is not None
        memory = self._memory[policy.key]
        fresh = result.frame if result is not None and problem is None else None
        holding = memory.last_good if fresh is None else None
        if holding is not None and not holding.covers(policy, now):
            holding = None  # never act on a forecast beyond its horizon
        state = self._state(tick, memory)
        pods = target.pods if target.pods is not None else state.last_desired
        inputs = dict(
            policy=policy.scaling,
            state=state,
            now=now,
            current_replicas=pods if pods is not None else policy.scaling.min_replicas,
        )
        observed = _observed_load(result) if fresh is not None and tick.actuator.uses_observed_load else None
        frame = fresh if fresh is not None else (holding.frame if holding is not None else None)
        try:
            decision = decide(forecast=frame, observed_load=observed, **inputs)  # type: ignore[arg-type]
        except ConfigError as exc:  # e.g. the model does not predict the planned quantile
            problem, holding, fresh = str(exc), None, None
            decision = decide(forecast=None, **inputs)  # type: ignore[arg-type]
        if decision.reason == "no_forecast":
            holding = None
            problem = problem or "the forecast does not cover the planning window (stale, NaN or too short)"
        elif fresh is not None:
            version = result.model_version if result is not None else None
            memory.last_good = LastGoodForecast(made_at=now, frame=fresh, model_version=version)
        return self._plan(tick, decision, result=result, problem=problem, holding=holding, guard=guard)

    def _state(self, tick: _Tick, memory: _Memory) -> ScalingState:
        """The decision state: this controller's own while the status is still the one it wrote (a later one
        may have gone unwritten), else the status's, widened because it may be behind (a restart, a failover,
        this replica leading again after another one: that one's status may be a refresh behind its state)."""
        saved = tick.old.get("scalingState")
        if memory.state is not None and saved == memory.persisted:
            return memory.state
        return widen_after_restart(
            state_from_status(saved), refresh_s=self.fleet.status_refresh_s, now=tick.now
        )

    def _plan(
        self,
        tick: _Tick,
        decision: Decision,
        *,
        result: ForecastResult | None,
        problem: str | None,
        holding: LastGoodForecast | None,
        guard: GuardReading,
    ) -> _Plan:
        policy, actuator, target = tick.policy, tick.actuator, tick.target
        assert target is not None
        units = actuator.units(policy, target, decision)
        if holding is not None and not actuator.floor:
            units = max(units, target.current)  # no autoscaler underneath: never lower on an old forecast
        # A calendar outage is never a reason to lower capacity before or during an event.
        hold = _calendar_hold(tick, result if problem is None else None)
        if hold is not None:
            units = max(units, _in_effect(actuator, target))
        spec_only = policy.mode == "Forecast" or self.dry_run
        why = "--dry-run" if self.dry_run else ("spec.mode is Forecast" if policy.mode == "Forecast" else "")
        if guard.active and not spec_only:
            assert policy.guard is not None
            why = (
                f"accuracy guard: forecast error {guard.accuracy.get('error')} above {policy.guard.max_error}"
            )
        return _Plan(
            decision,
            units,
            result,
            problem,
            holding,
            guard,
            spec_only or guard.active,
            why,
            calendar_hold=hold,
        )

    def _act(self, tick: _Tick, plan: _Plan) -> Applied | None:
        """Apply the plan, or let go (restore a floor); None when nothing was applied (dry run, nothing to restore)."""
        if self.dry_run:
            return None  # --dry-run: touch nothing at all
        letting_go = plan.forecast_only or (plan.problem is not None and plan.holding is None)
        try:
            if letting_go:
                return tick.actuator.restore(tick.policy, tick.target)
            self._ensure_finalizer(tick.obj, tick.policy)
            return tick.actuator.apply(tick.policy, tick.target, plan.units)
        except ForecasterError as exc:
            raise as_problem(
                exc, doing="restore the original floor" if letting_go else "apply the decision"
            ) from exc

    def _ensure_finalizer(self, obj: dict[str, Any], policy: PrescalePolicy) -> None:
        if not self.policies.uses_finalizers or FINALIZER in policy.finalizers:
            return
        try:
            self.policies.set_finalizers(obj, [*policy.finalizers, FINALIZER])
        except ForecasterError as exc:
            raise as_problem(exc, doing="add the finalizer") from exc

    # -- report ---------------------------------------------------------------------------------------------

    def _report(self, tick: _Tick, plan: _Plan, applied: Applied | None) -> Outcome:
        policy, target = tick.policy, tick.target
        assert target is not None
        desired, message = self._what_was_done(tick, plan, applied)
        reading = _calendar_reading(plan)
        if plan.calendar_hold is not None and reading is not None:
            message = f"{message}; {reading.message}"
        state = compact(plan.decision.state)
        if plan.problem is not None and plan.holding is None and not plan.forecast_only:
            state = dataclasses.replace(state, last_desired=desired)  # what is in effect, not what was kept
        elif plan.calendar_hold is not None and not plan.forecast_only:
            state = dataclasses.replace(state, last_desired=desired)
        conditions = _conditions(plan, message) + _calendar_conditions(tick, plan)
        if tick.tuning is not None:
            conditions.append(tick.tuning.condition)
        status = _status(tick, plan, desired=desired, state=state, conditions=conditions)
        _add_calendar_status(status, tick, plan, desired=desired)
        if tick.tuning is not None:
            status["tuning"] = tick.tuning.status
        events = []
        if applied is not None and applied.action:
            status["lastAction"], status["lastActionTime"] = applied.action, rfc3339(tick.now)
            events.append(
                ("Normal", applied.action.split(" ", 1)[0], f"{policy.key}: {applied.action}", True)
            )
        memory = self._memory.setdefault(policy.key, _Memory())
        refresh = pd.Timedelta(seconds=self.fleet.status_refresh_s)
        quiet = (
            memory.written_at is not None
            and tick.now - memory.written_at < refresh
            and tick.old.get("scalingState") == memory.persisted
        )
        written = self.reporter.write_status(
            tick.obj, tick.old, status, tick.now, events=events, policy=policy, only_material=quiet
        )
        memory.state = state
        if written or status == tick.old:
            memory.persisted, memory.written_at = status.get("scalingState"), tick.now
        else:
            memory.persisted = tick.old.get("scalingState")
        self._export_metrics(tick, plan, desired)
        return Outcome(
            key=policy.key,
            ready=plan.problem is None,
            mode=status["mode"],
            actuator=tick.actuator.name,
            desired=desired,
            current=target.current,
            action=applied.action if applied is not None else None,
            reason=plan.decision.reason,
            message=message,
            conditions={c["type"]: c["status"] for c in conditions},
        )

    def _what_was_done(self, tick: _Tick, plan: _Plan, applied: Applied | None) -> tuple[int, str]:
        """The capacity in effect after acting (the recommendation in Forecast mode) and what to say about it."""
        assert tick.target is not None
        if plan.forecast_only:
            return plan.units, plan.decision.message
        if plan.problem is None:
            return (applied.units if applied is not None else plan.units), plan.decision.message
        if plan.holding is not None:
            until = rfc3339(plan.holding.usable_until(tick.policy))
            then = "restoring the original floor" if tick.actuator.floor else "holding capacity"
            made = rfc3339(plan.holding.made_at)
            return (applied.units if applied is not None else plan.units), (
                f"{plan.problem}; acting on the last good forecast (made {made}) until {until}, then {then}: "
                f"{plan.decision.message}"
            )
        if applied is not None:
            return applied.units, (
                f"{plan.problem}; original floor {applied.units} restored, the autoscaler scales on load"
            )
        if self.dry_run:
            return plan.units, f"{plan.problem}; --dry-run: nothing touched"
        current = tick.target.current
        return current, f"{plan.problem}; keeping {current}, never scaling down without data"

    def _export_metrics(self, tick: _Tick, plan: _Plan, desired: int) -> None:
        policy, now = tick.policy, tick.now
        assert tick.target is not None
        labels = {"namespace": policy.namespace, "policy": policy.name}
        self.metrics.decisions.labels(**labels, reason=plan.decision.reason).inc()
        self.metrics.desired.labels(**labels).set(desired)
        self.metrics.current.labels(**labels).set(tick.target.current)
        self.metrics.forecast_only.labels(**labels).set(1 if plan.forecast_only else 0)
        self.metrics.degraded.labels(**labels).set(1 if plan.problem else 0)
        self._export_calendar(tick, plan)
        if plan.result is not None and plan.problem is None:
            end = now + pd.Timedelta(seconds=policy.scaling.lead_time_s + policy.scaling.interval_s)
            frame = plan.result.frame
            stamps = pd.DatetimeIndex(frame.index).as_unit("ns").asi8  # numpy, not a frame per policy
            lo, hi = pd.Timestamp(now).as_unit("ns").value, pd.Timestamp(end).as_unit("ns").value
            rows = frame.to_numpy(dtype=float)[(stamps >= lo) & (stamps <= hi)]  # [T, Q]
            for j, column in enumerate(frame.columns):
                if str(column) == EVENT_COLUMN:
                    continue  # which steps a scheduled event reaches, not a forecast
                values = rows[:, j][~np.isnan(rows[:, j])]
                if len(values):
                    self.metrics.forecast.labels(**labels, quantile=str(column)).set(float(values.max()))

    def _export_calendar(self, tick: _Tick, plan: _Plan) -> None:
        """The calendar's metrics, for a policy whose forecast read one this tick."""
        reading = _calendar_reading(plan)
        if reading is None:
            return
        labels = {"namespace": tick.policy.namespace, "policy": tick.policy.name}
        self.metrics.calendar_up.labels(**labels).set(1 if reading.available else 0)
        self.metrics.calendar_age.labels(**labels).set(reading.age_s(tick.now))
        for outcome, count in reading.entries(tick.now).items():
            self.metrics.calendar_entries.labels(**labels, outcome=outcome).set(count)
        self.metrics.calendar_hold.labels(**labels).set(1 if plan.calendar_hold is not None else 0)
        if not reading.available:
            self.metrics.errors.labels(kind="calendar").inc()

    def _problem(
        self,
        obj: dict[str, Any],
        policy: PrescalePolicy,
        *,
        old: dict[str, Any],
        problem: Problem,
        now: pd.Timestamp,
    ) -> Outcome:
        self.metrics.errors.labels(kind=problem.kind).inc()
        self.metrics.degraded.labels(namespace=policy.namespace, policy=policy.name).set(1)
        status = {k: v for k, v in old.items() if k not in ("conditions", "observedGeneration")}
        status["observedGeneration"] = policy.generation
        status["conditions"] = [
            condition("Ready", False, problem.reason, problem.message),
            condition("Degraded", True, problem.reason, problem.message),
            *[
                c
                for c in old.get("conditions") or []
                if c.get("type") in ("ForecastOnly", CALENDAR_CONDITION)
            ],
        ]
        self.reporter.write_status(obj, old, status, now, policy=policy)
        return Outcome(key=policy.key, ready=False, reason=problem.reason, message=problem.message)

    # -- deletion ---------------------------------------------------------------------------------------------

    def _finalize(self, obj: dict[str, Any], policy: PrescalePolicy, now: pd.Timestamp) -> Outcome:
        """The policy is being deleted: restore what its actuator owns (floors), then let it go."""
        action = None
        if FINALIZER in policy.finalizers and not self.dry_run:
            recorded = (obj.get("status") or {}).get("actuator")
            try:
                for actuator in self.actuators.releasing(policy, recorded=recorded):
                    action = actuator.release(policy) or action
                self.policies.set_finalizers(obj, [f for f in policy.finalizers if f != FINALIZER])
            except ForecasterError as exc:
                problem = as_problem(exc, doing="restore the original floor")
                return self._problem(obj, policy, old=dict(obj.get("status") or {}), problem=problem, now=now)
            except Problem as problem:
                return self._problem(obj, policy, old=dict(obj.get("status") or {}), problem=problem, now=now)
        if action:
            involved = self.reporter.about_target(policy) or policy_ref(obj)
            self.reporter.event(
                "Normal",
                action.split(" ", 1)[0],
                f"{policy.key} deleted: {action}",
                involved=involved,
                now=now,
            )
        self.metrics.forget(policy.namespace, policy.name)
        self._memory.pop(policy.key, None)
        return Outcome(key=policy.key, ready=True, reason="Deleted", action=action, message="finalized")


def _forecast_group(
    provider: ForecastProvider,
    policies: list[PrescalePolicy],
    now: pd.Timestamp,
    futures: dict[str, concurrent.futures.Future[_Answer]],
) -> None:
    """Make one forecast group's answers and set each policy's future as soon as its answer exists, so its
    reconcile can start while the group's other members are still being predicted. The provider's
    ``forecast_many`` when it has one (``on_each`` reports each answer), else one forecast for the first
    policy shared by all (the provider grouped them: they share a forecast). Every future is set, always."""

    def settle(key: str, answer: _Answer) -> None:
        future = futures.get(key)
        if future is not None and not future.done():
            future.set_result(answer)

    try:
        many = getattr(provider, "forecast_many", None)
        if many is not None:
            answers: _Answers = many(policies, now, on_each=settle)
        else:
            shared = call_provider(provider, policies[0], now)
            answers = {p.key: shared for p in policies}
        for key, answer in answers.items():
            settle(key, answer)
    except Exception as exc:  # a provider bug fails safe like an outage, for the whole group
        log.exception("forecast group of %s failed", policies[0].key)
        for policy in policies:
            settle(policy.key, (None, f"forecast failed: {type(exc).__name__}: {exc}"))
    finally:
        for policy in policies:
            settle(policy.key, (None, "the provider gave no forecast for this policy"))


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name')}"


def _queries(provider: Any) -> int | None:
    """The provider's count of Prometheus reads so far, when it keeps one."""
    count = getattr(provider, "queries", None)
    return count if isinstance(count, int) else None


def _conditions(plan: _Plan, message: str) -> list[dict[str, str]]:
    problem = plan.problem
    reason = "HoldingLastForecast" if plan.holding is not None else "ForecastUnavailable"
    if plan.forecast_only:
        only_reason = (
            "AccuracyGuard" if plan.forecast_only_why.startswith("accuracy guard") else "ModeForecast"
        )
    else:
        only_reason = "ModeScale"
    return [
        condition("Ready", problem is None, reason if problem else "Reconciled", message),
        condition(
            "Degraded", problem is not None, reason if problem else "AsExpected", message if problem else ""
        ),
        condition(
            "ForecastOnly",
            plan.forecast_only,
            only_reason,
            plan.forecast_only_why if plan.forecast_only else "",
        ),
    ]


def _calendar_reading(plan: _Plan) -> CalendarReading | None:
    """What this tick's forecast knew about its calendar (None: no forecast, or a model without a calendar)."""
    return plan.result.calendar if plan.result is not None else None


def _calendar_hold(tick: _Tick, result: ForecastResult | None) -> Event | None:
    """The event not to lower capacity for: a usable forecast made without its unavailable calendar, while the
    last known copy (or the status's ``preparingFor``) expects one (see :func:`calendar_hold`)."""
    if result is None or result.calendar is None or len(result.frame) == 0:
        return None
    end = pd.Timestamp(pd.DatetimeIndex(result.frame.index).max())
    return calendar_hold(result.calendar, old_status=tick.old, now=tick.now, horizon_end=end)


def _in_effect(actuator: Any, target: Target) -> int:
    """The capacity the actuator has in effect now: a floor's current value (not the pods the autoscaler
    above it runs), else the target's current capacity."""
    field_name = getattr(actuator, "field", None)
    if actuator.floor and field_name and isinstance(target.obj, dict):
        value = (target.obj.get("spec") or {}).get(field_name)
        return int(value) if value is not None else int(getattr(actuator, "implicit_min", 0))
    return target.current


def _calendar_conditions(tick: _Tick, plan: _Plan) -> list[dict[str, str]]:
    """``CalendarAvailable`` from this tick's reading; without a forecast this tick, the last one kept as it
    was (an outage of the forecast says nothing about the calendar, and must not make the condition flap)."""
    reading = _calendar_reading(plan)
    if reading is not None:
        return [calendar_condition(reading)]
    if plan.result is None:
        return [dict(c) for c in tick.old.get("conditions") or [] if c.get("type") == CALENDAR_CONDITION]
    return []


def _add_calendar_status(status: dict[str, Any], tick: _Tick, plan: _Plan, *, desired: int) -> None:
    """The ``calendar`` block (source, copy in use, entries by outcome) and, while capacity is held for an
    expected event without a calendar, ``preparingFor`` naming it."""
    assert tick.target is not None
    reading = _calendar_reading(plan)
    if reading is not None:
        status["calendar"] = calendar_status(reading, tick.now)
    elif plan.result is None and isinstance(tick.old.get("calendar"), dict):
        status["calendar"] = tick.old["calendar"]
    if plan.calendar_hold is not None:
        status["preparingFor"] = holding_for(plan.calendar_hold, desired=desired, current=tick.target.current)


def preparing_for(event: Any, *, seen: dict[str, int], desired: int, current: int) -> dict[str, Any]:
    """The status block naming the scheduled event the forecast carries ("raising to 42 for football at 20:07,
    learned from 11 past events"). Pure."""
    learned = int(seen.get(event.kind, 0))
    at = pd.Timestamp(event.start).tz_convert("UTC").strftime("%H:%M")
    verb = f"raising to {desired}" if desired > current else f"holding {desired}"
    source = (
        f"learned from {learned} past events"
        if learned
        else "a kind never seen in training: the average effect of the known kinds"
    )
    return {
        "kind": event.kind,
        "start": rfc3339(event.start),
        "learnedFrom": learned,
        "message": f"{verb} for {event.kind} at {at} UTC, {source}",
    }


def _observed_load(result: ForecastResult | None) -> float | None:
    """The last load measured (the history's last point), or None."""
    if result is None or result.history is None:
        return None
    observed = result.history.dropna()
    return float(observed.iloc[-1]) if len(observed) else None


def _status(
    tick: _Tick,
    plan: _Plan,
    *,
    desired: int,
    state: ScalingState,
    conditions: list[dict[str, str]],
) -> dict[str, Any]:
    policy, old, decision = tick.policy, tick.old, plan.decision
    assert tick.target is not None
    status: dict[str, Any] = {
        "observedGeneration": policy.generation,
        "mode": "Forecast" if plan.forecast_only else "Scale",
        "actuator": tick.actuator.name,
        "quantile": policy.scaling.column,
        "desiredReplicas": desired,
        "currentReplicas": tick.target.current,
        "reason": decision.reason,
        "message": conditions[0]["message"],
        "scalingState": state_to_status(state),
        "conditions": conditions,
    }
    if decision.forecast_peak is not None:
        status["forecastPeak"] = round(float(decision.forecast_peak), 4)
        status["forecastPeakTime"] = rfc3339(decision.forecast_peak_at)
    elif old.get("forecastPeak") is not None:
        status["forecastPeak"] = old["forecastPeak"]
        status["forecastPeakTime"] = old.get("forecastPeakTime")
    version = plan.result.model_version if plan.result is not None else None
    if plan.holding is not None:
        version = plan.holding.model_version  # the model behind what is acted on
    if version:
        status["modelVersion"] = version
    if plan.result is not None and plan.result.upcoming and plan.holding is None:
        status["preparingFor"] = preparing_for(
            plan.result.upcoming[0],
            seen=plan.result.events_seen,
            desired=desired,
            current=tick.target.current,
        )
    if policy.guard is not None:
        status["accuracy"] = plan.guard.accuracy
    if old.get("lastAction"):
        status["lastAction"] = old["lastAction"]
        status["lastActionTime"] = old.get("lastActionTime")
    return status
