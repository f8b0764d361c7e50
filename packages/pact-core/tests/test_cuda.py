"""The engine on a CUDA device gives what it gives on the CPU (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pact_core as pc

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("execution", pc.EXECUTIONS)
@pytest.mark.parametrize("halting", ["act", "thresholded", "relaxed"])
def test_cuda_equals_cpu(halting: pc.Halting, execution: str) -> None:
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
    settings = pc.HaltingSettings("pact", max_iterations=6, halting_bias=0.0, delta=0.0)
    model = pc.Adaptive(block, nn.Linear(8, 1), settings)
    x = torch.randn(32, 8)
    # relaxed halting draws noise: give both devices the same draws through the seed only
    # where the halting is deterministic
    cpu = model(x, halting=halting, execution=execution)
    gpu = model.cuda()(x.cuda(), halting=halting, execution=execution)
    if halting != "relaxed":
        assert torch.equal(cpu.iterations, gpu.iterations.cpu())
        torch.testing.assert_close(cpu.output, gpu.output.cpu(), atol=1e-5, rtol=1e-4)
    assert gpu.output.is_cuda and gpu.cost.is_cuda
