from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from helpers import unroll
from torch import nn

import pact_core as pc
import pact_seq.layer
from pact_core import HaltingMode
from pact_seq.layer import CELL_TYPES, MODES, AdaptiveRecurrent, CellType, Mode
from pact_seq.model import SequenceModel, addition_model, parity_model
from pact_seq.objective import training_loss
from pact_seq.parity import ParityTask

B, T, IN, H = 6, 3, 5, 7
HALTINGS: tuple[HaltingMode, ...] = ("discrete", "thresholded", "relaxed", "act")


def make(mode: Mode, cell: CellType = "rnn", **kwargs: float | int) -> AdaptiveRecurrent:
    torch.manual_seed(0)
    repeats = 3 if mode == "repeat" else 1
    options: dict[str, float | int] = {"max_ponder": 6, "repeats": repeats, **kwargs}
    return AdaptiveRecurrent(IN, H, mode=mode, cell=cell, **options)  # type: ignore[arg-type]


def set_halting(layer: AdaptiveRecurrent, weight: float, bias: float) -> None:
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.fill_(weight)
        head.bias.fill_(bias)


def uneven_pact(cell: CellType) -> AdaptiveRecurrent:
    """A PACT layer (cap 8) whose elements halt at different steps."""
    layer = make("pact", cell, max_ponder=8)
    set_halting(layer, 0.0, 0.0)
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.normal_(0.0, 3.0)  # spread the halting steps over the batch
    return layer


@pytest.mark.parametrize(("mode", "cell"), list(itertools.product(MODES, CELL_TYPES)))
def test_shapes_in_every_mode(mode: Mode, cell: CellType) -> None:
    layer = make(mode, cell)
    x = torch.randn(B, T, IN)
    out = layer(x, generator=torch.Generator().manual_seed(1))
    state = 2 * H if cell == "lstm" else H
    assert out.outputs.shape == (B, T, H)
    assert out.state.shape == (B, state)
    assert out.cost.shape == (B, T)
    assert out.iterations.shape == (B, T)
    assert out.iterations.dtype == torch.int64
    assert len(out.loop_steps) == T
    assert out.loop_steps == tuple(int(v) for v in out.iterations.max(dim=0).values)
    assert (out.log_prob is not None) == (mode == "pact-reinforce")
    if out.log_prob is not None:
        assert out.log_prob.shape == (B, T)
    if mode in ("repeat", "plain"):
        assert out.halting is None
        assert torch.equal(out.iterations, torch.full((B, T), layer.repeats))
    layer.eval()
    assert layer(x).outputs.shape == (B, T, H)


@pytest.mark.parametrize("mode", ["act", "pact", "pact-reinforce"])
def test_first_step_flag_and_halting_bias(mode: Mode) -> None:
    layer = make(mode)
    head = layer.halting_head
    assert head is not None
    assert torch.all(head.bias == 1.0)
    assert layer.cell.input_size == IN + 1


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("halting", ["discrete", "thresholded"])
def test_halted_elements_stay_frozen(cell: CellType, halting: HaltingMode) -> None:
    # Discrete and thresholded blocks output u^z. If a halted element were not frozen, it
    # would end at u^{loop steps} instead.
    layer = uneven_pact(cell)
    x = torch.randn(64, 1, IN)
    out = layer(x, halting=halting, generator=torch.Generator().manual_seed(2))
    states, logits = unroll(layer, x[:, 0], 8)
    z = out.iterations[:, 0]
    assert z.min() < z.max(), "the test needs elements that halt at different steps"
    expected = states[torch.arange(64), z - 1, :H]
    torch.testing.assert_close(out.outputs[:, 0], expected)
    if halting == "thresholded":
        assert torch.equal(z, pc.threshold_halting(logits=logits))
        # N takes h of every step run; a frozen element repeats the h of its state u^z.
        m = out.loop_steps[0]
        frozen = torch.minimum(torch.arange(m), (z - 1).unsqueeze(-1))
        seen = logits.gather(1, frozen)
        torch.testing.assert_close(out.cost[:, 0], pc.expected_iterations(logits=seen))
    else:
        assert out.log_prob is not None
        torch.testing.assert_close(out.log_prob[:, 0], pc.halting_log_prob(logits=logits, z=z))


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_act_matches_vector_algorithm_4(cell: CellType) -> None:
    layer = make("act", cell, max_ponder=8)
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.normal_(0.0, 2.0)
        head.bias.fill_(-1.0)
    x = torch.randn(64, 1, IN)
    out = layer(x)
    states, logits = unroll(layer, x[:, 0], 8)
    weights, ponder = pc.act_halting(logits=logits, eps=0.01)
    expected = (weights.unsqueeze(-1) * states).sum(dim=1)
    torch.testing.assert_close(out.state, expected)
    torch.testing.assert_close(out.cost[:, 0], ponder)
    n_steps = (weights > 0).long().cumsum(dim=1).argmax(dim=1) + 1  # last nonzero weight
    assert torch.equal(out.iterations[:, 0], n_steps)
    assert out.loop_steps[0] == int(n_steps.max())


@pytest.mark.parametrize("halting", HALTINGS)
def test_cap_is_respected(halting: HaltingMode) -> None:
    layer = make("act" if halting == "act" else "pact", max_ponder=4)
    set_halting(layer, 0.0, -50.0)  # never halts before the cap
    out = layer(torch.randn(B, T, IN), halting=halting, generator=torch.Generator())
    assert torch.equal(out.iterations, torch.full((B, T), 4))
    assert out.loop_steps == (4,) * T
    bound = 5.0 if halting == "act" else 4.0  # ACT's ponder N + R reaches L + R
    assert float(out.cost.detach().max()) <= bound + 1e-5


@pytest.mark.parametrize("halting", HALTINGS)
def test_cap_of_one_runs_one_step(halting: HaltingMode) -> None:
    layer = make("act" if halting == "act" else "pact", max_ponder=1)
    out = layer(torch.randn(B, T, IN), halting=halting, generator=torch.Generator())
    assert torch.equal(out.iterations, torch.ones(B, T, dtype=torch.int64))
    if halting == "act":  # rho = N + R = 1 + 1
        torch.testing.assert_close(out.cost, torch.full((B, T), 2.0))
    else:
        torch.testing.assert_close(out.cost, torch.ones(B, T))


@pytest.mark.parametrize("bias", [50.0, -50.0])
def test_pact_modes_agree_when_halting_is_saturated(bias: float) -> None:
    layer = make("pact", "gru", max_ponder=5)
    set_halting(layer, 0.0, bias)
    x = torch.randn(B, T, IN)
    outs = {
        mode: layer(x, halting=mode, generator=torch.Generator().manual_seed(3))
        for mode in ("discrete", "thresholded", "relaxed")
    }
    ref = outs["thresholded"]
    assert torch.equal(ref.iterations, torch.full((B, T), 1 if bias > 0 else 5))
    for out in outs.values():
        assert torch.equal(out.iterations, ref.iterations)
        torch.testing.assert_close(out.outputs, ref.outputs, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.cost, ref.cost, atol=1e-5, rtol=1e-5)


def test_pact_modes_agree_per_element_when_logits_are_saturated() -> None:
    # Logits of +-200 * u_0: each element halts at its own step, identically in all modes.
    layer = make("pact", "rnn", max_ponder=6)
    set_halting(layer, 0.0, 0.0)
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight[0, 0] = 200.0
    x = torch.randn(256, 1, IN)
    _, logits = unroll(layer, x[:, 0], 6)
    clear = (logits[:, :-1].abs() > 40).all(dim=1)  # assume away unsaturated elements
    assert int(clear.sum()) > 100
    outs = {
        mode: layer(x[clear], halting=mode, generator=torch.Generator().manual_seed(4))
        for mode in ("discrete", "thresholded", "relaxed")
    }
    z = outs["thresholded"].iterations
    assert z.min() < z.max()
    for out in outs.values():
        assert torch.equal(out.iterations, z)
        torch.testing.assert_close(out.outputs, outs["thresholded"].outputs, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("mode", "cell"), list(itertools.product(MODES, CELL_TYPES)))
def test_gradients_are_finite(mode: Mode, cell: CellType) -> None:
    torch.manual_seed(0)
    task = ParityTask(bits=6)
    repeats = 2 if mode == "repeat" else 1
    model = SequenceModel(6, 1, 8, mode=mode, cell=cell, max_ponder=5, repeats=repeats)
    batch = task.sample(16, torch.Generator().manual_seed(0))
    out = model(batch.x, generator=torch.Generator().manual_seed(0))
    baseline = pc.EMABaseline()
    baseline(torch.tensor([-0.5]))  # a non-zero baseline
    loss = training_loss(out, batch, task, tau=0.01, baseline=baseline)
    loss.total.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    head = model.recurrent.halting_head
    if head is not None:
        assert head.weight.grad is not None
        assert float(head.weight.grad.abs().sum()) > 0


def test_reinforce_term_moves_the_halting_head() -> None:
    torch.manual_seed(0)
    task = ParityTask(bits=6)
    model = SequenceModel(6, 1, 8, mode="pact-reinforce", cell="rnn", max_ponder=5)
    batch = task.sample(32, torch.Generator().manual_seed(0))
    out = model(batch.x, generator=torch.Generator().manual_seed(0))
    baseline = pc.EMABaseline()
    loss = training_loss(out, batch, task, tau=0.0, baseline=baseline)
    assert float(loss.reinforce.detach()) != 0.0
    assert int(baseline.updates) == 1
    grad = torch.autograd.grad(loss.reinforce, model.recurrent.halting_head.weight)  # type: ignore[union-attr]
    assert float(grad[0].abs().sum()) > 0


def test_state_flows_between_timesteps() -> None:
    layer = make("plain")
    x = torch.randn(B, 2, IN)
    two = layer(x).outputs[:, 1]
    one = layer(x[:, 1:]).outputs[:, 0]
    assert not torch.allclose(two, one)


def test_eval_uses_eval_halting() -> None:
    layer = make("pact")
    assert layer(torch.randn(B, 1, IN)).halting == "relaxed"
    layer.eval()
    assert layer(torch.randn(B, 1, IN)).halting == "thresholded"
    layer.eval_halting = "discrete"
    assert layer(torch.randn(B, 1, IN)).halting == "discrete"
    assert make("pact-reinforce")(torch.randn(B, 1, IN)).halting == "discrete"
    assert make("act").eval()(torch.randn(B, 1, IN)).halting == "act"


def test_empty_sequence() -> None:
    out = make("act")(torch.randn(B, 0, IN))
    assert out.outputs.shape == (B, 0, H)
    assert out.loop_steps == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "nope"}, "mode must be one of"),
        ({"cell": "rnn2"}, "cell must be one of"),
        ({"max_ponder": 0}, "max_ponder must be"),
        ({"repeats": 0}, "repeats must be"),
        ({"mode": "plain", "repeats": 2}, "plain mode"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"eps": 1.0}, "eps must lie"),
        ({"delta": -0.1}, "delta must lie"),
    ],
)
def test_bad_layer_arguments(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"mode": "pact", **kwargs}
    with pytest.raises(ValueError, match=message):
        AdaptiveRecurrent(IN, H, **options)  # type: ignore[arg-type]


def test_halting_override_rejected_without_head() -> None:
    with pytest.raises(ValueError, match="no halting head"):
        make("repeat")(torch.randn(B, 1, IN), halting="discrete")
    with pytest.raises(ValueError, match="shape"):
        make("pact")(torch.randn(B, IN))


def test_published_constructors() -> None:
    parity = parity_model("act")
    assert isinstance(parity.recurrent.cell, nn.RNNCell)
    assert parity.recurrent.hidden_size == 128
    assert parity.recurrent.max_ponder == 100
    addition = addition_model("repeat", repeats=3)
    assert isinstance(addition.recurrent.cell, nn.LSTMCell)
    assert addition.recurrent.hidden_size == 512
    assert addition.readout.out_features == 66


@pytest.mark.parametrize("cell", CELL_TYPES)
@torch.no_grad()
def test_tf_init_is_glorot_over_the_joint_kernel(cell: CellType) -> None:
    torch.manual_seed(0)
    model = SequenceModel(64, 1, 128, mode="act", cell=cell, init="tf")
    rnn = model.recurrent.cell
    gates = rnn.weight_ih.shape[0]
    bound = math.sqrt(6.0 / (65 + 128 + gates))
    for weight in (rnn.weight_ih, rnn.weight_hh):
        assert float(weight.abs().max()) <= bound
        assert float(weight.abs().max()) > 0.95 * bound
    assert rnn.bias_hh is not None
    assert torch.all(rnn.bias_hh == 0)
    assert rnn.bias_ih is not None
    forget = 1.0 if cell == "lstm" else 0.0
    assert torch.all(rnn.bias_ih[128:256] == forget)
    assert torch.all(model.readout.bias == 0)
    head = model.recurrent.halting_head
    assert head is not None
    assert torch.all(head.bias == 1.0)
    plain = SequenceModel(64, 1, 128, mode="act", cell=cell, init="torch").recurrent.cell
    assert float(plain.weight_hh.abs().max()) <= 1 / math.sqrt(128)
    with pytest.raises(ValueError, match="init must be"):
        SequenceModel(64, 1, 128, mode="act", cell=cell, init="he")  # type: ignore[arg-type]


@pytest.mark.parametrize("halting", ["relaxed", "act"])
def test_halted_elements_pass_the_same_state_at_every_later_step(
    halting: HaltingMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record what the layer hands the stream: once an element has halted, its u^l must not
    # change (frozen with torch.where). Discrete/thresholded: test_halted_elements_stay_frozen.
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Recording(pc.HaltingStream):
        def step(self, u: torch.Tensor | None = None, *args: Any, **kwargs: Any) -> None:
            super().step(u, *args, **kwargs)
            seen.append((u if u is not None else torch.empty(0), self.active.clone()))

    monkeypatch.setattr(pact_seq.layer, "HaltingStream", Recording)
    layer = make("act" if halting == "act" else "pact", "lstm", max_ponder=10)
    set_halting(layer, 0.0, -1.0)
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.normal_(0.0, 1.0)
    out = layer(torch.randn(64, 1, IN), halting=halting, generator=torch.Generator())
    assert out.iterations.min() < out.loop_steps[0], "the test needs early halting"
    for index in range(1, len(seen)):
        halted = ~seen[index - 1][1]
        assert torch.equal(seen[index][0][halted], seen[index - 1][0][halted])


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("halting", HALTINGS)
def test_compaction_equals_the_masked_loop(cell: CellType, halting: HaltingMode) -> None:
    # Outputs, costs, iterations, log q(z), loop steps and gradients all agree.
    layer = uneven_pact(cell)
    x = torch.randn(32, T, IN)
    results = []
    for compact in (False, True):
        layer.compact = compact
        layer.zero_grad()
        out = layer(x, halting=halting, generator=torch.Generator().manual_seed(3))
        (out.outputs.square().sum() + out.cost.sum()).backward()
        grads = [p.grad.clone() for p in layer.parameters() if p.grad is not None]
        results.append((out, grads))
    (masked, masked_grads), (compact_out, compact_grads) = results
    assert masked.iterations.min() < masked.iterations.max(), "needs uneven halting"
    torch.testing.assert_close(compact_out.outputs, masked.outputs, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(compact_out.cost, masked.cost, atol=1e-6, rtol=1e-6)
    assert torch.equal(compact_out.iterations, masked.iterations)
    assert compact_out.loop_steps == masked.loop_steps
    if halting == "discrete":
        assert compact_out.log_prob is not None and masked.log_prob is not None
        torch.testing.assert_close(compact_out.log_prob, masked.log_prob, atol=1e-6, rtol=1e-6)
    assert len(compact_grads) == len(masked_grads)
    for ours, theirs in zip(compact_grads, masked_grads, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
