"""Peak memory of a call: what the allocator had live at once, beyond what existed before.

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus
  what was allocated before the call.
* CPU: the torch profiler's memory view. With ``profile_memory=True`` the profiler
  records every allocation and free of the CPU allocator with its size and time; the
  running sum of those, in time order, peaks at the most bytes the call held at once.
  This counts tensors exactly (no page granularity, no ``malloc`` caching), like the
  CUDA number, and unlike the process's resident set, which ``malloc`` keeps high after
  the first call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["MemoryPeak", "measure_peak_memory"]


@dataclass(frozen=True)
class MemoryPeak:
    """Peak memory a call needed on top of what existed before it.

    Attributes:
        bytes: Peak extra bytes.
        method: ``"cuda-max-allocated"`` or ``"cpu-profiler-allocations"``.
    """

    bytes: int
    method: str

    @property
    def mebibytes(self) -> float:
        """``bytes`` in MiB."""
        return self.bytes / 2**20

    def as_dict(self) -> dict[str, int | str]:
        """A JSON-ready dict."""
        return asdict(self)


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: the profiler's C++ side logs its start and stop."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _cpu_peak(fn: Callable[[], object]) -> int:
    with (
        _native_stderr_silenced(),
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
        fn()
    results = getattr(prof.profiler, "kineto_results", None)
    if results is None:
        raise RuntimeError("this torch build's profiler records no memory events")
    changes = sorted(
        (event.start_ns(), event.nbytes())
        for event in results.events()
        if event.name() == "[memory]" and str(event.device_type()).endswith("CPU")
    )
    live = peak = 0
    for _, nbytes in changes:
        live += nbytes
        peak = max(peak, live)
    return peak


def measure_peak_memory(fn: Callable[[], object], device: torch.device | str) -> MemoryPeak:
    """Run ``fn()`` once and return the peak memory it needed on ``device``."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        return MemoryPeak(max(int(peak), 0), "cuda-max-allocated")
    return MemoryPeak(_cpu_peak(fn), "cpu-profiler-allocations")
