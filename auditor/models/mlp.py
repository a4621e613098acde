"""A small tabular MLP whose weights carry their own input scaling.

Shipped so that state dicts saved by ``auditor demo`` (and by users who adopt it) can be
rebuilt from an importable class: ``model.module: auditor.models.mlp:TabularMLP``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class TabularMLP(nn.Module):
    """Standardise inputs with stored mean/scale, then ReLU layers to one logit."""

    def __init__(self, n_features: int, hidden: Sequence[int] = (64, 32)) -> None:
        super().__init__()
        self.mean: torch.Tensor
        self.scale: torch.Tensor
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of the favourable outcome, shape (n,)."""
        z = (x - self.mean) / self.scale
        out: torch.Tensor = self.net(z).squeeze(-1)
        return out
