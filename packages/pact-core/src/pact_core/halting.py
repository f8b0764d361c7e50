"""The halting distribution of an adaptive computation block, in vector form.

A block runs at most ``L`` iterations. Iteration ``l`` yields a halting probability
``h^l``; the last one is fixed, ``h^L = 1``. Every function here takes the halting
probabilities ``h`` of shape ``[..., L]`` (iteration axis last) *or* their ``logits``
(keyword, exactly one of the two) and broadcasts over the leading axes. The entry at
``L`` is treated as 1 whatever it holds. The logits form stays in log space and is the
numerically safe choice near 0 and 1.

Equation numbers refer to Figurnov, Sobolev and Vetrov, *Probabilistic Adaptive
Computation Time* (2018).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_core import _noise
from pact_core._validation import (
    HaltingInput,
    check_closed_unit,
    check_iteration_counts,
    check_positive,
    halting_input,
)

__all__ = [
    "expected_iterations",
    "halting_distribution",
    "halting_log_prob",
    "relaxed_halting",
    "sample_halting",
    "threshold_halting",
]


def stick_breaking(inp: HaltingInput) -> Tensor:
    """``q_l = h_l prod_{i<l} (1 - h_i)`` with ``h_L = 1`` (eqs. 15 and 18)."""
    x = inp.values
    head = x[..., :-1]
    zero = torch.zeros_like(x[..., :1])
    if inp.is_logits:
        # log q_l = log h_l + sum_{i<l} log(1 - h_i): the long product stays a sum of logs.
        log_halt = torch.cat([F.logsigmoid(head), zero], dim=-1)
        log_survive = torch.cat([zero, torch.cumsum(F.logsigmoid(-head), dim=-1)], dim=-1)
        return torch.exp(log_halt + log_survive)
    # Probabilities: a product of factors in [0, 1] cannot overflow and underflows to the
    # right limit, and unlike log(h) its gradient stays finite at h = 0 and h = 1.
    one = torch.ones_like(zero)
    halt = torch.cat([head, one], dim=-1)
    survive = torch.cat([one, torch.cumprod(1 - head, dim=-1)], dim=-1)
    return halt * survive


def halting_distribution(h: Tensor | None = None, *, logits: Tensor | None = None) -> Tensor:
    """Halting distribution ``q(z = l) = h^l prod_{i<l} (1 - h^i)`` (eq. 15).

    Args:
        h: Halting probabilities ``[..., L]`` in ``[0, 1]``; ``h[..., -1]`` is taken as 1.
        logits: Halting logits ``[..., L]``, instead of ``h``.

    Returns:
        ``q``: ``[..., L]``, non-negative, summing to 1 over the last axis.

    Example::

        >>> import torch
        >>> from pact_core import halting_distribution
        >>> halting_distribution(torch.tensor([0.5, 0.5, 0.0]))
        tensor([0.5000, 0.2500, 0.2500])
    """
    return stick_breaking(halting_input(h, logits))


def _iteration_numbers(like: Tensor) -> Tensor:
    """``[1, 2, ..., L]`` in ``like``'s dtype and device."""
    return torch.arange(1, like.shape[-1] + 1, dtype=like.dtype, device=like.device)


def expected_iterations(h: Tensor | None = None, *, logits: Tensor | None = None) -> Tensor:
    """Expected number of iterations ``N = sum_l l q(z = l)`` (eq. 24).

    This is the quantity that the truncated-geometric prior turns into the penalty
    ``tau * N`` (eqs. 25 and 27). It is differentiable in ``h``.

    Args:
        h: Halting probabilities ``[..., L]``.
        logits: Halting logits ``[..., L]``, instead of ``h``.

    Returns:
        ``N``: ``[...]``, in ``[1, L]``.
    """
    q = halting_distribution(h, logits=logits)
    return (q * _iteration_numbers(q)).sum(dim=-1)


def sample_halting(
    h: Tensor | None = None,
    *,
    logits: Tensor | None = None,
    generator: torch.Generator | None = None,
    uniform: Tensor | None = None,
) -> Tensor:
    """Sample the number of executed iterations ``z`` of a discrete block (Alg. 1, eqs. 13-14).

    Draws ``xi^l ~ Bernoulli(h^l)`` with ``xi^L = 1`` and returns the first ``l`` with
    ``xi^l = 1``; ``z`` is therefore distributed as :func:`halting_distribution`.

    Args:
        h: Halting probabilities ``[..., L]``.
        logits: Halting logits ``[..., L]``, instead of ``h``.
        generator: Random generator on ``h``'s device.
        uniform: ``U(0, 1)`` draws ``[..., L]`` to use instead of drawing (common random
            numbers: the same draws give the coupled sample of :func:`relaxed_halting`).

    Returns:
        ``z``: int64 ``[...]``, values in ``1..L``.
    """
    inp = halting_input(h, logits)
    u = _noise.draw_uniform(inp.values.shape, inp.values, generator, uniform)
    fired = _noise.bernoulli(inp.values, inp.is_logits, u)
    return _first_true(fired)


def _first_true(fired: Tensor) -> Tensor:
    """1-based index of the first ``True`` on the last axis, with the last entry forced on."""
    fired = fired.clone()
    fired[..., -1] = True
    # argmax returns the first maximal index, so this is the first firing iteration.
    return torch.argmax(fired.to(torch.uint8), dim=-1) + 1


def threshold_halting(
    h: Tensor | None = None, *, logits: Tensor | None = None, threshold: float = 0.5
) -> Tensor:
    """Number of iterations of a thresholded block (Alg. 2, eq. 16).

    Args:
        h: Halting probabilities ``[..., L]``.
        logits: Halting logits ``[..., L]``, instead of ``h``.
        threshold: Halt at the first ``h^l > threshold``; in ``[0, 1]``.

    Returns:
        ``z``: int64 ``[...]``, the first ``l`` with ``h^l > threshold``, else ``L``.
    """
    threshold = check_closed_unit("threshold", threshold)
    inp = halting_input(h, logits)
    return _first_true(exceeds_threshold(inp.values, inp.is_logits, threshold))


def exceeds_threshold(values: Tensor, is_logits: bool, threshold: float) -> Tensor:
    """``h > threshold`` as a bool tensor; for logits, ``logits > logit(threshold)`` exactly."""
    if not is_logits:
        return values > threshold
    if threshold <= 0.0:
        cut = -math.inf
    elif threshold >= 1.0:
        cut = math.inf
    else:
        cut = math.log(threshold) - math.log1p(-threshold)
    return values > cut


def relaxed_halting(
    h: Tensor | None = None,
    temperature: float = 2.0 / 3.0,
    *,
    logits: Tensor | None = None,
    generator: torch.Generator | None = None,
    uniform: Tensor | None = None,
) -> Tensor:
    """Relaxed halting distribution ``z_hat`` by Concrete stick breaking (Alg. 3, eqs. 17-18).

    Draws ``xi_hat^l ~ RelaxedBernoulli(h^l; lambda)`` (as
    ``torch.distributions.RelaxedBernoulli``: ``sigmoid((logit h + logit u) / lambda)``),
    sets ``xi_hat^L = 1`` and returns ``z_hat^l = xi_hat^l prod_{i<l} (1 - xi_hat^i)``.
    The sample is reparameterised (gradients flow to ``h``), lies on the simplex, and
    ``P(xi_hat^l > 0.5) = h^l`` for every temperature. With the same ``uniform`` draws,
    ``xi_hat^l > 0.5`` exactly when :func:`sample_halting` fires at ``l``.

    Args:
        h: Halting probabilities ``[..., L]``; clamped to ``[eps, 1 - eps]``
            (``torch.finfo``) before taking logits.
        temperature: ``lambda > 0``; the paper uses 2/3.
        logits: Halting logits ``[..., L]``, instead of ``h``.
        generator: Random generator on ``h``'s device.
        uniform: ``U(0, 1)`` draws ``[..., L]`` to use instead of drawing.

    Returns:
        ``z_hat``: ``[..., L]``, non-negative, summing to 1 over the last axis.
    """
    temperature = check_positive("temperature", temperature)
    inp = halting_input(h, logits)
    u = _noise.draw_uniform(inp.values.shape, inp.values, generator, uniform)
    xi_logits = _noise.relaxed_bernoulli(inp.values, inp.is_logits, temperature, u)
    return stick_breaking(HaltingInput(xi_logits, is_logits=True))


def halting_log_prob(
    h: Tensor | None = None, z: Tensor | None = None, *, logits: Tensor | None = None
) -> Tensor:
    """``log q(z)`` of executed-iteration counts, for the REINFORCE gradient (eq. 26).

    ``log q(z) = log h^z + sum_{i<z} log(1 - h^i)`` (eq. 15 in log space), with ``h^L = 1``.

    Args:
        h: Halting probabilities ``[..., L]``.
        z: Integer iteration counts ``[...]`` in ``1..L``.
        logits: Halting logits ``[..., L]``, instead of ``h``.

    Returns:
        ``[...]`` log-probabilities; ``-inf`` for a ``z`` of probability 0. For ``z`` drawn
        from ``q`` the value and its gradient are finite, also at ``h`` of exactly 0 or 1.
    """
    inp = halting_input(h, logits)
    if z is None:
        raise ValueError("z is required: the iteration counts whose log-probability to compute")
    x = inp.values
    check_iteration_counts(z, x.shape[:-1], inp.num_iterations)
    index = (z.to(torch.int64) - 1).unsqueeze(-1)
    before = _iteration_numbers(x) <= z.unsqueeze(-1).to(x.dtype) - 1  # i < z, 1-based
    before[..., -1] = False
    at = torch.zeros_like(before).scatter_(-1, index, True)
    at[..., -1] = False  # h^L = 1 contributes log 1 = 0
    if inp.is_logits:
        log_go = F.logsigmoid(-x)
        log_halt = F.logsigmoid(x)
    else:
        # Mask the probabilities *before* the log so that unused entries (possibly 0 or 1)
        # contribute log 1 = 0 with a finite gradient.
        log_go = torch.log1p(-torch.where(before, x, torch.zeros_like(x)))
        log_halt = torch.log(torch.where(at, x, torch.ones_like(x)))
    zero = torch.zeros_like(x)
    return (torch.where(before, log_go, zero) + torch.where(at, log_halt, zero)).sum(dim=-1)
