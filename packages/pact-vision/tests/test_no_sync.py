"""The forward and backward passes never read a tensor on the host (no device sync)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_model
from torch.utils._python_dispatch import TorchDispatchMode

from pact_core import HALTINGS, Halting
from pact_vision.augment import augment

# .item(), bool(t), int(t), float(t) and data-dependent shapes all go through these.
SYNCING = {
    torch.ops.aten._local_scalar_dense.default,
    torch.ops.aten.is_nonzero.default,
    torch.ops.aten.nonzero.default,
    torch.ops.aten.masked_select.default,
}


class SyncDetector(TorchDispatchMode):
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
        if func in SYNCING:
            self.calls.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("mode", HALTINGS)
def test_training_step_has_no_host_sync(mode: Halting) -> None:
    model = tiny_model(mode, n=3, group=2)
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3])
    generator = torch.Generator().manual_seed(0)
    detector = SyncDetector()
    with detector:
        out = model(augment(images, generator))
        ce = F.cross_entropy(out.logits, labels, reduction="none")
        loss = ce.mean() + 0.01 * out.cost.mean()
        if out.log_prob is not None:
            loss = loss + ((ce.detach() - 1.0) * out.log_prob).mean()
        loss.backward()
        flops = out.flops.sum()
    assert detector.calls == []
    assert int(flops) > 0


def test_the_detector_sees_host_reads() -> None:
    x = torch.ones(3)
    detector = SyncDetector()
    with detector:
        x.sum().item()
        bool(x.any())
    assert len(detector.calls) == 2
