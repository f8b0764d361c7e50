"""Command-line glue over :mod:`pact_core.runs`: every bad argument becomes one line.

``main(argv) -> int`` returns 2 on a bad argument instead of exiting, so argument errors
raise :class:`~pact_seq.config.ConfigError` here and ``main`` prints them with
:func:`pact_core.runs.report_error`.
"""

from __future__ import annotations

from typing import NoReturn

import torch

from pact_core.runs import OneLineParser, report_error, resolve_device
from pact_seq.config import ConfigError

__all__ = ["Parser", "parse_device", "report"]


class Parser(OneLineParser):
    """:class:`pact_core.runs.OneLineParser` whose errors raise :class:`ConfigError`."""

    def error(self, message: str) -> NoReturn:
        """Raise the message; ``main`` prints it as one line and returns 2."""
        raise ConfigError(message)


def parse_device(name: str) -> torch.device:
    """:func:`pact_core.runs.resolve_device`, its errors as :class:`ConfigError`."""
    try:
        return resolve_device(name)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def report(prog: str, error: BaseException) -> int:
    """Print ``error`` as one line prefixed by ``prog``; return exit status 2."""
    return report_error(prog, error, status=2)
