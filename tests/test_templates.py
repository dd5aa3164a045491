"""Fleet templates (pure part): member names, member queries, and the checks on a template's declaration."""

from __future__ import annotations

import pytest

from forecaster.errors import ConfigError
from forecaster.settings import TARGET_NAME_RE
from forecaster.target_resource import target_config_from_object, template_from_object
from forecaster.templates import (
    Template,
    check_template,
    grouping_labels,
    member_configs,
    member_name,
    member_query,
)

QUERY = "sum by (service) (rate(http_requests_total[1m]))"

# (description, label values, expected name: None = hashed, check only validity and uniqueness)
NAMES = [
    ("plain", ("checkout",), "web--checkout"),
    ("two labels", ("eu", "checkout"), "web--eu-checkout"),
    ("upper case is cleaned and hashed", ("Checkout",), None),
    ("dots and slashes", ("api.v2/orders",), None),
    ("too long", ("x" * 80,), None),
    ("nothing usable", ("___",), None),
]


@pytest.mark.parametrize(("values", "expected"), [n[1:] for n in NAMES], ids=[n[0] for n in NAMES])
def test_member_names_are_dns_labels(values, expected):
    name = member_name("web", values)
    assert TARGET_NAME_RE.match(name) and len(name) <= 63
    if expected is not None:
        assert name == expected
    else:
        assert name.startswith("web--") and len(name.rsplit("-", 1)[1]) == 8


def test_cleaned_names_never_collide():
    values = [("Checkout",), ("checkout!",), ("CHECKOUT",), ("checkout",)]
    names = [member_name("web", v) for v in values]
    assert len(set(names)) == len(names)


def test_member_query_escapes_label_values():
    q = member_query(QUERY, ("service",), ('we"ird\\$1',))
    assert q == (f'({QUERY}) and on (service) label_replace(vector(1), "service", "we\\"ird\\\\$$1", "", "")')


def test_grouping_labels():
    assert grouping_labels("sum by (service, zone) (x) / on() group_left sum(y)") == {"service", "zone"}
    assert grouping_labels("sum(x)") == set()


# (description, template, query, words in the error)
BAD_TEMPLATES = [
    ("query not grouped", Template(("service",)), "sum(rate(x[1m]))", "does not aggregate by service"),
    ("wrong label", Template(("zone",)), QUERY, "does not aggregate by zone"),
    ("bad label name", Template(("service-name",)), QUERY, "label names"),
    ("duplicate", Template(("service", "service")), QUERY, "distinct"),
    ("empty", Template(()), QUERY, "splitBy is empty"),
    ("cap too big", Template(("service",), max_targets=50_000), QUERY, "maxTargets 50000"),
    ("cap zero", Template(("service",), max_targets=0), QUERY, "maxTargets 0"),
]


@pytest.mark.parametrize(
    ("template", "query", "words"), [b[1:] for b in BAD_TEMPLATES], ids=[b[0] for b in BAD_TEMPLATES]
)
def test_bad_templates_are_rejected(template, query, words):
    with pytest.raises(ConfigError, match=words):
        check_template(query, template, where="ForecastTarget web")


def test_a_template_declaration_round_trips():
    obj = {
        "apiVersion": "forecasting.forecaster.io/v1alpha1",
        "kind": "ForecastTarget",
        "metadata": {"name": "web"},
        "spec": {"prometheus": {"query": QUERY}, "splitBy": ["service"], "maxTargets": 20},
    }
    cfg = target_config_from_object(obj)
    assert template_from_object(obj) == Template(("service",), 20)
    members = member_configs(cfg, Template(("service",)), [("a",), ("b",)])
    assert [m.name for m in members] == ["web--a", "web--b"]
    assert members[0].prometheus.query == member_query(QUERY, ("service",), ("a",))
    assert members[0].model == cfg.model and members[0].store == cfg.store
    obj["spec"]["prometheus"]["query"] = "sum(rate(x[1m]))"
    with pytest.raises(ConfigError, match="spec.prometheus.query does not aggregate by service"):
        target_config_from_object(obj)
    del obj["spec"]["splitBy"]
    with pytest.raises(ConfigError, match="spec.maxTargets needs spec.splitBy"):
        target_config_from_object(obj)
    assert template_from_object({"spec": {"prometheus": {"query": "up"}}}) is None


def test_member_names_cannot_equal_another_declarations_targets():
    """'--' is reserved: a member's name starts with exactly its template's name, which holds no '--'."""
    assert member_name("web", ("a-b",)) != member_name("web-a", ("b",))
    assert member_name("web", ("a-b",)) == "web--a-b" and member_name("web-a", ("b",)) == "web-a--b"
    assert "--" not in member_name("web", ("a--b",)).split("--", 1)[1], "a cleaned value never holds '--'"
    long_name = "t" * 41
    with pytest.raises(ConfigError, match="at most 40 characters"):
        check_template(QUERY, Template(("service",)), where="ForecastTarget x", name=long_name)
    obj = {
        "apiVersion": "forecasting.forecaster.io/v1alpha1",
        "kind": "ForecastTarget",
        "metadata": {"name": "web--a"},
        "spec": {"prometheus": {"query": "up"}},
    }
    with pytest.raises(ConfigError, match="reserved for the targets a template generates"):
        target_config_from_object(obj)
