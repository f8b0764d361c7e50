"""The training objective of an adaptive model: task loss, ponder penalty and REINFORCE.

PACT maximises ``E_q[log p(y | z, x) + sum_k log p(z_k)]`` (eq. 23) with the
truncated-geometric prior of eq. 20, ``log p(z) = log C(tau, L) - tau z``. Its
expectation under the halting distribution is analytic (eq. 24),

    ``E_q[log p(z_k)] = -tau N_k + log C(tau, L)``,

so up to a constant that no parameter changes the prior enters the objective as the
penalty ``tau * N_k`` (eq. 25), for the discrete (eq. 26) and the relaxed (eq. 27)
model alike; ACT's ponder cost ``tau * rho`` has the same form. :func:`ponder_penalty`
computes that penalty and :func:`adaptive_loss` assembles the loss that both pact
trainers minimise; ``TruncatedGeometric`` itself is only needed to check the identity
(``tests/test_objective.py``) or to report the bound with its constant.

**The one reduction.** A model has ``K`` adaptive layers (a ResNet's three blocks, a
stack of recurrent layers), and each layer has many halting elements (the positions of
a feature map, the timesteps of a sequence, the tokens of a Transformer). The penalty
per example is ``tau * sum_k mean_{elements of layer k} cost``: SACT's ``tau / (H W)``
per block (PACT sec. 4.1), and Fojo et al.'s ponder averaged over timesteps (their
``act_cell.py``). ``reduction="sum"`` sums over a layer's elements instead (the
paper's literal ``sum_k tau_k N_k`` with every timestep a block of its own).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from pact_core.reinforce import EMABaseline, reinforce_loss
from pact_core.settings import check_choice

__all__ = [
    "REDUCTIONS",
    "AdaptiveLoss",
    "Reduction",
    "adaptive_loss",
    "geometric_prior",
    "ponder_penalty",
    "pondernet_kl",
    "pondernet_loss",
]

Reduction = Literal["mean", "sum"]
REDUCTIONS: tuple[Reduction, ...] = get_args(Reduction)


def _layers(costs: Tensor | Sequence[Tensor]) -> tuple[Tensor, ...]:
    layers = (costs,) if isinstance(costs, Tensor) else tuple(costs)
    if not layers:
        raise ValueError("costs must hold at least one layer's [B, ...] cost tensor")
    batch = layers[0].shape[:1]
    for layer in layers:
        if layer.dim() < 1 or layer.shape[:1] != batch:
            raise ValueError(
                "every layer's cost must be [B, ...] with the same batch size B, got "
                f"shapes {[tuple(c.shape) for c in layers]}"
            )
    return layers


def ponder_penalty(
    costs: Tensor | Sequence[Tensor],
    *,
    reduction: Reduction = "mean",
    valid: Tensor | Sequence[Tensor | None] | None = None,
) -> Tensor:
    """The per-example computation cost ``sum_k mean_{elements} cost_k`` (eqs. 24-25).

    Multiply by ``tau`` for the penalty; :func:`adaptive_loss` does.

    Args:
        costs: One layer's ``[B, ...]`` cost (``AdaptiveOutput.cost``: ``N``, ACT's
            ``rho``; ``[B]`` for per-sample halting), or a sequence of them, one per
            adaptive layer.
        reduction: ``"mean"`` (the default, see the module docstring) or ``"sum"`` over
            each layer's elements.
        valid: Bool masks like ``costs`` of the elements that exist (e.g. not padding);
            the others are left out of the mean and the sum. ``None``: all.

    Returns:
        ``[B]`` cost per example.
    """
    reduction = check_choice("reduction", reduction, REDUCTIONS)
    layers = _layers(costs)
    masks: tuple[Tensor | None, ...]
    if valid is None:
        masks = (None,) * len(layers)
    else:
        masks = (valid,) if isinstance(valid, Tensor) else tuple(valid)
        if len(masks) != len(layers):
            raise ValueError(f"valid holds {len(masks)} masks for {len(layers)} layers")
    per_layer = []
    for cost, mask in zip(layers, masks, strict=True):
        flat = cost.reshape(cost.shape[0], -1)  # [B] (per-sample halting) is one element
        if mask is None:
            per_layer.append(flat.mean(1) if reduction == "mean" else flat.sum(1))
            continue
        if mask.shape != cost.shape:
            raise ValueError(f"valid must match cost {tuple(cost.shape)}, got {tuple(mask.shape)}")
        keep = mask.reshape(cost.shape[0], -1).to(flat.dtype)
        total = (flat * keep).sum(1)
        per_layer.append(total / keep.sum(1).clamp_min(1) if reduction == "mean" else total)
    return torch.stack(per_layer, dim=0).sum(dim=0)


@dataclass(frozen=True)
class AdaptiveLoss:
    """The pieces of the training loss, scalars on the device (nothing synced).

    Attributes:
        total: What to minimise: ``task + penalty + reinforce``.
        task: Mean task loss (the negative log-likelihood ``-log p(y | z, x)``).
        penalty: ``tau * mean_b ponder_penalty_b``.
        reinforce: The REINFORCE surrogate of eq. 26 (0 without ``log_prob``).
    """

    total: Tensor
    task: Tensor
    penalty: Tensor
    reinforce: Tensor


def adaptive_loss(
    task_loss: Tensor,
    costs: Tensor | Sequence[Tensor],
    *,
    tau: float,
    log_prob: Tensor | None = None,
    baseline: EMABaseline | None = None,
    reduction: Reduction = "mean",
    valid: Tensor | Sequence[Tensor | None] | None = None,
) -> AdaptiveLoss:
    """The negative objective of eqs. 25-27, averaged over the batch.

    ``mean_b [task_b + tau * ponder_penalty_b]``, plus for discrete halting trained with
    REINFORCE (``log_prob`` and ``baseline`` given) the score-function surrogate
    ``-(r_b - c) log q(z_b)`` with reward ``r_b = -task_b`` (eq. 26). ``tau = 0`` adds
    nothing (the warm-up, or a fixed model).

    Args:
        task_loss: ``[B]`` per-example task loss ``-log p(y | z, x)``.
        costs: See :func:`ponder_penalty`.
        tau: Penalty weight ``>= 0`` (``HaltingSettings.tau``, or a schedule's value).
        log_prob: ``[B]`` ``log q(z_b)`` summed over the example's halting decisions.
        baseline: The :class:`~pact_core.EMABaseline` of the reward, updated in place.
        reduction: See :func:`ponder_penalty`.
        valid: See :func:`ponder_penalty`.

    Returns:
        An :class:`AdaptiveLoss`.

    Raises:
        ValueError: For a negative or non-finite ``tau``, or mismatched shapes.
    """
    if not 0 <= tau < float("inf"):
        raise ValueError(f"tau must be a finite number >= 0, got {tau!r}")
    if task_loss.dim() != 1:
        raise ValueError(f"task_loss must be [B], got shape {tuple(task_loss.shape)}")
    task = task_loss.mean()
    zero = task.new_zeros(())
    total, penalty, reinforce = task, zero, zero
    if tau:
        penalty = tau * ponder_penalty(costs, reduction=reduction, valid=valid).mean()
        total = total + penalty
    if log_prob is not None and baseline is not None:
        reward = -task_loss.detach()
        reinforce = reinforce_loss(log_prob, reward, baseline(reward)).mean()
        total = total + reinforce
    return AdaptiveLoss(total=total, task=task, penalty=penalty, reinforce=reinforce)


def geometric_prior(lambda_p: float, max_iterations: int, like: Tensor) -> Tensor:
    """PonderNet's prior ``p_G(n) = lambda_p (1 - lambda_p)^(n - 1)``, truncated to ``1..L``.

    Args:
        lambda_p: The prior halting probability per step, in ``(0, 1]``.
        max_iterations: ``L``; the mass beyond it is renormalised over ``1..L``.
        like: Tensor whose dtype and device the result takes.

    Returns:
        ``[L]``, summing to 1.
    """
    lambda_p = float(lambda_p)
    if not 0 < lambda_p <= 1:
        raise ValueError(f"lambda_p must be a finite number in (0, 1], got {lambda_p!r}")
    steps = torch.arange(max_iterations, dtype=like.dtype, device=like.device)
    log_p = math.log(lambda_p) + steps * (math.log1p(-lambda_p) if lambda_p < 1 else -math.inf)
    if lambda_p == 1:
        log_p = torch.where(steps == 0, torch.zeros_like(steps), torch.full_like(steps, -math.inf))
    return torch.softmax(log_p, dim=0)  # the truncation renormalises


def pondernet_kl(distribution: Tensor, lambda_p: float) -> Tensor:
    """``KL(q || p_G) = sum_n q_n (log q_n - log p_G(n))``, per element.

    The direction is PonderNet's (Banino et al. 2021, eq. 6): from the halting
    distribution ``q`` to the geometric prior, so ``q`` is pulled towards ``p_G`` and is
    charged for every step it puts mass on where the prior has little (mode-seeking).
    Much public code computes ``KL(p_G || q)`` instead, by passing ``log q`` and ``p_G``
    to ``torch.nn.KLDivLoss``. Terms with ``q_n = 0`` count 0.

    Args:
        distribution: ``q``: ``[L, ...]``, on the simplex along the first axis.
        lambda_p: The prior's halting probability per step, in ``(0, 1]``.

    Returns:
        ``[...]``.
    """
    prior = geometric_prior(lambda_p, distribution.shape[0], distribution)
    prior = prior.view((-1,) + (1,) * (distribution.dim() - 1))
    # ``log q`` of a clamped copy: ``xlogy(q, q)``'s gradient in its second argument is
    # ``q / q``, NaN where the product of continuation probabilities underflowed to 0.
    tiny = torch.finfo(distribution.dtype).tiny
    log_q = distribution.clamp_min(tiny)
    return (torch.xlogy(distribution, log_q) - torch.xlogy(distribution, prior)).sum(0)


def pondernet_loss(
    step_losses: Tensor, distribution: Tensor, *, beta: float, lambda_p: float
) -> AdaptiveLoss:
    """PonderNet's objective (Banino et al. 2021, eq. 5), averaged over the batch.

    ``L = sum_n q_n L(y, y_hat_n) + beta * KL(q || p_G(lambda_p))``: the loss of every
    step weighted by the probability of halting there, plus the KL of
    :func:`pondernet_kl`.

    Args:
        step_losses: ``[L, B]`` the task loss of each step's prediction, per example.
        distribution: ``[L, B]`` the halting distribution ``q`` (``"expected"`` halting).
        beta: ``>= 0``.
        lambda_p: In ``(0, 1]``.

    Returns:
        An :class:`AdaptiveLoss` whose ``task`` is the expected task loss and whose
        ``penalty`` is ``beta * KL``.
    """
    if not 0 <= beta < float("inf"):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    if step_losses.shape != distribution.shape or step_losses.dim() != 2:
        raise ValueError(
            "step_losses and distribution must both be [L, B], got "
            f"{tuple(step_losses.shape)} and {tuple(distribution.shape)}"
        )
    task = (distribution * step_losses).sum(dim=0).mean()
    penalty = beta * pondernet_kl(distribution, lambda_p).mean() if beta else task.new_zeros(())
    zero = task.new_zeros(())
    return AdaptiveLoss(total=task + penalty, task=task, penalty=penalty, reinforce=zero)
