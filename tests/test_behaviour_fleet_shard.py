"""One shard's run as an operator reads it (:func:`forecaster.fleet.train_shard`), with fake training: what the
fleet costs (the CPU seconds of every target, failed ones included), what the summary line and the records say,
and a template's members trained and recorded as their own targets.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from forecaster.errors import ConfigError
from forecaster.fleet import Shard, train_shard
from forecaster.settings import PrometheusSettings, TargetConfig
from forecaster.target_sources import TargetEntry
from forecaster.templates import Template

BURN_S = 0.05


def _burn(seconds: float) -> None:
    """Use ``seconds`` of this process's CPU time."""
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def _result(name: str, promoted: bool = True) -> SimpleNamespace:
    return SimpleNamespace(
        saved=SimpleNamespace(version=f"{name}-v1"), promoted=promoted, reason="beats baseline"
    )


def _run(entries, train_one, **kw):
    recorded, lines = {}, []
    clock = iter(range(1000))
    summary = train_shard(
        entries,
        shard=Shard(0, 1),
        train_one=train_one,
        record=lambda e, r: recorded.__setitem__(e.name, r),
        now=lambda: "2026-11-30T02:17:00Z",
        monotonic=lambda: float(next(clock)),
        report=lines.append,
        **kw,
    )
    return summary, recorded, lines


def test_the_shards_cpu_seconds_add_up_every_targets_training():
    names = ["a", "b", "c", "d"]
    entries = [TargetEntry(name=n, config=TargetConfig(name=n)) for n in names]

    def train_one(cfg):
        _burn(BURN_S)
        if cfg.name == "b":
            raise RuntimeError("diverged")  # a failed target cost CPU too
        return _result(cfg.name)

    started = time.process_time()
    summary, _, lines = _run(entries, train_one)
    spent = time.process_time() - started
    assert len(names) * BURN_S <= summary.cpu_s <= spent + 1e-6, (summary.cpu_s, spent)
    assert lines[-1].endswith(f"({summary.cpu_s:.1f}s CPU)")


def test_the_summary_line_counts_outcomes_and_sums_the_durations():
    entries = [TargetEntry(name=n, config=TargetConfig(name=n)) for n in ("a", "b", "c")]

    def train_one(cfg):
        if cfg.name == "c":
            raise ValueError("bad data")
        return _result(cfg.name, promoted=cfg.name == "a")

    summary, recorded, lines = _run(entries, train_one)
    # Each target takes one tick of the fake clock: 3 targets, 3 seconds.
    assert lines[-1].startswith("shard 0/1: 3 of 3 targets: 1 promoted, 1 not promoted, 1 failed (c) in 3.0s")
    assert [r.duration_s for r in summary.records] == [1.0, 1.0, 1.0]
    assert recorded["c"].error == "ValueError: bad data" and recorded["c"].outcome == "Failed"
    assert recorded["b"].outcome == "NotPromoted" and recorded["b"].version == "b-v1"
    assert [r.shard for r in summary.records] == ["0/1"] * 3


def test_a_shard_trains_and_counts_only_the_targets_it_owns():
    names = [f"svc-{i}" for i in range(40)]
    entries = [TargetEntry(name=n, config=TargetConfig(name=n)) for n in names]
    trained: list[str] = []

    def train_one(cfg):
        trained.append(cfg.name)
        return _result(cfg.name)

    seen: list[str] = []
    for index in range(3):
        trained.clear()
        recorded: list[str] = []
        summary = train_shard(
            entries,
            shard=Shard(index, 3),
            train_one=train_one,
            record=lambda e, r, into=recorded: into.append(e.name),
            now=lambda: "2026-11-30T02:17:00Z",
            report=lambda line: None,
        )
        assert sorted(recorded) == sorted(trained) == sorted(r.target for r in summary.records)
        assert summary.total_declared == 40
        assert summary.line().startswith(f"shard {index}/3: {len(trained)} of 40 targets")
        seen += trained
    assert sorted(seen) == sorted(names)


def test_a_template_without_a_fetcher_is_refused_naming_its_declaration():
    web = TargetConfig(name="web", prometheus=PrometheusSettings(query="sum by (service) (rate(x[1m]))"))
    entries = [
        TargetEntry(name="web", config=web, template=Template(("service",)), origin="targets/web.yaml")
    ]
    with pytest.raises(ConfigError, match="targets/web.yaml: a template needs a fetcher"):
        _run(entries, lambda cfg, series=None: _result(cfg.name))


@pytest.mark.parametrize(("members", "more"), [(10, False), (12, True)])
def test_a_templates_status_names_its_first_ten_members_and_says_when_there_are_more(members, more):
    web = TargetConfig(name="web", prometheus=PrometheusSettings(query="sum by (service) (rate(x[1m]))"))
    keys = {(f"s{i:02d}",): f"series-{i}" for i in range(members)}
    recorded: dict = {}
    train_shard(
        [TargetEntry(name="web", config=web, template=Template(("service",), 50))],
        shard=Shard(0, 1),
        train_one=lambda cfg, series=None: _result(cfg.name),
        fetch_split=lambda cfg, template: keys,
        record=lambda e, r: recorded.__setitem__(e.name, r),
        now=lambda: "2026-11-30T02:17:00Z",
        report=lambda line: None,
    )
    status, reason, message = recorded["web"].expansion
    assert (status, reason) == ("True", "Expanded")
    assert message.startswith(f"{members} series by (service) of at most 50: web--s00, web--s01")
    assert "web--s09" in message and "web--s10" not in message
    assert message.endswith(" ...") is more
    assert len(recorded["web"].members) == members
