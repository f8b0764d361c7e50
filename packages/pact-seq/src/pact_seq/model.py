"""A sequence model: one adaptive recurrent layer and a linear readout per timestep."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pact_core import HaltingMode
from pact_seq.layer import AdaptiveRecurrent, CellType, Mode, RecurrentOutput

__all__ = ["ModelOutput", "SequenceModel", "addition_model", "parity_model"]


@dataclass(frozen=True)
class ModelOutput:
    """Readout logits and the recurrent layer's halting report.

    Attributes:
        logits: ``[B, T, output_size]`` readout of every timestep.
        recurrent: The layer's :class:`~pact_seq.layer.RecurrentOutput` (cost, iterations,
            ``log q(z)``, loop steps).
    """

    logits: Tensor
    recurrent: RecurrentOutput


class SequenceModel(nn.Module):
    """:class:`~pact_seq.layer.AdaptiveRecurrent` followed by ``nn.Linear(H, output_size)``.

    Args:
        input_size: Features per timestep.
        output_size: Readout logits per timestep.
        hidden_size: Hidden units of the cell.
        mode: See :class:`~pact_seq.layer.AdaptiveRecurrent`.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        max_ponder: Cap ``L`` on iterations per timestep.
        repeats: ``rho`` for Repeat-RNN.
        temperature: Concrete temperature of relaxed PACT (eq. 17).
        eps: ACT's ``epsilon`` (eq. 29).
        delta: Relaxed clipping threshold (eq. 28).
        halting_bias: Initial halting-head bias.
        eval_halting: Default halting in ``eval()`` mode.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_size: int,
        *,
        mode: Mode,
        cell: CellType,
        max_ponder: int = 100,
        repeats: int = 1,
        temperature: float = 2.0 / 3.0,
        eps: float = 0.01,
        delta: float = 0.01,
        halting_bias: float = 1.0,
        eval_halting: HaltingMode | None = None,
    ) -> None:
        super().__init__()
        self.recurrent = AdaptiveRecurrent(
            input_size,
            hidden_size,
            mode=mode,
            cell=cell,
            max_ponder=max_ponder,
            repeats=repeats,
            temperature=temperature,
            eps=eps,
            delta=delta,
            halting_bias=halting_bias,
            eval_halting=eval_halting,
        )
        self.readout = nn.Linear(hidden_size, output_size)

    @property
    def mode(self) -> Mode:
        """The layer's mode."""
        return self.recurrent.mode

    def forward(
        self,
        x: Tensor,
        *,
        halting: HaltingMode | None = None,
        generator: torch.Generator | None = None,
    ) -> ModelOutput:
        """Map ``x: [B, T, I]`` to logits ``[B, T, output_size]`` and the halting report."""
        recurrent = self.recurrent(x, halting=halting, generator=generator)
        return ModelOutput(logits=self.readout(recurrent.outputs), recurrent=recurrent)


def parity_model(
    mode: Mode,
    *,
    bits: int = 64,
    hidden_size: int = 128,
    max_ponder: int = 100,
    repeats: int = 1,
    temperature: float = 2.0 / 3.0,
) -> SequenceModel:
    """The published parity model: a 128-unit tanh RNN cell, at most 100 ponder steps."""
    return SequenceModel(
        bits,
        1,
        hidden_size,
        mode=mode,
        cell="rnn",
        max_ponder=max_ponder,
        repeats=repeats,
        temperature=temperature,
    )


def addition_model(
    mode: Mode,
    *,
    digits: int = 5,
    out_digits: int = 6,
    hidden_size: int = 512,
    max_ponder: int = 20,
    repeats: int = 1,
    temperature: float = 2.0 / 3.0,
) -> SequenceModel:
    """The published addition model: a 512-unit LSTM, at most 20 ponder steps."""
    return SequenceModel(
        10 * digits,
        11 * out_digits,
        hidden_size,
        mode=mode,
        cell="lstm",
        max_ponder=max_ponder,
        repeats=repeats,
        temperature=temperature,
    )
