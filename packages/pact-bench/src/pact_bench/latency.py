"""Latency with ``torch.utils.benchmark``: warm-up, fixed threads, median and IQR."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch.utils import benchmark

__all__ = ["Latency", "measure_latency"]


@dataclass(frozen=True)
class Latency:
    """Wall-clock time of one call.

    Attributes:
        median_s: Median seconds per call.
        iqr_s: Interquartile range of seconds per call.
        runs: Timed blocks behind the statistics (each averages one or more calls).
        threads: torch threads used.
    """

    median_s: float
    iqr_s: float
    runs: int
    threads: int

    @property
    def median_ms(self) -> float:
        """Median in milliseconds."""
        return self.median_s * 1e3

    def as_dict(self) -> dict[str, float | int]:
        """A JSON-ready dict."""
        return asdict(self)


def measure_latency(
    fn: Callable[[], object],
    *,
    threads: int | None = None,
    warmup: int = 3,
    min_run_time: float = 0.5,
    min_runs: int = 5,
) -> Latency:
    """Time ``fn()`` with :class:`torch.utils.benchmark.Timer`.

    The timer synchronises accelerators around each measurement, so CUDA work is
    counted in full; ``fn`` itself should not synchronise.

    Args:
        fn: The call to time, with its inputs bound.
        threads: torch threads for the measurement (default: the current setting).
        warmup: Untimed calls first (allocator, caches, lazy initialisation).
        min_run_time: Seconds of timed calls at least (``blocked_autorange``).
        min_runs: Timed blocks at least, for the median and IQR.

    Returns:
        Median and IQR of the per-call time.

    Raises:
        ValueError: On ``threads < 1``, ``warmup < 0`` or ``min_run_time <= 0``.
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if not min_run_time > 0:
        raise ValueError(f"min_run_time must be > 0, got {min_run_time}")
    if min_runs < 2:
        raise ValueError(f"min_runs must be >= 2, got {min_runs}")
    num_threads = threads if threads is not None else torch.get_num_threads()
    for _ in range(warmup):
        fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=num_threads)
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    times = [float(t) for t in measurement.times]
    # A slow call fills min_run_time with one block; take more for a median and an IQR.
    while len(times) < min_runs:
        times.append(float(timer.timeit(measurement.number_per_run).times[0]))
    quartiles = statistics.quantiles(times, n=4, method="inclusive")
    return Latency(
        median_s=statistics.median(times),
        iqr_s=quartiles[2] - quartiles[0],
        runs=len(times),
        threads=num_threads,
    )
