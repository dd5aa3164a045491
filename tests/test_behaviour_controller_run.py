"""The run loop's schedule: when a running prescaler reconciles. A replica reconciles as soon as it leads (at
start, and again each time it takes the lease back), then once per interval while it keeps leading, and never
while it stands by; the lease is renewed on every turn.

Through :meth:`~forecaster.prescaler.loop.Controller.run` against the fake API server, with a scripted leader
(which turns lead) and a clock that stops the loop after a fixed number of turns.
"""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, FakeForecasts, deployment, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

S = pd.Timedelta(seconds=1)


class _ScriptedLeader:
    """Leads on the turns the script says; records every ensure and release."""

    def __init__(self, script: list[bool]) -> None:
        self.script = list(script)
        self.leading = False
        self.ensured: list[pd.Timestamp] = []
        self.released = False

    def ensure(self, now: pd.Timestamp) -> bool:
        self.leading = self.script[len(self.ensured)] if len(self.ensured) < len(self.script) else False
        self.ensured.append(now)
        return self.leading

    def release(self, now: pd.Timestamp) -> None:
        self.released = True
        self.leading = False


def _run(kube, script: list[bool], *, interval_s: float = 3600.0) -> tuple[FakeForecasts, _ScriptedLeader]:
    """Run the loop for ``len(script)`` turns (a turn each clock read); the interval is long, so only taking
    the lead can cause a reconcile after the first."""
    forecasts = FakeForecasts(**{"live-api": 700.0})
    elector = _ScriptedLeader(script)
    ctl = prescaler_helpers.controller(kube, forecasts, elector=elector)
    stop = threading.Event()
    turns: list[int] = []

    def clock() -> pd.Timestamp:
        turns.append(1)
        if len(turns) >= len(script):
            stop.set()
        return NOW + len(turns) * S

    ctl.run(stop=stop, interval_s=interval_s, renew_s=0.001, clock=clock)
    return forecasts, elector


@pytest.mark.parametrize(
    ("script", "reconciles"),
    [
        pytest.param([True, True, True], 1, id="leading throughout: once per interval"),
        pytest.param([False, False, False], 0, id="standby throughout: never"),
        pytest.param([False, True, True], 1, id="takes the lead: at once"),
        pytest.param([True, False, True], 2, id="loses and takes back the lead: at once again"),
        pytest.param([True, False, False, True, True, False, True], 3, id="every time it takes the lead"),
    ],
)
def test_a_replica_reconciles_at_once_each_time_it_takes_the_lead(fake_api, kube, script, reconciles):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy())
    forecasts, elector = _run(kube, script)
    assert len(forecasts.calls) == reconciles
    # Each reconcile happened on a turn it led, with that turn's clock.
    led_at = [now for now, leads in zip(elector.ensured, script, strict=True) if leads]
    assert {now for _, now in forecasts.calls} <= set(led_at)
    assert len(elector.ensured) == len(script)  # the lease is renewed on every turn
    assert elector.released


def test_a_leader_reconciles_again_once_its_interval_has_passed(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy())
    forecasts, _ = _run(kube, [True] * 4, interval_s=0.0)
    assert len(forecasts.calls) == 4
    # A standby replica never reconciles, whatever the interval.
    forecasts, _ = _run(kube, [False] * 4, interval_s=0.0)
    assert forecasts.calls == []
