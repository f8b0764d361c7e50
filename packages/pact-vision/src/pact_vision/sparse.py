"""Sparse execution of a masked residual unit: compute only the tiles the active mask needs.

For a binary active mask ``a`` (thresholded or discrete PSACT at evaluation), a stride-1
unit ``F(u) = u + f(u) * a`` (eq. 28) needs ``f`` only at the active positions. This
module runs it SBNet-style (REFERENCE §4): the output is cut into ``t x t`` tiles, the
tiles holding an active position are gathered across the whole batch with a halo of two
pixels (one per 3x3 convolution), both convolutions run *densely* on the stacked tiles
without padding, and the update is added back at the active positions only. Everything
else is carried unchanged, and a unit with no active position is skipped.

Why tiles and not a gather of single positions (im2col on a subset, as perforated CNNs
and DynConv do): on CPU the convolution libraries are far faster than a gathered GEMM.
On the development machine a 3x3 convolution of a ``[64, 16, 32, 32]`` map took 2.6 ms
with oneDNN, while merely gathering its ``[65536, 144]`` im2col matrix took 68 ms and
the GEMM on it 15 ms. Tiles keep the dense kernels and only add a halo (conv1 runs on
``(t + 2)^2`` positions per ``t^2`` outputs) and the gather/scatter copies.

The windows are gathered from, and the update scattered into, a channels-last map, so
that each window row is one contiguous run of ``(t + 4) * C`` numbers (a strided view
of the map, indexed once; the scatter is one ``index_put_``).

Zero padding is reproduced exactly: conv1 pads the *activated* input
``leaky_relu(bn1(u))`` with zeros, so the halo positions outside the image are zeroed
after the activation, and likewise conv2's input. The batch norms use their running
statistics, so this is an evaluation path.

Which way a unit runs: units too small for tiles to pay (:data:`TILES_FROM`) are
skipped when no position is active and otherwise run densely; larger ones are skipped,
tiled, or run densely when more than :data:`DEFAULT_DENSE_ABOVE` of their tiles are
active. A dense unit with every position active skips the mask multiply. The host
syncs are these decisions (``nonzero`` on the tiles, ``any``/``all`` on the mask).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_core import Execution, Step, StepContext, Update
from pact_vision.units import LEAKY_SLOPE, PreActUnit

__all__ = [
    "DEFAULT_DENSE_ABOVE",
    "MAX_TILE",
    "MIN_TILE",
    "TILES_FROM",
    "SparseTiles",
    "active_tiles",
    "default_tile",
    "sparse_unit_forward",
]

#: Largest and smallest automatic tile side (see :func:`default_tile`).
MAX_TILE, MIN_TILE = 8, 4
#: Run a unit densely when more than this share of its tiles is active. Measured on the
#: development CPU (one thread, batch 64, channels-last): tiles cost about 0.3-0.7 ms
#: plus 11-12 ms per unit of tile share at 32x32 with 16 channels, against 4.9 ms dense,
#: so they stop paying at 27-34% of the tiles in blocks 1 and 2.
DEFAULT_DENSE_ABOVE = 0.3
#: Smallest unit, in ``B * H * W * C^2`` (positions times channels squared), for which
#: tiles are tried; smaller units are only skipped or run densely. Measured on the
#: development CPU with 5% of the positions active in blobs: tiles lost at 2^20 (batch
#: 4 at 32x32 with 16 channels, or at 16x16 with 32) and won from 2^21 (batch 8).
TILES_FROM = 2**21


def default_tile(height: int, width: int) -> int:
    """The tile side for a ``height x width`` map: a quarter of its side, within 4..8.

    8 at 32x32 (CIFAR block 1), 7 at 28x28 (Fashion-MNIST), 4 from 16x16 down to 9x9.
    Smaller tiles follow the active positions more closely but pay relatively more halo
    (conv1 runs on ``(t + 2)^2`` positions per ``t^2`` outputs: 1.6x at 8, 2.3x at 4).
    A map of at most 8x8 is one tile: with a 2-pixel halo a 4x4 tile would read the
    whole map anyway.
    """
    side = max(height, width)
    if side <= 2 * MIN_TILE:
        return side
    return max(MIN_TILE, min(MAX_TILE, side // 4))


def _tiled(active: Tensor, tile: int) -> Tensor:
    """A mask ``[B, H, W]`` zero-padded to whole tiles, viewed as ``[B, rows, t, cols, t]``."""
    batch, height, width = active.shape
    rows, columns = -(-height // tile), -(-width // tile)
    padded = F.pad(active, (0, columns * tile - width, 0, rows * tile - height))
    return padded.view(batch, rows, tile, columns, tile)


def _skip_or_dense(
    unit: PreActUnit, u: Tensor, active: Tensor, *, some: bool = False, maybe_all: bool = True
) -> Tensor:
    """``u`` if no position is active, else the dense unit (unmasked if all are).

    ``some``: the caller knows a position is active. ``maybe_all=False``: the caller
    knows one is not. Each check it may skip is a host sync.
    """
    if not some and not bool(active.any()):
        return u
    if maybe_all and bool(active.all()):
        everywhere: Tensor = unit(u)  # no mask to multiply by
        return everywhere
    dense: Tensor = unit(u, active.unsqueeze(1).to(u.dtype))
    return dense


def active_tiles(active: Tensor, tile: int) -> Tensor:
    """Which ``tile x tile`` tiles of a mask hold an active position.

    Args:
        active: bool ``[B, H, W]``.
        tile: Tile side ``t``; the last row and column of tiles may stick out of the map.

    Returns:
        bool ``[B, ceil(H / t), ceil(W / t)]``.
    """
    return _tiled(active, tile).amax(dim=(2, 4))


def _tile_view(u: Tensor, step: int, size: int) -> Tensor:
    """Windows ``[B, rows, cols, size, size, C]`` of a channels-last map, ``step`` apart.

    A view (windows overlap when ``size > step``) whose last dimension is contiguous, so
    that gathering or scattering whole windows copies rows of ``size * C`` numbers.
    ``u: [B, C, H', W']`` must be channels-last with ``H' = (rows - 1) * step + size``.
    """
    batch, channels, height, width = u.shape
    rows, columns = (height - size) // step + 1, (width - size) // step + 1
    s_batch, s_channel, s_row, s_column = u.stride()
    return u.as_strided(
        (batch, rows, columns, size, size, channels),
        (s_batch, step * s_row, step * s_column, s_row, s_column, s_channel),
    )


def _inside(starts: Tensor, size: int, limit: int) -> Tensor:
    """Bool ``[T, size]``: which of ``starts[k] + 0..size-1`` lie in ``0..limit-1``."""
    coords = starts.unsqueeze(1) + torch.arange(size, device=starts.device)
    return (coords >= 0) & (coords < limit)


def _halo_mask(rows: Tensor, columns: Tensor, size: int, height: int, width: int) -> Tensor:
    """``[T, 1, size, size]`` float mask of the window positions inside the image."""
    inside = _inside(rows, size, height).unsqueeze(2) & _inside(columns, size, width).unsqueeze(1)
    return inside.unsqueeze(1)


@torch.no_grad()
def sparse_unit_forward(
    unit: PreActUnit,
    u: Tensor,
    active: Tensor,
    *,
    tile: int | None = None,
    dense_above: float = DEFAULT_DENSE_ABOVE,
    in_place: bool = False,
    tiles_from: int = TILES_FROM,
) -> Tensor:
    """``F(u) = u + f(u) * a`` for a binary mask, computing ``f`` only on active tiles.

    Equal to ``unit(u, a)`` in eval mode up to floating-point summation order.

    Args:
        unit: A stride-1 unit whose input and output widths agree, in eval mode.
        u: ``[B, C, H, W]``.
        active: bool ``[B, H, W]``, the positions where the unit runs.
        tile: Output tile side ``t``, clipped to the map; ``None`` for
            :func:`default_tile`. A map no larger than ``t`` is one tile per image: the
            images with an active position are gathered and the unit runs on them with
            its own zero padding (no halo).
        dense_above: If more than this share of the tiles is active, run the unit densely
            with the mask (gathering would cost more than it saves). ``1.0`` never does.
        in_place: Let the tiled path add the update into ``u`` itself when ``u`` is
            channels-last and the tiles cover the map exactly (saves a copy of the map;
            the model does this, as it no longer needs a unit's input).
        tiles_from: Try tiles only for units of at least this ``B * H * W * C^2``;
            smaller ones are skipped when no position is active and otherwise run
            densely (0: always try tiles).

    Returns:
        ``[B, C, H, W]``; ``u`` itself if no position is active. The tiled path returns
        a channels-last tensor whatever the layout of ``u``.

    Raises:
        ValueError: For a strided or widening unit, a unit in training mode, a mask of
            the wrong shape, ``tile < 1`` or ``dense_above`` outside ``[0, 1]``.
    """
    if unit.stride != 1 or unit.in_channels != unit.out_channels:
        raise ValueError("sparse execution covers stride-1 units that keep their width")
    if unit.training:
        raise ValueError("sparse execution uses running BN statistics: call model.eval() first")
    batch, _, height, width = u.shape
    if active.shape != (batch, height, width) or active.dtype != torch.bool:
        raise ValueError(
            f"active must be a bool mask of shape {(batch, height, width)}, "
            f"got {active.dtype} {tuple(active.shape)}"
        )
    if tile is None:
        tile = default_tile(height, width)
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    if not 0.0 <= dense_above <= 1.0:
        raise ValueError(f"dense_above must be in [0, 1], got {dense_above}")

    if batch * height * width * unit.in_channels**2 < tiles_from:
        return _skip_or_dense(unit, u, active)
    t = min(tile, max(height, width))
    tiled = _tiled(active, t)  # [B, rows, t, cols, t]
    occupied = tiled.amax(dim=(2, 4))
    index = torch.nonzero(occupied)  # [T, 3]: (image, tile row, tile column); a host sync
    count = index.shape[0]
    if count == 0:
        return u
    if count > dense_above * occupied.numel():
        # a tile without an active position rules out the all-active sync
        return _skip_or_dense(unit, u, active, some=True, maybe_all=count == occupied.numel())

    rows, columns = occupied.shape[1], occupied.shape[2]
    if rows == columns == 1:  # one tile per image: run the unit on the images that need it
        image = index[:, 0]
        update = unit.residual(u.index_select(0, image))
        update = update * active.index_select(0, image).unsqueeze(1).to(update.dtype)
        return u.index_add(0, image, update)
    extra_h, extra_w = rows * t - height, columns * t - width
    image, tile_row, tile_column = index.unbind(1)
    top, left = tile_row * t, tile_column * t
    u = u.contiguous(memory_format=torch.channels_last)  # a no-op for channels-last input

    # Input windows with a 2-pixel halo, gathered as [T, t + 4, t + 4, C] rows of memory.
    padded = F.pad(u, (2, 2 + extra_w, 2, 2 + extra_h))
    padded = padded.contiguous(memory_format=torch.channels_last)
    x = _tile_view(padded, t, t + 4)[image, tile_row, tile_column].permute(0, 3, 1, 2)
    x = F.leaky_relu(unit.bn1(x), LEAKY_SLOPE)
    x = x * _halo_mask(top - 2, left - 2, t + 4, height, width).to(x.dtype)
    hidden = F.conv2d(x, unit.conv1.weight)  # [T, C, t + 2, t + 2]
    hidden = F.leaky_relu(unit.bn2(hidden), LEAKY_SLOPE)
    hidden = hidden * _halo_mask(top - 1, left - 1, t + 2, height, width).to(x.dtype)
    update = F.conv2d(hidden, unit.conv2.weight)  # [T, C, t, t]
    update = update * tiled[image, tile_row, :, tile_column, :].unsqueeze(1).to(update.dtype)

    if in_place and not (extra_h or extra_w):
        out = u
    else:
        out = F.pad(u, (0, extra_w, 0, extra_h)).contiguous(memory_format=torch.channels_last)
        if out.data_ptr() == u.data_ptr():
            out = out.clone(memory_format=torch.channels_last)  # never write into the input
    _tile_view(out, t, t).index_put_(
        (image, tile_row, tile_column), update.permute(0, 2, 3, 1), accumulate=True
    )
    return out[:, :, :height, :width]


class SparseTiles(Execution):
    """The engine execution that runs each masked unit only on its active tiles.

    Plugged into :func:`pact_core.adaptive_loop` for a block's residual units: the
    first unit runs densely everywhere, every later one through
    :func:`sparse_unit_forward` with the iteration's binary active mask (so it is
    skipped when no position is active). Like ``"masked"`` it runs all ``L``
    iterations, so the heads and ``N`` are those of the masked execution; it reads the
    masks on the host (``sync_free = False``). Evaluation with thresholded or discrete
    halting only.

    Args:
        units: The block's ``L`` residual units, in order.
    """

    name = "sparse"
    early_exit = False
    sync_free = False

    def __init__(self, units: Sequence[PreActUnit]) -> None:
        self.units = tuple(units)

    def apply(self, step: Step, u: Tensor, context: StepContext, update: Update) -> Tensor:
        """Unit ``l`` on the tiles that hold an active position (dense at ``l = 1``)."""
        active = context.active
        if active is None:
            return step(u, context)
        return sparse_unit_forward(self.units[context.iteration - 1], u, active, in_place=True)
