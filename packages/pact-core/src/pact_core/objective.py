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
    "ponder_penalty",
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
