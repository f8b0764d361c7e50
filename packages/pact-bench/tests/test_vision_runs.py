"""Comparison and FLOPs of trained pact-vision runs, on a tiny CIFAR-layout data set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pact_bench import compare, flops
from pact_bench.halting_maps import set_controlled_halting
from pact_vision import resnet, train
from pact_vision.datasets import DataSplits, ImageSet, save_cifar10


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    generator = torch.Generator().manual_seed(0)

    def split(count: int) -> ImageSet:
        images = torch.randint(0, 256, (count, 3, 32, 32), generator=generator)
        return ImageSet(images.to(torch.uint8), torch.randint(0, 10, (count,), generator=generator))

    save_cifar10(root, DataSplits(split(40), split(12), tuple(f"c{i}" for i in range(10))))
    return root


def _train(data_dir: Path, out: Path, *extra: str) -> Path:
    argv = ["--arch", "resnet14", "--data", "cifar10", "--data-dir", str(data_dir)]
    argv += ["--out", str(out), "--batch-size", "8", "--device", "cpu", "--steps", "2"]
    assert train.main([*argv, "--log-every", "1", "--no-progress", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def runs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    dense = _train(data_dir, tmp_path_factory.mktemp("dense"), "--method", "fixed")
    sact = _train(
        data_dir,
        tmp_path_factory.mktemp("sact"),
        "--method",
        "act",
        "--tau",
        "0.01",
        "--init",
        str(dense / "checkpoint.pt"),
    )
    return dense, sact


def test_runs_are_evaluated_with_the_report_haltings_of_their_method(
    runs: tuple[Path, Path], data_dir: Path, tmp_path: Path
) -> None:
    argv = ["--runs", *map(str, runs), "--data", "cifar10", "--data-dir", str(data_dir)]
    assert compare.main([*argv, "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [(r["model"], r["halting"]) for r in rows] == [
        ("dense", None),
        ("sact", "act"),
        ("sact", "thresholded"),  # the paper's fig. 8 check
    ]
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and row["flops"] > 0
        assert 1 <= row["mean_ponder"] <= 2 and 0 < row["active_fraction"] <= 1
    assert (tmp_path / "vision_accuracy_vs_flops.png").is_file()


def test_a_vision_run_needs_data(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert compare.main(["--runs", str(runs[1]), "--out", str(tmp_path)]) == 2
    assert "needs --data" in capsys.readouterr().err


def test_a_checkpoint_is_measured_with_its_own_halting(
    runs: tuple[Path, Path], data_dir: Path, tmp_path: Path
) -> None:
    argv = ["--quick", "--skip", "seq", "--vision-checkpoint", str(runs[1] / "checkpoint.pt")]
    argv += ["--data", "cifar10", "--data-dir", str(data_dir), "--threads", "1"]
    assert compare.main([*argv, "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert {(r["halting"], r["batch"]) for r in rows} == {
        (halting, batch) for halting in (None, "act", "thresholded") for batch in (1, 8)
    }
    assert all(r["source"] == "checkpoint" and r["latency_ms"] > 0 for r in rows)


def test_flops_of_a_checkpoint_on_data(
    runs: tuple[Path, Path], data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--checkpoint", str(runs[1]), "--data", "cifar10", "--data-dir", str(data_dir)]
    assert flops.main([*argv, "--halting", "fixed", "--json"]) == 0
    dense = json.loads(capsys.readouterr().out)
    assert flops.main([*argv, "--halting", "thresholded", "--json", "--batches", "1"]) == 0
    thresholded = json.loads(capsys.readouterr().out)
    assert dense["arch"] == "resnet14" and dense["images"] == 12
    assert (dense["halting"], thresholded["halting"]) == ("fixed", "thresholded")
    dense_model = resnet(2, "fixed").eval()
    assert dense["flops"] == flops.dense_flops(dense_model, torch.zeros(1, 3, 32, 32))
    # Thresholded halting can only save units; running every unit costs the dense count
    # plus the halting heads.
    everything = resnet(2, halting="thresholded").eval()
    set_controlled_halting(everything, 2)
    all_on = float(flops.vision_flops(everything, torch.zeros(1, 3, 32, 32))[0])
    assert dense["flops"] < all_on
    assert 0 < thresholded["flops"] <= all_on
