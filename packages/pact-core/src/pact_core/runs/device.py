"""The ``--device`` choice: ``auto`` picks CUDA when it is there."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a device.

    Args:
        name: The requested device; ``auto`` is ``cuda:<local_rank>`` when CUDA is
            available, else the CPU.
        local_rank: The process's GPU under data-parallel training (``auto``/``cuda``).

    Raises:
        ValueError: For an unknown device, or CUDA requested where there is none.
    """
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested, but CUDA is not available here")
    return device
