"""A progress bar on tqdm, and JSONL training logs.

tqdm is the optional ``runs`` extra of pact-core (``pip install "pact-core[runs]"``);
pact-seq, pact-vision and pact-bench install it. It is imported only when a bar is shown,
so the halting math and quiet runs never need it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pact_core.runs.files import to_json

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["JsonlLog", "ProgressBar"]


class ProgressBar:
    """``step/total``, rate, time left and the latest metrics, drawn by tqdm.

    On a terminal tqdm redraws the line in place at most every ``interval`` seconds, and
    at once when new metrics arrive. Elsewhere (a log file, a pipe) nothing is redrawn:
    one line is written when new metrics arrive, and at most one per ``interval``
    otherwise, so logs stay short. No background thread is started.

    Args:
        total: The last step.
        initial: The step the run starts from (after a resume).
        enabled: ``False`` makes every call a no-op (``--quiet`` runs, non-zero DDP
            ranks); tqdm is then not needed.
        stream: Where to write (default: stderr).
        interval: Seconds between redraws on a terminal; off a terminal, between lines
            written without new metrics (default: 0.5 on a terminal, 60 elsewhere).

    Raises:
        ImportError: If the bar is enabled and tqdm is not installed.
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        self.total = total
        self.initial = initial
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.5 if self.tty else 60.0)
        self._bar: tqdm[Any] | None = None
        if enabled:
            self._bar = _make_bar(total, initial, self.stream, self.interval, tty=self.tty)

    def update(self, step: int, metrics: Mapping[str, float] | None = None) -> None:
        """Show ``step`` and, if given, new ``metrics`` (drawn at once)."""
        bar = self._bar
        if bar is None:
            return
        if metrics is None:
            bar.update(step - bar.n)  # tqdm draws if ``interval`` has passed
            return
        bar.set_postfix_str(" ".join(f"{k}={v:.4g}" for k, v in metrics.items()), False)
        interval, bar.mininterval = bar.mininterval, 0.0  # draw now, through tqdm's clock
        try:
            drawn = bar.update(step - bar.n)
        finally:
            bar.mininterval = interval
        if not drawn:  # the same step again: nothing for update() to count
            bar.refresh()

    def close(self) -> None:
        """Draw the final state and end the line (off a terminal: unless already written)."""
        bar = self._bar
        if bar is None:
            return
        if not self.tty and bar.n != bar.last_print_n:
            bar.refresh()  # the last step as a line; close() below writes nothing
        bar.close()
        self._bar = None


def _make_bar(total: int, initial: int, stream: TextIO, interval: float, *, tty: bool) -> Any:
    """A tqdm bar on ``stream``: redrawn on a terminal, one line per draw elsewhere."""
    try:
        from tqdm import tqdm
    except ImportError:
        raise ImportError(
            "the progress bar needs tqdm: pip install 'pact-core[runs]' (or run quietly)"
        ) from None

    class Bar(tqdm):  # type: ignore[type-arg]
        monitor_interval = 0  # no monitor thread in training processes

    class LineBar(Bar):
        """Writes each draw as a line of its own instead of redrawing it."""

        def display(self, msg: str | None = None, pos: int | None = None) -> None:
            if msg == "":  # close(leave=False) clearing the line: nothing to clear
                return
            self.fp.write((msg if msg is not None else str(self)).rstrip() + "\n")
            self.fp.flush()

    options: dict[str, Any] = {
        "total": total,
        "initial": initial,
        "file": stream,
        "unit": "step",
        "mininterval": interval,
        "maxinterval": interval,
        "miniters": 1,
    }
    if tty:
        return Bar(dynamic_ncols=True, **options)
    # No first line at ``initial`` (the delay, lifted once constructed), ASCII bars, and
    # nothing to clear at close().
    bar = LineBar(ascii=True, ncols=100, delay=float("inf"), leave=False, **options)
    bar.delay = 0.0
    return bar


class JsonlLog:
    """Appends one strict JSON object per line to ``path`` (kept across resumes).

    A non-finite number is written as ``null`` with a ``nulls`` entry saying why
    (:func:`pact_core.runs.to_json`).
    """

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
            f.write(to_json({"time": round(time.time(), 3), **record}) + "\n")
