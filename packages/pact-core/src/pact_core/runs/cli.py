"""Command-line errors as one line on stderr: no usage block, no traceback."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["OneLineParser", "report_error"]


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
