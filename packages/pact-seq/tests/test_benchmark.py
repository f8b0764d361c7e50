from __future__ import annotations

import json
import re

import pytest
import torch

from pact_seq import benchmark
from pact_seq.config import TrainConfig, settings_for
from pact_seq.trainer import Trainer


def tiny(model: str, **fields: float | int) -> TrainConfig:
    repeats = 2 if model == "repeat" else None
    halting = settings_for(model, repeats=repeats, **fields)
    return TrainConfig(task="parity", halting=halting, bits=6, hidden_size=8, batch_size=8)


@pytest.mark.parametrize("model", ["act", "repeat", "plain"])
def test_measure_training_speed(model: str) -> None:
    config = tiny(model, max_iterations=4)
    result = benchmark.measure_training_speed(config, steps=5, warmup=2)
    assert result.steps == 5
    assert result.steps_per_s > 0
    assert result.plain_steps_per_s > 0
    assert result.model == config.halting.method
    assert result.max_iterations == {"act": 4, "repeat": 2, "plain": 1}[model]
    if model == "repeat":
        assert result.cell_steps == result.mean_ponder == 2.0
    if model == "plain":
        assert result.cell_steps == result.mean_ponder == 1.0
    assert 1.0 <= result.mean_ponder <= result.cell_steps <= 4.0
    assert result.execution == "compact"


@pytest.mark.parametrize("execution", ["early-exit", "masked"])
def test_uncompacted_loops_run_every_row_for_every_loop_step(execution: str) -> None:
    config = tiny("pact", max_iterations=5)
    result = benchmark.measure_training_speed(config, steps=3, warmup=1, execution=execution)
    assert result.execution == execution
    assert result.max_iterations == 5
    assert result.mean_ponder <= result.cell_steps
    if execution == "masked":  # no early exit: every timestep runs all L iterations
        assert result.cell_steps == 5.0


def test_benchmark_cli(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--task", "parity", "--models", "pact", "plain", "--steps", "3", "--warmup", "1"]
    assert benchmark.main([*args, "--device", "cpu"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["model"] for line in lines] == ["pact", "plain"]
    assert [line["execution"] for line in lines] == ["compact", "compact"]
    assert [line["max_iterations"] for line in lines] == [100, 1]
    assert "overhead" in lines[0]
    assert "compact" not in lines[0] and "repeats" not in lines[0]
    assert lines[0]["machine"]["threads"] == 1
    early = ["--models", "repeat", "--repeats", "2", "--steps", "2", "--warmup", "0"]
    assert benchmark.main([*early, "--execution", "early-exit", "--device", "cpu"]) == 0
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["model"] == "repeat"
    assert line["execution"] == "early-exit"
    assert line["max_iterations"] == line["cell_steps"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "argument --steps: must be an integer >= 1, got '0'"),
        (["--threads", "-2"], "argument --threads: must be an integer >= 1, got '-2'"),
        (["--execution", "sideways"], "argument --execution: invalid choice: 'sideways'"),
        (["--compact"], "unrecognized arguments: --compact"),
        (
            ["--models", "act", "--tau", "-1"],
            "argument --tau: must be a finite number >= 0, got '-1'",
        ),
    ],
)
def test_benchmark_bad_arguments(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert benchmark.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("pact_seq.benchmark: error:")
    assert message in err


def test_rounds_split_the_steps_and_leave_the_model_run_untouched() -> None:
    config = tiny("act", max_iterations=100)
    result = benchmark.measure_training_speed(config, steps=7, warmup=2, rounds=3)
    assert result.rounds == 3
    low, high = result.overhead_range
    assert low <= result.overhead <= high
    assert benchmark.measure_training_speed(config, steps=2, warmup=0, rounds=5).rounds == 2
    # The replay trains its own copy on its own batches: the model's steps are those of
    # an uninterrupted run.
    timed = Trainer.create(config, torch.device("cpu"))
    plain = Trainer.create(config, torch.device("cpu"))
    benchmark._time_model(timed, 3)
    benchmark._PlainReplay(timed).time([(2,), (1,)])
    benchmark._time_model(timed, 2)
    for _ in range(5):
        plain.train_once()
    for a, b in zip(timed.model.parameters(), plain.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_measure_training_speed_rejects_bad_counts() -> None:
    config = tiny("plain")
    message = "need steps >= 1, warmup >= 0 and rounds >= 1; got steps=3, warmup=20, rounds=0"
    with pytest.raises(ValueError, match=re.escape(message)):
        benchmark.measure_training_speed(config, steps=3, rounds=0)
