from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import savgol_filter
from strategies import smoothing_problems

from pact_seq.smoothing import (
    fojo_steps_to_solve,
    smoothed_accuracy,
    smoothing_window,
    steps_to_solve,
)


def direct_fit(y: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    """Reference: one np.polyfit per point, on its centred (or edge) window."""
    n = len(y)
    out = np.empty(n)
    for i in range(n):
        start = min(max(i - window // 2, 0), n - window)
        positions = np.arange(start, start + window, dtype=float)
        coefficients = np.polyfit(positions - i, y[start : start + window], polyorder)
        out[i] = coefficients[-1]  # the fit evaluated at i
    return out


@given(problem=smoothing_problems())
def test_smoothing_matches_direct_polynomial_fit(problem: tuple[list[float], int, int]) -> None:
    # What the criteria rely on: the centred fit inside, the edge windows' fits at the ends.
    values, window, polyorder = problem
    y = np.asarray(values)
    np.testing.assert_allclose(
        smoothed_accuracy(values, window=window, polyorder=polyorder),
        direct_fit(y, window, polyorder),
        atol=1e-8,
    )


def test_smoothing_keeps_a_cubic_and_smooths_noise() -> None:
    x = np.linspace(-2, 3, 101)
    cubic = 0.5 * x**3 - x**2 + 2
    np.testing.assert_allclose(smoothed_accuracy(list(cubic)), cubic, atol=1e-9)
    noisy = cubic + np.random.default_rng(0).normal(0, 0.1, x.shape)
    smoothed = smoothed_accuracy(list(noisy), window=31)
    assert np.abs(smoothed - cubic).mean() < np.abs(noisy - cubic).mean() / 2


def test_short_series_get_the_largest_odd_window_and_a_lower_degree() -> None:
    y = [3.0, -1.0, 2.0]
    np.testing.assert_allclose(smoothed_accuracy(y), savgol_filter(y, 3, 2))  # the parabola
    np.testing.assert_allclose(smoothed_accuracy(y[:1]), y[:1])  # window 1: the series
    assert smoothed_accuracy([]).shape == (0,)
    four = [0.1, 0.4, 0.2, 0.9]  # an even length: window 3 over the four points
    np.testing.assert_allclose(smoothed_accuracy(four), savgol_filter(four, 3, 2))
    with pytest.raises(ValueError, match="one-dimensional"):
        smoothed_accuracy([[0.5, 0.5]])  # type: ignore[list-item]


def test_smoothing_window() -> None:
    assert smoothing_window(200) == 71
    assert smoothing_window(71) == 71
    assert smoothing_window(70) == 69
    assert smoothing_window(6) == 5
    assert smoothing_window(1) == 1
    assert smoothing_window(0) == -1


def test_steps_to_solve() -> None:
    steps = [1000 * (i + 1) for i in range(150)]
    acc = [min(1.0, 0.5 + 0.005 * i) for i in range(150)]  # reaches 0.98 at i = 96
    solved = steps_to_solve(steps, acc)
    assert solved is not None
    assert 97_000 <= solved <= 105_000  # a cubic over 71 points rounds the kink off
    assert steps_to_solve(steps, [0.9] * 150) is None
    assert steps_to_solve([], []) is None
    assert steps_to_solve([1000, 2000], [0.99, 1.0]) == 1000
    with pytest.raises(ValueError, match="accuracies"):
        steps_to_solve([1], [])


def test_steps_to_solve_ignores_single_spikes() -> None:
    steps = [1000 * (i + 1) for i in range(100)]
    acc = [0.6] * 100
    acc[40] = 1.0
    assert steps_to_solve(steps, acc) is None


def test_fojo_statistic_takes_the_lowest_raw_point_among_solved_ones() -> None:
    steps = [1000 * (i + 1) for i in range(100)]
    acc = [0.5] * 20 + [1.0] * 80
    acc[60] = 0.9  # a dip inside the solved region
    first = steps_to_solve(steps, acc)
    assert first is not None
    assert first < 61_000
    assert fojo_steps_to_solve(steps, acc) == 61_000
    assert fojo_steps_to_solve(steps, [0.5] * 100) is None
    assert fojo_steps_to_solve([], []) is None
    smooth = [min(1.0, 0.5 + 0.0107 * i) for i in range(100)]  # no dips: the first solved point
    assert fojo_steps_to_solve(steps, smooth) == steps_to_solve(steps, smooth)


@given(
    problem=smoothing_problems(),
    extension=st.lists(st.floats(0.0, 1.0), max_size=40),
    level=st.floats(0.05, 0.95),
)
def test_a_settled_solve_is_the_solve_of_every_longer_series(
    problem: tuple[list[float], int, int], extension: list[float], level: float
) -> None:
    values, window, polyorder = problem
    longer = values + extension
    threshold = float(np.quantile(longer, level))  # a level the series does cross

    def solve(series: list[float], settled: bool) -> int | None:
        return steps_to_solve(
            range(len(series)),
            series,
            threshold=threshold,
            window=window,
            polyorder=polyorder,
            settled=settled,
        )

    settled = solve(values, settled=True)
    if settled is not None:
        assert settled == solve(longer, settled=False)
        assert solve(longer, settled=True) == settled  # and it stays settled


def test_settled_solve_waits_for_a_full_window_and_half_a_window_after() -> None:
    ramp = list(np.clip(np.linspace(0.5, 1.3, 100), 0.0, 1.0))
    steps = [1000 * (i + 1) for i in range(100)]
    full = steps_to_solve(steps, ramp)
    assert full is not None
    index = steps.index(full)
    assert steps_to_solve(steps[:70], ramp[:70], settled=True) is None  # window not full yet
    assert steps_to_solve(steps[: index + 35], ramp[: index + 35], settled=True) is None
    assert steps_to_solve(steps[: index + 36], ramp[: index + 36], settled=True) == full
    with pytest.raises(ValueError, match="accuracies"):
        steps_to_solve([1, 2], [0.5], settled=True)


def test_fojo_metric_is_their_script_on_a_synthetic_curve() -> None:
    # Fojo et al.'s analysis script, on a TensorBoard CSV column x of accuracies logged
    # every 1000 steps: valid = np.where(savgol_filter(x, 71, 3) > 0.98)[0], then
    # valid[x[valid].argmin()] * 1000.
    rng = np.random.default_rng(3)
    rows = np.arange(300)
    curve = 0.5 + 0.5 / (1 + np.exp(-(rows - 120) / 12))  # a noisy sigmoid to 100%
    x = np.clip(curve + rng.normal(0, 0.01, rows.shape), 0, 1)
    x[200] = 0.9  # one bad batch well after the solve
    valid = np.where(savgol_filter(x, 71, 3) > 0.98)[0]
    theirs = int(valid[x[valid].argmin()] * 1000)
    steps = [1000 * int(r) for r in rows]  # row i logged at step 1000 i
    assert fojo_steps_to_solve(steps, list(x)) == theirs == 200_000
    # Our criterion, the first crossing, comes much earlier on the same curve.
    first = steps_to_solve(steps, list(x))
    assert first is not None
    assert first == 1000 * int(valid[0])  # the first smoothed point above 98% (none at it)
    assert first < 170_000 < theirs
