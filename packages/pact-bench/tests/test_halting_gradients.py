"""``pact_bench.halting_gradients``: the halting bias's task and penalty gradients."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pact_bench.halting_gradients import halting_gradients, main
from pact_seq import TrainConfig, build_model, build_task
from pact_seq.train import main as train_main

TINY = ["--task", "parity", "--bits", "4", "--hidden-size", "8", "--batch-size", "16",
        "--max-iterations", "4", "--steps", "4", "--log-every", "2", "--eval-samples", "16",
        "--threads", "1", "--quiet"]  # fmt: skip


def _act_model() -> tuple[torch.nn.Module, TrainConfig]:
    config = TrainConfig.from_dict({"task": "parity", "bits": 4, "hidden_size": 8,
                                    "batch_size": 16, "halting": {"method": "act",
                                    "max_iterations": 4, "tau": 0.01}})  # fmt: skip
    torch.manual_seed(0)
    return build_model(config, build_task(config)), config


def test_the_penalty_part_is_linear_in_tau_and_asks_for_fewer_steps() -> None:
    model, config = _act_model()
    task = build_task(config)
    once = halting_gradients(model, task, config, tau=0.01, batches=3)
    twice = halting_gradients(model, task, config, tau=0.02, batches=3)
    none = halting_gradients(model, task, config, tau=0.0, batches=3)
    # The same batches and noise: the task part does not depend on tau.
    assert twice.task_mean == once.task_mean and none.task_mean == once.task_mean
    assert twice.penalty_mean == pytest.approx(2 * once.penalty_mean, rel=1e-6)
    assert none.penalty_mean == 0.0 and none.penalty_sd == 0.0
    # ACT's cost N + R falls as the bias (and every h) rises: a negative gradient.
    assert once.penalty_mean < 0
    assert 1.0 <= once.ponder <= 4.0 and once.batches == 3


def test_a_model_without_halting_is_refused() -> None:
    halting = {"method": "fixed", "max_iterations": 2}
    config = TrainConfig.from_dict({"task": "parity", "bits": 4, "halting": halting})
    model = build_model(config, build_task(config))
    with pytest.raises(ValueError, match="no halting head"):
        halting_gradients(model, build_task(config), config, tau=0.01, batches=2)


def test_the_command_reads_a_run_and_prints_both_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "act"
    assert train_main([*TINY, "--model", "act", "--tau", "0.01", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["--checkpoint", str(run), "--batches", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("act on parity, at step 4, tau=0.01, 3 batches of 16")
    assert "| task loss | " in out and "| penalty tau * cost | -" in out
    assert main(["--checkpoint", str(run), "--batches", "3", "--initial", "--tau", "0"]) == 0
    out = capsys.readouterr().out
    assert "as initialised, tau=0," in out and "| penalty tau * cost | +0.00e+00 |" in out
    repeat = tmp_path / "repeat"
    assert train_main([*TINY, "--model", "repeat", "--out", str(repeat)]) == 0
    capsys.readouterr()
    assert main(["--checkpoint", str(repeat)]) == 2
    assert "no halting head" in capsys.readouterr().err
