"""What one shard's run records for each declaration (:func:`forecaster.fleet.train_shard`), with fake training:
an unusable declaration, a template whose fetch failed (and why: too many series, none, another error), the
members in label order, the log line of a failure and the prescaler tuning's outcome in a record, and the
CPU budget under a cgroup v1 quota without a period.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from forecaster.fleet import EXIT_OK, EXIT_SOME_FAILED, Shard, available_cpus, record_line, train_shard
from forecaster.settings import PrometheusSettings, TargetConfig
from forecaster.sources.prometheus import NoSeriesError, TooManySeriesError
from forecaster.target_resource import TrainingRecord
from forecaster.target_sources import TargetEntry
from forecaster.templates import Template

WEB = TargetConfig(name="web", prometheus=PrometheusSettings(query="sum by (service) (rate(x[1m]))"))


def _result(name: str, tuning: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        saved=SimpleNamespace(version=f"{name}-v1"), promoted=True, reason="beats baseline", tuning=tuning
    )


def _run(entries, *, fetch_split=None, train_one=None):  # noqa: ANN001, ANN202
    recorded, lines = {}, []
    summary = train_shard(
        entries,
        shard=Shard(0, 1),
        train_one=train_one or (lambda cfg, series=None: _result(cfg.name)),
        fetch_split=fetch_split,
        record=lambda e, r: recorded.__setitem__(e.name, r),
        now=lambda: "2026-11-30T02:17:00Z",
        report=lines.append,
    )
    return summary, recorded, lines


def test_an_unusable_declaration_is_a_failed_target_with_its_error():
    entries = [
        TargetEntry(name="good", config=TargetConfig(name="good")),
        TargetEntry(name="broken", error="spec.model.horizon: not a duration"),
        TargetEntry(name="unnamed"),
    ]
    summary, recorded, lines = _run(entries)
    assert recorded["broken"].error == "spec.model.horizon: not a duration"
    assert recorded["unnamed"].error == "invalid declaration"
    assert [r.target for r in summary.failed] == ["broken", "unnamed"]
    assert summary.exit_code == EXIT_SOME_FAILED
    assert "broken: Failed in 0.0s: spec.model.horizon: not a duration" in lines


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            TooManySeriesError("the query yields 120 series, more than maxTargets 100", count=120),
            "TooManySeries",
        ),
        (NoSeriesError("the query matches no series"), "NoSeries"),
        (ConnectionError("prometheus unreachable"), "FetchFailed"),
    ],
)
def test_a_template_whose_fetch_failed_is_a_failed_target_saying_why(error, reason):
    def fetch(cfg, template):  # noqa: ANN001, ANN202
        raise error

    entries = [TargetEntry(name="web", config=WEB, template=Template(("service",)))]
    summary, recorded, lines = _run(entries, fetch_split=fetch)
    status, why, message = recorded["web"].expansion
    assert (status, why) == ("False", reason)
    assert str(error) in message
    assert recorded["web"].error == f"{type(error).__name__}: {error}"
    assert [r.target for r in summary.records] == ["web"] and summary.exit_code == EXIT_SOME_FAILED
    assert any(line.startswith("web: Failed") for line in lines)


def test_members_are_trained_and_recorded_in_the_order_of_their_label_values():
    trained = []

    def train_one(cfg, series=None):  # noqa: ANN001, ANN202
        trained.append((cfg.name, series))
        return _result(cfg.name)

    keys = {("zeta",): "z", ("alpha",): "a", ("mid",): "m"}  # as Prometheus happened to list them
    entries = [TargetEntry(name="web", config=WEB, template=Template(("service",)))]
    summary, recorded, _ = _run(entries, fetch_split=lambda cfg, template: keys, train_one=train_one)
    assert trained == [("web--alpha", "a"), ("web--mid", "m"), ("web--zeta", "z")]
    assert [m.target for m in recorded["web"].members] == ["web--alpha", "web--mid", "web--zeta"]
    assert summary.exit_code == EXIT_OK


def test_a_failure_is_logged_with_its_error_and_a_success_with_its_reason():
    failed = TrainingRecord(
        target="web", finished_at="t", duration_s=1.25, shard="0/1", reason="ignored", error="ValueError: bad"
    )
    assert record_line(failed) == "web: Failed in 1.2s: ValueError: bad"
    ok = TrainingRecord(
        target="web", finished_at="t", duration_s=2.0, shard="0/1", version="v9", reason="won"
    )
    assert record_line(ok) == "web: NotPromoted v9 in 2.0s: won"


def test_the_prescaler_tunings_outcome_is_part_of_the_record():
    entries = [
        TargetEntry(name="a", config=TargetConfig(name="a")),
        TargetEntry(name="b", config=TargetConfig(name="b")),
    ]

    def train_one(cfg):  # noqa: ANN001, ANN202
        return _result(cfg.name, tuning="tuned for p99 latency: 3 pods" if cfg.name == "a" else None)

    _, recorded, _ = _run(entries, train_one=train_one)
    assert recorded["a"].reason == "beats baseline; prescaler tuning: tuned for p99 latency: 3 pods"
    assert recorded["b"].reason == "beats baseline"


@pytest.mark.parametrize(("quota", "period"), [("200000", "-1"), ("-1", "100000"), ("200000", "0")])
def test_a_cgroup_v1_quota_without_a_period_or_limit_leaves_the_affinity(tmp_path, quota, period):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota)
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(period)
    assert available_cpus(affinity=lambda: {0, 1, 2, 3}, cgroup_root=tmp_path) == 4
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000")
    assert available_cpus(affinity=lambda: {0, 1, 2, 3}, cgroup_root=tmp_path) == 2
