"""Many targets' forecasts with one forward pass: the prescaler's batched predict for a template's members.

Each member of a template has its own model (its own weights), so one ``network(x)`` cannot serve them
all; but members trained with the same architecture can run as one batch with their weights stacked
(``[M, ...]`` per parameter) and every matrix product done as a batched product (``torch.bmm``): one pass
over the lookback for all M members instead of M passes.

:func:`predict_batch` keeps each member's answer exactly what ``model.predict(history)`` answers, because it
*is* ``model.predict``: a first call per member learns which origins the model's network would be asked
for (the model reuses what it computed on the previous tick, so at a steady state that is one origin) and
stops there; the networks then run for every member at once; a second call to ``predict`` receives those
outputs in place of the model's own network call. A member whose model is not the known network
(another architecture, a different module layout), which asks for many origins at once (a cold start: its
own batch of origins is already one pass), or whose second call asks for something else is computed by its
own network, as before (the first at once). Errors stay per member.

This module must not fetch data, touch the cluster or decide capacity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecaster.model import from_network_scale, to_network_scale
from forecaster.nn import QuantileLSTM
from forecaster.windows import make_windows

__all__ = ["predict_batch", "stacked_forward", "MAX_BATCHED_ORIGINS"]

MAX_BATCHED_ORIGINS = 8
"""Members whose network is asked for more origins than this (a cold start: every origin the skill weighting
judges) run their own pass at once, which is already a batch over their origins: batching them saves no
work and would hold every member's answer until the whole batch is done."""
MAX_ROWS = 8192
"""Windows (members x origins, padded) in one stacked pass: bounds its memory (~[rows, lookback, features])."""


class _Asked(Exception):  # noqa: N818 - a control-flow signal, not an error anyone sees
    """Raised from inside ``predict`` by the first call: what the model's network was asked for."""

    def __init__(self, values: np.ndarray, index: pd.DatetimeIndex, origins: np.ndarray, events: Any) -> None:
        super().__init__("network request recorded")
        self.values, self.index, self.origins, self.events = values, index, origins, events


@dataclass
class _Request:
    member: int
    asked: _Asked
    past: list[np.ndarray]  # one array [N, L, Fp] per calendar variant
    future: list[np.ndarray]
    level: list[np.ndarray]
    scale: list[np.ndarray]


def predict_batch(
    models: Sequence[Any],
    histories: Sequence[pd.Series],
    *,
    max_rows: int = MAX_ROWS,
    on_each: Callable[[int, pd.DataFrame | Exception], None] | None = None,
) -> list[pd.DataFrame | Exception]:
    """``[model.predict(history) for ...]`` with the networks of compatible members run as one batch.

    Returns, per member, the forecast or the exception its ``predict`` raised (nothing raises here);
    ``on_each(i, answer)`` hears of member i's answer as soon as it exists (one answered without its network,
    or failing before it, does not wait for the batch). Members that share one model object must not be
    passed together (each call mutates its model's cache).
    """

    def settle(i: int, answer: pd.DataFrame | Exception) -> None:
        results[i] = answer
        if on_each is not None:
            on_each(i, answer)

    if len(models) != len(histories):
        raise ValueError(f"{len(models)} models but {len(histories)} histories")
    results: list[pd.DataFrame | Exception | None] = [None] * len(models)
    requests: list[_Request] = []
    for i, (model, history) in enumerate(zip(models, histories, strict=True)):
        try:
            asked = _first_call(model, history)
        except Exception:  # its own error, or a model whose network call this module does not know:
            try:  # predict as it is, which raises the member's own error, if any
                settle(i, model.predict(history))
            except Exception as exc:
                settle(i, exc)
            continue
        if isinstance(asked, pd.DataFrame):  # answered without the network (all reused, or the fallback)
            settle(i, asked)
            continue
        if len(asked.origins) > MAX_BATCHED_ORIGINS:
            try:
                settle(i, model.predict(history))
            except Exception as exc:
                settle(i, exc)
            continue
        requests.append(_windows(i, model, asked))
    outputs: dict[int, np.ndarray] = {}
    groups: dict[tuple, list[_Request]] = {}
    for req in requests:
        key = _signature(models[req.member], req)
        if key is None:
            continue  # its own network, in its second call
        groups.setdefault(key, []).append(req)
    for members in groups.values():
        for part in _chunks(sorted(members, key=lambda r: len(r.asked.origins)), max_rows=max_rows):
            for req, raw in zip(part, _run_group([models[r.member] for r in part], part), strict=True):
                # Back from the unit the network reads (model.to_network_scale), as the model's own call does.
                outputs[req.member] = from_network_scale(raw, _transform(models[req.member]))
    for req in requests:
        model, history = models[req.member], histories[req.member]
        try:
            settle(req.member, _second_call(model, history, req.asked, outputs.get(req.member)))
        except Exception as exc:
            settle(req.member, exc)
    return [r if r is not None else RuntimeError("no forecast made") for r in results]


def _chunks(reqs: list[_Request], *, max_rows: int) -> list[list[_Request]]:
    """Consecutive runs of ``reqs`` (sorted by origins asked) whose padded rows stay within ``max_rows``."""
    out: list[list[_Request]] = []
    for req in reqs:
        n = len(req.asked.origins)
        if out and (len(out[-1]) + 1) * n <= max_rows:  # sorted: n is the widest so far
            out[-1].append(req)
        else:
            out.append([req])
    return out


def _first_call(model: Any, history: pd.Series) -> pd.DataFrame | _Asked:
    """Run ``predict`` until its network call; the call's arguments, or the forecast when there was none."""

    def record(values, index, origins, *, events=None):  # noqa: ANN001, ANN202 - model._network's signature
        raise _Asked(values, index, np.asarray(origins, dtype=np.int64), events)

    model._network = record
    try:
        return model.predict(history)
    except _Asked as asked:
        return asked
    finally:
        del model._network


def _second_call(model: Any, history: pd.Series, asked: _Asked, raw: np.ndarray | None) -> pd.DataFrame:
    """``predict`` again, its network call answered by ``raw`` when it asks for exactly what it asked before."""
    if raw is None:
        return model.predict(history)
    own = type(model)._network

    def answer(values, index, origins, *, events=None):  # noqa: ANN001, ANN202
        if (
            np.array_equal(np.asarray(origins), asked.origins)
            and events is asked.events
            and values.shape == asked.values.shape
            and np.array_equal(values, asked.values)
        ):
            return raw
        return own(model, values, index, origins, events=events)

    model._network = answer
    try:
        return model.predict(history)
    finally:
        del model._network


def _windows(member: int, model: Any, asked: _Asked) -> _Request:
    """The network inputs the model's ``_network`` would build for the request (one set per calendar)."""
    calendars = model.events.variants(asked.events) if model.events is not None else [None]
    values = to_network_scale(asked.values, _transform(model))  # the unit the network reads
    req = _Request(member, asked, [], [], [], [])
    for calendar in calendars:
        w = make_windows(
            values,
            asked.index,
            spec=model.spec,
            scaler=model.scaler,
            origins=asked.origins,
            with_target=False,
            step=model.step,
            events=calendar,
            event_spec=model.events,
        )
        req.past.append(w.past)
        req.future.append(w.future)
        req.level.append(w.level)
        req.scale.append(w.scale)
    return req


def _transform(model: Any) -> str:
    """The value transform the model's network reads (``none`` for models without the property)."""
    return str(getattr(model, "value_transform", "none"))


_PARAMS = {
    "head.0.weight",
    "head.0.bias",
    "head.2.weight",
    "head.2.bias",
    "anchor_mix.weight",
    "anchor_mix.bias",
}


def _signature(model: Any, req: _Request) -> tuple | None:
    """Members with equal signatures run together; None: this one runs its own network."""
    net = getattr(model, "network", None)
    if type(net) is not QuantileLSTM or net.training:
        return None
    head = net.head
    if not (
        isinstance(head, nn.Sequential)
        and len(head) == 3
        and isinstance(head[0], nn.Linear)
        and type(head[1]) is nn.GELU
        and head[1].approximate == "none"
        and isinstance(head[2], nn.Linear)
        and net.lstm.batch_first
        and not net.lstm.bidirectional
        and net.lstm.proj_size == 0
        and net.lstm.bias
    ):
        return None
    named = dict(net.named_parameters())
    lstm = {
        f"lstm.{p}_l{k}"
        for k in range(net.lstm.num_layers)
        for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    if set(named) != _PARAMS | lstm:
        return None
    shapes = tuple((k, tuple(p.shape), p.dtype) for k, p in sorted(named.items()))
    inputs = (len(req.past),) + tuple(a.shape[1:] for a in (*req.past, *req.future))
    return (shapes, net.horizon, net.n_quantiles, inputs)


@torch.no_grad()
def _run_group(models: list[Any], reqs: list[_Request]) -> list[np.ndarray]:
    """The raw outputs ``[N, H, Q]`` (scaled back, averaged over calendar variants) of each member."""
    nets = [m.network for m in models]
    sizes = [len(r.asked.origins) for r in reqs]
    width = max(sizes)
    outs: list[list[np.ndarray]] = [[] for _ in reqs]
    for v in range(len(reqs[0].past)):
        past = _pad([r.past[v] for r in reqs], width)  # [M, N, L, Fp]
        future = _pad([r.future[v] for r in reqs], width)  # [M, N, H, Ff]
        level = _pad([r.level[v] for r in reqs], width)  # [M, N, 1]
        out = stacked_forward(nets, past, future, level)  # [M, N, H, Q]
        for j, (r, n) in enumerate(zip(reqs, sizes, strict=True)):
            outs[j].append(out[j, :n].numpy().astype(np.float64) * r.scale[v][:, None, None])  # [N, H, Q]
    return [np.mean(o, axis=0) for o in outs]  # [N, H, Q] each


def _pad(arrays: list[np.ndarray], width: int) -> torch.Tensor:
    """Stack per-member arrays ``[N_m, ...]`` into ``[M, width, ...]`` (zero rows past each member's N_m)."""
    first = arrays[0]
    out = np.zeros((len(arrays), width, *first.shape[1:]), dtype=first.dtype)
    for j, a in enumerate(arrays):
        out[j, : len(a)] = a
    return torch.from_numpy(out)


def stacked_forward(
    nets: Sequence[QuantileLSTM], past: torch.Tensor, future: torch.Tensor, level: torch.Tensor
) -> torch.Tensor:
    """:meth:`QuantileLSTM.forward` of M networks of one architecture on their own inputs, as one batch.

    past [M, N, L, Fp], future [M, N, H, Ff], level [M, N, 1] -> [M, N, H, Q]. Member m's rows go through
    member m's weights only (every product is a batched product over the member axis).
    """
    first = nets[0]
    M, N, L, _ = past.shape
    dtype = next(first.parameters()).dtype
    past, future, level = past.to(dtype), future.to(dtype), level.to(dtype)
    params = [dict(net.named_parameters()) for net in nets]

    def stack(name: str) -> torch.Tensor:
        return torch.stack([p[name] for p in params])  # [M, ...]

    x = past  # [M, N, L, F]
    for k in range(first.lstm.num_layers):
        w_ih, w_hh = stack(f"lstm.weight_ih_l{k}"), stack(f"lstm.weight_hh_l{k}")  # [M, 4h, F], [M, 4h, h]
        bias = stack(f"lstm.bias_ih_l{k}") + stack(f"lstm.bias_hh_l{k}")  # [M, 4h]
        hidden = w_hh.shape[-1]
        # The input projection of every step at once: [M, N*L, F] @ [M, F, 4h] -> [M, N, L, 4h]
        xw = (
            torch.bmm(x.reshape(M, N * L, -1), w_ih.transpose(1, 2)).view(M, N, L, -1)
            + bias[:, None, None, :]
        )
        h = past.new_zeros(M, N, hidden)  # [M, N, h]
        c = past.new_zeros(M, N, hidden)
        w_hh_t = w_hh.transpose(1, 2)  # [M, h, 4h]
        steps = []
        for t in range(L):
            gates = xw[:, :, t] + torch.bmm(h, w_hh_t)  # [M, N, 4h]
            i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch's gate order
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            if k + 1 < first.lstm.num_layers:
                steps.append(h)
        if k + 1 < first.lstm.num_layers:
            x = torch.stack(steps, dim=2)  # [M, N, L, h] (no dropout: the networks are in eval mode)
    summary = h  # [M, N, h]: the last layer's final hidden state
    joint = torch.cat([summary, future.flatten(2), level], dim=2)  # [M, N, h + H*Ff + 1]
    H, Q = first.horizon, first.n_quantiles
    last = past[:, :, -1:, 0]  # [M, N, 1]
    lag = future[:, :, :, 0]  # [M, N, H]

    def linear(name: str, inp: torch.Tensor) -> torch.Tensor:
        w, b = stack(f"{name}.weight"), stack(f"{name}.bias")  # [M, out, in], [M, out]
        return torch.baddbmm(b[:, None, :], inp, w.transpose(1, 2))  # [M, N, out]

    mix = torch.sigmoid(linear("anchor_mix", joint))  # [M, N, H]
    anchor = (1 - mix) * last + mix * lag  # [M, N, H]
    raw = linear("head.2", nn.functional.gelu(linear("head.0", joint))).view(M, N, H, Q)  # [M, N, H, Q]
    base = anchor.unsqueeze(-1) + raw[..., :1]  # [M, N, H, 1]
    if Q == 1:
        return base
    steps_q = nn.functional.softplus(raw[..., 1:])  # [M, N, H, Q-1]
    return torch.cat([base, base + torch.cumsum(steps_q, dim=-1)], dim=-1)  # [M, N, H, Q]
