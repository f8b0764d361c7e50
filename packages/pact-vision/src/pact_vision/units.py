"""Pre-activation residual unit with a parameter-free shortcut and an active mask (eq. 28).

``F(u) = shortcut(u) + f(u) * a``, where ``f`` is BN - leaky ReLU - conv3x3 (stride s) -
BN - leaky ReLU - conv3x3 (He et al. 2016, pre-activation), and ``a`` is the active
positions mask of eq. 28 (``None`` means all ones). Across a change of width or
resolution the shortcut average-pools with the stride and zero-pads the channels, half
before and half after (REFERENCE §2); it has no parameters. Leaky ReLU slope 0.1 and
batch norm with eps 1e-3 and TF momentum 0.9 (torch momentum 0.1) follow SACT's code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pact_vision.flops import conv_flops

__all__ = ["BN_EPS", "BN_MOMENTUM", "LEAKY_SLOPE", "PreActUnit", "batch_norm", "conv3x3"]

LEAKY_SLOPE = 0.1
BN_EPS = 1e-3
BN_MOMENTUM = 1.0 - 0.9  # torch's momentum is 1 - TF's decay


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """Batch norm with SACT's settings."""
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """A bias-free 3x3 convolution with padding 1 and variance-scaling (He) init."""
    conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    return conv


class PreActUnit(nn.Module):
    """One residual unit ``F(u) = shortcut(u) + f(u) * a`` (eq. 28).

    Args:
        in_channels: Channels of the input ``u``.
        out_channels: Channels of the output; at least ``in_channels``.
        stride: Stride of conv1 and of the shortcut's average pool.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"out_channels must be >= in_channels, got {out_channels} < {in_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.bn1 = batch_norm(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = batch_norm(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)

    def residual(self, u: Tensor) -> Tensor:
        """``f(u)``: ``[B, C_in, H, W] -> [B, C_out, H / s, W / s]``."""
        x = self.conv1(F.leaky_relu(self.bn1(u), LEAKY_SLOPE))
        out: Tensor = self.conv2(F.leaky_relu(self.bn2(x), LEAKY_SLOPE))
        return out

    def shortcut(self, u: Tensor) -> Tensor:
        """Parameter-free shortcut: average-pool with the stride, zero-pad channels."""
        if self.stride > 1:
            u = F.avg_pool2d(u, self.stride, stride=self.stride, ceil_mode=True)
        extra = self.out_channels - self.in_channels
        if extra:
            u = F.pad(u, (0, 0, 0, 0, extra // 2, extra - extra // 2))
        return u

    def forward(self, u: Tensor, mask: Tensor | None = None) -> Tensor:
        """Apply the unit.

        Args:
            u: ``[B, C_in, H, W]``.
            mask: Active mask ``a``, ``[B, 1, H', W']`` broadcastable to the output, or
                ``None`` for a dense unit.

        Returns:
            ``[B, C_out, H', W']`` with ``H' = ceil(H / stride)``.
        """
        update = self.residual(u)
        if mask is None:
            return self.shortcut(u) + update
        return torch.addcmul(self.shortcut(u), update, mask)  # one pass over the map

    def dense_flops(self, height: int, width: int) -> int:
        """FLOPs of both convolutions at every one of ``height x width`` output positions."""
        positions = height * width
        return conv_flops(self.in_channels, self.out_channels, 3, positions) + conv_flops(
            self.out_channels, self.out_channels, 3, positions
        )
