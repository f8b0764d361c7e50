from __future__ import annotations

import json

import pytest
import torch

from pact_seq import benchmark
from pact_seq.config import TrainConfig
from pact_seq.train import Trainer


@pytest.mark.parametrize("model", ["act", "repeat", "plain"])
def test_measure_training_speed(model: str) -> None:
    config = TrainConfig(
        task="parity",
        model=model,  # type: ignore[arg-type]
        repeats=2 if model == "repeat" else 1,
        bits=6,
        hidden_size=8,
        batch_size=8,
        max_ponder=4,
    )
    result = benchmark.measure_training_speed(config, steps=5, warmup=2)
    assert result.steps == 5
    assert result.steps_per_s > 0
    assert result.plain_steps_per_s > 0
    if model == "repeat":
        assert result.cell_steps == result.mean_ponder == 2.0
    assert 1.0 <= result.mean_ponder <= result.cell_steps <= 4.0
    assert result.compact


def test_masked_loop_runs_every_row_for_every_loop_step() -> None:
    config = TrainConfig(task="parity", model="pact", bits=6, hidden_size=8, batch_size=8)
    result = benchmark.measure_training_speed(config, steps=3, warmup=1, compact=False)
    assert not result.compact
    assert result.mean_ponder <= result.cell_steps


def test_benchmark_cli(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--task", "parity", "--models", "pact", "plain", "--steps", "3", "--warmup", "1"]
    assert benchmark.main([*args, "--device", "cpu"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["model"] for line in lines] == ["pact", "plain"]
    assert "overhead" in lines[0]
    assert lines[0]["machine"]["threads"] == 1


def test_benchmark_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmark.main(["--steps", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_rounds_split_the_steps_and_leave_the_model_run_untouched() -> None:
    config = TrainConfig(task="parity", model="act", bits=6, hidden_size=8, batch_size=8)
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
    config = TrainConfig(task="parity", model="plain", bits=6, hidden_size=8, batch_size=8)
    with pytest.raises(ValueError, match="rounds >= 1"):
        benchmark.measure_training_speed(config, steps=3, rounds=0)
