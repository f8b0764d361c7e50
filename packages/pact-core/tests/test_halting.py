"""Property tests of the vector halting functions (eqs. 13-18, 24, 26; Alg. 1-3)."""

from __future__ import annotations

import math

import pytest
import reference
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import (
    Halting,
    dtypes,
    halting_logits,
    halting_probs,
    haltings,
    iteration_counts,
    saturated_logits,
    seeds,
    temperatures,
    uniforms,
)
from torch.distributions.relaxed_bernoulli import LogitRelaxedBernoulli

import pact_core as pc

# Tolerances per dtype: a few ulps of the value times the length of the sums involved.
ATOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def _assert_simplex(x: torch.Tensor) -> None:
    assert torch.all(x >= 0)
    if x.numel():
        torch.testing.assert_close(
            x.sum(-1), torch.ones_like(x.sum(-1)), atol=ATOL[x.dtype], rtol=0
        )


# --------------------------------------------------------------------- distribution


@given(haltings())
def test_halting_distribution_is_on_the_simplex(inp: Halting) -> None:
    q = pc.halting_distribution(**inp.kwargs)
    assert q.shape == inp.values.shape
    assert q.dtype == inp.values.dtype
    assert torch.isfinite(q).all()
    _assert_simplex(q)


@given(haltings())
def test_halting_distribution_matches_eq_15(inp: Halting) -> None:
    q = pc.halting_distribution(**inp.kwargs)
    expected = [reference.halting_distribution(row) for row in reference.rows(inp.probs())]
    got = reference.rows(q)
    tol = ATOL[inp.values.dtype] * 10
    for row_got, row_expected in zip(got, expected, strict=True):
        assert row_got == pytest.approx(row_expected, abs=tol)


@given(halting_logits(values=st.floats(min_value=-30, max_value=30), dtype=torch.float64))
def test_logits_and_probabilities_give_the_same_distribution(logits: torch.Tensor) -> None:
    from_logits = pc.halting_distribution(logits=logits)
    from_probs = pc.halting_distribution(torch.sigmoid(logits))
    torch.testing.assert_close(from_logits, from_probs, atol=1e-12, rtol=1e-9)


@given(haltings())
def test_expected_iterations_lies_in_1_to_length_and_matches_eq_24(inp: Halting) -> None:
    n = pc.expected_iterations(**inp.kwargs)
    length = inp.values.shape[-1]
    assert n.shape == inp.values.shape[:-1]
    tol = ATOL[inp.values.dtype] * length
    assert torch.all(n >= 1 - tol) and torch.all(n <= length + tol)
    expected = [reference.expected_iterations(row) for row in reference.rows(inp.probs())]
    assert n.reshape(-1).tolist() == pytest.approx(expected, abs=tol * 10)


@given(haltings())
def test_distribution_and_expected_iterations_have_finite_gradients(inp: Halting) -> None:
    x = inp.values.clone().requires_grad_(True)
    kwargs = {"logits" if inp.is_logits else "h": x}
    weights = torch.linspace(-1, 1, x.shape[-1], dtype=x.dtype)
    loss = (pc.halting_distribution(**kwargs) * weights).sum() + pc.expected_iterations(
        **kwargs
    ).sum()
    loss.backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_expected_iterations_gradient_matches_finite_differences() -> None:
    h = torch.tensor([0.2, 0.7, 0.1, 0.4, 0.9], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pc.expected_iterations, (h,))
    logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: pc.expected_iterations(logits=x), (logits,))


def test_worked_example() -> None:
    h = torch.tensor([0.5, 0.5, 0.0])
    torch.testing.assert_close(pc.halting_distribution(h), torch.tensor([0.5, 0.25, 0.25]))
    torch.testing.assert_close(pc.expected_iterations(h), torch.tensor(1.75))


# ----------------------------------------------------------------------- sampling


@given(halting_probs(shape=(3,), dtype=torch.float64), seeds)
def test_sample_frequencies_match_q(h: torch.Tensor, seed: int) -> None:
    # 40,000 draws; each frequency must be within 5 standard errors (+1/n for q near 0
    # or 1) of q. With a fixed seed the test is deterministic; the bound fails by chance
    # with probability < 1e-6 per iteration.
    draws = 40_000
    generator = torch.Generator().manual_seed(seed)
    z = pc.sample_halting(h.expand(draws, -1), generator=generator)
    assert z.dtype == torch.int64
    frequencies = torch.bincount(z - 1, minlength=3).to(torch.float64) / draws
    q = pc.halting_distribution(h)
    bound = 5 * torch.sqrt(q * (1 - q) / draws) + 1.0 / draws
    assert torch.all((frequencies - q).abs() <= bound), (frequencies, q)


@given(haltings(), seeds)
def test_sampled_iterations_are_possible(inp: Halting, seed: int) -> None:
    z = pc.sample_halting(**inp.kwargs, generator=torch.Generator().manual_seed(seed))
    assert z.shape == inp.values.shape[:-1]
    length = inp.values.shape[-1]
    assert torch.all((z >= 1) & (z <= length))
    if not inp.is_logits:
        # Sampling with probabilities is exact at the extremes: q(z) > 0 always.
        q = pc.halting_distribution(**inp.kwargs)
        assert torch.all(q.gather(-1, (z - 1).unsqueeze(-1)) > 0)


def test_sampling_is_reproducible_with_a_generator() -> None:
    h = torch.rand(100, 6, generator=torch.Generator().manual_seed(1))
    first = pc.sample_halting(h, generator=torch.Generator().manual_seed(7))
    second = pc.sample_halting(h, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


@given(haltings(), st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0]))
def test_threshold_halting_matches_alg_2(inp: Halting, threshold: float) -> None:
    if inp.is_logits:
        # sigmoid rounds in the reference; keep away from ties with the threshold.
        p = torch.sigmoid(inp.values.to(torch.float64))
        assume(bool(((p - threshold).abs() > 1e-9).all()))
    z = pc.threshold_halting(**inp.kwargs, threshold=threshold)
    expected = [reference.first_above(row, threshold) for row in reference.rows(inp.probs())]
    assert z.dtype == torch.int64
    assert z.reshape(-1).tolist() == expected


@given(saturated_logits(), seeds, temperatures)
def test_modes_agree_when_halting_is_saturated(
    logits: torch.Tensor, seed: int, temperature: float
) -> None:
    thresholded = pc.threshold_halting(logits=logits)
    sampled = pc.sample_halting(logits=logits, generator=torch.Generator().manual_seed(seed))
    relaxed = pc.relaxed_halting(
        logits=logits, temperature=min(temperature, 1.0), generator=torch.Generator()
    )
    assert torch.equal(sampled, thresholded)
    one_hot = torch.nn.functional.one_hot(thresholded - 1, logits.shape[-1]).to(logits.dtype)
    torch.testing.assert_close(relaxed, one_hot, atol=1e-6, rtol=0)
    torch.testing.assert_close(
        pc.expected_iterations(logits=logits), thresholded.to(logits.dtype), atol=1e-6, rtol=0
    )


# ------------------------------------------------------------------------ relaxed


@given(haltings(), temperatures, seeds)
def test_relaxed_halting_is_on_the_simplex_with_finite_gradients(
    inp: Halting, temperature: float, seed: int
) -> None:
    x = inp.values.clone().requires_grad_(True)
    kwargs = {"logits" if inp.is_logits else "h": x}
    z_hat = pc.relaxed_halting(
        **kwargs, temperature=temperature, generator=torch.Generator().manual_seed(seed)
    )
    assert z_hat.shape == x.shape
    assert torch.isfinite(z_hat).all()
    _assert_simplex(z_hat.detach())
    weights = torch.linspace(-1, 1, x.shape[-1], dtype=x.dtype)
    (z_hat * weights).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_relaxed_halting_is_reparameterised() -> None:
    logits = torch.zeros(4, 5, dtype=torch.float64, requires_grad=True)
    uniform = uniforms((4, 5), torch.float64, seed=3)

    def f(x: torch.Tensor) -> torch.Tensor:
        return pc.relaxed_halting(logits=x, temperature=0.7, uniform=uniform)

    assert torch.autograd.gradcheck(f, (logits,))
    (f(logits) * torch.arange(5.0, dtype=torch.float64)).sum().backward()
    assert logits.grad is not None
    assert logits.grad[:, :-1].abs().min() > 0  # every halting logit but the last matters


@given(halting_probs(shape=(2,), dtype=torch.float64), temperatures, seeds)
def test_relaxed_bernoulli_exceeds_one_half_with_probability_h(
    h: torch.Tensor, temperature: float, seed: int
) -> None:
    # With L = 2, z_hat^1 = xi_hat^1. P(xi_hat > 1/2) = h for every temperature.
    draws = 40_000
    z_hat = pc.relaxed_halting(
        h.expand(draws, -1), temperature, generator=torch.Generator().manual_seed(seed)
    )
    frequency = float((z_hat[:, 0] > 0.5).to(torch.float64).mean())
    p = float(h[0])
    assert abs(frequency - p) <= 5 * math.sqrt(p * (1 - p) / draws) + 2.0 / draws


@given(halting_logits(dtype=torch.float64), seeds)
def test_discrete_is_the_zero_temperature_limit_of_relaxed(logits: torch.Tensor, seed: int) -> None:
    # Common random numbers couple the two: xi_hat > 1/2 exactly when xi = 1.
    uniform = uniforms(tuple(logits.shape), torch.float64, seed)
    noise = uniform.log() - (-uniform).log1p()
    assume(bool(((logits + noise)[..., :-1].abs() > 1e-3).all()))  # no near-ties
    z = pc.sample_halting(logits=logits, uniform=uniform)
    z_hat = pc.relaxed_halting(logits=logits, temperature=1e-6, uniform=uniform)
    one_hot = torch.nn.functional.one_hot(z - 1, logits.shape[-1]).to(torch.float64)
    torch.testing.assert_close(z_hat, one_hot, atol=1e-9, rtol=0)


@given(
    halting_logits(dtype=torch.float64, values=st.floats(min_value=-15, max_value=15)),
    temperatures,
    seeds,
)
def test_relaxed_halting_draws_like_torch_logit_relaxed_bernoulli(
    logits: torch.Tensor, temperature: float, seed: int
) -> None:
    # torch goes through clamped probabilities (a lossy round trip in float32); pact_core
    # keeps logits as given. In float64 and inside +-15 the two must draw the same sample.
    torch.manual_seed(seed)
    ours = pc.relaxed_halting(logits=logits, temperature=temperature)
    torch.manual_seed(seed)
    relaxed = LogitRelaxedBernoulli(torch.tensor(temperature, dtype=torch.float64), logits=logits)
    xi_hat = torch.sigmoid(relaxed.rsample())
    expected = [reference.halting_distribution(row) for row in reference.rows(xi_hat)]
    for got, want in zip(reference.rows(ours), expected, strict=True):
        assert got == pytest.approx(want, abs=1e-9)


# ----------------------------------------------------------------------- log prob


@given(haltings(dtype=torch.float64), seeds)
def test_log_prob_of_sampled_iterations_matches_q(inp: Halting, seed: int) -> None:
    z = pc.sample_halting(**inp.kwargs, generator=torch.Generator().manual_seed(seed))
    log_prob = pc.halting_log_prob(**inp.kwargs, z=z)
    q = pc.halting_distribution(**inp.kwargs)
    expected = q.gather(-1, (z - 1).unsqueeze(-1)).squeeze(-1).log()
    finite = torch.isfinite(expected)
    # Where q(z) underflows in probability space, log space keeps a finite value.
    torch.testing.assert_close(log_prob[finite], expected[finite], atol=1e-9, rtol=1e-9)
    assert torch.isfinite(log_prob).all()


@given(haltings(), seeds)
def test_log_prob_of_sampled_iterations_has_finite_gradients(inp: Halting, seed: int) -> None:
    x = inp.values.clone().requires_grad_(True)
    kwargs = {"logits" if inp.is_logits else "h": x}
    z = pc.sample_halting(**kwargs, generator=torch.Generator().manual_seed(seed))
    log_prob = pc.halting_log_prob(**kwargs, z=z)
    assert torch.isfinite(log_prob).all()
    log_prob.sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_log_prob_of_an_impossible_count_is_minus_infinity() -> None:
    h = torch.tensor([1.0, 0.3, 0.2])
    assert pc.halting_log_prob(h, torch.tensor(2)).item() == -math.inf
    assert pc.halting_log_prob(h, torch.tensor(1)).item() == 0.0


# ------------------------------------------------------------------- shape extremes


@given(iteration_counts, dtypes)
def test_empty_batches(length: int, dtype: torch.dtype) -> None:
    h = torch.zeros(0, 3, length, dtype=dtype)
    assert pc.halting_distribution(h).shape == (0, 3, length)
    assert pc.expected_iterations(h).shape == (0, 3)
    assert pc.sample_halting(h).shape == (0, 3)
    assert pc.threshold_halting(h).shape == (0, 3)
    assert pc.relaxed_halting(h, 0.5).shape == (0, 3, length)
    assert pc.halting_log_prob(h, torch.ones(0, 3, dtype=torch.int64)).shape == (0, 3)
    weights, ponder = pc.act_halting(h)
    assert weights.shape == (0, 3, length) and ponder.shape == (0, 3)


@given(haltings(shape=(5, 1)), seeds)
def test_a_single_iteration_always_halts_at_1(inp: Halting, seed: int) -> None:
    ones = torch.ones(5, dtype=torch.int64)
    assert torch.equal(pc.halting_distribution(**inp.kwargs), torch.ones_like(inp.values))
    assert torch.equal(pc.expected_iterations(**inp.kwargs), torch.ones(5, dtype=inp.values.dtype))
    assert torch.equal(pc.sample_halting(**inp.kwargs), ones)
    assert torch.equal(pc.threshold_halting(**inp.kwargs), ones)
    z_hat = pc.relaxed_halting(**inp.kwargs, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(z_hat, torch.ones_like(inp.values))
    assert torch.equal(
        pc.halting_log_prob(**inp.kwargs, z=ones), torch.zeros(5, dtype=inp.values.dtype)
    )
