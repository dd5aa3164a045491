"""The prescaler's reconcile loop: for each PrescalePolicy, fetch -> predict -> decide -> act, then report.

One tick reads every policy and, for each one independently (one bad policy never stops the others):

1. parses it (:mod:`forecaster.policy`); an invalid one gets a ``Ready=False`` condition naming the field;
2. reads the target (scale subresource, the HPA that targets it, the node group) and its current capacity;
3. gets a forecast from the injected :class:`ForecastProvider` (the real one reads the model store and
   Prometheus); failures, staleness and NaN become "no forecast";
4. updates the accuracy guard (past p50 forecasts vs what happened) and calls the pure
   :func:`forecaster.scaling.decide` with the state persisted in the policy's status, so a new leader continues;
5. acts only in Scale mode: raises/lowers the HPA floor (original kept in an annotation, restored on deletion
   via a finalizer and whenever forecasts are unavailable or the policy only forecasts), patches the scale
   subresource, sizes a placeholder Deployment, or sets a node group's size (Cluster API or an EC2 ASG);
6. writes status (only when it changed), Events on transitions and actions, and metrics.

Writes are idempotent (the same inputs change nothing) and use optimistic concurrency: a 409 re-reads the
object and decides again. Temporary API errors were already retried in :mod:`forecaster.kube`; what still
fails waits for the next tick. Leader election on a coordination.k8s.io Lease lets two replicas run while
only one acts.

This module must not import the kubernetes client or boto3 (those are :mod:`forecaster.kube` and
:mod:`forecaster.cloud`), read the wall clock inside a tick (``now`` is passed in) or decide capacity itself.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError, ForecasterError
from forecaster.kube import (
    EVENTS,
    HPAS,
    LEASES,
    POLICIES,
    ConflictError,
    ForbiddenError,
    KubeClient,
    KubeError,
    NotFoundError,
    micro_time,
    rfc3339,
    scalable_resource,
)
from forecaster.observability import PrescalerMetrics
from forecaster.policy import PrescalePolicy, load_policy_file, parse_policy
from forecaster.scaling import Decision, ScalingState, decide, nodes_needed

__all__ = [
    "FINALIZER",
    "ORIGINAL_FLOOR_ANNOTATION",
    "OWNER_ANNOTATION",
    "ForecastResult",
    "ForecastProvider",
    "StoreForecastProvider",
    "PolicySource",
    "CrdPolicySource",
    "FilePolicySource",
    "LeaderElector",
    "Controller",
    "Outcome",
]

log = logging.getLogger(__name__)

FINALIZER = "prescaling.forecaster.io/restore-floor"
ORIGINAL_FLOOR_ANNOTATION = "prescaling.forecaster.io/original-min-replicas"
OWNER_ANNOTATION = "prescaling.forecaster.io/policy"
COMPONENT = "forecaster-prescaler"
CONFLICT_RETRIES = 3
"""Read-decide-write attempts when another writer changed the object in between (409)."""


def _utc_naive(ts: Any) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


def utcnow() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC)).tz_localize(None)


# -- forecasts ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastResult:
    """A forecast (future timestamps x ``p50``, ``p90``...) and the recent history it was made from."""

    frame: pd.DataFrame
    history: pd.Series | None = None
    """Recent actual load: the staleness check, the accuracy guard and the Replicas actuator's floor use it."""
    model_version: str | None = None


class ForecastProvider(Protocol):
    """Gets the forecast for one policy at ``now``; returns None or raises ForecasterError when it cannot."""

    def forecast(self, policy: PrescalePolicy, now: pd.Timestamp) -> ForecastResult | None: ...


class StoreForecastProvider:
    """The real provider: the target's model from the model store, its history from Prometheus.

    ``fetch(settings, now=, history=)`` and ``load_model(path)`` are seams (defaults: the Prometheus source
    and ``Forecaster.load``). Target configs are read from ``training_dir``; ``store`` overrides their store.
    """

    def __init__(
        self,
        *,
        training_dir: str | Path = "training",
        store: str | None = None,
        fetch: Callable[..., pd.Series] | None = None,
        load_model: Callable[[str], Any] | None = None,
    ) -> None:
        self.training_dir = Path(training_dir)
        self.store_root = store
        self._fetch = fetch
        self._load_model = load_model
        self._stores: dict[str, Any] = {}

    def _fetcher(self) -> Callable[..., pd.Series]:
        if self._fetch is None:
            from forecaster.sources.prometheus import fetch_history

            self._fetch = fetch_history
        return self._fetch

    def forecast(self, policy: PrescalePolicy, now: pd.Timestamp) -> ForecastResult:
        from forecaster.settings import PrometheusSettings, load_target_config

        spec = policy.forecast
        version = None
        if spec.target:
            from forecaster.store import ModelStore

            path = self.training_dir / f"{spec.target}.yaml"
            if not path.exists():
                raise ConfigError(
                    f"forecast target {spec.target!r} has no {path}", hint="add the training config"
                )
            cfg = load_target_config(path)
            settings = cfg.prometheus
            if spec.prometheus_url:
                settings = PrometheusSettings(**{**settings.__dict__, "url": spec.prometheus_url})
            root = self.store_root or cfg.store
            store = self._stores.setdefault(root, ModelStore(root))
            model = store.load_current(spec.target)
            pointer = store.pointer(spec.target)
            version = str(pointer["version"]) if pointer else None
        else:
            assert spec.query and spec.model_path
            settings = PrometheusSettings(
                url=spec.prometheus_url or PrometheusSettings.url, query=spec.query, step=spec.step
            )
            if self._load_model is None:
                from forecaster.model import Forecaster

                self._load_model = Forecaster.load
            model = self._load_model(spec.model_path)
        lookback = pd.Timedelta(model.step) * int(model.lookback_steps)
        window = max(lookback, pd.Timedelta(seconds=policy.guard.window_s) if policy.guard else lookback)
        history = self._fetcher()(settings, now=now, history=window)
        return ForecastResult(frame=model.predict(history), history=history, model_version=version)


# -- where policies come from -----------------------------------------------------------------------------------


class PolicySource(Protocol):
    """Lists policy objects and records what the controller says about them."""

    def list(self) -> list[dict[str, Any]]: ...

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None: ...

    def set_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> None: ...

    @property
    def uses_finalizers(self) -> bool: ...


class CrdPolicySource:
    """PrescalePolicy custom resources, in one namespace or all."""

    uses_finalizers = True

    def __init__(self, kube: KubeClient, *, namespace: str | None = None) -> None:
        self.kube = kube
        self.namespace = namespace

    def list(self) -> list[dict[str, Any]]:
        return self.kube.list(POLICIES, namespace=self.namespace)

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        old = obj.get("status") or {}
        # A merge patch keeps keys it does not mention: null out the ones that are gone.
        patch = {k: None for k in old if k not in status} | status
        self.kube.merge_patch(
            POLICIES,
            namespace=meta.get("namespace"),
            name=meta["name"],
            subresource="status",
            patch={"status": patch},
        )

    def set_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> None:
        meta = obj["metadata"]
        for _ in range(CONFLICT_RETRIES):
            patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}}
            try:
                self.kube.merge_patch(
                    POLICIES, namespace=meta.get("namespace"), name=meta["name"], patch=patch
                )
                return
            except ConflictError:
                fresh = self.kube.get(POLICIES, namespace=meta.get("namespace"), name=meta["name"])
                meta = fresh["metadata"]
                current = list(meta.get("finalizers") or [])
                # Keep other controllers' finalizers; only ours is added or removed.
                ours_wanted = FINALIZER in finalizers
                others = [f for f in current if f != FINALIZER]
                finalizers = others + ([FINALIZER] if ours_wanted else [])
        raise ConflictError(
            f"finalizers of {meta.get('namespace')}/{meta['name']} kept changing", verb="patch"
        )


class FilePolicySource:
    """Policies from YAML files (runs outside a cluster): statuses are kept in memory and logged."""

    uses_finalizers = False

    def __init__(self, *paths: str | Path) -> None:
        self.paths = [Path(p) for p in paths]
        self.statuses: dict[str, dict[str, Any]] = {}

    def list(self) -> list[dict[str, Any]]:
        out = []
        for path in self.paths:
            for obj in load_policy_file(path):
                meta = obj.setdefault("metadata", {})
                meta.setdefault("namespace", "default")
                key = f"{meta['namespace']}/{meta.get('name')}"
                if key in self.statuses:
                    obj["status"] = self.statuses[key]
                out.append(obj)
        return out

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.statuses[f"{meta['namespace']}/{meta.get('name')}"] = status

    def set_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> None:
        return None


# -- leader election ----------------------------------------------------------------------------------------


class LeaderElector:
    """A coordination.k8s.io Lease held by one replica at a time (client-go's algorithm, simplified).

    Expiry is judged on the *observer's* clock: a lease is free when its record has not changed for
    ``leaseDurationSeconds`` since this replica first saw it, so clock skew between replicas cannot make two
    leaders. Writes carry the resourceVersion, so of two replicas racing for a free lease one gets a 409.
    """

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str = "forecaster-prescaler",
        identity: str,
        lease_duration_s: float = 15.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration_s = lease_duration_s
        self.leading = False
        self._observed_rv: str | None = None
        self._observed_at: pd.Timestamp | None = None

    def _body(
        self, now: pd.Timestamp, *, rv: str | None, spec: dict[str, Any], holder: str
    ) -> dict[str, Any]:
        taking_over = spec.get("holderIdentity") != holder
        new_spec = {
            "holderIdentity": holder,
            "leaseDurationSeconds": max(1, math.ceil(self.lease_duration_s)),
            "renewTime": micro_time(now),
            "acquireTime": micro_time(now) if taking_over else spec.get("acquireTime", micro_time(now)),
            "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if taking_over and spec else 0),
        }
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if rv:
            meta["resourceVersion"] = rv
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": new_spec}

    def ensure(self, now: pd.Timestamp) -> bool:
        """Acquire or renew the lease; True while this replica leads. Any failure means "do not act"."""
        now = _utc_naive(now)
        try:
            lease = self.kube.get(LEASES, namespace=self.namespace, name=self.name)
        except NotFoundError:
            try:
                created = self.kube.create(
                    LEASES,
                    namespace=self.namespace,
                    body=self._body(now, rv=None, spec={}, holder=self.identity),
                )
            except KubeError as exc:
                log.info("could not create lease %s/%s: %s", self.namespace, self.name, exc)
                return self._set(False)
            self._observe(created, now)
            return self._set(True)
        except KubeError as exc:
            log.warning("cannot read lease %s/%s: %s", self.namespace, self.name, exc)
            return self._set(False)
        spec = lease.get("spec") or {}
        rv = lease["metadata"].get("resourceVersion")
        if rv != self._observed_rv:
            self._observe(lease, now)
        holder = spec.get("holderIdentity") or ""
        duration = pd.Timedelta(seconds=float(spec.get("leaseDurationSeconds") or self.lease_duration_s))
        assert self._observed_at is not None
        if holder and holder != self.identity and now < self._observed_at + duration:
            return self._set(False)
        try:
            updated = self.kube.replace(
                LEASES,
                namespace=self.namespace,
                name=self.name,
                body=self._body(now, rv=rv, spec=spec, holder=self.identity),
            )
        except KubeError as exc:
            log.info("lost the race for lease %s/%s: %s", self.namespace, self.name, exc)
            return self._set(False)
        if holder != self.identity:
            log.warning("%s is now the leader (lease %s/%s)", self.identity, self.namespace, self.name)
        self._observe(updated, now)
        return self._set(True)

    def release(self, now: pd.Timestamp) -> None:
        """Give the lease up (clean shutdown) so another replica takes over at once."""
        if not self.leading:
            return
        try:
            lease = self.kube.get(LEASES, namespace=self.namespace, name=self.name)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") == self.identity:
                body = self._body(
                    _utc_naive(now), rv=lease["metadata"].get("resourceVersion"), spec=spec, holder=""
                )
                body["spec"]["leaseDurationSeconds"] = 1
                body["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0)
                self.kube.replace(LEASES, namespace=self.namespace, name=self.name, body=body)
        except KubeError as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)
        self.leading = False

    def _observe(self, lease: dict[str, Any], now: pd.Timestamp) -> None:
        self._observed_rv = lease["metadata"].get("resourceVersion")
        self._observed_at = now

    def _set(self, leading: bool) -> bool:
        self.leading = leading
        return leading


# -- the accuracy guard ------------------------------------------------------------------------------------------


@dataclass
class _Memory:
    """What the controller remembers about one policy between ticks (in memory; the guard's on/off is in status)."""

    forecasts: list[tuple[pd.Timestamp, pd.Series]] = field(default_factory=list)
    """Past p50 forecasts by the time they were made."""

    def record(self, made_at: pd.Timestamp, p50: pd.Series, *, keep_s: float) -> None:
        self.forecasts = [(t, s) for t, s in self.forecasts if t >= made_at - pd.Timedelta(seconds=keep_s)]
        self.forecasts.append((made_at, p50))

    def error(self, actuals: pd.Series, *, now: pd.Timestamp, window_s: float) -> tuple[float | None, int]:
        """WAPE of the p50 forecasts made in ``[now - window, now)`` against ``actuals`` known by ``now``, and
        the number of compared points."""
        start = now - pd.Timedelta(seconds=window_s)
        actual = actuals.dropna()
        errs: list[float] = []
        totals: list[float] = []
        for made_at, p50 in self.forecasts:
            if made_at < start:
                continue  # judge the forecasts made in the window, so a recovered model is trusted again
            past = p50[(p50.index > made_at) & (p50.index <= now)]
            both = pd.concat([past.rename("f"), actual.rename("a")], axis=1, join="inner").dropna()
            errs.extend(np.abs(both["f"] - both["a"]).tolist())
            totals.extend(np.abs(both["a"]).tolist())
        if not errs:
            return None, 0
        denominator = sum(totals)
        if denominator <= 0:
            return None, len(errs)
        return float(sum(errs) / denominator), len(errs)


# -- one tick ---------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to one policy in one tick (for logs, tests and the --once summary)."""

    key: str
    ready: bool
    mode: str = "Scale"
    actuator: str = ""
    desired: int | None = None
    current: int | None = None
    action: str | None = None
    reason: str = ""
    message: str = ""
    conditions: dict[str, str] = field(default_factory=dict)


@dataclass
class _Target:
    actuator: str
    current: int
    """Capacity now, in the unit acted on (pods, or nodes for node groups)."""
    hpa: dict[str, Any] | None = None
    workload_current: int | None = None


class _Problem(Exception):
    """A policy-level failure that becomes a condition (not a crash)."""

    def __init__(self, reason: str, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.reason, self.message, self.kind = reason, message, kind


def _condition(type_: str, ok: bool, reason: str, message: str) -> dict[str, str]:
    return {"type": type_, "status": "True" if ok else "False", "reason": reason, "message": message}


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
    ) -> None:
        self.policies = policies
        self.forecasts = forecasts
        self.kube = kube
        self.metrics = metrics if metrics is not None else PrescalerMetrics()
        self.elector = elector
        self.dry_run = dry_run
        self.identity = identity
        self._asg_factory = asg_factory
        self._asgs: dict[str | None, Any] = {}
        self._memory: dict[str, _Memory] = {}
        self._known: set[str] = set()
        self._heartbeat: float | None = None
        self._wake_s = 60.0
        self._turns = 0

    # -- loop -------------------------------------------------------------------------------------------------

    def tick(self, now: pd.Timestamp) -> list[Outcome]:
        """One pass over every policy, if this replica leads (always, without an elector)."""
        now = _utc_naive(now)
        if self.elector is not None:
            leading = self.elector.ensure(now)
            self.metrics.leader.set(1 if leading else 0)
            if not leading:
                return []
        return self.reconcile_all(now)

    def reconcile_all(self, now: pd.Timestamp) -> list[Outcome]:
        try:
            objects = self.policies.list()
        except ForecasterError as exc:
            self.metrics.errors.labels(kind=_error_kind(exc)).inc()
            log.error("cannot list policies: %s", exc)
            return []
        outcomes = []
        seen = set()
        for obj in objects:
            meta = obj.get("metadata") or {}
            key = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
            seen.add(key)
            started = time.perf_counter()
            try:
                outcome = self.reconcile(obj, now)
            except Exception as exc:  # one policy's bug must not stop the others
                log.exception("reconciling %s failed", key)
                self.metrics.errors.labels(kind=_error_kind(exc)).inc()
                outcome = Outcome(key=key, ready=False, reason="InternalError", message=str(exc))
            finally:
                self.metrics.reconcile_duration.observe(time.perf_counter() - started)
            outcomes.append(outcome)
        for gone in self._known - seen:
            ns, _, name = gone.partition("/")
            self.metrics.forget(ns, name)
            self._memory.pop(gone, None)
        self._known = seen
        return outcomes

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
                stop.wait(min(renew_s, interval_s) if self.elector is not None else interval_s)
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
        if self.elector is not None:
            self.elector.release(now)
            self.metrics.leader.set(0)

    # -- one policy -----------------------------------------------------------------------------------------

    def reconcile(self, obj: dict[str, Any], now: pd.Timestamp) -> Outcome:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
        old_status = dict(obj.get("status") or {})
        try:
            policy = parse_policy(obj)
        except ConfigError as exc:
            self.metrics.errors.labels(kind="invalid_policy").inc()
            status = {
                "observedGeneration": meta.get("generation"),
                "conditions": [
                    _condition("Ready", False, "InvalidPolicy", str(exc)),
                    _condition("Degraded", True, "InvalidPolicy", str(exc)),
                ],
            }
            self._write_status(obj, old_status, status, now, policy_ref=_policy_ref(obj))
            return Outcome(key=key, ready=False, reason="InvalidPolicy", message=str(exc))

        if policy.deleting:
            return self._finalize(obj, policy, now)
        labels = {"namespace": policy.namespace, "policy": policy.name}
        memory = self._memory.setdefault(key, _Memory())

        # 1. the target and its current capacity
        try:
            target = self._read_target(policy)
        except _Problem as problem:
            return self._problem(obj, policy, old_status, problem, now)

        # 2. the forecast
        result, forecast_problem = self._forecast(policy, now)

        # 3. the accuracy guard
        guard_on = (old_status.get("accuracy") or {}).get("guardActive", False)
        accuracy: dict[str, Any] = {}
        if policy.guard is not None and result is not None and result.history is not None:
            err, samples = memory.error(result.history, now=now, window_s=policy.guard.window_s)
            accuracy = {"window": f"{policy.guard.window_s:.0f}s", "samples": samples}
            if err is not None:
                accuracy["error"] = round(err, 4)
                self.metrics.forecast_error.labels(**labels).set(err)
                if samples >= policy.guard.min_samples:
                    if not guard_on and err > policy.guard.max_error:
                        guard_on = True
                    elif guard_on and err <= policy.guard.max_error * policy.guard.recover_ratio:
                        guard_on = False
        if policy.guard is None:
            guard_on = False
        if result is not None and "p50" in result.frame.columns:
            memory.record(
                now, result.frame["p50"], keep_s=(policy.guard.window_s if policy.guard else 0) + 86400
            )
        accuracy["guardActive"] = guard_on

        # 4. the decision
        state = _state_from_status(old_status.get("scalingState"))
        frame = result.frame if result is not None and forecast_problem is None else None
        pods_now = target.current if policy.actuator not in ("NodeGroup", "AutoScalingGroup") else None
        if pods_now is None or target.actuator == "Placeholder":
            pods_now = state.last_desired if state.last_desired is not None else policy.scaling.min_replicas
        try:
            decision = decide(
                forecast=frame, policy=policy.scaling, state=state, now=now, current_replicas=pods_now
            )
        except ConfigError as exc:  # e.g. the model does not predict the planned quantile
            forecast_problem = str(exc)
            decision = decide(
                forecast=None, policy=policy.scaling, state=state, now=now, current_replicas=pods_now
            )
        if decision.reason == "no_forecast" and forecast_problem is None:
            forecast_problem = "the forecast does not cover the planning window (stale, NaN or too short)"
        self.metrics.decisions.labels(**labels, reason=decision.reason).inc()

        # 5. act
        spec_forecast_only = policy.mode == "Forecast" or self.dry_run
        forecast_only = spec_forecast_only or guard_on
        desired = self._desired_capacity(policy, target, decision, result)
        action = None
        events: list[tuple[str, str, str, bool]] = []  # (type, reason, message, on target)
        try:
            if self.dry_run:
                pass  # --dry-run: touch nothing at all
            elif forecast_problem is not None or forecast_only:
                if target.actuator == "HPAFloor":
                    action = self._restore_floor(policy, target.hpa)
            else:
                self._ensure_finalizer(obj, policy)
                action = self._apply(policy, target, desired)
        except _Problem as problem:
            return self._problem(obj, policy, old_status, problem, now)
        if action:
            events.append(("Normal", action.split(" ", 1)[0], f"{policy.key}: {action}", True))

        # 6. report
        if forecast_problem is not None:
            self.metrics.errors.labels(kind="forecast").inc()
        if forecast_only:
            why = (
                "--dry-run"
                if self.dry_run
                else ("spec.mode is Forecast" if policy.mode == "Forecast" else "")
            )
            if guard_on and not spec_forecast_only:
                why = f"accuracy guard: forecast error {accuracy.get('error')} above {policy.guard.max_error}"  # type: ignore[union-attr]
        conditions = [
            _condition(
                "Ready",
                forecast_problem is None,
                "ForecastUnavailable" if forecast_problem else "Reconciled",
                forecast_problem or decision.message,
            ),
            _condition(
                "Degraded",
                forecast_problem is not None,
                "ForecastUnavailable" if forecast_problem else "AsExpected",
                (forecast_problem + "; original floor restored, holding capacity")
                if forecast_problem
                else "",
            ),
            _condition(
                "ForecastOnly",
                forecast_only,
                ("AccuracyGuard" if guard_on and not spec_forecast_only else "ModeForecast")
                if forecast_only
                else "ModeScale",
                why if forecast_only else "",
            ),
        ]
        status: dict[str, Any] = {
            "observedGeneration": policy.generation,
            "mode": "Forecast" if forecast_only else "Scale",
            "actuator": target.actuator,
            "quantile": policy.scaling.column,
            "desiredReplicas": desired,
            "currentReplicas": target.current,
            "reason": decision.reason,
            "message": decision.message,
            "scalingState": _state_to_status(decision.state),
            "conditions": conditions,
        }
        if decision.forecast_peak is not None:
            status["forecastPeak"] = round(float(decision.forecast_peak), 4)
            status["forecastPeakTime"] = rfc3339(decision.forecast_peak_at)
        elif old_status.get("forecastPeak") is not None:
            status["forecastPeak"] = old_status["forecastPeak"]
            status["forecastPeakTime"] = old_status.get("forecastPeakTime")
        if result is not None and result.model_version:
            status["modelVersion"] = result.model_version
        if policy.guard is not None:
            status["accuracy"] = accuracy
        if action:
            status["lastAction"] = action
            status["lastActionTime"] = rfc3339(now)
        elif old_status.get("lastAction"):
            status["lastAction"] = old_status["lastAction"]
            status["lastActionTime"] = old_status.get("lastActionTime")
        self._write_status(
            obj, old_status, status, now, policy_ref=_policy_ref(obj), events=events, policy=policy
        )

        self.metrics.desired.labels(**labels).set(desired)
        self.metrics.current.labels(**labels).set(target.current)
        self.metrics.forecast_only.labels(**labels).set(1 if forecast_only else 0)
        self.metrics.degraded.labels(**labels).set(1 if forecast_problem else 0)
        if frame is not None:
            self._export_forecast(policy, frame, now)
        return Outcome(
            key=key,
            ready=forecast_problem is None,
            mode=status["mode"],
            actuator=target.actuator,
            desired=desired,
            current=target.current,
            action=action,
            reason=decision.reason,
            message=forecast_problem or decision.message,
            conditions={c["type"]: c["status"] for c in conditions},
        )

    # -- reading ------------------------------------------------------------------------------------------

    def _require_kube(self) -> KubeClient:
        if self.kube is None:
            raise _Problem(
                "NoCluster", "this policy needs the Kubernetes API; pass --kubeconfig", kind="internal"
            )
        return self.kube

    def _read_target(self, policy: PrescalePolicy) -> _Target:
        try:
            if policy.actuator == "AutoScalingGroup":
                return self._read_asg(policy)
            kube = self._require_kube()
            resource = scalable_resource(policy.target.api_version, policy.target.kind)
            scale = kube.get(
                resource, namespace=policy.namespace, name=policy.target.name, subresource="scale"
            )
            current = int(
                (scale.get("status") or {}).get("replicas", (scale.get("spec") or {}).get("replicas", 0))
            )
            if policy.actuator == "NodeGroup":
                return _Target("NodeGroup", current)
            if policy.actuator == "Placeholder":
                assert policy.workload_ref is not None
                wres = scalable_resource(policy.workload_ref.api_version, policy.workload_ref.kind)
                wscale = kube.get(
                    wres, namespace=policy.namespace, name=policy.workload_ref.name, subresource="scale"
                )
                running = int((wscale.get("status") or {}).get("replicas", 0))
                return _Target("Placeholder", current, workload_current=running)
            hpa = None
            if policy.actuator in ("Auto", "HPAFloor"):
                hpa = self._find_hpa(policy)
                if hpa is None and policy.actuator == "HPAFloor":
                    raise _Problem(
                        "HPANotFound",
                        f"no HorizontalPodAutoscaler in {policy.namespace} targets {policy.target.describe()}",
                        kind="target_not_found",
                    )
            return _Target("HPAFloor" if hpa is not None else "Replicas", current, hpa=hpa)
        except NotFoundError as exc:
            raise _Problem(
                "TargetNotFound",
                f"{policy.target.describe()} not found in {policy.namespace}: {exc.problem}",
                kind="target_not_found",
            ) from exc
        except ForbiddenError as exc:
            raise _forbidden(exc) from exc
        except KubeError as exc:
            raise _Problem("APIError", str(exc), kind=_error_kind(exc)) from exc
        except ConfigError as exc:
            raise _Problem("InvalidPolicy", str(exc), kind="invalid_policy") from exc

    def _find_hpa(self, policy: PrescalePolicy) -> dict[str, Any] | None:
        kube = self._require_kube()
        for hpa in kube.list(HPAS, namespace=policy.namespace):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            if (
                ref.get("kind") == policy.target.kind
                and ref.get("name") == policy.target.name
                and group == policy.target.group
            ):
                return hpa
        return None

    def _asg(self, region: str | None) -> Any:
        if region not in self._asgs:
            if self._asg_factory is None:
                from forecaster.cloud.asg import AutoScalingGroups

                self._asgs[region] = AutoScalingGroups(region=region)
            else:
                self._asgs[region] = self._asg_factory(region)
        return self._asgs[region]

    def _read_asg(self, policy: PrescalePolicy) -> _Target:
        assert policy.node_group is not None
        try:
            state = self._asg(policy.node_group.region).describe(policy.target.name)
        except ForecasterError as exc:
            missing = "not found" in exc.problem
            raise _Problem(
                "TargetNotFound" if missing else "CloudError",
                str(exc),
                kind="target_not_found" if missing else "cloud",
            ) from exc
        return _Target("AutoScalingGroup", int(state.desired))

    def _forecast(
        self, policy: PrescalePolicy, now: pd.Timestamp
    ) -> tuple[ForecastResult | None, str | None]:
        try:
            result = self.forecasts.forecast(policy, now)
        except ForecasterError as exc:
            return None, f"forecast failed: {exc}"
        except Exception as exc:  # a model or source bug must fail safe like an outage
            log.exception("forecast for %s failed", policy.key)
            return None, f"forecast failed: {type(exc).__name__}: {exc}"
        if result is None:
            return None, "no forecast available"
        if isinstance(result, pd.DataFrame):
            result = ForecastResult(frame=result)
        frame = result.frame
        if frame is None or len(frame) == 0:
            return result, "the forecast is empty"
        if result.history is not None:
            observed = result.history.dropna()
            if len(observed) == 0:
                return result, "no recent history: the forecast is not based on data"
            age = now - pd.Timestamp(observed.index[-1])
            if age > pd.Timedelta(seconds=policy.forecast.max_staleness_s):
                return result, (
                    f"history is stale: last point {rfc3339(observed.index[-1])} is {age.total_seconds():.0f}s old "
                    f"(limit {policy.forecast.max_staleness_s:.0f}s)"
                )
        if frame.isna().any().any():
            return result, "the forecast contains NaN"
        return result, None

    # -- deciding the capacity in the actuator's unit ------------------------------------------------------

    def _desired_capacity(
        self, policy: PrescalePolicy, target: _Target, decision: Decision, result: ForecastResult | None
    ) -> int:
        pods = decision.desired_replicas
        if target.actuator in ("NodeGroup", "AutoScalingGroup"):
            ng = policy.node_group
            assert ng is not None
            return nodes_needed(
                replicas=pods,
                pod_request=ng.pod_request,
                node_allocatable=ng.node_allocatable,
                max_pods_per_node=ng.max_pods_per_node,
                min_nodes=ng.min_nodes,
                max_nodes=ng.max_nodes,
            )
        if target.actuator == "Placeholder":
            return max(0, pods - int(target.workload_current or 0))
        if target.actuator == "Replicas" and result is not None and result.history is not None:
            # Never below what the load observed right now needs (the forecast may be late to a surge).
            observed = result.history.dropna()
            if len(observed):
                s = policy.scaling
                need = math.ceil(float(observed.iloc[-1]) * (1 + s.headroom) / s.capacity_per_replica - 1e-9)
                pods = max(pods, min(need, s.max_replicas))
        return pods

    def _export_forecast(self, policy: PrescalePolicy, frame: pd.DataFrame, now: pd.Timestamp) -> None:
        end = now + pd.Timedelta(seconds=policy.scaling.lead_time_s + policy.scaling.interval_s)
        index = pd.DatetimeIndex(frame.index)
        inside = frame[(index >= now) & (index <= end)]
        for column in frame.columns:
            values = inside[column].dropna() if len(inside) else inside
            if len(values):
                self.metrics.forecast.labels(
                    namespace=policy.namespace, policy=policy.name, quantile=str(column)
                ).set(float(values.max()))

    # -- acting -----------------------------------------------------------------------------------------------

    def _ensure_finalizer(self, obj: dict[str, Any], policy: PrescalePolicy) -> None:
        if not self.policies.uses_finalizers or FINALIZER in policy.finalizers:
            return
        try:
            self.policies.set_finalizers(obj, [*policy.finalizers, FINALIZER])
        except ForbiddenError as exc:
            raise _forbidden(exc) from exc
        except KubeError as exc:
            raise _Problem("APIError", f"cannot add finalizer: {exc}", kind=_error_kind(exc)) from exc

    def _apply(self, policy: PrescalePolicy, target: _Target, desired: int) -> str | None:
        try:
            if target.actuator == "HPAFloor":
                return self._raise_floor(policy, target.hpa, desired)
            if target.actuator == "AutoScalingGroup":
                assert policy.node_group is not None
                change = self._asg(policy.node_group.region).set_desired(policy.target.name, desired)
                if not change.changed:
                    return None
                note = f" ({change.note})" if change.note else ""
                return f"NodeGroupResized {policy.target.describe()} {change.previous} -> {change.applied} nodes{note}"
            return self._set_replicas(policy, target, desired)
        except ForbiddenError as exc:
            raise _forbidden(exc) from exc
        except NotFoundError as exc:
            raise _Problem("TargetNotFound", str(exc), kind="target_not_found") from exc
        except KubeError as exc:
            raise _Problem("APIError", str(exc), kind=_error_kind(exc)) from exc
        except ForecasterError as exc:  # the cloud API
            raise _Problem("CloudError", str(exc), kind="cloud") from exc

    def _set_replicas(self, policy: PrescalePolicy, target: _Target, desired: int) -> str | None:
        kube = self._require_kube()
        resource = scalable_resource(policy.target.api_version, policy.target.kind)
        where = dict(namespace=policy.namespace, name=policy.target.name, subresource="scale")
        for attempt in range(CONFLICT_RETRIES):
            scale = kube.get(resource, **where)
            before = int((scale.get("spec") or {}).get("replicas", 0))
            if before == desired:
                return None
            patch = {
                "metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]},
                "spec": {"replicas": desired},
            }
            try:
                kube.merge_patch(resource, patch=patch, **where)
            except ConflictError:
                log.info(
                    "%s changed while scaling (attempt %d); re-reading", policy.target.describe(), attempt + 1
                )
                continue
            verb = {"Placeholder": "PlaceholdersResized", "NodeGroup": "NodeGroupResized"}.get(
                target.actuator, "ScaledUp" if desired > before else "ScaledDown"
            )
            return f"{verb} {policy.target.describe()} {before} -> {desired}"
        raise _Problem(
            "Conflict", f"{policy.target.describe()} kept changing; will retry next tick", kind="conflict"
        )

    def _raise_floor(self, policy: PrescalePolicy, hpa: dict[str, Any] | None, desired: int) -> str | None:
        assert hpa is not None

        def compute(h: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
            ann = h["metadata"].get("annotations") or {}
            spec = h.get("spec") or {}
            current_min = int(spec.get("minReplicas", 1))
            original = _int_or(ann.get(ORIGINAL_FLOOR_ANNOTATION), current_min)
            floor = min(max(desired, original), int(spec.get("maxReplicas", desired)))
            if floor == current_min:
                return None, None
            if floor == original:
                patch = {
                    "spec": {"minReplicas": floor},
                    "metadata": {"annotations": {ORIGINAL_FLOOR_ANNOTATION: None, OWNER_ANNOTATION: None}},
                }
                return (
                    patch,
                    f"FloorRestored HPA {h['metadata']['name']} minReplicas {current_min} -> {floor} (original)",
                )
            patch = {
                "spec": {"minReplicas": floor},
                "metadata": {
                    "annotations": {ORIGINAL_FLOOR_ANNOTATION: str(original), OWNER_ANNOTATION: policy.key}
                },
            }
            verb = "FloorRaised" if floor > current_min else "FloorLowered"
            return patch, f"{verb} HPA {h['metadata']['name']} minReplicas {current_min} -> {floor}"

        return self._patch_hpa(policy, hpa, compute)

    def _restore_floor(self, policy: PrescalePolicy, hpa: dict[str, Any] | None) -> str | None:
        """Put the HPA's original floor back (fail safe); the HPA then scales down gradually by itself."""
        if hpa is None:
            return None

        def compute(h: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
            ann = h["metadata"].get("annotations") or {}
            if ORIGINAL_FLOOR_ANNOTATION not in ann:
                return None, None
            current_min = int((h.get("spec") or {}).get("minReplicas", 1))
            original = _int_or(ann[ORIGINAL_FLOOR_ANNOTATION], current_min)
            patch = {
                "spec": {"minReplicas": original},
                "metadata": {"annotations": {ORIGINAL_FLOOR_ANNOTATION: None, OWNER_ANNOTATION: None}},
            }
            return (
                patch,
                f"FloorRestored HPA {h['metadata']['name']} minReplicas {current_min} -> {original} (original)",
            )

        try:
            return self._patch_hpa(policy, hpa, compute)
        except ForbiddenError as exc:
            raise _forbidden(exc) from exc
        except KubeError as exc:
            raise _Problem("APIError", f"cannot restore the HPA floor: {exc}", kind=_error_kind(exc)) from exc

    def _patch_hpa(
        self,
        policy: PrescalePolicy,
        hpa: dict[str, Any],
        compute: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, str | None]],
    ) -> str | None:
        kube = self._require_kube()
        name = hpa["metadata"]["name"]
        for attempt in range(CONFLICT_RETRIES):
            patch, action = compute(hpa)
            if patch is None:
                return None
            patch["metadata"]["resourceVersion"] = hpa["metadata"]["resourceVersion"]
            try:
                kube.merge_patch(HPAS, namespace=policy.namespace, name=name, patch=patch)
                return action
            except ConflictError:
                log.info("HPA %s/%s changed (attempt %d); re-reading", policy.namespace, name, attempt + 1)
                hpa = kube.get(HPAS, namespace=policy.namespace, name=name)
        raise _Problem(
            "Conflict", f"HPA {policy.namespace}/{name} kept changing; will retry next tick", kind="conflict"
        )

    # -- deletion ---------------------------------------------------------------------------------------------

    def _finalize(self, obj: dict[str, Any], policy: PrescalePolicy, now: pd.Timestamp) -> Outcome:
        """The policy is being deleted: put the original HPA floor back, then let it go."""
        action = None
        if FINALIZER in policy.finalizers and not self.dry_run:
            try:
                kube = self._require_kube()
                owned = [
                    h
                    for h in kube.list(HPAS, namespace=policy.namespace)
                    if (h["metadata"].get("annotations") or {}).get(OWNER_ANNOTATION) == policy.key
                ]
                for hpa in owned:
                    action = self._restore_floor(policy, hpa) or action
                self.policies.set_finalizers(obj, [f for f in policy.finalizers if f != FINALIZER])
            except (_Problem, KubeError) as exc:
                problem = (
                    exc
                    if isinstance(exc, _Problem)
                    else (
                        _forbidden(exc)
                        if isinstance(exc, ForbiddenError)
                        else _Problem("APIError", str(exc), kind=_error_kind(exc))
                    )
                )
                return self._problem(obj, policy, dict(obj.get("status") or {}), problem, now)
        if action:
            self._event(
                policy, "Normal", action.split(" ", 1)[0], f"{policy.key} deleted: {action}", None, now=now
            )
        self.metrics.forget(policy.namespace, policy.name)
        self._memory.pop(policy.key, None)
        return Outcome(key=policy.key, ready=True, reason="Deleted", action=action, message="finalized")

    # -- reporting ------------------------------------------------------------------------------------------

    def _problem(
        self,
        obj: dict[str, Any],
        policy: PrescalePolicy,
        old_status: dict[str, Any],
        problem: _Problem,
        now: pd.Timestamp,
    ) -> Outcome:
        self.metrics.errors.labels(kind=problem.kind).inc()
        self.metrics.degraded.labels(namespace=policy.namespace, policy=policy.name).set(1)
        status = {k: v for k, v in old_status.items() if k not in ("conditions", "observedGeneration")}
        status["observedGeneration"] = policy.generation
        status["conditions"] = [
            _condition("Ready", False, problem.reason, problem.message),
            _condition("Degraded", True, problem.reason, problem.message),
            *[c for c in old_status.get("conditions") or [] if c.get("type") == "ForecastOnly"],
        ]
        self._write_status(obj, old_status, status, now, policy_ref=_policy_ref(obj), policy=policy)
        return Outcome(key=policy.key, ready=False, reason=problem.reason, message=problem.message)

    def _write_status(
        self,
        obj: dict[str, Any],
        old: dict[str, Any],
        status: dict[str, Any],
        now: pd.Timestamp,
        *,
        policy_ref: dict[str, Any],
        events: list[tuple[str, str, str, bool]] | None = None,
        policy: PrescalePolicy | None = None,
    ) -> None:
        events = list(events or [])
        previous = {c.get("type"): c for c in old.get("conditions") or []}
        for cond in status.get("conditions") or []:
            before = previous.get(cond["type"])
            changed = (
                before is None
                or before.get("status") != cond["status"]
                or before.get("reason") != cond["reason"]
            )
            cond["lastTransitionTime"] = (
                rfc3339(now) if changed else before.get("lastTransitionTime", rfc3339(now))
            )
            if changed and _noteworthy(cond, before):
                warn = (cond["type"] == "Ready" and cond["status"] == "False") or (
                    cond["type"] == "ForecastOnly" and cond["status"] == "True"
                )
                text = cond["message"] or f"{cond['type']} is {cond['status']}"
                events.append(("Warning" if warn else "Normal", cond["reason"], text, False))
        if status != old:
            try:
                self.policies.patch_status(obj, status)
            except KubeError as exc:
                self.metrics.errors.labels(kind=_error_kind(exc)).inc()
                log.warning("cannot write status of %s: %s", policy_ref.get("name"), exc)
        for type_, reason, message, on_target in events:
            self._event(
                policy, type_, reason, message, policy_ref if not on_target else None, obj=obj, now=now
            )

    def _event(
        self,
        policy: PrescalePolicy | None,
        type_: str,
        reason: str,
        message: str,
        involved: dict[str, Any] | None,
        *,
        obj: dict[str, Any] | None = None,
        now: pd.Timestamp,
    ) -> None:
        log.log(logging.WARNING if type_ == "Warning" else logging.INFO, "%s: %s", reason, message)
        if self.kube is None:
            return
        if involved is None:
            if policy is not None and policy.target.kind != "AutoScalingGroup":
                involved = {
                    "apiVersion": policy.target.api_version,
                    "kind": policy.target.kind,
                    "name": policy.target.name,
                    "namespace": policy.namespace,
                }
            elif obj is not None:
                involved = _policy_ref(obj)
            else:
                return
        namespace = involved.get("namespace") or "default"
        stamp = rfc3339(now)
        body = {
            "metadata": {"generateName": f"{involved['name']}.", "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.identity,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            self.kube.create(EVENTS, namespace=namespace, body=body)
        except KubeError as exc:  # events are best effort: never fail a tick for one
            self.metrics.errors.labels(kind=_error_kind(exc)).inc()
            log.warning("cannot post event %s: %s", reason, exc)


# -- helpers --------------------------------------------------------------------------------------------------


def _noteworthy(cond: dict[str, str], before: dict[str, Any] | None) -> bool:
    if before is None:
        # First sight: only bad news is worth an event.
        return (cond["type"] == "Ready" and cond["status"] == "False") or (
            cond["type"] == "ForecastOnly" and cond["status"] == "True" and cond["reason"] == "AccuracyGuard"
        )
    return cond["type"] in ("Ready", "ForecastOnly")


def _policy_ref(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": "prescaling.forecaster.io/v1alpha1",
        "kind": "PrescalePolicy",
        "name": str(meta.get("name")),
        "namespace": meta.get("namespace") or "default",
    }
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    return ref


def _forbidden(exc: ForbiddenError) -> _Problem:
    return _Problem("Forbidden", f"missing permission: {exc.permission} ({exc.problem})", kind="forbidden")


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, ForbiddenError):
        return "forbidden"
    if isinstance(exc, ConflictError):
        return "conflict"
    if isinstance(exc, NotFoundError):
        return "target_not_found"
    if isinstance(exc, KubeError):
        return "api_temporary" if exc.temporary else "api"
    if isinstance(exc, ConfigError):
        return "invalid_policy"
    return "internal"


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _state_to_status(state: ScalingState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "recommendations": [{"time": rfc3339(t), "replicas": int(r)} for t, r in state.recommendations]
    }
    if state.last_desired is not None:
        out["lastDesired"] = int(state.last_desired)
    if state.last_scale_down_at is not None:
        out["lastScaleDownAt"] = rfc3339(state.last_scale_down_at)
    return out


def _state_from_status(data: Any) -> ScalingState:
    """The decision state a previous leader persisted; anything unreadable starts afresh (safe: no history
    only means no stabilisation memory, and the HPA floor/replicas are read from the cluster)."""
    if not isinstance(data, dict):
        return ScalingState()
    try:
        recs = tuple((_utc_naive(r["time"]), int(r["replicas"])) for r in data.get("recommendations") or [])
        last = data.get("lastDesired")
        down = data.get("lastScaleDownAt")
        return ScalingState(
            recommendations=recs,
            last_desired=int(last) if last is not None else None,
            last_scale_down_at=_utc_naive(down) if down else None,
        )
    except (TypeError, ValueError, KeyError):
        return ScalingState()
