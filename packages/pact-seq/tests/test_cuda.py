"""pact-seq on a CUDA device: compaction equals the masked loop (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from pact_core import HaltingSettings
from pact_seq import parity_model

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_compact_equals_early_exit_on_cuda() -> None:
    torch.manual_seed(0)
    model = parity_model(HaltingSettings("act", max_iterations=10, halting_bias=0.0), bits=8,
                         hidden_size=16).cuda().eval()  # fmt: skip
    x = torch.randn(64, 1, 8, device="cuda")
    with torch.no_grad():
        model.execution = "early-exit"
        masked = model(x)
        model.execution = "compact"
        compact = model(x)
    assert torch.equal(masked.recurrent.iterations, compact.recurrent.iterations)
    torch.testing.assert_close(masked.logits, compact.logits, atol=1e-5, rtol=1e-4)
