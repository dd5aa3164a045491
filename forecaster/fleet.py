"""Training a fleet of targets as shards: which targets a shard owns, and running them one by one.

``forecaster train --all`` runs as one pod of a Kubernetes Indexed Job (``completionMode: Indexed``): the pod
with ``JOB_COMPLETION_INDEX=i`` of ``N`` completions trains the targets whose **stable hash** (the first 8
bytes of the SHA-256 of the target's name, big-endian, mod N) is ``i``. The same name always lands on the
same shard in every pod, every run and every Python (unlike ``hash()``, which is salted per process), so two
shards never write the same target. A hash partition rather than a balance by measured training time: it
needs no shared state between pods and does not move targets when one gets slower; its imbalance on a fleet
of many similar targets is a few percent (see ``tests/test_fleet.py``).

One target's failure (an invalid declaration, Prometheus, training, the store) is recorded and the next
target runs: :func:`train_shard` never raises for a target. The exit code says whether all succeeded.

Within a pod, ``--jobs K`` trains K targets at once, each in a worker process of its own (training is one
torch thread per target, so a pod of 2 CPUs trains two). The pod's parent hands each owned target to
exactly one worker (a target is one task of the pool; a template is fetched once in the parent and its
members become tasks), so two processes never write the same target; a worker killed midway (OOM, a
signal) leaves only an invisible temporary in the store (:mod:`forecaster.store` renames a version into
place once whole), and the shard exits :data:`EXIT_WORKER_LOST` so that its index is retried.

This module is pure apart from the callables it is given (train one target, record its status, the clock,
an executor) and :func:`available_cpus`, which reads the cgroup's CPU quota.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecaster.errors import ConfigError
from forecaster.target_resource import TrainingRecord
from forecaster.target_sources import TargetEntry

__all__ = [
    "Shard",
    "shard_index",
    "owned",
    "FleetSummary",
    "train_shard",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_WORKER_LOST",
    "available_cpus",
    "INDEX_ENV",
    "COUNT_ENV",
]

log = logging.getLogger(__name__)

INDEX_ENV = "JOB_COMPLETION_INDEX"
"""Set by the Job controller in every pod of an Indexed Job."""
COUNT_ENV = "JOB_COMPLETIONS"
"""The Job's ``completions`` (Kubernetes does not expose it to the pod; the CronJob sets it, equal to
``spec.completions``, and tests/test_manifests.py checks the two agree)."""

EXIT_OK = 0
EXIT_SOME_FAILED = 3
"""Some targets failed, after every target of the shard ran (2 is a usage or configuration error of the
whole command, as for every subcommand)."""
EXIT_WORKER_LOST = 4
"""A worker process died midway (killed, out of memory): the targets it had not finished are not trained.
Unlike 3, the Indexed Job retries the index for it (the podFailurePolicy fails the index only on 3)."""


def available_cpus(
    *,
    affinity: Callable[[], set[int]] | None = None,
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> int:
    """The CPUs this process may use: its affinity, capped by the cgroup's CPU quota (a pod's CPU limit),
    rounded down, at least 1. cgroup v2 (``cpu.max``: ``"200000 100000"``, or ``"max 100000"`` when
    unlimited) and v1 (``cpu/cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, ``-1`` when unlimited)."""
    get_affinity = affinity or (lambda: os.sched_getaffinity(0))
    try:
        cpus = len(get_affinity())
    except (AttributeError, OSError):  # no sched_getaffinity (macOS)
        cpus = os.cpu_count() or 1
    quota_cpus = None
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            quota_cpus = int(quota) / int(period)
    except (OSError, ValueError):
        try:
            quota_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
            period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
            if quota_us > 0 and period_us > 0:
                quota_cpus = quota_us / period_us
        except (OSError, ValueError):
            pass
    if quota_cpus is not None:
        cpus = min(cpus, math.floor(quota_cpus))
    return max(1, cpus)


def shard_index(name: str, count: int) -> int:
    """The shard that owns target ``name`` among ``count``: SHA-256 of the name, not the salted ``hash()``."""
    if count < 1:
        raise ConfigError(f"shard count {count} must be at least 1")
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Pod ``index`` of ``count`` (``0 <= index < count``)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(
                f"shard {self.index}/{self.count} is out of range",
                hint="the index must lie in 0..count-1, e.g. --shard 0/4",
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"i/N"`` (``--shard 2/8``)."""
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ConfigError(f"--shard {text!r} is not INDEX/COUNT", hint="e.g. --shard 0/4")
        return cls(int(index), int(count))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Shard:
        """From ``JOB_COMPLETION_INDEX`` and ``JOB_COMPLETIONS``; the whole fleet (0/1) when neither is set."""
        raw_index, raw_count = environ.get(INDEX_ENV), environ.get(COUNT_ENV)
        if raw_index is None and raw_count is None:
            return cls()
        if raw_index is None or raw_count is None:
            missing = INDEX_ENV if raw_index is None else COUNT_ENV
            raise ConfigError(
                f"{missing} is not set but {INDEX_ENV if missing == COUNT_ENV else COUNT_ENV} is",
                hint=f"an Indexed Job sets {INDEX_ENV}; set {COUNT_ENV} to its completions (or pass --shard i/N)",
            )
        try:
            index, count = int(raw_index), int(raw_count)
        except ValueError as exc:
            raise ConfigError(
                f"{INDEX_ENV}={raw_index!r} / {COUNT_ENV}={raw_count!r} are not integers",
                hint="pass --shard i/N instead",
            ) from exc
        return cls(index, count)

    def owns(self, name: str) -> bool:
        return shard_index(name, self.count) == self.index


def owned(entries: Sequence[TargetEntry], shard: Shard) -> list[TargetEntry]:
    """The entries ``shard`` trains, by name (stable across pods and runs)."""
    return [e for e in entries if shard.owns(e.name)]


@dataclass
class FleetSummary:
    """What one shard did: one record per target it owns."""

    shard: Shard
    records: list[TrainingRecord] = field(default_factory=list)
    total_declared: int = 0
    cpu_s: float = 0.0
    """CPU seconds the targets' training took, summed over the processes that trained them (without each
    process's start-up: what a target costs)."""
    worker_lost: bool = False

    @property
    def failed(self) -> list[TrainingRecord]:
        return [r for r in self.records if r.error is not None]

    @property
    def exit_code(self) -> int:
        if self.worker_lost:
            return EXIT_WORKER_LOST
        return EXIT_SOME_FAILED if self.failed else EXIT_OK

    def line(self) -> str:
        counts = {"Promoted": 0, "NotPromoted": 0, "Failed": 0}
        for r in self.records:
            counts[r.outcome] += 1
        took = sum(r.duration_s for r in self.records)
        failed = ", ".join(r.target for r in self.failed)
        return (
            f"shard {self.shard}: {len(self.records)} of {self.total_declared} targets: "
            f"{counts['Promoted']} promoted, {counts['NotPromoted']} not promoted, {counts['Failed']} failed"
            f"{f' ({failed})' if failed else ''} in {took:.1f}s ({self.cpu_s:.1f}s CPU)"
        )


def record_line(record: TrainingRecord) -> str:
    """One line per target for the log: outcome, version, why, and how long."""
    what = record.error if record.error is not None else record.reason
    version = f" {record.version}" if record.version else ""
    return f"{record.target}: {record.outcome}{version} in {record.duration_s:.1f}s: {what}"


def _train_member(
    cfg: Any,
    series: Any,
    *,
    shard: Shard,
    train_one: Callable[..., Any],
    now: Callable[[], str],
    monotonic: Callable[[], float],
    cpu_clock: Callable[[], float] = time.process_time,
) -> tuple[TrainingRecord, float]:
    """Train one target; its record and the CPU seconds it took in the process that trained it. Runs in a
    worker process with ``--jobs`` > 1, so everything it takes and returns is picklable."""
    started, cpu_started = monotonic(), cpu_clock()
    try:
        result = train_one(cfg) if series is None else train_one(cfg, series)
    except Exception as exc:  # noqa: BLE001 - any failure is this target's alone; the next one runs
        log.exception("target %s failed", cfg.name)
        return TrainingRecord(
            target=cfg.name,
            finished_at=now(),
            duration_s=monotonic() - started,
            shard=str(shard),
            error=f"{type(exc).__name__}: {exc}",
        ), cpu_clock() - cpu_started
    return TrainingRecord(
        target=cfg.name,
        finished_at=now(),
        duration_s=monotonic() - started,
        shard=str(shard),
        version=result.saved.version,
        promoted=bool(result.promoted),
        # The prescaler tuning's outcome (tuned, carried forward, failed) shows in the target's status too.
        reason=str(result.reason)
        + (f"; prescaler tuning: {result.tuning}" if getattr(result, "tuning", None) else ""),
    ), cpu_clock() - cpu_started


class _Inline(Executor):
    """Runs each task at once, in this process (``--jobs 1``: the order and the log stay as they were)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to whoever reads the future (SIGTERM's stops here)
            future.set_exception(exc)
        return future


_LOST = (
    "not trained: a worker process of this shard died (killed, or out of memory) before finishing it; "
    "nothing half-written is visible in the store, and the retried pod trains it again"
)


@dataclass
class _Collector:
    """Turns the futures of a shard's tasks into records, in submission order."""

    shard: Shard
    now: Callable[[], str]
    summary: FleetSummary
    report: Callable[[str], None]

    def result(self, name: str, future: Future[tuple[TrainingRecord, float]]) -> TrainingRecord:
        try:
            rec, cpu_s = future.result()
        except BrokenProcessPool:
            self.summary.worker_lost = True
            return TrainingRecord(
                target=name, finished_at=self.now(), duration_s=0.0, shard=str(self.shard), error=_LOST
            )
        self.summary.cpu_s += cpu_s
        return rec


@dataclass
class _TemplateRun:
    """A template whose series were fetched (its members submitted), or whose fetch failed."""

    entry: TargetEntry
    started: float
    failure: TrainingRecord | None = None
    members: list[Any] = field(default_factory=list)
    tasks: list[tuple[str, Future[tuple[TrainingRecord, float]] | TrainingRecord]] = field(
        default_factory=list
    )


def _submit_template(
    entry: TargetEntry,
    *,
    shard: Shard,
    pool: Executor,
    train_one: Callable[..., Any],
    fetch_split: Callable[[Any, Any], dict[tuple[str, ...], Any]],
    now: Callable[[], str],
    monotonic: Callable[[], float],
    declared: set[str],
) -> _TemplateRun:
    """Fetch every series of the template at once (here, in the pod's own process), then submit one task
    per generated target."""
    from forecaster.sources.prometheus import NoSeriesError, TooManySeriesError
    from forecaster.templates import member_configs

    template, cfg = entry.template, entry.config
    assert template is not None and cfg is not None
    run = _TemplateRun(entry=entry, started=monotonic())

    def failed(reason: str, exc: Exception) -> _TemplateRun:
        run.failure = TrainingRecord(
            target=entry.name,
            finished_at=now(),
            duration_s=monotonic() - run.started,
            shard=str(shard),
            error=f"{type(exc).__name__}: {exc}",
            expansion=("False", reason, str(exc)),
        )
        return run

    try:
        series = fetch_split(cfg, template)
    except TooManySeriesError as exc:
        return failed("TooManySeries", exc)
    except NoSeriesError as exc:
        return failed("NoSeries", exc)
    except Exception as exc:  # noqa: BLE001 - the template's failure is its own
        return failed("FetchFailed", exc)
    keys = sorted(series)
    run.members = member_configs(cfg, template, keys)
    for member, key in zip(run.members, keys, strict=True):
        if member.name in declared:  # only a plain config file may hold '--' in a name
            run.tasks.append(
                (
                    member.name,
                    TrainingRecord(
                        target=member.name,
                        finished_at=now(),
                        duration_s=0.0,
                        shard=str(shard),
                        error=f"the generated target {member.name} is also declared on its own; not trained here",
                    ),
                )
            )
        else:
            future = pool.submit(
                _train_member,
                member,
                series[key],
                shard=shard,
                train_one=train_one,
                now=now,
                monotonic=monotonic,
            )
            run.tasks.append((member.name, future))
    return run


def _collect_template(
    run: _TemplateRun, *, collector: _Collector, monotonic: Callable[[], float]
) -> tuple[TrainingRecord, list[TrainingRecord]]:
    if run.failure is not None:
        return run.failure, []
    entry, shard = run.entry, collector.shard
    template = entry.template
    assert template is not None
    records = []
    for name, task in run.tasks:
        rec = task if isinstance(task, TrainingRecord) else collector.result(name, task)
        records.append(rec)
        collector.report(record_line(rec))
    summary = FleetSummary(shard=shard, records=records, total_declared=len(records))
    labels = ", ".join(template.split_by)
    members = run.members
    shown = ", ".join(m.name for m in members[:10]) + (" ..." if len(members) > 10 else "")
    return TrainingRecord(
        target=entry.name,
        finished_at=collector.now(),
        duration_s=monotonic() - run.started,
        shard=str(shard),
        reason=summary.line().split(": ", 1)[1].rsplit(" (", 1)[0],
        members=tuple(records),
        expansion=(
            "True",
            "Expanded",
            f"{len(members)} series by ({labels}) of at most {template.max_targets}: {shown}",
        ),
    ), records


def _done(task: Any) -> bool:
    if isinstance(task, TrainingRecord):
        return True
    if isinstance(task, _TemplateRun):
        return all(isinstance(t, TrainingRecord) or t.done() for _, t in task.tasks)
    return bool(task.done())


def train_shard(
    entries: Sequence[TargetEntry],
    *,
    shard: Shard,
    train_one: Callable[..., Any],
    record: Callable[[TargetEntry, TrainingRecord], None],
    now: Callable[[], str],
    fetch_split: Callable[[Any, Any], dict[tuple[str, ...], Any]] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    report: Callable[[str], None] = print,
    executor: Executor | None = None,
) -> FleetSummary:
    """Train every target ``shard`` owns; one failure never stops the others.

    ``train_one(config)`` (or ``train_one(config, series)`` for a template's generated target, whose history
    was fetched with the others) returns a promotion result (``saved.version``, ``promoted``, ``reason``) or
    raises. ``fetch_split(config, template)`` fetches every series of a template keyed by label values.
    ``record(entry, record)`` stores the outcome (a ForecastTarget's status). ``now()`` gives the RFC 3339
    time a run finished; ``report`` gets one line per target. A template is owned as a whole (by its own
    name's hash), so its one fetch serves all the targets it generates.

    ``executor``: where targets train (one task per target: a process pool of ``--jobs`` workers, which
    then needs ``train_one``, ``now`` and ``monotonic`` picklable); ``None`` trains them one after another
    in this process. Records, statuses and the log follow the declarations' order either way.
    """
    mine = owned(entries, shard)
    summary = FleetSummary(shard=shard, total_declared=len(entries))
    pool = executor or _Inline()
    collector = _Collector(shard=shard, now=now, summary=summary, report=report)
    log.info("shard %s: %d of %d declarations", shard, len(mine), len(entries))
    declared = {e.name for e in entries}
    # Submit in order, recording each target as soon as it and all before it are done: with one job that is
    # right after it trains (a pod stopped midway leaves the finished targets' statuses written); with a
    # pool, the queued targets start as workers free up. A template's fetch happens here, in this process.
    pending: collections.deque[tuple[TargetEntry, Any]] = collections.deque()

    def finish(entry: TargetEntry, task: Any) -> None:
        if isinstance(task, _TemplateRun):
            rec, members = _collect_template(task, collector=collector, monotonic=monotonic)
            record(entry, rec)
            summary.records.extend(members)
            if rec.error is not None:
                summary.records.append(rec)
                report(record_line(rec))
            return
        rec = task if isinstance(task, TrainingRecord) else collector.result(entry.name, task)
        record(entry, rec)
        summary.records.append(rec)
        report(record_line(rec))

    for entry in mine:
        if entry.config is not None and entry.template is not None:
            if fetch_split is None:
                raise ConfigError(f"{entry.origin}: a template needs a fetcher for split queries")
            task: Any = _submit_template(
                entry,
                shard=shard,
                pool=pool,
                train_one=train_one,
                fetch_split=fetch_split,
                now=now,
                monotonic=monotonic,
                declared=declared,
            )
        elif entry.config is None:
            task = TrainingRecord(
                target=entry.name,
                finished_at=now(),
                duration_s=0.0,
                shard=str(shard),
                error=entry.error or "invalid declaration",
                reason="",
            )
        else:
            task = pool.submit(
                _train_member,
                entry.config,
                None,
                shard=shard,
                train_one=train_one,
                now=now,
                monotonic=monotonic,
            )
        pending.append((entry, task))
        while pending and _done(pending[0][1]):
            finish(*pending.popleft())
    while pending:
        finish(*pending.popleft())
    report(summary.line())
    return summary
