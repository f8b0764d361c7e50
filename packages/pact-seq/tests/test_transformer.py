"""The per-token Universal Transformer encoder on the halting engine."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from pact_core import Halting, HaltingSettings, Method
from pact_seq import PrefixParityTask
from pact_seq.evaluation import EVAL_SEED_OFFSET, evaluate_model
from pact_seq.objective import training_loss
from pact_seq.transformer import AdaptiveTransformer

B, T, D = 3, 6, 8


def model(method: Method = "pact", limit: int = 4, **settings: float) -> AdaptiveTransformer:
    torch.manual_seed(0)
    halting = HaltingSettings(method, max_iterations=limit).replace(**settings)
    return AdaptiveTransformer(1, 1, D, halting, max_length=T, nhead=2)


def set_head(encoder: AdaptiveTransformer, weight: float, bias: float) -> None:
    head = encoder.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.normal_(0.0, weight)
        head.bias.fill_(bias)


def test_shapes_with_padding_and_padding_halts_at_once() -> None:
    encoder = model("act").eval()
    padding = torch.zeros(B, T, dtype=torch.bool)
    padding[0, 4:] = True
    out = encoder(torch.randn(B, T, 1), padding)
    assert out.logits.shape == (B, T, 1)
    recurrent = out.recurrent
    assert recurrent.cost.shape == recurrent.iterations.shape == (B, T)
    assert recurrent.first_halting is not None and recurrent.first_halting.shape == (B, T)
    assert torch.equal(recurrent.iterations[padding], torch.ones(2, dtype=torch.int64))


def test_padding_does_not_reach_the_real_tokens() -> None:
    encoder = model("pact").eval()
    set_head(encoder, 0.5, 0.0)
    x = torch.randn(1, T, 1)
    padding = torch.zeros(1, T, dtype=torch.bool)
    padding[0, 3:] = True
    noisy = x.clone()
    noisy[0, 3:] = 100.0  # whatever the padding holds
    a, b = encoder(x, padding), encoder(noisy, padding)
    torch.testing.assert_close(a.logits[0, :3], b.logits[0, :3])
    assert torch.equal(a.recurrent.iterations[0, :3], b.recurrent.iterations[0, :3])


def _unrolled(encoder: AdaptiveTransformer, x: Tensor, halting: Halting) -> tuple[Tensor, Tensor]:
    """The encoder by hand: a frozen token keeps its state, h from the head, Alg. 2/4."""
    u = encoder.embed(x) + encoder.position[: x.shape[1]]
    head = encoder.halting_head
    assert head is not None
    limit = encoder.settings.max_iterations
    active = torch.ones(x.shape[:2], dtype=torch.bool)
    executed = torch.zeros(x.shape[:2], dtype=torch.int64)
    total = torch.zeros(x.shape[:2])
    for level in range(1, limit + 1):
        new = encoder.layer(u + encoder.step_embedding[level - 1])
        u = torch.where(active.unsqueeze(-1), new, u)
        executed = executed + active
        h = torch.sigmoid(head(u).squeeze(-1)) if level < limit else torch.ones(x.shape[:2])
        total = total + h
        stop = h > 0.5 if halting == "thresholded" else total >= 1 - encoder.settings.eps
        active = active & ~stop
    return encoder.norm(u), executed


def test_thresholded_equals_a_hand_unrolled_loop() -> None:
    encoder = model("pact").eval()
    set_head(encoder, 1.0, 0.0)
    x = torch.randn(B, T, 1)
    with torch.no_grad():
        out = encoder(x, halting="thresholded")
        states, executed = _unrolled(encoder, x, "thresholded")
    assert torch.equal(out.recurrent.iterations, executed)
    assert bool((executed > 1).any()) and bool((executed < 4).any())  # varied depths
    torch.testing.assert_close(out.recurrent.outputs, states)


@pytest.mark.parametrize("execution", ["masked", "early-exit"])
def test_a_halted_token_never_changes_and_the_cap_holds(execution: str) -> None:
    encoder = model("pact", limit=5).eval()
    set_head(encoder, 1.5, -0.5)
    encoder.execution = execution
    seen: list[Tensor] = []
    original = encoder.layer.forward

    def recording(src: Tensor, *args: object, **kwargs: object) -> Tensor:
        out: Tensor = original(src, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(src)
        return out

    encoder.layer.forward = recording  # type: ignore[method-assign]
    with torch.no_grad():
        out = encoder(torch.randn(B, T, 1), halting="thresholded")
    z = out.recurrent.iterations
    assert int(z.max()) <= 5 and int(z.min()) >= 1
    steps = encoder.step_embedding
    entering = [seen[i] - steps[i] for i in range(len(seen))]  # u^{l-1}, l = 1, 2, ...
    checked = 0
    for level in range(3, len(seen) + 1):
        frozen = z < level - 1  # halted before iteration l - 1: u^{l-1} = u^{l-2} = u^z
        torch.testing.assert_close(entering[level - 1][frozen], entering[level - 2][frozen])
        checked += int(frozen.sum())
    if execution == "masked":  # all 5 iterations ran, so early halters were checked
        assert checked > 0


def test_the_three_pact_modes_agree_at_saturated_logits() -> None:
    encoder = model("pact", limit=4).eval()
    head = encoder.halting_head
    assert head is not None
    with torch.no_grad():
        head.weight.zero_()
        head.weight[0, 0] = 1e7  # saturated logits, their sign set by one feature
    x = torch.randn(B, T, 1)
    outs = {h: encoder(x, halting=h, generator=torch.Generator().manual_seed(1))
            for h in ("discrete", "thresholded", "relaxed")}  # fmt: skip
    base = outs["thresholded"]
    for out in outs.values():
        assert torch.equal(out.recurrent.iterations, base.recurrent.iterations)
        torch.testing.assert_close(out.logits, base.logits)


@pytest.mark.parametrize("method", ["act", "pact", "pondernet"])
def test_every_family_trains_on_prefix_parity(method: Method) -> None:
    task = PrefixParityTask(T)
    encoder = model(method, limit=4, tau=0.01)
    batch = task.sample(8, torch.Generator().manual_seed(0))
    out = encoder(batch.x)
    loss = training_loss(out, batch, task, tau=0.01)
    loss.total.backward()
    assert torch.isfinite(loss.total)
    assert encoder.step_embedding.grad is not None
    head = encoder.halting_head
    assert head is not None and head.bias.grad is not None


def test_row_wise_executions_are_refused() -> None:
    encoder = model("pact")
    for execution in ("compact", "unrolled"):
        with pytest.raises(ValueError, match="attention mixes tokens"):
            encoder.execution = execution


def test_evaluation_reports_the_ponder_of_every_position() -> None:
    task = PrefixParityTask(T)
    encoder = model("pact", limit=4)
    result = evaluate_model(encoder, task, samples=10, batch_size=4, halting="thresholded")
    assert len(result.ponder_by_position) == T
    assert all(1.0 <= p <= 4.0 for p in result.ponder_by_position)
    mean = sum(result.ponder_by_position) / T
    assert abs(mean - result.mean_ponder) < 1e-9
    # The same examples, one at a time: position t's mean is over the examples.
    data = torch.Generator().manual_seed(EVAL_SEED_OFFSET)
    batches = [task.sample(size, data) for size in (4, 4, 2)]
    with torch.no_grad():
        iterations = torch.cat(
            [encoder(b.x, halting="thresholded").recurrent.iterations for b in batches]
        )
    expected = iterations.double().mean(dim=0).tolist()
    assert result.ponder_by_position == pytest.approx(expected)
