"""FLOP counting as SACT counts it (REFERENCE §2; PACT sec. 6).

A convolution or linear layer costs ``2 * C_in * C_out * k_h * k_w`` FLOPs per computed
output position (one multiply and one add per weight). BN, (leaky) ReLU, pooling and the
parameter-free shortcut are free. In a masked residual unit (eq. 28) conv2 is needed only
at the positions of the active mask, and conv1 at the mask dilated by a 3x3 max-pool,
because conv2 reads conv1's output in a 3x3 neighbourhood of each active position. The
halting head's 3x3 convolution is needed at the positions that ran the unit it follows,
and its global term ``W * avgpool(u)`` (a ``C -> 1`` linear map) once per image that
still has such a position.

With every mask on, these rules give exactly what
:class:`torch.utils.flop_counter.FlopCounterMode` measures for the same layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["conv_flops", "dilate", "halting_head_flops", "linear_flops", "masked_unit_flops"]


def conv_flops(in_channels: int, out_channels: int, kernel_size: int, positions: int) -> int:
    """FLOPs of a ``k x k`` convolution computed at ``positions`` output positions."""
    return 2 * in_channels * out_channels * kernel_size * kernel_size * positions


def linear_flops(in_features: int, out_features: int) -> int:
    """FLOPs of one linear map ``in_features -> out_features`` (one image)."""
    return 2 * in_features * out_features


def dilate(active: Tensor) -> Tensor:
    """Grow a bool mask ``[B, H, W]`` by one position in every direction (3x3 max-pool).

    Computed as two one-dimensional ORs of shifted slices, which on CPU is several times
    faster than ``max_pool2d`` on a float copy (the FLOP count runs it for every unit).
    """
    padded = F.pad(active, (1, 1, 1, 1))
    rows = padded[:, :-2] | padded[:, 1:-1] | padded[:, 2:]  # [B, H, W + 2]
    return rows[:, :, :-2] | rows[:, :, 1:-1] | rows[:, :, 2:]


def _count(active: Tensor) -> Tensor:
    """int64 ``[B]``: the number of true positions per image of a ``[B, H, W]`` mask."""
    return active.flatten(1).sum(dim=1, dtype=torch.int64)


def masked_unit_flops(active: Tensor, channels: int) -> Tensor:
    """FLOPs per image of a stride-1 masked residual unit with two 3x3 convolutions.

    Args:
        active: bool ``[B, H, W]``, the positions where the unit's output is needed
            (``a > 0`` in eq. 28).
        channels: ``C``, the width of both convolutions.

    Returns:
        int64 ``[B]``: conv1 on ``dilate(active)`` plus conv2 on ``active``.
    """
    per_position = conv_flops(channels, channels, 3, 1)
    return per_position * (_count(dilate(active)) + _count(active))


def halting_head_flops(active: Tensor, channels: int) -> Tensor:
    """FLOPs per image of a halting head ``conv3x3(u) + W * avgpool(u) + b`` (sec. 4.1).

    Args:
        active: bool ``[B, H, W]``, the positions that ran the unit whose output ``u``
            the head reads.
        channels: ``C``, the number of channels of ``u``.

    Returns:
        int64 ``[B]``: the ``C -> 1`` 3x3 convolution on ``active``, plus the global
        ``C -> 1`` linear term for every image with at least one active position.
    """
    local = conv_flops(channels, 1, 3, 1) * _count(active)
    needed = active.flatten(1).any(dim=1).to(torch.int64)
    return local + linear_flops(channels, 1) * needed
