"""Bad input raises ValueError naming the argument, the value and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

import pact_core as pc

H = torch.tensor([[0.2, 0.5, 0.1]])
Z = torch.tensor([2])

# Every function that takes h, called with the given halting keyword arguments.
HALTING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "halting_distribution": lambda **kw: pc.halting_distribution(**kw),
    "expected_iterations": lambda **kw: pc.expected_iterations(**kw),
    "sample_halting": lambda **kw: pc.sample_halting(**kw),
    "threshold_halting": lambda **kw: pc.threshold_halting(**kw),
    "relaxed_halting": lambda **kw: pc.relaxed_halting(**kw, temperature=0.5),
    "halting_log_prob": lambda **kw: pc.halting_log_prob(**kw, z=Z),
    "act_halting": lambda **kw: pc.act_halting(**kw),
}


@pytest.fixture(params=list(HALTING_FUNCTIONS))
def function(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return HALTING_FUNCTIONS[request.param]


def test_both_or_neither_input(function: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="exactly one of h and logits, got both"):
        function(h=H, logits=H)
    with pytest.raises(ValueError, match="exactly one of h and logits, got neither"):
        function()


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.inf])
def test_probabilities_outside_the_unit_interval(function: Callable[..., Any], bad: float) -> None:
    h = H.clone()
    h[0, 1] = bad
    with pytest.raises(ValueError, match=r"h .*must lie in \[0, 1\], got values from"):
        function(h=h)


def test_nan(function: Callable[..., Any]) -> None:
    h = H.clone()
    h[0, 0] = math.nan
    with pytest.raises(ValueError, match="h must not contain NaN"):
        function(h=h)
    with pytest.raises(ValueError, match="logits must not contain NaN"):
        function(logits=h)


def test_the_last_entry_is_not_checked(function: Callable[..., Any]) -> None:
    h = H.clone()
    h[0, -1] = math.nan  # treated as 1 whatever it holds
    function(h=h)


def test_no_iteration_axis(function: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match=r"L >= 1 .*got shape \(2, 0\)"):
        function(h=torch.zeros(2, 0))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        function(h=torch.tensor(0.5))


def test_integer_input(function: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="floating-point"):
        function(h=torch.zeros(1, 3, dtype=torch.int64))


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.nan, math.inf])
def test_bad_temperature(temperature: float) -> None:
    with pytest.raises(
        ValueError, match=f"temperature must be a finite number > 0, got {temperature}"
    ):
        pc.relaxed_halting(H, temperature)


@pytest.mark.parametrize("eps", [0.0, 1.0, -0.5, 2.0])
def test_bad_eps(eps: float) -> None:
    with pytest.raises(ValueError, match=r"eps must be a finite number in \(0, 1\), got "):
        pc.act_halting(H, eps=eps)


@pytest.mark.parametrize("threshold", [-0.01, 1.01])
def test_bad_threshold(threshold: float) -> None:
    with pytest.raises(ValueError, match=r"threshold must be a finite number in \[0, 1\], got "):
        pc.threshold_halting(H, threshold=threshold)


def test_mismatched_iteration_counts() -> None:
    with pytest.raises(ValueError, match="z is required"):
        pc.halting_log_prob(H)
    with pytest.raises(ValueError, match=r"batch shape .*\(1,\), got \(2,\)"):
        pc.halting_log_prob(H, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="integer tensor"):
        pc.halting_log_prob(H, torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"1\.\.3, got values from 4 to 4"):
        pc.halting_log_prob(H, torch.tensor([4]))
    with pytest.raises(ValueError, match=r"1\.\.3, got values from 0 to 0"):
        pc.halting_log_prob(H, torch.tensor([0]))


def test_bad_uniform_noise() -> None:
    with pytest.raises(ValueError, match=r"uniform must have shape \(1, 3\)"):
        pc.sample_halting(H, uniform=torch.rand(3))
    with pytest.raises(ValueError, match=r"uniform must lie in \[0, 1\]"):
        pc.relaxed_halting(H, uniform=torch.full((1, 3), 2.0))


def test_value_checks_can_be_switched_off_and_are_restored() -> None:
    bad = torch.tensor([[1.5, 0.2]])
    assert pc.validate_args_enabled()
    with pc.validate_args(False):
        assert not pc.validate_args_enabled()
        pc.halting_distribution(bad)  # no host read, no error
        with pytest.raises(ValueError, match="exactly one"):  # shape/argument checks stay on
            pc.halting_distribution()
    assert pc.validate_args_enabled()
    with pytest.raises(ValueError, match="must lie in"):
        pc.halting_distribution(bad)
