from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from helpers import unroll
from torch import Tensor, nn

import pact_core as pc
import pact_core.engine
from pact_core import Halting, HaltingSettings, resolve_execution
from pact_seq.config import TASK_DEFAULTS, settings_for
from pact_seq.layer import CELL_TYPES, AdaptiveRecurrent, CellType
from pact_seq.model import SequenceModel, addition_model, parity_model
from pact_seq.objective import training_loss
from pact_seq.parity import ParityTask
from pact_seq.train import MODEL_CHOICES

B, T, IN, H = 6, 3, 5, 7
HALTINGS: tuple[Halting, ...] = ("discrete", "thresholded", "relaxed", "act")
#: The cap of the fixed models that ``settings`` builds.
FIXED_ITERATIONS = {"repeat": 3, "plain": 1, "fixed": 2}


def settings(model: str, **fields: Any) -> HaltingSettings:
    """The settings of a ``--model`` name: cap 6, Repeat-RNN with rho 3."""
    repeats = 3 if model == "repeat" else None
    return settings_for(model, repeats=repeats, **{"max_iterations": 6, **fields})


def make(model: str, cell: CellType = "rnn", **fields: Any) -> AdaptiveRecurrent:
    torch.manual_seed(0)
    return AdaptiveRecurrent(IN, H, settings(model, **fields), cell=cell)


def set_halting(layer: AdaptiveRecurrent, weight: float, bias: float) -> None:
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.fill_(weight)
        head.bias.fill_(bias)


def uneven_pact(cell: CellType) -> AdaptiveRecurrent:
    """A PACT layer (cap 8) whose elements halt at different steps."""
    layer = make("pact", cell, max_iterations=8)
    set_halting(layer, 0.0, 0.0)
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.normal_(0.0, 3.0)  # spread the halting steps over the batch
    return layer


@pytest.mark.parametrize(("model", "cell"), list(itertools.product(MODEL_CHOICES, CELL_TYPES)))
def test_shapes_in_every_mode(model: str, cell: CellType) -> None:
    layer = make(model, cell)
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
    assert (out.log_prob is not None) == (model == "pact-reinforce")
    if out.log_prob is not None:
        assert out.log_prob.shape == (B, T)
    if model in FIXED_ITERATIONS:
        assert out.halting == "fixed"
        assert layer.halting_head is None
        assert out.first_halting is None
        rho = FIXED_ITERATIONS[model]
        assert layer.settings.max_iterations == rho
        assert torch.equal(out.iterations, torch.full((B, T), rho))
        torch.testing.assert_close(out.cost, torch.full((B, T), float(rho)))
    else:
        assert out.halting == layer.settings.train_halting
        assert out.first_halting is not None
        assert out.first_halting.shape == (B, T)
        assert not out.first_halting.requires_grad
        assert bool(((out.first_halting >= 0) & (out.first_halting <= 1)).all())
    layer.eval()
    assert layer(x).outputs.shape == (B, T, H)


@pytest.mark.parametrize("model", ["act", "pact", "pact-reinforce"])
def test_first_step_flag_and_halting_bias(model: str) -> None:
    layer = make(model)
    head = layer.halting_head
    assert head is not None
    assert torch.all(head.bias == 1.0)
    assert isinstance(layer.cell, nn.RNNCell)
    assert layer.cell.input_size == IN + 1
    biased = make(model, halting_bias=-2.5).halting_head
    assert biased is not None
    assert torch.all(biased.bias == -2.5)


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("halting", ["discrete", "thresholded"])
def test_halted_elements_stay_frozen(cell: CellType, halting: Halting) -> None:
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
    assert out.first_halting is not None  # h^1, for the collapse diagnostic
    torch.testing.assert_close(out.first_halting[:, 0], torch.sigmoid(logits[:, 0]))
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
    layer = make("act", cell, max_iterations=8)
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
def test_cap_is_respected(halting: Halting) -> None:
    layer = make("act" if halting == "act" else "pact", max_iterations=4)
    set_halting(layer, 0.0, -50.0)  # never halts before the cap
    x = torch.randn(B, T, IN)
    outs = {}
    for execution in pc.EXECUTIONS:  # nothing exits early: every execution runs all 4
        layer.execution = resolve_execution(execution)
        outs[execution] = layer(x, halting=halting, generator=torch.Generator().manual_seed(5))
    out = outs["compact"]
    assert torch.equal(out.iterations, torch.full((B, T), 4))
    assert out.loop_steps == (4,) * T
    bound = 5.0 if halting == "act" else 4.0  # ACT's ponder N + R reaches L + R
    assert float(out.cost.detach().max()) <= bound + 1e-5
    for other in outs.values():
        assert torch.equal(other.iterations, out.iterations)
        assert other.loop_steps == out.loop_steps
        torch.testing.assert_close(other.outputs, out.outputs, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(other.cost, out.cost, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("halting", HALTINGS)
def test_cap_of_one_runs_one_step(halting: Halting) -> None:
    layer = make("act" if halting == "act" else "pact", max_iterations=1)
    out = layer(torch.randn(B, T, IN), halting=halting, generator=torch.Generator())
    assert torch.equal(out.iterations, torch.ones(B, T, dtype=torch.int64))
    if halting == "act":  # rho = N + R = 1 + 1
        torch.testing.assert_close(out.cost, torch.full((B, T), 2.0))
    else:
        torch.testing.assert_close(out.cost, torch.ones(B, T))


@pytest.mark.parametrize("bias", [50.0, -50.0])
def test_pact_modes_agree_when_halting_is_saturated(bias: float) -> None:
    layer = make("pact", "gru", max_iterations=5)
    set_halting(layer, 0.0, bias)
    x = torch.randn(B, T, IN)
    modes: tuple[Halting, ...] = ("discrete", "thresholded", "relaxed")
    outs = {
        mode: layer(x, halting=mode, generator=torch.Generator().manual_seed(3)) for mode in modes
    }
    ref = outs["thresholded"]
    assert torch.equal(ref.iterations, torch.full((B, T), 1 if bias > 0 else 5))
    for out in outs.values():
        assert torch.equal(out.iterations, ref.iterations)
        torch.testing.assert_close(out.outputs, ref.outputs, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.cost, ref.cost, atol=1e-5, rtol=1e-5)


def test_pact_modes_agree_per_element_when_logits_are_saturated() -> None:
    # Logits of +-200 * u_0: each element halts at its own step, identically in all modes.
    layer = make("pact", "rnn", max_iterations=6)
    set_halting(layer, 0.0, 0.0)
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight[0, 0] = 200.0
    x = torch.randn(256, 1, IN)
    _, logits = unroll(layer, x[:, 0], 6)
    clear = (logits[:, :-1].abs() > 40).all(dim=1)  # assume away unsaturated elements
    assert int(clear.sum()) > 100
    modes: tuple[Halting, ...] = ("discrete", "thresholded", "relaxed")
    outs = {
        mode: layer(x[clear], halting=mode, generator=torch.Generator().manual_seed(4))
        for mode in modes
    }
    z = outs["thresholded"].iterations
    assert z.min() < z.max()
    for out in outs.values():
        assert torch.equal(out.iterations, z)
        torch.testing.assert_close(out.outputs, outs["thresholded"].outputs, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("model", "cell"), list(itertools.product(MODEL_CHOICES, CELL_TYPES)))
def test_gradients_are_finite(model: str, cell: CellType) -> None:
    torch.manual_seed(0)
    task = ParityTask(bits=6)
    model_settings = settings_for(model, repeats=2 if model == "repeat" else None, max_iterations=5)
    seq = SequenceModel(6, 1, 8, model_settings, cell=cell)
    batch = task.sample(16, torch.Generator().manual_seed(0))
    out = seq(batch.x, generator=torch.Generator().manual_seed(0))
    baseline = pc.EMABaseline()
    baseline(torch.tensor([-0.5]))  # a non-zero baseline
    loss = training_loss(out, batch, task, tau=0.01, baseline=baseline)
    loss.total.backward()
    for name, param in seq.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    head = seq.recurrent.halting_head
    if head is not None:
        assert head.weight.grad is not None
        assert float(head.weight.grad.abs().sum()) > 0


def test_reinforce_term_moves_the_halting_head() -> None:
    torch.manual_seed(0)
    task = ParityTask(bits=6)
    model = SequenceModel(6, 1, 8, HaltingSettings("pact-reinforce", max_iterations=5))
    batch = task.sample(32, torch.Generator().manual_seed(0))
    out = model(batch.x, generator=torch.Generator().manual_seed(0))
    baseline = pc.EMABaseline()
    loss = training_loss(out, batch, task, tau=0.0, baseline=baseline)
    assert float(loss.reinforce.detach()) != 0.0
    assert int(baseline.updates) == 1
    head = model.recurrent.halting_head
    assert head is not None
    grad = torch.autograd.grad(loss.reinforce, head.weight)
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
    layer.settings = layer.settings.replace(eval_halting="discrete")
    assert layer(torch.randn(B, 1, IN)).halting == "discrete"
    assert make("pact", eval_halting="relaxed").eval()(torch.randn(B, 1, IN)).halting == "relaxed"
    assert make("pact-reinforce")(torch.randn(B, 1, IN)).halting == "discrete"
    assert make("act").eval()(torch.randn(B, 1, IN)).halting == "act"
    assert make("repeat").eval()(torch.randn(B, 1, IN)).halting == "fixed"


def test_empty_sequence() -> None:
    out = make("act")(torch.randn(B, 0, IN))
    assert out.outputs.shape == (B, 0, H)
    assert out.cost.shape == out.iterations.shape == (B, 0)
    assert out.loop_steps == ()
    assert out.halting == "act"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: HaltingSettings("nope"),  # type: ignore[arg-type]
            "method must be one of act, pact, pact-reinforce, pondernet, fixed; got 'nope'",
        ),
        (
            lambda: settings_for("nope"),
            "method must be one of act, pact, pact-reinforce, pondernet, fixed, repeat, plain, "
            "dense, relaxed; got 'nope'",
        ),
        (
            lambda: make("pact", "rnn2"),  # type: ignore[arg-type]
            "cell must be one of rnn, lstm, gru; got 'rnn2'",
        ),
        (lambda: make("pact", max_iterations=0), "max_iterations must be an integer >= 1, got 0"),
        (
            lambda: make("pact", max_iterations=2.5),
            "max_iterations must be an integer >= 1, got 2.5",
        ),
        (
            lambda: settings_for("repeat", repeats=0),
            "max_iterations must be an integer >= 1, got 0",
        ),
        (
            lambda: settings_for("plain", repeats=2),
            "the plain model runs each input once; got --repeats 2",
        ),
        (
            lambda: settings_for("act", repeats=2),
            "--repeats is for the repeat model, not 'act'",
        ),
        (
            lambda: make("pact", temperature=0.0),
            "temperature must be a finite number > 0, got 0.0",
        ),
        (lambda: make("pact", eps=1.0), "eps must be a finite number in (0, 1), got 1.0"),
        (lambda: make("pact", delta=-0.1), "delta must be a finite number in [0, 1), got -0.1"),
        (lambda: make("pact", tau=-1.0), "tau must be a finite number >= 0, got -1.0"),
        (lambda: make("pact", tau=math.nan), "tau must be a finite number >= 0, got nan"),
        (
            lambda: make("pact", threshold=1.5),
            "threshold must be a finite number in [0, 1], got 1.5",
        ),
        (
            lambda: make("pact", eval_halting="sideways"),
            "halting must be one of act, relaxed, discrete, thresholded, median, expected, "
            "fixed; got 'sideways'",
        ),
        (
            lambda: make("repeat", eval_halting="discrete"),
            "halting 'discrete' needs a halting head; the 'fixed' method runs fixed",
        ),
        (
            lambda: AdaptiveRecurrent(0, H, HaltingSettings("pact")),
            "input_size must be an integer >= 1, got 0",
        ),
        (
            lambda: AdaptiveRecurrent(IN, H, HaltingSettings("pact"), execution="sideways"),
            "execution must be one of masked, early-exit, compact, unrolled; got 'sideways'",
        ),
    ],
)
def test_bad_layer_arguments(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_halting_override_rejected_without_head() -> None:
    message = "halting 'discrete' needs a halting head; the 'fixed' method runs fixed"
    with pytest.raises(ValueError, match=re.escape(message)):
        make("repeat")(torch.randn(B, 1, IN), halting="discrete")
    with pytest.raises(ValueError, match=re.escape("x must have shape [B, T, 5], got (6, 5)")):
        make("pact")(torch.randn(B, IN))


def test_published_constructors() -> None:
    parity_cap = TASK_DEFAULTS["parity"]["max_iterations"]
    assert parity_cap == HaltingSettings().max_iterations == 100
    parity = parity_model(settings_for("act", max_iterations=parity_cap))
    assert isinstance(parity.recurrent.cell, nn.RNNCell)
    assert parity.recurrent.hidden_size == 128
    assert parity.recurrent.input_size == 64
    assert parity.settings.max_iterations == 100
    assert parity.readout.out_features == 1
    assert TASK_DEFAULTS["addition"]["max_iterations"] == 20
    addition = addition_model(settings_for("repeat", repeats=3))
    assert isinstance(addition.recurrent.cell, nn.LSTMCell)
    assert addition.recurrent.hidden_size == 512
    assert addition.readout.out_features == 66
    assert addition.settings == HaltingSettings("fixed", max_iterations=3)
    assert addition.recurrent.halting_head is None


@pytest.mark.parametrize("cell", CELL_TYPES)
@torch.no_grad()
def test_tf_init_is_glorot_over_the_joint_kernel(cell: CellType) -> None:
    torch.manual_seed(0)
    act = HaltingSettings("act")
    model = SequenceModel(64, 1, 128, act, cell=cell, init="tf")
    rnn = model.recurrent.cell
    assert isinstance(rnn, nn.RNNCellBase)
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
    plain = SequenceModel(64, 1, 128, act, cell=cell, init="torch").recurrent.cell
    assert isinstance(plain, nn.RNNCellBase)
    assert float(plain.weight_hh.abs().max()) <= 1 / math.sqrt(128)
    with pytest.raises(ValueError, match=re.escape("init must be one of tf, torch; got 'he'")):
        SequenceModel(64, 1, 128, act, cell=cell, init="he")  # type: ignore[arg-type]


@pytest.mark.parametrize("halting", ["relaxed", "act"])
def test_halted_elements_pass_the_same_state_at_every_later_step(
    halting: Halting, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record what the engine hands the stream: once an element has halted, its u^l must
    # not change (frozen with torch.where). Discrete/thresholded: test_halted_elements_stay_frozen.
    seen: list[tuple[Tensor, Tensor]] = []

    class Recording(pc.HaltingStream):
        def step(self, u: Tensor | None = None, *args: Any, **kwargs: Any) -> None:
            super().step(u, *args, **kwargs)
            seen.append((u if u is not None else torch.empty(0), self.active.clone()))

    monkeypatch.setattr(pact_core.engine, "HaltingStream", Recording)
    layer = make("act" if halting == "act" else "pact", "lstm", max_iterations=10)
    set_halting(layer, 0.0, -1.0)
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.normal_(0.0, 1.0)
    out = layer(torch.randn(64, 1, IN), halting=halting, generator=torch.Generator())
    assert out.iterations.min() < out.loop_steps[0], "the test needs early halting"
    assert len(seen) == out.loop_steps[0], "the stream saw every iteration"
    for index in range(1, len(seen)):
        halted = ~seen[index - 1][1]
        assert torch.equal(seen[index][0][halted], seen[index - 1][0][halted])


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("halting", HALTINGS)
def test_compaction_equals_the_early_exit_loop(cell: CellType, halting: Halting) -> None:
    # Outputs, costs, iterations, log q(z), loop steps and gradients all agree.
    layer = uneven_pact(cell)
    x = torch.randn(32, T, IN)
    results = []
    for execution in ("early-exit", "compact"):
        layer.execution = resolve_execution(execution)
        assert layer.execution.name == execution
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


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("halting", HALTINGS)
def test_the_masked_loop_equals_the_early_exit(cell: CellType, halting: Halting) -> None:
    # The masked loop runs all L iterations, the early exit stops once every element has
    # halted; outputs, N over all L (Alg. 3), iterations, log q(z) and gradients agree.
    # Noisy haltings draw noise for every iteration run, so after the first timestep their
    # draws differ: one timestep for them, three for the deterministic ones.
    layer = make("pact", cell, max_iterations=8)
    set_halting(layer, 0.0, 3.0)
    head = layer.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.normal_(0.0, 1.0)  # every element halts well before the cap
    steps = 1 if halting in ("discrete", "relaxed") else T
    x = torch.randn(32, steps, IN)
    results = {}
    for execution in ("early-exit", "masked"):
        layer.execution = resolve_execution(execution)
        layer.zero_grad()
        out = layer(x, halting=halting, generator=torch.Generator().manual_seed(3))
        (out.outputs.square().sum() + out.cost.sum()).backward()
        grads = [p.grad.clone() for p in layer.parameters() if p.grad is not None]
        results[execution] = (out, grads)
    (early, early_grads), (masked, masked_grads) = results["early-exit"], results["masked"]
    assert max(early.loop_steps) < 8, "the test needs an early exit"
    assert masked.loop_steps == (8,) * steps
    assert torch.equal(masked.iterations, early.iterations)
    torch.testing.assert_close(masked.outputs, early.outputs, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(masked.state, early.state, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(masked.cost, early.cost, atol=1e-6, rtol=1e-6)
    if halting == "discrete":
        assert masked.log_prob is not None and early.log_prob is not None
        torch.testing.assert_close(masked.log_prob, early.log_prob, atol=1e-6, rtol=1e-6)
    assert len(masked_grads) == len(early_grads)
    for ours, theirs in zip(masked_grads, early_grads, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


class TinyGRU(nn.Module):
    """A GRU-like cell of our own: ``cell(x, h) -> h`` with a ``hidden_size``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.gates = nn.Linear(input_size + hidden_size, 2 * hidden_size)
        self.candidate = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        update, reset = torch.sigmoid(self.gates(torch.cat([x, h], dim=-1))).chunk(2, dim=-1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * h], dim=-1)))
        return (1 - update) * candidate + update * h


def test_a_cell_of_your_own_runs_the_fixed_loop_by_hand() -> None:
    torch.manual_seed(0)
    cell = TinyGRU(IN + 1, H)
    layer = AdaptiveRecurrent(IN, H, HaltingSettings("fixed", max_iterations=2), cell=cell)
    assert layer.cell is cell
    assert layer.halting_head is None
    x = torch.randn(B, T, IN)
    out = layer(x)
    h = torch.zeros(B, H)
    outputs = []
    for t in range(T):  # two iterations per input: the first flagged, the second not
        h = cell(torch.cat([x[:, t], torch.ones(B, 1)], dim=-1), h)
        h = cell(torch.cat([x[:, t], torch.zeros(B, 1)], dim=-1), h)
        outputs.append(h)
    torch.testing.assert_close(out.outputs, torch.stack(outputs, dim=1), rtol=0, atol=0)
    torch.testing.assert_close(out.state, h, rtol=0, atol=0)
    assert out.halting == "fixed"
    assert torch.equal(out.iterations, torch.full((B, T), 2))
    torch.testing.assert_close(out.cost, torch.full((B, T), 2.0))


@pytest.mark.parametrize("method", ["fixed", "pact", "act"])
def test_a_cell_of_your_own_trains_one_step(method: str) -> None:
    torch.manual_seed(0)
    task = ParityTask(bits=6)
    cell = TinyGRU(7, 8)
    own = {name: p.detach().clone() for name, p in cell.named_parameters()}
    halting = HaltingSettings(pc.parse_method(method), max_iterations=2 if method == "fixed" else 4)
    model = SequenceModel(6, 1, 8, halting, cell=cell)
    for name, param in cell.named_parameters():  # a cell of your own keeps its init
        assert torch.equal(param, own[name]), name
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = task.sample(16, torch.Generator().manual_seed(0))
    out = model(batch.x, generator=torch.Generator().manual_seed(1))
    loss = training_loss(out, batch, task, tau=0.01)
    assert torch.isfinite(loss.total)
    optimizer.zero_grad()
    loss.total.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    optimizer.step()
    for name, param in cell.named_parameters():
        assert not torch.equal(param, own[name]), name


def test_a_cell_of_your_own_needs_the_hidden_size() -> None:
    with pytest.raises(ValueError, match=re.escape("cell.hidden_size must equal hidden_size=7")):
        AdaptiveRecurrent(IN, H, HaltingSettings("fixed"), cell=TinyGRU(IN + 1, H + 1))
    with pytest.raises(ValueError, match=re.escape("cell must be a cell name or an nn.Module")):
        AdaptiveRecurrent(IN, H, HaltingSettings("fixed"), cell=42)  # type: ignore[arg-type]
