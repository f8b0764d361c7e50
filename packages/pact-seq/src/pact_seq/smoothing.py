"""Savitzky-Golay smoothing and the "steps to solve" criterion of Fojo et al. (2018).

The smoothing is :func:`scipy.signal.savgol_filter`, the function the authors' analysis
script called (``savgol_filter(x, 71, 3)``, its default ``mode="interp"``: near the ends,
where no centred window fits, each point is read off the polynomial fitted to the first
or last full window).

:func:`steps_to_solve` is the criterion as the paper states it (the first log point whose
smoothed accuracy reaches 98%). :func:`fojo_steps_to_solve` is the statistic that the
authors' analysis script computed for the published table, which differs: among the log
points whose smoothed accuracy exceeds 98%, the one with the *lowest raw* accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.signal import savgol_filter

__all__ = [
    "DEFAULT_POLYORDER",
    "DEFAULT_WINDOW",
    "SOLVED_ACCURACY",
    "fojo_steps_to_solve",
    "smoothed_accuracy",
    "smoothing_window",
    "steps_to_solve",
]

#: Fojo et al.: window of 71 log points, cubic, solved at 98% smoothed accuracy.
DEFAULT_WINDOW = 71
DEFAULT_POLYORDER = 3
SOLVED_ACCURACY = 0.98


def smoothing_window(length: int, preferred: int = DEFAULT_WINDOW) -> int:
    """The largest odd window ``<= preferred`` that a series of ``length`` points allows."""
    window = min(preferred, length)
    return window if window % 2 == 1 else window - 1


def smoothed_accuracy(
    accuracies: Sequence[float],
    *,
    window: int = DEFAULT_WINDOW,
    polyorder: int = DEFAULT_POLYORDER,
) -> NDArray[np.float64]:
    """Training accuracy smoothed as :func:`steps_to_solve` smooths it.

    :func:`scipy.signal.savgol_filter` (``mode="interp"``) over ``window`` log points,
    or the largest odd window a shorter series allows, with the degree lowered to
    ``window - 1`` if needed; an empty series stays empty.

    Args:
        accuracies: Training-batch accuracy at each log point.
        window: Preferred window (71); an even one gives the odd window below it.
        polyorder: Polynomial degree (3, cubic), lowered to the window's length - 1.

    Returns:
        ``[n]`` float64 smoothed series. It is not clipped: near a sharp rise the cubic
        can overshoot the data (above 1.0 for an accuracy); plots clip it
        (:func:`pact_bench.plot.parity_figure`), the criteria read it as it is.

    Raises:
        ValueError: If ``accuracies`` is not one-dimensional, or ``polyorder < 0``.
    """
    values = np.asarray(accuracies, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"accuracies must be one-dimensional, got shape {values.shape}")
    width = smoothing_window(len(values), window)
    if width < 1:
        return values
    smoothed: NDArray[np.float64] = savgol_filter(
        values, width, min(polyorder, width - 1), mode="interp"
    )
    return smoothed


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

    Smooths with :func:`smoothed_accuracy` over ``window`` log points, or the largest odd
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

    Raises:
        ValueError: If ``steps`` and ``accuracies`` differ in length.
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
    the step of the one with the lowest *raw* accuracy (the first such on ties): their
    script's ``valid[x[valid].argmin()]`` with
    ``valid = np.where(savgol_filter(x, 71, 3) > 0.98)[0]``. It is usually close to
    :func:`steps_to_solve` but can land on any later dip. Reported beside it so our
    numbers can be set against the published table.

    Args:
        steps: Training steps of the log points, ascending.
        accuracies: Training-batch accuracy at each log point.
        threshold: Smoothed accuracy that counts as solved (0.98).
        window: Preferred window (71).
        polyorder: Polynomial degree (3, cubic).

    Returns:
        The step, or ``None`` if the smoothed accuracy never exceeds ``threshold``.

    Raises:
        ValueError: If ``steps`` and ``accuracies`` differ in length.
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
