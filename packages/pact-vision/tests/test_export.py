"""A PSACT ResNet's thresholded and discrete evaluation exports; its training compiles."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_model
from torch import Tensor, nn

from pact_core import Halting
from pact_vision import AdaptiveResNet


class Evaluation(nn.Module):
    def __init__(self, model: AdaptiveResNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        out = self.model(x)
        return (out.logits, out.flops, *out.executed)


@pytest.mark.parametrize("halting", ["thresholded", "discrete"])
def test_the_exported_program_equals_eager(halting: Halting) -> None:
    model = tiny_model(halting, n=2).eval()
    with torch.no_grad():
        for block in model.stages:
            for head in block.halting_heads:
                head.local.weight.normal_(0.0, 0.5)
                head.bias.fill_(0.0)
    x = torch.randn(2, 3, 12, 12)
    program = torch.export.export(Evaluation(model), (x,))  # masked: every unit runs
    torch.manual_seed(0)
    exported = program.module()(x)
    torch.manual_seed(0)
    eager = Evaluation(model)(x)
    for a, b in zip(exported, eager, strict=True):
        torch.testing.assert_close(a, b)
    assert any(bool((e < 2).any()) for e in eager[2:])  # some positions halted early


@pytest.mark.parametrize("halting", ["relaxed"])  # every halting: pact-core test_compile
def test_training_compiles_whole_and_equals_eager(halting: Halting) -> None:
    torch._dynamo.reset()
    model = tiny_model(halting, n=2).train()
    x = torch.randn(2, 3, 8, 8)

    def loss(images: Tensor) -> Tensor:
        out = model(images)
        total: Tensor = out.logits.square().sum() + out.cost.sum()
        return total

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    torch.manual_seed(0)
    got = compiled(x)
    torch.manual_seed(0)
    torch.testing.assert_close(got, loss(x))
