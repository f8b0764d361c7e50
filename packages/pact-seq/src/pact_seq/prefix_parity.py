"""Prefix parity: at every position of a bit sequence, the parity of the bits so far.

A task where the computation a token needs grows along the sequence: the first
position only copies its bit, the last must combine all ``T`` of them. A per-token
adaptive encoder can spend its iterations where they are needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_seq.task import Batch

__all__ = ["PrefixParityTask"]


class PrefixParityTask:
    """Per-position parity of a sequence of ``length`` random bits.

    Batches: ``x: [B, T, 1]`` float in ``{-1, +1}``; ``y: [B, T]`` float in ``{0, 1}``,
    ``y[:, t] = (number of +1 in x[:, :t + 1]) mod 2``. The readout is one logit per
    position, trained with binary cross-entropy summed over the ``T`` targets.

    Args:
        length: ``T >= 1``.

    Example::

        >>> import torch
        >>> task = PrefixParityTask(length=5)
        >>> batch = task.sample(2, torch.Generator().manual_seed(0))
        >>> batch.x.shape, batch.y.shape
        (torch.Size([2, 5, 1]), torch.Size([2, 5]))
    """

    name = "prefix-parity"
    input_size = 1
    output_size = 1

    def __init__(self, length: int = 8) -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be an integer >= 1, got {length!r}")
        self.length = length
        self.num_targets = length
        self.sequence_length = length

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` sequences on ``generator.device``."""
        device = generator.device
        bits = torch.randint(0, 2, (batch_size, self.length), generator=generator, device=device)
        y = (torch.cumsum(bits, dim=1) % 2).float()
        return Batch(x=(2 * bits - 1).float().unsqueeze(-1), y=y)

    def position_nll(self, logits: Tensor, y: Tensor) -> Tensor:
        """Binary cross-entropy ``[B, T]`` of every position."""
        return F.binary_cross_entropy_with_logits(logits[..., 0], y, reduction="none")

    def nll(self, logits: Tensor, y: Tensor) -> Tensor:
        """Binary cross-entropy ``[B]`` summed over the ``T`` positions."""
        return self.position_nll(logits, y).sum(-1)

    def target_correct(self, logits: Tensor, y: Tensor) -> Tensor:
        """Whether ``logit > 0`` matches each position's parity: bool ``[B, T]``."""
        return (logits[..., 0] > 0) == (y > 0.5)
