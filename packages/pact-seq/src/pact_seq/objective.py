"""The training objective of a sequence model: :func:`pact_core.adaptive_loss` on its output."""

from __future__ import annotations

from pact_core import AdaptiveLoss, EMABaseline, Reduction, adaptive_loss
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
) -> AdaptiveLoss:
    """The negative objective (eqs. 26-27), averaged over the batch; nothing synced.

    Per example ``b`` with ``K`` target positions and ``T`` timesteps the loss is
    ``nll_b / K + tau * mean_t cost_bt``: the timesteps are the halting elements of the
    one adaptive layer, and their cost is averaged as in Fojo et al.'s code
    (:func:`pact_core.ponder_penalty`; ``reduction="sum"`` sums it, ``T`` times the
    penalty, the same for parity). For discrete halting with a ``baseline`` the
    REINFORCE surrogate of eq. 26 uses the reward ``-nll_b / K`` and
    ``log q(z_b) = sum_t log q(z_bt)``.

    Args:
        output: The model's output on ``batch.x``.
        batch: The batch.
        task: The task that scores the readout.
        tau: Computation penalty ``>= 0`` (0: none).
        baseline: :class:`pact_core.EMABaseline` for REINFORCE, updated in place.
        reduction: ``"mean"`` or ``"sum"`` of the cost over timesteps.

    Returns:
        A :class:`pact_core.AdaptiveLoss`.
    """
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
