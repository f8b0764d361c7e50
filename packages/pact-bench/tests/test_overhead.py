"""The halting-overhead benchmark: its baselines are right, its knobs do what they say."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from pact_bench import overhead
from pact_core import HaltingSettings
from pact_seq import ParityTask, SequenceModel

SMALL = {"ks": (2,), "rounds": 1, "steps": 1, "warmup": 0}


def test_the_naive_act_loop_is_act() -> None:
    """The textbook loop the engine is compared with computes what pact's ACT computes."""
    torch.manual_seed(0)
    naive = overhead._NaiveACT(4)
    nn.init.constant_(naive.head.bias, 0.0)  # halt at varied steps, not never
    settings = HaltingSettings("act", max_iterations=4, eps=naive.eps)
    model = SequenceModel(overhead.BITS, 1, overhead.HIDDEN, settings, init="torch")
    model.recurrent.cell.load_state_dict(naive.cell.state_dict())
    head = model.recurrent.halting_head
    assert head is not None
    head.load_state_dict(naive.head.state_dict())
    model.readout.load_state_dict(naive.readout.state_dict())
    x = ParityTask(overhead.BITS).sample(16, torch.Generator().manual_seed(1)).x
    logits, cost = naive(x)
    out = model(x, halting="act")
    assert torch.allclose(out.logits[:, 0], logits, atol=1e-6)
    assert torch.allclose(out.recurrent.cost[:, 0], cost, atol=1e-6)
    assert len(set(cost.round(decimals=3).tolist())) > 1  # the halting did vary


def test_rows_are_relative_to_the_bare_cell_of_the_same_round() -> None:
    rows = overhead.measure_overhead(executions=("masked", "unrolled"), **SMALL)  # type: ignore[arg-type]
    train = [r for r in rows if r.mode == "train"]
    evaluation = [r for r in rows if r.mode == "eval"]
    assert len(train) == 2 + 3 * 2 and len(evaluation) == 2 + 4 * 2
    for part in (train, evaluation):
        bare, naive = part[0], part[1]
        assert bare.variant == "bare cell" and bare.overhead == 0.0
        assert naive.variant == "naive ACT loop" and naive.vs_naive == 1.0
    assert all(r.ms > 0 and r.overhead_low <= r.overhead <= r.overhead_high for r in rows)
    assert "pact relaxed (unrolled)" in {r.variant for r in train}


def test_compile_mode_compiles_every_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str | None] = []

    def fake_compile(function: Callable[..., Any], *, mode: str | None = None) -> Any:
        compiled.append(mode)
        return function

    monkeypatch.setattr(torch, "compile", fake_compile)
    rows = overhead.measure_overhead(
        executions=("masked",),
        modes=("train",),
        compile_mode="default",
        **SMALL,  # type: ignore[arg-type]
    )
    assert compiled == ["default"] * len(rows) == ["default"] * 5


def test_compile_refuses_executions_that_sync() -> None:
    with pytest.raises(ValueError, match=r"needs sync-free executions .* got compact"):
        overhead.measure_overhead(executions=("masked", "compact"), compile_mode="default")


def test_cli_writes_rows_and_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "overhead.json"
    argv = ["--k", "2", "--rounds", "1", "--steps", "1", "--warmup", "0", "--modes", "eval",
            "--executions", "masked", "--json", str(out)]  # fmt: skip
    assert overhead.main(argv) == 0
    record = json.loads(out.read_text())
    assert set(record) == {"rows", "machine", "settings"}
    assert [r["variant"] for r in record["rows"]][:2] == ["bare cell", "naive ACT loop"]
    assert "| 2 | eval | bare cell |" in capsys.readouterr().out


def test_cli_compile_with_a_syncing_execution_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert overhead.main(["--compile", "default", "--executions", "early-exit"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "pact_bench.overhead: error: --compile needs sync-free --executions (masked, "
        "unrolled); got early-exit"
    )
