"""Property tests of Graves' ACT halting (eqs. 29-30, Alg. 4)."""

from __future__ import annotations

import pytest
import reference
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import Halting, haltings

import pact_core as pc

eps_values = st.sampled_from([0.01, 0.1, 0.5, 1e-6])


def _cumulative_is_clear_of_the_boundary(inp: Halting, eps: float) -> bool:
    """True unless a cumulative sum lies within rounding of ``1 - eps`` (a tie N cannot break)."""
    cumulative = torch.cumsum(inp.probs(), dim=-1)
    return bool(((cumulative - (1 - eps)).abs() > 1e-6).all())


@given(haltings(dtype=torch.float64), eps_values)
def test_act_matches_algorithm_4_line_by_line(inp: Halting, eps: float) -> None:
    assume(_cumulative_is_clear_of_the_boundary(inp, eps))
    weights, ponder = pc.act_halting(**inp.kwargs, eps=eps)
    for got_w, got_p, row in zip(
        reference.rows(weights),
        ponder.reshape(-1).tolist(),
        reference.rows(inp.probs()),
        strict=True,
    ):
        want_w, want_p = reference.act(row, eps)
        assert got_w == pytest.approx(want_w, abs=1e-12)
        assert got_p == pytest.approx(want_p, abs=1e-12)


@given(haltings(), eps_values)
def test_act_weights_are_on_the_simplex_and_ponder_is_n_plus_r(inp: Halting, eps: float) -> None:
    weights, ponder = pc.act_halting(**inp.kwargs, eps=eps)
    length = inp.values.shape[-1]
    assert weights.shape == inp.values.shape and ponder.shape == inp.values.shape[:-1]
    assert torch.all(weights >= 0)
    if weights.numel():
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(ponder), atol=1e-5, rtol=0)
    # The last non-zero weight is R, at position N; the ponder cost is N + R.
    positions = torch.arange(1, length + 1, dtype=weights.dtype)
    n = (
        torch.where(weights > 0, positions, torch.zeros_like(positions)).amax(-1)
        if length
        else None
    )
    if n is not None and weights.numel():
        remainder = weights.gather(-1, (n.long() - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
        has_positive = (weights > 0).any(-1)
        torch.testing.assert_close(
            ponder[has_positive], (n + remainder)[has_positive], atol=1e-5, rtol=0
        )
    assert torch.all(ponder > 1) and torch.all(ponder <= length + 1)


@given(haltings(), eps_values)
def test_act_gradients_are_finite(inp: Halting, eps: float) -> None:
    x = inp.values.clone().requires_grad_(True)
    kwargs = {"logits" if inp.is_logits else "h": x}
    weights, ponder = pc.act_halting(**kwargs, eps=eps)
    (weights * torch.linspace(0, 1, x.shape[-1], dtype=x.dtype)).sum().add(ponder.sum()).backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_ponder_cost_is_discontinuous_in_h1() -> None:
    # Paper fig. 2: h2 = h3 = h4 = 1/3. At h1* = 0.99 - 2/3 the cumulative sum reaches
    # 1 - eps one iteration earlier: N drops from 4 to 3 while R grows by h3 = 1/3, so rho
    # jumps down by 2/3 however close to h1* one looks.
    def rho(h1: float) -> float:
        h = torch.tensor([h1, 1 / 3, 1 / 3, 1 / 3, 0.0], dtype=torch.float64)
        return float(pc.act_halting(h)[1])

    critical = 0.99 - 2 / 3
    assert rho(critical - 1e-9) - rho(critical + 1e-9) == pytest.approx(2 / 3, abs=1e-6)
    assert rho(0.20) == pytest.approx(4 + (1 - 0.2 - 2 / 3), abs=1e-12)


def test_worked_example() -> None:
    weights, ponder = pc.act_halting(torch.tensor([0.3, 0.5, 0.4, 0.0]))
    torch.testing.assert_close(weights, torch.tensor([0.3, 0.5, 0.2, 0.0]))
    torch.testing.assert_close(ponder, torch.tensor(3.2))
