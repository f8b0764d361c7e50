"""Argument parsing that reports a bad argument as one line, with no traceback."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from pact_seq.config import ConfigError

__all__ = ["Parser", "report"]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`ConfigError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        """Raise the message; ``main`` prints it as one line and returns 2."""
        raise ConfigError(message)


def report(prog: str, error: BaseException) -> int:
    """Print ``error`` to stderr as one line prefixed by ``prog``; return exit status 2."""
    message = " ".join(str(error).split())
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
