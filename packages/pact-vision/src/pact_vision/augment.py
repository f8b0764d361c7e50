"""Batched on-device augmentation: pad-4 random crop, horizontal flip, standardisation.

Everything is a tensor op on the whole batch (SACT's CIFAR preprocessing, REFERENCE §2
and §4): no per-sample Python, so it runs on the training device next to the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["augment", "random_crop", "random_flip", "standardize"]


def standardize(images: Tensor) -> Tensor:
    """Per-image standardisation, as TF's ``per_image_standardization``.

    Args:
        images: ``[B, C, H, W]``, any dtype (uint8 is converted to float32).

    Returns:
        float ``[B, C, H, W]``: each image minus its mean, divided by
        ``max(std, 1 / sqrt(C * H * W))``, so constant images do not blow up.
    """
    x = images.to(torch.float32) if not images.is_floating_point() else images
    flat = x.flatten(1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, unbiased=False)
    floor = torch.rsqrt(torch.tensor(float(flat.shape[1]), dtype=x.dtype, device=x.device))
    scale = torch.maximum(std, floor)
    return (x - mean.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)


def random_crop(images: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad by ``padding`` and crop back to ``H x W`` at a random offset per image.

    Args:
        images: ``[B, C, H, W]``.
        padding: Pixels of zero padding on each side.
        generator: Random generator on ``images``' device.

    Returns:
        ``[B, C, H, W]``, same dtype.
    """
    batch, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    offsets = torch.randint(
        0, 2 * padding + 1, (2, batch), generator=generator, device=images.device
    )
    rows = offsets[0].view(-1, 1) + torch.arange(height, device=images.device)  # [B, H]
    cols = offsets[1].view(-1, 1) + torch.arange(width, device=images.device)  # [B, W]
    batch_index = torch.arange(batch, device=images.device).view(-1, 1, 1)
    crops = padded.permute(0, 2, 3, 1)[batch_index, rows.unsqueeze(2), cols.unsqueeze(1)]
    return crops.permute(0, 3, 1, 2)  # [B, H, W, C] -> [B, C, H, W]


def random_flip(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Flip each image of ``[B, C, H, W]`` left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator, device=images.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def augment(images: Tensor, generator: torch.Generator | None = None, padding: int = 4) -> Tensor:
    """Training augmentation of a uint8 batch ``[B, C, H, W]``: crop, flip, standardise.

    Returns:
        float32 ``[B, C, H, W]``.
    """
    return standardize(random_flip(random_crop(images, padding, generator), generator))
