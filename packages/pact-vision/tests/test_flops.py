from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import set_head_bias, tiny_model
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from pact_core import Halting
from pact_vision import resnet110
from pact_vision.flops import conv_flops, dilate, halting_head_flops, masked_unit_flops


def measured(model: torch.nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


def test_dense_resnet110_matches_reference_and_flop_counter() -> None:
    model = resnet110("fixed").eval()
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    assert int(out.flops) == 505_775_360
    assert measured(model, x) == 505_775_360


@pytest.mark.parametrize("mode", ["thresholded", "discrete", "relaxed", "act"])
def test_all_masks_on_equals_flop_counter_including_heads(mode: Halting) -> None:
    # With heads that never halt, every position runs every unit and every head, and
    # FlopCounterMode counts exactly the layers that run: stem, unit convolutions, the
    # heads' 3x3 convolutions and pooled linear maps, and the classifier.
    model = tiny_model(mode, n=3).eval()
    set_head_bias(model, -50.0)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = model(x)
    assert all((e == 3).all() for e in out.executed)
    total = measured(model, x)
    assert int(out.flops.sum()) == total
    model.halting = "fixed"
    heads = sum(
        conv_flops(block.channels, 1, 3, hw) + 2 * block.channels
        for block, hw in zip(model.stages, (256, 64, 16), strict=True)
        for _ in block.halting_heads
    )
    assert int(model(x).flops.sum()) == measured(model, x) == total - 2 * heads


def test_masked_flops_are_below_the_dense_count_and_match_a_hand_count() -> None:
    model = tiny_model("thresholded", n=3).eval()
    set_head_bias(model, 50.0)  # every position halts after the first unit
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = model(x)
    per_image = conv_flops(3, 4, 3, 256) + 10 * 2 * 8  # stem and classifier
    for block, hw in zip(model.stages, (256, 64, 16), strict=True):
        first = block.residual_units[0]
        per_image += conv_flops(first.in_channels, block.channels, 3, hw)
        per_image += conv_flops(block.channels, block.channels, 3, hw)
        per_image += conv_flops(block.channels, 1, 3, hw) + 2 * block.channels  # one head
    assert out.flops.tolist() == [per_image, per_image]
    assert per_image < measured(model, x) // 2


def test_conv1_counts_the_dilated_mask() -> None:
    active = torch.zeros(3, 5, 5, dtype=torch.bool)
    active[0, 2, 2] = True  # centre: conv1 needs the 3x3 neighbourhood
    active[1, 0, 0] = True  # corner: only 4 positions exist
    per_position = conv_flops(8, 8, 3, 1)
    assert masked_unit_flops(active, 8).tolist() == [
        per_position * (9 + 1),
        per_position * (4 + 1),
        0,
    ]
    assert dilate(active)[0].sum() == 9
    heads = halting_head_flops(active, 8).tolist()
    assert heads == [2 * 8 * 9 + 2 * 8, 2 * 8 * 9 + 2 * 8, 0]


def test_flops_follow_the_executed_maps() -> None:
    model = tiny_model("discrete", n=4).eval()
    torch.manual_seed(3)
    with torch.no_grad():
        for block in model.stages:
            for head in block.halting_heads:
                head.bias.fill_(0.0)  # h = 1/2: a mix of halted and active positions
        out = model(torch.randn(2, 3, 16, 16))
    model.halting = "fixed"
    with torch.no_grad():
        dense = model(torch.randn(2, 3, 16, 16)).flops
    assert torch.all(out.flops < dense)
    mean_units = out.units_executed
    assert torch.all(mean_units > 1)
    assert torch.all(mean_units < 4)


def brute_force_unit_flops(active: torch.Tensor, channels: int) -> list[int]:
    """Count conv1/conv2 positions one by one: conv1 wherever a 3x3 neighbour is active."""
    per_position = 2 * channels * channels * 9
    counts = []
    for mask in active.tolist():
        height, width = len(mask), len(mask[0])
        conv2 = sum(sum(row) for row in mask)
        conv1 = sum(
            any(
                mask[i + di][j + dj]
                for di in (-1, 0, 1)
                for dj in (-1, 0, 1)
                if 0 <= i + di < height and 0 <= j + dj < width
            )
            for i in range(height)
            for j in range(width)
        )
        counts.append(per_position * (conv1 + conv2))
    return counts


@given(
    seed=st.integers(0, 2**16),
    size=st.integers(1, 9),
    density=st.floats(0.0, 1.0),
)
def test_masked_unit_flops_match_a_brute_force_count(seed: int, size: int, density: float) -> None:
    generator = torch.Generator().manual_seed(seed)
    active = torch.rand(3, size, size, generator=generator) < density
    assert masked_unit_flops(active, 5).tolist() == brute_force_unit_flops(active, 5)


@pytest.mark.parametrize("mode", ["discrete", "relaxed", "act"])
def test_model_flops_agree_with_its_executed_maps(mode: Halting) -> None:
    model = tiny_model(mode, n=4, group=2)
    with torch.no_grad():
        for block in model.stages:
            for head in block.halting_heads:
                head.bias.fill_(-0.5)
        out = model(torch.randn(2, 3, 12, 12))
    expected = [conv_flops(3, 4, 3, 144) + 2 * 8 * 10] * 2
    for block, executed in zip(model.stages, out.executed, strict=True):
        c, positions = block.channels, executed[0].numel()
        first = block.residual_units[0]
        expected = [e + first.dense_flops(*executed.shape[1:]) for e in expected]
        for level in range(1, block.num_units + 1):
            ran = executed >= level
            if level > 1:
                unit = brute_force_unit_flops(ran, c)
                expected = [e + u for e, u in zip(expected, unit, strict=True)]
            if level < block.num_units:
                head_flops = halting_head_flops(ran, c).tolist()
                expected = [e + h for e, h in zip(expected, head_flops, strict=True)]
        assert torch.all(executed >= 1)
        assert positions > 0
    assert any(bool((e < 4).any()) for e in out.executed)  # some positions halted early
    assert out.flops.tolist() == expected


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 1, 6), (3, 5, 4), (4, 9, 9)])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_dilate_is_a_3x3_max_pool(shape: tuple[int, int, int], fraction: float) -> None:
    generator = torch.Generator().manual_seed(shape[1] * 10 + shape[2])
    active = torch.rand(shape, generator=generator) < fraction
    pooled = F.max_pool2d(active.unsqueeze(1).float(), 3, stride=1, padding=1).squeeze(1) > 0
    assert torch.equal(dilate(active), pooled)
