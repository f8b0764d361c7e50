"""Sparse execution of a masked unit equals masked dense evaluation (issue: real speed)."""

from __future__ import annotations

import pytest
import torch

from pact_vision.sparse import neighbourhoods, sparse_unit_forward
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


@pytest.mark.parametrize(("channels", "size"), [(16, 32), (32, 16), (64, 8)])
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_sparse_unit_equals_masked_dense(
    channels: int, size: int, batch: int, fraction: float
) -> None:
    unit = _unit(channels, seed=channels + batch)
    generator = torch.Generator().manual_seed(int(fraction * 100) + size)
    u = torch.randn(batch, channels, size, size, generator=generator)
    active = torch.rand(batch, size, size, generator=generator) < fraction
    with torch.no_grad():
        expected = unit(u, active.unsqueeze(1).to(u.dtype))
    got = sparse_unit_forward(unit, u, active)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # Positions outside the mask are carried unchanged, bit for bit.
    assert torch.equal(got.permute(0, 2, 3, 1)[~active], u.permute(0, 2, 3, 1)[~active])


def test_an_empty_mask_skips_the_unit() -> None:
    unit = _unit(16, seed=0)
    u = torch.randn(2, 16, 8, 8)
    assert sparse_unit_forward(unit, u, torch.zeros(2, 8, 8, dtype=torch.bool)) is u


def test_neighbourhoods_pad_with_the_last_row() -> None:
    # 1 image of 2 x 3: position 0 is the top-left corner.
    index = neighbourhoods(torch.tensor([0, 4]), height=2, width=3)
    assert index[0].tolist() == [-1, -1, -1, -1, 0, 1, -1, 3, 4]
    assert index[1].tolist() == [0, 1, 2, 3, 4, 5, -1, -1, -1]


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
