"""``pact_bench.variance_report``: PACT fig. 4 from runs trained with ``--grad-variance``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TinyRuns

from pact_bench.plot import draw
from pact_bench.variance_report import latent_variables, main, read_variance_run
from pact_vision.train import main as vision_train


def test_latent_variables_count_the_patches_of_every_block() -> None:
    # CIFAR-10 ResNet-32, as PACT sec. 6 counts them: 32*32 + 16*16 + 8*8 = 1344.
    assert [latent_variables(32, g) for g in (1, 2, 4, 8)] == [1344, 336, 84, 21]
    # Fashion-MNIST: 28, 14 and 7 wide maps; partial border patches count.
    assert [latent_variables(28, g) for g in (1, 2, 4, 8)] == [1029, 261, 69, 21]


def _train(tiny: TinyRuns, out: Path, *extra: str) -> Path:
    argv = ["--arch", "resnet14", "--data", "fashion-mnist", "--data-dir", str(tiny.fashion),
            "--steps", "4", "--batch-size", "8", "--train-limit", "16", "--eval-limit", "8",
            "--log-every", "2", "--device", "cpu", "--no-progress",
            "--out", str(out), *extra]  # fmt: skip
    assert vision_train(argv) == 0
    return out


def test_relaxed_and_reinforce_runs_are_tabulated_and_drawn(
    tiny: TinyRuns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relaxed = _train(tiny, tmp_path / "relaxed", "--mode", "pact", "--tau", "0.1",
                     "--group", "2", "--grad-variance", "--eval-halting", "discrete")  # fmt: skip
    reinforce = _train(tiny, tmp_path / "reinforce", "--mode", "pact-reinforce", "--tau", "0.1",
                       "--group", "4", "--grad-variance")  # fmt: skip
    run = read_variance_run(relaxed)
    assert (run.estimator, run.group, run.latent) == ("relaxed", 2, 261)
    assert run.steps == [2, 4] and run.halting == "discrete"
    assert run.accuracy is not None and 0.0 <= run.accuracy <= 1.0
    capsys.readouterr()
    plot, accuracy = tmp_path / "variance.png", tmp_path / "accuracy.png"
    argv = ["--runs", str(reinforce), str(relaxed), "--last", "1", "--plot", str(plot),
            "--accuracy-plot", str(accuracy)]  # fmt: skip
    assert main(argv) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[:3] for row in rows[1:]] == [
        ["| REINFORCE", "4", "69"],
        ["| relaxed", "2", "261"],
    ]
    last = rows[2].split(" | ")[3]  # --last 1: the variance of the final log point
    assert float(last) == pytest.approx(run.log10_variance[-1], abs=0.005)
    data = json.loads(plot.with_suffix(".json").read_text())
    assert [s["label"] for s in data["series"]] == ["REINFORCE, M = 69", "relaxed, M = 261"]
    # A colour per M, REINFORCE dashed; a second REINFORCE run at M = 261 pairs up.
    data["series"].append({**data["series"][0], "label": "REINFORCE, M = 261",
                           "colour_group": "M = 261"})  # fmt: skip
    lines = {line.get_label(): line for line in draw(data).axes[0].get_lines()}
    assert lines["REINFORCE, M = 69"].get_linestyle() == "--"
    assert lines["relaxed, M = 261"].get_linestyle() == "-"
    assert lines["REINFORCE, M = 261"].get_color() == lines["relaxed, M = 261"].get_color()
    assert lines["REINFORCE, M = 69"].get_color() != lines["relaxed, M = 261"].get_color()
    points = json.loads(accuracy.with_suffix(".json").read_text())["series"]
    assert [(s["label"], s["text"]) for s in points] == [
        ("relaxed", ["M = 261"]),
        ("REINFORCE", ["M = 69"]),
    ]


def test_runs_without_variance_or_halting_are_one_line_errors(
    tiny: TinyRuns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = _train(tiny, tmp_path / "plain", "--mode", "pact", "--tau", "0.1")
    assert main(["--runs", str(plain)]) == 1
    assert "no gradient variance logged (train with --grad-variance)" in capsys.readouterr().err
    assert main(["--runs", str(tiny.vision_run)]) == 1
    err = capsys.readouterr().err.strip()
    assert "method 'fixed' is not PSACT" in err and "\n" not in err
    assert main(["--runs", str(tmp_path / "none")]) == 1
    assert "--runs: not a directory" in capsys.readouterr().err
