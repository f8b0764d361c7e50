"""Checkpoints load back into the model that wrote them, those of earlier releases too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pact_core import HaltingSettings, WarmUp
from pact_core.runs import RunError
from pact_seq.config import TrainConfig, build_model, build_task
from pact_seq.evaluation import load_model

TINY = {"bits": 4, "hidden_size": 8, "batch_size": 8}


def _pre_engine(model: str, **extra: Any) -> dict[str, Any]:
    """The flat configuration pact-seq wrote before the halting engine (format 1)."""
    return {
        "task": "parity", "model": model, "tau": 0.01, "repeats": 1, "steps": 200,
        "seed": 0, "cell": "rnn", "hidden_size": 8, "batch_size": 8, "lr": 0.001,
        "max_ponder": 7, "bits": 4, "random_positions": False, "numbers": 5, "digits": 5,
        "temperature": 2 / 3, "eps": 0.01, "delta": 0.01, "halting_bias": 1.0,
        "baseline_decay": 0.99, "log_every": 10, "checkpoint_every": 50,
        "eval_samples": 100, "eval_mode": None, "init": "tf", "stop_when_solved": False,
        "penalty_reduction": "mean", "warmup_steps": 0, "ramp_steps": 0,
        "warmup_freeze": True, "warmup_max_ponder": None, **extra,
    }  # fmt: skip


def _save(path: Path, config: dict[str, Any], halting: HaltingSettings) -> dict[str, Any]:
    torch.manual_seed(1)
    reference = TrainConfig(task="parity", halting=halting, **TINY)  # type: ignore[arg-type]
    weights = build_model(reference, build_task(reference)).state_dict()
    torch.save({"format": "pact-seq/1", "config": config, "step": 200, "model": weights}, path)
    return weights


def test_a_pre_engine_act_checkpoint_loads_with_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    config = _pre_engine("act", warmup_steps=100, ramp_steps=50, warmup_max_ponder=3)
    weights = _save(path, config, HaltingSettings("act", max_iterations=7))
    loaded, model = load_model(path, torch.device("cpu"))
    assert loaded.halting == HaltingSettings("act", max_iterations=7, tau=0.01, halting_bias=1.0)
    assert loaded.warmup == WarmUp(steps=100, ramp_steps=50, max_iterations=3)
    assert (loaded.bits, loaded.hidden_size, loaded.steps) == (4, 8, 200)
    for name, value in model.state_dict().items():
        assert torch.equal(value, weights[name]), name


@pytest.mark.parametrize(("model", "repeats", "cap"), [("repeat", 3, 3), ("plain", 1, 1)])
def test_pre_engine_fixed_models_keep_their_depth(
    tmp_path: Path, model: str, repeats: int, cap: int
) -> None:
    path = tmp_path / "checkpoint.pt"
    _save(path, _pre_engine(model, repeats=repeats), HaltingSettings("fixed", max_iterations=cap))
    loaded, _ = load_model(path, torch.device("cpu"))
    assert loaded.halting.method == "fixed" and loaded.halting.max_iterations == cap


def test_a_file_without_a_config_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": "something else", "model": {}}, path)
    with pytest.raises(RunError, match="is not a pact-seq checkpoint") as error:
        load_model(path, torch.device("cpu"))
    assert "\n" not in str(error.value)
