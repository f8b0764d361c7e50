"""Sparse execution of a masked unit equals masked dense evaluation (issue: real speed)."""

from __future__ import annotations

import functools

import pytest
import torch

from pact_core import Halting
from pact_vision import sparse
from pact_vision.models import EXECUTIONS, AdaptiveResNet, resnet
from pact_vision.sparse import (
    DEFAULT_DENSE_ABOVE,
    TILES_FROM,
    active_tiles,
    default_tile,
    sparse_unit_forward,
)
from pact_vision.units import PreActUnit


def _unit(channels: int, seed: int) -> PreActUnit:
    torch.manual_seed(seed)
    unit = PreActUnit(channels, channels)
    for bn in (unit.bn1, unit.bn2):  # non-trivial running statistics and affine maps
        assert bn.running_mean is not None and bn.running_var is not None
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    return unit.eval()


def _check(
    unit: PreActUnit, u: torch.Tensor, active: torch.Tensor, **options: float | bool
) -> None:
    with torch.no_grad():
        expected = unit(u, active.unsqueeze(1).to(u.dtype))
    before = u.clone()
    got = sparse_unit_forward(unit, u, active, **options)  # type: ignore[arg-type]
    if not options.get("in_place"):
        assert torch.equal(u, before)  # the input is left alone
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # Positions outside the mask are carried unchanged, bit for bit.
    assert torch.equal(got.permute(0, 2, 3, 1)[~active], u.permute(0, 2, 3, 1)[~active])


# The stride-1 units of every block of a CIFAR ResNet: widths 16, 32, 64 at 32, 16, 8.
@pytest.mark.parametrize(("channels", "size"), [(16, 32), (32, 16), (64, 8)])
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize(
    ("dense_above", "tiles_from"),
    [(1.0, 0), (DEFAULT_DENSE_ABOVE, 0), (DEFAULT_DENSE_ABOVE, TILES_FROM)],
    ids=["always-tiles", "tiles-or-dense", "default"],
)
def test_sparse_unit_equals_masked_dense(
    channels: int, size: int, batch: int, fraction: float, dense_above: float, tiles_from: int
) -> None:
    unit = _unit(channels, seed=channels + batch)
    generator = torch.Generator().manual_seed(int(fraction * 100) + size)
    u = torch.randn(batch, channels, size, size, generator=generator)
    active = torch.rand(batch, size, size, generator=generator) < fraction
    _check(unit, u, active, dense_above=dense_above, tiles_from=tiles_from)


@pytest.mark.parametrize("tile", [1, 3, 4, 5, 16])
def test_tiles_that_do_not_divide_the_map(tile: int) -> None:
    unit = _unit(8, seed=tile)
    generator = torch.Generator().manual_seed(tile)
    u = torch.randn(3, 8, 10, 7, generator=generator)
    active = torch.rand(3, 10, 7, generator=generator) < 0.2
    _check(unit, u, active, tile=tile, dense_above=1.0, tiles_from=0)


@pytest.mark.parametrize("in_place", [False, True])
def test_clustered_mask_and_channels_last_input(in_place: bool) -> None:
    unit = _unit(16, seed=1)
    u = torch.randn(4, 16, 32, 32).contiguous(memory_format=torch.channels_last)
    rows = torch.arange(32).view(1, 32, 1)
    columns = torch.arange(32).view(1, 1, 32)
    centres = torch.tensor([[5, 5], [16, 20], [30, 1], [0, 31]]).view(4, 2, 1, 1)
    active = (rows - centres[:, 0]) ** 2 + (columns - centres[:, 1]) ** 2 < 36
    _check(unit, u.clone(), active, dense_above=1.0, in_place=in_place, tiles_from=0)
    written = u.clone()
    out = sparse_unit_forward(
        unit, written, active, dense_above=1.0, in_place=in_place, tiles_from=0
    )
    assert (out.data_ptr() == written.data_ptr()) == in_place


@pytest.mark.parametrize(
    ("size", "expected"),
    [((32, 32), 8), ((28, 28), 7), ((16, 16), 4), ((9, 9), 4), ((8, 8), 8), ((7, 3), 7)],
)
def test_default_tile_is_a_quarter_of_the_map_within_4_to_8_or_the_whole_small_map(
    size: tuple[int, int], expected: int
) -> None:
    assert default_tile(*size) == expected


def test_active_tiles() -> None:
    active = torch.zeros(2, 5, 6, dtype=torch.bool)
    active[0, 4, 5] = True  # the bottom-right tile, which sticks out of the map
    active[1, 0, 2] = True
    occupied = active_tiles(active, 4)
    assert occupied.shape == (2, 2, 2)
    assert occupied[0].tolist() == [[False, False], [False, True]]
    assert occupied[1].tolist() == [[True, False], [False, False]]


def test_an_empty_mask_skips_the_unit() -> None:
    unit = _unit(16, seed=0)
    u = torch.randn(2, 16, 8, 8)
    assert sparse_unit_forward(unit, u, torch.zeros(2, 8, 8, dtype=torch.bool)) is u


def test_sparse_execution_refuses_what_it_does_not_cover() -> None:
    with pytest.raises(ValueError, match="stride-1"):
        sparse_unit_forward(
            PreActUnit(16, 32, stride=2).eval(),
            torch.randn(1, 16, 8, 8),
            torch.ones(1, 4, 4, dtype=torch.bool),
        )
    with pytest.raises(ValueError, match=r"model\.eval"):
        sparse_unit_forward(
            PreActUnit(8, 8), torch.randn(1, 8, 4, 4), torch.ones(1, 4, 4, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match="bool mask of shape"):
        sparse_unit_forward(PreActUnit(8, 8).eval(), torch.randn(1, 8, 4, 4), torch.ones(1, 4, 4))
    unit, u, mask = PreActUnit(8, 8).eval(), torch.randn(1, 8, 4, 4), torch.ones(1, 4, 4) > 0
    with pytest.raises(ValueError, match="tile must be >= 1, got 0"):
        sparse_unit_forward(unit, u, mask, tile=0)
    with pytest.raises(ValueError, match=r"dense_above must be in \[0, 1\], got 1.5"):
        sparse_unit_forward(unit, u, mask, dense_above=1.5)


def _halting_model(seed: int) -> AdaptiveResNet:
    torch.manual_seed(seed)
    model = resnet(3, "pact", halting="thresholded")
    with torch.no_grad():
        for block in model.stages:
            for unit in block.residual_units:
                for bn in (unit.bn1, unit.bn2):
                    assert bn.running_var is not None
                    bn.running_var.uniform_(0.5, 2.0)
            for head in block.halting_heads:  # halt somewhere in the middle, unevenly
                head.bias.uniform_(-1.0, 1.0)
                head.local.weight.normal_(0.0, 0.5)
    return model.eval()


@pytest.mark.parametrize("mode", ["thresholded", "discrete"])
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("always_tiles", [False, True])
def test_sparse_model_equals_masked_model(
    mode: Halting, batch: int, always_tiles: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if always_tiles:  # every unit through the tile path, in place, whatever its size
        forward = functools.partial(sparse_unit_forward, dense_above=1.0, tiles_from=0)
        monkeypatch.setattr(sparse, "sparse_unit_forward", forward)
    model = _halting_model(seed=batch)
    model.halting = mode
    images = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
    outputs = {}
    for execution in EXECUTIONS:
        model.execution = execution
        torch.manual_seed(0)  # the same discrete halting draws
        with torch.no_grad():
            outputs[execution] = model(images)
    masked, tiled = outputs["masked"], outputs["sparse"]
    torch.testing.assert_close(tiled.logits, masked.logits, atol=1e-4, rtol=1e-4)
    assert torch.equal(tiled.flops, masked.flops)
    for ours, theirs in zip(tiled.executed, masked.executed, strict=True):
        assert torch.equal(ours, theirs)
    # Halting really varies across positions, so the comparison covers partial masks.
    assert any(0 < float((e > 1).float().mean()) < 1 for e in masked.executed)


def test_sparse_execution_needs_eval_and_binary_masks() -> None:
    model = resnet(2, "pact", halting="relaxed", execution="sparse").eval()
    with pytest.raises(ValueError, match="halting thresholded or discrete, got halting 'relaxed'"):
        model(torch.randn(1, 3, 8, 8))
    model.halting = "thresholded"
    model.train()
    with pytest.raises(ValueError, match=r"needs model\.eval\(\).*in training mode"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="execution must be one of masked, sparse; got 'tiles'"):
        model.execution = "tiles"
