"""Test helpers: an independent, unfrozen unrolling of one adaptive block."""

from __future__ import annotations

import torch
from torch import Tensor

from pact_seq.layer import AdaptiveRecurrent


def unroll(
    layer: AdaptiveRecurrent, x: Tensor, steps: int, state: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Run ``steps`` cell iterations on ``x: [B, I]`` from ``state``, never halting.

    Args:
        layer: The layer whose cell and halting head to use.
        x: One timestep's input ``[B, I]``.
        steps: Cell iterations to run.
        state: The packed state ``u^0`` ``[B, S]``; zeros if ``None``.

    Returns:
        ``(states [B, steps, S], logits [B, steps])`` of the unfrozen trajectory.
    """
    batch = x.shape[0]
    u = layer.initial_state(batch, x) if state is None else state
    states, logits = [], []
    for level in range(steps):
        flag = torch.full((batch, 1), 1.0 if level == 0 else 0.0)
        u = layer._cell_step(torch.cat([x, flag], dim=-1), u)
        states.append(u)
        head = layer.halting_head
        logits.append(head(u).squeeze(-1) if head is not None else torch.zeros(batch))
    return torch.stack(states, dim=1), torch.stack(logits, dim=1)
