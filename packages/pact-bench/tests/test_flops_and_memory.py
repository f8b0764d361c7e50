from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from pact_bench.flops import cell_step_flops, dense_flops, main
from pact_bench.halting_maps import set_controlled_halting
from pact_bench.memory import measure_peak_memory
from pact_core import Halting
from pact_vision import resnet


def test_flops_cli_prints_the_dense_resnet110_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--arch", "resnet110"]) == 0
    assert capsys.readouterr().out.strip() == "505775360"


def test_flops_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--arch", "resnet20", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["arch"] == "resnet20" and payload["halting"] == "fixed"
    model = resnet(3, "fixed").eval()
    assert payload["flops"] == dense_flops(model, torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--arch", "resnet33"], "resnet33"),
        (["--arch", "resnet32", "--halting", "soft"], "argument --halting/--mode: invalid choice"),
        (["--arch", "resnet32", "--halting", "act"], "give --checkpoint"),
    ],
)
def test_flops_cli_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_cell_step_flops_counts_the_matmuls() -> None:
    cell = nn.RNNCell(9, 16)
    head = nn.Linear(16, 1)
    expected = 2 * (9 * 16 + 16 * 16) + 2 * 16
    assert cell_step_flops(cell, head, 16) == expected
    lstm = nn.LSTMCell(9, 16)
    assert cell_step_flops(lstm, None, 32) == 2 * 4 * (9 * 16 + 16 * 16)


@pytest.mark.parametrize("units", [1, 2, 3])
@pytest.mark.parametrize("halting", ["thresholded", "act"])
def test_controlled_halting_runs_exactly_k_units(units: int, halting: Halting) -> None:
    model = resnet(3, halting=halting).eval()
    set_controlled_halting(model, units)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    for executed in out.executed:
        assert torch.all(executed == units)
    with pytest.raises(ValueError, match=r"units must be in 1\.\.3"):
        set_controlled_halting(model, 4)


def test_peak_memory_sees_the_largest_live_set() -> None:
    # Compared with one tensor measured the same way in the same run, not with a byte
    # count: what the allocator adds to a request is the build's business.
    def one() -> float:
        return float(torch.empty(1_000_000)[0])  # 4 MB

    def work() -> float:
        a = torch.empty(1_000_000)  # 4 MB
        b = torch.empty(2_000_000)  # 8 MB: 3 units live, the peak
        del a
        c = torch.empty(500_000)  # 2 MB: 2.5 units live
        return float(b[0] + c[0])

    unit = measure_peak_memory(one, "cpu").bytes
    peak = measure_peak_memory(work, "cpu")
    assert peak.method == "cpu-profiler-allocations"
    assert unit >= 4_000_000
    # Not the sum of all three (3.5 units) nor what is live at the end (2.5 units).
    assert abs(peak.bytes - 3 * unit) <= 0.01 * unit, (peak.bytes, unit)
    assert measure_peak_memory(lambda: None, "cpu").bytes == 0
