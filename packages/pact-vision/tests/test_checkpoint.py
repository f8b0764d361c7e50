from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import tiny_model

from pact_core import HaltingSettings
from pact_vision import AdaptiveResNet, resnet
from pact_vision.checkpoint import (
    CheckpointError,
    build_model,
    load_backbone,
    load_checkpoint,
    model_config,
    save_checkpoint,
)


def test_save_is_atomic_and_round_trips(tmp_path: Path) -> None:
    model = tiny_model("relaxed", n=2, group=2)
    path = tmp_path / "sub" / "c.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model_config(model)})
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # no temporary left
    payload = load_checkpoint(path)
    rebuilt = build_model(payload["model_config"])
    rebuilt.load_state_dict(payload["model"])
    assert rebuilt.settings == model.settings
    assert rebuilt.group == 2
    x = torch.randn(2, 3, 8, 8)
    model.eval()
    rebuilt.eval()
    model.halting = rebuilt.halting = "thresholded"
    torch.testing.assert_close(model(x).logits, rebuilt(x).logits)


def test_failed_save_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": {}, "model_config": {}, "step": 1})

    class Unpicklable:
        def __reduce__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(path, {"model": {}, "model_config": {}, "bad": Unpicklable()})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_dense_checkpoint_loads_into_psact_and_leaves_heads_new() -> None:
    torch.manual_seed(5)
    dense = resnet(2, "fixed", widths=(4, 8, 8))
    with torch.no_grad():
        for p in dense.parameters():
            p.add_(1.0)  # differ from any fresh initialisation
    psact = resnet(2, "pact", widths=(4, 8, 8))
    left = load_backbone(psact, dense.state_dict())
    assert left
    assert all(".heads." in k for k in left)
    own = psact.state_dict()
    for key, value in dense.state_dict().items():
        assert torch.equal(own[key], value)
    for head in psact.stages[0].halting_heads:
        assert torch.all(head.bias == -3.0)
        assert torch.all(head.local.weight == 0)


def test_backbone_that_does_not_fit_is_reported() -> None:
    small = resnet(2, "fixed", widths=(4, 8, 8))
    other_depth = resnet(3, widths=(4, 8, 8))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_backbone(other_depth, small.state_dict())
    other_width = resnet(2, widths=(4, 8, 16))
    with pytest.raises(CheckpointError, match="shape"):
        load_backbone(other_width, small.state_dict())


def test_missing_or_foreign_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a pact-vision checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


@pytest.mark.parametrize(
    ("mode", "halting", "method"),
    [("relaxed", True, "pact"), ("thresholded", True, "pact"), ("act", True, "act"),
     ("dense", False, "fixed")],
)  # fmt: skip
def test_a_checkpoint_from_before_the_engine_loads(
    tmp_path: Path, mode: str, halting: bool, method: str
) -> None:
    # The flat model_config of pact-vision before the halting engine (commit 7d3a1bd):
    # such checkpoints failed with "bad model_config in checkpoint: 'settings'".
    torch.manual_seed(0)
    constants = {"temperature": 0.5, "delta": 0.02, "eps": 0.03, "threshold": 0.4}
    settings = HaltingSettings(method, max_iterations=2, **constants)  # type: ignore[arg-type]
    model = AdaptiveResNet(settings, widths=(4, 8, 8))
    flat = {"units_per_block": 2, "num_classes": model.num_classes, "in_channels": 3,
            "widths": list(model.widths), "halting": halting, "mode": mode, "group": 1,
            **constants}  # fmt: skip
    path = tmp_path / "old.pt"
    torch.save({"model": model.state_dict(), "model_config": flat, "step": 7}, path)
    rebuilt = build_model(load_checkpoint(path)["model_config"])
    rebuilt.load_state_dict(torch.load(path, weights_only=False)["model"])
    assert rebuilt.settings == settings
    x = torch.randn(2, 3, 8, 8)
    model.eval()
    rebuilt.eval()
    torch.testing.assert_close(model(x).logits, rebuilt(x).logits)
