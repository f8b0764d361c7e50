"""The interface every sequence task implements: batches, likelihood and correctness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

__all__ = ["Batch", "Task"]


@dataclass(frozen=True)
class Batch:
    """A batch of ``B`` examples.

    Attributes:
        x: ``[B, T, I]`` float inputs, batch first.
        y: Targets, task-specific (see each task).
    """

    x: Tensor
    y: Tensor


class Task(Protocol):
    """A supervised sequence task generated on the device from a seeded generator.

    A task scores a model's readout ``logits: [B, T, output_size]`` against targets at
    ``num_targets`` positions per example (1 for parity, ``(numbers - 1) * out_digits``
    for addition).
    """

    name: str
    input_size: int
    output_size: int
    num_targets: int
    sequence_length: int

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw a batch on ``generator.device``."""
        ...

    def nll(self, logits: Tensor, y: Tensor) -> Tensor:
        """``-log p(y | x)``, ``[B]``: the negative log-likelihood summed over targets."""
        ...

    def target_correct(self, logits: Tensor, y: Tensor) -> Tensor:
        """Which target positions the argmax prediction gets right: bool ``[B, num_targets]``."""
        ...
