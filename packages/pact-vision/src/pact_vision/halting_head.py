"""The spatial halting head ``h = sigmoid(conv3x3(u) + W * avgpool(u) + b)`` (sec. 4.1)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["INIT_BIAS", "HaltingHead"]

INIT_BIAS = -3.0


class HaltingHead(nn.Module):
    """Halting logits per spatial position: a local 3x3 term plus a global pooled term.

    The bias starts at -3, as in SACT and PACT supplement B, so that a pretrained ResNet
    loaded into the model at first runs (almost) every unit. The weights start at zero,
    so every position starts at exactly ``h = sigmoid(-3)``; they get gradients at once.

    Args:
        channels: ``C``, the channels of the unit output ``u`` the head reads.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.local = nn.Conv2d(channels, 1, 3, padding=1, bias=False)
        self.bias = nn.Parameter(torch.full((), INIT_BIAS))
        self.pooled = nn.Linear(channels, 1, bias=False)
        nn.init.zeros_(self.local.weight)
        nn.init.zeros_(self.pooled.weight)

    def forward(self, u: Tensor) -> Tensor:
        """Map ``u: [B, C, H, W]`` to halting logits ``[B, H, W]``."""
        global_term: Tensor = self.pooled(u.mean(dim=(2, 3)))  # [B, 1]
        local: Tensor = self.local(u)  # [B, 1, H, W]
        return local.squeeze(1) + global_term.unsqueeze(-1) + self.bias
