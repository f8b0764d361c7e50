"""The divergence guard: a non-finite loss or weight stops a run instead of saving it.

Checking every step on the host would cost a device synchronisation per step, so the
guard accumulates a flag on the device (:meth:`DivergenceGuard.observe`, no sync) and
the trainer reads it at its log and checkpoint points (:meth:`DivergenceGuard.check`,
one sync), together with a finiteness check of the weights. A checkpoint is written
only after a clean check, so the last checkpoint is always a good one.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from pact_core.runs.cli import RunError

__all__ = ["DivergedError", "DivergenceGuard"]


class DivergedError(RunError):
    """The loss or the weights stopped being finite; the message gives the step."""

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"the run diverged at step {step}: {reason}")
        self.step = step
        self.reason = reason


class DivergenceGuard:
    """Watches the loss on the device and the weights at checkpoints.

    Args:
        device: Where the flag lives.
    """

    def __init__(self, device: torch.device | str) -> None:
        self._first_bad = torch.full((), -1, dtype=torch.int64, device=device)

    def observe(self, loss: Tensor, step: int) -> None:
        """Record whether ``loss`` (a scalar) is finite at ``step``; no host sync."""
        bad = ~torch.isfinite(loss.detach())
        fresh = bad & (self._first_bad < 0)
        self._first_bad = torch.where(
            fresh, torch.full_like(self._first_bad, step), self._first_bad
        )

    def check(self, parameters: Iterable[nn.Parameter], step: int) -> None:
        """Raise :class:`DivergedError` if a loss since the start or a weight is not finite.

        One host sync; call it at log and checkpoint points.
        """
        first = int(self._first_bad)
        if first >= 0:
            raise DivergedError(first, "the loss is not finite")
        weights = [p.detach() for p in parameters]
        if weights and not bool(torch.stack([torch.isfinite(w).all() for w in weights]).all()):
            raise DivergedError(step, "a weight is not finite")
