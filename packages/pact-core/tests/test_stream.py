"""The streaming block (Alg. 1-4, eq. 28) must equal the vector functions."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import Halting, haltings, nonempty_batch_shapes, saturated_logits, seeds, uniforms

import pact_core as pc


def _run(
    mode: pc.Halting,
    inp: Halting,
    uniform: torch.Tensor | None = None,
    stop_when_halted: bool = False,
    **options: Any,
) -> pc.HaltingStream:
    """Run a stream over ``inp`` with outputs ``u^l = e_l`` (one-hot over L features).

    The block output is then the vector of halting weights.
    """
    values = inp.values
    length = values.shape[-1]
    stream = pc.HaltingStream(mode, length, values.shape[:-1], dtype=values.dtype, **options)
    eye = torch.eye(length, dtype=values.dtype)
    for level in range(length):
        u = eye[level].expand(*values.shape[:-1], length)
        key = "logits" if inp.is_logits else "h"
        halting = {key: values[..., level]} if level < length - 1 else {}
        noise = None if uniform is None else uniform[..., level]
        stream.step(u, **halting, uniform=noise)
        if stop_when_halted and stream.all_halted():
            break
    return stream


def _one_hot(z: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
    return F.one_hot(z - 1, length).to(dtype)


def _tol(dtype: torch.dtype) -> dict[str, Any]:
    return {"atol": 1e-5 if dtype == torch.float32 else 1e-12, "rtol": 0.0}


@given(haltings(), seeds)
def test_discrete_stream_equals_sample_halting(inp: Halting, seed: int) -> None:
    shape = tuple(inp.values.shape)
    uniform = uniforms(shape, inp.values.dtype, seed)
    stream = _run("discrete", inp, uniform)
    z = pc.sample_halting(**inp.kwargs, uniform=uniform)
    assert torch.equal(stream.executed, z)
    assert torch.equal(stream.output, _one_hot(z, shape[-1], inp.values.dtype))
    log_prob = pc.halting_log_prob(**inp.kwargs, z=z)
    torch.testing.assert_close(stream.log_prob, log_prob, **_tol(inp.values.dtype))
    torch.testing.assert_close(
        stream.expected_iterations, pc.expected_iterations(**inp.kwargs), **_tol(inp.values.dtype)
    )


@given(haltings(), st.sampled_from([0.5, 0.0, 0.9]))
def test_thresholded_stream_equals_threshold_halting(inp: Halting, threshold: float) -> None:
    stream = _run("thresholded", inp, threshold=threshold)
    z = pc.threshold_halting(**inp.kwargs, threshold=threshold)
    assert torch.equal(stream.executed, z)
    assert torch.equal(stream.output, _one_hot(z, inp.values.shape[-1], inp.values.dtype))
    torch.testing.assert_close(
        stream.cost, pc.expected_iterations(**inp.kwargs), **_tol(inp.values.dtype)
    )


@given(haltings(), seeds, st.floats(min_value=0.1, max_value=3.0))
def test_relaxed_stream_without_clipping_equals_relaxed_halting(
    inp: Halting, seed: int, temperature: float
) -> None:
    uniform = uniforms(tuple(inp.values.shape), inp.values.dtype, seed)
    stream = _run("relaxed", inp, uniform, temperature=temperature, delta=0.0)
    z_hat = pc.relaxed_halting(**inp.kwargs, temperature=temperature, uniform=uniform)
    torch.testing.assert_close(stream.output, z_hat, **_tol(inp.values.dtype))
    torch.testing.assert_close(
        stream.expected_iterations, pc.expected_iterations(**inp.kwargs), **_tol(inp.values.dtype)
    )


@given(haltings(dtype=torch.float64), seeds, st.sampled_from([0.01, 0.1, 0.3]))
def test_relaxed_stream_clips_at_delta_and_gives_the_rest_of_the_stick_to_the_last_step(
    inp: Halting, seed: int, delta: float
) -> None:
    # Eq. 28: a = r [r > delta]. Once r <= delta an element stops computing, its u stays
    # frozen, and the remaining stick r belongs to its last computed u.
    shape = tuple(inp.values.shape)
    length = shape[-1]
    uniform = uniforms(shape, inp.values.dtype, seed)
    z_hat = pc.relaxed_halting(**inp.kwargs, temperature=0.5, uniform=uniform)
    remaining = 1 - torch.cumsum(z_hat, dim=-1)  # r^{l+1} after iteration l
    assume(bool(((remaining - delta).abs() > 1e-9).all()))  # no ties with delta
    clipped = remaining <= delta
    clipped[..., -1] = True
    last = torch.argmax(clipped.to(torch.uint8), dim=-1)  # 0-based last iteration m - 1
    expected = torch.where(
        torch.arange(length) < last.unsqueeze(-1), z_hat, torch.zeros_like(z_hat)
    ) + F.one_hot(last, length).to(z_hat.dtype) * (
        1
        - torch.where(
            torch.arange(length) < last.unsqueeze(-1), z_hat, torch.zeros_like(z_hat)
        ).sum(-1, keepdim=True)
    )

    stream = pc.HaltingStream(
        "relaxed", length, shape[:-1], dtype=torch.float64, temperature=0.5, delta=delta
    )
    eye = torch.eye(length, dtype=torch.float64)
    key = "logits" if inp.is_logits else "h"
    for level in range(length):
        mask = stream.mask
        r = 1 - torch.cat([torch.zeros_like(z_hat[..., :1]), torch.cumsum(z_hat, -1)[..., :-1]], -1)
        want_mask = torch.where(level <= last, r[..., level], torch.zeros_like(mask))
        torch.testing.assert_close(mask, want_mask, atol=1e-12, rtol=0)
        halting = {key: inp.values[..., level]} if level < length - 1 else {}
        stream.step(eye[level].expand(*shape[:-1], length), **halting, uniform=uniform[..., level])
    torch.testing.assert_close(stream.output, expected, atol=1e-12, rtol=0)
    assert torch.equal(stream.executed, last + 1)
    torch.testing.assert_close(stream.expected_iterations, pc.expected_iterations(**inp.kwargs))


@given(haltings(dtype=torch.float64), st.sampled_from([0.01, 0.1, 0.5]))
def test_act_stream_equals_act_halting(inp: Halting, eps: float) -> None:
    cumulative = torch.cumsum(inp.probs(), dim=-1)
    assume(bool(((cumulative - (1 - eps)).abs() > 1e-9).all()))  # no rounding ties
    stream = _run("act", inp, eps=eps)
    weights, ponder = pc.act_halting(**inp.kwargs, eps=eps)
    torch.testing.assert_close(stream.output, weights, atol=1e-12, rtol=0)
    torch.testing.assert_close(stream.ponder, ponder, atol=1e-12, rtol=0)
    assert torch.equal(stream.cost, stream.ponder)
    positions = torch.arange(1, inp.values.shape[-1] + 1)
    n = torch.where(weights > 0, positions, torch.zeros_like(positions)).amax(-1)
    assert torch.equal(stream.executed[n > 0], n[n > 0])


@given(haltings(), seeds, st.sampled_from(["discrete", "thresholded", "relaxed", "act"]))
def test_stopping_when_all_halted_changes_nothing_but_the_tail_of_n(
    inp: Halting, seed: int, mode: pc.Halting
) -> None:
    uniform = uniforms(tuple(inp.values.shape), inp.values.dtype, seed)
    options: dict[str, Any] = {"delta": 0.05} if mode == "relaxed" else {}
    full = _run(mode, inp, uniform, **options)
    early = _run(mode, inp, uniform, stop_when_halted=True, **options)
    assert torch.equal(early.output, full.output)
    assert torch.equal(early.executed, full.executed)
    # N covers the iterations run: the remaining mass is credited to the last one.
    truncated = inp.values[..., : early.iteration]
    torch.testing.assert_close(
        early.expected_iterations,
        pc.expected_iterations(**{"logits" if inp.is_logits else "h": truncated}),
        **_tol(inp.values.dtype),
    )


@given(saturated_logits(), seeds, st.sampled_from([0.1, 2 / 3, 1.0]))
def test_stream_modes_agree_when_halting_is_saturated(
    logits: torch.Tensor, seed: int, temperature: float
) -> None:
    inp = Halting(logits, is_logits=True)
    uniform = uniforms(tuple(logits.shape), logits.dtype, seed)
    discrete = _run("discrete", inp, uniform)
    thresholded = _run("thresholded", inp)
    relaxed = _run("relaxed", inp, uniform, temperature=temperature)
    assert torch.equal(discrete.output, thresholded.output)
    assert torch.equal(discrete.executed, thresholded.executed)
    torch.testing.assert_close(relaxed.output, thresholded.output, atol=1e-6, rtol=0)
    torch.testing.assert_close(
        relaxed.expected_iterations, thresholded.executed.to(logits.dtype), atol=1e-6, rtol=0
    )


@given(nonempty_batch_shapes, seeds)
def test_spatial_batches_with_a_channel_axis_equal_the_flat_batch(
    shape: tuple[int, ...], seed: int
) -> None:
    # A [B, H, W] grid of positions with features [B, C, H, W] (feature_dim=1) must halt
    # exactly like the flattened batch of positions with features [B*H*W, C].
    length, channels = 4, 3
    generator = torch.Generator().manual_seed(seed)
    grid = (2, *shape)
    logits = torch.randn(*grid, length, generator=generator, dtype=torch.float64)
    features = torch.randn(
        length, grid[0], channels, *grid[1:], generator=generator, dtype=torch.float64
    )
    uniform = torch.rand(*grid, length, generator=generator, dtype=torch.float64)
    spatial = pc.HaltingStream(
        "relaxed", length, grid, feature_dim=1, dtype=torch.float64, delta=0.05
    )
    flat = pc.HaltingStream(
        "relaxed", length, (logits[..., 0].numel(),), dtype=torch.float64, delta=0.05
    )
    for level in range(length):
        halting = {} if level == length - 1 else {"logits": logits[..., level]}
        flat_halting = {k: v.reshape(-1) for k, v in halting.items()}
        spatial.step(features[level], **halting, uniform=uniform[..., level])
        flat.step(
            features[level].movedim(1, -1).reshape(-1, channels),
            **flat_halting,
            uniform=uniform[..., level].reshape(-1),
        )
    torch.testing.assert_close(spatial.output.movedim(1, -1).reshape(-1, channels), flat.output)
    torch.testing.assert_close(spatial.expected_iterations.reshape(-1), flat.expected_iterations)


@given(haltings(), seeds, st.sampled_from(["discrete", "thresholded", "relaxed", "act"]))
def test_stream_gradients_are_finite(inp: Halting, seed: int, mode: pc.Halting) -> None:
    values = inp.values.clone().requires_grad_(True)
    leaf = Halting(values, inp.is_logits)
    stream = _run(mode, leaf, uniforms(tuple(values.shape), values.dtype, seed), delta=0.01)
    loss = (
        stream.cost.sum()
        + (stream.output * torch.linspace(0, 1, values.shape[-1], dtype=values.dtype)).sum()
    )
    if mode == "discrete":
        loss = loss + stream.log_prob.sum()
    if loss.requires_grad:
        loss.backward()
        assert values.grad is not None
        assert torch.isfinite(values.grad).all()


def test_relaxed_mask_carries_gradients_to_the_halting_logits() -> None:
    logits = torch.zeros(3, requires_grad=True)
    stream = pc.HaltingStream("relaxed", 3, (3,), generator=torch.Generator().manual_seed(0))
    stream.step(torch.ones(3, 1), logits=logits)
    stream.mask.sum().backward()
    assert logits.grad is not None and torch.all(logits.grad != 0)


def test_a_frozen_element_keeps_its_output() -> None:
    # Thresholded: element 0 halts at iteration 1, element 1 at iteration 3. The caller
    # freezes halted rows, as a model does, and the block output is each row's u^z.
    stream = pc.HaltingStream("thresholded", 3, (2,))
    halting = [torch.tensor([0.9, 0.1]), torch.tensor([0.2, 0.3]), None]
    state = torch.zeros(2, 1)
    for level in range(3):
        new = torch.full((2, 1), float(level + 1)) * torch.tensor([[1.0], [10.0]])
        state = torch.where(stream.active.unsqueeze(-1), new, state)
        stream.step(state, halting[level])
    assert stream.output.flatten().tolist() == [1.0, 30.0]
    assert stream.executed.tolist() == [1, 3]
    assert stream.all_halted() and stream.finished


@pytest.mark.parametrize("mode", ["discrete", "thresholded", "relaxed", "act"])
def test_stream_without_outputs_only_tracks_halting(mode: pc.Halting) -> None:
    h = torch.tensor([[0.9, 0.2, 0.7], [0.1, 0.6, 0.3]])
    kwargs: dict[str, Any] = {"generator": torch.Generator().manual_seed(0), "delta": 0.01}
    with_u = pc.HaltingStream(mode, 3, (2,), **kwargs)
    kwargs["generator"] = torch.Generator().manual_seed(0)
    without_u = pc.HaltingStream(mode, 3, (2,), **kwargs)
    for level in range(3):
        halting = h[:, level] if level < 2 else None
        with_u.step(torch.randn(2, 4), halting)
        without_u.step(None, halting)
        assert torch.equal(with_u.mask, without_u.mask)
    assert torch.equal(with_u.executed, without_u.executed)
    torch.testing.assert_close(with_u.cost, without_u.cost)
    with pytest.raises(RuntimeError, match="no output"):
        _ = without_u.output
    stream = pc.HaltingStream(mode, 3, (2,))
    stream.step(None, h[:, 0])
    with pytest.raises(ValueError, match="at every step or at none"):
        stream.step(torch.zeros(2, 1), h[:, 1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "soft"}, "mode must be one of"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"temperature": 0.0}, "temperature"),
        ({"delta": 1.0}, "delta"),
        ({"eps": 0.0}, "eps"),
        ({"threshold": 1.5}, "threshold"),
        ({"feature_dim": 5}, "feature_dim"),
    ],
)
def test_bad_stream_options_are_rejected(kwargs: dict[str, object], match: str) -> None:
    options: dict[str, object] = {"mode": "relaxed", "max_iterations": 3, "batch_shape": (2,)}
    options.update(kwargs)
    with pytest.raises(ValueError, match=match):
        pc.HaltingStream(**options)  # type: ignore[arg-type]


def test_bad_steps_are_rejected() -> None:
    stream = pc.HaltingStream("relaxed", 2, (2,))
    with pytest.raises(ValueError, match="exactly one of h and logits"):
        stream.step(torch.zeros(2, 1))
    with pytest.raises(ValueError, match="batch shape"):
        stream.step(torch.zeros(2, 1), h=torch.full((3,), 0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stream.step(torch.zeros(2, 1), h=torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="feature axis"):
        stream.step(torch.zeros(3, 1), h=torch.full((2,), 0.5))
    with pytest.raises(RuntimeError, match="no iteration"):
        _ = stream.expected_iterations
    stream.step(torch.zeros(2, 1), h=torch.full((2,), 0.5))
    stream.step(torch.zeros(2, 1))
    with pytest.raises(RuntimeError, match="already run"):
        stream.step(torch.zeros(2, 1))
    with pytest.raises(RuntimeError, match="ACT"):
        _ = stream.ponder
    with pytest.raises(RuntimeError, match="sampled"):
        _ = stream.log_prob


def test_stream_n_has_the_gradient_of_eq_24_also_at_saturated_h() -> None:
    h = torch.tensor(
        [[0.3, 1.0, 0.5, 0.2], [0.0, 0.0, 0.7, 0.1], [1.0, 0.4, 0.0, 0.9]],
        dtype=torch.float64,
        requires_grad=True,
    )
    stream = pc.HaltingStream("relaxed", 4, (3,), dtype=torch.float64, validate_args=False)
    for level in range(4):
        stream.step(h=h[:, level], uniform=torch.full((3,), 0.5, dtype=torch.float64))
    ours = torch.autograd.grad(stream.expected_iterations.sum(), h)[0]
    reference = torch.autograd.grad(pc.expected_iterations(h).sum(), h)[0]
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
