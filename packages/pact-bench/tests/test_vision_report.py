"""``python -m pact_bench.vision_report`` on hand-written evaluation reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pact_bench.vision_report import main
from pact_vision import resnet
from pact_vision.checkpoint import model_config, save_checkpoint


def _run(
    root: Path, name: str, mode: str, tau: float, results: list[tuple[str, float, float]]
) -> Path:
    model = resnet(1, mode="dense")
    directory = root / name
    directory.mkdir()
    checkpoint = directory / "checkpoint.pt"
    save_checkpoint(checkpoint, {"model": model.state_dict(), "model_config": model_config(model),
                                 "train_config": {"mode": mode, "tau": tau}})  # fmt: skip
    report = {
        "checkpoint": str(checkpoint),
        "step": 10,
        "results": [
            {"mode": m, "accuracy": a, "loss": 0.1, "mean_flops": f * 1e6,
             "units_per_block": [1.0, 1.0, 1.0], "cost": 3.0, "images": 100}
            for m, a, f in results
        ],
    }  # fmt: skip
    path = directory / "eval.json"
    path.write_text(json.dumps(report))
    return path


def test_report_rows_drop_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    every = ["dense", "act", "relaxed", "discrete", "thresholded"]
    evals = [
        _run(tmp_path, "dense", "dense", 0.0, [("dense", 0.90, 100.0)]),
        _run(tmp_path, "sact", "act", 0.01,
             [(m, a, f) for m, a, f in zip(every, [.9, .88, .5, .5, .80], [100, 60, 70, 70, 50],
                                         strict=True)]),
        _run(tmp_path, "psact", "relaxed", 0.05,
             [(m, a, f) for m, a, f in zip(every, [.9, .5, .89, .88, .885], [100, 70, 55, 54, 52],
                                         strict=True)]),
    ]  # fmt: skip
    plot = tmp_path / "plot.png"
    assert main(["--evals", *map(str, evals), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    shown = [(cells[0], cells[3]) for cells in
             ([c.strip() for c in line.strip("|").split("|")] for line in rows)]  # fmt: skip
    assert shown == [
        ("dense", "dense"), ("sact", "act"), ("sact", "thresholded"),
        ("psact", "relaxed"), ("psact", "discrete"), ("psact", "thresholded"),
    ]  # fmt: skip
    assert "| psact | relaxed | 0.05 | thresholded | 88.50% | 52.0 | 48% |" in out
    assert "- sact: 88.00% as SACT, 80.00% as thresholded PSACT (drop 8.00 points" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_bad_reports_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["--evals", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad} is not a pact_vision.evaluate --json report")
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps({"checkpoint": str(tmp_path / "nope.pt"), "results": []}))
    assert main(["--evals", str(gone)]) == 2
    assert "nope.pt" in capsys.readouterr().err
