"""pact-bench: measure what adaptive computation buys (FLOPs, latency, memory).

Every measurement records the machine and versions it ran on
(:func:`describe_environment`), and latency comes from ``torch.utils.benchmark``
(:func:`measure_latency`).
"""

from pact_bench.environment import Environment, describe_environment
from pact_bench.latency import Latency, measure_latency

__version__ = "0.2.0"

__all__ = ["Environment", "Latency", "describe_environment", "measure_latency"]
