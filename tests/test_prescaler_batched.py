"""The prescaler's batched predict: many members' networks in one forward pass, answers equal to predict's."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.errors import DataError
from forecaster.model import Forecaster
from forecaster.prescaler import batched
from forecaster.prescaler.batched import predict_batch, stacked_forward
from forecaster.sources.synthetic import live_streaming
from forecaster.store import ModelStore

MODELS = Path(__file__).resolve().parent.parent / "models"
# float32 networks: the batched products add in another order than one network's, so results agree to
# float32 rounding (~1e-7 relative per product), not bit for bit.
RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def artifact() -> dict[str, bytes]:
    return ModelStore(MODELS).load_current("live-streaming-demo").to_bytes()


def member(files: dict[str, bytes], seed: int) -> Forecaster:
    """The committed model with its weights moved by a seed: members of one architecture, different weights."""
    model = Forecaster.from_bytes(files)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.network.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
    return model


def histories(count: int, *, shift: int) -> list[pd.Series]:
    return [
        live_streaming(days=3, seed=100 + i).iloc[: 4000 + 7 * i + shift] * (0.5 + 0.25 * i)
        for i in range(count)
    ]


def assert_same(got: list, expected: list[pd.DataFrame]) -> None:
    for g, e in zip(got, expected, strict=True):
        assert isinstance(g, pd.DataFrame), g
        pd.testing.assert_index_equal(g.index, e.index)
        assert list(g.columns) == list(e.columns) and g.attrs == e.attrs
        np.testing.assert_allclose(
            g.to_numpy(), e.to_numpy(), rtol=RTOL, atol=ATOL * float(e.abs().max().max())
        )


def test_batched_forecasts_equal_each_members_own_predict_tick_after_tick(artifact, monkeypatch):
    count = 4
    batched_models = [member(artifact, i) for i in range(count)]
    own_models = [member(artifact, i) for i in range(count)]
    passes, own_calls = [], []
    real_stacked = batched.stacked_forward
    monkeypatch.setattr(
        batched, "stacked_forward", lambda nets, *a: passes.append(len(nets)) or real_stacked(nets, *a)
    )
    real_network = Forecaster._network

    def counting(self, *a, **kw):
        own_calls.append(self)
        return real_network(self, *a, **kw)

    for shift in (0, 1, 2):  # a point per tick
        hs = histories(count, shift=shift)
        expected = [m.predict(h) for m, h in zip(own_models, hs, strict=True)]
        passes.clear()
        with monkeypatch.context() as m:
            m.setattr(Forecaster, "_network", counting)
            own_calls.clear()
            got = predict_batch(batched_models, hs)
        assert_same(got, expected)
        assert passes == [count], "every member's network ran in one stacked pass"
        assert not any(c in batched_models for c in own_calls), "no member ran its own network"


def test_members_asking_for_many_origins_run_their_own_pass_at_once(artifact, monkeypatch):
    """A cold start (every origin the skill weighting judges) is already one pass per member: no batch."""
    monkeypatch.setattr(batched, "MAX_BATCHED_ORIGINS", 0)
    monkeypatch.setattr(batched, "stacked_forward", lambda *a: pytest.fail("no stacked pass expected"))
    models, reference = [member(artifact, i) for i in range(3)], [member(artifact, i) for i in range(3)]
    hs = histories(3, shift=0)
    heard = []
    got = predict_batch(models, hs, on_each=lambda i, answer: heard.append(i))
    assert heard == [0, 1, 2]
    assert_same(got, [m.predict(h) for m, h in zip(reference, hs, strict=True)])


def test_members_that_cannot_join_the_batch_still_get_their_own_answer(artifact):
    ok = [member(artifact, i) for i in range(3)]
    reference = [member(artifact, i) for i in range(3)]
    hs = histories(3, shift=0)
    short = hs[1].iloc[:30]  # shorter than the network needs: the statistical fallback, no network call
    hourly = hs[2].resample("1h").mean()  # another step than the model's: its own DataError
    got = predict_batch(ok, [hs[0], short, hourly])
    assert_same([got[0]], [reference[0].predict(hs[0])])
    assert got[1].attrs["answered_by"] == "fallback:recent-mean"
    pd.testing.assert_frame_equal(got[1], reference[1].predict(short))
    assert isinstance(got[2], DataError) and "step" in str(got[2])
    heard = []
    predict_batch([member(artifact, 5)], [short], on_each=lambda i, a: heard.append((i, type(a).__name__)))
    assert heard == [(0, "DataFrame")]


def test_stacked_forward_is_each_networks_forward():
    from forecaster.nn import QuantileLSTM

    torch.manual_seed(0)
    nets = [
        QuantileLSTM(
            past_features=6, future_features=5, horizon=4, n_quantiles=3, hidden_size=8, num_layers=2
        ).eval()
        for _ in range(3)
    ]
    for net in nets:  # away from the persistence initialisation, so every weight matters
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.3 * torch.randn(p.shape))
    past, future, level = torch.randn(3, 5, 12, 6), torch.randn(3, 5, 4, 5), torch.randn(3, 5, 1)
    got = stacked_forward(nets, past, future, level)  # [M, N, H, Q]
    with torch.no_grad():
        expected = torch.stack([net(past[m], future[m], level[m]) for m, net in enumerate(nets)])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_a_member_whose_network_reads_anscombe_units_gets_its_own_forecast(artifact):
    # The network of a model trained on counts reads 2 sqrt(y + 3/8) and answers in those units
    # (forecaster.model.to_network_scale); the batched pass must build its windows from, and return its
    # outputs in, the same units as the model's own network call.
    count = 3
    batched_models = [member(artifact, i) for i in range(count)]
    own_models = [member(artifact, i) for i in range(count)]
    for m in (*batched_models[1:], *own_models[1:]):  # members 1, 2: Anscombe; member 0: none
        m.architecture["value_transform"] = "anscombe"
    assert own_models[1].value_transform == "anscombe" and own_models[0].value_transform == "none"
    for shift in (0, 1):
        hs = histories(count, shift=shift)
        expected = [m.predict(h) for m, h in zip(own_models, hs, strict=True)]
        assert_same(predict_batch(batched_models, hs), expected)
