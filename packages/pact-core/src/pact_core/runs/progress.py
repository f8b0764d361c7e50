"""A dependency-free progress bar on stderr, and JSONL training logs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

__all__ = ["JsonlLog", "ProgressBar"]


class ProgressBar:
    """``step/total``, rate, time left and the latest metrics, on one line.

    On a terminal the line is redrawn in place at most every ``interval`` seconds (and
    whenever new metrics arrive); elsewhere (a log file) a line is written when new
    metrics arrive, and at most once a minute otherwise, so logs stay short.

    Args:
        total: The last step.
        initial: The step the run starts from (after a resume).
        enabled: ``False`` makes every call a no-op (quiet runs, non-zero DDP ranks).
        stream: Where to write (default: stderr).
        interval: Seconds between redraws on a terminal.
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        interval: float = 0.5,
    ) -> None:
        self.total = total
        self.initial = initial
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else 60.0
        self.began = time.monotonic()
        self._last_draw = self.began
        self._step = initial
        self.metrics = ""

    def update(self, step: int, metrics: Mapping[str, float] | None = None) -> None:
        """Show ``step`` and, if given, new ``metrics``."""
        if not self.enabled:
            return
        self._step = step
        now = time.monotonic()
        if metrics is not None:
            self.metrics = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        elif now - self._last_draw < self.interval:
            return
        self._draw(now)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        elapsed = now - self.began
        rate = (self._step - self.initial) / elapsed if elapsed > 0 else 0.0
        left = (self.total - self._step) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * self._step / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        eta = _duration(left) if left != float("inf") else "?"
        line = f"[{bar}] {self._step}/{self.total} {rate:.1f} it/s eta {eta} {self.metrics}"
        line = line.rstrip()
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if not self.enabled:
            return
        self._draw(time.monotonic())
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class JsonlLog:
    """Appends one JSON object per line to ``path`` (kept across resumes)."""

    def __init__(self, path: str | Path, *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` (with a ``time`` stamp) as one line."""
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
