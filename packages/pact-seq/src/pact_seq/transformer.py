"""A Universal Transformer encoder with per-token halting, on the halting engine.

One shared ``nn.TransformerEncoderLayer`` is applied up to ``L`` times (Dehghani et al.
2019); before each application a learned embedding of the iteration is added to the
states. Every token is a halting element of :func:`pact_core.adaptive_loop`: it halts on
its own, with any method of :class:`pact_core.HaltingSettings` (ACT as the Universal
Transformer, PACT trained relaxed and evaluated discrete or thresholded, PonderNet). A
halted token keeps its state but still serves as a key and value to the tokens that go
on, because the layer runs on the whole sequence and only the state update is frozen
(``"replace"`` steps; executions ``"masked"`` or ``"early-exit"``, not the row-wise
``"compact"`` or ``"unrolled"``).

Padding: positions marked in ``padding`` are masked out of attention as keys
(``src_key_padding_mask``), and their halting logit is pinned high so that they halt
after the first iteration and never keep the loop going; their cost is not part of the
loss (``valid=`` of :func:`pact_core.adaptive_loss`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pact_core import Execution, Halting, HaltingSettings, StepContext, adaptive_loop
from pact_core.engine import resolve_execution
from pact_seq.layer import DEFAULT_HALTING_BIAS, RecurrentOutput
from pact_seq.model import ModelOutput

__all__ = ["PADDING_LOGIT", "AdaptiveTransformer"]

#: The halting logit of padding positions: ``sigmoid(30) = 1`` in float32, so they halt
#: after their first iteration under every halting.
PADDING_LOGIT = 30.0


class AdaptiveTransformer(nn.Module):
    """Universal Transformer encoder with per-token adaptive depth and a per-token readout.

    Args:
        input_size: Features per input token.
        output_size: Readout logits per token.
        d_model: Width of the states.
        settings: The method, the cap ``L`` and the halting constants.
        max_length: Longest sequence (the learned position embedding's size).
        nhead: Attention heads.
        dim_feedforward: Width of the feed-forward block.
        dropout: Dropout of the layer (0 by default: the halting sees deterministic states).
        execution: ``"masked"`` (default, no host sync) or ``"early-exit"``.

    Example::

        >>> import torch
        >>> from pact_core import HaltingSettings
        >>> model = AdaptiveTransformer(1, 1, 16, HaltingSettings("act", max_iterations=4),
        ...                             max_length=6, nhead=2)
        >>> out = model(torch.randn(3, 6, 1))
        >>> out.logits.shape, out.recurrent.iterations.shape
        (torch.Size([3, 6, 1]), torch.Size([3, 6]))
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        d_model: int,
        settings: HaltingSettings,
        *,
        max_length: int,
        nhead: int = 4,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        execution: str | Execution = "masked",
    ) -> None:
        super().__init__()
        for name, value in (("d_model", d_model), ("max_length", max_length), ("nhead", nhead)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if d_model % nhead:
            raise ValueError(f"d_model={d_model} must be a multiple of nhead={nhead}")
        self.settings = settings
        self.execution = execution
        self.input_size = input_size
        self.d_model = d_model
        self.embed = nn.Linear(input_size, d_model)
        self.position = nn.Parameter(torch.randn(max_length, d_model) * 0.02)
        self.step_embedding = nn.Parameter(torch.randn(settings.max_iterations, d_model) * 0.02)
        self.layer = nn.TransformerEncoderLayer(
            d_model,
            nhead,
            dim_feedforward if dim_feedforward is not None else 4 * d_model,
            dropout,
            batch_first=True,
            norm_first=True,
        )
        self.norm = nn.LayerNorm(d_model)
        self.halting_head: nn.Linear | None = None
        if settings.has_halting:
            self.halting_head = nn.Linear(d_model, 1)
            nn.init.constant_(self.halting_head.bias, settings.resolved_bias(DEFAULT_HALTING_BIAS))
        self.readout = nn.Linear(d_model, output_size)

    @property
    def execution(self) -> Execution:
        """``"masked"`` or ``"early-exit"``; assign to switch."""
        return self._execution

    @execution.setter
    def execution(self, value: str | Execution) -> None:
        runner = resolve_execution(value)
        if runner.name in ("compact", "unrolled"):
            raise ValueError(
                f"execution {runner.name!r} runs rows on their own; attention mixes tokens, "
                "so use 'masked' or 'early-exit'"
            )
        self._execution = runner

    def forward(
        self,
        x: Tensor,
        padding: Tensor | None = None,
        *,
        halting: Halting | None = None,
        generator: torch.Generator | None = None,
    ) -> ModelOutput:
        """Encode ``x: [B, T, I]``; ``padding``: bool ``[B, T]``, ``True`` at padding.

        Returns:
            A :class:`~pact_seq.model.ModelOutput` whose ``recurrent`` holds the
            per-token cost, iterations and ``log q(z)`` (``[B, T]``).
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape [B, T, {self.input_size}], got {tuple(x.shape)}")
        if x.shape[1] > self.position.shape[0]:
            raise ValueError(
                f"sequences of {x.shape[1]} tokens exceed max_length={self.position.shape[0]}"
            )
        if padding is not None and (padding.shape != x.shape[:2] or padding.dtype != torch.bool):
            raise ValueError(
                f"padding must be a bool mask of shape {tuple(x.shape[:2])}, "
                f"got {padding.dtype} {tuple(padding.shape)}"
            )
        settings = self.settings
        halting = settings.halting_for(self.training) if halting is None else halting
        u = self.embed(x) + self.position[: x.shape[1]]

        def step(state: Tensor, context: StepContext) -> Tensor:
            timed = state + self.step_embedding[context.iteration - 1]
            out: Tensor = self.layer(timed, src_key_padding_mask=padding)
            return out

        def head(state: Tensor) -> Tensor:
            assert self.halting_head is not None
            logits: Tensor = self.halting_head(state).squeeze(-1)
            if padding is None:
                return logits
            return logits.masked_fill(padding, PADDING_LOGIT)

        block = adaptive_loop(
            step,
            head if self.halting_head is not None else None,
            u,
            settings,
            halting=halting,
            execution=self._execution,
            generator=generator,
        )
        states = self.norm(block.output)
        recurrent = RecurrentOutput(
            outputs=states,
            state=block.state,
            cost=block.cost,
            iterations=block.iterations,
            log_prob=block.log_prob,
            loop_steps=(block.loop_steps,),
            halting=block.halting,
            first_halting=block.probs[0].detach() if block.probs else None,
            iterates=None if block.iterates is None else self.norm(block.iterates),
            distribution=block.distribution,
        )
        step_logits = None if recurrent.iterates is None else self.readout(recurrent.iterates)
        return ModelOutput(
            logits=self.readout(states), recurrent=recurrent, step_logits=step_logits
        )
