"""The training objective: task likelihood, computation penalty and REINFORCE (eqs. 26-27)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from torch import Tensor

from pact_core import EMABaseline, reinforce_loss
from pact_seq.model import ModelOutput
from pact_seq.task import Batch, Task

__all__ = ["PENALTY_REDUCTIONS", "Loss", "PenaltyReduction", "training_loss"]

PenaltyReduction = Literal["mean", "sum"]
#: How the per-timestep cost is reduced over time: ``"mean"`` as Fojo et al.'s code
#: (the default), ``"sum"`` as this library did before (``tau`` times ``T`` larger).
PENALTY_REDUCTIONS: tuple[PenaltyReduction, ...] = get_args(PenaltyReduction)


@dataclass(frozen=True)
class Loss:
    """The pieces of the training loss, all on the device (nothing synced).

    Attributes:
        total: Scalar to minimise.
        nll: Scalar mean negative log-likelihood per target position.
        penalty: Scalar ``tau * mean_b mean_t cost_bt`` (or ``sum_t`` with
            ``reduction="sum"``).
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
    reduction: PenaltyReduction = "mean",
) -> Loss:
    """Negative training objective, averaged over the batch.

    Per example ``b`` with ``K`` target positions and ``T`` timesteps the loss is
    ``nll_b / K + tau * mean_t cost_bt`` (eq. 27 for relaxed PACT with cost ``N``; ACT's
    ``log p - tau * rho``). The mean over timesteps is what Fojo et al.'s code does
    (ponder averaged over timesteps); ``reduction="sum"`` sums instead, which is ``T``
    times the penalty (identical for parity, ``T = 1``). For discrete halting with a ``baseline`` it adds the
    score-function term of eq. 26 with reward ``-nll_b / K`` (the same scale as the
    likelihood term) and ``log q(z_b) = sum_t log q(z_bt)``.

    Args:
        output: The model's output on ``batch.x``.
        batch: The batch.
        task: The task that scores the readout.
        tau: Computation penalty ``tau >= 0``.
        baseline: :class:`pact_core.EMABaseline` for REINFORCE, updated in place.
        reduction: ``"mean"`` or ``"sum"`` of the cost over timesteps.

    Returns:
        A :class:`Loss`.
    """
    per_example = task.nll(output.logits, batch.y) / task.num_targets  # [B]
    nll = per_example.mean()
    if reduction not in PENALTY_REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {', '.join(PENALTY_REDUCTIONS)}; got {reduction!r}"
        )
    if tau:
        cost = output.recurrent.cost
        per_sequence = cost.mean(dim=1) if reduction == "mean" else cost.sum(dim=1)
        penalty = tau * per_sequence.mean()
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
