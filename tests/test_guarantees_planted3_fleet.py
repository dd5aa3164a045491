"""Template behaviours that campaign 3 of the planted bugs showed no test held (bench/results/planted3.md).

Through :func:`forecaster.templates.member_name` only.
"""

from __future__ import annotations

import pytest

from forecaster.settings import TARGET_NAME_RE
from forecaster.templates import member_name


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("Web-Api", "eu"), ("Web", "Api-eu")),  # cleaned (upper case): the hash must see where values split
        (("a_b", "c"), ("a", "b_c")),
        (("x" * 70,), ("x" * 69 + "y",)),  # shortened to fit 63 characters
    ],
)
def test_label_values_that_clean_to_the_same_text_get_different_member_names(one, other):
    """Values that had to be cleaned or shortened get a hash of the raw values *as a tuple*: two different
    value sets never share a member name (one target would train over the other's)."""
    a, b = member_name("shop", one), member_name("shop", other)

    assert a != b
    assert TARGET_NAME_RE.match(a) and TARGET_NAME_RE.match(b) and len(a) <= 63 and len(b) <= 63


def test_clean_label_values_that_join_to_the_same_text_get_different_member_names():
    assert member_name("shop", ("a-b", "c")) != member_name("shop", ("a", "b-c"))
