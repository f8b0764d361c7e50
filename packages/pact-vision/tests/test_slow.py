from __future__ import annotations

import json
from pathlib import Path

import pytest

from pact_vision import train
from pact_vision.datasets import FASHION_MNIST_DIR


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs dataset-fashion-mnist")
def test_short_fashion_mnist_run_learns(tmp_path: Path) -> None:
    common = ["--arch", "resnet8", "--data", "fashion-mnist", "--batch-size", "64"]
    common += ["--eval-limit", "1000", "--no-progress", "--log-every", "50"]
    assert train.main([*common, "--steps", "300", "--out", str(tmp_path / "dense")]) == 0
    init = str(tmp_path / "dense" / "checkpoint.pt")
    argv = [*common, "--mode", "relaxed", "--tau", "0.01", "--steps", "100", "--init", init]
    assert train.main([*argv, "--out", str(tmp_path / "psact")]) == 0
    for run, floor in (("dense", 0.6), ("psact", 0.6)):
        lines = [json.loads(line) for line in (tmp_path / run / "log.jsonl").open()]
        evals = [line for line in lines if line["event"] == "eval"]
        assert evals[-1]["test_accuracy"] > floor, (run, evals[-1])
