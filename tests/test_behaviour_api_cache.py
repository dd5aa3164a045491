"""The forecast service's cache with a fixed clock: when a target is refreshed again (a new model, a failure),
what a refresh keeps, and what a stale or failed target says.

Through :class:`~forecaster.api.cache.ForecastService` with a scripted source (tests/test_behaviour_api.py's
``_service``): no server, no Prometheus.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from forecaster.api.cache import ServingModel
from forecaster.errors import ModelStoreError
from tests.test_api_support import MutableClock
from tests.test_behaviour_api import T0, _RaisingModel, _service


def test_a_new_model_after_a_failed_refresh_is_used_at_the_next_tick_not_after_the_retry_interval():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)
    assert svc.refresh("web")
    clock.advance("1min")
    source.fail = True
    assert svc.refresh("web") is False
    source.fail = False
    clock.advance("1s")
    svc.set_model("web", ServingModel.baseline("a new model arrived"))
    # The retry interval (15s) is for the failing source; a new model is worth a refresh at once.
    assert svc.due(state, clock()) is True
    assert svc.refresh("web") and state.entry.note == "a new model arrived"
    assert svc.stale_reason(state, clock()) is None


@pytest.mark.parametrize(
    "error",
    [ModelStoreError("the model file is damaged"), ZeroDivisionError("a model bug")],
    ids=["a forecaster error", "a bug"],
)
def test_a_failing_model_is_a_failed_refresh_not_a_source_error(error):
    # forecaster_source_errors_total is what the Prometheus-is-down alert reads: a model failing must not
    # page the people who run Prometheus.
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)
    state.model = ServingModel(predictor=_RaisingModel(error), kind="model", name="m", version="v1")
    assert svc.refresh("web") is False
    assert svc.stale_reason(state, clock()).startswith("forecast failed")
    assert svc.metrics.source_errors.labels("web")._value.get() == 0
    assert svc.metrics.refreshes.labels("web", "error")._value.get() == 1
    # The control: the source failing is one.
    source.fail = True
    clock.advance("1min")
    assert svc.refresh("web") is False
    assert svc.metrics.source_errors.labels("web")._value.get() == 1


def test_rendered_views_are_kept_least_recently_used_first_out():
    # A body is rendered once per view (quantiles x history) and kept: a dashboard polling one view costs no
    # rendering. Past the bound (64 views) the view used longest ago goes, never the one just rendered.
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    assert svc.refresh("web")

    def view(steps: int):
        return svc.render(state, quantiles=("p50",), history_steps=steps, now=clock())

    first, polled = view(1), view(2)
    for steps in range(3, 67):  # 64 more views: 66 in all, two over the bound
        assert view(2) is polled  # the polled view stays cached, used again and again
        newest = view(steps)
        assert view(steps) is newest, "the view just rendered is kept"
    assert view(2) is polled
    assert view(1) is not first, "the view used longest ago was evicted and is rendered again"


def test_quantiles_configured_in_any_order_are_listed_and_answered_in_ascending_order():
    from forecaster.api.cache import ForecastService, TargetState
    from forecaster.api.metrics import ServiceMetrics
    from forecaster.api.quantiles import select_quantiles
    from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig
    from tests.test_behaviour_api import _Source

    clock = MutableClock(T0 + pd.Timedelta("10s"))
    cfg = TargetConfig(
        name="web",
        prometheus=PrometheusSettings(query="up", step="1m"),
        model=ModelSettings(quantiles=(0.9, 0.1, 0.5)),
    )
    state = TargetState(config=cfg, source=_Source(), model=ServingModel.baseline("no trained model"))
    svc = ForecastService(
        [state],
        clock=clock,
        max_history=pd.Timedelta("24h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
    )
    assert svc.refresh("web")
    assert state.quantile_labels == ["p10", "p50", "p90"]
    every = select_quantiles(None, state.quantile_labels, location="query")
    body = json.loads(svc.render(state, quantiles=every, history_steps=5, now=clock()).body(0.0))
    assert body["quantiles"] == ["p10", "p50", "p90"]
    assert list(body["forecast"]["values"]) == ["p10", "p50", "p90"]
