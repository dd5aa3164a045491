"""The LSTM network: hyperparameters and ``forward`` only (no data handling, no I/O, no training).

Inputs come from :mod:`forecaster.windows` (per-window scaled). The head is direct multi-horizon: one
forward pass yields every step up to the horizon for every quantile. Quantiles cannot cross: the lowest is
predicted directly and each higher one adds a non-negative increment. Forecasts are a *correction* over
a simple anchor (a learned blend of the last value and the daily-lag value), which keeps an untrained
or uncertain network close to a sensible baseline and makes level shifts easy to follow.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["QuantileLSTM"]


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
