from __future__ import annotations

import pytest
import torch
from helpers import set_head_bias, tiny_model

from pact_core import HALTINGS, Halting, HaltingSettings
from pact_vision import AdaptiveResNet, max_iterations_of, resnet32, resnet110


@pytest.mark.parametrize("mode", HALTINGS)
def test_every_mode_runs_forward_and_backward(mode: Halting) -> None:
    model = tiny_model(mode, n=3)
    x = torch.randn(3, 3, 16, 16)
    out = model(x)
    assert out.logits.shape == (3, 10)
    assert out.flops.shape == (3,)
    assert out.flops.dtype == torch.int64
    assert [m.shape for m in out.cost_maps] == [(3, 16, 16), (3, 8, 8), (3, 4, 4)]
    assert [e.shape for e in out.executed] == [(3, 16, 16), (3, 8, 8), (3, 4, 4)]
    assert out.cost.shape == (3,)
    assert out.units_executed.shape == (3, 3)
    assert (out.log_prob is not None) == (mode == "discrete")
    loss = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 2]))
    loss = loss + 0.01 * out.cost.mean()
    if out.log_prob is not None:
        loss = loss + out.log_prob.mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads
    assert all(torch.isfinite(g).all() for g in grads)
    assert model.stem.weight.grad is not None
    assert model.stem.weight.grad.abs().sum() > 0
    head = model.stages[0].halting_heads[0]
    if mode == "fixed":
        assert head.bias.grad is None
    else:  # N (eq. 24) or the ponder cost reach every head
        assert head.bias.grad is not None
        assert head.bias.grad.abs() > 0


def test_relaxed_mask_carries_classification_gradient_to_heads() -> None:
    model = tiny_model("relaxed", n=3)
    out = model(torch.randn(2, 3, 8, 8))
    out.logits.sum().backward()  # no cost term: only the masks of eq. 28 link the heads
    bias = model.stages[1].halting_heads[0].bias.grad
    assert bias is not None
    assert bias.abs() > 0


def test_dense_mode_matches_a_model_without_heads() -> None:
    with_heads = tiny_model("fixed", n=2)
    without_heads = AdaptiveResNet(HaltingSettings("fixed", max_iterations=2), widths=(4, 8, 8))
    without_heads.load_state_dict(
        {k: v for k, v in with_heads.state_dict().items() if ".heads." not in k}
    )
    x = torch.randn(2, 3, 8, 8)
    with_heads.eval()
    without_heads.eval()
    torch.testing.assert_close(with_heads(x).logits, without_heads(x).logits)


def test_never_halting_heads_reproduce_the_dense_network() -> None:
    model = tiny_model("fixed", n=3).eval()
    x = torch.randn(2, 3, 8, 8)
    dense = model(x)
    set_head_bias(model, -50.0)
    for mode in ("thresholded", "discrete", "relaxed", "act"):
        model.halting = mode
        out = model(x)
        torch.testing.assert_close(out.logits, dense.logits)
        assert all((e == 3).all() for e in out.executed)


def test_always_halting_heads_run_only_the_first_unit() -> None:
    model = tiny_model("thresholded", n=3).eval()
    set_head_bias(model, 50.0)
    out = model(torch.randn(2, 3, 8, 8))
    assert all((e == 1).all() for e in out.executed)
    assert all(torch.allclose(m, torch.ones_like(m)) for m in out.cost_maps)
    torch.testing.assert_close(out.cost, torch.full((2,), 3.0))


def test_discrete_and_thresholded_agree_when_heads_saturate() -> None:
    model = tiny_model("discrete", n=4).eval()
    with torch.no_grad():
        for block in model.stages:
            for index, head in enumerate(block.halting_heads):
                head.bias.fill_(50.0 if index == 1 else -50.0)
    x = torch.randn(2, 3, 8, 8)
    discrete = model(x)
    model.halting = "thresholded"
    thresholded = model(x)
    torch.testing.assert_close(discrete.logits, thresholded.logits)
    assert all((e == 2).all() for e in discrete.executed)
    assert discrete.log_prob is not None
    assert discrete.log_prob.abs().max() < 1e-6  # every decision had probability ~1


def test_halting_switches_without_rebuilding_and_rejects_bad_values() -> None:
    model = tiny_model("fixed", n=2)
    weights = model.stem.weight
    for mode in HALTINGS:
        model.halting = mode
        assert model.halting == mode
        assert model.current_halting == mode
        assert model.stem.weight is weights
    model.halting = None  # follow the training mode
    assert model.train().current_halting == "relaxed"
    assert model.eval().current_halting == "thresholded"
    with pytest.raises(ValueError, match="halting must be one of"):
        model.halting = "fast"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="group must be one of"):
        model.group = 3
    plain = resnet32("fixed")
    with pytest.raises(ValueError, match="'relaxed' needs a halting head; the 'fixed' method"):
        plain.halting = "relaxed"


def test_constructors_and_arch_names() -> None:
    assert resnet32().max_iterations == 5
    assert resnet110("fixed").max_iterations == 18
    assert len(resnet32().stages[0].halting_heads) == 4  # no head on the last unit
    assert not resnet110("fixed").stages[0].halting_heads
    assert max_iterations_of("resnet32") == 5
    assert max_iterations_of("resnet8") == 1
    for bad in ("resnet33", "resnet2", "vgg16"):
        with pytest.raises(ValueError, match="resnet<6n\\+2>"):
            max_iterations_of(bad)


def test_head_initialisation_follows_the_settings() -> None:
    assert torch.all(
        AdaptiveResNet(HaltingSettings("act", max_iterations=2, halting_bias=1.5))
        .stages[0]
        .halting_heads[0]
        .bias
        == 1.5
    )
    model = resnet32("pact")
    head = model.stages[2].halting_heads[3]
    assert torch.all(head.bias == -3.0)
    assert torch.all(head.local.weight == 0)
    assert torch.all(head.pooled.weight == 0)


def test_architecture_follows_reference() -> None:
    model = resnet32()
    assert [b.residual_units[0].conv1.stride for b in model.stages] == [(1, 1), (2, 2), (2, 2)]
    assert [b.channels for b in model.stages] == [16, 32, 64]
    bn = model.stages[0].residual_units[0].bn1
    assert bn.eps == 1e-3
    assert bn.momentum == pytest.approx(0.1)
    unit = model.stages[1].residual_units[0]
    u = torch.randn(1, 16, 8, 8)
    shortcut = unit.shortcut(u)
    assert shortcut.shape == (1, 32, 4, 4)
    assert torch.all(shortcut[:, :8] == 0)
    assert torch.all(shortcut[:, 24:] == 0)
    torch.testing.assert_close(shortcut[:, 8:24], torch.nn.functional.avg_pool2d(u, 2))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 2 * 15 + 12  # stem, 15 units, 12 halting heads


def test_relaxed_tends_to_discrete_as_the_temperature_falls() -> None:
    # The relaxed and discrete streams draw the same uniforms in the same order, and
    # xi_hat > 1/2 exactly when xi = 1; at a tiny temperature the masks are 0/1.
    model = tiny_model("discrete", n=4).eval()
    with torch.no_grad():
        for block in model.stages:
            for head in block.halting_heads:
                head.bias.fill_(0.0)
    x = torch.randn(2, 3, 8, 8)
    torch.manual_seed(11)
    discrete = model(x)
    model.settings = model.settings.replace(temperature=1e-4)
    model.halting = "relaxed"
    torch.manual_seed(11)
    relaxed = model(x)
    for a, b in zip(discrete.executed, relaxed.executed, strict=True):
        assert torch.equal(a, b)
    assert any(bool((e < 4).any()) for e in discrete.executed)
    torch.testing.assert_close(relaxed.logits, discrete.logits)
    assert torch.equal(relaxed.flops, discrete.flops)
