"""The training objective of a sequence model: :func:`pact_core.adaptive_loss` on its output."""

from __future__ import annotations

import torch

from pact_core import AdaptiveLoss, EMABaseline, Reduction, adaptive_loss, pondernet_loss
from pact_seq.model import ModelOutput
from pact_seq.task import Batch, Task

__all__ = ["training_loss"]


def training_loss(
    output: ModelOutput,
    batch: Batch,
    task: Task,
    *,
    tau: float,
    baseline: EMABaseline | None = None,
    reduction: Reduction = "mean",
    beta: float = 0.01,
    lambda_p: float = 0.2,
) -> AdaptiveLoss:
    """The negative objective (eqs. 26-27), averaged over the batch; nothing synced.

    Per example ``b`` with ``K`` target positions and ``T`` timesteps the loss is
    ``nll_b / K + tau * mean_t cost_bt``: the timesteps are the halting elements of the
    one adaptive layer, and their cost is averaged as in Fojo et al.'s code
    (:func:`pact_core.ponder_penalty`; ``reduction="sum"`` sums it, ``T`` times the
    penalty, the same for parity). For discrete halting with a ``baseline`` the
    REINFORCE surrogate of eq. 26 uses the reward ``-nll_b / K`` and
    ``log q(z_b) = sum_t log q(z_bt)``. Under ``"expected"`` halting (PonderNet) the loss
    is :func:`pact_core.pondernet_loss` of every iteration's ``nll / K`` with the
    halting distribution ``q``, plus ``beta * KL(q || Geometric(lambda_p))``; ``tau`` is
    not used. Over a sequence with one halting distribution per token (the Transformer),
    every token's loss (the task's ``position_nll``) is weighted by its own ``q`` and the
    loss is the mean over tokens.

    Args:
        output: The model's output on ``batch.x``.
        batch: The batch.
        task: The task that scores the readout.
        tau: Computation penalty ``>= 0`` (0: none).
        baseline: :class:`pact_core.EMABaseline` for REINFORCE, updated in place.
        reduction: ``"mean"`` or ``"sum"`` of the cost over timesteps.
        beta: PonderNet's KL weight.
        lambda_p: PonderNet's prior.

    Returns:
        A :class:`pact_core.AdaptiveLoss`.

    Raises:
        ValueError: PonderNet over a sequence whose task gives no per-position loss.
    """
    recurrent = output.recurrent
    if output.step_logits is not None and recurrent.distribution is not None:
        q = recurrent.distribution  # [L, B, T]
        if q.shape[-1] == 1:
            step_losses = torch.stack(
                [task.nll(logits, batch.y) / task.num_targets for logits in output.step_logits]
            )  # [L, B]
            return pondernet_loss(step_losses, q[..., 0], beta=beta, lambda_p=lambda_p)
        position_nll = getattr(task, "position_nll", None)
        if position_nll is None:
            raise ValueError(
                f"pondernet needs the loss of every position of a {q.shape[-1]}-step "
                f"sequence; the {task.name} task does not give one"
            )
        per_token = torch.stack([position_nll(logits, batch.y) for logits in output.step_logits])
        return pondernet_loss(per_token.flatten(1), q.flatten(1), beta=beta, lambda_p=lambda_p)
    per_example = task.nll(output.logits, batch.y) / task.num_targets  # [B]
    log_prob = output.recurrent.log_prob
    return adaptive_loss(
        per_example,
        output.recurrent.cost,
        tau=tau,
        log_prob=None if log_prob is None else log_prob.sum(dim=1),
        baseline=baseline,
        reduction=reduction,
    )
