"""Grouped halting in the ResNet: one decision per g x g patch (PACT fig. 4)."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_model

from pact_core import Halting


@pytest.mark.parametrize("mode", ["discrete", "act", "relaxed"])
@pytest.mark.parametrize("group", [2, 4, 8])
def test_grouped_model_decides_per_patch(group: int, mode: Halting) -> None:
    model = tiny_model(mode, n=3, group=group)
    torch.manual_seed(1)
    with torch.no_grad():
        for block in model.stages:
            for head in block.halting_heads:
                head.bias.fill_(0.0)
        out = model(torch.randn(2, 3, 16, 16))
    for executed in out.executed:
        size = executed.shape[-1]
        g = min(group, size)
        patches = executed.unfold(1, g, g).unfold(2, g, g)
        assert torch.all(patches == patches[..., :1, :1])  # constant within a patch
    assert (out.log_prob is not None) == (mode == "discrete")


def test_grouped_relaxed_model_trains() -> None:
    model = tiny_model("relaxed", n=2, group=4)
    out = model(torch.randn(2, 3, 7, 7))  # 7x7 maps leave partial patches at the border
    (out.logits.sum() + out.cost.sum()).backward()
    assert model.stages[0].halting_heads[0].bias.grad is not None
