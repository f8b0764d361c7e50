"""Savitzky-Golay smoothing and the "steps to solve" criterion of Fojo et al. (2018).

:func:`steps_to_solve` is the criterion as the paper states it (the first log point whose
smoothed accuracy reaches 98%). :func:`fojo_steps_to_solve` is the statistic that the
authors' analysis script computed for the published table, which differs: among the log
points whose smoothed accuracy exceeds 98%, the one with the *lowest raw* accuracy.

The filter fits a polynomial of degree ``polyorder`` by least squares to each window of
``window`` points and evaluates it at the window's centre. Near the ends, where no
centred window fits, it evaluates the fit to the first (or last) full window at the
point, which is what ``scipy.signal.savgol_filter(..., mode="interp")`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "fojo_steps_to_solve",
    "savgol_filter",
    "smoothed_accuracy",
    "smoothing_window",
    "steps_to_solve",
]

#: Fojo et al.: window of 71 log points, cubic, solved at 98% smoothed accuracy.
DEFAULT_WINDOW = 71
DEFAULT_POLYORDER = 3
SOLVED_ACCURACY = 0.98


def _hat_matrix(window: int, polyorder: int) -> NDArray[np.float64]:
    """``[window, window]``: row ``i`` maps a window to its least-squares fit at ``i``."""
    position = np.linspace(-1.0, 1.0, window) if window > 1 else np.zeros(1)
    design = np.vander(position, polyorder + 1, increasing=True)  # [window, p + 1]
    solve, *_ = np.linalg.lstsq(design, np.eye(window), rcond=None)  # [p + 1, window]
    hat: NDArray[np.float64] = design @ solve
    return hat


def savgol_filter(
    y: ArrayLike, window: int, polyorder: int = DEFAULT_POLYORDER
) -> NDArray[np.float64]:
    """Smooth ``y: [n]`` with a Savitzky-Golay filter (``mode="interp"`` at the ends).

    Args:
        y: The series, ``n >= window``.
        window: Odd window length ``>= 1``.
        polyorder: Polynomial degree ``< window``.

    Returns:
        ``[n]`` float64 smoothed series.

    Raises:
        ValueError: On an even or too long window, or ``polyorder >= window``.
    """
    values = np.asarray(y, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {values.shape}")
    n = values.shape[0]
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 1, got {window}")
    if window > n:
        raise ValueError(f"window ({window}) must not exceed the series length ({n})")
    if not 0 <= polyorder < window:
        raise ValueError(f"polyorder must be in [0, window), got {polyorder} for {window}")
    hat = _hat_matrix(window, polyorder)
    index = np.arange(n)
    start = np.clip(index - window // 2, 0, n - window)  # first point of each one's window
    windows = values[start[:, None] + np.arange(window)]  # [n, window]
    smoothed: NDArray[np.float64] = np.einsum("nw,nw->n", hat[index - start], windows)
    return smoothed


def smoothing_window(length: int, preferred: int = DEFAULT_WINDOW) -> int:
    """The largest odd window ``<= preferred`` that a series of ``length`` points allows."""
    window = min(preferred, length)
    return window if window % 2 == 1 else window - 1


def steps_to_solve(
    steps: Sequence[int],
    accuracies: Sequence[float],
    *,
    threshold: float = SOLVED_ACCURACY,
    window: int = DEFAULT_WINDOW,
    polyorder: int = DEFAULT_POLYORDER,
    settled: bool = False,
) -> int | None:
    """The first logged step at which the smoothed accuracy reaches ``threshold``.

    Smooths with :func:`savgol_filter` over ``window`` log points, or the largest odd
    window a shorter series allows (degree lowered to ``window - 1`` if needed).

    With ``settled=True`` only an answer that further log points can no longer change
    counts. Once the series has ``window`` points the filter's width is fixed, and the
    smoothed value of every point but the last ``window // 2`` is final: the first
    ``window // 2`` are read off the fit to the first full window, the rest off their
    own centred window. A crossing among those settled points is the first crossing of
    every longer series that starts the same way, which lets a run stop as soon as it
    is solved (``pact_seq.train --stop-when-solved``).

    Args:
        steps: Training steps of the log points, ascending.
        accuracies: Training-batch accuracy at each log point.
        threshold: Smoothed accuracy that counts as solved (0.98).
        window: Preferred window (71).
        polyorder: Polynomial degree (3, cubic).
        settled: Count only settled points (see above).

    Returns:
        The step, or ``None`` if the smoothed accuracy never reaches ``threshold`` (with
        ``settled``: at no settled point, or the series is shorter than ``window``).
    """
    if len(steps) != len(accuracies):
        raise ValueError(f"got {len(steps)} steps but {len(accuracies)} accuracies")
    if not steps or (settled and len(steps) < window):
        return None
    smoothed = smoothed_accuracy(accuracies, window=window, polyorder=polyorder)
    if settled:
        smoothed = smoothed[: len(steps) - smoothing_window(len(steps), window) // 2]
    reached = np.flatnonzero(smoothed >= threshold)
    return int(steps[int(reached[0])]) if reached.size else None


def smoothed_accuracy(
    accuracies: Sequence[float],
    *,
    window: int = DEFAULT_WINDOW,
    polyorder: int = DEFAULT_POLYORDER,
) -> NDArray[np.float64]:
    """Training accuracy smoothed as :func:`steps_to_solve` smooths it.

    Savitzky-Golay over ``window`` log points, or the largest odd window a shorter series
    allows, with the degree lowered to ``window - 1`` if needed; an empty series stays
    empty.
    """
    width = smoothing_window(len(accuracies), window)
    if width < 1:
        return np.asarray(accuracies, dtype=np.float64)
    return savgol_filter(accuracies, width, min(polyorder, width - 1))


def fojo_steps_to_solve(
    steps: Sequence[int],
    accuracies: Sequence[float],
    *,
    threshold: float = SOLVED_ACCURACY,
    window: int = DEFAULT_WINDOW,
    polyorder: int = DEFAULT_POLYORDER,
) -> int | None:
    """The "steps to solve" statistic as Fojo et al.'s analysis computed it.

    Among the log points whose smoothed accuracy is strictly above ``threshold``, return
    the step of the one with the lowest *raw* accuracy (the first such on ties). It is
    usually close to :func:`steps_to_solve` but can land on any later dip. Reported
    beside it so our numbers can be set against the published table.

    Args:
        steps: Training steps of the log points, ascending.
        accuracies: Training-batch accuracy at each log point.
        threshold: Smoothed accuracy that counts as solved (0.98).
        window: Preferred window (71).
        polyorder: Polynomial degree (3, cubic).

    Returns:
        The step, or ``None`` if the smoothed accuracy never exceeds ``threshold``.
    """
    if len(steps) != len(accuracies):
        raise ValueError(f"got {len(steps)} steps but {len(accuracies)} accuracies")
    if not steps:
        return None
    smoothed = smoothed_accuracy(accuracies, window=window, polyorder=polyorder)
    valid = np.flatnonzero(smoothed > threshold)
    if not valid.size:
        return None
    raw = np.asarray(accuracies, dtype=np.float64)[valid]
    return int(steps[int(valid[int(np.argmin(raw))])])
