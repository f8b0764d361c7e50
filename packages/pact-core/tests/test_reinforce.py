"""Tests of REINFORCE: the EMA baseline and the score-function surrogate (eq. 26)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pact_core as pc

rewards = st.lists(st.floats(min_value=-10, max_value=10), min_size=1, max_size=30)


@given(rewards, st.sampled_from([0.0, 0.5, 0.9, 0.99]))
def test_ema_baseline_matches_a_bias_corrected_average(values: list[float], decay: float) -> None:
    baseline = pc.EMABaseline(decay)
    average = 0.0
    for seen, reward in enumerate(values):
        expected = average / (1 - decay**seen) if seen else 0.0
        got = float(baseline(torch.tensor([reward, reward])))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-5)
        average = decay * average + (1 - decay) * reward


def test_ema_baseline_is_frozen_in_eval_mode_and_saved_in_state_dict() -> None:
    baseline = pc.EMABaseline(0.9)
    baseline(torch.tensor([2.0]))
    baseline.eval()
    before = baseline.value.clone()
    baseline(torch.tensor([100.0]))
    assert torch.equal(baseline.value, before)
    restored = pc.EMABaseline(0.9)
    restored.load_state_dict(baseline.state_dict())
    assert torch.equal(restored.value, before)


@pytest.mark.parametrize("decay", [-0.1, 1.0, 2.0])
def test_bad_decay_is_rejected(decay: float) -> None:
    with pytest.raises(ValueError, match="decay"):
        pc.EMABaseline(decay)


def test_reinforce_estimates_the_exact_gradient() -> None:
    # The mean REINFORCE gradient of E_q[f(z)] over many samples must match the exact
    # gradient of sum_l q_l f(l). 200,000 samples; the tolerance is 5 standard errors.
    torch.manual_seed(0)
    logits = torch.tensor([0.3, -0.8, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    f = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    exact = torch.autograd.grad((pc.halting_distribution(logits=logits) * f).sum(), logits)[0]

    draws = 200_000
    batch = logits.expand(draws, -1)
    z = pc.sample_halting(logits=batch, generator=torch.Generator().manual_seed(1))
    reward = f[z - 1]
    per_sample = -pc.reinforce_loss(pc.halting_log_prob(logits=batch, z=z), reward, 0.0)
    jac = torch.autograd.grad(per_sample.sum(), logits)[0] / draws
    # Standard error from the per-sample scores (d log q / d logits) times the reward.
    scores = torch.autograd.functional.jacobian(
        lambda x: pc.halting_log_prob(logits=x.expand(4, -1), z=torch.arange(1, 5)), logits
    )
    per_z = scores * f[:, None]
    q = pc.halting_distribution(logits=logits).detach()
    second = (q[:, None] * per_z**2).sum(0)
    std_error = torch.sqrt((second - exact**2).clamp(min=0) / draws)
    assert torch.all((jac - exact).abs() <= 5 * std_error + 1e-9), (jac, exact, std_error)


def test_a_baseline_leaves_the_estimate_unbiased_and_reduces_variance() -> None:
    logits = torch.tensor([0.2, -0.4, 0.0], dtype=torch.float64, requires_grad=True)
    f = torch.tensor([10.0, 11.0, 12.0], dtype=torch.float64)
    z = pc.sample_halting(
        logits=logits.expand(50_000, -1), generator=torch.Generator().manual_seed(2)
    )

    def per_sample_grads(baseline: float) -> torch.Tensor:
        log_prob = pc.halting_log_prob(logits=logits.expand(z.shape[0], -1), z=z)
        losses = pc.reinforce_loss(log_prob, f[z - 1], baseline)
        return torch.stack(
            [torch.autograd.grad(losses[i], logits, retain_graph=True)[0] for i in range(200)]
        )

    without, with_baseline = per_sample_grads(0.0), per_sample_grads(11.0)
    assert with_baseline.var(0).sum() < without.var(0).sum() / 10


def test_reinforce_loss_checks_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        pc.reinforce_loss(torch.zeros(3), torch.zeros(4), 0.0)
