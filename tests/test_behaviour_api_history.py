"""The history a forecast request may ask for, on both ways a request is answered (the cached fast path, and
FastAPI's route for anything the fast path hands on): exactly ``max_history`` is served, a minute more is a 422
naming ``history``. The service under test has max_history 6h and a 5-minute step.
"""

from __future__ import annotations

import pytest

from tests.test_behaviour_api import client  # noqa: F401 (the module's served app, as a fixture)


@pytest.mark.parametrize("via", ["", "&via=route"], ids=["fast path", "route"])
def test_exactly_max_history_is_served_and_a_minute_more_is_refused(client, via):  # noqa: F811
    served = client.get(f"/v1/targets/a-web/forecast?history=6h{via}")
    assert served.status_code == 200, served.text
    assert len(served.json()["actual"]["values"]) == 72

    refused = client.get(f"/v1/targets/a-web/forecast?history=6h1m{via}")
    assert refused.status_code == 422
    assert [f["field"] for f in refused.json()["fields"]] == ["history"]
