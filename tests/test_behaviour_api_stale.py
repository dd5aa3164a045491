"""A cached forecast body never outlives its freshness (:class:`forecaster.api.cache.ForecastService`): the same
view asked again once the forecast has gone stale says so, even though its body was rendered (and cached) while
it was fresh; and once a refresh succeeds again it is fresh again.
"""

from __future__ import annotations

import json

import pandas as pd

from tests.test_api_support import MutableClock
from tests.test_behaviour_api import T0, _service

VIEW = {"quantiles": ("p50", "p90"), "history_steps": 10}


def _body(svc, state, clock):
    return json.loads(svc.render(state, now=clock(), **VIEW).body(0.0))


def test_a_view_rendered_while_fresh_says_stale_once_the_forecast_is():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)  # stale after 3 steps of 1 minute
    assert svc.refresh("web")
    fresh = _body(svc, state, clock)
    assert fresh["stale"] is False and fresh["stale_reason"] is None

    source.fail = True  # the source goes away: no refresh succeeds from now on
    clock.advance("3min")
    clock.advance("1s")
    svc.refresh("web")
    stale = _body(svc, state, clock)
    assert stale["stale"] is True and "history query failed" in stale["stale_reason"]
    assert stale["generated_at"] == fresh["generated_at"]  # the same forecast, now said to be stale

    source.fail = False
    clock.advance("1min")
    assert svc.refresh("web")
    again = _body(svc, state, clock)
    assert again["stale"] is False and again["generated_at"] != fresh["generated_at"]


def test_time_alone_makes_a_cached_view_stale():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    assert svc.refresh("web")
    assert _body(svc, state, clock)["stale"] is False
    clock.advance("3min")
    clock.advance("1s")  # no refresh attempted at all (a stuck refresher)
    body = _body(svc, state, clock)
    assert body["stale"] is True and body["stale_reason"] == "not refreshed for more than 3m"
