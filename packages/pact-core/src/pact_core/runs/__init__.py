"""Plumbing for training and benchmark scripts, shared by pact-vision, pact-seq and pact-bench.

Not halting math, and no math module imports it: the one argument layer of the command
lines (checked flags, one-line errors), run directories that are never overwritten by
accident, atomic files, strict JSON and self-describing checkpoints, the divergence
guard, the device choice, the random state a bit-identical resume needs, a progress bar
with JSONL logs, and an allocator setting that keeps CPU runs from re-faulting their
memory every step. It lives in pact-core because every model package depends on
pact-core.
"""

from pact_core.runs.allocator import allocator_description, retain_freed_memory
from pact_core.runs.cli import (
    COUNT,
    HALTING_FLAGS,
    LEARNING_RATE,
    NONNEGATIVE,
    POSITIVE,
    WHOLE,
    OneLineParser,
    RunError,
    UsageError,
    add_halting_arguments,
    halting_fields,
    integer,
    integer_list,
    number,
    number_list,
    parse_device,
    report_error,
    run_main,
)
from pact_core.runs.device import resolve_device
from pact_core.runs.files import (
    checkpoint_header,
    clean_orphans,
    load_checkpoint,
    save_atomic,
    strict_json,
    to_json,
    write_json,
    write_text_atomic,
)
from pact_core.runs.guard import DivergedError, DivergenceGuard
from pact_core.runs.progress import JsonlLog, ProgressBar
from pact_core.runs.rng import rng_state, set_rng_state
from pact_core.runs.rundir import (
    changed_settings,
    check_output_dir,
    check_output_file,
    flatten,
    prepare_run_dir,
)

__all__ = [
    "COUNT",
    "HALTING_FLAGS",
    "LEARNING_RATE",
    "NONNEGATIVE",
    "POSITIVE",
    "WHOLE",
    "DivergedError",
    "DivergenceGuard",
    "JsonlLog",
    "OneLineParser",
    "ProgressBar",
    "RunError",
    "UsageError",
    "add_halting_arguments",
    "allocator_description",
    "changed_settings",
    "check_output_dir",
    "check_output_file",
    "checkpoint_header",
    "clean_orphans",
    "flatten",
    "halting_fields",
    "integer",
    "integer_list",
    "load_checkpoint",
    "number",
    "number_list",
    "parse_device",
    "prepare_run_dir",
    "report_error",
    "resolve_device",
    "retain_freed_memory",
    "rng_state",
    "run_main",
    "save_atomic",
    "set_rng_state",
    "strict_json",
    "to_json",
    "write_json",
    "write_text_atomic",
]
