"""The spatial halting head ``h = sigmoid(conv3x3(u) + W * avgpool(u) + b)`` (sec. 4.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["INIT_BIAS", "NINE_TAPS_FROM", "HaltingHead", "single_output_conv3x3"]

INIT_BIAS = -3.0
#: Output positions (``B * H * W``) from which the nine-tap form beats the direct
#: convolution; measured on the development CPU (one thread, channels-last): at batch 1
#: the direct one took 9-40 us against 51-70 us, at batch 4 they were even, at batch 16
#: and up the nine taps were 1.2-2.4x faster.
NINE_TAPS_FROM = 4096


def single_output_conv3x3(
    u: Tensor, weight: Tensor, *, nine_taps_from: int = NINE_TAPS_FROM
) -> Tensor:
    """``conv2d(u, weight, padding=1)`` for a ``C -> 1`` 3x3 kernel, as nine shifted maps.

    A convolution with one output channel is a poor fit for the convolution libraries:
    on the development CPU oneDNN took as long for ``C -> 1`` as for ``C -> C`` at
    ``[64, 16, 32, 32]`` (2.8 ms). Computing the nine taps at once as a ``C -> 9`` 1x1
    convolution (one GEMM) and adding the nine maps shifted into place took 1.0 ms. The
    FLOPs are the same; the result equals the direct convolution up to summation order,
    with the same zero padding, and gradients flow through it as usual. Small inputs,
    where the nine extra operators cost more than they save, use the direct convolution.

    Args:
        u: ``[B, C, H, W]``.
        weight: ``[1, C, 3, 3]``.
        nine_taps_from: Use the nine-tap form from this many output positions
            ``B * H * W`` on (0: always).

    Returns:
        ``[B, 1, H, W]``.
    """
    height, width = u.shape[-2:]
    if u.shape[0] * height * width < nine_taps_from:
        direct: Tensor = F.conv2d(u, weight, padding=1)
        return direct
    taps = weight.permute(2, 3, 0, 1).reshape(9, -1, 1, 1)  # tap (i, j) -> channel 3i + j
    maps = F.pad(F.conv2d(u, taps), (1, 1, 1, 1))  # [B, 9, H + 2, W + 2]
    out = maps[:, 0:1, 0:height, 0:width]
    for tap in range(1, 9):
        row, column = divmod(tap, 3)
        out = out + maps[:, tap : tap + 1, row : row + height, column : column + width]
    return out


class HaltingHead(nn.Module):
    """Halting logits per spatial position: a local 3x3 term plus a global pooled term.

    The bias starts at -3, as in SACT and PACT supplement B, so that a pretrained ResNet
    loaded into the model at first runs (almost) every unit. The weights start at zero,
    so every position starts at exactly ``h = sigmoid(-3)``; they get gradients at once.
    The local term is an ``nn.Conv2d(C, 1, 3)`` (its weight is what checkpoints hold),
    computed by :func:`single_output_conv3x3`.

    Args:
        channels: ``C``, the channels of the unit output ``u`` the head reads.
        bias: The initial bias (default -3).
    """

    def __init__(self, channels: int, *, bias: float = INIT_BIAS) -> None:
        super().__init__()
        self.local = nn.Conv2d(channels, 1, 3, padding=1, bias=False)
        self.bias = nn.Parameter(torch.full((), float(bias)))
        self.pooled = nn.Linear(channels, 1, bias=False)
        nn.init.zeros_(self.local.weight)
        nn.init.zeros_(self.pooled.weight)

    def forward(self, u: Tensor) -> Tensor:
        """Map ``u: [B, C, H, W]`` to halting logits ``[B, H, W]``."""
        global_term: Tensor = self.pooled(u.mean(dim=(2, 3)))  # [B, 1]
        local = single_output_conv3x3(u, self.local.weight)  # [B, 1, H, W]
        return local.squeeze(1) + global_term.unsqueeze(-1) + self.bias
