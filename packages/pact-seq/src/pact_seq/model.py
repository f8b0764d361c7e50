"""A sequence model: one adaptive recurrent layer and a linear readout per timestep."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from pact_core import Execution, Halting, HaltingSettings, resolve_execution
from pact_seq.layer import AdaptiveRecurrent, CellType, RecurrentOutput

__all__ = ["INITS", "Init", "ModelOutput", "SequenceModel", "addition_model", "parity_model"]

Init = Literal["tf", "torch"]
INITS: tuple[Init, ...] = get_args(Init)


@dataclass(frozen=True)
class ModelOutput:
    """Readout logits and the recurrent layer's halting report.

    Attributes:
        logits: ``[B, T, output_size]`` readout of every timestep.
        recurrent: The layer's :class:`~pact_seq.layer.RecurrentOutput` (cost, iterations,
            ``log q(z)``, loop steps).
        step_logits: ``[L, B, T, output_size]`` the readout of every iteration under
            ``"expected"`` halting (PonderNet's per-step predictions); else ``None``.
    """

    logits: Tensor
    recurrent: RecurrentOutput
    step_logits: Tensor | None = None


class SequenceModel(nn.Module):
    """:class:`~pact_seq.layer.AdaptiveRecurrent` followed by ``nn.Linear(H, output_size)``.

    Args:
        input_size: Features per timestep.
        output_size: Readout logits per timestep.
        hidden_size: Hidden units of the cell.
        settings: The method, the cap ``L`` and the halting constants.
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a cell module
            (see :class:`~pact_seq.layer.AdaptiveRecurrent`).
        init: ``"tf"`` (default) initialises like the published TensorFlow code of
            Fojo et al.: Glorot-uniform over each built-in cell's joint kernel
            ``[x, h] -> gates`` with zero biases (an LSTM's forget-gate bias 1, TF's
            ``forget_bias``), and Glorot-uniform readout and halting weights. The readout
            bias is zero; the authors' parity scripts leave theirs (``softmax_b``) to TF's
            default Glorot-uniform, ``U(-sqrt(3), sqrt(3))`` for a single logit, which
            made no difference to learning speed in our runs
            (``docs/results/parity.md``). ``"torch"`` keeps torch's
            ``U(-1/sqrt(H), 1/sqrt(H))``. A cell module of your own keeps its own
            initialisation either way. The halting bias is the settings' either way.
        execution: The layer's execution (``"compact"`` by default).
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_size: int,
        settings: HaltingSettings,
        *,
        cell: CellType | nn.Module = "rnn",
        init: Init = "tf",
        execution: str | Execution = "compact",
    ) -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
        self.recurrent = AdaptiveRecurrent(
            input_size, hidden_size, settings, cell=cell, execution=execution
        )
        self.readout = nn.Linear(hidden_size, output_size)
        if init == "tf":
            self._tf_init(builtin_cell=isinstance(cell, str))

    @torch.no_grad()
    def _tf_init(self, *, builtin_cell: bool) -> None:
        """Glorot-uniform weights and zero biases, as TF1's RNN cells and dense layers."""
        cell = self.recurrent.cell
        if builtin_cell:
            assert isinstance(cell, nn.RNNCellBase)
            fan_in = cell.input_size + cell.hidden_size
            fan_out = cell.weight_ih.shape[0]  # gates * H
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            for weight in (cell.weight_ih, cell.weight_hh):
                weight.uniform_(-bound, bound)
            for bias in (cell.bias_ih, cell.bias_hh):
                if bias is not None:
                    bias.zero_()
            if isinstance(cell, nn.LSTMCell) and cell.bias_ih is not None:
                hidden = cell.hidden_size
                cell.bias_ih[hidden : 2 * hidden] = 1.0  # gates i, f, g, o: the forget gate
        nn.init.xavier_uniform_(self.readout.weight)
        nn.init.zeros_(self.readout.bias)
        head = self.recurrent.halting_head
        if head is not None:
            nn.init.xavier_uniform_(head.weight)

    @property
    def settings(self) -> HaltingSettings:
        """The layer's halting settings; assign to change them (e.g. a warm-up's cap)."""
        return self.recurrent.settings

    @settings.setter
    def settings(self, value: HaltingSettings) -> None:
        self.recurrent.settings = value

    @property
    def execution(self) -> Execution:
        """The layer's execution; assign a name or an :class:`pact_core.Execution`."""
        return self.recurrent.execution

    @execution.setter
    def execution(self, value: str | Execution) -> None:
        self.recurrent.execution = resolve_execution(value)

    @property
    def halting_head(self) -> nn.Linear | None:
        """The layer's halting head (``None`` for the fixed method)."""
        return self.recurrent.halting_head

    def forward(
        self,
        x: Tensor,
        *,
        halting: Halting | None = None,
        generator: torch.Generator | None = None,
    ) -> ModelOutput:
        """Map ``x: [B, T, I]`` to logits ``[B, T, output_size]`` and the halting report."""
        recurrent = self.recurrent(x, halting=halting, generator=generator)
        step_logits = None if recurrent.iterates is None else self.readout(recurrent.iterates)
        return ModelOutput(
            logits=self.readout(recurrent.outputs), recurrent=recurrent, step_logits=step_logits
        )


def parity_model(
    settings: HaltingSettings, *, bits: int = 64, hidden_size: int = 128
) -> SequenceModel:
    """The published parity model: a 128-unit tanh RNN cell (REFERENCE §3).

    The published cap is ``L = 100`` (``HaltingSettings(max_iterations=100)``).
    """
    return SequenceModel(bits, 1, hidden_size, settings, cell="rnn")


def addition_model(
    settings: HaltingSettings, *, digits: int = 5, out_digits: int = 6, hidden_size: int = 512
) -> SequenceModel:
    """The published addition model: a 512-unit LSTM (REFERENCE §3; ``L = 20``)."""
    return SequenceModel(10 * digits, 11 * out_digits, hidden_size, settings, cell="lstm")
