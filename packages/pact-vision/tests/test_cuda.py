"""PSACT on a CUDA device: AMP training, and sparse equal to masked (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_model

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_amp_training_step_is_finite() -> None:
    model = tiny_model("relaxed", n=2).cuda()
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    images = torch.randn(4, 3, 16, 16, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(images)
    (out.logits.float().sum() + out.cost.float().sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_sparse_equals_masked_on_cuda() -> None:
    model = tiny_model("thresholded", n=3).cuda().eval()
    with torch.no_grad():
        for block in model.stages:
            for head in block.halting_heads:
                head.local.weight.normal_(0.0, 0.5)
        images = torch.randn(8, 3, 32, 32, device="cuda")
        masked = model(images)
        model.execution = "sparse"
        sparse = model(images)
    torch.testing.assert_close(sparse.logits, masked.logits, atol=1e-4, rtol=1e-4)
