"""REINFORCE for discrete halting: the score-function surrogate and its EMA baseline (eq. 26)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pact_core._validation import check_unit_interval_left_closed

__all__ = ["EMABaseline", "reinforce_loss"]


class EMABaseline(nn.Module):
    """Scalar reward baseline ``c`` of eq. 26: an exponential moving average of the reward.

    Each call returns the baseline from *earlier* batches (so it does not depend on the
    current sample and the gradient stays unbiased), then folds the current mean reward
    in. The average is bias-corrected like Adam's moments: after ``t`` updates it is
    ``m_t / (1 - decay^t)``; before the first update it is 0. State lives in buffers, so
    it is saved with ``state_dict`` and moves with ``.to(device)``; nothing syncs with
    the host.

    Args:
        decay: EMA decay in ``[0, 1)``; the paper uses 0.99.

    Example::

        >>> import torch
        >>> from pact_core import EMABaseline
        >>> baseline = EMABaseline(decay=0.5)
        >>> baseline(torch.tensor([1.0, 3.0]))  # no history yet
        tensor(0.)
        >>> baseline(torch.tensor([0.0]))  # the mean of the first batch
        tensor(2.)
    """

    average: Tensor
    updates: Tensor

    def __init__(self, decay: float = 0.99) -> None:
        super().__init__()
        self.decay = check_unit_interval_left_closed("decay", decay)
        self.register_buffer("average", torch.zeros(()))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    @property
    def value(self) -> Tensor:
        """The current bias-corrected baseline, a 0-dim tensor."""
        correction = 1 - self.decay ** self.updates.to(self.average.dtype)
        safe = torch.where(self.updates > 0, correction, torch.ones_like(correction))
        return torch.where(self.updates > 0, self.average / safe, torch.zeros_like(self.average))

    def forward(self, reward: Tensor) -> Tensor:
        """Return the baseline for ``reward`` (any shape), then update it with its mean."""
        baseline = self.value
        if self.training:
            with torch.no_grad():
                mean = reward.detach().to(self.average.dtype).mean()
                self.average.mul_(self.decay).add_((1 - self.decay) * mean)
                self.updates.add_(1)
        return baseline

    def extra_repr(self) -> str:
        """Show the decay in the module's repr."""
        return f"decay={self.decay}"


def reinforce_loss(log_prob: Tensor, reward: Tensor, baseline: Tensor | float) -> Tensor:
    """Score-function surrogate ``-(reward - c) * log q(z)``, per element (eq. 26).

    Its gradient is the REINFORCE estimate of ``-grad E_q[reward]``; the reward and the
    baseline are detached. Add ``tau * N`` for the prior's part of eq. 26 and average.

    Args:
        log_prob: ``log q(z)`` ``[...]``, e.g. from :func:`pact_core.halting_log_prob`.
        reward: ``[...]``, e.g. ``log p(y | z, x)`` per example.
        baseline: Scalar baseline ``c``, e.g. from :class:`EMABaseline`.

    Returns:
        ``[...]`` surrogate loss to minimise.
    """
    if log_prob.shape != reward.shape:
        raise ValueError(
            f"log_prob and reward must have the same shape, got {tuple(log_prob.shape)} "
            f"and {tuple(reward.shape)}"
        )
    advantage = (reward - baseline).detach()
    return -advantage * log_prob
