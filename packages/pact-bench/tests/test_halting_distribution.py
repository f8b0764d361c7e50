"""``pact_bench.halting_distribution``: the halting probabilities behind PACT fig. 8."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import TinyRuns

from pact_bench.halting_distribution import halting_distribution, main, stopping_units
from pact_vision.models import AdaptiveResNet, resnet
from pact_vision.train import main as vision_train


def test_the_two_rules_stop_where_their_definitions_say() -> None:
    # Units 1 and 2 of L = 3, at four positions.
    h = torch.tensor([[0.6, 0.3, 0.995, 0.2], [0.6, 0.3, 0.0, 0.9]])
    act, thresholded = stopping_units(h, eps=0.01, threshold=0.5)
    assert act.tolist() == [2, 3, 1, 2]  # cumulative sum >= 0.99; else unit L = 3
    assert thresholded.tolist() == [1, 3, 1, 2]  # own probability >= 0.5; else unit L


def _constant_halting(h: float) -> AdaptiveResNet:
    """A ResNet-20 (L = 3) with ACT halting whose every head outputs ``h`` everywhere."""
    model = resnet(3, "act", in_channels=1).eval()
    with torch.no_grad():
        for stage in model.stages:
            for head in stage.halting_heads:
                head.bias.fill_(math.log(h / (1 - h)))  # the weights start at zero
    return model


def test_spread_probabilities_make_the_rules_disagree_everywhere() -> None:
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    spread = halting_distribution(_constant_halting(0.65), images, batch_size=2)
    # ACT: 0.65 + 0.65 >= 0.99 at unit 2; thresholded: 0.65 >= 0.5 at unit 1.
    assert spread.act_units == pytest.approx(2.0) and spread.thresholded_units == 1.0
    assert spread.disagree == 1.0 and spread.undecided == 1.0
    # Thresholded stops earlier everywhere; ACT puts 1 - 0.65 on the skipped unit 2.
    assert spread.earlier == 1.0 and spread.skipped_weight == pytest.approx(0.35, abs=1e-6)
    assert spread.shares[6] == pytest.approx(1.0)  # every h read lies in [0.6, 0.7)
    assert spread.positions == 3 * (28 * 28 + 14 * 14 + 7 * 7)
    low = halting_distribution(_constant_halting(0.35), images)
    # 0.35 + 0.35 < 0.99 and 0.35 < 0.5: both rules run all three units.
    assert low.act_units == low.thresholded_units == 3.0 and low.disagree == 0.0
    assert low.shares[3] == pytest.approx(1.0)
    assert low.earlier == 0.0 and low.skipped_weight is None


def test_the_command_tabulates_and_draws_trained_checkpoints(
    tiny: TinyRuns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "sact"
    assert vision_train(["--arch", "resnet14", "--data", "fashion-mnist", "--data-dir",
                         str(tiny.fashion), "--mode", "act", "--steps", "1", "--batch-size", "8",
                         "--train-limit", "16", "--eval-limit", "8", "--device", "cpu",
                         "--no-progress", "--out", str(run)]) == 0  # fmt: skip
    capsys.readouterr()
    plot = tmp_path / "h.svg"
    argv = ["--data", "fashion-mnist", "--data-dir", str(tiny.fashion), "--limit", "4",
            "--checkpoint", f"SACT={run}", "--plot", str(plot)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 test images of fashion-mnist")
    (row,) = [line for line in out.splitlines() if line.startswith("| SACT |")]
    shares = [float(c.strip().rstrip("%")) for c in row.split("|")[2:12]]
    assert sum(shares) == pytest.approx(100.0, abs=0.1)
    data = json.loads(plot.with_suffix(".json").read_text())
    assert data["kind"] == "xy" and data["series"][0]["label"] == "SACT"
    assert plot.read_text().lstrip().startswith("<?xml")
