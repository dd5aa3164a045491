"""Sharding a fleet of targets over an Indexed Job's pods, and running one shard: pure, with fake training."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from types import SimpleNamespace

import pytest

import forecaster.store as store_module
from forecaster.errors import ConfigError, SourceError
from forecaster.fleet import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_WORKER_LOST,
    Shard,
    available_cpus,
    owned,
    shard_index,
    train_shard,
)
from forecaster.settings import TargetConfig
from forecaster.store import ModelStore
from forecaster.target_sources import FileTargetSource, TargetEntry

NAMES = [f"service-{i:04d}" for i in range(1000)]


def test_shard_index_is_sha256_of_the_name():
    digest = hashlib.sha256(b"live-streaming").digest()
    assert shard_index("live-streaming", 7) == int.from_bytes(digest[:8], "big") % 7
    assert shard_index("live-streaming", 1) == 0


def test_shard_index_is_the_same_in_another_python_process():
    """Not Python's hash(), which is salted per process: every pod agrees on who owns what."""
    code = "from forecaster.fleet import shard_index; print([shard_index(f'service-{i:04d}', 16) for i in range(50)])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert out.stdout.strip() == str([shard_index(n, 16) for n in NAMES[:50]])


@pytest.mark.parametrize("count", [1, 2, 3, 16])
def test_shards_partition_the_fleet(count):
    """Every target is trained by exactly one shard: none twice (no two writers), none forgotten."""
    entries = [TargetEntry(name=n) for n in NAMES]
    owners = Counter()
    for index in range(count):
        for e in owned(entries, Shard(index, count)):
            owners[e.name] += 1
    assert set(owners) == set(NAMES) and set(owners.values()) == {1}


def test_shards_are_balanced_on_a_large_fleet():
    sizes = Counter(shard_index(n, 16) for n in NAMES)
    assert max(sizes.values()) <= 1.35 * len(NAMES) / 16  # 62.5 expected; a hash, not a perfect split


# (description, --shard text or environment, expected shard or the error's words)
SHARDS = [
    ("flag", "2/8", Shard(2, 8)),
    ("flag, whole fleet", "0/1", Shard(0, 1)),
    ("index too high", "8/8", "out of range"),
    ("no slash", "3", "INDEX/COUNT"),
    ("negative", "-1/4", "INDEX/COUNT"),
    ("zero count", "0/0", "out of range"),
]


@pytest.mark.parametrize(("text", "expected"), [s[1:] for s in SHARDS], ids=[s[0] for s in SHARDS])
def test_shard_flag(text, expected):
    if isinstance(expected, Shard):
        assert Shard.parse(text) == expected and str(expected) == text
    else:
        with pytest.raises(ConfigError, match=expected):
            Shard.parse(text)


def test_shard_from_the_indexed_jobs_environment():
    assert Shard.from_env({"JOB_COMPLETION_INDEX": "3", "JOB_COMPLETIONS": "4"}) == Shard(3, 4)
    assert Shard.from_env({}) == Shard(0, 1)
    with pytest.raises(ConfigError, match="JOB_COMPLETIONS is not set"):
        Shard.from_env({"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(ConfigError, match="not integers"):
        Shard.from_env({"JOB_COMPLETION_INDEX": "x", "JOB_COMPLETIONS": "4"})
    with pytest.raises(ConfigError, match="out of range"):
        Shard.from_env({"JOB_COMPLETION_INDEX": "4", "JOB_COMPLETIONS": "4"})


def _result(name, promoted=True):
    return SimpleNamespace(
        saved=SimpleNamespace(version=f"{name}-v1"), promoted=promoted, reason="beats baseline"
    )


def test_one_failure_never_stops_the_others():
    names = ["a", "b", "c", "d", "bad-decl"]
    entries = [TargetEntry(name=n, config=TargetConfig(name=n)) for n in names[:4]]
    entries.append(TargetEntry(name="bad-decl", error="spec.model.horizon: cannot parse duration 'x'"))
    trained, recorded, lines = [], {}, []

    def train_one(cfg):
        trained.append(cfg.name)
        if cfg.name == "b":
            raise SourceError("Prometheus answered 503")
        if cfg.name == "c":
            raise RuntimeError("out of memory")
        return _result(cfg.name, promoted=cfg.name != "d")

    clock = iter(range(100))
    summary = train_shard(
        entries,
        shard=Shard(0, 1),
        train_one=train_one,
        record=lambda e, r: recorded.__setitem__(e.name, r),
        now=lambda: "2026-11-30T02:17:00Z",
        monotonic=lambda: float(next(clock)),
        report=lines.append,
    )
    assert trained == ["a", "b", "c", "d"], "every target ran, in order, after the failures"
    assert {n: r.outcome for n, r in recorded.items()} == {
        "a": "Promoted",
        "b": "Failed",
        "c": "Failed",
        "d": "NotPromoted",
        "bad-decl": "Failed",
    }
    assert recorded["b"].error == "SourceError: Prometheus answered 503"
    assert recorded["c"].error == "RuntimeError: out of memory"
    assert "horizon" in recorded["bad-decl"].error
    assert recorded["a"].version == "a-v1" and recorded["a"].duration_s == 1.0
    assert summary.exit_code == EXIT_SOME_FAILED != EXIT_OK
    assert len(lines) == 6 and lines[0] == "a: Promoted a-v1 in 1.0s: beats baseline"
    assert lines[-1].startswith(
        "shard 0/1: 5 of 5 targets: 1 promoted, 1 not promoted, 3 failed (b, c, bad-decl)"
    )


def test_a_shard_trains_only_its_own_targets():
    entries = [TargetEntry(name=n, config=TargetConfig(name=n)) for n in NAMES[:40]]
    seen = []
    summaries = [
        train_shard(
            entries,
            shard=Shard(i, 3),
            train_one=lambda cfg: seen.append(cfg.name) or _result(cfg.name),
            record=lambda e, r: None,
            now=lambda: "t",
            report=lambda line: None,
        )
        for i in range(3)
    ]
    assert sorted(seen) == sorted(NAMES[:40]) and len(seen) == len(set(seen))
    assert all(s.exit_code == EXIT_OK for s in summaries)
    assert [len(s.records) for s in summaries] == [
        sum(shard_index(n, 3) == i for n in NAMES[:40]) for i in range(3)
    ]


def test_file_source_reads_both_forms_and_reports_bad_files(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    (tmp_path / "a.yaml").write_text("name: a\nprometheus: {query: up}\n")
    (tmp_path / "b.yaml").write_text(
        "apiVersion: forecasting.forecaster.io/v1alpha1\nkind: ForecastTarget\nmetadata: {name: b}\n"
        "spec: {prometheus: {query: up, step: 5m}}\n"
    )
    (tmp_path / "c.yaml").write_text(
        "apiVersion: forecasting.forecaster.io/v1alpha1\nkind: ForecastTarget\nmetadata: {name: c}\n"
        "spec: {prometheus: {query: up, step: fast}}\n"
    )
    (tmp_path / "d.yaml").write_text("name: a\nprometheus: {query: up}\n")
    entries = {e.origin.rsplit("/", 1)[-1]: e for e in FileTargetSource(tmp_path).list()}
    assert sorted(entries) == ["a.yaml", "b.yaml", "c.yaml", "d.yaml"]
    assert entries["b.yaml"].config.prometheus.step == "5m"
    assert entries["c.yaml"].config is None and "spec.prometheus.step" in entries["c.yaml"].error
    assert entries["d.yaml"].config is None and "already defined" in entries["d.yaml"].error


def test_a_template_is_fetched_once_and_each_member_trained_on_its_series():
    from forecaster.settings import PrometheusSettings
    from forecaster.sources.prometheus import TooManySeriesError
    from forecaster.templates import Template

    query = "sum by (service) (rate(x[1m]))"
    web = TargetConfig(name="web", prometheus=PrometheusSettings(query=query))
    entries = [
        TargetEntry(name="web", config=web, template=Template(("service",))),
        TargetEntry(
            name="big",
            config=TargetConfig(name="big", prometheus=web.prometheus),
            template=Template(("service",), 2),
        ),
    ]
    fetched, trained, recorded = [], {}, {}

    def fetch_split(cfg, template):
        fetched.append(cfg.name)
        if template.max_targets == 2:
            raise TooManySeriesError("yields 7 series, more than the cap of 2", count=7)
        return {("a",): "series-a", ("b",): "series-b"}

    def train_one(cfg, series=None):
        trained[cfg.name] = series
        if cfg.name == "web--b":
            raise RuntimeError("diverged")
        return _result(cfg.name)

    summary = train_shard(
        entries,
        shard=Shard(0, 1),
        train_one=train_one,
        fetch_split=fetch_split,
        record=lambda e, r: recorded.__setitem__(e.name, r),
        now=lambda: "2026-11-30T02:17:00Z",
        report=lambda line: None,
    )
    assert sorted(fetched) == ["big", "web"], "one fetch per template"
    assert trained == {"web--a": "series-a", "web--b": "series-b"}, "members train on the fetched series"
    web_record = recorded["web"]
    assert [m.target for m in web_record.members] == ["web--a", "web--b"]
    assert web_record.outcome == "Failed" and web_record.expansion[:2] == ("True", "Expanded")
    assert recorded["big"].expansion[:2] == ("False", "TooManySeries") and not trained.keys() & {"big"}
    assert summary.exit_code == EXIT_SOME_FAILED
    assert sorted(r.target for r in summary.failed) == ["big", "web--b"]


def test_a_member_named_like_a_declared_target_is_not_trained_twice():
    from forecaster.settings import PrometheusSettings
    from forecaster.templates import Template

    web = TargetConfig(name="web", prometheus=PrometheusSettings(query="sum by (service) (x)"))
    entries = [
        TargetEntry(name="web", config=web, template=Template(("service",))),
        TargetEntry(name="web--a", error="a plain file may use '--'; owned by its own hash"),
    ]
    trained, recorded = [], {}
    train_shard(
        entries,
        shard=Shard(0, 1),
        train_one=lambda cfg, series=None: trained.append(cfg.name) or _result(cfg.name),
        fetch_split=lambda cfg, template: {("a",): "sa", ("b",): "sb"},
        record=lambda e, r: recorded.__setitem__(e.name, r),
        now=lambda: "t",
        report=lambda line: None,
    )
    assert trained == ["web--b"]
    member_a = recorded["web"].members[0]
    assert member_a.target == "web--a" and "also declared on its own" in member_a.error


def test_the_prescaler_tunings_outcome_is_recorded_with_the_training():
    result = _result("a")
    result.tuning = "not re-tuned (tuned 6.0h ago); the recommendation of v0 is carried forward"
    recorded = {}
    train_shard(
        [TargetEntry(name="a", config=TargetConfig(name="a"))],
        shard=Shard(0, 1),
        train_one=lambda cfg: result,
        record=lambda e, r: recorded.__setitem__(e.name, r),
        now=lambda: "2026-11-30T02:17:00Z",
        monotonic=lambda: 0.0,
        report=lambda line: None,
    )
    assert recorded["a"].reason == (
        "beats baseline; prescaler tuning: not re-tuned (tuned 6.0h ago); the recommendation of v0 is carried "
        "forward"
    )


# -- --jobs: several worker processes in one pod -------------------------------------------------------------


def _train_in_worker(cfg, series=None):
    """A worker's train_one (module level: a process pool pickles it by name). The version names the
    process that trained the target; "killed" dies the way an OOM-killed worker does."""
    if cfg.name == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    return _result(f"{cfg.name}@{os.getpid()}")


def _fixed_now():
    return "2026-11-30T02:17:00Z"


def _pool(workers):
    # fork: these train_one functions import nothing heavy, and forking is what keeps the test fast.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))


def test_jobs_train_each_target_in_exactly_one_worker_process():
    entries = [TargetEntry(name=n, config=TargetConfig(name=n)) for n in NAMES[:12]]
    recorded, lines = {}, []
    with _pool(2) as pool:
        summary = train_shard(
            entries,
            shard=Shard(0, 1),
            train_one=_train_in_worker,
            record=lambda e, r: recorded.__setitem__(e.name, r),
            now=_fixed_now,
            report=lines.append,
            executor=pool,
        )
    assert list(recorded) == NAMES[:12], "every target recorded once, in the declarations' order"
    trainers = {r.version.split("@")[0]: int(r.version.split("@")[1][:-3]) for r in recorded.values()}
    assert sorted(trainers) == sorted(NAMES[:12])
    assert os.getpid() not in trainers.values(), "trained in the workers, not in the pod's own process"
    assert summary.exit_code == EXIT_OK and len(summary.records) == 12
    assert lines[-1].startswith("shard 0/1: 12 of 12 targets: 12 promoted")


def test_a_killed_worker_fails_the_shard_for_a_retry_and_loses_no_record():
    names = ["a", "b", "killed", "c", "d"]
    entries = [TargetEntry(name=n, config=TargetConfig(name=n)) for n in names]
    recorded = {}
    with _pool(2) as pool:
        summary = train_shard(
            entries,
            shard=Shard(0, 1),
            train_one=_train_in_worker,
            record=lambda e, r: recorded.__setitem__(e.name, r),
            now=_fixed_now,
            report=lambda line: None,
            executor=pool,
        )
    assert list(recorded) == names, "every target still gets a record"
    assert recorded["killed"].outcome == "Failed" and "worker process" in recorded["killed"].error
    assert summary.exit_code == EXIT_WORKER_LOST, "not 3: the Indexed Job retries the index"


def _write_version_then_die(cfg, series=None):
    """Dies (SIGKILL: no cleanup runs) after the first file of a version is on disk."""
    store = ModelStore(cfg.store)
    real_fsync = os.fsync

    def fsync_then_die(fd):
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    store_module.os.fsync = fsync_then_die  # this worker process only
    store.backend.put_version(f"{cfg.name}/versions/20261130T021700Z-0123abcd", {"a": b"1", "b": b"2"})


def test_a_worker_killed_while_saving_leaves_no_visible_version(tmp_path):
    cfg = TargetConfig(name="alpha", store=str(tmp_path))
    with _pool(1) as pool:
        summary = train_shard(
            [TargetEntry(name="alpha", config=cfg)],
            shard=Shard(0, 1),
            train_one=_write_version_then_die,
            record=lambda e, r: None,
            now=_fixed_now,
            report=lambda line: None,
            executor=pool,
        )
    assert summary.exit_code == EXIT_WORKER_LOST
    store = ModelStore(tmp_path)
    assert store.versions("alpha") == [] and store.pointer("alpha") is None
    assert [p.name[:5] for p in (tmp_path / "alpha" / "versions").iterdir()] == [".tmp-"], "only a temporary"


@pytest.mark.parametrize(
    ("files", "affinity", "expected"),
    [
        ({"cpu.max": "200000 100000\n"}, 16, 2),  # a pod limited to 2 CPUs on a 16-core node
        ({"cpu.max": "150000 100000\n"}, 16, 1),  # 1.5 CPUs: one job, not two on 1.5
        ({"cpu.max": "50000 100000\n"}, 16, 1),  # under one CPU: still one job
        ({"cpu.max": "max 100000\n"}, 4, 4),  # no limit: the affinity
        ({"cpu.max": "800000 100000\n"}, 3, 3),  # a limit above the cores it may run on
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 16, 3),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 6, 6),  # v1, no limit
        ({}, 2, 2),  # no cgroup files at all
    ],
)
def test_available_cpus_is_the_cgroup_quota_capped_by_the_affinity(tmp_path, files, affinity, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert available_cpus(affinity=lambda: set(range(affinity)), cgroup_root=tmp_path) == expected
