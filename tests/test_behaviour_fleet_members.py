"""A template's members across shards (:func:`forecaster.fleet.train_shard`): a member whose name is also
declared on its own is trained once, by the shard that owns the declaration, never also by the template's
shard (two shards would race to write the same target's versions and status).
"""

from __future__ import annotations

from types import SimpleNamespace

from forecaster.fleet import Shard, shard_index, train_shard
from forecaster.settings import PrometheusSettings, TargetConfig
from forecaster.target_sources import TargetEntry
from forecaster.templates import Template

QUERY = "sum by (service) (rate(http_requests_total[1m]))"


def _entries():
    web = TargetConfig(name="web", prometheus=PrometheusSettings(query=QUERY))
    return [
        TargetEntry(name="web", config=web, template=Template(("service",))),
        TargetEntry(name="web--checkout", config=TargetConfig(name="web--checkout")),
    ]


def _shard(index: int, count: int) -> tuple[list[str], dict]:
    trained: list[str] = []
    recorded: dict = {}

    def train_one(cfg, series=None):
        trained.append(cfg.name)
        return SimpleNamespace(saved=SimpleNamespace(version="v1"), promoted=True, reason="beats baseline")

    train_shard(
        _entries(),
        shard=Shard(index, count),
        train_one=train_one,
        fetch_split=lambda cfg, template: {("checkout",): "s1", ("cart",): "s2"},
        record=lambda e, r: recorded.__setitem__(e.name, r),
        now=lambda: "2026-11-30T02:17:00Z",
        report=lambda line: None,
    )
    return trained, recorded


def test_a_member_declared_on_its_own_in_another_shard_is_trained_once_by_that_shard():
    count = 2
    assert shard_index("web", count) != shard_index("web--checkout", count)  # the case: two shards
    everywhere = []
    for index in range(count):
        trained, recorded = _shard(index, count)
        everywhere += trained
        if index == shard_index("web", count):
            members = {m.target: m for m in recorded["web"].members}
            assert (
                members["web--checkout"].error is not None
                and "declared on its own" in members["web--checkout"].error
            )
            assert members["web--cart"].error is None
    assert sorted(everywhere) == ["web--cart", "web--checkout"]


def test_with_one_shard_the_declared_member_is_still_trained_once():
    trained, _ = _shard(0, 1)
    assert sorted(trained) == ["web--cart", "web--checkout"]
