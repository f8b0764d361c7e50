"""One vocabulary and one settings object: what is allowed, said once."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pact_core as pc
from pact_core import HaltingSettings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "method",
            "psact",
            "method must be one of act, pact, pact-reinforce, pondernet, fixed; got 'psact'",
        ),
        ("tau", -0.1, "tau must be a finite number >= 0, got -0.1"),
        ("tau", math.inf, "tau must be a finite number >= 0, got inf"),
        ("temperature", 0.0, "temperature must be a finite number > 0, got 0.0"),
        ("temperature", math.nan, "temperature must be a finite number > 0, got nan"),
        ("delta", 1.0, r"delta must be a finite number in \[0, 1\), got 1.0"),
        ("delta", -0.01, r"delta must be a finite number in \[0, 1\), got -0.01"),
        ("eps", 0.0, r"eps must be a finite number in \(0, 1\), got 0.0"),
        ("threshold", 1.5, r"threshold must be a finite number in \[0, 1\], got 1.5"),
        ("max_iterations", 0, "max_iterations must be an integer >= 1, got 0"),
        ("max_iterations", 2.5, "max_iterations must be an integer >= 1, got 2.5"),
        ("max_iterations", True, "max_iterations must be a real number, got True"),
        ("halting_bias", math.inf, "halting_bias must be a finite number, got inf"),
        ("eval_halting", "fast", "halting must be one of act, relaxed, .*; got 'fast'"),
        ("beta", -0.5, "beta must be a finite number >= 0, got -0.5"),
        ("lambda_p", 0.0, r"lambda_p must be a finite number in \(0, 1\], got 0.0"),
        ("lambda_p", 1.5, r"lambda_p must be a finite number in \(0, 1\], got 1.5"),
    ],
)
def test_each_bad_setting_raises_one_clear_error(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HaltingSettings(**{field: value})


def test_an_l_too_small_for_the_pondernet_prior() -> None:
    with pytest.raises(ValueError, match=r"max_iterations=3 is too small .* lambda_p=0.2: it "):
        HaltingSettings("pondernet", max_iterations=3, lambda_p=0.2)
    assert HaltingSettings("pondernet", max_iterations=4, lambda_p=0.2).max_iterations == 4
    assert HaltingSettings("pact", max_iterations=1, lambda_p=0.2).max_iterations == 1


def test_train_and_eval_halting_per_method() -> None:
    assert pc.TRAIN_HALTING == {
        "act": "act",
        "pact": "relaxed",
        "pact-reinforce": "discrete",
        "pondernet": "expected",
        "fixed": "fixed",
    }
    for method in pc.METHODS:
        settings = HaltingSettings(method, max_iterations=4)
        assert settings.halting_for(True) == pc.TRAIN_HALTING[method]
        assert settings.halting_for(False) == pc.EVAL_HALTING[method]
        for halting in pc.REPORT_HALTINGS[method]:
            assert settings.check_halting(halting) == halting
    assert HaltingSettings("pact", eval_halting="discrete").eval_default == "discrete"
    with pytest.raises(ValueError, match="'thresholded' needs a halting head"):
        HaltingSettings("fixed").check_halting("thresholded")


def test_aliases_of_the_papers_code() -> None:
    assert [pc.parse_method(n) for n in ("repeat", "plain", "dense", "relaxed", "act")] == [
        "fixed",
        "fixed",
        "fixed",
        "pact",
        "act",
    ]
    with pytest.raises(ValueError, match=r"method must be one of act, .*dense, relaxed; got 'x'"):
        pc.parse_method("x")


def test_replace_checks_again_and_the_bias_default() -> None:
    settings = HaltingSettings("act", max_iterations=4)
    assert settings.replace(tau=0.5).tau == 0.5
    with pytest.raises(ValueError, match="tau must be"):
        settings.replace(tau=-1.0)
    assert settings.resolved_bias(1.0) == 1.0
    assert settings.replace(halting_bias=-2.0).resolved_bias(1.0) == -2.0


def test_intervals_describe_and_check() -> None:
    unit = pc.Interval(0.0, 1.0, high_closed=False)
    assert unit.describe() == "a finite number in [0, 1)"
    assert unit.contains(0.0) and not unit.contains(1.0) and not unit.contains(math.nan)
    assert pc.Interval(1.0, integer=True).describe() == "an integer >= 1"
    assert pc.Interval(high=0.0, high_closed=False).describe() == "a finite number < 0"
    with pytest.raises(ValueError, match="lr must be a finite number in \\[0, 1\\), got 2"):
        unit.check("lr", 2)


@given(
    logits=st.lists(st.floats(-12.0, 12.0), min_size=1, max_size=20),
    initial=st.floats(-3.0, 3.0),
)
def test_recentring_moves_the_mean_first_logit_to_the_initial_bias(
    logits: list[float], initial: float
) -> None:
    first = torch.tensor(logits, dtype=torch.float64)
    shift = pc.WarmUp.recentring(torch.sigmoid(first), initial)
    assert shift.shape == () and shift.dtype == torch.float64
    assert float((first + shift).mean()) == pytest.approx(initial, abs=1e-6)
    assert pc.WarmUp(steps=5, recenter=True).recenters(5)
    assert not pc.WarmUp(steps=5, recenter=True).recenters(4)
    assert not pc.WarmUp(steps=5).recenters(5)  # opt-in
    assert not pc.WarmUp(recenter=True).recenters(0)  # no warm-up, nothing to re-centre


def test_warm_up_schedule() -> None:
    warmup = pc.WarmUp(steps=10, ramp_steps=4, max_iterations=3)
    assert [warmup.tau(0.2, s) for s in (0, 9, 10, 11, 13, 99)] == pytest.approx(
        [0.0, 0.0, 0.05, 0.1, 0.2, 0.2]
    )
    assert warmup.active(9) and not warmup.active(10)
    settings = HaltingSettings("pact", max_iterations=100)
    assert warmup.settings(settings, 5).max_iterations == 3
    assert warmup.settings(settings, 10) is settings
    assert pc.WarmUp().tau(0.2, 0) == 0.2  # off by default
    with pytest.raises(ValueError, match=r"warmup\.steps must be an integer >= 0, got -1"):
        pc.WarmUp(steps=-1)
    with pytest.raises(ValueError, match=r"warmup\.max_iterations must be an integer >= 1"):
        pc.WarmUp(max_iterations=0)
