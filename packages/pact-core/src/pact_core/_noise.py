"""The noise behind the discrete and relaxed halting variables (eqs. 13 and 17).

Both draw the same ``u ~ U(0, 1)`` and turn it into logistic noise
``g = log u - log(1 - u)``, exactly as ``torch.distributions.LogitRelaxedBernoulli``
does. Then

* discrete:  ``xi = [logit(h) + g > 0]``, which is ``Bernoulli(h)``;
* relaxed:   ``xi_hat = sigmoid((logit(h) + g) / lambda)``, which is
  ``RelaxedBernoulli(h; lambda)``.

Sharing ``u`` couples the two: ``xi_hat > 0.5`` exactly when ``xi = 1``, so
``P(xi_hat > 0.5) = h`` for every temperature, and ``xi_hat -> xi`` as ``lambda -> 0``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions.utils import clamp_probs, probs_to_logits

from pact_core._validation import check_uniform


def draw_uniform(
    shape: torch.Size, like: Tensor, generator: torch.Generator | None, uniform: Tensor | None
) -> Tensor:
    """Return ``U(0, 1)`` draws of ``shape``, clamped away from 0 and 1 by ``finfo.eps``.

    Args:
        shape: Shape of the draws.
        like: Tensor whose dtype and device the draws take.
        generator: Optional random generator (on ``like``'s device).
        uniform: Caller-supplied draws to use instead (common random numbers).
    """
    if uniform is not None:
        u = check_uniform(uniform, shape, like)
    else:
        u = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    return clamp_probs(u)


def logistic(u: Tensor) -> Tensor:
    """Logistic noise ``log u - log(1 - u)`` from clamped uniforms ``u``."""
    return torch.logit(u)


def as_logits(values: Tensor, is_logits: bool) -> Tensor:
    """Logits of halting probabilities; probabilities are clamped by ``finfo.eps`` first."""
    return values if is_logits else probs_to_logits(values, is_binary=True)


def bernoulli(values: Tensor, is_logits: bool, u: Tensor) -> Tensor:
    """``xi ~ Bernoulli(h)`` as a bool tensor (eq. 13), driven by clamped uniforms ``u``.

    For probabilities the test ``h > 1 - u`` is used directly, so ``h = 0`` never fires and
    ``h = 1`` always fires; for logits it is the equivalent ``logit + g > 0``.
    """
    if is_logits:
        return values + logistic(u) > 0
    return values > 1 - u


def relaxed_bernoulli(values: Tensor, is_logits: bool, temperature: float, u: Tensor) -> Tensor:
    """Logits of ``xi_hat ~ RelaxedBernoulli(h; lambda)`` (eq. 17): ``(logit h + g) / lambda``."""
    return (as_logits(values, is_logits) + logistic(u)) / temperature
