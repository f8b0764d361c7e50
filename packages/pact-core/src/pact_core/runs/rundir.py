"""Run directories: checked and created before any work, never overwritten by accident.

A training run owns a directory (``--out``) holding its checkpoint, log and summary.
:func:`prepare_run_dir` runs first, before data are loaded or a model is built, so a
bad path costs nothing: it refuses an empty name, a file, or a place that cannot be
created or written; without ``--resume`` it refuses a directory that already holds a
run's files unless ``--overwrite`` is given (then it removes them); and it removes the
temporary files a killed save left behind. :func:`check_output_file` and
:func:`check_output_dir` do the same for the results file or directory of a benchmark or
report. :func:`changed_settings` says which settings a resumed run would change.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pact_core.runs.cli import UsageError
from pact_core.runs.files import clean_orphans

__all__ = [
    "changed_settings",
    "check_output_dir",
    "check_output_file",
    "flatten",
    "prepare_run_dir",
]


def _check_writable(directory: Path, flag: str) -> None:
    try:
        handle, name = tempfile.mkstemp(prefix=".write-test.", dir=directory)
    except OSError as error:
        raise UsageError(f"{flag} {directory} is not writable ({error.strerror})") from None
    os.close(handle)
    Path(name).unlink()


def _make_dir(path: Path, flag: str) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{flag} {path} cannot be created ({error.strerror})") from None


def prepare_run_dir(
    out: str | os.PathLike[str],
    *,
    resume: bool,
    overwrite: bool,
    run_files: Iterable[str],
    flag: str = "--out",
) -> Path:
    """Check and create a run directory before any work is done.

    Args:
        out: The directory.
        resume: The run continues what the directory holds.
        overwrite: Replace what the directory holds of a run.
        run_files: The names of the run's files (checkpoint, log, summary, ...).
        flag: The flag that named the directory, for messages.

    Returns:
        The directory, created and writable, without orphaned temporary files.

    Raises:
        UsageError: For an empty name, a file, an uncreatable or unwritable directory,
            ``--resume`` with ``--overwrite``, or (without either) a directory that
            already holds one of ``run_files``.
    """
    if str(out).strip() == "":
        raise UsageError(f"{flag} must name a directory, got ''")
    if resume and overwrite:
        raise UsageError("--resume continues a run and --overwrite replaces it; pass one")
    path = Path(out)
    _make_dir(path, flag)
    _check_writable(path, flag)
    names = tuple(run_files)
    present = [name for name in names if (path / name).exists()]
    if present and not resume:
        if not overwrite:
            raise UsageError(
                f"{flag} {path} already holds a run ({', '.join(present)}); pass --resume to "
                "continue it or --overwrite to replace it"
            )
        for name in present:
            (path / name).unlink()
    for name in names:
        clean_orphans(path / name)
    return path


def check_output_file(path: str | os.PathLike[str] | None, flag: str) -> Path | None:
    """Check that a results file can be written, before the work that fills it.

    Creates its directory. ``None`` (no file requested) passes through.

    Raises:
        UsageError: If ``path`` is empty, a directory, or cannot be written.
    """
    if path is None:
        return None
    if str(path).strip() == "":
        raise UsageError(f"{flag} must name a file, got ''")
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{flag} {target} is a directory, not a file")
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"{flag} {target} cannot be written: {parent} is not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"{flag} {target} cannot be written: {parent} cannot be created ({error.strerror})"
        ) from None
    _check_writable(parent, flag)
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"{flag} {target} is not writable")
    return target


def check_output_dir(path: str | os.PathLike[str], flag: str, *, files: Iterable[str] = ()) -> Path:
    """Check and create an output directory, before the work that fills it.

    Unlike :func:`prepare_run_dir`, what the directory already holds is kept: a report
    directory is written again, file by file (each atomically).

    Args:
        path: The directory.
        flag: The flag that named it, for messages.
        files: The names of the files the command will write there; the temporary files
            killed writes of them left behind are removed.

    Returns:
        The directory, created and writable.

    Raises:
        UsageError: If ``path`` is empty, a file, or cannot be created or written.
    """
    if str(path).strip() == "":
        raise UsageError(f"{flag} must name a directory, got ''")
    directory = Path(path)
    _make_dir(directory, flag)
    _check_writable(directory, flag)
    for name in files:
        clean_orphans(directory / name)
    return directory


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"halting.tau": ..., "steps": ...}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_settings(
    saved: Mapping[str, Any], current: Mapping[str, Any], *, safe: Iterable[str] = ()
) -> str | None:
    """What a resumed run would change, as one line; ``None`` if nothing that matters.

    Args:
        saved: The config the checkpoint was trained with (nested dicts allowed).
        current: The config of this invocation.
        safe: Dotted names of settings documented as safe to change (e.g. ``steps``).

    Returns:
        ``"halting.tau: 0.01 -> 0.02, lr: 0.1 -> 0.2"`` naming every changed setting
        with both values, or ``None``.
    """
    before, after = flatten(saved), flatten(current)
    skip = set(safe)
    changed = sorted(
        k for k in before.keys() | after.keys() if k not in skip and before.get(k) != after.get(k)
    )
    if not changed:
        return None
    return ", ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in changed)
