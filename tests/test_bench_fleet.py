"""bench/fleet.py's choice of training targets: S processes of the Indexed Job must each get count/S of them,
or the "S processes" speed-up measures the hash partition's split instead of the scaling."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from forecaster.fleet import shard_index


def _bench_fleet():
    path = Path(__file__).resolve().parents[1] / "bench" / "fleet.py"
    spec = importlib.util.spec_from_file_location("bench_fleet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_first_names_are_what_made_the_old_split_uneven():
    # The reason for balanced_names: svc-0000..0003 all belong to shard 0 of 2.
    assert Counter(shard_index(f"svc-{i:04d}", 2) for i in range(4)) == {0: 4}


@pytest.mark.parametrize(
    ("count", "shards"), [(4, [1, 2]), (8, [1, 2, 4]), (6, [1, 2, 3]), (2, [1, 2]), (5, [1, 2])]
)
def test_training_names_split_evenly_over_every_shard_count(count, shards):
    names = _bench_fleet().balanced_names(count, shards=shards, available=1000)
    assert len(names) == len(set(names)) == count
    for s in shards:
        per_shard = Counter(shard_index(name, s) for name in names)
        assert max(per_shard.values()) == -(-count // s)
        assert sum(per_shard.values()) == count


def test_too_few_series_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backfill more"):
        _bench_fleet().balanced_names(4, shards=[1, 2], available=4)
