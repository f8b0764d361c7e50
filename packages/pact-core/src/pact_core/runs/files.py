"""Atomic files, strict JSON and self-describing checkpoints.

A reader never sees half a file, even if the writer is killed: every file is written to
a temporary file beside it and moved into place. A killed writer can leave that
temporary file behind (``.NAME.*.tmp``); :func:`clean_orphans` removes them, and run
directories call it when they start. JSON is written strictly: no ``NaN`` or
``Infinity`` (which strict parsers reject); a non-finite number becomes ``null`` and the
file gains a ``"nulls"`` entry saying which and why. Checkpoints carry a header (their
kind, format version, config and the input shape they were trained on), so loading the
wrong one says so in one line.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import torch

__all__ = [
    "checkpoint_header",
    "clean_orphans",
    "load_checkpoint",
    "save_atomic",
    "strict_json",
    "to_json",
    "write_json",
    "write_text_atomic",
]


def _file_mode(path: Path) -> int:
    """The permissions ``path`` keeps, or those a new file gets (``0o666`` less the umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mask = os.umask(0o022)  # read the umask: setting it is the only way
        os.umask(mask)
        return 0o666 & ~mask


def _replace_from_temp(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _file_mode(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # mkstemp's 0o600 would hide results from other users
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


def clean_orphans(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed atomic writes of ``path`` left behind.

    Returns:
        The files removed.
    """
    target = Path(path)
    removed = []
    for orphan in target.parent.glob(f".{target.name}.*.tmp"):
        orphan.unlink(missing_ok=True)
        removed.append(orphan)
    return removed


def strict_json(value: Any, path: str = "") -> tuple[Any, dict[str, str]]:
    """``value`` with every non-finite float replaced by ``None``, and where and why.

    Returns:
        The cleaned value (dicts, lists and tuples copied) and ``{"a.b[2]": "nan"}``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None, {path or "$": repr(value)}
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        for key, item in value.items():
            cleaned[key], found = strict_json(item, f"{path}.{key}" if path else str(key))
            reasons.update(found)
        return cleaned, reasons
    if isinstance(value, list | tuple):
        items, reasons = [], {}
        for index, item in enumerate(value):
            clean, found = strict_json(item, f"{path}[{index}]")
            items.append(clean)
            reasons.update(found)
        return items, reasons
    return value, {}


def to_json(value: Any, *, indent: int | None = None) -> str:
    """``value`` as strict JSON text.

    Non-finite numbers become ``null``; a top-level object then gains ``"nulls"``,
    e.g. ``{"accuracy": "not a finite number (nan)"}``: the path of each and what it was.
    """
    cleaned, reasons = strict_json(value)
    if reasons and isinstance(cleaned, dict):
        cleaned["nulls"] = {key: f"not a finite number ({why})" for key, why in reasons.items()}
    return json.dumps(cleaned, indent=indent, allow_nan=False)


def write_json(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2) -> None:
    """Write ``value`` as strict JSON (:func:`to_json`), atomically."""
    write_text_atomic(path, to_json(value, indent=indent) + "\n")


def checkpoint_header(
    kind: str, version: int, config: Mapping[str, Any], input_shape: Sequence[int] | None
) -> dict[str, Any]:
    """The entries that make a checkpoint say what it is.

    Args:
        kind: ``"pact-seq"`` or ``"pact-vision"``.
        version: The format version of that kind.
        config: The run's configuration.
        input_shape: The shape of one input the model was trained on (e.g. ``[1, 28,
            28]`` for Fashion-MNIST, ``[64]`` for 64-bit parity).
    """
    return {
        "kind": kind,
        "format_version": version,
        "config": dict(config),
        "input_shape": None if input_shape is None else [int(s) for s in input_shape],
    }


def load_checkpoint(
    path: str | os.PathLike[str], *, kind: str = "pact", versions: Sequence[int] = ()
) -> dict[str, Any]:
    """Load a dict checkpoint onto the CPU with ``weights_only=True``, and check its kind.

    Args:
        path: The file.
        kind: The kind expected (``"pact-seq"``, ``"pact-vision"``); a checkpoint whose
            header names another kind is refused. ``"pact"`` accepts any.
        versions: The format versions this code reads (empty: any).

    Raises:
        FileNotFoundError: If ``path`` does not exist (the message names it).
        ValueError: If the file is unreadable, not a dict, or of another kind or version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        # torch warns about what it meets in a foreign file (random bytes can read as
        # "pickle protocol 234") before it fails; the failure is reported in one line
        # below, and a file that loads is checked below, so the warnings add nothing.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"checkpoint {path} is unreadable ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a {kind} checkpoint")
    found = data.get("kind")
    if kind != "pact" and found is not None and found != kind:
        raise ValueError(f"{path} is a {found} checkpoint, not a {kind} one")
    version = data.get("format_version")
    if versions and found is not None and version not in versions:
        raise ValueError(
            f"{path} has {kind} format version {version}; this version of pact reads "
            f"{', '.join(map(str, versions))}"
        )
    return data
