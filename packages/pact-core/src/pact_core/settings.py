"""One vocabulary and one settings object for every adaptive computation block.

Two words describe a block, and they are kept apart on purpose:

* the **method** is what is trained (the objective and its halting while training):
  ``"act"`` (Graves' ACT, Alg. 4), ``"pact"`` (PACT trained with the Concrete
  relaxation, Alg. 3, eq. 27), ``"pact-reinforce"`` (discrete PACT trained with
  REINFORCE, Alg. 1, eq. 26), ``"pondernet"`` (Banino et al. 2021: every iteration's
  loss weighted by the halting distribution, plus ``beta * KL(q || Geometric)``) or
  ``"fixed"`` (no halting: every element runs all ``L`` iterations; Repeat-RNN with
  ``rho = L``, the plain RNN with ``L = 1``, a dense ResNet);
* the **halting** is how one forward pass decides when each element stops:
  ``"act"``, ``"relaxed"``, ``"discrete"``, ``"thresholded"`` (Alg. 4, 3, 1, 2),
  ``"median"`` (the median of the halting distribution ``q``: the first ``l`` with
  ``P(z <= l) >= 1/2``), ``"expected"`` (no element stops: all ``L`` iterates are kept
  with ``q``, for losses that take the expectation over ``z``, as PonderNet's) or
  ``"fixed"``.

One set of weights trained by a method is evaluated with several haltings: PACT's three
modes (PACT sec. 3.3) all come from the same halting head. :data:`TRAIN_HALTING` and
:data:`EVAL_HALTING` map each method to its halting in training and its default
halting at evaluation. The cap is called ``max_iterations`` (the paper's ``L``)
everywhere.

The command lines also accept the names the two papers' code used
(:data:`METHOD_ALIASES`: ``repeat`` and ``plain`` for Fojo et al.'s baselines, ``dense``
for a plain ResNet and ``relaxed`` for PSACT's training); :func:`parse_method` turns
them into the names above, so configs and results only ever hold those.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar, get_args

from pact_core._validation import (
    CLOSED_UNIT,
    COUNT,
    LEFT_CLOSED_UNIT,
    NONNEGATIVE,
    OPEN_UNIT,
    POSITIVE,
    Interval,
)

__all__ = [
    "EVAL_HALTING",
    "EVAL_HALTINGS",
    "HALTINGS",
    "METHODS",
    "METHOD_ALIASES",
    "REPORT_HALTINGS",
    "TRAIN_HALTING",
    "Halting",
    "HaltingSettings",
    "Interval",
    "Method",
    "check_choice",
    "parse_method",
]

Method = Literal["act", "pact", "pact-reinforce", "pondernet", "fixed"]
METHODS: tuple[Method, ...] = get_args(Method)
Halting = Literal["act", "relaxed", "discrete", "thresholded", "median", "expected", "fixed"]
HALTINGS: tuple[Halting, ...] = get_args(Halting)

#: The halting each method trains with.
TRAIN_HALTING: Mapping[Method, Halting] = {
    "act": "act",
    "pact": "relaxed",
    "pact-reinforce": "discrete",
    "pondernet": "expected",
    "fixed": "fixed",
}
#: The default halting at evaluation: ACT keeps its accumulator; PACT's deterministic
#: thresholded mode needs neither noise nor an accumulator (Alg. 2).
EVAL_HALTING: Mapping[Method, Halting] = {
    "act": "act",
    "pact": "thresholded",
    "pact-reinforce": "thresholded",
    "pondernet": "discrete",  # sampling, as Banino et al. evaluate
    "fixed": "fixed",
}
#: The haltings a model trained by each method can be evaluated with, from its weights.
#: ACT's weights can be thresholded too (PACT fig. 8); a fixed model has no halting head.
_WITH_HEAD: tuple[Halting, ...] = (
    "act",
    "relaxed",
    "discrete",
    "thresholded",
    "median",
    "expected",
    "fixed",
)
EVAL_HALTINGS: Mapping[Method, tuple[Halting, ...]] = {
    "act": _WITH_HEAD,
    "pact": _WITH_HEAD,
    "pact-reinforce": _WITH_HEAD,
    "pondernet": _WITH_HEAD,
    "fixed": ("fixed",),
}
#: The haltings a trained model is reported with: PACT's three modes from one set of
#: weights (PACT sec. 6), SACT also thresholded (PACT fig. 8).
REPORT_HALTINGS: Mapping[Method, tuple[Halting, ...]] = {
    "act": ("act", "thresholded"),
    "pact": ("relaxed", "discrete", "thresholded"),
    "pact-reinforce": ("relaxed", "discrete", "thresholded"),
    "pondernet": ("discrete", "thresholded", "median"),
    "fixed": ("fixed",),
}
#: Names from the papers' code that the command lines accept, and what they mean.
METHOD_ALIASES: Mapping[str, Method] = {
    "repeat": "fixed",
    "plain": "fixed",
    "dense": "fixed",
    "relaxed": "pact",
}

_Choice = TypeVar("_Choice", bound=str)


def check_choice(name: str, value: object, choices: tuple[_Choice, ...]) -> _Choice:
    """Return ``value`` typed as one of ``choices``, else raise a one-line ``ValueError``.

    Example::

        >>> check_choice("halting", "discrete", HALTINGS)
        'discrete'
    """
    for known in choices:
        if value == known:
            return known
    raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def parse_method(name: str) -> Method:
    """A method name, or one of :data:`METHOD_ALIASES`, as one of :data:`METHODS`.

    Raises:
        ValueError: For any other name.
    """
    if name in METHOD_ALIASES:
        return METHOD_ALIASES[name]
    if name not in METHODS:
        allowed = ", ".join((*METHODS, *METHOD_ALIASES))
        raise ValueError(f"method must be one of {allowed}; got {name!r}")
    return check_choice("method", name, METHODS)


@dataclass(frozen=True)
class HaltingSettings:
    """Everything that defines how an adaptive computation block halts; checked once.

    A frozen dataclass: models, trainers and command lines pass it whole instead of
    repeating its fields. Every field is checked in ``__post_init__``; a bad value
    raises a ``ValueError`` whose message names the field, the value and what is
    allowed.

    Attributes:
        method: One of :data:`METHODS`.
        max_iterations: The cap ``L >= 1`` on iterations per element (for ``"fixed"``,
            the number every element runs).
        tau: Ponder penalty ``tau >= 0`` (eqs. 25-27; ACT's ``tau``). ``tau * N`` is the
            negative log of the truncated-geometric prior up to a constant, see
            :func:`pact_core.ponder_penalty`.
        temperature: Concrete temperature ``lambda > 0`` of relaxed halting (eq. 17); the
            paper uses 2/3.
        delta: Stick clipping threshold in ``[0, 1)`` of relaxed halting (eq. 28).
        eps: ACT's ``epsilon`` in ``(0, 1)`` (eq. 29).
        threshold: Halting threshold in ``[0, 1]`` of thresholded halting (Alg. 2).
        halting_bias: Initial bias of the halting head, or ``None`` for the model's own
            default (``+1`` for recurrent cells, as ACT; ``-3`` for ResNet blocks, as
            SACT, so that a pretrained network starts by running every unit).
        eval_halting: Halting at evaluation, or ``None`` for :data:`EVAL_HALTING`.
        beta: PonderNet's weight ``beta >= 0`` of ``KL(q || Geometric(lambda_p))``.
        lambda_p: PonderNet's prior halting probability per step, in ``(0, 1]``; the
            cap must hold at least half of the untruncated prior's mass,
            ``(1 - lambda_p)^L <= 1/2``.

    Example::

        >>> s = HaltingSettings("pact", max_iterations=10, tau=1e-3)
        >>> s.train_halting, s.eval_default
        ('relaxed', 'thresholded')
        >>> HaltingSettings("pact", max_iterations=0)
        Traceback (most recent call last):
        ...
        ValueError: max_iterations must be an integer >= 1, got 0
    """

    #: What each numeric field may be; the command lines check their flags with these.
    CONSTRAINTS: ClassVar[Mapping[str, Interval]] = {
        "max_iterations": COUNT,
        "tau": NONNEGATIVE,
        "temperature": POSITIVE,
        "delta": LEFT_CLOSED_UNIT,
        "eps": OPEN_UNIT,
        "threshold": CLOSED_UNIT,
        "halting_bias": Interval(),
        "beta": NONNEGATIVE,
        "lambda_p": Interval(0.0, 1.0, low_closed=False),
    }

    method: Method = "pact"
    max_iterations: int = 100
    tau: float = 1e-2
    temperature: float = 2.0 / 3.0
    delta: float = 0.01
    eps: float = 0.01
    threshold: float = 0.5
    halting_bias: float | None = None
    eval_halting: Halting | None = None
    beta: float = 0.01
    lambda_p: float = 0.2

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        for name, allowed in self.CONSTRAINTS.items():
            value = getattr(self, name)
            if value is not None:  # only halting_bias may be None
                allowed.check(name, value)
        if self.eval_halting is not None:
            self.check_halting(self.eval_halting)
        if self.method == "pondernet":
            kept = 1 - (1 - self.lambda_p) ** self.max_iterations
            if kept < 0.5:
                need = math.ceil(math.log(0.5) / math.log(1 - self.lambda_p))
                raise ValueError(
                    f"max_iterations={self.max_iterations} is too small for the geometric "
                    f"prior with lambda_p={self.lambda_p}: it holds {kept:.0%} of the prior's "
                    f"mass; use max_iterations >= {need}"
                )

    @property
    def has_halting(self) -> bool:
        """Whether the method has a halting head (every method but ``"fixed"``)."""
        return self.method != "fixed"

    @property
    def train_halting(self) -> Halting:
        """The halting used while training (:data:`TRAIN_HALTING`)."""
        return TRAIN_HALTING[self.method]

    @property
    def eval_default(self) -> Halting:
        """The halting used at evaluation: ``eval_halting`` or :data:`EVAL_HALTING`."""
        return self.eval_halting if self.eval_halting is not None else EVAL_HALTING[self.method]

    def halting_for(self, training: bool) -> Halting:
        """The halting of a forward pass in training (``True``) or evaluation mode."""
        return self.train_halting if training else self.eval_default

    def check_halting(self, halting: object) -> Halting:
        """Return ``halting`` if weights trained by this method can run it, else raise."""
        checked = check_choice("halting", halting, HALTINGS)
        allowed = EVAL_HALTINGS[self.method]
        if checked not in allowed:
            raise ValueError(
                f"halting {checked!r} needs a halting head; the {self.method!r} method "
                f"runs {', '.join(allowed)}"
            )
        return checked

    def resolved_bias(self, default: float) -> float:
        """The initial halting bias: ``halting_bias``, or the model's ``default``."""
        return default if self.halting_bias is None else float(self.halting_bias)

    def replace(self, **changes: object) -> HaltingSettings:
        """A copy with ``changes`` applied, checked again."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
