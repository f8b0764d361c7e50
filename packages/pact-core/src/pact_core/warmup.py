"""A halting warm-up: train the task first, then the halting (an opt-in deviation).

Early in training the ponder penalty and the task gradient both push ACT's first
halting probability up, and Adam turns that into a steady drift: within about 8-10k
steps on 64-bit parity ``h^1 > 1 - eps`` for every input, ``R = 1`` is constant and
``h^1`` gets no gradient again, so ``N = 1`` is a trap (``docs/results/parity.md``).
A warm-up keeps the penalty at 0 and the halting head frozen while the cells learn to
use more than one step, then turns the penalty on, at once or along a linear ramp. It
is not in the papers; off by default (``steps = 0``), so the published recipe is
unchanged.

A frozen head still reads a state that trains, so its logits drift: on parity, PACT's
mean first halting probability fell from 0.27 to 0.003 during a 10k-step warm-up, where
the sigmoid is flat and the ponder penalty has almost no gradient. ``recenter`` (also
opt-in) shifts the halting bias back at the end of the warm-up (:meth:`WarmUp.recentring`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from pact_core._validation import COUNT, Interval
from pact_core.settings import HaltingSettings

__all__ = ["WarmUp"]

_STEPS = Interval(0.0, integer=True)


@dataclass(frozen=True)
class WarmUp:
    """The schedule of the halting warm-up, by 0-based training step.

    Attributes:
        steps: Warm-up length; 0 turns it off.
        ramp_steps: After the warm-up, ``tau`` grows linearly to its value over this many
            steps (0: it switches on at once).
        freeze_head: Keep the halting head's parameters unchanged during the warm-up.
        max_iterations: Cap ``L`` during the warm-up (``None``: the settings' cap), so
            that a low initial halting bias cannot make the loop run long.
        recenter: At the end of the warm-up, add :meth:`recentring` to the halting bias,
            so that the mean first-iteration halting logit is the initial bias again.

    Example::

        >>> w = WarmUp(steps=100, ramp_steps=50)
        >>> [w.tau(0.01, s) for s in (0, 99, 100, 124, 149, 500)]
        [0.0, 0.0, 0.0002, 0.005, 0.01, 0.01]
    """

    CONSTRAINTS: ClassVar[Mapping[str, Interval]] = {
        "steps": _STEPS,
        "ramp_steps": _STEPS,
        "max_iterations": COUNT,
    }

    steps: int = 0
    ramp_steps: int = 0
    freeze_head: bool = True
    max_iterations: int | None = None
    recenter: bool = False

    def __post_init__(self) -> None:
        for name, allowed in self.CONSTRAINTS.items():
            value = getattr(self, name)
            if value is not None:
                allowed.check(f"warmup.{name}", value)

    def active(self, step: int) -> bool:
        """Whether training step ``step`` (0-based) is part of the warm-up."""
        return step < self.steps

    def tau(self, tau: float, step: int) -> float:
        """The penalty weight at ``step``: 0 in the warm-up, then ramped up to ``tau``."""
        if step < self.steps:
            return 0.0
        if self.ramp_steps:
            return tau * min(1.0, (step - self.steps + 1) / self.ramp_steps)
        return tau

    def settings(self, settings: HaltingSettings, step: int) -> HaltingSettings:
        """``settings`` with the warm-up's cap at ``step`` (unchanged outside it)."""
        if self.max_iterations is None or not self.active(step):
            return settings
        cap = min(self.max_iterations, settings.max_iterations)
        return dataclasses.replace(settings, max_iterations=cap)

    def recenters(self, step: int) -> bool:
        """Whether the halting bias is re-centred before training step ``step`` (0-based)."""
        return self.recenter and self.steps > 0 and step == self.steps

    @staticmethod
    def recentring(first_probs: Tensor, initial_bias: float) -> Tensor:
        """The shift of the halting bias that re-centres the first iteration's logits.

        Args:
            first_probs: ``[...]`` the first iteration's halting probabilities ``h^1`` on
                a batch (any shape; probabilities of 0 and 1 are clamped to 1e-7 away).
            initial_bias: The bias the head was initialised with.

        Returns:
            ``[]`` ``initial_bias - mean(logit(h^1))``: added to the bias of a linear head,
            it makes the mean first-iteration logit on that batch ``initial_bias``.

        Example::

            >>> p = torch.sigmoid(torch.tensor([-6.0, -5.0]))
            >>> round(float(WarmUp.recentring(p, -1.0)), 4)
            4.5
        """
        logits = torch.logit(first_probs.detach().double(), eps=1e-7)
        return (initial_bias - logits.mean()).to(first_probs.dtype)
