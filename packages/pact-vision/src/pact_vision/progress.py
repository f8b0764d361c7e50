"""Progress bar on stderr and JSONL logs for training runs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["JsonlLog", "ProgressBar"]


class ProgressBar:
    """A one-line text progress bar: steps, rate, time left, and the last metrics.

    On a terminal the line is redrawn in place; otherwise (e.g. a log file) a line is
    written only when metrics change, so logs stay short.

    Args:
        total: The last step.
        start: The step the run starts from (after a resume).
        enabled: ``False`` makes every call a no-op (non-zero DDP ranks).
        stream: Where to write (default: stderr).
    """

    def __init__(
        self, total: int, start: int = 0, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.total = total
        self.start = start
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.began = time.monotonic()
        self.metrics = ""

    def update(self, step: int, metrics: dict[str, float] | None = None) -> None:
        """Show ``step`` (and, if given, new ``metrics``)."""
        if not self.enabled:
            return
        fresh = metrics is not None
        if metrics is not None:
            self.metrics = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        if not self.tty and not fresh:
            return
        elapsed = time.monotonic() - self.began
        rate = (step - self.start) / elapsed if elapsed > 0 else 0.0
        left = (self.total - step) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * step / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        eta = f"{left / 60:.1f}min" if left != float("inf") else "?"
        line = f"[{bar}] {step}/{self.total} {rate:.2f} it/s eta {eta} {self.metrics}"
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


class JsonlLog:
    """Appends one JSON object per line to ``path`` (kept across resumes)."""

    def __init__(self, path: str | Path, *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` (with a ``time`` stamp) as one line."""
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
