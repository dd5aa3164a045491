"""The probes of a running prescaler (what the kubelet restarts or routes on): not ready until the first pass has
finished, a standby replica ready, and a loop that is merely slow (a long tick, retries) still live: only one
stuck for three wake periods plus two minutes fails ``healthz``.

Through :meth:`~forecaster.prescaler.loop.Controller.run` in a thread against the fake API server (one policy,
a forecast the test releases); the loop's monotonic clock is then moved forward to ask the probes later on.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

import forecaster.prescaler.loop as loop_module
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import CrdPolicySource
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, FakeForecasts, deployment, policy
from tests.test_api_support import wait_for

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


class _Elector:
    def __init__(self, leading: bool) -> None:
        self.leading = leading

    def ensure(self, now):
        return self.leading

    def release(self, now):
        self.leading = False


class _Gated(FakeForecasts):
    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def forecast(self, policy, now):
        self.entered.set()
        self.release.wait(30)
        return super().forecast(policy, now)


def _running(kube, forecasts, *, elector, interval_s=60.0):
    ctl = Controller(
        policies=CrdPolicySource(kube),
        forecasts=forecasts,
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        elector=elector,
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=ctl.run, kwargs=dict(stop=stop, interval_s=interval_s, renew_s=5.0, clock=lambda: NOW)
    )
    return ctl, stop, thread


def _later(monkeypatch, seconds: float) -> None:
    """The loop's monotonic clock, ``seconds`` ahead of the real one."""
    real = time.monotonic
    monkeypatch.setattr(
        loop_module,
        "time",
        SimpleNamespace(monotonic=lambda: real() + seconds, perf_counter=time.perf_counter),
    )


def test_ready_only_once_the_first_pass_is_done_and_live_throughout(fake_api, kube):
    fake_api.put(deployment(replicas=2))
    fake_api.put(policy())
    forecasts = _Gated()
    ctl, stop, thread = _running(kube, forecasts, elector=_Elector(True))
    assert ctl.health("readyz")[0] is False and ctl.health("healthz") == (True, "starting")
    thread.start()
    try:
        assert forecasts.entered.wait(30)
        assert ctl.health("readyz") == (False, "first pass running")
        assert ctl.health("healthz")[0] is True
        forecasts.release.set()
        wait_for(lambda: ctl.health("readyz")[0], what="the first pass")
        assert ctl.health("readyz") == (True, "leader")
    finally:
        forecasts.release.set()
        stop.set()
        thread.join(30)


def test_a_standby_replica_is_ready(fake_api, kube):
    ctl, stop, thread = _running(kube, FakeForecasts(), elector=_Elector(False))
    thread.start()
    try:
        wait_for(lambda: ctl.health("readyz")[0], what="the first turn")
        assert ctl.health("readyz") == (True, "standby") and ctl.health("healthz")[0] is True
    finally:
        stop.set()
        thread.join(30)


@pytest.mark.parametrize(
    ("elector", "interval_s", "still_live", "stuck"),
    [
        (True, 60.0, 100.0, 140.0),  # wakes every 5 s to renew the lease: 3 x 5 s + 120 s
        (False, 60.0, 250.0, 305.0),  # no lease: wakes every interval, 3 x 60 s + 120 s
    ],
)
def test_a_slow_loop_stays_live_and_a_stuck_one_does_not(
    fake_api, kube, monkeypatch, elector, interval_s, still_live, stuck
):
    ctl, stop, thread = _running(
        kube, FakeForecasts(), elector=_Elector(True) if elector else None, interval_s=interval_s
    )
    thread.start()
    wait_for(lambda: ctl.health("readyz")[0], what="the first turn")
    stop.set()
    thread.join(30)
    _later(monkeypatch, still_live)
    assert ctl.health("healthz")[0] is True, (
        "a tick that takes a while (retries, slow Prometheus) is not a hang"
    )
    _later(monkeypatch, stuck)
    healthy, why = ctl.health("healthz")
    assert healthy is False and why.startswith("reconcile loop stuck for")
