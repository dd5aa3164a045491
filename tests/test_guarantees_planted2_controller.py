"""Controller behaviours that campaign 2 of the planted bugs showed no test held (bench/results/planted2.md).

Through public surfaces only: :func:`forecaster.prescaler.batched.predict_batch` against each model's own
``predict``; controllers electing a leader through the fake Kubernetes API server.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import torch
from prometheus_client import CollectorRegistry

from forecaster.model import Forecaster
from forecaster.prescaler.batched import predict_batch
from forecaster.prescaler.kube import KubeClient
from forecaster.prescaler.leader import LeaderElector
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.prescaler.policy_sources import CrdPolicySource
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.sources.synthetic import live_streaming_events
from forecaster.training import fit_forecaster
from tests import prescaler_helpers
from tests.fake_kube_api import FakeKubeApiServer
from tests.prescaler_helpers import NOW, FakeForecasts

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


@pytest.fixture(scope="module")
def event_model():
    """A tiny model trained with a calendar of several kinds, and that scenario."""
    torch.set_num_threads(1)
    scenario = live_streaming_events(days=5, step="5m", seed=5)
    model = fit_forecaster(
        scenario.series.iloc[:1100],
        model=ModelSettings(lookback="1h", hidden_size=8),
        train=TrainSettings(epochs=1, blend=False, max_windows_per_epoch=200, seed=0),
        name="events",
        events=scenario.calendar,
    )
    assert len(model.events.kinds) >= 2, "the averaging over known kinds needs two of them"
    return scenario, model.to_bytes()


def test_batched_forecasts_with_an_unseen_event_kind_equal_the_models_own(event_model):
    """A kind never seen in training is forecast as the average over the known kinds; a member batched with
    others must get that same average, not the forecast of one relabelled calendar."""
    scenario, files = event_model
    known = scenario.calendar.kinds
    calendar = scenario.calendar.relabel({known[0]: "premiere"})  # a kind the model never saw
    index = scenario.series.index
    starts = [int(index.searchsorted(e.start.tz_convert("UTC").tz_localize(None))) for e in calendar.events]
    # Origins an hour after a start of the unseen kind (after the training range), where the network, not the
    # event profile, forecasts and reads the time since that start: there the kinds differ.
    at = next(
        s
        for s, e in zip(starts, calendar.events, strict=True)
        if e.kind == "premiere" and 1150 <= s < len(index)
    )
    batched = [Forecaster.from_bytes(files) for _ in range(2)]
    own = [Forecaster.from_bytes(files) for _ in range(2)]
    probe = Forecaster.from_bytes(files)
    for m in batched:  # members whose predict reads their calendar
        m.predict = functools.partial(Forecaster.predict, m, events=calendar)
    for shift in (0, 1, 2):  # the first tick is a cold start (own passes), the next ones are batched
        histories = [scenario.series.iloc[: at + 14 + shift], scenario.series.iloc[: at + 16 + shift] * 0.7]
        expected = [m.predict(h, events=calendar) for m, h in zip(own, histories, strict=True)]
        got = predict_batch(batched, histories)
        spread = [probe.predict(histories[0], events=c) for c in probe.events.variants(calendar)]
        assert max(float((s - spread[0]).abs().max().max()) for s in spread) > 1.0, (
            "the kinds must differ here"
        )
        for g, e in zip(got, expected, strict=True):
            assert isinstance(g, pd.DataFrame), g
            np.testing.assert_allclose(
                g.to_numpy(), e.to_numpy(), rtol=1e-5, atol=1e-6 * float(e.abs().max().max())
            )


# -- leader election ------------------------------------------------------------------------------------------

LEASE_S = 10.0
S = pd.Timedelta(seconds=1)


def _replica(kube: KubeClient, identity: str) -> Controller:
    return Controller(
        policies=CrdPolicySource(kube),
        forecasts=FakeForecasts(),
        kube=kube,
        metrics=PrescalerMetrics(CollectorRegistry()),
        elector=LeaderElector(kube, namespace="forecaster", identity=identity, lease_duration_s=LEASE_S),
        identity=identity,
    )


def _lease(fake: FakeKubeApiServer) -> dict:
    obj = fake.get("leases", "forecaster", "forecaster-prescaler")
    assert obj is not None
    return obj["spec"]


def test_a_replica_that_lost_the_lease_does_not_release_the_new_leaders_on_shutdown(fake_api, kube):
    """A leader that stalled (a long GC pause, a partition) and lost its lease to a standby must not, when it
    shuts down, free the lease the standby now holds: a third replica would lead alongside it."""
    a, b = _replica(kube, "prescaler-a"), _replica(kube, "prescaler-b")
    a.tick(NOW)
    assert a.elector.leading
    b.tick(NOW + S)
    assert not b.elector.leading
    b.tick(NOW + S + pd.Timedelta(seconds=LEASE_S + 1))  # a stopped renewing: b takes over the expired lease
    assert b.elector.leading and _lease(fake_api)["holderIdentity"] == "prescaler-b"
    transitions = _lease(fake_api)["leaseTransitions"]

    a.shutdown(NOW + pd.Timedelta(seconds=LEASE_S + 5))  # a still believes it leads

    spec = _lease(fake_api)
    assert spec["holderIdentity"] == "prescaler-b"
    assert spec["leaseTransitions"] == transitions
    assert spec["leaseDurationSeconds"] == int(LEASE_S)


def test_a_released_lease_is_marked_free_as_client_go_marks_it(fake_api, kube):
    """On a clean shutdown the lease is written free: no holder and a one-second duration (client-go's
    ReleaseOnCancel), so any elector watching it, ours or another tool's, sees it free at once."""
    a = _replica(kube, "prescaler-a")
    a.tick(NOW)
    before = _lease(fake_api)
    assert before["leaseDurationSeconds"] == int(LEASE_S)

    a.shutdown(NOW + S)

    spec = _lease(fake_api)
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == before["leaseTransitions"]  # a release is not a transition
