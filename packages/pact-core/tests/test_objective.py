"""The objective: the one penalty reduction, REINFORCE, and the prior behind ``tau * N``."""

from __future__ import annotations

import math

import pytest
import strategies as sts
import torch
from hypothesis import given
from hypothesis import strategies as st

import pact_core as pc


def test_penalty_is_the_mean_over_elements_summed_over_layers() -> None:
    steps = torch.tensor([[1.0, 3.0], [2.0, 2.0]])  # [B, T]: two timesteps
    positions = torch.tensor([[[1.0, 2.0], [3.0, 6.0]], [[1.0, 1.0], [1.0, 1.0]]])  # [B, H, W]
    assert pc.ponder_penalty(steps).tolist() == [2.0, 2.0]
    assert pc.ponder_penalty(steps, reduction="sum").tolist() == [4.0, 4.0]
    assert pc.ponder_penalty([steps, positions]).tolist() == [2.0 + 3.0, 2.0 + 1.0]
    valid = torch.tensor([[True, False], [True, True]])
    assert pc.ponder_penalty(steps, valid=valid).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="same batch size"):
        pc.ponder_penalty([steps, torch.ones(3, 2)])
    with pytest.raises(ValueError, match="reduction must be one of mean, sum; got 'max'"):
        pc.ponder_penalty(steps, reduction="max")  # type: ignore[arg-type]


def test_loss_adds_the_penalty_and_reinforce() -> None:
    task = torch.tensor([1.0, 3.0])
    cost = torch.tensor([[2.0], [4.0]], requires_grad=True)
    loss = pc.adaptive_loss(task, cost, tau=0.5)
    assert loss.task.item() == 2.0
    assert loss.penalty.item() == 0.5 * 3.0
    assert loss.total.item() == 3.5
    assert loss.reinforce.item() == 0.0
    assert pc.adaptive_loss(task, cost, tau=0.0).total.item() == 2.0
    log_prob = torch.tensor([-1.0, -2.0], requires_grad=True)
    baseline = pc.EMABaseline(0.5)
    first = pc.adaptive_loss(task, cost, tau=0.0, log_prob=log_prob, baseline=baseline)
    # no history: baseline 0, reward -task, surrogate mean(task * log_prob)
    assert first.reinforce.item() == pytest.approx((1.0 * -1.0 + 3.0 * -2.0) / 2)
    first.total.backward()
    assert log_prob.grad is not None
    assert log_prob.grad.tolist() == [0.5, 1.5]
    with pytest.raises(ValueError, match="tau must be a finite number >= 0, got -1"):
        pc.adaptive_loss(task, cost, tau=-1)


@given(
    logits=sts.halting_logits(shape=(3, 6), dtype=torch.float64),
    tau=st.floats(1e-3, 3.0),
)
def test_tau_n_is_the_negative_expected_log_prior_up_to_its_constant(
    logits: torch.Tensor, tau: float
) -> None:
    # eq. 24: E_q[log p(z)] = -tau N + log C(tau, L), with C the prior's normaliser.
    length = logits.shape[-1]
    q = pc.halting_distribution(logits=logits)  # [3, L]
    prior = pc.TruncatedGeometric(torch.tensor(tau, dtype=torch.float64), max_iterations=length)
    support = torch.arange(1, length + 1, dtype=torch.float64)
    expected_log_prior = (q * prior.log_prob(support)).sum(-1)
    n = pc.expected_iterations(logits=logits)
    log_c = math.log(math.expm1(tau)) - math.log(-math.expm1(-tau * length))
    torch.testing.assert_close(-expected_log_prior, tau * n - log_c)
