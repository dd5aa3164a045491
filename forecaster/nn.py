"""The LSTM network: hyperparameters and ``forward`` only (no data handling, no I/O, no training).

Inputs come from :mod:`forecaster.windows` (per-window scaled). The head is direct multi-horizon: one
forward pass yields every step up to the horizon for every quantile. Quantiles cannot cross: the lowest is
predicted directly and each higher one adds a non-negative increment. Forecasts are a *correction* over
a simple anchor (a learned blend of the last value and the daily-lag value), which keeps an untrained
or uncertain network close to a sensible baseline and makes level shifts easy to follow.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["EnsembleLSTM", "QuantileLSTM"]


class QuantileLSTM(nn.Module):
    def __init__(
        self,
        *,
        past_features: int,
        future_features: int,
        horizon: int,
        n_quantiles: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.horizon = horizon
        self.n_quantiles = n_quantiles
        self.lstm = nn.LSTM(
            input_size=past_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        joint = hidden_size + horizon * future_features + 1
        self.head = nn.Sequential(
            nn.Linear(joint, hidden_size * 2),
            nn.GELU(),
            nn.Linear(hidden_size * 2, horizon * n_quantiles),
        )
        # How much of the anchor comes from the daily lag rather than the last value, per horizon step.
        self.anchor_mix = nn.Linear(joint, horizon)
        self._init_as_last_value()

    @torch.no_grad()
    def _init_as_last_value(self) -> None:
        """Start from a persistence forecast with a narrow band; training learns the corrections.

        A freshly initialised head adds noise of the order of the level itself; starting at "the last
        value" makes even a briefly trained model at least as good as that baseline.
        """
        out = self.head[-1]
        nn.init.zeros_(out.weight)
        bias = out.bias.view(self.horizon, self.n_quantiles)
        bias[:, 0] = 0.0
        bias[:, 1:] = -3.0  # softplus(-3) ~ 0.05: a band of ~5% of the level per quantile step
        nn.init.zeros_(self.anchor_mix.weight)
        nn.init.constant_(self.anchor_mix.bias, -2.0)  # sigmoid(-2) ~ 0.12 weight on yesterday

    def forward(self, past: torch.Tensor, future: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        # past [B, L, Fp], future [B, H, Ff], level [B, 1]
        _, (h, _) = self.lstm(past)  # h [layers, B, hidden]
        summary = h[-1]  # [B, hidden]
        joint = torch.cat([summary, future.flatten(1), level], dim=1)  # [B, hidden + H*Ff + 1]
        last = past[:, -1:, 0]  # [B, 1]   last observed y/scale
        lag = future[:, :, 0]  # [B, H]   daily-lag y/scale at each forecast step
        mix = torch.sigmoid(self.anchor_mix(joint))  # [B, H]
        anchor = (1 - mix) * last + mix * lag  # [B, H]
        raw = self.head(joint).view(-1, self.horizon, self.n_quantiles)  # [B, H, Q]
        base = anchor.unsqueeze(-1) + raw[..., :1]  # [B, H, 1]
        if self.n_quantiles == 1:
            return base
        steps = nn.functional.softplus(raw[..., 1:])  # [B, H, Q-1]
        return torch.cat([base, base + torch.cumsum(steps, dim=-1)], dim=-1)  # [B, H, Q]


ENSEMBLE_BANDS = ("mean", "widest")


class EnsembleLSTM(nn.Module):
    """K quantile LSTMs of the same shape trained from different seeds, forecasting together.

    ``band``: how the members' quantiles combine. ``"mean"`` (models saved before ``ensemble_band``): the mean
    of every quantile. Averaging the members' p90 paths smooths them: where the members put their peaks at
    different steps the mean's peak is lower than any member's, and the true 30-minute peak beat the p90
    peak by >10% more often (Twitter IBM 0.10 -> 0.18 of windows at the same per-step coverage).
    ``"widest"``: the p50 is the members' mean and each other quantile is the mean p50 plus the widest
    member's distance to its own p50 at that step (the largest above the median, the most negative below),
    so every member's peak is kept in the band. Neither can cross: the mean of non-decreasing vectors is
    non-decreasing, and so is the elementwise max (min) of non-decreasing distances above (below) the
    median. ``median``: the p50's index among the quantiles (needed by ``"widest"``). Outside
    training the K networks run as one (:meth:`_fused`): one LSTM whose hidden state is the K members' side by
    side (block-diagonal weights) and batched heads, so a forecast costs one pass, not K (``predict`` runs a
    single window, where the per-call overhead, not the arithmetic, is the cost).
    """

    def __init__(self, members: list[QuantileLSTM], *, band: str = "mean", median: int | None = None) -> None:
        super().__init__()
        if band not in ENSEMBLE_BANDS:
            raise ValueError(f"ensemble band {band!r} is not one of {', '.join(ENSEMBLE_BANDS)}")
        n_quantiles = members[0].n_quantiles
        if band == "widest" and not (median is not None and 0 <= median < n_quantiles):
            raise ValueError(f"the widest-member band needs the median's index among {n_quantiles} quantiles")
        self.members = nn.ModuleList(members)
        self.horizon = members[0].horizon
        self.n_quantiles = n_quantiles
        self.band = band
        self.median = median
        self._fused_state: dict[str, Any] | None = None

    def _together(self, each: torch.Tensor) -> torch.Tensor:
        """The members' forecasts ``[K, B, H, Q]`` as one ``[B, H, Q]`` (see ``band``)."""
        if self.band == "mean" or self.n_quantiles == 1:
            return each.mean(0)
        i = self.median
        p50 = each[..., i : i + 1]  # [K, B, H, 1]
        dist = each - p50
        # [B, H, Q]: the most negative distance below the median, the largest from it up (0 at the median).
        wide = torch.cat([dist[..., :i].amin(0), dist[..., i:].amax(0)], dim=-1)
        return p50.mean(0) + wide

    def train(self, mode: bool = True) -> EnsembleLSTM:
        self._fused_state = None  # weights may change: fuse again when next used for forecasting
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self._fused_state = None
        super()._load_from_state_dict(*args, **kwargs)

    def forward(self, past: torch.Tensor, future: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled() or self.members[0].lstm.num_layers != 1:
            return self._together(torch.stack([m(past, future, level) for m in self.members]))
        return self._fused_forward(past, future, level)

    @torch.no_grad()
    def _fused(self) -> dict[str, Any]:
        # Fused again whenever a member's weights changed since (in-place edits bump a tensor's version).
        version = tuple(p._version for p in self.parameters())
        if self._fused_state is None or self._fused_state["version"] != version:
            k, hid = len(self.members), self.members[0].lstm.hidden_size
            w_ih = torch.zeros(4, k, hid, self.members[0].lstm.input_size)
            w_hh = torch.zeros(4, k, hid, k, hid)
            bias = torch.zeros(4, k, hid)
            for j, m in enumerate(self.members):
                w_ih[:, j] = m.lstm.weight_ih_l0.view(4, hid, -1)
                w_hh[:, j, :, j] = m.lstm.weight_hh_l0.view(4, hid, hid)
                bias[:, j] = (m.lstm.bias_ih_l0 + m.lstm.bias_hh_l0).view(4, hid)
            lstm = nn.LSTM(self.members[0].lstm.input_size, k * hid, batch_first=True).eval()
            lstm.weight_ih_l0.copy_(w_ih.reshape(4 * k * hid, -1))
            lstm.weight_hh_l0.copy_(w_hh.reshape(4 * k * hid, k * hid))
            lstm.bias_ih_l0.copy_(bias.reshape(-1))
            lstm.bias_hh_l0.zero_()
            lstm.requires_grad_(False)
            self._fused_state = {
                "version": version,
                "lstm": lstm,  # in a plain dict: derived from the members, never saved with them
                "w1": torch.stack([m.head[0].weight for m in self.members]).transpose(1, 2),  # [K, J, 2h]
                "b1": torch.stack([m.head[0].bias for m in self.members]).unsqueeze(1),  # [K, 1, 2h]
                "w2": torch.stack([m.head[2].weight for m in self.members]).transpose(1, 2),
                "b2": torch.stack([m.head[2].bias for m in self.members]).unsqueeze(1),
                "wa": torch.stack([m.anchor_mix.weight for m in self.members]).transpose(1, 2),
                "ba": torch.stack([m.anchor_mix.bias for m in self.members]).unsqueeze(1),
            }
        return self._fused_state

    def _fused_forward(self, past: torch.Tensor, future: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        f = self._fused()
        k, hid = len(self.members), self.members[0].lstm.hidden_size
        b = past.shape[0]
        _, (h, _) = f["lstm"](past)  # h [1, B, K*hid]: the members' hidden states side by side
        summary = h[-1].view(b, k, hid).transpose(0, 1)  # [K, B, hid]
        shared = torch.cat([future.flatten(1), level], dim=1).expand(k, -1, -1)  # [K, B, H*Ff + 1]
        joint = torch.cat([summary, shared], dim=2)  # [K, B, J]
        z = nn.functional.gelu(torch.baddbmm(f["b1"], joint, f["w1"]))
        raw = torch.baddbmm(f["b2"], z, f["w2"]).view(k, b, self.horizon, self.n_quantiles)
        mix = torch.sigmoid(torch.baddbmm(f["ba"], joint, f["wa"]))  # [K, B, H]
        last = past[:, -1:, 0]  # [B, 1]
        lag = future[:, :, 0]  # [B, H]
        anchor = (1 - mix) * last + mix * lag  # [K, B, H]
        base = anchor.unsqueeze(-1) + raw[..., :1]
        if self.n_quantiles > 1:
            steps = nn.functional.softplus(raw[..., 1:])
            base = torch.cat([base, base + torch.cumsum(steps, dim=-1)], dim=-1)
        return self._together(base)
