"""A template's members' names as operators read them (:mod:`forecaster.templates`): readable (runs of odd
characters become one '-', no '-' at either end of the value, the only '--' the one after the template's
name), whole up to the 63 characters of a DNS label, cut without a dangling '-' beyond it; descriptions that
say which series a member forecasts; label names checked whole.
"""

from __future__ import annotations

import hashlib

import pytest

from forecaster.errors import ConfigError
from forecaster.settings import TARGET_NAME_RE, PrometheusSettings, TargetConfig
from forecaster.templates import Template, check_template, member_configs, member_name

QUERY = "sum by (service) (rate(http_requests_total[1m]))"


def _suffix(*values: str) -> str:
    return hashlib.sha256("\0".join(values).encode()).hexdigest()[:8]


@pytest.mark.parametrize(
    ("values", "readable"),
    [
        (("a..b",), "web--a-b"),
        (("a__/b",), "web--a-b"),
        (("-x-",), "web--x"),
        ((".checkout.",), "web--checkout"),
        (("EU", "a b"), "web--eu-a-b"),
    ],
)
def test_odd_characters_become_one_dash_and_never_a_second_separator(values, readable):
    name = member_name("web", values)
    assert name == f"{readable}-{_suffix(*values)}"
    assert name.count("--") == 1


def test_a_clean_name_of_exactly_63_characters_is_kept_whole():
    value = "x" * (63 - len("web--"))
    assert member_name("web", (value,)) == f"web--{value}"
    longer = member_name("web", (value + "y",))
    assert longer == f"web--{value[:49]}-{_suffix(value + 'y')}" and len(longer) == 63


def test_a_name_cut_at_a_dash_drops_the_dash_before_the_hash():
    # Cut to 54 characters (63 less the 8-hex suffix and its '-'), the 54th is a '-': no '--' before the hash.
    value = "x" * 48 + "-" + "y" * 20
    name = member_name("web", (value,))
    assert name == f"web--{'x' * 48}-{_suffix(value)}"
    assert TARGET_NAME_RE.match(name) and name.count("--") == 1


def test_a_member_without_a_description_is_described_by_its_labels_alone():
    cfg = TargetConfig(name="web", prometheus=PrometheusSettings(url="http://p:9090", query=QUERY, step="1m"))
    members = member_configs(cfg, Template(("service",)), [("a",), ("Checkout",)])
    assert [m.description for m in members] == ["(service=a)", "(service=Checkout)"]
    assert [m.name for m in members] == ["web--a", f"web--checkout-{_suffix('Checkout')}"]


@pytest.mark.parametrize("label", ["ser-vice", "service!", "service.zone", "a b"])
def test_a_split_label_must_be_a_label_name_throughout(label):
    with pytest.raises(ConfigError, match="distinct label names"):
        check_template(f"sum by ({label}) (x)", Template((label,)), where="ForecastTarget web", name="web")
