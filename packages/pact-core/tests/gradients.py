"""Parameter gradients, for tests that compute one loss two ways and compare ``dL/dθ``."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def parameter_gradients(model: nn.Module, loss: Tensor) -> dict[str, Tensor]:
    """``dL/dθ`` of every parameter the loss reaches, by name (cleared before and after)."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def assert_same_gradients(
    got: dict[str, Tensor], expected: dict[str, Tensor], context: str = ""
) -> None:
    """The same non-empty set of parameters, each gradient within float tolerance."""
    assert expected and got.keys() == expected.keys(), context
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, msg=f"{context}{name}")
