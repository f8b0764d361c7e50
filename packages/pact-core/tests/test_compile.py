"""The sync-free executions compile whole (``fullgraph=True``) and equal eager mode.

Values and gradients: the compiled forward and its compiled backward against eager.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import strategies as sts
import torch
from gradients import assert_same_gradients, parameter_gradients
from torch import Tensor, nn

import pact_core as pc
from pact_core import Halting, HaltingSettings, Method

CASES = sts.HALTING_METHODS


@pytest.fixture(autouse=True)
def fresh_compiler() -> None:
    """Every case compiles anew (dynamo caps recompilations of one code object)."""
    torch._dynamo.reset()


def _model(method: Method) -> pc.Adaptive:
    torch.manual_seed(0)
    head = None if method == "fixed" else nn.Linear(6, 1)
    block = nn.Sequential(nn.Linear(6, 6), nn.Tanh())
    return pc.Adaptive(block, head, HaltingSettings(method, max_iterations=4, halting_bias=0.0))


def _run(model: pc.Adaptive, halting: Halting, execution: str) -> Callable[[Tensor], Tensor]:
    def forward(x: Tensor) -> Tensor:
        out = model(x, halting=halting, execution=execution)
        loss = out.output.square().sum() + out.cost.sum()
        return torch.stack([loss, out.iterations.sum().to(loss.dtype)])

    return forward


def _compiled_equals_eager(
    halting: Halting, method: Method, execution: str, backend: str = "inductor"
) -> None:
    """A compiled forward and backward equal eager: loss, iterations, every gradient.

    ``torch.compile(fullgraph=True)``: a graph break fails the test. ``"inductor"`` is
    torch's default backend.

    Inductor draws random numbers with its own generator; ``fallback_random`` makes it
    draw eager's, so that the relaxed samples are the same (other backends ignore it).
    """
    model = _model(method)
    x = torch.randn(5, 6)
    forward = _run(model, halting, execution)
    compiled = torch.compile(forward, fullgraph=True, backend=backend)
    torch.manual_seed(1)
    with torch._inductor.config.patch(fallback_random=True):
        got = compiled(x)
    torch.manual_seed(1)
    expected = forward(x)
    torch.testing.assert_close(got, expected)
    assert_same_gradients(
        parameter_gradients(model, got[0]), parameter_gradients(model, expected[0])
    )


@pytest.mark.parametrize("execution", ["masked", "unrolled"])
@pytest.mark.parametrize(("halting", "method"), CASES)
def test_sync_free_executions_compile_whole_and_equal_eager(
    halting: Halting, method: Method, execution: str
) -> None:
    _compiled_equals_eager(halting, method, execution, backend="aot_eager")


@pytest.mark.slow
@pytest.mark.parametrize(("halting", "method"), [("act", "act"), ("relaxed", "pact"),
                                                 ("thresholded", "pact")])  # fmt: skip
def test_inductor_equals_eager(halting: Halting, method: Method) -> None:
    """The default backend, the one the speed benchmarks time (generated C++), too."""
    _compiled_equals_eager(halting, method, "masked")


@pytest.mark.parametrize("execution", ["early-exit", "compact"])
def test_executions_that_sync_say_so_under_compile(execution: str) -> None:
    compiled = torch.compile(_run(_model("pact"), "thresholded", execution), fullgraph=True,
                             backend="eager")  # fmt: skip
    with pytest.raises(Exception, match="cannot trace; use 'masked' or 'unrolled'"):
        compiled(torch.randn(5, 6))


class _Evaluation(nn.Module):
    """An evaluation pass as a module: what ``torch.export`` takes."""

    def __init__(self, model: pc.Adaptive, halting: Halting, execution: str) -> None:
        super().__init__()
        self.model, self.halting, self.execution = model, halting, execution

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.model(x, halting=self.halting, execution=self.execution)
        return out.output, out.cost, out.iterations


@pytest.mark.parametrize("execution", ["masked", "unrolled"])
@pytest.mark.parametrize(("halting", "method"), CASES)
def test_sync_free_executions_export_and_equal_eager(
    halting: Halting, method: Method, execution: str
) -> None:
    evaluation = _Evaluation(_model(method).eval(), halting, execution)
    x = torch.randn(5, 6)
    program = torch.export.export(evaluation, (x,))
    torch.manual_seed(2)
    got = program.module()(x)
    torch.manual_seed(2)
    expected = evaluation(x)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
