"""The forecast gauge a dashboard plots (``forecaster_prescaler_forecast``): the peak of each quantile over the
planning window [now, now + lead + interval], both ends included. A model's forecast starts at ``now`` itself
(its history ends one step before), so a peak at ``now`` is in the window.

Through the controller against the fake API server.
"""

from __future__ import annotations

import pandas as pd

from forecaster.prescaler.forecasts import ForecastResult
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, FakeForecasts, controller, deployment, gauge, history, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


def _frame(values_p90, values_p50):
    index = pd.date_range(NOW, periods=len(values_p90), freq="1min")  # from now itself
    return pd.DataFrame({"p50": values_p50, "p90": values_p90}, index=index)


def _gauge(ctl, quantile):
    return gauge(ctl, "forecaster_prescaler_forecast", namespace=NS, policy="live-api", quantile=quantile)


def test_a_peak_exactly_at_now_is_the_gauges_value(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(leadTime="3m", interval="1m"))
    frame = _frame([500.0, 100, 100, 100, 100, 900, 900], [400.0, 80, 80, 80, 80, 700, 700])
    ctl = controller(
        kube, FakeForecasts(**{"live-api": ForecastResult(frame=frame, history=history(NOW, value=10.0))})
    )
    ctl.tick(NOW)
    assert _gauge(ctl, "p90") == 500.0  # at now; now + 5 min (900) is beyond now + 3 + 1
    assert _gauge(ctl, "p50") == 400.0


def test_a_peak_exactly_at_the_windows_end_is_the_gauges_value(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(leadTime="3m", interval="1m"))
    frame = _frame([100.0, 100, 100, 100, 600, 900], [80.0, 80, 80, 80, 450, 700])
    ctl = controller(
        kube, FakeForecasts(**{"live-api": ForecastResult(frame=frame, history=history(NOW, value=10.0))})
    )
    ctl.tick(NOW)
    assert _gauge(ctl, "p90") == 600.0 and _gauge(ctl, "p50") == 450.0
