from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import pact_seq.trainer as trainer_module
from pact_core import HaltingSettings, WarmUp
from pact_core.runs import UsageError, load_checkpoint
from pact_seq import evaluate, train

TINY = ["--bits", "6", "--hidden-size", "8", "--batch-size", "8", "--max-ponder", "4"]
TINY += ["--eval-samples", "64", "--log-every", "5", "--checkpoint-every", "10", "--quiet"]


def run_train(out: Path, *extra: str) -> int:
    return train.main(["--out", str(out), *TINY, *extra])


def read_log(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("model", "extra", "method"),
    [
        ("pact", [], "pact"),
        ("act", ["--tau", "1e-2"], "act"),
        ("repeat", ["--repeats", "3"], "fixed"),
        ("plain", [], "fixed"),
    ],
)
def test_parity_train_then_evaluate(
    tmp_path: Path, model: str, extra: list[str], method: str
) -> None:
    out = tmp_path / model
    assert run_train(out, "--model", model, "--steps", "20", *extra) == 0
    summary = json.loads((out / "summary.json").read_text())
    keys = ("task", "method", "tau", "max_iterations", "steps", "seed", "steps_to_solve")
    for key in (*keys, "eval_halting", "collapse"):
        assert key in summary
    assert "model" not in summary and "repeats" not in summary and "eval_mode" not in summary
    assert summary["task"] == "parity"
    assert summary["method"] == method
    assert summary["config"]["halting"]["method"] == method
    assert summary["steps"] == 20
    assert 0.0 <= summary["accuracy"] <= 1.0
    assert summary["mean_ponder"] >= 1.0
    if model in ("pact", "act"):
        assert summary["max_iterations"] == 4
        assert summary["tau"] == 0.01  # the default, and --tau 1e-2
        assert summary["collapse"]["collapsed"] in (True, False)
    if model == "pact":
        assert summary["eval_halting"] == "thresholded"
        assert set(summary["evaluations"]) == {"discrete", "thresholded", "relaxed"}
    if model == "act":
        assert summary["eval_halting"] == "act"
        assert "evaluations" not in summary
    if model == "repeat":
        assert summary["max_iterations"] == 3
        assert summary["mean_ponder"] == 3.0
    if model == "plain":
        assert summary["max_iterations"] == 1
        assert summary["mean_ponder"] == 1.0
    if method == "fixed":
        assert summary["tau"] is None
        assert summary["eval_halting"] == "fixed"
        assert summary["collapse"] is None
    log = read_log(out)
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    for record in log:
        assert {"accuracy", "ponder", "loss", "steps_per_s", "tau"} <= set(record)
        assert ("halt_at_first" in record) == (method != "fixed")


def test_evaluate_cli_in_every_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run_train(out, "--model", "pact", "--steps", "10") == 0
    capsys.readouterr()
    checkpoint = str(out / "checkpoint.pt")
    results = {}
    for mode in ("discrete", "thresholded", "relaxed", "act"):
        assert (
            evaluate.main(["--checkpoint", checkpoint, "--halting", mode, "--samples", "50"]) == 0
        )
        results[mode] = json.loads(capsys.readouterr().out)
        assert results[mode]["eval_halting"] == mode
        assert results[mode]["method"] == "pact"
        assert results[mode]["samples"] == 50
    summary = json.loads((out / "summary.json").read_text())
    full = evaluate.main(["--checkpoint", checkpoint, "--samples", "64"])
    assert full == 0
    default = json.loads(capsys.readouterr().out)
    assert default["accuracy"] == summary["accuracy"]  # same weights, same fresh samples
    assert default["eval_halting"] == summary["eval_halting"] == "thresholded"
    for mode in ("discrete", "thresholded", "relaxed", "act"):  # the early-exit loop agrees
        argv = ["--checkpoint", checkpoint, "--mode", mode, "--samples", "50"]
        assert evaluate.main([*argv, "--execution", "early-exit"]) == 0
        early_exit = json.loads(capsys.readouterr().out)
        assert early_exit["eval_halting"] == mode
        assert early_exit["accuracy"] == results[mode]["accuracy"]
        assert early_exit["mean_ponder"] == results[mode]["mean_ponder"]


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

    real_step = trainer_module.train_step
    calls = {"n": 0}

    def crashing_step(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 24:  # after the checkpoint at step 20
            raise KeyboardInterrupt
        return real_step(*a, **k)

    monkeypatch.setattr(trainer_module, "train_step", crashing_step)
    assert run_train(tmp_path / "resumed", *args) == 130  # one line: "interrupted; ..."
    monkeypatch.setattr(trainer_module, "train_step", real_step)
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
        (["--model", "nope"], "argument --model: invalid choice: 'nope'"),
        (
            ["--model", "act", "--tau", "-1"],
            "argument --tau: must be a finite number >= 0, got '-1'",
        ),
        (
            ["--model", "act", "--tau", "nan"],
            "argument --tau: must be a finite number >= 0, got 'nan'",
        ),
        (
            ["--model", "act", "--tau", "abc"],
            "argument --tau: must be a finite number >= 0, got 'abc'",
        ),
        (
            ["--model", "pact", "--temperature", "0"],
            "argument --temperature: must be a finite number > 0, got '0'",
        ),
        (
            ["--model", "act", "--eps", "1"],
            "argument --eps: must be a finite number in (0, 1), got '1'",
        ),
        (
            ["--model", "pact", "--delta", "1"],
            "argument --delta: must be a finite number in [0, 1), got '1'",
        ),
        (
            ["--model", "pact", "--threshold", "2"],
            "argument --threshold: must be a finite number in [0, 1], got '2'",
        ),
        (
            ["--model", "pact", "--max-iterations", "0"],
            "argument --max-iterations/--max-ponder: must be an integer >= 1, got '0'",
        ),
        (
            ["--model", "pact", "--max-ponder", "2.5"],
            "argument --max-iterations/--max-ponder: must be an integer >= 1, got '2.5'",
        ),
        (
            ["--model", "repeat", "--repeats", "0"],
            "argument --repeats: must be an integer >= 1, got '0'",
        ),
        (
            ["--model", "plain", "--repeats", "2"],
            "the plain model runs each input once; got --repeats 2",
        ),
        (["--model", "act", "--repeats", "2"], "--repeats is for the repeat model, not 'act'"),
        (["--model", "act", "--bits", "0"], "argument --bits: must be an integer >= 1, got '0'"),
        (["--model", "act", "--device", "cuda:7"] if not torch.cuda.is_available() else [], "CUDA"),
        (
            ["--model", "repeat", "--eval-mode", "discrete"],
            "halting 'discrete' needs a halting head; the 'fixed' method runs fixed",
        ),
        (
            ["--model", "pact", "--eval-halting", "sideways"],
            "argument --eval-halting/--eval-mode: invalid choice: 'sideways'",
        ),
        (["--task", "sorting", "--model", "act"], "argument --task: invalid choice: 'sorting'"),
        (["--model", "act", "--steps", "0"], "argument --steps: must be an integer >= 1, got '0'"),
        (
            ["--model", "act", "--penalty-reduction", "median"],
            "argument --penalty-reduction: invalid choice: 'median'",
        ),
        (
            ["--model", "act", "--warmup-steps", "-1"],
            "argument --warmup-steps: must be an integer >= 0, got '-1'",
        ),
        (
            ["--model", "act", "--warmup-max-iterations", "0"],
            "argument --warmup-max-iterations/--warmup-max-ponder: must be an integer >= 1, "
            "got '0'",
        ),
        (
            ["--model", "pondernet", "--max-iterations", "3", "--lambda-p", "0.2"],
            "max_iterations=3 is too small for the geometric prior with lambda_p=0.2",
        ),
        (
            ["--model", "pondernet", "--lambda-p", "0"],
            "argument --lambda-p: must be a finite number in (0, 1], got '0'",
        ),
        (["--model", "pondernet", "--beta", "-1"], "argument --beta: must be a finite number >= 0"),
        ([], "the following arguments are required: --model, --out"),
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
    err = capsys.readouterr().err
    assert "the checkpoint was trained with other settings (" in err
    assert "halting.method: 'fixed' -> 'act'" in err
    assert "halting.max_iterations: 1 -> 4" in err


def test_a_missing_checkpoint_is_a_failed_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main(["--checkpoint", "/nonexistent/checkpoint.pt"]) == 1
    err = capsys.readouterr().err
    assert err == "pact_seq.evaluate: error: checkpoint /nonexistent/checkpoint.pt not found\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint", "x", "--mode", "sideways"], "argument --halting/--mode: invalid choice"),
        (
            ["--checkpoint", "x", "--halting", "sideways"],
            "argument --halting/--mode: invalid choice",
        ),
        (["--checkpoint", "x", "--execution", "sideways"], "argument --execution: invalid choice"),
        (["--checkpoint", "x", "--compact"], "unrecognized arguments: --compact"),
        (["--mode", "discrete"], "the following arguments are required: --checkpoint"),
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
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--halting: halting 'relaxed' needs a halting head; the 'fixed' method runs fixed" in err
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint\n")
    assert evaluate.main(["--checkpoint", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"checkpoint {bad} is unreadable" in err


@pytest.mark.parametrize(
    ("args", "status", "stderr"),
    [
        (
            ["pact_seq.train", "--model", "act", "--tau", "-1", "--out", "x"],
            2,
            "pact_seq.train: error: argument --tau: must be a finite number >= 0, got '-1'\n",
        ),
        (
            ["pact_seq.evaluate", "--checkpoint", "missing.pt"],
            1,
            "pact_seq.evaluate: error: checkpoint missing.pt not found\n",
        ),
    ],
)
def test_python_dash_m_error_is_exactly_one_line(
    tmp_path: Path, args: list[str], status: int, stderr: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == status
    assert result.stderr == stderr  # no traceback, no runpy warning


def test_resume_from_a_corrupt_checkpoint_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    assert run_train(out, "--model", "plain", "--steps", "5", "--resume") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "checkpoint.pt is unreadable" in err
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


def test_halting_flags_reach_the_config() -> None:
    argv = ["--model", "pact", "--out", "x", "--tau", "0", "--max-iterations", "7"]
    argv += ["--temperature", "0.5", "--delta", "0", "--eps", "0.1", "--threshold", "0.25"]
    argv += ["--halting-bias", "-2", "--eval-halting", "discrete", "--penalty-reduction", "sum"]
    argv += ["--warmup-steps", "100", "--ramp-steps", "50", "--no-warmup-freeze"]
    argv += ["--warmup-max-ponder", "3", "--warmup-recenter"]
    config, _ = train.parse_config(argv)
    assert config.halting == HaltingSettings(
        "pact",
        max_iterations=7,
        tau=0.0,  # allowed since tau >= 0: no penalty at all
        temperature=0.5,
        delta=0.0,
        eps=0.1,
        threshold=0.25,
        halting_bias=-2.0,
        eval_halting="discrete",
    )
    assert config.penalty_reduction == "sum"
    assert config.warmup == WarmUp(
        steps=100, ramp_steps=50, freeze_head=False, max_iterations=3, recenter=True
    )
    defaults, _ = train.parse_config(["--model", "act", "--out", "x"])
    assert defaults.halting == HaltingSettings("act", max_iterations=100)  # parity's cap
    assert defaults.penalty_reduction == "mean"
    assert defaults.warmup == WarmUp()
    repeat, _ = train.parse_config(["--model", "repeat", "--out", "x"])
    assert repeat.halting == HaltingSettings("fixed", max_iterations=2)
    addition, _ = train.parse_config(["--task", "addition", "--model", "act", "--out", "x"])
    assert addition.halting.max_iterations == 20


@pytest.mark.parametrize("model", ["fixed", "repeat"])
def test_the_depth_of_a_fixed_model_is_either_flag(model: str) -> None:
    # --max-iterations 4 once gave a 2-layer model silently (the default --repeats won).
    by_cap, _ = train.parse_config(["--model", model, "--max-iterations", "4", "--out", "x"])
    assert by_cap.halting == HaltingSettings("fixed", max_iterations=4)
    by_repeats, _ = train.parse_config(["--model", model, "--repeats", "3", "--out", "x"])
    assert by_repeats.halting.max_iterations == 3
    both, _ = train.parse_config(
        ["--model", model, "--repeats", "3", "--max-iterations", "5", "--out", "x"]
    )
    assert both.halting.max_iterations == 3  # --repeats, under a common cap
    with pytest.raises(UsageError, match="--repeats 5 exceeds --max-iterations 4"):
        train.parse_config(["--model", model, "--repeats", "5", "--max-iterations", "4",
                            "--out", "x"])  # fmt: skip


def test_zero_tau_trains_without_a_penalty(tmp_path: Path) -> None:
    out = tmp_path / "free"
    assert run_train(out, "--model", "act", "--tau", "0", "--steps", "10") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tau"] == 0.0
    assert all(r["tau"] == 0.0 for r in read_log(out))


def test_a_collapsed_run_says_so_in_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "collapsed"
    assert run_train(out, "--model", "act", "--halting-bias", "50", "--steps", "10") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["collapse"] == {"collapsed": True, "step": 5, "share": 0.99}
    assert summary["mean_ponder"] == 1.0
    assert [r["halt_at_first"] for r in read_log(out)] == [1.0, 1.0]


def test_evaluate_a_transformer_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default execution was "compact" for every model, which the Transformer refuses:
    # evaluating any Transformer checkpoint ended in a traceback.
    out = tmp_path / "ut"
    argv = ["--task", "prefix-parity", "--arch", "transformer", "--length", "4",
            "--hidden-size", "8", "--heads", "2", "--model", "act", "--max-iterations", "3",
            "--steps", "4", "--log-every", "2", "--eval-samples", "16", "--threads", "1",
            "--quiet", "--out", str(out)]  # fmt: skip
    assert train.main(argv) == 0
    capsys.readouterr()
    checkpoint = str(out / "checkpoint.pt")
    assert evaluate.main(["--checkpoint", checkpoint, "--samples", "16"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["ponder_by_position"]) == 4
    assert evaluate.main(["--checkpoint", checkpoint, "--execution", "compact"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--execution: execution 'compact' runs rows on their own" in err
