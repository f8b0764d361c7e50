"""Hypothesis strategies for halting tensors, named as the nouns they produce.

Values are built from plain Python floats (no numpy), with the extremes the numerics must
survive drawn on purpose: probabilities of exactly 0 and 1, and logits of +-50.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

import pact_core as pc

#: Every halting, and a method whose weights run it (``fixed`` has no halting head).
HALTING_METHODS: tuple[tuple[pc.Halting, pc.Method], ...] = (
    ("act", "act"),
    ("relaxed", "pact"),
    ("discrete", "pact-reinforce"),
    ("thresholded", "pact"),
    ("median", "pondernet"),
    ("expected", "pondernet"),
    ("fixed", "fixed"),
)

DTYPES = (torch.float32, torch.float64)
dtypes = st.sampled_from(DTYPES)

iteration_counts = st.integers(min_value=1, max_value=10)
batch_shapes = st.lists(st.integers(min_value=0, max_value=4), min_size=0, max_size=2).map(tuple)
nonempty_batch_shapes = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=2).map(
    tuple
)

probability_values = st.one_of(
    st.sampled_from([0.0, 1.0, 0.5]),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)
logit_values = st.one_of(
    st.sampled_from([-50.0, 50.0, 0.0]),
    st.floats(min_value=-50.0, max_value=50.0, allow_nan=False),
)
temperatures = st.floats(min_value=0.05, max_value=5.0)
taus = st.floats(min_value=1e-3, max_value=20.0)


def _tensor(
    draw: st.DrawFn, values: st.SearchStrategy[float], shape: tuple[int, ...], dtype: torch.dtype
) -> Tensor:
    flat = draw(st.lists(values, min_size=math.prod(shape), max_size=math.prod(shape)))
    return torch.tensor(flat, dtype=dtype).reshape(shape)


@st.composite
def halting_probs(
    draw: st.DrawFn,
    shape: tuple[int, ...] | None = None,
    dtype: torch.dtype | None = None,
    values: st.SearchStrategy[float] = probability_values,
) -> Tensor:
    """Halting probabilities ``[..., L]`` in ``[0, 1]``, extremes included."""
    if shape is None:
        shape = (*draw(batch_shapes), draw(iteration_counts))
    return _tensor(draw, values, shape, dtype or draw(dtypes))


@st.composite
def halting_logits(
    draw: st.DrawFn,
    shape: tuple[int, ...] | None = None,
    dtype: torch.dtype | None = None,
    values: st.SearchStrategy[float] = logit_values,
) -> Tensor:
    """Halting logits ``[..., L]`` in ``[-50, 50]``, extremes included."""
    if shape is None:
        shape = (*draw(batch_shapes), draw(iteration_counts))
    return _tensor(draw, values, shape, dtype or draw(dtypes))


@dataclass(frozen=True)
class Halting:
    """A halting input as a test hands it over: probabilities or logits."""

    values: Tensor
    is_logits: bool

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the pact_core functions (``h=`` or ``logits=``)."""
        return {"logits" if self.is_logits else "h": self.values}

    def probs(self) -> Tensor:
        """The probabilities in float64, with the last entry set to 1."""
        p = torch.sigmoid(self.values) if self.is_logits else self.values
        p = p.to(torch.float64).clone()
        p[..., -1] = 1.0
        return p


@st.composite
def haltings(
    draw: st.DrawFn, shape: tuple[int, ...] | None = None, dtype: torch.dtype | None = None
) -> Halting:
    """Either halting probabilities or halting logits."""
    if draw(st.booleans()):
        return Halting(draw(halting_logits(shape=shape, dtype=dtype)), is_logits=True)
    return Halting(draw(halting_probs(shape=shape, dtype=dtype)), is_logits=False)


@st.composite
def saturated_logits(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> Tensor:
    """Logits of exactly +-50: every halting decision is (numerically) certain."""
    return draw(halting_logits(shape=shape, values=st.sampled_from([-50.0, 50.0])))


def uniforms(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> Tensor:
    """Deterministic ``U(0, 1)`` draws for common-random-number comparisons."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=dtype)


seeds = st.integers(min_value=0, max_value=2**31 - 1)
