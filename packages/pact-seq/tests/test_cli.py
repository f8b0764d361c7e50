from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import pact_seq.train as train_module
from pact_core.runs import load_checkpoint
from pact_seq import evaluate, train

TINY = ["--bits", "6", "--hidden-size", "8", "--batch-size", "8", "--max-ponder", "4"]
TINY += ["--eval-samples", "64", "--log-every", "5", "--checkpoint-every", "10", "--quiet"]


def run_train(out: Path, *extra: str) -> int:
    return train.main(["--out", str(out), *TINY, *extra])


def read_log(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("model", "extra"),
    [("pact", []), ("act", ["--tau", "1e-2"]), ("repeat", ["--repeats", "3"]), ("plain", [])],
)
def test_parity_train_then_evaluate(tmp_path: Path, model: str, extra: list[str]) -> None:
    out = tmp_path / model
    assert run_train(out, "--model", model, "--steps", "20", *extra) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("task", "model", "tau", "repeats", "steps", "seed", "steps_to_solve"):
        assert key in summary
    assert summary["task"] == "parity"
    assert summary["model"] == model
    assert summary["steps"] == 20
    assert 0.0 <= summary["accuracy"] <= 1.0
    assert summary["mean_ponder"] >= 1.0
    if model == "pact":
        assert summary["eval_mode"] == "thresholded"
        assert set(summary["evaluations"]) == {"discrete", "thresholded", "relaxed"}
        assert summary["repeats"] is None
    if model == "repeat":
        assert summary["repeats"] == 3
        assert summary["tau"] is None
        assert summary["mean_ponder"] == 3.0
    log = read_log(out)
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    for record in log:
        assert {"accuracy", "ponder", "loss", "steps_per_s"} <= set(record)


def test_evaluate_cli_in_every_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run_train(out, "--model", "pact", "--steps", "10") == 0
    capsys.readouterr()
    checkpoint = str(out / "checkpoint.pt")
    results = {}
    for mode in ("discrete", "thresholded", "relaxed", "act"):
        assert evaluate.main(["--checkpoint", checkpoint, "--mode", mode, "--samples", "50"]) == 0
        results[mode] = json.loads(capsys.readouterr().out)
        assert results[mode]["eval_mode"] == mode
        assert results[mode]["samples"] == 50
    summary = json.loads((out / "summary.json").read_text())
    full = evaluate.main(["--checkpoint", checkpoint, "--samples", "64"])
    assert full == 0
    default = json.loads(capsys.readouterr().out)
    assert default["accuracy"] == summary["accuracy"]  # same weights, same fresh samples
    for mode in ("discrete", "thresholded", "relaxed", "act"):  # the masked loop agrees
        argv = ["--checkpoint", checkpoint, "--mode", mode, "--samples", "50", "--no-compact"]
        assert evaluate.main(argv) == 0
        compact = json.loads(capsys.readouterr().out)
        assert compact["accuracy"] == results[mode]["accuracy"]
        assert compact["mean_ponder"] == results[mode]["mean_ponder"]


def test_addition_train_reports_digit_accuracy(tmp_path: Path) -> None:
    out = tmp_path / "add"
    args = ["--task", "addition", "--model", "act", "--numbers", "3", "--digits", "2"]
    assert run_train(out, *args, "--steps", "10") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["digit_accuracy"] <= 1.0
    assert summary["accuracy"] <= summary["digit_accuracy"]
    assert summary["config"]["cell"] == "lstm"


def assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    opt_a, opt_b = a["optimizer"]["state"], b["optimizer"]["state"]
    for index in opt_a:
        for name, value in opt_a[index].items():
            assert torch.equal(value, opt_b[index][name]), (index, name)
    if a["baseline"] is not None:
        for key in a["baseline"]:
            assert torch.equal(a["baseline"][key], b["baseline"][key])
    for key in a["rng"]:
        assert torch.equal(a["rng"][key], b["rng"][key]), key
    assert a["step"] == b["step"]


@pytest.mark.parametrize("model", ["pact-reinforce", "pact", "act"])
def test_resume_gives_the_same_final_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    args = ["--model", model, "--steps", "30", "--seed", "3"]
    assert run_train(tmp_path / "straight", *args) == 0

    real_step = train_module.train_step
    calls = {"n": 0}

    def crashing_step(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 24:  # after the checkpoint at step 20
            raise KeyboardInterrupt
        return real_step(*a, **k)

    monkeypatch.setattr(train_module, "train_step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        run_train(tmp_path / "resumed", *args)
    monkeypatch.setattr(train_module, "train_step", real_step)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 20
    assert len(read_log(tmp_path / "resumed")) == 4  # steps 5..20, not yet trimmed
    assert run_train(tmp_path / "resumed", *args, "--resume") == 0

    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert_same_state(straight, resumed)
    keys = ("step", "accuracy", "ponder", "cost", "loss")
    log_a, log_b = read_log(tmp_path / "straight"), read_log(tmp_path / "resumed")
    assert [[r[k] for k in keys] for r in log_a] == [[r[k] for k in keys] for r in log_b]


def test_resume_can_extend_a_finished_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_train(out, "--model", "plain", "--steps", "10") == 0
    assert run_train(out, "--model", "plain", "--steps", "15", "--resume") == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 15
    assert [r["step"] for r in read_log(out)] == [5, 10, 15]


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_train(out, "--model", "plain", "--steps", "10") == 0
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "log.jsonl", "summary.json"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "invalid choice"),
        (["--model", "act", "--tau", "0"], "--tau must be > 0"),
        (["--model", "act", "--tau", "-1"], "--tau must be > 0"),
        (["--model", "repeat", "--repeats", "0"], "--repeats must be >= 1"),
        (["--model", "plain", "--repeats", "2"], "plain model"),
        (["--model", "act", "--bits", "0"], "--bits must be >= 1"),
        (["--model", "act", "--device", "cuda:7"] if not torch.cuda.is_available() else [], "CUDA"),
        (["--model", "repeat", "--eval-mode", "discrete"], "no halting"),
        (["--task", "sorting", "--model", "act"], "invalid choice"),
        (["--model", "act", "--steps", "0"], "--steps must be >= 1"),
        (["--model", "act", "--tau", "abc"], "invalid float"),
        ([], "required"),
    ],
)
def test_bad_train_arguments_give_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    if not args and message == "CUDA":
        pytest.skip("CUDA is available")
    code = train.main([*args, "--out", str(tmp_path / "x")] if args else args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith("pact_seq.train: error:")
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_existing_run_needs_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run_train(out, "--model", "plain", "--steps", "5") == 0
    assert run_train(out, "--model", "plain", "--steps", "5") == 2
    assert "--resume" in capsys.readouterr().err
    assert run_train(out, "--model", "act", "--steps", "5", "--resume") == 2
    assert "other settings (model" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint", "/nonexistent/checkpoint.pt"], "checkpoint not found"),
        (["--checkpoint", "x", "--mode", "sideways"], "invalid choice"),
        (["--mode", "discrete"], "required"),
    ],
)
def test_bad_evaluate_arguments_give_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert evaluate.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("pact_seq.evaluate: error:")
    assert message in err


def test_evaluate_rejects_a_mode_for_repeat_and_a_corrupt_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run_train(out, "--model", "repeat", "--steps", "5") == 0
    code = evaluate.main(["--checkpoint", str(out / "checkpoint.pt"), "--mode", "relaxed"])
    assert code == 2
    assert "no halting" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint\n")
    assert evaluate.main(["--checkpoint", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot load checkpoint" in err


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ["pact_seq.train", "--model", "act", "--tau", "0", "--out", "x"],
            "pact_seq.train: error: --tau must be > 0, got 0.0\n",
        ),
        (
            ["pact_seq.evaluate", "--checkpoint", "missing.pt"],
            "pact_seq.evaluate: error: checkpoint not found: missing.pt\n",
        ),
    ],
)
def test_python_dash_m_error_is_exactly_one_line(
    tmp_path: Path, args: list[str], stderr: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 2
    assert result.stderr == stderr  # no traceback, no runpy warning


def test_resume_from_a_corrupt_checkpoint_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    assert run_train(out, "--model", "plain", "--steps", "5", "--resume") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot resume" in err
    assert "unreadable" in err


def test_stop_when_solved_ends_early_with_the_full_runs_steps_to_solve(tmp_path: Path) -> None:
    quick = ["--model", "repeat", "--repeats", "2", "--bits", "3", "--hidden-size", "16"]
    quick += ["--batch-size", "32", "--log-every", "2", "--checkpoint-every", "100"]
    quick += ["--eval-samples", "64", "--quiet", "--steps", "700"]
    assert train.main(["--out", str(tmp_path / "full"), *quick]) == 0
    assert train.main(["--out", str(tmp_path / "early"), *quick, "--stop-when-solved"]) == 0
    full = json.loads((tmp_path / "full" / "summary.json").read_text())
    early = json.loads((tmp_path / "early" / "summary.json").read_text())
    assert full["steps_to_solve"] is not None and not full["stopped_when_solved"]
    assert early["stopped_when_solved"]
    assert early["steps_to_solve"] == full["steps_to_solve"]
    # it stops at the first log point where the solve is settled: 35 log points later
    assert early["steps"] == full["steps_to_solve"] + 35 * 2 < 700
    assert load_checkpoint(tmp_path / "early" / "checkpoint.pt")["step"] == early["steps"]
    # resuming a stopped run with the flag trains no further
    out = str(tmp_path / "early")
    assert train.main(["--out", out, *quick, "--stop-when-solved", "--resume"]) == 0
    assert json.loads((tmp_path / "early" / "summary.json").read_text())["steps"] == early["steps"]
