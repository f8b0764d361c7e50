"""The addition task (Graves 2016; Fojo et al. 2018): output the running sum of numbers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_seq.task import Batch

__all__ = ["PAD", "AdditionTask"]

#: The padding / end-of-number class of the output digits.
PAD = 10


class AdditionTask:
    """Running sums of ``numbers`` random integers of up to ``digits`` decimal digits.

    Each timestep feeds one number with ``D ~ U{1..digits}`` random decimal digits, most
    significant first, as ``digits`` one-hot blocks of 10; blocks past ``D`` are all zero.
    From the second timestep on the target is the running sum written most significant
    first as ``out_digits`` classes of 11, padded with class :data:`PAD` (10). With the
    defaults (5 numbers of up to 5 digits) the sum needs ``out_digits = 6``.

    Batches: ``x: [B, numbers, digits * 10]`` float, ``y: int64 [B, numbers - 1,
    out_digits]``. The readout has ``out_digits * 11`` logits per timestep.

    Args:
        numbers: Sequence length ``>= 2``.
        digits: Maximum digits per number, ``>= 1``.

    Example::

        >>> import torch
        >>> task = AdditionTask()
        >>> batch = task.sample(2, torch.Generator().manual_seed(0))
        >>> batch.x.shape, batch.y.shape
        (torch.Size([2, 5, 50]), torch.Size([2, 4, 6]))
    """

    name = "addition"
    classes = 11

    def __init__(self, numbers: int = 5, digits: int = 5) -> None:
        for label, value, low in (("numbers", numbers, 2), ("digits", digits, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{label} must be an integer >= {low}, got {value!r}")
        self.numbers = numbers
        self.digits = digits
        self.out_digits = len(str(numbers * (10**digits - 1)))
        self.input_size = 10 * digits
        self.output_size = self.classes * self.out_digits
        self.num_targets = (numbers - 1) * self.out_digits
        self.sequence_length = numbers

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` sequences on ``generator.device``."""
        device = generator.device
        shape = (batch_size, self.numbers)
        lengths = torch.randint(1, self.digits + 1, shape, generator=generator, device=device)
        digit = torch.randint(0, 10, (*shape, self.digits), generator=generator, device=device)
        position = torch.arange(self.digits, device=device)
        present = position < lengths.unsqueeze(-1)  # [B, numbers, digits]
        x = F.one_hot(digit, 10) * present.unsqueeze(-1)
        # digit j of a D-digit number has place value 10^(D - 1 - j)
        exponent = (lengths.unsqueeze(-1) - 1 - position).clamp(min=0)
        value = (digit * (10**exponent) * present).sum(dim=-1)  # [B, numbers]
        running = value.cumsum(dim=1)[:, 1:]  # [B, numbers - 1]
        return Batch(x=x.flatten(2).float(), y=self._encode(running))

    def _encode(self, total: Tensor) -> Tensor:
        """Write int64 sums ``[...]`` as ``[..., out_digits]`` classes, MSB first, padded."""
        powers = 10 ** torch.arange(1, self.out_digits, device=total.device)
        width = 1 + (total.unsqueeze(-1) >= powers).sum(dim=-1)  # number of digits
        place = torch.arange(self.out_digits, device=total.device)
        shift = (width.unsqueeze(-1) - 1 - place).clamp(min=0)
        digit = (total.unsqueeze(-1) // 10**shift) % 10
        return torch.where(place < width.unsqueeze(-1), digit, torch.full_like(digit, PAD))

    def _digit_logits(self, logits: Tensor) -> Tensor:
        """``[B, numbers, out_digits * 11] -> [B, numbers - 1, out_digits, 11]``."""
        scores = logits[:, 1:]
        return scores.reshape(*scores.shape[:-1], self.out_digits, self.classes)

    def nll(self, logits: Tensor, y: Tensor) -> Tensor:
        """Cross-entropy ``[B]`` summed over the ``(numbers - 1) * out_digits`` targets."""
        scores = self._digit_logits(logits)
        loss = F.cross_entropy(scores.flatten(0, -2), y.flatten(), reduction="none")
        return loss.view(y.shape[0], -1).sum(dim=-1)

    def target_correct(self, logits: Tensor, y: Tensor) -> Tensor:
        """Which output digits are right: bool ``[B, (numbers - 1) * out_digits]``."""
        return (self._digit_logits(logits).argmax(dim=-1) == y).flatten(1)
