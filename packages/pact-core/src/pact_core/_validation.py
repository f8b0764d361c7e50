"""Argument checks shared by every public function, so each message is written once.

Checks on Python scalars are always on and cost nothing. Checks on tensor *values*
(``h`` in ``[0, 1]``, no NaN, ``z`` in range) read the tensor on the host, which is a
device synchronisation on CUDA. Like ``torch.distributions``, they can be switched off
globally with :func:`set_validate_args` (or locally with :func:`validate_args`), which
models do in their hot loops.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

_validate_values = True


def set_validate_args(enabled: bool) -> None:
    """Switch the checks on tensor values on or off for the whole process.

    Args:
        enabled: ``True`` (the default state) to check tensor values, ``False`` to skip
            the checks that read tensors on the host. Shape and scalar checks stay on.
    """
    global _validate_values
    _validate_values = bool(enabled)


def validate_args_enabled() -> bool:
    """Return whether checks on tensor values are on."""
    return _validate_values


@contextmanager
def validate_args(enabled: bool) -> Iterator[None]:
    """Context manager that sets :func:`set_validate_args` and restores it on exit.

    Example::

        >>> import torch, pact_core
        >>> with pact_core.validate_args(False):
        ...     q = pact_core.halting_distribution(torch.full((4, 3), 0.5))
    """
    previous = _validate_values
    set_validate_args(enabled)
    try:
        yield
    finally:
        set_validate_args(previous)


def _should_check(flag: bool | None) -> bool:
    return _validate_values if flag is None else flag


@dataclass(frozen=True)
class Interval:
    """What a scalar argument may be: a finite number (or integer) in an interval.

    One statement of the allowed range, used by the Python checks (``check``) and by the
    command lines (``pact_core.runs.cli``), so that both say the same thing. Like
    ``torch.distributions``' ``arg_constraints``.

    Attributes:
        low: Lower bound (``-inf``: none).
        high: Upper bound (``inf``: none).
        low_closed: Whether ``low`` itself is allowed.
        high_closed: Whether ``high`` itself is allowed.
        integer: Whether only integers are allowed.
    """

    low: float = -math.inf
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = True
    integer: bool = False

    def describe(self) -> str:
        """The allowed values in words, e.g. ``"a finite number > 0"``, ``"in [0, 1)"``."""
        kind = "an integer" if self.integer else "a finite number"
        low, high = math.isfinite(self.low), math.isfinite(self.high)
        if low and high:
            left, right = "[" if self.low_closed else "(", "]" if self.high_closed else ")"
            return f"{kind} in {left}{_number(self.low)}, {_number(self.high)}{right}"
        if low:
            return f"{kind} {'>=' if self.low_closed else '>'} {_number(self.low)}"
        if high:
            return f"{kind} {'<=' if self.high_closed else '<'} {_number(self.high)}"
        return kind

    def contains(self, value: float) -> bool:
        """Whether ``value`` is allowed (finite, integral if required, within bounds)."""
        if not math.isfinite(value) or (self.integer and value != int(value)):
            return False
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def check(self, name: str, value: object) -> float:
        """Return ``value`` as a float if allowed, else raise ``ValueError`` naming ``name``."""
        number = _as_float(name, value)
        if self.integer and not (isinstance(value, int) and not isinstance(value, bool)):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        if not self.contains(number):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        return number


def _number(value: float) -> str:
    """``2``, ``0.5``, ``1e+30``: whole numbers without a point, huge ones in exponent form."""
    return str(int(value)) if value == int(value) and abs(value) < 1e16 else repr(value)


POSITIVE = Interval(0.0, low_closed=False)
NONNEGATIVE = Interval(0.0)
OPEN_UNIT = Interval(0.0, 1.0, low_closed=False, high_closed=False)
CLOSED_UNIT = Interval(0.0, 1.0)
LEFT_CLOSED_UNIT = Interval(0.0, 1.0, high_closed=False)
COUNT = Interval(1.0, integer=True)
WHOLE = Interval(0.0, integer=True)


def check_positive(name: str, value: float) -> float:
    """Return ``value`` as a float if it is finite and ``> 0``, else raise ``ValueError``."""
    return POSITIVE.check(name, value)


def check_open_unit(name: str, value: float) -> float:
    """Return ``value`` if it lies in the open interval ``(0, 1)``, else raise."""
    return OPEN_UNIT.check(name, value)


def check_closed_unit(name: str, value: float) -> float:
    """Return ``value`` if it lies in the closed interval ``[0, 1]``, else raise."""
    return CLOSED_UNIT.check(name, value)


def check_unit_interval_left_closed(name: str, value: float) -> float:
    """Return ``value`` if it lies in ``[0, 1)``, else raise."""
    return LEFT_CLOSED_UNIT.check(name, value)


def check_max_iterations(value: int, name: str = "max_iterations") -> int:
    """Return ``value`` if it is an integer ``>= 1`` (the paper's ``L``), else raise."""
    return int(COUNT.check(f"{name} (L)", value))


def _as_float(name: str, value: object) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = float(value.item())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    return float(value)  # NaN fails every range check, with the check's own message


@dataclass(frozen=True)
class HaltingInput:
    """Halting probabilities given either as probabilities or as logits.

    Attributes:
        values: The tensor the caller passed, shape ``[..., L]``.
        is_logits: ``True`` if ``values`` holds logits, ``False`` for probabilities.
    """

    values: Tensor
    is_logits: bool

    @property
    def num_iterations(self) -> int:
        """The number of iterations ``L`` (the size of the last axis)."""
        return int(self.values.shape[-1])

    def probs(self) -> Tensor:
        """Halting probabilities ``[..., L]`` with the last entry set to 1 (``h^L = 1``)."""
        head = self.values[..., :-1]
        if self.is_logits:
            head = torch.sigmoid(head)
        return torch.cat([head, torch.ones_like(self.values[..., -1:])], dim=-1)


def halting_input(
    h: Tensor | None, logits: Tensor | None, *, validate: bool | None = None
) -> HaltingInput:
    """Resolve the ``h`` / ``logits`` pair that every halting function accepts.

    Args:
        h: Halting probabilities ``[..., L]`` or ``None``.
        logits: Halting logits ``[..., L]`` or ``None``. Exactly one of the two is given.
        validate: Check tensor values; ``None`` follows :func:`set_validate_args`.

    Returns:
        The resolved input.

    Raises:
        ValueError: If both or neither are given, the tensor is not floating point, has no
            iteration axis or ``L < 1``, or (when value checks are on) ``h`` leaves
            ``[0, 1]`` or either holds NaN. The last entry is not checked: it is treated
            as 1 whatever it holds.
    """
    if (h is None) == (logits is None):
        got = "both" if h is not None else "neither"
        raise ValueError(f"pass exactly one of h and logits, got {got}")
    name, values, is_logits = ("h", h, False) if h is not None else ("logits", logits, True)
    assert values is not None
    if not isinstance(values, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(values).__name__}")
    if not values.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {values.dtype}")
    if values.dim() < 1 or values.shape[-1] < 1:
        raise ValueError(
            f"{name} must have shape [..., L] with L >= 1 iterations on the last axis, "
            f"got shape {tuple(values.shape)}"
        )
    if _should_check(validate):
        check_halting_values(name, values[..., :-1], is_logits)
    return HaltingInput(values, is_logits)


def check_halting_values(name: str, values: Tensor, is_logits: bool) -> None:
    """Raise ``ValueError`` if ``values`` holds NaN, or probabilities outside ``[0, 1]``."""
    if values.numel() == 0:
        return
    values = values.detach()
    if bool(torch.isnan(values).any()):
        raise ValueError(f"{name} must not contain NaN")
    if not is_logits:
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"{name} holds halting probabilities and must lie in [0, 1], "
                f"got values from {low} to {high}"
            )


def check_iteration_counts(z: Tensor, batch_shape: torch.Size, num_iterations: int) -> None:
    """Check that ``z`` holds iteration counts ``1..L`` for a batch of shape ``batch_shape``.

    Raises:
        ValueError: If ``z`` is not an integer tensor, its shape differs from
            ``batch_shape``, or (when value checks are on) a value leaves ``1..L``.
    """
    if not isinstance(z, Tensor):
        raise ValueError(f"z must be a torch.Tensor, got {type(z).__name__}")
    if z.is_floating_point() or z.is_complex() or z.dtype == torch.bool:
        raise ValueError(f"z must be an integer tensor of iteration counts, got dtype {z.dtype}")
    if z.shape != batch_shape:
        raise ValueError(
            f"z must have the batch shape of h without its last axis, {tuple(batch_shape)}, "
            f"got {tuple(z.shape)}"
        )
    if _validate_values and z.numel() > 0:
        low, high = int(z.min()), int(z.max())
        if low < 1 or high > num_iterations:
            raise ValueError(
                f"z must hold iteration counts in 1..{num_iterations}, got values from {low} "
                f"to {high}"
            )


def check_uniform(uniform: Tensor, shape: torch.Size, like: Tensor) -> Tensor:
    """Check user-supplied U(0, 1) noise and return it in ``like``'s dtype and device."""
    if not isinstance(uniform, Tensor) or not uniform.is_floating_point():
        raise ValueError("uniform must be a floating-point tensor of U(0, 1) draws")
    if uniform.shape != shape:
        raise ValueError(f"uniform must have shape {tuple(shape)}, got {tuple(uniform.shape)}")
    if _validate_values and uniform.numel() > 0:
        low, high = float(uniform.min()), float(uniform.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(f"uniform must lie in [0, 1], got values from {low} to {high}")
    return uniform.to(dtype=like.dtype, device=like.device)
