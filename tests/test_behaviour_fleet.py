"""Fleet templates and sharding as operators rely on them (:mod:`forecaster.templates`, :mod:`forecaster.fleet`):
member names that never collide and stay DNS labels, member queries that select exactly their series,
template validation by field, shards that partition the fleet, the CPU budget, and exit codes.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from forecaster.errors import ConfigError
from forecaster.fleet import (
    COUNT_ENV,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_WORKER_LOST,
    INDEX_ENV,
    FleetSummary,
    Shard,
    available_cpus,
    shard_index,
)
from forecaster.settings import TARGET_NAME_RE, PrometheusSettings, TargetConfig
from forecaster.templates import (
    DEFAULT_MAX_TARGETS,
    LIMIT_MAX_TARGETS,
    Template,
    check_template,
    grouping_labels,
    member_configs,
    member_name,
    member_query,
)

QUERY = "sum by (service) (rate(http_requests_total[1m]))"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("checkout",), "web--checkout"),
        (("api-v2",), "web--api-v2"),
        (("a", "b"), "web--a-b"),
        (("42",), "web--42"),
    ],
)
def test_clean_values_name_members_as_they_are(values, expected):
    assert member_name("web", values) == expected


@pytest.mark.parametrize(
    "values",
    [("Checkout",), ("a.b",), ("a_b",), ("a/b",), ("",), ("-x-",), ("x" * 80,), ("a-b", "c"), ("ü",)],
)
def test_values_that_need_cleaning_get_a_hash_suffix_and_a_valid_name(values):
    name = member_name("web", values)
    suffix = hashlib.sha256("\0".join(values).encode()).hexdigest()[:8]
    assert name.endswith("-" + suffix)
    assert len(name) <= 63 and TARGET_NAME_RE.match(name), name
    assert name.startswith("web--")


@pytest.mark.parametrize(
    ("values", "readable"),
    [(("Checkout",), "web--checkout-"), (("EU", "Web"), "web--eu-web-"), (("Api.V2",), "web--api-v2-")],
)
def test_values_with_capitals_keep_their_letters_lowercased(values, readable):
    # A member's name must still say which service it forecasts: capitals are lowered, not dropped.
    assert member_name("web", values).startswith(readable)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("A",), ("a",)),
        (("a.b",), ("a_b",)),
        (("a-b", "c"), ("a", "b-c")),
        (("x" * 80 + "1",), ("x" * 80 + "2",)),
    ],
)
def test_different_values_never_share_a_member_name(one, other):
    assert member_name("web", one) != member_name("web", other)


def test_grouping_labels_reads_every_by_clause():
    assert grouping_labels("sum by (service, zone) (x) / on() group_left sum BY(pod)(y)") == {
        "service",
        "zone",
        "pod",
    }
    assert grouping_labels("sum(rate(x[1m]))") == set()


def test_a_member_query_selects_its_series_and_escapes_the_value():
    q = member_query(QUERY, ("service",), ('we"b\\$1\n',))
    assert q.startswith(f"({QUERY}) and on (service) label_replace(vector(1), ")
    assert '"service", "we\\"b\\\\$$1\\n", "", "")' in q
    two = member_query("sum by (a, b) (x)", ("a", "b"), ("1", "2"))
    assert two == (
        '(sum by (a, b) (x)) and on (a, b) label_replace(label_replace(vector(1), "a", "1", "", ""), '
        '"b", "2", "", "")'
    )


def test_member_configs_keep_everything_but_name_query_and_description():
    cfg = TargetConfig(
        name="web",
        description="HTTP",
        prometheus=PrometheusSettings(url="http://p:9090", query=QUERY, step="1m"),
    )
    members = member_configs(cfg, Template(("service",)), [("a",), ("b",)])
    assert [m.name for m in members] == ["web--a", "web--b"]
    assert members[0].prometheus.url == "http://p:9090" and members[0].prometheus.step == "1m"
    assert members[0].prometheus.query == member_query(QUERY, ("service",), ("a",))
    assert members[0].description == "HTTP (service=a)"
    assert members[1].model == cfg.model and members[1].store == cfg.store


@pytest.mark.parametrize(
    ("template", "query", "name", "says"),
    [
        (Template(()), QUERY, "web", "splitBy is empty"),
        (Template(("service", "service")), QUERY, "web", "distinct label names"),
        (Template(("1service",)), QUERY, "web", "distinct label names"),
        (Template(("service",), 0), QUERY, "web", "maxTargets 0"),
        (Template(("service",), LIMIT_MAX_TARGETS + 1), QUERY, "web", "maxTargets"),
        (Template(("zone",)), QUERY, "web", "does not aggregate by zone"),
        (Template(("service",)), "sum(rate(x[1m]))", "web", "does not aggregate by service"),
        (Template(("service",)), QUERY, "x" * 41, "at most 40 characters"),
    ],
)
def test_a_template_that_cannot_work_is_refused_naming_the_field(template, query, name, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        check_template(query, template, where="ForecastTarget web", name=name)


def test_template_boundaries_are_accepted():
    check_template(QUERY, Template(("service",), 1), where="w", name="x" * 40)
    check_template(QUERY, Template(("service",), LIMIT_MAX_TARGETS), where="w")
    assert Template(("service",)).max_targets == DEFAULT_MAX_TARGETS == 100


def test_a_template_may_split_by_a_label_with_capitals():
    # Prometheus label names allow capitals (e.g. serviceName from a Kubernetes annotation): the fleet can be
    # templated on them, and each member's query selects its own value of that label.
    query = "sum by (serviceName, Zone_2) (rate(http_requests_total[5m]))"
    check_template(query, Template(("serviceName", "Zone_2")), where="ForecastTarget web", name="web")
    assert 'on (serviceName) label_replace(vector(1), "serviceName", "checkout"' in member_query(
        query, ("serviceName",), ("checkout",)
    )


# -- shards ------------------------------------------------------------------------------------------------------


def test_shard_index_is_sha256_of_the_name_modulo_the_count():
    for name in ("web", "api", "web--checkout"):
        digest = hashlib.sha256(name.encode()).digest()
        assert shard_index(name, 7) == int.from_bytes(digest[:8], "big") % 7
    assert shard_index("anything", 1) == 0
    with pytest.raises(ConfigError):
        shard_index("web", 0)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_shards_partition_any_fleet(count):
    names = [f"t{i}" for i in range(200)]
    owners = [[s for s in range(count) if Shard(s, count).owns(n)] for n in names]
    assert all(len(o) == 1 for o in owners)


@pytest.mark.parametrize(
    ("text", "shard"), [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4)), (" 1 / 2 ", Shard(1, 2))]
)
def test_shard_flags(text, shard):
    assert Shard.parse(text) == shard
    assert str(Shard.parse(text)) == f"{shard.index}/{shard.count}"


@pytest.mark.parametrize("text", ["4/4", "1", "-1/2", "a/b", "0/0", "1/2/3"])
def test_bad_shard_flags_are_refused(text):
    with pytest.raises(ConfigError):
        Shard.parse(text)


@pytest.mark.parametrize(
    ("env", "shard"),
    [
        ({}, Shard(0, 1)),
        ({INDEX_ENV: "2", COUNT_ENV: "3"}, Shard(2, 3)),
        ({INDEX_ENV: "0", COUNT_ENV: "1"}, Shard()),
    ],
)
def test_shards_from_the_indexed_job(env, shard):
    assert Shard.from_env(env) == shard


@pytest.mark.parametrize(
    "env",
    [{INDEX_ENV: "1"}, {COUNT_ENV: "3"}, {INDEX_ENV: "x", COUNT_ENV: "3"}, {INDEX_ENV: "3", COUNT_ENV: "3"}],
)
def test_an_incomplete_or_bad_job_environment_is_refused(env):
    with pytest.raises(ConfigError):
        Shard.from_env(env)


@pytest.mark.parametrize(
    ("cpu_max", "affinity", "expected"),
    [
        ("max 100000", 8, 8),
        ("200000 100000", 8, 2),
        ("250000 100000", 8, 2),  # 2.5 CPUs: rounded down
        ("50000 100000", 8, 1),  # half a CPU: at least 1
        ("800000 100000", 4, 4),  # the affinity caps a larger quota
        (None, 3, 3),
    ],
)
def test_the_cpu_budget_is_the_quota_capped_by_the_affinity(tmp_path, cpu_max, affinity, expected):
    if cpu_max is not None:
        (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert available_cpus(affinity=lambda: set(range(affinity)), cgroup_root=tmp_path) == expected


def test_the_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus(affinity=lambda: set(range(8)), cgroup_root=tmp_path) == 3
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert available_cpus(affinity=lambda: set(range(8)), cgroup_root=tmp_path) == 8


class _Record:
    def __init__(self, target, outcome, error=None):
        self.target, self.outcome, self.error = target, outcome, error
        self.duration_s, self.reason, self.version = 1.5, "why", None


def test_exit_codes_say_what_a_retry_can_fix():
    ok = FleetSummary(
        Shard(), records=[_Record("a", "Promoted"), _Record("b", "NotPromoted")], total_declared=2
    )
    assert ok.exit_code == EXIT_OK == 0 and ok.failed == []
    some = FleetSummary(Shard(), records=[_Record("a", "Promoted"), _Record("b", "Failed", error="boom")])
    assert some.exit_code == EXIT_SOME_FAILED == 3 and [r.target for r in some.failed] == ["b"]
    some.worker_lost = True
    assert some.exit_code == EXIT_WORKER_LOST == 4
    line = FleetSummary(
        Shard(1, 2), records=[_Record("a", "Promoted"), _Record("b", "Failed", error="x")], total_declared=5
    ).line()
    assert line.startswith("shard 1/2: 2 of 5 targets: 1 promoted, 0 not promoted, 1 failed (b) in 3.0s")
