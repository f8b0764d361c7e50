"""The parity task (Graves 2016; Fojo et al. 2018): is the number of +1 entries odd?"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_seq.task import Batch

__all__ = ["ParityTask"]


class ParityTask:
    """Parity of a vector of ``bits`` entries in ``{-1, 0, +1}``, fed as a single timestep.

    Each example draws ``k ~ U{1..bits}`` and gives ``k`` entries random signs; the others
    are 0. The nonzeros sit in the first ``k`` positions, or at ``k`` random positions with
    ``random_positions=True``. The target is 1 when the number of ``+1`` entries is odd.

    Batches: ``x: [B, 1, bits]`` float, ``y: [B]`` float in ``{0, 1}``. The model's
    readout is one logit (``output_size = 1``), trained with binary cross-entropy.

    Args:
        bits: Length of the input vector, ``>= 1`` (64 in the papers).
        random_positions: Place the nonzeros at random positions.

    Example::

        >>> import torch
        >>> task = ParityTask(bits=8)
        >>> batch = task.sample(4, torch.Generator().manual_seed(0))
        >>> batch.x.shape, batch.y.shape
        (torch.Size([4, 1, 8]), torch.Size([4]))
    """

    name = "parity"
    output_size = 1
    num_targets = 1
    sequence_length = 1

    def __init__(self, bits: int = 64, *, random_positions: bool = False) -> None:
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f"bits must be an integer >= 1, got {bits!r}")
        self.bits = bits
        self.input_size = bits
        self.random_positions = bool(random_positions)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` examples on ``generator.device``."""
        device = generator.device
        k = torch.randint(1, self.bits + 1, (batch_size, 1), generator=generator, device=device)
        signs = torch.randint(0, 2, (batch_size, self.bits), generator=generator, device=device)
        signs = 2 * signs - 1
        if self.random_positions:
            noise = torch.rand(batch_size, self.bits, generator=generator, device=device)
            ranks = noise.argsort(dim=-1).argsort(dim=-1)  # a random permutation per row
            present = ranks < k
        else:
            present = torch.arange(self.bits, device=device) < k
        values = signs * present
        y = ((values == 1).sum(dim=-1) % 2).float()
        return Batch(x=values.float().unsqueeze(1), y=y)

    def nll(self, logits: Tensor, y: Tensor) -> Tensor:
        """Binary cross-entropy ``[B]`` of the last timestep's logit ``logits[:, -1, 0]``."""
        return F.binary_cross_entropy_with_logits(logits[:, -1, 0], y, reduction="none")

    def target_correct(self, logits: Tensor, y: Tensor) -> Tensor:
        """Whether ``logit > 0`` matches the parity: bool ``[B, 1]``."""
        return ((logits[:, -1, 0] > 0) == (y > 0.5)).unsqueeze(-1)
