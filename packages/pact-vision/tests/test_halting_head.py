"""The halting head's nine-tap convolution against ``conv2d`` (values and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pact_vision.halting_head import NINE_TAPS_FROM, HaltingHead, single_output_conv3x3


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 4), (3, 16, 8, 8), (2, 7, 1, 9)])
@pytest.mark.parametrize("nine_taps_from", [0, NINE_TAPS_FROM])  # nine taps; the default
def test_nine_taps_equal_the_direct_convolution(
    shape: tuple[int, int, int, int], nine_taps_from: int
) -> None:
    generator = torch.Generator().manual_seed(sum(shape))
    u = torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(1, shape[1], 3, 3, generator=generator, dtype=torch.float64)
    weight.requires_grad_(True)
    ours = single_output_conv3x3(u, weight, nine_taps_from=nine_taps_from)
    reference = F.conv2d(u, weight, padding=1)
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    grad = torch.randn(ours.shape, generator=generator, dtype=torch.float64)
    ours_grads = torch.autograd.grad(ours, (u, weight), grad)
    reference_grads = torch.autograd.grad(reference, (u, weight), grad)
    for mine, theirs in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)


def test_channels_last_input_gives_the_same_logits() -> None:
    head = HaltingHead(6)
    with torch.no_grad():
        head.local.weight.normal_()
        head.pooled.weight.normal_()
    u = torch.randn(120, 6, 7, 5)  # 4200 positions: the nine-tap form
    expected = (
        F.conv2d(u, head.local.weight, padding=1).squeeze(1)
        + head.pooled(u.mean(dim=(2, 3))).unsqueeze(-1)
        + head.bias
    )
    for layout in (torch.contiguous_format, torch.channels_last):
        logits = head(u.contiguous(memory_format=layout))
        assert logits.shape == (120, 7, 5)
        torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
