"""Which policies share one forecast (one Prometheus read, one forward pass) and what that read is: policies on the
same query and model share it only when they also need the same window (an accuracy guard judges further back
than the model reads), and an inline query is read at the step the policy gives.

Through :class:`~forecaster.prescaler.loop.Controller` and the real
:class:`~forecaster.prescaler.forecasts.StoreForecastProvider` (its ``fetch`` and ``load_model`` seams) against the
fake API server.
"""

from __future__ import annotations

import pandas as pd
from prometheus_client import CollectorRegistry

from forecaster.prescaler.forecasts import StoreForecastProvider
from forecaster.prescaler.loop import Controller, FleetSettings
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import CrdPolicySource
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, deployment, forecast_frame, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)
INLINE = {"query": "sum(rate(http_requests_total[1m]))", "modelPath": "/models/web"}


class _Model:
    step = "1min"
    lookback_steps = 20

    def predict(self, series: pd.Series) -> pd.DataFrame:
        last = float(series.dropna().iloc[-1])
        return forecast_frame(pd.Timestamp(series.index[-1]), p90=last, p50=last)


def _run(kube, reads):
    def fetch(settings, *, now, history):
        reads.append((settings.query, settings.step, history))
        return prescaler_helpers.history(now, value=300.0, minutes=180)

    provider = StoreForecastProvider(fetch=fetch, load_model=lambda path: _Model())
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=provider,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        fleet=FleetSettings(forecast_workers=2),
    )
    try:
        return {o.key: o for o in ctl.tick(NOW)}
    finally:
        ctl.shutdown(NOW)


def test_policies_on_one_query_share_a_read_only_when_they_need_the_same_window(fake_api, kube):
    for name in ("a", "b", "guarded"):
        fake_api.put(deployment(name, replicas=2))
    fake_api.put(policy("a", target="a", forecast=INLINE))
    fake_api.put(policy("b", target="b", forecast=INLINE))
    fake_api.put(
        policy("guarded", target="guarded", forecast=INLINE, accuracyGuard={"maxError": 0.5, "window": "2h"})
    )
    reads: list = []
    outcomes = _run(kube, reads)
    assert all(o.ready for o in outcomes.values()) and len(outcomes) == 3
    assert sorted(r[2] for r in reads) == [20 * MIN, 120 * MIN], "a and b share the 20-minute read"


def test_an_inline_query_is_read_at_the_policys_step(fake_api, kube):
    fake_api.put(deployment(replicas=2))
    fake_api.put(policy(forecast={**INLINE, "step": "5m"}))
    reads: list = []
    [outcome] = _run(kube, reads).values()
    assert reads == [(INLINE["query"], "5m", 20 * MIN)]
    assert outcome.ready and f"{NS}/live-api" == outcome.key
