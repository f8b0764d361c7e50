"""The layer rebuilt on ``pact_core.adaptive_loop`` returns what its own loop returned.

``fixtures/legacy_layer.pt`` holds, for fixed weights, inputs and noise seeds, what the
pre-engine ``AdaptiveRecurrent`` (commit 0e2970a) returned for every cell, method,
halting, execution and train/eval state (``fixtures/record_legacy.py``). The rebuilt
layer must give the same outputs, iterations, ``log q(z)``, loop steps and gradients, and
the same costs wherever the legacy loop's cost was Alg. 3's. One deliberate change: when
the loop stops early because every element has halted, the legacy ``N`` credited the
remaining mass to the last iteration run, while the engine completes it with the heads
on the frozen states, so that ``N`` is that of all ``L`` iterations whatever the
execution (Alg. 3). There the cost can only have grown (``N_L >= N_m``; that the
executions agree on ``N`` is tested in pact-core), and the gradients are checked against
the legacy ones of the loss without the cost. Results agree bit for bit on the
development machine; the floats are compared within float32 tolerance here so that
another CPU's summation order cannot fail the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pact_core import HaltingSettings, parse_method
from pact_seq import AdaptiveRecurrent

CASES: list[dict[str, Any]] = torch.load(
    Path(__file__).with_name("fixtures") / "legacy_layer.pt", weights_only=False
)


def _name(case: dict[str, Any]) -> str:
    return "-".join(str(case[k]) for k in ("cell", "mode", "halting", "compact", "training"))


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_layer_matches_the_legacy_loop(case: dict[str, Any]) -> None:
    method = parse_method(case["mode"])
    limit = {"repeat": 3, "plain": 1}.get(case["mode"], 6)
    settings = HaltingSettings(method, max_iterations=limit, halting_bias=0.0)
    layer = AdaptiveRecurrent(
        6,
        8,
        settings,
        cell=case["cell"],
        execution="compact" if case["compact"] else "early-exit",
    )
    layer.load_state_dict(case["state_dict"])
    layer.train(case["training"])
    generator = torch.Generator().manual_seed(case["seed"])
    out = layer(case["x"], halting=case["halting"] or "fixed", generator=generator)

    torch.testing.assert_close(out.outputs, case["outputs"])
    torch.testing.assert_close(out.state, case["state"])
    assert torch.equal(out.iterations, case["iterations"])
    assert out.loop_steps == case["loop_steps"]
    limit = settings.max_iterations
    same_cost = case["halting"] in (None, "act") or all(s == limit for s in out.loop_steps)
    for t, ran in enumerate(out.loop_steps):
        if same_cost or ran == limit:
            torch.testing.assert_close(out.cost[:, t], case["cost"][:, t])
        else:  # N gains the mass of the skipped iterations: N_L >= N_m
            assert bool((out.cost[:, t] >= case["cost"][:, t] - 1e-6).all())
    if case["log_prob"] is None:
        assert out.log_prob is None
    else:
        assert out.log_prob is not None
        torch.testing.assert_close(out.log_prob, case["log_prob"])

    loss = out.outputs.square().sum() + (out.cost.sum() if same_cost else 0)
    if out.log_prob is not None:
        loss = loss + out.log_prob.sum()
    names = [name for name, _ in layer.named_parameters()]
    grads: tuple[torch.Tensor | None, ...] = torch.autograd.grad(
        loss, list(layer.parameters()), allow_unused=True
    )
    recorded = case["grads" if same_cost else "grads_without_cost"]
    for name, grad in zip(names, grads, strict=True):
        expected = recorded[name]
        if expected is None:
            assert grad is None, name
        elif grad is None:  # the legacy loss subtracted the cost: exact zeros there
            assert not same_cost, name
            assert bool((expected == 0).all()), name
        else:
            torch.testing.assert_close(grad, expected, msg=name)
