"""Property tests of the truncated-geometric prior (eq. 20) and its link to N (eq. 24)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import dtypes, halting_probs, seeds, taus

import pact_core as pc

lengths = st.integers(min_value=1, max_value=200)


@given(taus, lengths, dtypes)
def test_prior_sums_to_one(tau: float, length: int, dtype: torch.dtype) -> None:
    prior = pc.TruncatedGeometric(torch.tensor(tau, dtype=dtype), length)
    probs = prior.log_prob(prior.enumerate_support()).exp()
    assert torch.isfinite(probs).all()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert float(probs.sum()) == pytest.approx(1.0, abs=tol)


@given(taus, lengths)
def test_prior_matches_eq_20(tau: float, length: int) -> None:
    prior = pc.TruncatedGeometric(torch.tensor(tau, dtype=torch.float64), length)
    for z in (1, length, (length + 1) // 2):
        expected = (math.exp(tau) - 1) / (1 - math.exp(-tau * length)) * math.exp(-tau * z)
        if math.isfinite(expected) and expected > 1e-300:
            got = float(prior.log_prob(torch.tensor(z)).exp())
            assert got == pytest.approx(expected, rel=1e-9)


@given(taus, lengths)
def test_mean_matches_its_closed_form(tau: float, length: int) -> None:
    prior = pc.TruncatedGeometric(torch.tensor(tau, dtype=torch.float64), length)
    support = prior.enumerate_support()
    direct = float((support * prior.log_prob(support).exp()).sum())
    assert float(prior.mean) == pytest.approx(direct, rel=1e-8, abs=1e-8)
    assert 1 - 1e-12 <= float(prior.mean) <= length + 1e-12  # a few ulps of rounding


@given(taus, lengths)
def test_log_prob_has_slope_minus_tau(tau: float, length: int) -> None:
    prior = pc.TruncatedGeometric(torch.tensor(tau, dtype=torch.float64), length)
    log_p = prior.log_prob(prior.enumerate_support())
    if length > 1:
        torch.testing.assert_close(
            log_p.diff(), torch.full((length - 1,), -tau, dtype=torch.float64)
        )


@given(halting_probs(dtype=torch.float64), taus)
def test_expected_log_prior_is_minus_tau_n_plus_a_constant(h: torch.Tensor, tau: float) -> None:
    # Eq. 24: E_q[log p(z)] = -tau * N + log-normaliser; this is why tau * N is the penalty.
    length = h.shape[-1]
    prior = pc.TruncatedGeometric(torch.tensor(tau, dtype=torch.float64), length)
    q = pc.halting_distribution(h)
    log_p = prior.log_prob(torch.arange(1, length + 1))
    expected_log_prior = (q * log_p).sum(-1)
    constant = prior.log_prob(torch.tensor(1)) + tau  # the log-normaliser of eq. 20
    torch.testing.assert_close(
        expected_log_prior, constant - tau * pc.expected_iterations(h), atol=1e-9, rtol=1e-9
    )


def test_prior_is_batched_over_tau() -> None:
    tau = torch.tensor([[0.01, 0.1, 1.0], [2.0, 5.0, 10.0]], dtype=torch.float64)
    prior = pc.TruncatedGeometric(tau, max_iterations=7)
    assert prior.batch_shape == (2, 3) and prior.event_shape == ()
    assert prior.enumerate_support().shape == (7, 2, 3)
    assert prior.enumerate_support(expand=False).shape == (7, 1, 1)
    assert prior.mean.shape == (2, 3) and prior.variance.shape == (2, 3)
    samples = prior.sample((11,))
    assert samples.shape == (11, 2, 3) and samples.dtype == torch.int64
    assert int(samples.min()) >= 1 and int(samples.max()) <= 7
    expanded = pc.TruncatedGeometric(torch.tensor(0.5), 4).expand((5,))
    assert expanded.batch_shape == (5,) and expanded.max_iterations == 4


@given(st.floats(min_value=0.05, max_value=2.0), st.integers(1, 6), seeds)
def test_sample_frequencies_match_the_density(tau: float, length: int, seed: int) -> None:
    draws = 40_000
    prior = pc.TruncatedGeometric(torch.tensor(tau, dtype=torch.float64), length)
    torch.manual_seed(seed)
    samples = prior.sample((draws,))
    frequencies = torch.bincount(samples - 1, minlength=length).to(torch.float64) / draws
    probs = prior.log_prob(torch.arange(1, length + 1)).exp()
    bound = 5 * torch.sqrt((probs * (1 - probs)).clamp(min=0) / draws) + 1.0 / draws
    assert torch.all((frequencies - probs).abs() <= bound)


@pytest.mark.parametrize("tau", [1e-6, 50.0, 500.0])
def test_extreme_tau_stays_finite(tau: float) -> None:
    prior = pc.TruncatedGeometric(torch.tensor(tau), 100)
    log_p = prior.log_prob(prior.enumerate_support())
    assert torch.isfinite(log_p).all()
    assert torch.isfinite(prior.mean)
    assert float(log_p.exp().sum()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("tau", [0.0, -1.0, math.nan, math.inf])
def test_bad_tau_is_rejected(tau: float) -> None:
    with pytest.raises(ValueError, match="tau"):
        pc.TruncatedGeometric(tau, 5)


@pytest.mark.parametrize("length", [0, -3, 2.5, True])
def test_bad_length_is_rejected(length: int) -> None:
    with pytest.raises(ValueError, match="max_iterations"):
        pc.TruncatedGeometric(0.1, length)


def test_values_outside_the_support_are_rejected() -> None:
    prior = pc.TruncatedGeometric(0.1, 5, validate_args=True)
    with pytest.raises(ValueError, match="support"):
        prior.log_prob(torch.tensor(6))
