"""One row of a comparison, and the files a comparison writes: JSON, CSV, Markdown.

Every file is written atomically (a reader never sees half of one), and the JSON files
strictly: a number that is not finite becomes ``null`` (:func:`pact_core.runs.write_json`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from pact_core import runs

__all__ = ["Row", "markdown_tables", "write_csv", "write_json", "write_table"]


@dataclass(frozen=True)
class Row:
    """One model evaluated one way. Fields that do not apply are ``None``.

    Attributes:
        part: ``"seq"`` or ``"vision"``.
        run: Name of the run (a directory name, or the comparison's own label).
        model: ``act``, ``pact``, ``pact-reinforce``, ``repeat``, ``plain`` (seq) or
            ``dense``, ``sact``, ``psact``, ``psact-sparse`` (vision).
        halting: The halting at evaluation (``act``, ``relaxed``, ``discrete``,
            ``thresholded``; see :data:`pact_core.HALTINGS`), or ``None`` for a model
            run without halting (the ``fixed`` halting: a dense ResNet, Repeat-RNN, the
            plain RNN).
        setting: The hyperparameter that tells runs apart, e.g. ``tau=0.01``, ``rho=3``.
        source: ``trained here``, ``run directory``, ``checkpoint`` or ``controlled
            halting`` (halting heads set by hand to run a fixed share of the units).
        accuracy: Evaluation accuracy in ``[0, 1]`` (sequence accuracy for addition).
        digit_accuracy: Per-digit evaluation accuracy (addition only).
        mean_ponder: Mean cell steps per input (seq) or units per position (vision).
        steps_to_solve: First logged step at which smoothed training accuracy reached 98%.
        steps_to_solve_fojo: The statistic Fojo et al.'s analysis script computed for the
            published table (:func:`pact_seq.smoothing.fojo_steps_to_solve`).
        collapse_step: For a run that ended collapsed to one iteration per input (the
            share halting at the first step at or above ``pact_seq``'s collapse share at
            every log point since), the first step of that stretch; else ``None``.
        steps: Training steps run.
        steps_per_s: Training steps per second.
        flops: FLOPs per input (seq: cell steps times cell FLOPs; vision: per image, as
            the active masks need).
        active_fraction: Share of residual units executed per position (vision).
        batch: Batch size of the latency and memory measurements (vision).
        latency_ms: Median latency of one evaluation forward pass.
        latency_iqr_ms: Interquartile range of that latency.
        peak_memory_mib: Peak extra memory of that forward pass.
    """

    part: str
    run: str
    model: str
    halting: str | None = None
    setting: str = ""
    source: str = ""
    accuracy: float | None = None
    digit_accuracy: float | None = None
    mean_ponder: float | None = None
    steps_to_solve: int | None = None
    steps_to_solve_fojo: int | None = None
    collapse_step: int | None = None
    steps: int | None = None
    steps_per_s: float | None = None
    flops: float | None = None
    active_fraction: float | None = None
    batch: int | None = None
    latency_ms: float | None = None
    latency_iqr_ms: float | None = None
    peak_memory_mib: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


COLUMNS = tuple(f.name for f in fields(Row))


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented strict JSON, atomically.

    A non-finite number is written as ``null``, and ``payload`` gains a ``"nulls"`` entry
    naming it (:func:`pact_core.runs.to_json`).
    """
    runs.write_json(path, payload)


def write_table(path: Path, rows: Sequence[Row]) -> None:
    """Write ``rows`` as a flat JSON table: a list of one object per row, atomically.

    Each object has one key per :class:`Row` field (:data:`COLUMNS`) and a scalar or
    ``null`` value: the layout ``pandas.DataFrame.to_json(orient="records")`` writes,
    which ``pandas.read_json(path)`` reads back as a table as it is. A non-finite number
    is written as ``null``.
    """
    runs.write_json(path, [{name: row.as_dict()[name] for name in COLUMNS} for row in rows])


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    """Write ``rows`` with one column per :class:`Row` field."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.as_dict().items()})
    runs.write_text_atomic(path, buffer.getvalue())


def _cell(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "percent":
        return f"{100 * value:.1f}%"
    if kind == "flops":
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= scale:
                return f"{value / scale:.2f} {suffix}"
        return f"{value:.0f}"
    if kind == "float":
        return f"{value:.2f}"
    if kind == "ms":
        return f"{value:.2f}"
    return str(value)


_SEQ_COLUMNS = (
    ("run", "run", "text"),
    ("eval", "halting", "text"),
    ("accuracy", "accuracy", "percent"),
    ("ponder steps", "mean_ponder", "float"),
    ("steps to solve", "steps_to_solve", "text"),
    ("train steps/s", "steps_per_s", "float"),
    ("FLOPs / input", "flops", "flops"),
)
_VISION_COLUMNS = (
    ("model", "run", "text"),
    ("halting", "source", "text"),
    ("active", "active_fraction", "percent"),
    ("accuracy", "accuracy", "percent"),
    ("FLOPs / image", "flops", "flops"),
    ("batch", "batch", "text"),
    ("latency ms (IQR)", "latency_ms", "latency"),
    ("peak memory MiB", "peak_memory_mib", "float"),
)


def _table(rows: Sequence[Row], columns: Sequence[tuple[str, str, str]]) -> list[str]:
    lines = ["| " + " | ".join(title for title, _, _ in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        cells = []
        for _, name, kind in columns:
            value = getattr(row, name)
            if kind == "latency":
                cells.append(
                    "-" if value is None else f"{value:.2f} ({_cell(row.latency_iqr_ms, 'ms')})"
                )
            else:
                cells.append(_cell(value, kind))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_tables(rows: Sequence[Row]) -> str:
    """Markdown tables of the seq rows and the vision rows (those present)."""
    parts = []
    seq = [r for r in rows if r.part == "seq"]
    vision = [r for r in rows if r.part == "vision"]
    if seq:
        parts.append("\n".join(["### Sequence models", "", *_table(seq, _SEQ_COLUMNS)]))
    if vision:
        parts.append("\n".join(["### Vision models", "", *_table(vision, _VISION_COLUMNS)]))
    return "\n\n".join(parts)
