"""Plain-Python transcriptions of the paper's equations and algorithms, one row at a time.

They work on lists of Python floats (float64) and share no code with pact_core, so the
tests compare the library against an independent reading of the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rows(t: Tensor) -> list[list[float]]:
    """The rows ``[..., L] -> [[h^1, ..., h^L], ...]`` of a tensor, as float64 lists."""
    flat = t.detach().to(torch.float64).reshape(-1, t.shape[-1])
    return [list(map(float, row)) for row in flat]


def with_last_one(h: list[float]) -> list[float]:
    """``h`` with ``h^L = 1``."""
    return [*h[:-1], 1.0]


def halting_distribution(h: list[float]) -> list[float]:
    """Eq. 15: ``q_l = h_l prod_{i<l}(1 - h_i)``."""
    h = with_last_one(h)
    q, survive = [], 1.0
    for p in h:
        q.append(p * survive)
        survive *= 1.0 - p
    return q


def expected_iterations(h: list[float]) -> float:
    """Eq. 24: ``N = sum_l l q_l``."""
    return sum((i + 1) * q for i, q in enumerate(halting_distribution(h)))


def first_above(h: list[float], threshold: float) -> int:
    """Alg. 2: the first ``l`` with ``h^l > threshold``, else ``L``."""
    h = with_last_one(h)
    for i, p in enumerate(h[:-1]):
        if p > threshold:
            return i + 1
    return len(h)


def act(h: list[float], eps: float) -> tuple[list[float], float]:
    """Algorithm 4, line by line: halting weights (the output's coefficients) and ponder cost."""
    length = len(h)
    c, remainder, ponder = 0.0, 1.0, 0.0
    weights = [0.0] * length
    for index in range(length):
        p = h[index] if index < length - 1 else 1.0
        c = c + p
        ponder = ponder + 1
        if c < 1 - eps:
            weights[index] = p
            remainder = remainder - p
        else:
            weights[index] = remainder
            ponder = ponder + remainder
            break
    return weights, ponder
