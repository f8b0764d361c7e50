"""One adaptive recurrent layer: ACT, PACT, Repeat-RNN or a plain RNN around a torch cell.

Each input ``x_t`` is processed by a block of up to ``L`` iterations of the cell (PACT
sec. 4.2): ``u^l_t = F(x_t, [l = 1], u^{l-1}_t)`` with ``u^0_t`` the state left by the
previous timestep and ``[l = 1]`` the first-step flag appended to the input. A halting
head ``h^l_t = sigmoid(W u^l_t + b)`` decides when to stop; all halting math
(Algorithms 1-4, eqs. 15, 24, 26, 29-30) is :class:`pact_core.HaltingStream`'s.

Modes:

* ``"act"``: Graves' ACT (Alg. 4, ``eps = 0.01``); cost is the ponder ``rho = N + R``.
* ``"pact"``: PACT, trained relaxed (Alg. 3, Concrete with temperature ``lambda``) and
  evaluated ``"discrete"`` (Alg. 1), ``"thresholded"`` (Alg. 2) or ``"relaxed"`` from the
  same weights; cost is ``N`` (eq. 24).
* ``"pact-reinforce"``: discrete PACT (Alg. 1) trained with REINFORCE (eq. 26); the layer
  reports ``log q(z)`` per timestep.
* ``"repeat"``: Repeat-RNN, each input fed ``rho = repeats`` times.
* ``"plain"``: ``rho = 1``.

Elements of a batch halt at different iterations. The loop over iterations runs until
every element has halted or the cap ``L`` is reached; a halted element's state is frozen
with ``torch.where``. There is no Python loop over batch elements, and the only host
sync is one :meth:`pact_core.HaltingStream.all_halted` per iteration.

By default (``compact=True``) the cell runs only on the rows still active at each
iteration (gathered with ``index_select`` and written back with ``index_copy``), so the
cell FLOPs scale with the active elements; the halting head still sees every row, frozen
ones included, exactly as in the masked loop (``compact=False``: every row steps and
halted rows are frozen with ``torch.where``), so the results are the same up to the
summation order of a smaller matrix product. It costs one more host sync per iteration
(the active rows' indices). On the development CPU it made training steps of trained
parity models 1.4-2.2x faster and evaluation 2.9-5.3x (``docs/results/speed.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from pact_core import HALTING_MODES, HaltingMode, HaltingStream

__all__ = [
    "CELL_TYPES",
    "MODES",
    "AdaptiveRecurrent",
    "CellType",
    "Mode",
    "RecurrentOutput",
]

Mode = Literal["act", "pact", "pact-reinforce", "repeat", "plain"]
MODES: tuple[Mode, ...] = get_args(Mode)
CellType = Literal["rnn", "lstm", "gru"]
CELL_TYPES: tuple[CellType, ...] = get_args(CellType)

#: Halting used while training, per mode (``None``: no halting, a fixed number of steps).
TRAIN_HALTING: dict[Mode, HaltingMode | None] = {
    "act": "act",
    "pact": "relaxed",
    "pact-reinforce": "discrete",
    "repeat": None,
    "plain": None,
}
#: Default halting at evaluation, per mode.
EVAL_HALTING: dict[Mode, HaltingMode | None] = {
    "act": "act",
    "pact": "thresholded",
    "pact-reinforce": "thresholded",
    "repeat": None,
    "plain": None,
}


@dataclass(frozen=True)
class RecurrentOutput:
    """What :class:`AdaptiveRecurrent` returns for a batch of ``B`` sequences of length ``T``.

    Attributes:
        outputs: ``[B, T, H]`` the block output of every timestep (the hidden state
            ``h``; for an LSTM without the cell state).
        state: ``[B, S]`` the final packed state (``S = H``, or ``2H`` for ``(h, c)``).
        cost: ``[B, T]`` the computation cost per timestep: ``N`` (eq. 24) for PACT, the
            ponder ``rho = N + R`` (Alg. 4) for ACT, ``repeats`` for Repeat/plain.
        iterations: int64 ``[B, T]`` cell iterations each element executed per timestep.
        log_prob: ``[B, T]`` ``log q(z_t)`` (eq. 15) under ``"discrete"`` halting, else
            ``None``.
        loop_steps: Iterations the loop actually ran per timestep (``T`` ints): the
            maximum of ``iterations[:, t]`` over the batch.
        first_halting: ``[B, T]`` the first iteration's halting probability ``h^1``
            (``1`` when ``L = 1``), detached, for collapse diagnostics; ``None`` for
            Repeat/plain.
        halting: The halting used (``"discrete"``, ``"thresholded"``, ``"relaxed"``,
            ``"act"``), or ``None`` for Repeat/plain.
    """

    outputs: Tensor
    state: Tensor
    cost: Tensor
    iterations: Tensor
    log_prob: Tensor | None
    loop_steps: tuple[int, ...]
    halting: HaltingMode | None
    first_halting: Tensor | None = None


class AdaptiveRecurrent(nn.Module):
    """An adaptive recurrent layer over ``nn.RNNCell``, ``nn.LSTMCell`` or ``nn.GRUCell``.

    Args:
        input_size: Features ``I`` of each input ``x_t``; the cell sees ``I + 1`` (the flag).
        hidden_size: Hidden units ``H``.
        mode: ``"act"``, ``"pact"``, ``"pact-reinforce"``, ``"repeat"`` or ``"plain"``.
        cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        max_ponder: The cap ``L >= 1`` on iterations per timestep for halting modes.
        repeats: ``rho >= 1`` for ``"repeat"``; must be 1 for ``"plain"``.
        temperature: Concrete temperature ``lambda > 0`` of relaxed PACT (eq. 17).
        eps: ACT's ``epsilon`` (eq. 29).
        delta: Clipping threshold of relaxed PACT (eq. 28): an element stops once its
            remaining stick is ``<= delta``, so the relaxed loop can end before ``L``.
        halting_bias: Initial bias ``b`` of the halting head (``+1`` as in ACT).
        eval_halting: Halting used in ``eval()`` mode when :meth:`forward` is not told;
            defaults to ``"thresholded"`` for PACT and ``"act"`` for ACT.
        compact: Run the cell only on the still-active rows of each iteration (the
            default; see the module docstring). ``False`` runs the masked loop. A plain
            attribute: assign to switch.

    Example::

        >>> import torch
        >>> layer = AdaptiveRecurrent(8, 16, mode="pact", max_ponder=5)
        >>> out = layer(torch.randn(4, 3, 8))
        >>> out.outputs.shape, out.cost.shape
        (torch.Size([4, 3, 16]), torch.Size([4, 3]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        mode: Mode = "pact",
        cell: CellType = "rnn",
        max_ponder: int = 100,
        repeats: int = 1,
        temperature: float = 2.0 / 3.0,
        eps: float = 0.01,
        delta: float = 0.01,
        halting_bias: float = 1.0,
        eval_halting: HaltingMode | None = None,
        compact: bool = True,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if cell not in CELL_TYPES:
            raise ValueError(f"cell must be one of {', '.join(CELL_TYPES)}; got {cell!r}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(max_ponder, bool) or not isinstance(max_ponder, int) or max_ponder < 1:
            raise ValueError(f"max_ponder must be an integer >= 1, got {max_ponder!r}")
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
        if mode == "plain" and repeats != 1:
            raise ValueError(f"the plain mode runs each input once; got repeats={repeats}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not 0 < eps < 1:
            raise ValueError(f"eps must lie in the open interval (0, 1), got {eps!r}")
        if not 0 <= delta < 1:
            raise ValueError(f"delta must lie in [0, 1), got {delta!r}")
        self.mode: Mode = mode
        self.cell_type: CellType = cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.max_ponder = max_ponder
        self.repeats = repeats
        self.temperature = float(temperature)
        self.eps = float(eps)
        self.delta = float(delta)
        self.compact = bool(compact)
        self.cell: nn.RNNCell | nn.LSTMCell | nn.GRUCell
        if cell == "rnn":
            self.cell = nn.RNNCell(input_size + 1, hidden_size, nonlinearity="tanh")
        elif cell == "lstm":
            self.cell = nn.LSTMCell(input_size + 1, hidden_size)
        else:
            self.cell = nn.GRUCell(input_size + 1, hidden_size)
        self.state_size = 2 * hidden_size if cell == "lstm" else hidden_size
        self.halting_head: nn.Linear | None = None
        if TRAIN_HALTING[mode] is not None:
            self.halting_head = nn.Linear(self.state_size, 1)
            nn.init.constant_(self.halting_head.bias, halting_bias)
        default_eval = EVAL_HALTING[mode]
        self.eval_halting: HaltingMode | None = (
            default_eval if eval_halting is None else self._check_halting(eval_halting)
        )

    @property
    def has_halting(self) -> bool:
        """Whether the layer has a halting head (``act``, ``pact``, ``pact-reinforce``)."""
        return self.halting_head is not None

    def _check_halting(self, halting: HaltingMode) -> HaltingMode:
        if not self.has_halting:
            raise ValueError(f"the {self.mode!r} mode has no halting head; got {halting!r}")
        if halting not in HALTING_MODES:
            raise ValueError(f"halting must be one of {', '.join(HALTING_MODES)}; got {halting!r}")
        return halting

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor:
        """Zero packed state ``[B, S]`` on ``like``'s device and dtype."""
        return like.new_zeros(batch_size, self.state_size)

    def _cell_step(self, inputs: Tensor, state: Tensor) -> Tensor:
        """One cell iteration on packed states: ``[B, I + 1], [B, S] -> [B, S]``."""
        if isinstance(self.cell, nn.LSTMCell):
            h, c = state[:, : self.hidden_size], state[:, self.hidden_size :]
            h, c = self.cell(inputs, (h, c))
            return torch.cat([h, c], dim=-1)
        out: Tensor = self.cell(inputs, state)
        return out

    def forward(
        self,
        x: Tensor,
        state: Tensor | None = None,
        *,
        halting: HaltingMode | None = None,
        generator: torch.Generator | None = None,
    ) -> RecurrentOutput:
        """Run the layer over a batch of sequences.

        Args:
            x: ``[B, T, I]`` inputs, batch first.
            state: ``[B, S]`` initial packed state (zeros if ``None``).
            halting: Override the halting (``"discrete"``, ``"thresholded"``,
                ``"relaxed"`` or ``"act"``); by default the mode's training halting in
                ``train()`` and ``eval_halting`` in ``eval()``. Not allowed for
                Repeat/plain.
            generator: Random generator for discrete and relaxed halting.

        Returns:
            A :class:`RecurrentOutput`.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape [B, T, {self.input_size}], got {tuple(x.shape)}")
        if halting is not None:
            halting = self._check_halting(halting)
        elif self.has_halting:
            halting = TRAIN_HALTING[self.mode] if self.training else self.eval_halting
        batch, steps = x.shape[0], x.shape[1]
        u = self.initial_state(batch, x) if state is None else state
        ones = x.new_ones(batch, 1)
        zeros = x.new_zeros(batch, 1)
        outputs, costs, counts, log_probs, loop_steps, firsts = [], [], [], [], [], []
        for t in range(steps):
            first = torch.cat([x[:, t], ones], dim=-1)
            later = torch.cat([x[:, t], zeros], dim=-1)
            if halting is None:
                u, cost, count, log_prob, ran = self._repeat(first, later, u)
            else:
                u, cost, count, log_prob, ran, h1 = self._adaptive(
                    first, later, u, halting, generator
                )
                firsts.append(h1)
            outputs.append(u[:, : self.hidden_size])
            costs.append(cost)
            counts.append(count)
            log_probs.append(log_prob)
            loop_steps.append(ran)
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
                first_halting=None if halting is None else empty,
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
        )

    def _repeat(
        self, first: Tensor, later: Tensor, u: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, None, int]:
        """Repeat-RNN block: ``rho`` cell steps, the flag set on the first only."""
        for r in range(self.repeats):
            u = self._cell_step(first if r == 0 else later, u)
        batch = u.shape[0]
        cost = u.new_full((batch,), float(self.repeats))
        count = torch.full((batch,), self.repeats, dtype=torch.int64, device=u.device)
        return u, cost, count, None, self.repeats

    def _adaptive(
        self,
        first: Tensor,
        later: Tensor,
        u: Tensor,
        halting: HaltingMode,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, int, Tensor]:
        """One adaptive computation block (Alg. 1-4) via :class:`pact_core.HaltingStream`."""
        head = self.halting_head
        assert head is not None
        limit = self.max_ponder
        stream = HaltingStream(
            halting,
            limit,
            (u.shape[0],),
            device=u.device,
            dtype=u.dtype,
            temperature=self.temperature,
            delta=self.delta,
            eps=self.eps,
            generator=generator,
            validate_args=False,
        )
        # Discrete and thresholded blocks output u^z, which is exactly the frozen state
        # at the end; relaxed and ACT blocks accumulate a weighted sum in the stream.
        accumulate = halting in ("relaxed", "act")
        first_h = u.new_ones(u.shape[0])  # h^1 = 1 when L = 1
        ran = 0
        for level in range(limit):
            inputs = first if level == 0 else later
            if level > 0 and self.compact:  # the cell runs on the active rows only
                rows = torch.nonzero(stream.active).squeeze(1)
                if rows.shape[0] < u.shape[0]:
                    inputs, state = inputs.index_select(0, rows), u.index_select(0, rows)
                    new = u.index_copy(0, rows, self._cell_step(inputs, state))
                else:  # no row has halted yet: a plain step, nothing to gather
                    new = self._cell_step(inputs, u)
            else:
                new = self._cell_step(inputs, u)
                if level > 0:  # halted elements keep their state u^z
                    new = torch.where(stream.active[:, None], new, u)
            logits = head(new).squeeze(-1) if level < limit - 1 else None
            if level == 0 and logits is not None:
                first_h = torch.sigmoid(logits.detach())
            stream.step(new if accumulate else None, logits=logits)
            u = new
            ran += 1
            if stream.all_halted():
                break
        output = stream.output if accumulate else u
        log_prob = stream.log_prob if halting == "discrete" else None
        return output, stream.cost, stream.executed, log_prob, ran, first_h
