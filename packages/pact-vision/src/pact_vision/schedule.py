"""The paper's training schedule (PACT supplement B) and the batch order."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DECAY_POINTS", "BatchSampler", "learning_rate"]

DECAY_POINTS = (0.6, 0.75, 0.9)


def learning_rate(step: int, total_steps: int, base: float) -> float:
    """``base`` divided by 10 at 60%, 75% and 90% of ``total_steps`` (60k/75k/90k of 100k).

    Args:
        step: The 0-based index of the step about to run.
        total_steps: Length of the run.
        base: Initial learning rate (0.1 for SGD, 1e-3 for Adam with REINFORCE).
    """
    drops = sum(step >= int(point * total_steps) for point in DECAY_POINTS)
    return base * 0.1**drops


class BatchSampler:
    """Global batches of a fixed random permutation per epoch, split across ranks.

    The order depends only on ``seed`` and the step, so a resumed run sees exactly the
    batches the uninterrupted run would, and every rank agrees on the global batch.

    Args:
        num_examples: Size of the training set; at least ``batch_size``.
        batch_size: Global batch size, divisible by ``world_size``.
        seed: Seed of the permutations.
        rank: This process's rank.
        world_size: Number of processes.
    """

    def __init__(
        self, num_examples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if num_examples < batch_size:
            raise ValueError(
                f"the training set has {num_examples} images, fewer than the batch size "
                f"{batch_size}"
            )
        if batch_size % world_size:
            raise ValueError(
                f"batch size {batch_size} must be divisible by the {world_size} processes"
            )
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.steps_per_epoch = num_examples // batch_size
        self._epoch = -1
        self._order = torch.empty(0, dtype=torch.int64)

    def indices(self, step: int) -> Tensor:
        """int64 ``[batch_size / world_size]`` (CPU): this rank's examples for ``step``."""
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = torch.randperm(self.num_examples, generator=generator)
            self._epoch = epoch
        batch = self._order[position * self.batch_size : (position + 1) * self.batch_size]
        return batch[self.rank :: self.world_size]
