"""API behaviours that campaign 2 of the planted bugs showed no test held (bench/results/planted2.md).

Over HTTP against ``create_app`` served by uvicorn on 127.0.0.1, with the tiny model and fixed source of
tests/test_api_bad_input.py (no Prometheus).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.test_api_bad_input import SERIES, SETTINGS, TARGET, _client, _history
from tests.test_api_bad_input import model as model  # noqa: F401 - the module-scoped fixture

MAX_POINTS = 400


@pytest.fixture(scope="module")
def limited(model):  # noqa: F811 - the fixture imported above
    with _client(model, replace(SETTINGS, max_points=MAX_POINTS)) as client:
        yield client


def test_a_history_of_exactly_max_points_is_accepted_and_one_more_is_refused(limited):
    """The documented limit is 'at most max_points': the limit itself is allowed."""
    at_limit = limited.post(
        "/v1/forecast", json={"model": TARGET, "history": _history(SERIES.iloc[-MAX_POINTS:], n=MAX_POINTS)}
    )
    assert at_limit.status_code == 200, at_limit.text
    over = limited.post(
        "/v1/forecast",
        json={"model": TARGET, "history": _history(SERIES.iloc[-MAX_POINTS - 1 :], n=MAX_POINTS + 1)},
    )
    assert over.status_code == 422, over.text
    body = over.json()
    assert [f["field"] for f in body["fields"]] == ["history.timestamps"]
    assert f"{MAX_POINTS + 1} points; at most {MAX_POINTS} are accepted" in body["error"] + str(
        body["fields"]
    )
