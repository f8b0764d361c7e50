"""Atomic files: a reader never sees half a checkpoint, even if the writer is killed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

__all__ = ["load_checkpoint", "save_atomic", "write_text_atomic"]


def _replace_from_temp(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_atomic(obj: object, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace`` it."""
    _replace_from_temp(Path(path), lambda handle: torch.save(obj, handle))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to a temporary file beside ``path``, then ``os.replace`` it."""
    _replace_from_temp(Path(path), lambda handle: handle.write(text.encode("utf-8")))


def load_checkpoint(path: str | os.PathLike[str], *, kind: str = "pact") -> dict[str, Any]:
    """Load a dict checkpoint onto the CPU with ``weights_only=True``.

    Raises:
        FileNotFoundError: If ``path`` does not exist (the message names it).
        ValueError: If the file is unreadable or does not hold a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"checkpoint {path} is unreadable ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a {kind} checkpoint")
    return data
