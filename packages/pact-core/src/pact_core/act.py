"""Graves' Adaptive Computation Time (ACT) halting, in vector form (eqs. 29-30, Alg. 4)."""

from __future__ import annotations

import torch
from torch import Tensor

from pact_core._validation import check_open_unit, halting_input

__all__ = ["act_halting"]


def act_halting(
    h: Tensor | None = None, *, logits: Tensor | None = None, eps: float = 0.01
) -> tuple[Tensor, Tensor]:
    """ACT halting weights and ponder cost (Graves 2016; PACT eqs. 29-30, Alg. 4).

    ``N = min{n : sum_{l<=n} h^l >= 1 - eps}`` (with ``h^L = 1`` this is at most ``L``),
    ``R = 1 - sum_{l<N} h^l``, and the halting distribution is ``h^l`` for ``l < N``,
    ``R`` at ``N`` and 0 after. The ponder cost ``rho = N + R`` is differentiable almost
    everywhere but discontinuous where ``N`` changes (paper fig. 2).

    Args:
        h: Halting probabilities ``[..., L]``; ``h[..., -1]`` is taken as 1.
        logits: Halting logits ``[..., L]``, instead of ``h``.
        eps: The ``epsilon`` of eq. 29, in ``(0, 1)``; Graves uses 0.01.

    Returns:
        ``(weights, ponder)``: ``weights`` ``[..., L]`` on the simplex, ``ponder`` ``[...]``.

    Example::

        >>> import torch
        >>> from pact_core import act_halting
        >>> w, rho = act_halting(torch.tensor([0.3, 0.5, 0.4, 0.0]))
        >>> w, rho
        (tensor([0.3000, 0.5000, 0.2000, 0.0000]), tensor(3.2000))
    """
    eps = check_open_unit("eps", eps)
    probs = halting_input(h, logits).probs()
    cumulative = torch.cumsum(probs, dim=-1)
    reached = cumulative >= 1 - eps
    reached[..., -1] = True  # h^L = 1 guarantees it; do not depend on rounding
    halt_index = torch.argmax(reached.to(torch.uint8), dim=-1, keepdim=True)  # N - 1
    steps = torch.arange(probs.shape[-1], device=probs.device)
    before = steps < halt_index
    remainder = 1 - torch.where(before, probs, torch.zeros_like(probs)).sum(dim=-1)
    at = steps == halt_index
    weights = torch.where(before, probs, torch.zeros_like(probs)) + torch.where(
        at, remainder.unsqueeze(-1), torch.zeros_like(probs)
    )
    ponder = (halt_index.squeeze(-1) + 1).to(probs.dtype) + remainder
    return weights, ponder
