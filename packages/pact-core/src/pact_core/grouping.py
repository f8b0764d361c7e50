"""Spatial grouping of halting decisions over ``g x g`` patches (PACT sec. 6, fig. 4).

Halting logits are averaged over non-overlapping ``g x g`` patches and one latent
variable is drawn per patch; its mask is then repeated over the patch. Patches at the
right and bottom border may be partial when ``g`` does not divide the map; they average
over the positions they hold. A ResNet-32 on 32x32 inputs has ``M = 1344`` latent
variables per image ungrouped, and 336, 84 and 21 with ``g`` = 2, 4 and 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "GROUP_SIZES",
    "SpatialGrouping",
    "from_patches",
    "group_logits",
    "grouped_shape",
    "to_patches",
    "ungroup",
]

#: The patch sides of PACT fig. 4.
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


@dataclass(frozen=True)
class SpatialGrouping:
    """One halting decision per ``g x g`` patch of a ``[B, H, W]`` batch of positions.

    Attributes:
        group: Patch side ``g >= 2``.
        batch: ``B``.
        height: ``H``.
        width: ``W``.
    """

    group: int
    batch: int
    height: int
    width: int

    @classmethod
    def for_batch(
        cls, group: int, batch_shape: torch.Size, feature_dim: int
    ) -> SpatialGrouping | None:
        """The grouping of a ``[B, H, W]`` batch of ``[B, C, H, W]`` states; ``None`` if ``g = 1``.

        Raises:
            ValueError: For ``g < 1``, or ``g > 1`` on another layout.
        """
        if isinstance(group, bool) or not isinstance(group, int) or group < 1:
            raise ValueError(f"group must be an integer >= 1, got {group!r}")
        if group == 1:
            return None
        if len(batch_shape) != 3 or feature_dim not in (1, -4):
            raise ValueError(
                f"group={group} groups [B, H, W] positions of [B, C, H, W] states "
                f"(feature_dim=1); got batch shape {tuple(batch_shape)} and "
                f"feature_dim={feature_dim}"
            )
        batch, height, width = batch_shape
        return cls(group, batch, height, width)

    @property
    def shape(self) -> torch.Size:
        """``[B, ceil(H / g), ceil(W / g)]``, the shape of the halting decisions."""
        return torch.Size((self.batch, *grouped_shape(self.height, self.width, self.group)))

    def pool(self, logits: Tensor) -> Tensor:
        """Average ``[B, H, W]`` logits over the patches (:func:`group_logits`)."""
        return group_logits(logits, self.group)

    def ungroup(self, values: Tensor) -> Tensor:
        """Repeat per-patch ``[B, h, w]`` values over their positions (:func:`ungroup`)."""
        return ungroup(values, self.group, self.height, self.width)

    def to_patches(self, u: Tensor) -> Tensor:
        """Fold ``[B, C, H, W]`` states into per-patch features (:func:`to_patches`)."""
        return to_patches(u, self.group)

    def from_patches(self, x: Tensor) -> Tensor:
        """Unfold per-patch features back to ``[B, C, H, W]`` (:func:`from_patches`)."""
        return from_patches(x, self.group, self.height, self.width)
