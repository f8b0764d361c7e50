"""Atomic checkpoint files and the random-number state a bit-identical resume needs."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "LOAD_ERRORS",
    "load_checkpoint",
    "rng_state",
    "save_atomic",
    "set_rng_state",
    "write_text_atomic",
]


def _replace_from_temp(path: Path, write: Any) -> None:
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


#: What :func:`load_checkpoint` raises on a missing, truncated or foreign file.
LOAD_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    RuntimeError,
    ValueError,
    KeyError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_atomic` (tensors, numbers, strings only)."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a pact-seq checkpoint")
    return data


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """The states of ``generators`` plus torch's global CPU (and CUDA) generators."""
    state = {f"generator/{name}": gen.get_state() for name, gen in generators.items()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"cuda/{index}"] = cuda_state
    return state


def set_rng_state(state: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    """Restore what :func:`rng_state` captured into ``generators`` and the global ones."""
    for name, gen in generators.items():
        gen.set_state(state[f"generator/{name}"])
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            key = f"cuda/{index}"
            if key in state:
                torch.cuda.set_rng_state(state[key], index)
