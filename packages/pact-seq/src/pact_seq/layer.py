"""One adaptive recurrent layer: ACT, PACT or a fixed number of steps around any cell.

Each input ``x_t`` is processed by an adaptive computation block of up to ``L``
iterations of the cell (PACT sec. 4.2): ``u^l_t = F(x_t, [l = 1], u^{l-1}_t)`` with
``u^0_t`` the state left by the previous timestep and ``[l = 1]`` the first-step flag
appended to the input. A halting head ``h^l_t = sigmoid(W u^l_t + b)`` decides when to
stop. The halting loop is :func:`pact_core.adaptive_loop` (Algorithms 1-4); this layer
supplies the cell step and the head, and loops over time.

Methods (:class:`pact_core.HaltingSettings`):

* ``"act"``: Graves' ACT (Alg. 4); cost is the ponder ``rho = N + R``.
* ``"pact"``: PACT, trained relaxed (Alg. 3, Concrete with temperature ``lambda``) and
  evaluated ``"discrete"`` (Alg. 1), ``"thresholded"`` (Alg. 2) or ``"relaxed"`` from the
  same weights; cost is ``N`` (eq. 24).
* ``"pact-reinforce"``: discrete PACT (Alg. 1) trained with REINFORCE (eq. 26); the layer
  reports ``log q(z)`` per timestep.
* ``"pondernet"``: PonderNet (Banino et al. 2021), trained on every iteration's
  prediction weighted by the halting distribution (``"expected"`` halting) and
  evaluated by sampling, thresholding or the median step.
* ``"fixed"``: every input runs ``L`` steps: Repeat-RNN (Fojo et al.) with
  ``rho = max_iterations``, the plain RNN with 1.

Executions: ``"compact"`` (the default) runs the cell only on the rows still active at
each iteration (gathered with ``index_select``, written back with ``index_copy``), so the
cell FLOPs scale with the active elements; the halting head still sees every row, frozen
ones included. ``"early-exit"`` runs every row and freezes halted ones, stopping when all
have halted; ``"masked"`` runs all ``L`` iterations without a host sync. The results are
the same up to the summation order of a smaller matrix product. On the development CPU
compaction made training steps of trained parity models 1.4-2.2x faster and evaluation
2.9-5.3x (``docs/results/speed.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from pact_core import (
    Execution,
    Halting,
    HaltingSettings,
    Step,
    StepContext,
    adaptive_loop,
    resolve_execution,
)

__all__ = ["CELL_TYPES", "DEFAULT_HALTING_BIAS", "AdaptiveRecurrent", "CellType", "RecurrentOutput"]

CellType = Literal["rnn", "lstm", "gru"]
CELL_TYPES: tuple[CellType, ...] = get_args(CellType)
#: The halting head's initial bias unless the settings give one: ACT's +1 (Graves 2016).
DEFAULT_HALTING_BIAS = 1.0


@dataclass(frozen=True)
class RecurrentOutput:
    """What :class:`AdaptiveRecurrent` returns for a batch of ``B`` sequences of length ``T``.

    Attributes:
        outputs: ``[B, T, H]`` the block output of every timestep (the hidden state
            ``h``; for an LSTM without the cell state).
        state: ``[B, S]`` the final packed state (``S = H``, or ``2H`` for ``(h, c)``).
        cost: ``[B, T]`` the computation cost per timestep: ``N`` (eq. 24) for PACT, the
            ponder ``rho = N + R`` (Alg. 4) for ACT, ``L`` for the fixed method.
        iterations: int64 ``[B, T]`` cell iterations each element executed per timestep.
        log_prob: ``[B, T]`` ``log q(z_t)`` (eq. 15) under ``"discrete"`` halting, else
            ``None``.
        loop_steps: Iterations the loop actually ran per timestep (``T`` ints).
        halting: The halting used.
        first_halting: ``[B, T]`` the first iteration's halting probability ``h^1``
            (``1`` when ``L = 1``), detached, for collapse diagnostics; ``None`` for
            fixed halting.
        iterates: ``[L, B, T, H]`` the hidden state after every iteration, for
            ``"expected"`` halting (PonderNet); else ``None``.
        distribution: ``[L, B, T]`` the halting distribution ``q`` of ``"expected"``
            halting; else ``None``.
    """

    outputs: Tensor
    state: Tensor
    cost: Tensor
    iterations: Tensor
    log_prob: Tensor | None
    loop_steps: tuple[int, ...]
    halting: Halting
    first_halting: Tensor | None = None
    iterates: Tensor | None = None
    distribution: Tensor | None = None


def _cell(kind: CellType, input_size: int, hidden_size: int) -> nn.Module:
    if kind == "rnn":
        return nn.RNNCell(input_size, hidden_size, nonlinearity="tanh")
    if kind == "lstm":
        return nn.LSTMCell(input_size, hidden_size)
    return nn.GRUCell(input_size, hidden_size)


class AdaptiveRecurrent(nn.Module):
    """An adaptive recurrent layer over any recurrent cell.

    Args:
        input_size: Features ``I`` of each input ``x_t``; the cell sees ``I + 1`` (the flag).
        hidden_size: Hidden units ``H``.
        settings: The method, the cap ``L`` and the halting constants.
        cell: ``"rnn"`` (tanh), ``"lstm"``, ``"gru"``, or a cell module of your own,
            called as ``cell(x, hx) -> hx`` with ``x: [B, I + 1]`` and ``hx: [B, H]``, or
            a tuple of such tensors for LSTM-like cells (``nn.LSTMCell``, or any cell
            with an attribute ``state_tensors = 2``). It must have ``hidden_size = H``.
        execution: ``"compact"`` (default), ``"early-exit"``, ``"masked"``, or an
            :class:`pact_core.Execution`; a plain attribute, assign to switch.

    Example::

        >>> import torch
        >>> from pact_core import HaltingSettings
        >>> layer = AdaptiveRecurrent(8, 16, HaltingSettings("pact", max_iterations=5))
        >>> out = layer(torch.randn(4, 3, 8))
        >>> out.outputs.shape, out.cost.shape
        (torch.Size([4, 3, 16]), torch.Size([4, 3]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        settings: HaltingSettings,
        *,
        cell: CellType | nn.Module = "rnn",
        execution: str | Execution = "compact",
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(cell, str):
            if cell not in CELL_TYPES:
                raise ValueError(f"cell must be one of {', '.join(CELL_TYPES)}; got {cell!r}")
            module = _cell(cell, input_size + 1, hidden_size)
        elif isinstance(cell, nn.Module):
            if getattr(cell, "hidden_size", None) != hidden_size:
                raise ValueError(
                    f"cell.hidden_size must equal hidden_size={hidden_size}, "
                    f"got {getattr(cell, 'hidden_size', None)!r}"
                )
            module = cell
        else:
            raise ValueError(f"cell must be a cell name or an nn.Module, got {cell!r}")
        self.cell = module
        self.settings = settings
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.state_tensors = 2 if isinstance(module, nn.LSTMCell) else module_state_tensors(module)
        self.state_size = self.state_tensors * hidden_size
        self.execution = resolve_execution(execution)
        self.halting_head: nn.Linear | None = None
        if settings.has_halting:
            self.halting_head = nn.Linear(self.state_size, 1)
            nn.init.constant_(self.halting_head.bias, settings.resolved_bias(DEFAULT_HALTING_BIAS))

    @property
    def has_halting(self) -> bool:
        """Whether the layer has a halting head (every method but ``"fixed"``)."""
        return self.halting_head is not None

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor:
        """Zero packed state ``[B, S]`` on ``like``'s device and dtype."""
        return like.new_zeros(batch_size, self.state_size)

    def _cell_step(self, inputs: Tensor, state: Tensor) -> Tensor:
        """One cell iteration on packed states: ``[B, I + 1], [B, S] -> [B, S]``."""
        if self.state_tensors > 1:
            parts = tuple(state.chunk(self.state_tensors, dim=-1))
            return torch.cat(self.cell(inputs, parts), dim=-1)
        out: Tensor = self.cell(inputs, state)
        return out

    def _step(self, first: Tensor, later: Tensor) -> Step:
        """The cell step of one timestep: the flagged input at ``l = 1``, then the other."""

        def step(u: Tensor, context: StepContext) -> Tensor:
            inputs = first if context.iteration == 1 else later
            if context.rows is not None:  # compact execution: this step's active rows
                inputs = inputs.index_select(0, context.rows)
            return self._cell_step(inputs, u)

        return step

    def _head(self, u: Tensor) -> Tensor:
        assert self.halting_head is not None
        logits: Tensor = self.halting_head(u)
        return logits

    def forward(
        self,
        x: Tensor,
        state: Tensor | None = None,
        *,
        halting: Halting | None = None,
        generator: torch.Generator | None = None,
    ) -> RecurrentOutput:
        """Run the layer over a batch of sequences.

        Args:
            x: ``[B, T, I]`` inputs, batch first.
            state: ``[B, S]`` initial packed state (zeros if ``None``).
            halting: Override the halting; by default the method's training halting in
                ``train()`` and ``settings.eval_default`` in ``eval()``.
            generator: Random generator for discrete and relaxed halting.

        Returns:
            A :class:`RecurrentOutput`.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape [B, T, {self.input_size}], got {tuple(x.shape)}")
        settings = self.settings
        halting = settings.halting_for(self.training) if halting is None else halting
        halting = settings.check_halting(halting)
        batch, steps = x.shape[0], x.shape[1]
        u = self.initial_state(batch, x) if state is None else state
        flag_on, flag_off = x.new_ones(batch, 1), x.new_zeros(batch, 1)
        outputs, costs, counts, log_probs, loop_steps, firsts = [], [], [], [], [], []
        iterates, distributions = [], []
        for t in range(steps):
            first = torch.cat([x[:, t], flag_on], dim=-1)
            later = torch.cat([x[:, t], flag_off], dim=-1)
            block = adaptive_loop(
                self._step(first, later),
                self._head if self.has_halting else None,
                u,
                settings,
                halting=halting,
                execution=self.execution,
                generator=generator,
            )
            u = block.output  # ACT and relaxed PACT carry the weighted state (Graves 2016)
            outputs.append(u[:, : self.hidden_size])
            costs.append(block.cost)
            counts.append(block.iterations)
            log_probs.append(block.log_prob)
            loop_steps.append(block.loop_steps)
            if block.probs:
                firsts.append(block.probs[0].detach())
            if block.iterates is not None and block.distribution is not None:
                iterates.append(block.iterates[..., : self.hidden_size])
                distributions.append(block.distribution)
        if steps == 0:
            empty = x.new_zeros(batch, 0)
            return RecurrentOutput(
                outputs=x.new_zeros(batch, 0, self.hidden_size),
                state=u,
                cost=empty,
                iterations=empty.long(),
                log_prob=empty if halting == "discrete" else None,
                loop_steps=(),
                halting=halting,
                first_halting=None if halting == "fixed" else empty,
            )
        stacked_log_prob = None
        if halting == "discrete":
            stacked_log_prob = torch.stack([lp for lp in log_probs if lp is not None], dim=1)
        return RecurrentOutput(
            outputs=torch.stack(outputs, dim=1),
            state=u,
            cost=torch.stack(costs, dim=1),
            iterations=torch.stack(counts, dim=1),
            log_prob=stacked_log_prob,
            loop_steps=tuple(loop_steps),
            halting=halting,
            first_halting=torch.stack(firsts, dim=1) if firsts else None,
            iterates=torch.stack(iterates, dim=2) if iterates else None,
            distribution=torch.stack(distributions, dim=2) if distributions else None,
        )


def module_state_tensors(cell: nn.Module) -> int:
    """How many ``[B, H]`` tensors a cell's state holds: its ``state_tensors``, else 1."""
    count = getattr(cell, "state_tensors", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"cell.state_tensors must be an integer >= 1, got {count!r}")
    return count
