"""A dependency-free progress bar on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Redraw ``step/total`` with rate and ETA on a terminal; print a line now and then if not.

    Args:
        total: Number of steps of the whole run.
        initial: Step to start from (after a resume).
        stream: Where to write (stderr by default).
        enabled: ``False`` to write nothing.
        interval: Seconds between redraws on a terminal (60 times that otherwise).
    """

    def __init__(
        self,
        total: int,
        *,
        initial: int = 0,
        stream: TextIO | None = None,
        enabled: bool = True,
        interval: float = 0.5,
    ) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else 60 * interval
        self._start_step = initial
        self._start = time.perf_counter()
        self._last_draw = -float("inf")
        self.note = ""

    def update(self, step: int, *, force: bool = False) -> None:
        """Report that ``step`` steps are done; redraws at most every ``interval`` seconds."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        elapsed = max(now - self._start, 1e-9)
        rate = (step - self._start_step) / elapsed
        remaining = (self.total - step) / rate if rate > 0 else float("inf")
        width = 30
        filled = int(width * step / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        eta = _duration(remaining) if remaining != float("inf") else "?"
        line = f"[{bar}] {step}/{self.total} {rate:.1f} it/s eta {eta} {self.note}".rstrip()
        if self.tty:
            self.stream.write("\r" + line + "\033[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self, step: int) -> None:
        """Draw the final state and end the line."""
        if not self.enabled:
            return
        self.update(step, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
