"""The one argument layer of every pact command line: checked flags, one-line errors.

Every ``python -m pact_*`` entry point is ``main(argv) -> int`` around :func:`run_main`,
parses with :class:`OneLineParser`, and types its numeric flags with :func:`number` and
:func:`integer`, which check that the value is finite and in range and say so in one
line that names the flag, the value and what is allowed. Bad input raises
:class:`UsageError` (exit status 2); a run that cannot go on (missing data, an
unreadable or mismatched checkpoint, a diverged loss) raises :class:`RunError` (exit
status 1). Either way the user sees ``prog: error: message`` on one line of stderr and
no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import torch

from pact_core._validation import COUNT, NONNEGATIVE, POSITIVE, WHOLE, Interval

__all__ = [
    "COUNT",
    "HALTING_FLAGS",
    "LEARNING_RATE",
    "NONNEGATIVE",
    "POSITIVE",
    "WHOLE",
    "OneLineParser",
    "RunError",
    "UsageError",
    "add_halting_arguments",
    "halting_fields",
    "integer",
    "integer_list",
    "number",
    "number_list",
    "parse_device",
    "report_error",
    "run_main",
]


class UsageError(ValueError):
    """Bad command-line input; reported as one line with exit status 2."""


class RunError(RuntimeError):
    """A run that cannot go on (data, checkpoint, divergence); one line, exit status 1."""


#: A learning rate: positive, and at most 1e30. torch's optimizers turn it (Adam: up to
#: ten times it, divided by its first bias correction) into a float32 scalar, which
#: overflows beyond about 3.4e38; a larger rate would fail inside the optimizer instead
#: of being refused here. Any rate near the bound diverges, which the divergence guard
#: reports (:mod:`pact_core.runs.guard`).
LEARNING_RATE = Interval(0.0, 1e30, low_closed=False)

_ANY = Interval()
_ANY_INTEGER = Interval(integer=True)


def number(allowed: Interval = _ANY) -> Callable[[str], float]:
    """An argparse ``type`` for a finite float within ``allowed``.

    A bad value fails as ``argument --tau: must be a finite number >= 0, got 'nan'``:
    the flag, the value and what is allowed, on one line.

    Example::

        >>> from pact_core.settings import HaltingSettings
        >>> parser = OneLineParser(prog="demo")
        >>> _ = parser.add_argument("--tau", type=number(HaltingSettings.CONSTRAINTS["tau"]))
        >>> parser.parse_args(["--tau", "0.01"]).tau
        0.01
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {allowed.describe()}, got {text!r}"
            ) from None
        if not allowed.contains(value):
            raise argparse.ArgumentTypeError(f"must be {allowed.describe()}, got {text!r}")
        return value

    parse.__name__ = "number"
    parse.allowed = allowed  # type: ignore[attr-defined]  # read by the bad-input tests
    return parse


def integer(allowed: Interval = _ANY_INTEGER) -> Callable[[str], int]:
    """An argparse ``type`` for an integer within ``allowed`` (see :func:`number`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {allowed.describe()}, got {text!r}"
            ) from None
        try:
            inside = allowed.contains(float(value))
        except OverflowError:  # beyond any float, so beyond any bound we state
            inside = False
        if not inside:
            raise argparse.ArgumentTypeError(f"must be {allowed.describe()}, got {text!r}")
        return value

    parse.__name__ = "integer"
    parse.allowed = allowed  # type: ignore[attr-defined]  # read by the bad-input tests
    return parse


def _listed(item: Callable[[str], Any], allowed: Interval, kind: str) -> Callable[[str], list[Any]]:
    """An argparse ``type`` for comma-separated values, each checked by ``item``."""

    def parse(text: str) -> list[Any]:
        values = []
        for position, piece in enumerate(text.split(","), start=1):
            if not piece.strip():
                continue
            try:
                values.append(item(piece.strip()))
            except argparse.ArgumentTypeError:
                raise argparse.ArgumentTypeError(
                    f"item {position} ({piece.strip()!r}) must be {allowed.describe()}, "
                    f"got {text!r}"
                ) from None
        if not values:
            raise argparse.ArgumentTypeError(f"must be comma-separated {kind}, got {text!r}")
        return values

    parse.allowed = allowed  # type: ignore[attr-defined]  # read by the bad-input tests
    return parse


def number_list(allowed: Interval = _ANY) -> Callable[[str], list[float]]:
    """An argparse ``type`` for comma-separated finite floats, each within ``allowed``.

    A bad item fails as ``argument --active: item 2 ('nan') must be a finite number in
    [0, 1], got '0.1,nan'``: the flag, the item, what is allowed and the whole value.

    Example::

        >>> from pact_core import Interval
        >>> parser = OneLineParser(prog="demo")
        >>> _ = parser.add_argument("--active", type=number_list(Interval(0.0, 1.0)))
        >>> parser.parse_args(["--active", "0.1,0.5"]).active
        [0.1, 0.5]
    """
    parse = _listed(number(allowed), allowed, "numbers")
    parse.__name__ = "number_list"
    return parse


def integer_list(allowed: Interval = _ANY_INTEGER) -> Callable[[str], list[int]]:
    """An argparse ``type`` for comma-separated integers, each within ``allowed``.

    See :func:`number_list`; e.g. ``--batch 1,64``.
    """
    parse = _listed(integer(allowed), allowed, "integers")
    parse.__name__ = "integer_list"
    return parse


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` (one line, status 2)."""

    def error(self, message: str) -> NoReturn:
        """Raise ``message`` as a :class:`UsageError` for :func:`run_main` to print."""
        raise UsageError(message)


def parse_device(text: str) -> torch.device:
    """An argparse ``type`` for ``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    ``auto`` is CUDA when it is available, else the CPU (:func:`resolve_device`).
    """
    from pact_core.runs.device import resolve_device

    try:
        return resolve_device(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_main(prog: str, body: Callable[[], int]) -> int:
    """Run a command line's ``body`` and turn its expected failures into one line.

    Args:
        prog: The name in messages, e.g. ``"pact_seq.train"``.
        body: Does the work; returns the exit status.

    Returns:
        ``body()``'s status; 2 after a :class:`UsageError`, 1 after a :class:`RunError`,
        130 after Ctrl-C. Other exceptions are bugs and propagate with their traceback.
    """
    try:
        return body()
    except UsageError as error:
        return report_error(prog, error, status=2)
    except RunError as error:
        return report_error(prog, error, status=1)
    except KeyboardInterrupt:
        return report_error(prog, "interrupted; rerun with --resume to continue", status=130)


def report_error(prog: str, error: BaseException | str, *, status: int = 1) -> int:
    """Print ``error`` to stderr as one line prefixed by ``prog``; return ``status``.

    Use status 1 for a run that failed (missing data, a broken checkpoint) and 2 for a
    bad argument, as ``argparse`` does.
    """
    message = " ".join(str(error).split())
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status


#: The command-line flag of each :class:`~pact_core.HaltingSettings` field.
HALTING_FLAGS: dict[str, tuple[str, ...]] = {
    "max_iterations": ("--max-iterations", "--max-ponder"),
    "tau": ("--tau",),
    "temperature": ("--temperature",),
    "delta": ("--delta",),
    "eps": ("--eps",),
    "threshold": ("--threshold",),
    "halting_bias": ("--halting-bias",),
    "eval_halting": ("--eval-halting", "--eval-mode"),
    "beta": ("--beta",),
    "lambda_p": ("--lambda-p",),
}

_HELP = {
    "max_iterations": "the cap L on iterations per element",
    "tau": "ponder penalty tau >= 0 (eqs. 25-27)",
    "temperature": "Concrete temperature of relaxed halting (eq. 17)",
    "delta": "stick clipping threshold of relaxed halting (eq. 28)",
    "eps": "ACT's epsilon (eq. 29)",
    "threshold": "halting threshold of thresholded halting (Alg. 2)",
    "halting_bias": "initial bias of the halting head",
    "eval_halting": "halting at evaluation",
    "beta": "PonderNet's KL weight",
    "lambda_p": "PonderNet's geometric prior, in (0, 1]",
}


def add_halting_arguments(
    parser: argparse.ArgumentParser,
    *,
    skip: tuple[str, ...] = (),
    defaults: dict[str, str] | None = None,
) -> None:
    """Add one flag per :class:`~pact_core.HaltingSettings` field, checked as it declares.

    Every flag defaults to ``None`` (not given); :func:`halting_fields` collects the
    given ones, and ``HaltingSettings`` supplies the rest, so each default is written
    once, in the dataclass.

    Args:
        parser: The parser to add to.
        skip: Fields a command does not expose.
        defaults: Help text for defaults that a command resolves itself (e.g. the cap).
    """
    from pact_core.settings import HALTINGS, HaltingSettings

    described = defaults or {}
    for name, flags in HALTING_FLAGS.items():
        if name in skip:
            continue
        default = described.get(name, repr(getattr(HaltingSettings, name, None)))
        help_text = f"{_HELP[name]} (default: {default})"
        if name == "eval_halting":
            parser.add_argument(*flags, dest=name, choices=HALTINGS, default=None, help=help_text)
            continue
        allowed = HaltingSettings.CONSTRAINTS[name]
        kind = integer(allowed) if allowed.integer else number(allowed)
        parser.add_argument(*flags, dest=name, type=kind, default=None, help=help_text)


def halting_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~pact_core.HaltingSettings` fields given on the command line."""
    values = vars(args)
    return {name: values[name] for name in HALTING_FLAGS if values.get(name) is not None}
