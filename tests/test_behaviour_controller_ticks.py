"""What one tick owes every policy and what a replica owes the one that led before it: a slow forecast is waited
for half the policy's interval by default (then the policy fails safe and the tick goes on), and a replica
leading again decides from the state in the status, the newer one another leader wrote meanwhile.

Through :class:`~forecaster.prescaler.loop.Controller` against the fake API server, scripted forecasts, a fixed
clock for the decisions.
"""

from __future__ import annotations

import threading
import time

import pandas as pd

from forecaster.prescaler.loop import Controller, FleetSettings
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, FakeForecasts, deployment, policy, replicas

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


def make(kube, forecasts, **fleet) -> Controller:
    return prescaler_helpers.controller(kube, forecasts, fleet=FleetSettings(**fleet))


# -- the forecast deadline ----------------------------------------------------------------------------------


class _Blocked(FakeForecasts):
    """The policy named ``slow`` waits for ``release``; the others answer at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def forecast(self, policy, now):
        if policy.name == "slow":
            self.release.wait(30)
        return super().forecast(policy, now)


def test_by_default_a_slow_forecast_is_waited_for_half_the_policys_interval(fake_api, kube):
    fake_api.put(deployment("slow", replicas=4))
    fake_api.put(policy("slow", target="slow", interval="4s"))
    forecasts = _Blocked()
    ctl = make(kube, forecasts)  # no --forecast-deadline: half of the 4 s interval
    try:
        started = time.monotonic()
        [outcome] = ctl.tick(NOW)
        waited = time.monotonic() - started
        assert not outcome.ready
        assert "forecast not ready within its deadline (2s after the tick started)" in outcome.message
        assert waited >= 1.9, "the forecast had its half interval"
        assert replicas(fake_api, "slow") == 4, "no forecast: the replicas are kept"
    finally:
        forecasts.release.set()
        ctl.shutdown(NOW)


def test_an_explicit_deadline_replaces_the_half_interval(fake_api, kube):
    fake_api.put(deployment("slow", replicas=4))
    fake_api.put(policy("slow", target="slow", interval="1h"))
    forecasts = _Blocked()
    ctl = make(kube, forecasts, forecast_deadline_s=1.0)
    try:
        [outcome] = ctl.tick(NOW)
        assert not outcome.ready
        assert "forecast not ready within its deadline (1s after the tick started)" in outcome.message
    finally:
        forecasts.release.set()
        ctl.shutdown(NOW)


# -- leading again after another replica --------------------------------------------------------------------


def _failover(fake, kube, **fleet):
    """A leads at NOW (forecast 250: 3 replicas), then B for ten minutes (forecast 2,000: 20 replicas), then A
    again with a forecast of 250. Returns A's controller and its first outcome back."""
    fake.put(deployment(replicas=2))
    fake.put(policy())  # Replicas actuator, scaleDown.stabilizationWindow 5m
    forecasts = FakeForecasts(**{"live-api": 250.0})
    a = make(kube, forecasts, **fleet)
    a.tick(NOW)
    assert replicas(fake) == 3
    forecasts.by_policy["live-api"] = 2000.0
    b = make(kube, forecasts, **fleet)
    for minute in range(1, 11):
        b.tick(NOW + minute * MIN)
    assert replicas(fake) == 20
    forecasts.by_policy["live-api"] = 250.0
    [outcome] = a.tick(NOW + 11 * MIN)
    return a, outcome


def test_a_replica_leading_again_continues_from_the_state_the_other_leader_wrote(fake_api, kube):
    """Every change written at once: A continues exactly where B stopped. B's last 20 (at +10) holds the
    replicas for B's 5-minute stabilisation window; A's own state of ten minutes ago knows of no 20."""
    a, outcome = _failover(fake_api, kube, status_refresh_s=0)
    assert replicas(fake_api) == 20 and outcome.reason == "stabilizing"
    for minute in (12, 13, 14):
        a.tick(NOW + minute * MIN)
        assert replicas(fake_api) == 20, f"+{minute} min: B's 20 of +10 is inside the window"
    a.tick(NOW + 16 * MIN)
    assert replicas(fake_api) == 3, "B's 20 has left the window"


def test_a_replica_leading_again_never_stabilises_shorter_than_the_other_leader_would_have(fake_api, kube):
    """With the default status refresh the status may be up to five minutes behind B's own state (B recorded
    its 20 until +10, the status last says +7): A must hold the 20 at least until B's window would have ended
    (+15), as a freshly started replica does, never drop it at +12."""
    a, outcome = _failover(fake_api, kube)
    assert replicas(fake_api) == 20 and outcome.reason == "stabilizing"
    for minute in (12, 13, 14):
        a.tick(NOW + minute * MIN)
        assert replicas(fake_api) == 20, f"+{minute} min: B's 20 of +10 would still be inside its window"
    for minute in range(15, 22):
        a.tick(NOW + minute * MIN)
    assert replicas(fake_api) == 3, "the widened window ends too"
