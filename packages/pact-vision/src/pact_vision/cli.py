"""Pieces shared by the command-line tools: one-line argument errors and device choice."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

import torch

__all__ = ["OneLineParser", "fail", "resolve_device"]


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` without the usage block and exit with 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail(prog: str, message: str) -> int:
    """Print a one-line error for ``prog`` and return the exit status 1."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """Turn ``--device`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...) into a device.

    ``auto`` picks ``cuda:<local_rank>`` when CUDA is available, else the CPU.

    Raises:
        ValueError: For an unknown device or CUDA requested without CUDA.
    """
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; use auto, cpu or cuda[:N]")
    return device
