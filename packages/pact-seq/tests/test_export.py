"""Thresholded and discrete evaluation of an adaptive RNN export and run from the program."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from pact_core import Halting, HaltingSettings
from pact_seq import SequenceModel, parity_model


class Evaluation(nn.Module):
    """What an exported evaluation returns: logits, iterations and cost per timestep."""

    def __init__(self, model: SequenceModel, halting: Halting) -> None:
        super().__init__()
        self.model = model
        self.halting = halting

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.model(x, halting=self.halting)
        return out.logits, out.recurrent.iterations, out.recurrent.cost


@pytest.mark.parametrize("halting", ["thresholded", "discrete"])
def test_the_exported_program_equals_eager(halting: Halting) -> None:
    torch.manual_seed(0)
    model = parity_model(HaltingSettings("pact", max_iterations=5, halting_bias=0.0), bits=8,
                         hidden_size=16).eval()  # fmt: skip
    model.execution = "masked"  # the early exit is a data-dependent bound: masked exports
    x = torch.randn(6, 1, 8)
    program = torch.export.export(Evaluation(model, halting), (x,))
    torch.manual_seed(3)
    exported = program.module()(x)
    torch.manual_seed(3)
    eager = Evaluation(model, halting)(x)
    for a, b in zip(exported, eager, strict=True):
        torch.testing.assert_close(a, b)
    assert bool((eager[1] < 5).any())  # some rows halted early: the masks matter


def test_an_early_exit_refuses_to_export() -> None:
    model = parity_model(HaltingSettings("pact", max_iterations=5), bits=8, hidden_size=16)
    evaluation = Evaluation(model.eval(), "thresholded")  # compact execution by default
    with pytest.raises(Exception, match="cannot trace; use 'masked' or 'unrolled'"):
        torch.export.export(evaluation, (torch.randn(2, 1, 8),))
