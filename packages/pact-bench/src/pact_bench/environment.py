"""What a benchmark ran on: machine, versions, device, threads. Printed beside every number."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from pact_core.runs import allocator_description

__all__ = ["Environment", "describe_environment"]


@dataclass(frozen=True)
class Environment:
    """The machine and software a measurement was taken on.

    Attributes:
        cpu: CPU model name (from ``/proc/cpuinfo`` where available).
        cpu_count: Logical CPUs visible to this process.
        platform: Operating system and architecture.
        python: Python version.
        torch: torch version (with its build suffix, e.g. ``+cpu``).
        device: The device measured on, e.g. ``cpu`` or ``cuda:0``.
        device_name: The GPU's name on CUDA, else the CPU model.
        threads: torch intra-op threads in use.
        allocator: CPU memory allocation
            (:func:`pact_core.runs.allocator_description`).
    """

    cpu: str
    cpu_count: int
    platform: str
    python: str
    torch: str
    device: str
    device_name: str
    threads: int
    allocator: str

    def as_dict(self) -> dict[str, str | int]:
        """A JSON-ready dict."""
        return asdict(self)

    def summary(self) -> str:
        """One line for the head of a report."""
        return (
            f"{self.device_name} ({self.device}), {self.threads} thread(s) of "
            f"{self.cpu_count} CPU(s): {self.cpu}; {self.platform}; "
            f"Python {self.python}, torch {self.torch}; allocator: {self.allocator}"
        )


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_environment(device: torch.device | str = "cpu") -> Environment:
    """Record the environment for ``device``."""
    device = torch.device(device)
    cpu = _cpu_model()
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu
    return Environment(
        cpu=cpu,
        cpu_count=os.cpu_count() or 1,
        platform=platform.platform(),
        python=platform.python_version(),
        torch=torch.__version__,
        device=str(device),
        device_name=device_name,
        threads=torch.get_num_threads(),
        allocator=allocator_description(),
    )
