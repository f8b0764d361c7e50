"""Controlled halting maps for speed measurements: random and spatially clustered.

A PSACT block of ``n`` units runs unit 1 everywhere and unit ``k > 1`` where the
position has not halted yet, so a block's halting is a *depth map* ``d: [B, H, W]`` with
values in ``1..n`` (units executed). Its **active fraction** is the share of the
adaptive units ``2..n`` executed, ``mean((d - 1) / (n - 1))``.

Both kinds of map below give unit ``k`` the same share of active positions,
``p_k = P(Binomial(n - 1, f) >= k - 1)``, whose mean over ``k = 2..n`` is exactly ``f``:

* ``"random"``: every position draws its depth independently, ``d - 1 ~ Binomial(n - 1,
  f)``, which scatters active positions like salt and pepper;
* ``"clustered"``: a smooth random field (bilinearly upsampled ``4 x 4`` noise) is
  thresholded at its per-image quantiles, so the active positions of each unit form
  blobs, as in real ponder maps (PACT fig. 6), and deeper units nest inside them.

:func:`control_halting` makes a model halt on given depth maps by overriding the output
of its halting heads (logit +20 where the position halts, -20 elsewhere), so the heads
still run and cost what they cost. :func:`set_controlled_halting` is the uniform case
for any batch size: it sets the heads' weights so every position runs ``units`` units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.hooks import RemovableHandle

from pact_vision import AdaptiveResNet

__all__ = [
    "MAP_KINDS",
    "control_halting",
    "depth_maps",
    "set_controlled_halting",
    "unit_fractions",
]

MAP_KINDS = ("random", "clustered")
#: Halting logit that makes a head certain (sigmoid(20) = 1 - 2e-9).
_CERTAIN = 20.0


def unit_fractions(units: int, fraction: float) -> list[float]:
    """``[p_2, ..., p_n]``: the share of positions that run unit ``k`` (see module doc).

    Raises:
        ValueError: If ``units < 2`` or ``fraction`` is outside ``[0, 1]``.
    """
    if units < 2:
        raise ValueError(f"a block needs at least 2 units to halt adaptively, got {units}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"active fraction must be in [0, 1], got {fraction}")
    trials = units - 1
    pmf = [math.comb(trials, j) * fraction**j * (1 - fraction) ** (trials - j)
           for j in range(trials + 1)]  # fmt: skip
    return [min(1.0, sum(pmf[k - 1 :])) for k in range(2, units + 1)]


def depth_maps(
    kind: str,
    batch: int,
    height: int,
    width: int,
    units: int,
    fraction: float,
    generator: torch.Generator,
) -> Tensor:
    """A depth map ``[B, H, W]`` (int64 in ``1..units``) of the given kind and fraction.

    Raises:
        ValueError: For an unknown ``kind`` or a bad ``units``/``fraction``.
    """
    shares = unit_fractions(units, fraction)
    if kind == "random":
        trials = torch.rand(batch, height, width, units - 1, generator=generator) < fraction
        return 1 + trials.sum(dim=-1)
    if kind != "clustered":
        raise ValueError(f"map kind must be one of {', '.join(MAP_KINDS)}; got {kind!r}")
    noise = torch.rand(batch, 1, 4, 4, generator=generator)
    field = F.interpolate(noise, size=(height, width), mode="bilinear", align_corners=False)
    field = field.flatten(1) + 1e-6 * torch.rand(batch, height * width, generator=generator)
    order = field.argsort(dim=1, descending=True)
    depth = torch.ones(batch, height * width, dtype=torch.int64)
    for share in shares:  # unit k runs at the top p_k of the field: nested blobs
        count = round(share * height * width)
        top = torch.zeros_like(depth, dtype=torch.bool)
        top.scatter_(1, order[:, :count], True)
        depth += top.long()
    return depth.view(batch, height, width)


def control_halting(model: AdaptiveResNet, depths: Sequence[Tensor]) -> list[RemovableHandle]:
    """Make ``model`` (thresholded or discrete) halt on ``depths``, one map per block.

    Args:
        model: A model with halting heads.
        depths: One ``[B, H_b, W_b]`` map per block, values in ``1..n``, at the block's
            resolution and the batch size that will be fed.

    Returns:
        The hook handles; call ``remove()`` on each to restore the learned halting.

    Raises:
        ValueError: Without halting heads or with the wrong number of maps.
    """
    stages = model.stages
    if not model.settings.has_halting:
        raise ValueError("the model has no halting heads to control")
    if len(depths) != len(stages):
        raise ValueError(f"need one depth map per block ({len(stages)}), got {len(depths)}")
    handles = []
    for block, depth in zip(stages, depths, strict=True):
        for index, head in enumerate(block.halting_heads, start=1):
            logits = torch.where(depth <= index, _CERTAIN, -_CERTAIN)

            def override(
                _module: Any, _inputs: Any, output: Tensor, fixed: Tensor = logits
            ) -> Tensor:
                return fixed.to(device=output.device, dtype=output.dtype)

            handles.append(head.register_forward_hook(override))
    return handles


def set_controlled_halting(model: AdaptiveResNet, units: int) -> None:
    """Make every position of every block halt after ``units`` residual units.

    The halting head after unit ``units`` outputs logit +20 everywhere and all others
    -20, so thresholded PSACT halts there (``h > 0.5``) and so does SACT (the cumulative
    halting probability passes ``1 - eps`` there). ``units = n`` runs every unit.

    Raises:
        ValueError: If ``units`` is not in ``1..n`` or the model has no halting heads.
    """
    n = model.max_iterations
    if not 1 <= units <= n:
        raise ValueError(f"units must be in 1..{n} for this model, got {units}")
    if not model.settings.has_halting:
        raise ValueError("the model has no halting heads to control")
    with torch.no_grad():
        for block in model.stages:
            for index, head in enumerate(block.halting_heads, start=1):
                head.local.weight.zero_()
                head.pooled.weight.zero_()
                head.bias.fill_(_CERTAIN if index == units else -_CERTAIN)
