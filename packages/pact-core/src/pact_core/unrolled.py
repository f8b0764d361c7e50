"""Algorithms 1-4 over all ``L`` iterations at once, for the engine's unrolled execution.

When every element's step is independent of the others (a recurrent cell, an MLP), the
states of a halted element never feed anyone else, so the engine can run the step ``L``
times without freezing anything, apply the halting head once to all the stacked states,
and then decide the halting of every element in a few tensor operations over the
iteration axis instead of a dozen per iteration. Up to an element's halting iteration
``z`` its states are exactly those of the frozen loop; after it they are ignored: the
output takes ``u^z`` (or weights that are 0 after ``z``), and ``N`` uses the head's value
at ``z`` for the later iterations, as the frozen state would give it. The noise is drawn
in one call of the same size and order as the loop's draws, so on the CPU the decisions
are the loop's own.

Layout: iteration first, ``[L, *groups]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_core import _noise
from pact_core.halting import exceeds_threshold
from pact_core.settings import Halting, HaltingSettings

__all__ = ["UnrolledHalting", "unrolled_halting"]


@dataclass(frozen=True)
class UnrolledHalting:
    """The halting of a batch of elements, decided over all ``L`` iterations at once.

    Attributes:
        iterations: int64 ``[*groups]``, the halting iteration ``z`` of every element.
        weights: ``[L, *groups]`` output weights (relaxed: ``z_hat``, ACT: ``h`` then
            ``R``), or ``None`` when the output is ``u^z`` (discrete, thresholded).
        cost: ``[*groups]``: ``N`` (eq. 24) or ACT's ponder ``N + R``.
        log_prob: ``[*groups]`` ``log q(z)`` (discrete), else ``None``.
        probs: ``[L - 1, *groups]`` the ``h`` the frozen loop would see at ``1..L-1``.
    """

    iterations: Tensor
    weights: Tensor | None
    cost: Tensor
    log_prob: Tensor | None
    probs: Tensor


def _first(fired: Tensor, levels: Tensor, limit: int) -> Tensor:
    """The first iteration ``l`` with ``fired[l - 1]``, else ``L`` (``fired``: ``[L - 1, ...]``)."""
    return torch.where(fired, levels, limit).amin(dim=0)


def _levels(like: Tensor) -> Tensor:
    """``[L - 1, 1, ...]`` holding ``1..L-1``, to compare with ``z``."""
    shape = (like.shape[0],) + (1,) * (like.dim() - 1)
    return torch.arange(1, like.shape[0] + 1, device=like.device).view(shape)


def unrolled_halting(
    logits: Tensor,
    halting: Halting,
    settings: HaltingSettings,
    *,
    generator: torch.Generator | None = None,
) -> UnrolledHalting:
    """Decide the halting of every element from the logits of all ``L`` iterations.

    Args:
        logits: ``[L - 1, *groups]`` halting logits of iterations ``1..L-1`` (``h^L = 1``).
        halting: ``"act"``, ``"relaxed"``, ``"discrete"``, ``"thresholded"`` or
            ``"median"``.
        settings: The cap ``L`` and the constants.
        generator: Noise of discrete and relaxed halting.

    Returns:
        An :class:`UnrolledHalting`.
    """
    limit = settings.max_iterations
    if logits.shape[0] != limit - 1:
        raise ValueError(f"logits must have {limit - 1} iterations first, got {logits.shape[0]}")
    h = torch.sigmoid(logits)  # h^1 .. h^{L-1}; h^L = 1 is implicit below
    levels = _levels(h)
    weights: Tensor | None = None
    log_prob: Tensor | None = None
    cost: Tensor | None = None
    if halting == "act":
        total = torch.cumsum(h.detach(), dim=0)  # Alg. 4, line 10 (no gradient, as the loop)
        z = _first(total >= 1 - settings.eps, levels, limit)
        before = levels < z
        spent = (h * before).sum(dim=0)
        remainder = 1 - spent  # line 14
        kept = torch.where(before, h, torch.zeros_like(h))  # h^l before z
        weights = torch.cat([kept, torch.zeros_like(remainder)[None]])
        weights = torch.where(_levels(weights) == z, remainder, weights)  # R at z
        cost = z.to(h.dtype) + remainder  # rho = N + R
    elif halting == "relaxed":
        u = _noise.draw_uniform(logits.shape, logits, generator, None)
        xi = _noise.relaxed_bernoulli(logits, True, settings.temperature, u)
        after = torch.cumprod(torch.sigmoid(-xi), dim=0)  # the stick after iteration l
        z = _first(after <= settings.delta, levels, limit)  # clipped at delta (eq. 28)
        before_stick = torch.cat([torch.ones_like(after[:1]), after], dim=0)  # [L]
        xi_hat = torch.cat([torch.sigmoid(xi), torch.ones_like(after[:1])], dim=0)
        z_hat = xi_hat * before_stick  # Alg. 3, line 11 (z_hat^L = the last stick)
        every = _levels(z_hat)
        after_all = torch.cat([after, torch.zeros_like(after[:1])], dim=0)
        weights = torch.where(
            every < z, z_hat, torch.where(every == z, z_hat + after_all, torch.zeros_like(z_hat))
        )
    else:
        if halting == "discrete":
            u = _noise.draw_uniform(logits.shape, logits, generator, None)
            fired = _noise.bernoulli(logits, True, u)
        elif halting == "median":
            fired = torch.cumprod(1 - h, dim=0) <= 0.5  # P(z <= l) >= 1/2
        else:
            fired = exceeds_threshold(logits, True, settings.threshold)
        z = _first(fired, levels, limit)
        if halting == "discrete":
            zero = torch.zeros_like(logits)
            log_go = torch.where(levels < z, F.logsigmoid(-logits), zero)
            log_halt = torch.where(levels == z, F.logsigmoid(logits), zero)
            log_prob = (log_go + log_halt).sum(dim=0)
    # After z the frozen state gives the head's value at z again (the loop's N).
    frozen = torch.gather(h, 0, torch.minimum(levels, z).expand_as(h) - 1)
    if cost is None:
        cost = _expected_iterations(frozen)
    return UnrolledHalting(
        iterations=z, weights=weights, cost=cost, log_prob=log_prob, probs=frozen
    )


def _expected_iterations(frozen: Tensor) -> Tensor:
    """``N = 1 + sum_{l >= 2} prod_{i < l} (1 - h^i)`` from ``h^1..h^{L-1}`` (eq. 24)."""
    if frozen.shape[0] == 0:
        return torch.ones(frozen.shape[1:], dtype=frozen.dtype, device=frozen.device)
    return 1 + torch.cumprod(1 - frozen, dim=0).sum(dim=0)
