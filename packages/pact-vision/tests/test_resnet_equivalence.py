"""The ResNet rebuilt on ``pact_core.adaptive_loop`` returns what its own loop returned.

``fixtures/legacy_resnet.pt`` holds, for fixed weights, inputs and noise seeds, what the
pre-engine ``AdaptiveResNet`` (commit 0e2970a) returned for every mode, grouping,
execution and train/eval state (``fixtures/record_legacy.py``). The rebuilt model must
give the same logits, FLOPs, costs, cost maps, executed units, ``log q(z)`` and
gradients. Both sides run in float64: in float32 another CPU's summation order (oneDNN
picks its convolution kernels per CPU) moved the gradients by up to 2.4e-5 between an
Intel and an AMD machine, more than float32's default tolerance; in float64 that
rounding is far below the default float64 tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pact_core import HaltingSettings, parse_method
from pact_vision import AdaptiveResNet

FIXTURE: dict[str, Any] = torch.load(
    Path(__file__).with_name("fixtures") / "legacy_resnet.pt", weights_only=False
)
#: The legacy modes as haltings, and the method whose weights run them.
HALTING = {"dense": "fixed", "act": "act", "relaxed": "relaxed"}


def _name(case: dict[str, Any]) -> str:
    return "-".join(str(case[k]) for k in ("mode", "group", "execution", "training"))


@pytest.mark.parametrize("case", FIXTURE["cases"], ids=_name)
def test_resnet_matches_the_legacy_loop(case: dict[str, Any]) -> None:
    model = AdaptiveResNet(
        HaltingSettings(parse_method("relaxed"), max_iterations=3),
        num_classes=4,
        in_channels=2,
        widths=(4, 8, 8),
    ).double()
    model.load_state_dict(FIXTURE["state_dict"])
    assert case["x"].dtype == torch.float64
    model.halting = HALTING.get(case["mode"], case["mode"])
    model.group = case["group"]
    model.train(case["training"])
    model.execution = case["execution"]
    torch.manual_seed(case["seed"])  # the halting noise comes from the global generator
    out = model(case["x"])

    torch.testing.assert_close(out.logits, case["logits"])
    assert torch.equal(out.flops, case["flops"])
    # The legacy dense costs were float32 zeros whatever the model's dtype; now they
    # follow the model, so costs compare by value.
    for got, expected in zip(out.costs, case["costs"], strict=True):
        torch.testing.assert_close(got, expected.to(got.dtype))
    for got, expected in zip(out.cost_maps, case["cost_maps"], strict=True):
        torch.testing.assert_close(got, expected.to(got.dtype))
    for got, expected in zip(out.executed, case["executed"], strict=True):
        assert torch.equal(got, expected)
    if case["log_prob"] is None:
        assert out.log_prob is None
    else:
        assert out.log_prob is not None
        torch.testing.assert_close(out.log_prob, case["log_prob"])
    if case["grads"] is not None:
        loss = out.logits.square().sum() + out.cost.sum()
        if out.log_prob is not None:
            loss = loss + out.log_prob.sum()
        params = list(model.parameters())
        assert [n for n, _ in model.named_parameters()] == FIXTURE["parameters"]
        raw = torch.autograd.grad(loss, params, allow_unused=True)
        grads = torch.cat(
            [
                (torch.zeros_like(p) if g is None else g).flatten()
                for p, g in zip(params, raw, strict=True)
            ]
        )
        torch.testing.assert_close(grads, case["grads"])
