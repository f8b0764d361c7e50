"""The layer rebuilt on ``pact_core.adaptive_loop`` returns what its own loop returned.

``fixtures/legacy_layer.pt`` holds, for fixed weights, inputs and noise seeds, what the
pre-engine ``AdaptiveRecurrent`` (commit 0e2970a) returned for every cell, method,
halting, execution and train/eval state (``fixtures/record_legacy.py``). The rebuilt
layer must give the same outputs, costs, iterations, ``log q(z)``, loop steps and
gradients: bit for bit on the development machine; the floats are compared within
float32 tolerance here so that another CPU's summation order cannot fail the test.
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
    return "-".join(
        str(case[k]) for k in ("cell", "mode", "halting", "compact", "training")
    )


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
    torch.testing.assert_close(out.cost, case["cost"])
    assert torch.equal(out.iterations, case["iterations"])
    assert out.loop_steps == case["loop_steps"]
    if case["log_prob"] is None:
        assert out.log_prob is None
    else:
        assert out.log_prob is not None
        torch.testing.assert_close(out.log_prob, case["log_prob"])

    loss = out.outputs.square().sum() + out.cost.sum()
    if out.log_prob is not None:
        loss = loss + out.log_prob.sum()
    names = [name for name, _ in layer.named_parameters()]
    grads = torch.autograd.grad(loss, list(layer.parameters()), allow_unused=True)
    for name, grad in zip(names, grads, strict=True):
        expected = case["grads"][name]
        if expected is None:
            assert grad is None, name
        else:
            assert grad is not None, name
            torch.testing.assert_close(grad, expected, msg=name)
