"""PonderNet's objective: the truncated geometric prior, ``KL(q || p_G)`` and eq. 5."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pact_core as pc

LAMBDAS = st.floats(0.01, 1.0)
LENGTHS = st.integers(1, 30)


@given(LAMBDAS, LENGTHS)
def test_prior_is_a_truncated_geometric(lambda_p: float, length: int) -> None:
    prior = pc.geometric_prior(lambda_p, length, torch.zeros((), dtype=torch.float64))
    assert prior.shape == (length,)
    assert prior.sum().item() == pytest.approx(1.0)
    if lambda_p < 1 and length > 1:
        ratios = prior[1:] / prior[:-1]
        assert torch.allclose(ratios, torch.full_like(ratios, 1 - lambda_p))
    if lambda_p == 1:
        assert prior.tolist() == [1.0] + [0.0] * (length - 1)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), LAMBDAS)
def test_kl_is_nonnegative_and_zero_at_the_prior(weights: list[float], lambda_p: float) -> None:
    raw = torch.tensor(weights, dtype=torch.float64) + 1e-3
    q = raw / raw.sum()
    prior = pc.geometric_prior(lambda_p, len(weights), q)
    assert pc.pondernet_kl(q, lambda_p).item() >= -1e-12
    assert pc.pondernet_kl(prior, lambda_p).item() == pytest.approx(0.0, abs=1e-12)


def test_kl_direction_is_q_to_the_prior() -> None:
    q = torch.tensor([0.5, 0.5], dtype=torch.float64)
    lambda_p = 0.8  # prior [0.8, 0.2] after truncation to L = 2
    p = pc.geometric_prior(lambda_p, 2, q)
    forward = (q * (q / p).log()).sum().item()
    reverse = (p * (p / q).log()).sum().item()
    assert forward != pytest.approx(reverse)
    assert pc.pondernet_kl(q, lambda_p).item() == pytest.approx(forward)


def test_kl_gradient_is_finite_where_the_distribution_underflowed() -> None:
    """Exact zeros in ``q`` leave the gradient finite.

    ``q_n = 0`` comes from a product of continuation probabilities that underflowed;
    ``xlogy(q, q)`` made the gradient NaN there and stopped PonderNet's training.
    """
    logits = torch.tensor([[30.0], [30.0], [30.0]], requires_grad=True)  # [L, B]
    halt = torch.sigmoid(logits)
    survive = torch.cumprod(torch.cat([torch.ones_like(halt[:1]), 1 - halt[:-1]]), dim=0)
    q = torch.cat([(halt * survive)[:-1], survive[-1:]])
    assert (q == 0).any()
    pc.pondernet_kl(q, 0.2).sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_loss_is_the_expected_step_loss_plus_beta_kl() -> None:
    step_losses = torch.tensor([[1.0, 2.0], [3.0, 0.0]])  # [L, B]
    q = torch.tensor([[0.25, 1.0], [0.75, 0.0]])
    loss = pc.pondernet_loss(step_losses, q, beta=0.5, lambda_p=0.5)
    assert loss.task.item() == pytest.approx(((0.25 + 2.25) + 2.0) / 2)
    kl = pc.pondernet_kl(q, 0.5).mean().item()
    assert loss.penalty.item() == pytest.approx(0.5 * kl)
    assert loss.total.item() == pytest.approx(loss.task.item() + 0.5 * kl)
    assert pc.pondernet_loss(step_losses, q, beta=0.0, lambda_p=0.5).penalty.item() == 0.0
    assert math.isfinite(loss.total.item())


def test_loss_rejects_bad_arguments() -> None:
    q = torch.full((2, 3), 0.5)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0, got -1"):
        pc.pondernet_loss(q, q, beta=-1.0, lambda_p=0.5)
    with pytest.raises(ValueError, match=r"both be \[L, B\], got \(2, 3\) and \(3, 2\)"):
        pc.pondernet_loss(q, q.T, beta=0.1, lambda_p=0.5)
    with pytest.raises(ValueError, match="lambda_p must be a finite number in"):
        pc.geometric_prior(0.0, 3, q)


@given(st.lists(st.floats(-3.0, 3.0), min_size=2, max_size=10), st.floats(0.05, 0.95))
def test_kl_and_its_gradient_match_an_independent_float64_computation(
    logits: list[float], lambda_p: float
) -> None:
    """The KL's value and gradient against an independent float64 computation.

    The reference is ``sum_n q_n log(q_n / p_n)`` written out, with
    ``p_n = lambda (1 - lambda)^(n - 1) / (1 - (1 - lambda)^L)``; a gradient step moves
    ``q`` towards the prior (the documented direction: ``q`` is pulled to ``p_G``).
    """
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    q = torch.softmax(x, dim=0)
    length = len(logits)
    p = torch.tensor(
        [lambda_p * (1 - lambda_p) ** n / (1 - (1 - lambda_p) ** length) for n in range(length)],
        dtype=torch.float64,
    )
    (grad,) = torch.autograd.grad(pc.pondernet_kl(q, lambda_p), x)
    y = x.detach().clone().requires_grad_(True)
    q_ref = torch.softmax(y, dim=0)
    kl_ref = (q_ref * (q_ref / p).log()).sum()
    (grad_ref,) = torch.autograd.grad(kl_ref, y)
    assert pc.pondernet_kl(q, lambda_p).item() == pytest.approx(kl_ref.item(), abs=1e-12)
    assert torch.allclose(grad, grad_ref, atol=1e-12)
    if kl_ref.item() > 1e-6:
        stepped = torch.softmax(x.detach() - 1e-3 * grad, dim=0)
        assert pc.pondernet_kl(stepped, lambda_p).item() < kl_ref.item()


def test_beta_zero_with_one_step_is_the_plain_loss() -> None:
    losses = torch.tensor([[0.3, 1.7, 0.2]])  # [L = 1, B]
    q = torch.ones(1, 3)
    loss = pc.pondernet_loss(losses, q, beta=0.0, lambda_p=0.5)
    assert loss.total.item() == pytest.approx(losses.mean().item())
    assert loss.penalty.item() == 0.0
    # With one step the halting distribution is the prior too, so beta > 0 adds nothing.
    assert pc.pondernet_loss(losses, q, beta=3.0, lambda_p=0.5).total.item() == pytest.approx(
        losses.mean().item()
    )
