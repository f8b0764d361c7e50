"""Plumbing for training and benchmark scripts, shared by pact-vision, pact-seq and pact-bench.

Not halting math: the device choice, atomic checkpoint files, the random state a
bit-identical resume needs, a progress bar with JSONL logs, one-line argument errors, and
an allocator setting that keeps CPU runs from re-faulting their memory every step. It
lives in pact-core because every model package depends on pact-core.
"""

from pact_core.runs.allocator import allocator_description, retain_freed_memory
from pact_core.runs.cli import (
    HALTING_FLAGS,
    OneLineParser,
    add_halting_arguments,
    halting_fields,
    integer,
    number,
    report_error,
)
from pact_core.runs.device import resolve_device
from pact_core.runs.files import load_checkpoint, save_atomic, write_text_atomic
from pact_core.runs.progress import JsonlLog, ProgressBar
from pact_core.runs.rng import rng_state, set_rng_state

__all__ = [
    "HALTING_FLAGS",
    "JsonlLog",
    "OneLineParser",
    "ProgressBar",
    "add_halting_arguments",
    "allocator_description",
    "halting_fields",
    "integer",
    "load_checkpoint",
    "number",
    "report_error",
    "resolve_device",
    "retain_freed_memory",
    "rng_state",
    "save_atomic",
    "set_rng_state",
    "write_text_atomic",
]
