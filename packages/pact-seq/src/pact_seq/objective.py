"""The training objective: task likelihood, computation penalty and REINFORCE (eqs. 26-27)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from pact_core import EMABaseline, reinforce_loss
from pact_seq.model import ModelOutput
from pact_seq.task import Batch, Task

__all__ = ["Loss", "training_loss"]


@dataclass(frozen=True)
class Loss:
    """The pieces of the training loss, all on the device (nothing synced).

    Attributes:
        total: Scalar to minimise.
        nll: Scalar mean negative log-likelihood per target position.
        penalty: Scalar ``tau * mean_b sum_t cost_bt``.
        reinforce: Scalar REINFORCE surrogate (0 unless halting was discrete and a
            baseline was given).
    """

    total: Tensor
    nll: Tensor
    penalty: Tensor
    reinforce: Tensor


def training_loss(
    output: ModelOutput,
    batch: Batch,
    task: Task,
    *,
    tau: float,
    baseline: EMABaseline | None = None,
) -> Loss:
    """Negative training objective, averaged over the batch.

    Per example ``b`` with ``K`` target positions the loss is
    ``nll_b / K + tau * sum_t cost_bt`` (eq. 27 for relaxed PACT with cost ``N``; ACT's
    ``log p - tau * rho``). For discrete halting with a ``baseline`` it adds the
    score-function term of eq. 26 with reward ``-nll_b / K`` (the same scale as the
    likelihood term) and ``log q(z_b) = sum_t log q(z_bt)``.

    Args:
        output: The model's output on ``batch.x``.
        batch: The batch.
        task: The task that scores the readout.
        tau: Computation penalty ``tau >= 0``.
        baseline: :class:`pact_core.EMABaseline` for REINFORCE, updated in place.

    Returns:
        A :class:`Loss`.
    """
    per_example = task.nll(output.logits, batch.y) / task.num_targets  # [B]
    nll = per_example.mean()
    if tau:
        penalty = tau * output.recurrent.cost.sum(dim=1).mean()
        total = nll + penalty
    else:  # Repeat/plain: a constant cost, nothing to add
        penalty, total = nll.new_zeros(()), nll
    reinforce = nll.new_zeros(())
    log_prob = output.recurrent.log_prob
    if baseline is not None and log_prob is not None:
        reward = -per_example.detach()
        reinforce = reinforce_loss(log_prob.sum(dim=1), reward, baseline(reward)).mean()
        total = total + reinforce
    return Loss(total=total, nll=nll, penalty=penalty, reinforce=reinforce)
