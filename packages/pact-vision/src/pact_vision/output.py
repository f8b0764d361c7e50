"""The typed result of an adaptive ResNet's forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["BlockOutput", "ResNetOutput"]


@dataclass(frozen=True)
class BlockOutput:
    """What one block of ``L`` residual units reports (one adaptive computation block per position).

    Attributes:
        features: Block output ``[B, C, H, W]``.
        flops: int64 ``[B]``, FLOPs the active masks need (REFERENCE §2).
        cost: ``[B]``, the per-block penalty term: the mean over positions of ``N``
            (eq. 24; PSACT) or of the ponder cost ``rho`` (SACT); ``L`` for a dense block.
        cost_map: ``[B, H, W]``, ``N`` or ``rho`` per position.
        executed: int64 ``[B, H, W]``, the units executed per position.
        log_prob: ``[B]``, ``log q(z)`` summed over the block's latent variables
            (``"discrete"`` mode only, else ``None``).
    """

    features: Tensor
    flops: Tensor
    cost: Tensor
    cost_map: Tensor
    executed: Tensor
    log_prob: Tensor | None


@dataclass(frozen=True)
class ResNetOutput:
    """What an :class:`~pact_vision.models.AdaptiveResNet` forward pass returns.

    Attributes:
        logits: Class logits ``[B, num_classes]``.
        flops: int64 ``[B]``, FLOPs per image needed by the active masks, stem and
            classifier included.
        costs: One ``[B]`` tensor per block: mean ``N`` (PSACT, eq. 24) or mean ponder
            cost (SACT) over the block's positions; the loss adds ``tau * sum(costs)``.
        cost_maps: One ``[B, H_k, W_k]`` map per block: expected iterations ``N``
            (PSACT) or ponder cost ``rho`` (SACT) per position.
        executed: One int64 ``[B, H_k, W_k]`` map per block: units executed per position.
        log_prob: ``[B]``, ``log q(z)`` of all sampled halting decisions (``"discrete"``
            mode, for REINFORCE, eq. 26), else ``None``.
    """

    logits: Tensor
    flops: Tensor
    costs: tuple[Tensor, ...]
    cost_maps: tuple[Tensor, ...]
    executed: tuple[Tensor, ...]
    log_prob: Tensor | None

    @property
    def cost(self) -> Tensor:
        """``[B]``: the sum of the per-block costs (``sum_k N_k``), to be weighted by ``tau``."""
        return torch.stack(self.costs, dim=0).sum(dim=0)

    @property
    def units_executed(self) -> Tensor:
        """``[B, K]``: the mean number of units executed per position in each block."""
        return torch.stack([e.to(torch.float32).flatten(1).mean(dim=1) for e in self.executed], 1)
