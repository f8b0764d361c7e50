"""Issue 14's findings on pact-seq: each test is named after the finding it covers.

1. a finished run overwritten without ``--resume``; 2. silent NaN models; 3. output
paths checked too late; 4. a checkpoint of the other package; 5. inconsistent rules
between the trainers; 6. orphaned temporary checkpoints. Every run here is a tiny
parity model trained for a few steps.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from pact_core.runs import checkpoint_header, load_checkpoint
from pact_seq import evaluate, train
from pact_seq.parity import ParityTask
from pact_seq.task import Batch

TINY = ["--bits", "4", "--hidden-size", "8", "--batch-size", "8", "--max-iterations", "3"]
TINY += ["--eval-samples", "16", "--log-every", "1", "--checkpoint-every", "1", "--quiet"]
TINY += ["--threads", "1"]


def run_train(out: Path | str, *extra: str) -> int:
    return train.main(["--out", str(out), *TINY, *extra])


def fingerprint(directory: Path) -> dict[str, tuple[int, int, str]]:
    """Size, modification time and SHA-256 of every file under ``directory``."""
    return {
        str(p.relative_to(directory)): (
            p.stat().st_size,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line on stderr, checked to be one line without a traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return err.strip()


def strict(text: str) -> object:
    """``text`` parsed as strict JSON: ``NaN`` and ``Infinity`` fail the test."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON: {name}"))


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert run_train(out, "--model", "pact", "--tau", "0.01", "--steps", "2") == 0
    return out


def vision_checkpoint(path: Path) -> Path:
    """A checkpoint that says it is a pact-vision one, as ``pact_vision.train`` writes."""
    header = checkpoint_header("pact-vision", 2, {"arch": "resnet8"}, [1, 28, 28])
    torch.save({**header, "model": {}, "model_config": {}, "step": 1}, path)
    return path


def test_finding_1_seq_refuses_to_overwrite_a_run(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(finished_run)
    assert run_train(finished_run, "--model", "pact", "--tau", "0.01", "--steps", "3") == 2
    assert "already holds a run (checkpoint.pt, log.jsonl, summary.json)" in one_line(capsys)
    assert fingerprint(finished_run) == before
    assert run_train(finished_run, "--model", "plain", "--steps", "3", "--overwrite") == 0
    assert strict((finished_run / "summary.json").read_text())["method"] == "fixed"  # type: ignore[index]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "pact", "--tau", "inf"], "argument --tau: must be a finite number >= 0"),
        (["--model", "act", "--halting-bias", "nan"], "argument --halting-bias: must be a finite"),
        (
            ["--model", "pact", "--lr", "inf"],
            "argument --lr: must be a finite number in (0, 1e+30]",
        ),
    ],
)
def test_finding_2_seq_refuses_non_finite_settings_before_training(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run_train(out, *extra, "--steps", "2") == 2
    assert message in one_line(capsys)
    assert not out.exists()  # refused before the run directory or a model


def test_finding_2_seq_divergence_stops_with_the_last_good_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loss that stops being finite at step 3 ends the run with the step-2 checkpoint.

    The third training batch carries a NaN, so the loss and then the weights stop being
    finite whatever the machine. (A learning rate of 1e30 was the first trigger tried:
    whether Adam's steps overflow within 50 steps depends on the CPU's kernels, so the
    test did not fail reliably.) The guard checks every step here (``--log-every 1``).
    """
    sample = ParityTask.sample
    calls = 0

    def corrupt_third(self: ParityTask, batch_size: int, generator: torch.Generator) -> Batch:
        nonlocal calls
        batch = sample(self, batch_size, generator)
        if batch_size == 8:  # TINY's training batches, not the trainer's probe of one
            calls += 1
            if calls == 3:
                batch.x[0, 0, 0] = float("nan")
        return batch

    monkeypatch.setattr(ParityTask, "sample", corrupt_third)
    out = tmp_path / "run"
    assert run_train(out, "--model", "pact", "--steps", "50") == 1
    err = one_line(capsys)
    assert err == "pact_seq.train: error: the run diverged at step 3: the loss is not finite"
    step, reason = 3, "the loss is not finite"
    log = [strict(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1] == {"event": "diverged", "step": step, "reason": reason}
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["step"] == step - 1  # checkpoints every step: the last good one
    for name, value in checkpoint["model"].items():
        assert torch.isfinite(value).all(), name
    assert not (out / "summary.json").exists()  # no summary of a NaN model


def test_finding_3_seq_out_that_is_a_file_is_refused_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("keep me")
    assert run_train(target, "--model", "plain", "--steps", "2") == 2
    assert f"--out {target} exists and is not a directory" in one_line(capsys)
    assert run_train(target / "run", "--model", "plain", "--steps", "2") == 2
    assert f"--out {target / 'run'} cannot be created" in one_line(capsys)
    assert target.read_text() == "keep me"


def test_finding_4_a_vision_checkpoint_given_to_seq_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    checkpoint = vision_checkpoint(out / "checkpoint.pt")
    before = fingerprint(out)
    assert run_train(out, "--model", "pact", "--steps", "2", "--resume") == 1
    assert f"{checkpoint} is a pact-vision checkpoint, not a pact-seq one" in one_line(capsys)
    assert evaluate.main(["--checkpoint", str(checkpoint)]) == 1
    assert f"{checkpoint} is a pact-vision checkpoint, not a pact-seq one" in one_line(capsys)
    assert fingerprint(out) == before


def test_finding_5_seq_temperature_inf_is_refused_like_vision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_train(tmp_path / "run", "--model", "pact", "--temperature", "inf") == 2
    assert one_line(capsys) == (
        "pact_seq.train: error: argument --temperature: must be a finite number > 0, got 'inf'"
    )


def test_finding_5_seq_resume_refuses_a_changed_tau(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(finished_run)
    assert run_train(finished_run, "--model", "pact", "--tau", "0.02", "--resume") == 2
    err = one_line(capsys)
    assert "the checkpoint was trained with other settings (halting.tau: 0.01 -> 0.02)" in err
    assert fingerprint(finished_run) == before
    # --steps is documented as safe to change.
    extra = ("--model", "pact", "--tau", "0.01", "--steps", "3", "--resume")
    assert run_train(finished_run, *extra) == 0
    assert load_checkpoint(finished_run / "checkpoint.pt")["step"] == 3


def test_finding_5_seq_out_empty_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_train("", "--model", "plain", "--steps", "2") == 2
    assert "--out must name a directory, got ''" in one_line(capsys)
    assert not list(tmp_path.iterdir())  # nothing written into the current directory


def test_finding_6_seq_orphaned_temporary_files_are_removed_at_start(finished_run: Path) -> None:
    orphans = [
        finished_run / ".checkpoint.pt.k1ll3d.tmp",
        finished_run / ".summary.json.x.tmp",
        finished_run / ".log.jsonl.y.tmp",
    ]
    for orphan in orphans:
        orphan.write_bytes(b"half a file")
    extra = ("--model", "pact", "--tau", "0.01", "--steps", "3", "--resume")
    assert run_train(finished_run, *extra) == 0
    assert not any(orphan.exists() for orphan in orphans)
    names = sorted(p.name for p in finished_run.iterdir())
    assert names == ["checkpoint.pt", "log.jsonl", "summary.json"]
