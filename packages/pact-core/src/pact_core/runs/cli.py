"""Command-line errors as one line on stderr: no usage block, no traceback."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from pact_core._validation import Interval

__all__ = [
    "HALTING_FLAGS",
    "OneLineParser",
    "add_halting_arguments",
    "halting_fields",
    "integer",
    "number",
    "report_error",
]


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
        if not allowed.contains(float(value)) or math.isinf(float(value)):
            raise argparse.ArgumentTypeError(f"must be {allowed.describe()}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` without the usage block and exit with 2."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


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
