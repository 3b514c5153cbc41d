"""The forecasting network: a GRU encoder over 48 h and a GRU decoder over the known 10 h.

Outputs, all in mg/L:

- DO quantiles P10/P50/P90 at 21:00-06:00. The median path is the 20:00 level plus a cumulative
  sum of hourly changes; P10 and P90 sit below and above it by softplus spreads, so quantiles
  never cross.
- Quantiles of the night minimum at :data:`MIN_LEVELS`, monotone by construction. The
  probability that the minimum falls below any threshold is read off this distribution, so one
  network serves every species' threshold.

With the defaults the network has about 36 thousand parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from service.ml.features import FUT_FEATURES, HIST_FEATURES

QUANTILES = (0.1, 0.5, 0.9)
MIN_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 64
    head: int = 32
    hist_features: int = HIST_FEATURES
    fut_features: int = FUT_FEATURES

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class NightForecaster(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.encoder = nn.GRU(config.hist_features, h, batch_first=True)
        self.decoder = nn.GRU(config.fut_features, h, batch_first=True)
        self.path_head = nn.Sequential(
            nn.Linear(h, config.head), nn.GELU(), nn.Linear(config.head, 3)
        )
        self.min_head = nn.Sequential(
            nn.Linear(2 * h, config.head), nn.GELU(), nn.Linear(config.head, len(MIN_LEVELS))
        )

    def forward(
        self, hist: torch.Tensor, fut: torch.Tensor, level: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``hist`` (n, 48, F), ``fut`` (n, 10, G), ``level`` (n,) DO at 20:00.

        Returns path quantiles (n, 10, 3) and night-minimum quantiles (n, len(MIN_LEVELS)).
        """
        _, state = self.encoder(hist)
        dec, last = self.decoder(fut, state)
        raw = self.path_head(dec)
        median = level[:, None] + torch.cumsum(raw[..., 0], dim=1)
        low = median - F.softplus(raw[..., 1])
        high = median + F.softplus(raw[..., 2])
        path = torch.stack([low, median, high], dim=-1)
        summary = torch.cat([state[0], last[0]], dim=-1)
        m = self.min_head(summary)
        first = level[:, None] + m[:, :1]
        mins = torch.cat([first, first + torch.cumsum(F.softplus(m[:, 1:]), dim=1)], dim=1)
        return path, mins


def pinball(pred: torch.Tensor, target: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Mean quantile (pinball) loss; ``levels`` broadcasts over the last axis of ``pred``."""
    diff = target - pred
    return torch.maximum(levels * diff, (levels - 1.0) * diff).mean()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
