"""Spatial grouping of halting decisions over ``g x g`` patches (PACT sec. 6, fig. 4).

Halting logits are averaged over non-overlapping ``g x g`` patches and one latent
variable is drawn per patch; its mask is then repeated over the patch. Patches at the
right and bottom border may be partial when ``g`` does not divide the map; they average
over the positions they hold.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "GROUP_SIZES",
    "from_patches",
    "group_logits",
    "grouped_shape",
    "to_patches",
    "ungroup",
]

GROUP_SIZES: tuple[int, ...] = (1, 2, 4, 8)


def grouped_shape(height: int, width: int, group: int) -> tuple[int, int]:
    """The number of patches ``(ceil(H / g), ceil(W / g))`` of an ``H x W`` map."""
    return -(-height // group), -(-width // group)


def group_logits(logits: Tensor, group: int) -> Tensor:
    """Average ``logits: [B, H, W]`` over ``g x g`` patches: ``[B, ceil(H/g), ceil(W/g)]``."""
    if group == 1:
        return logits
    pooled = F.avg_pool2d(logits.unsqueeze(1), group, stride=group, ceil_mode=True)
    return pooled.squeeze(1)


def ungroup(values: Tensor, group: int, height: int, width: int) -> Tensor:
    """Repeat per-patch ``values: [B, h, w]`` over their patches, giving ``[B, H, W]``."""
    if group == 1:
        return values
    full = values.repeat_interleave(group, dim=1).repeat_interleave(group, dim=2)
    return full[:, :height, :width]


def to_patches(u: Tensor, group: int) -> Tensor:
    """Fold ``u: [B, C, H, W]`` into ``[B, C * g * g, ceil(H/g), ceil(W/g)]`` (zero-padded).

    Every patch becomes one position with a longer feature axis, so a per-patch halting
    stream can weight whole patches of states at once.
    """
    if group == 1:
        return u
    height, width = u.shape[-2:]
    rows, cols = grouped_shape(height, width, group)
    padded = F.pad(u, (0, cols * group - width, 0, rows * group - height))
    return F.pixel_unshuffle(padded, group)


def from_patches(x: Tensor, group: int, height: int, width: int) -> Tensor:
    """Invert :func:`to_patches`: ``[B, C * g * g, h, w] -> [B, C, H, W]``."""
    if group == 1:
        return x
    return F.pixel_shuffle(x, group)[..., :height, :width]
