"""Issue 14's findings on pact-vision: each test is named after the finding it covers.

1. a finished run overwritten without ``--resume``; 2. silent NaN models; 3. output
paths checked too late; 4. mismatched checkpoints and data; 5. inconsistent rules
between the trainers; 6. orphaned temporary checkpoints. Every run here is a ResNet-8
on a tiny Fashion-MNIST written to disk, a step or two long.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from helpers import write_cifar, write_fashion

from pact_vision import evaluate, ponder_maps, train
from pact_vision.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def fashion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fashion(tmp_path_factory.mktemp("fashion"), train=16, test=8)


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar(root, per_batch=2)
    return root


def argv(data: Path, out: Path | str, *extra: str) -> list[str]:
    """A tiny run: ResNet-8 on the first 16 Fashion-MNIST images, batch 8, on the CPU."""
    return [
        "--arch", "resnet8", "--data", "fashion-mnist", "--data-dir", str(data),
        "--train-limit", "16", "--eval-limit", "8", "--batch-size", "8", "--device", "cpu",
        "--log-every", "1", "--no-progress", "--out", str(out), *extra,
    ]  # fmt: skip


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


@pytest.fixture
def finished_run(fashion: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert train.main(argv(fashion, out, "--steps", "2")) == 0
    return out


def test_finding_1_vision_refuses_to_overwrite_a_run(
    finished_run: Path, fashion: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    before = fingerprint(finished_run)
    assert set(before) == {"checkpoint.pt", "log.jsonl"}
    assert train.main(argv(fashion, finished_run, "--steps", "3")) == 2
    err = one_line(capsys)
    assert f"--out {finished_run} already holds a run (checkpoint.pt, log.jsonl)" in err
    assert "--resume" in err and "--overwrite" in err
    assert fingerprint(finished_run) == before  # byte-identical, not even touched


def test_finding_1_vision_overwrite_replaces_the_run(finished_run: Path, fashion: Path) -> None:
    assert train.main(argv(fashion, finished_run, "--steps", "3", "--overwrite")) == 0
    events = [json.loads(line)["event"] for line in (finished_run / "log.jsonl").open()]
    assert events.count("start") == 1  # a new log, not a second start appended
    assert load_checkpoint(finished_run / "checkpoint.pt")["step"] == 3


def test_finding_1_vision_refuses_an_unrelated_log_file_in_out(
    fashion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "log.jsonl").write_text("my own notes, not a training log\n")
    before = fingerprint(out)
    assert train.main(argv(fashion, out, "--steps", "1")) == 2
    assert "already holds a run (log.jsonl)" in one_line(capsys)
    assert fingerprint(out) == before


@pytest.mark.parametrize(
    ("flag", "value"), [("--lr", "inf"), ("--momentum", "nan"), ("--lr", "nan")]
)
def test_finding_2_vision_refuses_non_finite_settings_before_training(
    flag: str, value: str, fashion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert train.main(argv(fashion, out, "--steps", "1", flag, value)) == 2
    err = one_line(capsys)
    assert f"argument {flag}: must be a finite number" in err and f"got '{value}'" in err
    assert not out.exists()  # refused before the run directory, the data or a model


def test_finding_2_vision_divergence_stops_with_the_last_good_checkpoint(
    fashion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A learning rate of 1e30 is finite and allowed; the weights blow up after one step."""
    out = tmp_path / "run"
    extra = ("--steps", "6", "--checkpoint-every", "1", "--lr", "1e30")
    assert train.main(argv(fashion, out, *extra)) == 1
    err = one_line(capsys)
    assert err == "pact_vision.train: error: the run diverged at step 2: the loss is not finite"
    records = [json.loads(line) for line in (out / "log.jsonl").open()]
    assert records[-1]["event"] == "diverged" and records[-1]["step"] == 2
    assert records[-1]["reason"] == "the loss is not finite"
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["step"] == 1  # the last good one; nothing was saved after it
    for name, value in checkpoint["model"].items():
        assert torch.isfinite(value.float()).all(), name
    assert "NaN" not in (out / "log.jsonl").read_text()
    assert "Infinity" not in (out / "log.jsonl").read_text()


def test_finding_3_vision_out_that_is_a_file_is_refused_before_work(
    fashion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("keep me")
    assert train.main(argv(fashion, target, "--steps", "1")) == 2
    assert f"--out {target} exists and is not a directory" in one_line(capsys)
    assert train.main(argv(fashion, target / "run", "--steps", "1")) == 2
    assert f"--out {target / 'run'} cannot be created" in one_line(capsys)
    assert target.read_text() == "keep me"


def test_finding_3_evaluate_and_ponder_maps_check_outputs_before_work(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    checkpoint = str(finished_run / "checkpoint.pt")
    # A --json that cannot be written fails before the checkpoint is even read.
    missing = str(tmp_path / "missing.pt")
    assert evaluate.main(["--checkpoint", missing, "--json", str(blocker / "x.json")]) == 2
    assert f"--json {blocker / 'x.json'} cannot be written: {blocker} is not a" in one_line(capsys)
    assert ponder_maps.main(["--checkpoint", checkpoint, "--out", str(blocker)]) == 2
    assert f"--out {blocker} exists and is not a directory" in one_line(capsys)
    assert blocker.read_text() == "keep me"


def test_finding_4_fashion_checkpoint_with_cifar_data_is_one_line(
    finished_run: Path, cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    checkpoint = str(finished_run / "checkpoint.pt")
    data = ["--data", "cifar10", "--data-dir", str(cifar)]
    expected = "was trained on 1x28x28 images; these data (cifar10) are 3x32x32"
    assert evaluate.main(["--checkpoint", checkpoint, *data, "--device", "cpu"]) == 1
    assert expected in one_line(capsys)
    maps = tmp_path / "maps"
    assert ponder_maps.main(["--checkpoint", checkpoint, "--out", str(maps), *data]) == 1
    assert expected in one_line(capsys)
    assert not list(maps.iterdir())


def test_finding_4_ponder_maps_scale_is_bounded(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    checkpoint = str(finished_run / "checkpoint.pt")
    out = tmp_path / "maps"
    assert ponder_maps.main(["--checkpoint", checkpoint, "--out", str(out), "--scale", "100000"])
    assert "argument --scale: must be an integer in [1, 16], got '100000'" in one_line(capsys)
    assert not out.exists()


def test_finding_5_vision_resume_refuses_a_changed_tau(
    fashion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    pact = ("--method", "pact", "--steps", "3")
    assert train.main(argv(fashion, out, *pact, "--tau", "0.01", "--stop-at", "1")) == 0
    before = fingerprint(out)
    capsys.readouterr()
    assert train.main(argv(fashion, out, *pact, "--tau", "0.02", "--resume")) == 2
    err = one_line(capsys)
    assert "halting.tau: 0.01 -> 0.02" in err
    assert fingerprint(out) == before
    # --steps is documented as safe to change.
    assert train.main(argv(fashion, out, *pact, "--tau", "0.01", "--resume")) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3


def test_finding_5_vision_out_empty_is_refused(
    fashion: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert train.main(argv(fashion, "", "--steps", "1")) == 2
    assert "--out must name a directory, got ''" in one_line(capsys)
    assert ponder_maps.main(["--checkpoint", "x.pt", "--out", ""]) == 2
    assert "--out must name a directory, got ''" in one_line(capsys)
    assert not list(tmp_path.iterdir())  # nothing written into the current directory


@pytest.mark.parametrize(("flag", "value"), [("--temperature", "inf"), ("--lr", "0")])
def test_finding_5_vision_messages_name_the_argument_its_value_and_the_range(
    flag: str, value: str, fashion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train.main(argv(fashion, tmp_path / "run", flag, value)) == 2
    err = one_line(capsys)
    allowed = "> 0" if flag == "--temperature" else "in (0, 1e+30]"
    assert err == (
        f"pact_vision.train: error: argument {flag}: must be a finite number {allowed}, "
        f"got '{value}'"
    )


def test_finding_6_vision_orphaned_temporary_checkpoints_are_removed_at_start(
    finished_run: Path, fashion: Path
) -> None:
    orphans = [finished_run / ".checkpoint.pt.k1ll3d.tmp", finished_run / ".log.jsonl.x.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a checkpoint")
    assert train.main(argv(fashion, finished_run, "--steps", "3", "--resume")) == 0
    assert not any(orphan.exists() for orphan in orphans)
    assert sorted(p.name for p in finished_run.iterdir()) == ["checkpoint.pt", "log.jsonl"]
    assert load_checkpoint(finished_run / "checkpoint.pt")["step"] == 3
