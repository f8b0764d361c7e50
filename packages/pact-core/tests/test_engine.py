"""The halting engine (``adaptive_loop`` and ``Adaptive``) against the paper's algorithms.

A *scripted* block makes every decision checkable: its state counts the iterations an
element has run (feature 0) and carries the element's index (feature 1); its head reads
the logit ``T[e, c - 1]`` of element ``e`` after ``c`` iterations from a table ``T``. An
element that runs iteration ``l`` sees ``T[e, l - 1]``; a frozen one keeps seeing the
logit of its last iteration, as a real head on a frozen state would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
import strategies as sts
import torch
from gradients import assert_same_gradients, parameter_gradients
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

import pact_core as pc
from pact_core import Halting, HaltingSettings, Method, StepContext

#: (batch shape, feature axis) of the three halting granularities.
LAYOUTS: dict[str, tuple[tuple[int, ...], int]] = {
    "sample": ((5,), -1),
    "token": ((2, 3), -1),
    "position": ((2, 3, 2), 1),
}
PACT: tuple[Halting, ...] = ("discrete", "thresholded", "relaxed")
DECIDING: tuple[Halting, ...] = ("act", *PACT, "median")


class Scripted:
    """The scripted block and head over a batch of ``E`` elements with a logit table."""

    def __init__(self, table: Tensor, batch: tuple[int, ...], feature_dim: int) -> None:
        self.table = table.to(torch.float32)  # [E, L]
        self.batch = batch
        self.feature_dim = feature_dim
        self.inputs: list[Tensor] = []  # u^{l-1} of every step that saw the whole batch

    def initial(self) -> Tensor:
        index = torch.arange(math.prod(self.batch), dtype=torch.float32).view(self.batch)
        return torch.stack([torch.zeros(self.batch), index], dim=self.feature_dim)

    def _feature(self, u: Tensor, which: int) -> Tensor:
        return u.select(self.feature_dim, which)

    def step(self, u: Tensor, context: StepContext) -> Tensor:
        one = torch.zeros_like(u)
        one.select(self.feature_dim, 0).fill_(1.0)
        if context.rows is None:
            self.inputs.append(u)
        return u + one

    def head(self, u: Tensor) -> Tensor:
        count = self._feature(u, 0).long().clamp(min=1)
        index = self._feature(u, 1).long()
        return self.table[index, count - 1]

    def counts(self, u: Tensor) -> Tensor:
        return self._feature(u, 0).long()


def run(
    script: Scripted,
    halting: Halting,
    *,
    limit: int,
    execution: str = "masked",
    seed: int = 0,
    settings: HaltingSettings | None = None,
) -> pc.AdaptiveOutput:
    method: pc.Method = "act" if halting == "act" else "pact"
    settings = settings or HaltingSettings(method, max_iterations=limit)
    return pc.adaptive_loop(
        script.step,
        script.head,
        script.initial(),
        settings,
        halting=halting,
        execution=execution,
        feature_dim=script.feature_dim,
        generator=torch.Generator().manual_seed(seed),
    )


def effective_probs(table: Tensor, z: Tensor) -> Tensor:
    """``h^l`` as the loop sees it: ``T[e, l - 1]`` up to ``z``, then frozen at ``T[e, z - 1]``."""
    length = table.shape[1]
    levels = torch.arange(length).unsqueeze(0)
    column = torch.minimum(levels, (z.reshape(-1, 1) - 1))
    return torch.sigmoid(torch.gather(table.to(torch.float64), 1, column))


@st.composite
def scripted_cases(draw: st.DrawFn) -> tuple[str, int, Tensor]:
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    limit = draw(st.integers(1, 6))
    elements = math.prod(LAYOUTS[layout][0])
    table = draw(sts.halting_logits(shape=(elements, limit), dtype=torch.float32))
    return layout, limit, table


@given(case=scripted_cases(), execution=st.sampled_from(pc.EXECUTIONS))
def test_thresholded_halting_follows_algorithm_2(
    case: tuple[str, int, Tensor], execution: str
) -> None:
    layout, limit, table = case
    batch, feature_dim = LAYOUTS[layout]
    if execution in ("compact", "unrolled") and feature_dim != -1:
        return  # compaction and unrolling run on features-last states
    script = Scripted(table, batch, feature_dim)
    out = run(script, "thresholded", limit=limit, execution=execution)
    expected = pc.threshold_halting(logits=table)  # Alg. 2 on the table, [E]
    assert out.iterations.shape == batch
    assert torch.equal(out.iterations.reshape(-1), expected)
    assert torch.equal(script.counts(out.output), out.iterations)  # u^z, frozen
    assert int(out.iterations.max()) <= limit and out.loop_steps <= limit
    n = pc.expected_iterations(effective_probs(table, expected))  # eq. 24 over all L
    torch.testing.assert_close(out.cost.reshape(-1).double(), n, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("halting", DECIDING)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@given(seed=sts.seeds)
def test_executions_agree(halting: Halting, layout: str, seed: int) -> None:
    batch, feature_dim = LAYOUTS[layout]
    elements = math.prod(batch)
    table = torch.randn(elements, 6, generator=torch.Generator().manual_seed(seed)) * 2
    executions = pc.EXECUTIONS if feature_dim == -1 else ("masked", "early-exit")  # see above
    outs = {e: run(Scripted(table, batch, feature_dim), halting, limit=6, execution=e, seed=seed)
            for e in executions}  # fmt: skip
    masked = outs["masked"]
    assert masked.loop_steps == 6
    for out in outs.values():
        assert torch.equal(out.iterations, masked.iterations)
        torch.testing.assert_close(out.output, masked.output)
        torch.testing.assert_close(out.cost, masked.cost)  # N of all L iterations
        if halting == "discrete":
            assert out.log_prob is not None and masked.log_prob is not None
            torch.testing.assert_close(out.log_prob, masked.log_prob)
    for name, out in outs.items():  # only early exits stop before L
        expected = int(out.iterations.max()) if name in ("early-exit", "compact") else 6
        assert out.loop_steps == expected


@pytest.mark.parametrize("halting", ["act", *PACT])
@pytest.mark.parametrize("execution", pc.EXECUTIONS)
def test_a_halted_element_never_changes(halting: Halting, execution: str) -> None:
    table = torch.randn(7, 8, generator=torch.Generator().manual_seed(3))
    script = Scripted(table, (7,), -1)
    out = run(script, halting, limit=8, execution=execution, seed=5)
    z = out.iterations
    assert bool((z < 8).any())  # some elements halt early, so freezing is exercised
    if execution == "unrolled":
        return  # by design it steps halted elements too and reads u^z afterwards
    for level, before in enumerate(script.inputs, start=1):  # u^{l-1} as step l saw it
        done = z < level  # halted before iteration l
        assert torch.equal(script.counts(before)[done], z[done])
        assert torch.equal(script.counts(before)[~done], torch.full_like(z[~done], level - 1))
    assert torch.equal(script.counts(out.state), z)


@pytest.mark.parametrize("halting", ["act", *PACT])
def test_the_cap_is_respected(halting: Halting) -> None:
    never = torch.full((4, 5), -50.0)
    out = run(Scripted(never, (4,), -1), halting, limit=5, execution="early-exit")
    assert torch.equal(out.iterations, torch.full((4,), 5))
    assert out.loop_steps == 5
    always = torch.full((4, 5), 50.0)
    out = run(Scripted(always, (4,), -1), halting, limit=5, execution="early-exit")
    assert torch.equal(out.iterations, torch.ones(4, dtype=torch.int64))


@given(case=scripted_cases(), seed=sts.seeds)
def test_the_three_pact_modes_agree_at_saturated_logits(
    case: tuple[str, int, Tensor], seed: int
) -> None:
    layout, limit, _ = case
    batch, feature_dim = LAYOUTS[layout]
    generator = torch.Generator().manual_seed(seed)
    table = torch.where(torch.rand(math.prod(batch), limit, generator=generator) < 0.5, -50.0, 50.0)
    outs = {h: run(Scripted(table, batch, feature_dim), h, limit=limit, seed=seed) for h in PACT}
    base = outs["thresholded"]
    for out in outs.values():
        assert torch.equal(out.iterations, base.iterations)
        torch.testing.assert_close(out.output, base.output)
        torch.testing.assert_close(out.cost, base.cost)


def _mlp_model(halting_bias: float, method: pc.Method = "pact") -> pc.Adaptive:
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(6, 6), nn.Tanh())
    settings = HaltingSettings(method, max_iterations=4, halting_bias=halting_bias)
    return pc.Adaptive(block, nn.Linear(6, 1), settings)


@pytest.mark.parametrize("halting", ["act", *PACT])
@pytest.mark.parametrize("bias", [-1e4, 1e4, 0.0])
def test_gradients_are_finite_at_h_of_0_and_1(halting: Halting, bias: float) -> None:
    model = _mlp_model(bias, "act" if halting == "act" else "pact")
    x = torch.randn(5, 6)
    out = model(x, halting=halting, generator=torch.Generator().manual_seed(1))
    loss = out.output.square().sum() + out.cost.sum()
    if out.log_prob is not None:
        loss = loss + out.log_prob.sum()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads
    assert all(bool(torch.isfinite(g).all()) for g in grads)
    assert torch.isfinite(out.cost).all() and torch.isfinite(out.output).all()


@given(seed=sts.seeds)
def test_reinforce_log_prob_is_halting_log_prob(seed: int) -> None:
    table = torch.randn(6, 5, generator=torch.Generator().manual_seed(seed)) * 3
    out = run(Scripted(table, (6,), -1), "discrete", limit=5, seed=seed, execution="compact")
    assert out.log_prob is not None
    h = effective_probs(table, out.iterations)
    expected = pc.halting_log_prob(h, out.iterations)  # eq. 15 for the sampled z
    torch.testing.assert_close(out.log_prob.double(), expected, atol=1e-5, rtol=1e-5)


def test_residual_units_apply_the_mask_and_change_the_shape_first() -> None:
    torch.manual_seed(0)
    units = nn.ModuleList([nn.Conv2d(3, 3, 3, padding=1) for _ in range(3)])
    head = nn.Conv2d(3, 1, 1)
    settings = HaltingSettings("pact", max_iterations=3, halting_bias=0.0)
    model = pc.Adaptive(units, head, settings, update="residual", feature_dim=1)
    x = torch.randn(2, 3, 4, 4)
    out = model.eval()(x)  # thresholded
    z = out.iterations  # [2, 4, 4]
    expected = x + units[0](x)  # u^1 everywhere
    for level in (2, 3):
        active = (z >= level).unsqueeze(1).float()
        expected = expected + units[level - 1](expected) * active
    torch.testing.assert_close(out.output, expected)
    first = nn.ModuleList([nn.Conv2d(3, 5, 3, stride=2, padding=1)])
    fixed = HaltingSettings("fixed", max_iterations=1)
    grows = pc.Adaptive(nn.Sequential(first[0]), None, fixed, feature_dim=1)
    assert grows(x).iterations.shape == (2, 2, 2)  # the elements of u^1


def test_grouped_halting_decides_per_patch() -> None:
    torch.manual_seed(0)
    block = nn.Conv2d(2, 2, 3, padding=1)
    model = pc.Adaptive(
        block, nn.Conv2d(2, 1, 3, padding=1), HaltingSettings("pact", max_iterations=5),
        feature_dim=1, group=2,
    )  # fmt: skip
    out = model.eval()(torch.randn(3, 2, 6, 5), halting="discrete")
    patches = out.iterations[:, :6, :4].unfold(1, 2, 2).unfold(2, 2, 2)
    assert torch.all(patches == patches[..., :1, :1])
    assert out.log_prob is not None and out.log_prob.shape == (3, 3, 3)
    flat = pc.Adaptive(nn.Linear(4, 4), nn.Linear(4, 1), HaltingSettings(), group=2)
    with pytest.raises(ValueError, match="groups \\[B, H, W\\] positions"):
        flat(torch.randn(3, 4))


class SyncDetector(TorchDispatchMode):
    """Records the operators that read a tensor on the host."""

    SYNCING = frozenset(
        {
            torch.ops.aten._local_scalar_dense.default,
            torch.ops.aten.is_nonzero.default,
            torch.ops.aten.nonzero.default,
            torch.ops.aten.masked_select.default,
        }
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch leaves it untyped
        self.calls: list[str] = []

    def __torch_dispatch__(
        self,
        func: Callable[..., Any],
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        if func in self.SYNCING:
            self.calls.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("execution", ["masked", "unrolled"])
@pytest.mark.parametrize("halting", ["act", *PACT])
def test_masked_and_unrolled_never_sync_and_early_exit_does(
    halting: Halting, execution: str
) -> None:
    model = _mlp_model(0.0, "act" if halting == "act" else "pact")
    x = torch.randn(4, 6)
    detector = SyncDetector()
    with detector:
        out = model(x, halting=halting, execution=execution, generator=torch.Generator())
        (out.output.sum() + out.cost.sum()).backward()
    assert detector.calls == []
    with detector:
        model(x, halting=halting, execution="early-exit", generator=torch.Generator())
    assert detector.calls


def test_module_follows_the_training_mode_and_passes_block_arguments() -> None:
    seen: list[float] = []

    class Scaled(nn.Module):
        def forward(self, u: Tensor, scale: float = 1.0) -> Tensor:
            seen.append(scale)
            return torch.tanh(u * scale)

    model = pc.Adaptive(Scaled(), nn.Linear(3, 1), HaltingSettings("pact", max_iterations=3))
    x = torch.randn(2, 3)
    assert model.train()(x).halting == "relaxed"
    assert model.eval()(x).halting == "thresholded"
    assert model(x, halting="fixed", scale=2.0).iterations.tolist() == [3, 3]
    assert seen[-3:] == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="cannot be compacted"):
        model(x, execution="compact", scale=2.0)


def test_module_arguments_are_checked() -> None:
    settings = HaltingSettings("pact", max_iterations=3, halting_bias=2.5)
    head = nn.Linear(3, 1)
    pc.Adaptive(nn.Linear(3, 3), head, settings)
    assert torch.all(head.bias == 2.5)
    with pytest.raises(ValueError, match="needs a halting head"):
        pc.Adaptive(nn.Linear(3, 3), None, settings)
    with pytest.raises(ValueError, match="one module per iteration: got 2 modules"):
        pc.Adaptive(nn.ModuleList([nn.Linear(3, 3)] * 2), head, settings, update="residual")
    with pytest.raises(ValueError, match="update must be one of replace, residual"):
        pc.Adaptive(nn.Linear(3, 3), head, settings, update="add")  # type: ignore[arg-type]
    model = pc.Adaptive(nn.Linear(3, 3), nn.Linear(3, 2), settings)
    with pytest.raises(ValueError, match=r"logits of the batch shape \(4,\)"):
        model(torch.randn(4, 3))
    with pytest.raises(ValueError, match="execution must be one of masked, early-exit, compact"):
        model(torch.randn(4, 3), execution="lazy")
    fixed = pc.Adaptive(nn.Linear(3, 3), None, HaltingSettings("fixed", max_iterations=2))
    with pytest.raises(ValueError, match="'act' needs a halting head; the 'fixed' method"):
        fixed(torch.randn(4, 3), halting="act")


@given(case=scripted_cases())
def test_median_halting_stops_at_the_median_of_q(case: tuple[str, int, Tensor]) -> None:
    layout, limit, table = case
    batch, feature_dim = LAYOUTS[layout]
    out = run(Scripted(table, batch, feature_dim), "median", limit=limit)
    q = pc.halting_distribution(logits=table.double())  # the script's h up to z are T's
    median = (torch.cumsum(q, dim=-1) >= 0.5 - 1e-9).double().argmax(dim=-1) + 1
    cdf_before = torch.cumsum(q, dim=-1).gather(
        -1, (out.iterations.reshape(-1) - 2).clamp(min=0)[:, None]
    )[:, 0]
    z = out.iterations.reshape(-1)
    # z is where P(z <= l) first reaches 1/2 (ties at exactly 1/2 may fall either side)
    assert bool(((z == median) | ((z > 1) & ((cdf_before - 0.5).abs() < 1e-6))).all())


def test_expected_halting_keeps_every_iterate_with_q() -> None:
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(6, 6), nn.Tanh())
    model = pc.Adaptive(block, nn.Linear(6, 1), HaltingSettings("pondernet", max_iterations=5))
    x = torch.randn(4, 6)
    out = model(x)  # train(): PonderNet's "expected" halting
    assert out.halting == "expected"
    assert out.iterates is not None and out.distribution is not None
    assert out.iterates.shape == (5, 4, 6) and out.distribution.shape == (5, 4)
    states, u = [], x
    for _ in range(5):
        u = block(u)
        states.append(u)
    torch.testing.assert_close(out.iterates, torch.stack(states))
    head = model.head
    assert head is not None
    logits = torch.cat([head(torch.stack(states[:-1])).squeeze(-1), torch.zeros(1, 4)])
    q = pc.halting_distribution(logits=logits.T).T
    torch.testing.assert_close(out.distribution, q)
    torch.testing.assert_close(out.output, (q[..., None] * torch.stack(states)).sum(0))
    torch.testing.assert_close(out.cost, pc.expected_iterations(logits=logits.T))
    assert torch.equal(out.iterations, torch.full((4,), 5))


#: Every halting with a head, and a method whose weights run it.
TRAINED = [case for case in sts.HALTING_METHODS if case[0] != "fixed"]


@pytest.mark.parametrize(("halting", "method"), TRAINED)
def test_executions_give_the_same_gradients(halting: Halting, method: Method) -> None:
    """``dL/dθ`` of block and head through every execution equals the masked loop's."""
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(6, 6), nn.Tanh())
    settings = HaltingSettings(method, max_iterations=6, halting_bias=1.0)
    model = pc.Adaptive(block, nn.Linear(6, 1), settings)
    x = torch.randn(9, 6)
    grads: dict[str, dict[str, Tensor]] = {}
    halted_early = False
    for execution in pc.EXECUTIONS:
        torch.manual_seed(1)  # the same relaxed and discrete samples
        out = model(x, halting=halting, execution=execution)
        loss = out.output.square().sum() + out.cost.sum()
        if out.log_prob is not None:  # REINFORCE's score term
            loss = loss + out.log_prob.sum()
        grads[execution] = parameter_gradients(model, loss)
        if execution == "masked":
            halted_early = bool((out.iterations < 6).any())
    assert halted_early or halting == "expected", "some element freezes before the cap"
    masked = grads["masked"]
    assert masked.keys() == {n for n, _ in model.named_parameters()}  # block and head
    for name_of_execution, got in grads.items():
        assert_same_gradients(got, masked, context=f"{name_of_execution}: ")
