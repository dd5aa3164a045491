"""The mutation campaign's own bookkeeping (bench/mutation.py): which note explains which survivor, and which
functions a changed module must run again. Pure functions, no mutmut run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "bench_mutation", Path(__file__).parents[1] / "bench" / "mutation.py"
)
mutation = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = mutation  # its dataclasses look their module up
_SPEC.loader.exec_module(mutation)

DIFF = """--- forecaster/x.py
+++ forecaster/x.py
@@ -1,3 +1,3 @@
 def f(a):
-    return a + 1
+    return a - 1
"""


@pytest.mark.parametrize(
    ("note", "explained", "text"),
    [
        (None, None, "UNEXPLAINED"),
        ({"why": "equivalent: a reason", "line": None}, "equivalent: a reason", "equivalent: a reason"),
        (
            {"why": "equivalent: a reason", "line": "return a - 1"},
            "equivalent: a reason",
            "equivalent: a reason",
        ),
        (
            {"why": "equivalent: written for another", "line": "return a * 1"},
            None,
            "UNEXPLAINED (the note for this name was written for another mutant: equivalent: written for another)",
        ),
        # the line must be one the mutant adds, not one it removes
        ({"why": "harmless", "line": "return a + 1"}, None, None),
    ],
)
def test_a_note_explains_a_survivor_only_while_its_line_is_the_mutated_one(note, explained, text):
    notes = {} if note is None else {"m": note}
    why, shown = mutation._explanation("m", DIFF, notes)
    assert why == explained
    if text is not None:
        assert shown == text


def test_functions_are_named_as_mutmut_names_them_and_compared_without_comments():
    before = "def f(a):\n    return a + 1\n\n\nclass C:\n    def m(self):\n        return 2\n"
    after = "def f(a):\n    # a comment makes no mutant\n    return a + 1\n\n\nclass C:\n    def m(self):\n        return 3\n"
    old, new = mutation._functions(before), mutation._functions(after)
    assert sorted(new) == ["x_f", "x\u01c1C\u01c1m"]
    assert old["x_f"] == new["x_f"] and old["x\u01c1C\u01c1m"] != new["x\u01c1C\u01c1m"]
