"""Sparse execution of a masked residual unit: compute only where the active mask needs it.

For a binary active mask ``a`` (thresholded or discrete PSACT at evaluation), a
stride-1 unit ``F(u) = u + f(u) * a`` (eq. 28) needs

* conv2 only at the active positions ``P``;
* conv1 only at ``D = dilate(P)``, the positions conv2 reads around ``P``;
* BN1 and leaky ReLU only at ``dilate(D)``, the positions conv1 reads around ``D``;

and leaves every other position unchanged. Each convolution becomes one GEMM: the 3x3
neighbourhoods of the positions it needs are gathered, across the whole batch, from a
channels-last ``[positions, C]`` view into one ``[n, 9C]`` matrix (im2col on a subset of
positions), multiplied by the ``[9C, C]`` kernel, and the result is scattered back. The
batch norms use their running statistics as a per-channel affine map, so this is an
evaluation path. It works on any device; the only host sync is reading how many
positions are active (``nonzero``), which also lets a unit with none be skipped.

This is the approach of perforated CNNs and of DynConv's gather-scatter, written with
plain torch indexing and matrix products.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pact_vision.flops import dilate
from pact_vision.units import LEAKY_SLOPE, PreActUnit

__all__ = ["neighbourhoods", "sparse_unit_forward"]

_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def neighbourhoods(positions: Tensor, height: int, width: int) -> Tensor:
    """Flat indices of the 3x3 neighbourhoods of flat positions in a ``[B, H, W]`` grid.

    Args:
        positions: int64 ``[n]``, indices ``b * H * W + i * W + j``.
        height: ``H``.
        width: ``W``.

    Returns:
        int64 ``[n, 9]`` in row-major offset order (the layout of a 3x3 kernel). A
        neighbour outside the image is ``-1``: the last row of a table whose last row is
        zero, which is how the gathers below implement zero padding.
    """
    plane = height * width
    row = (positions % plane) // width
    column = positions % width
    outside = positions.new_full((), -1)
    columns = []
    for dy, dx in _OFFSETS:
        y, x = row + dy, column + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        columns.append(torch.where(inside, positions + dy * width + dx, outside))
    return torch.stack(columns, dim=1)


def _affine(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Eval-mode batch norm as ``x * scale + shift``, per channel."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("sparse execution needs batch norms that track running statistics")
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def _kernel_matrix(conv: nn.Conv2d) -> Tensor:
    """``[C_out, C_in, 3, 3] -> [9 C_in, C_out]`` matching the gathered ``[n, 9, C_in]``."""
    weight = conv.weight
    return weight.permute(2, 3, 1, 0).reshape(9 * weight.shape[1], weight.shape[0])


def _gather_patches(rows: Tensor, index: Tensor) -> Tensor:
    """``rows`` ``[N + 1, C]`` (last row zero), ``index`` ``[n, 9]`` -> ``[n, 9 C]``."""
    return rows[index].reshape(index.shape[0], -1)


@torch.no_grad()
def sparse_unit_forward(unit: PreActUnit, u: Tensor, active: Tensor) -> Tensor:
    """``F(u) = u + f(u) * a`` for a binary mask, computing ``f`` only where needed.

    Equal to ``unit(u, a)`` in eval mode up to floating-point summation order.

    Args:
        unit: A stride-1 unit whose input and output widths agree, in eval mode.
        u: ``[B, C, H, W]``; channels-last memory format avoids a copy.
        active: bool ``[B, H, W]``, the positions where the unit runs.

    Returns:
        ``[B, C, H, W]`` in channels-last memory format; ``u`` itself if no position is
        active.

    Raises:
        ValueError: For a strided or widening unit, a unit in training mode, or a mask of
            the wrong shape.
    """
    if unit.stride != 1 or unit.in_channels != unit.out_channels:
        raise ValueError("sparse execution covers stride-1 units that keep their width")
    if unit.training:
        raise ValueError("sparse execution uses running BN statistics: call model.eval() first")
    batch, channels, height, width = u.shape
    if active.shape != (batch, height, width) or active.dtype != torch.bool:
        raise ValueError(
            f"active must be a bool mask of shape {(batch, height, width)}, "
            f"got {active.dtype} {tuple(active.shape)}"
        )
    positions = torch.nonzero(active.reshape(-1)).squeeze(1)  # P, the one host sync
    if positions.numel() == 0:
        return u
    needed = torch.nonzero(dilate(active).reshape(-1)).squeeze(1)  # D
    inputs = torch.nonzero(dilate(dilate(active)).reshape(-1)).squeeze(1)  # dilate(D)

    u = u.contiguous(memory_format=torch.channels_last)
    rows = u.permute(0, 2, 3, 1).view(-1, channels)  # a view: [B*H*W, C]

    # BN1 + leaky ReLU at dilate(D), zero elsewhere (conv1's zero padding included).
    scale1, shift1 = _affine(unit.bn1)
    pre = rows.new_zeros(rows.shape[0] + 1, channels)
    pre[inputs] = F.leaky_relu(rows[inputs] * scale1 + shift1, LEAKY_SLOPE)
    hidden = _gather_patches(pre, neighbourhoods(needed, height, width)) @ _kernel_matrix(
        unit.conv1
    )  # conv1 at D: [|D|, C]

    # BN2 + leaky ReLU at D, then conv2 at P.
    scale2, shift2 = _affine(unit.bn2)
    mid = rows.new_zeros(rows.shape[0] + 1, channels)
    mid[needed] = F.leaky_relu(hidden * scale2 + shift2, LEAKY_SLOPE)
    update = _gather_patches(mid, neighbourhoods(positions, height, width)) @ _kernel_matrix(
        unit.conv2
    )  # conv2 at P: [|P|, C]

    out = u.clone(memory_format=torch.channels_last)
    out.permute(0, 2, 3, 1).view(-1, channels).index_add_(0, positions, update)
    return out
