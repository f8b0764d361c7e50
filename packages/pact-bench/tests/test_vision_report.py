"""``python -m pact_bench.vision_report`` on hand-written evaluation reports."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from pact_bench.vision_report import main
from pact_core import HaltingSettings, parse_method
from pact_vision import AdaptiveResNet, model_config, save_checkpoint

#: The previous release's names of the haltings (and of the training modes).
LEGACY = {"fixed": "dense", "pact": "relaxed"}


def _run(
    root: Path,
    name: str,
    method: str,
    tau: float,
    results: list[tuple[str, float, float]],
    *,
    legacy: bool = False,
) -> Path:
    """A checkpoint trained by ``method`` and its ``pact_vision.evaluate --json`` report.

    ``legacy``: as the previous release wrote them (``mode`` instead of the method and
    the halting, ``dense`` for the fixed halting, the model config without settings).
    """
    settings = HaltingSettings(parse_method(method), max_iterations=1, tau=tau)
    model = AdaptiveResNet(settings)
    directory = root / name
    directory.mkdir()
    checkpoint = directory / "checkpoint.pt"
    config: dict[str, Any] = model_config(model)
    train: dict[str, Any] = {"halting": asdict(settings)}
    key = "halting"
    if legacy:
        config = {"units_per_block": 1, "mode": LEGACY.get(method, method)}
        train, key = {"mode": LEGACY.get(method, method), "tau": tau}, "mode"
    save_checkpoint(checkpoint, {"model": model.state_dict(), "model_config": config,
                                 "train_config": train})  # fmt: skip
    report = {
        "checkpoint": str(checkpoint),
        "step": 10,
        "results": [
            {key: LEGACY.get(h, h) if legacy else h, "accuracy": a, "loss": 0.1,
             "mean_flops": f * 1e6, "units_per_block": [1.0, 1.0, 1.0], "cost": 3.0,
             "images": 100}
            for h, a, f in results
        ],
    }  # fmt: skip
    path = directory / "eval.json"
    path.write_text(json.dumps(report))
    return path


@pytest.mark.parametrize("legacy", [False, True])
def test_report_rows_drop_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], legacy: bool
) -> None:
    every = ["fixed", "act", "relaxed", "discrete", "thresholded"]
    evals = [
        _run(tmp_path, "dense", "fixed", 0.0, [("fixed", 0.90, 100.0)], legacy=legacy),
        _run(tmp_path, "sact", "act", 0.01,
             [(h, a, f) for h, a, f in zip(every, [.9, .88, .5, .5, .80], [100, 60, 70, 70, 50],
                                         strict=True)], legacy=legacy),
        _run(tmp_path, "psact", "pact", 0.05,
             [(h, a, f) for h, a, f in zip(every, [.9, .5, .89, .88, .885], [100, 70, 55, 54, 52],
                                         strict=True)], legacy=legacy),
    ]  # fmt: skip
    plot = tmp_path / "plot.png"
    assert main(["--evals", *map(str, evals), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    shown = [(cells[0], cells[1], cells[3]) for cells in
             ([c.strip() for c in line.strip("|").split("|")] for line in rows)]  # fmt: skip
    assert shown == [
        ("dense", "fixed", "fixed"), ("sact", "act", "act"), ("sact", "act", "thresholded"),
        ("psact", "pact", "relaxed"), ("psact", "pact", "discrete"),
        ("psact", "pact", "thresholded"),
    ]  # fmt: skip
    assert "| dense | fixed | - | fixed | 90.00% | 100.0 | 0% |" in out
    assert "| psact | pact | 0.05 | thresholded | 88.50% | 52.0 | 48% |" in out
    assert "- sact: 88.00% as SACT, 80.00% as thresholded PSACT (drop 8.00 points" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    data = json.loads(plot.with_suffix(".json").read_text())
    series = {s["label"]: s for s in data["series"]}
    assert list(series) == ["dense", "SACT", "SACT as thresholded", "PSACT relaxed",
                            "PSACT discrete", "PSACT thresholded"]  # fmt: skip
    assert (series["PSACT thresholded"]["x"], series["PSACT thresholded"]["y"]) == ([52.0], [0.885])
    assert series["SACT"]["text"] == ["tau=0.01"] and series["dense"]["text"] == [None]
    assert data["y_percent"] and not data["log_x"]  # 52 to 100 MFLOPs: a linear axis


def test_plot_merges_seeds_into_their_median_with_a_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evals = [
        _run(tmp_path, f"psact_tau0.05_s{seed}", "pact", 0.05, [("thresholded", a, f)])
        for seed, (a, f) in enumerate([(0.88, 50.0), (0.90, 54.0), (0.86, 51.0)])
    ]
    evals.append(_run(tmp_path, "psact_tau0.01", "pact", 0.01, [("thresholded", 0.91, 70.0)]))
    plot = tmp_path / "seeds.pdf"
    assert main(["--evals", *map(str, evals), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:5] == b"%PDF-"
    (series,) = json.loads(plot.with_suffix(".json").read_text())["series"]
    assert series["label"] == "PSACT thresholded" and series["connect"]
    assert series["x"] == [51.0, 70.0] and series["y"] == [0.88, 0.91]  # medians, by FLOPs
    assert (series["x_low"], series["x_high"]) == ([50.0, None], [54.0, None])
    assert (series["y_low"], series["y_high"]) == ([0.86, None], [0.90, None])
    assert series["text"] == ["tau=0.05 (3 runs)", "tau=0.01"]
    capsys.readouterr()


def test_bad_reports_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["--evals", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    prefix = f"pact_bench.vision_report: error: {bad} is not a pact_vision.evaluate --json report"
    assert err.startswith(prefix)
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps({"checkpoint": str(tmp_path / "nope.pt"), "results": []}))
    assert main(["--evals", str(gone)]) == 1
    assert "nope.pt" in capsys.readouterr().err
