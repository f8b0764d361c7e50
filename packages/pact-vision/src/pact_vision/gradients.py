"""The variance of the parameter gradients over training steps (PACT fig. 4).

PACT fig. 4 compares the gradient variance of REINFORCE and of the relaxation as the
number of latent variables grows. :class:`GradientVariance` measures it the same way
for both: over a window of steps it accumulates every parameter element's gradient and
squared gradient on the device (no host sync), and at the end of the window reports
``log10`` of the per-element variance ``E[g^2] - E[g]^2``, averaged over all elements.
It measures the spread of the stochastic gradients a method produces, whatever their
source (the data, the halting noise, the score-function estimator).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["GradientVariance"]


class GradientVariance:
    """Running moments of the gradients of ``parameters`` over a window of steps.

    Args:
        parameters: The parameters to watch.
    """

    def __init__(self, parameters: Sequence[nn.Parameter]) -> None:
        self.parameters = list(parameters)
        self._sum = [torch.zeros_like(p, dtype=torch.float64) for p in self.parameters]
        self._squares = [torch.zeros_like(p, dtype=torch.float64) for p in self.parameters]
        self.steps = 0

    def observe(self) -> None:
        """Add the current ``.grad`` of every parameter (missing ones count as 0)."""
        for parameter, total, squares in zip(
            self.parameters, self._sum, self._squares, strict=True
        ):
            if parameter.grad is not None:
                grad = parameter.grad.detach().double()
                total.add_(grad)
                squares.addcmul_(grad, grad)
        self.steps += 1

    def log10_variance(self) -> float | None:
        """``log10`` of the mean per-element variance since the last call; resets the window.

        Returns:
            ``None`` with fewer than two steps in the window.
        """
        steps, self.steps = self.steps, 0
        if steps < 2:
            return None
        numerator = torch.zeros((), dtype=torch.float64, device=self._sum[0].device)
        elements = 0
        for total, squares in zip(self._sum, self._squares, strict=True):
            mean = total / steps
            numerator += (squares / steps - mean * mean).clamp(min=0).sum()
            elements += total.numel()
            total.zero_()
            squares.zero_()
        variance = float(numerator) / max(elements, 1)
        return math.log10(variance) if variance > 0 else None
