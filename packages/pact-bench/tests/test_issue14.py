"""Issue 14's findings on pact-bench: each test is named after the finding it covers.

2. non-finite numbers in reports; 3. output paths checked too late; 4. mismatched
checkpoints and data. Finding 7 is tested beside the comparison
(``test_compare.py``: the flat results table) and the figures (``test_plot.py``: the
smoothed curves). The runs are the session's tiny ones (``conftest.py``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import TinyRuns

from pact_bench import flops, plot, speedup
from pact_bench.results import COLUMNS, Row, write_json, write_table


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line on stderr, checked to be one line without a traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return err.strip()


def strict(text: str) -> object:
    """``text`` parsed as strict JSON: ``NaN`` and ``Infinity`` fail the test."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON: {name}"))


def test_finding_2_reports_hold_null_with_a_reason_instead_of_nan(tmp_path: Path) -> None:
    row = Row("seq", "diverged", "pact", accuracy=math.nan, mean_ponder=math.inf, steps=3)
    write_json(tmp_path / "results.json", {"rows": [row.as_dict()]})
    record = strict((tmp_path / "results.json").read_text())
    assert isinstance(record, dict)
    assert record["rows"][0]["accuracy"] is None and record["rows"][0]["steps"] == 3
    assert record["nulls"] == {
        "rows[0].accuracy": "not a finite number (nan)",
        "rows[0].mean_ponder": "not a finite number (inf)",
    }
    write_table(tmp_path / "results_table.json", [row])
    table = strict((tmp_path / "results_table.json").read_text())
    assert isinstance(table, list) and list(table[0]) == list(COLUMNS)
    assert table[0]["accuracy"] is None and table[0]["mean_ponder"] is None
    data = {
        "kind": "xy", "title": "t", "xlabel": "x", "ylabel": "y",
        "series": [{"label": "a", "style": "points", "x": [1.0, 2.0], "y": [0.5, math.nan]}],
    }  # fmt: skip
    figure = plot.save_figure(data, tmp_path / "figure.png")
    written = strict(figure.with_suffix(".json").read_text())
    assert isinstance(written, dict) and written["series"][0]["y"] == [0.5, None]


def test_finding_3_speedup_unwritable_json_is_refused_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    argv = ["--arch", "resnet14", "--batch", "1", "--active", "0.5", "--min-run-time", "0.001"]
    assert speedup.main([*argv, "--json", str(blocker / "rows.json")]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no timing ran: it would print the machine first
    assert err == (
        f"pact_bench.speedup: error: --json {blocker / 'rows.json'} cannot be written: "
        f"{blocker} is not a directory\n"
    )
    assert blocker.read_text() == "keep me"


def test_finding_4_flops_fashion_checkpoint_with_cifar_data_is_one_line(
    tiny: TinyRuns, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny.vision_run / "checkpoint.pt"
    argv = ["--checkpoint", str(checkpoint), "--data", "cifar10", "--data-dir", str(tiny.cifar)]
    assert flops.main(argv) == 1
    assert one_line(capsys) == (
        f"pact_bench.flops: error: {checkpoint} was trained on 1x28x28 images; these data "
        "(cifar10) are 3x32x32"
    )
    fashion = ["--data", "fashion-mnist", "--data-dir", str(tiny.fashion)]
    assert flops.main(["--checkpoint", str(checkpoint), *fashion, "--json"]) == 0
    counted = strict(capsys.readouterr().out)
    assert isinstance(counted, dict) and counted["arch"] == "resnet8" and counted["images"] == 8


def test_finding_4_speedup_fashion_checkpoint_with_cifar_data_is_one_line(
    tiny: TinyRuns, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny.vision_run / "checkpoint.pt"
    argv = ["--masks", "", "--checkpoint", str(checkpoint), "--data", "cifar10"]
    assert speedup.main([*argv, "--data-dir", str(tiny.cifar)]) == 1
    assert one_line(capsys) == (
        f"pact_bench.speedup: error: {checkpoint} was trained on 1x28x28 images; these data "
        "(cifar10) are 3x32x32"
    )


def test_finding_4_speedup_refuses_a_vision_checkpoint_as_seq_checkpoint(
    tiny: TinyRuns, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny.vision_run / "checkpoint.pt"
    assert speedup.main(["--masks", "", "--seq-checkpoint", str(checkpoint)]) == 1
    assert one_line(capsys) == (
        f"pact_bench.speedup: error: {checkpoint} is a pact-vision checkpoint, not a pact-seq one"
    )


def test_finding_4_speedup_refuses_zero_seq_samples(
    tiny: TinyRuns, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny.seq_run / "checkpoint.pt"
    argv = ["--masks", "", "--seq-checkpoint", str(checkpoint), "--seq-samples", "0"]
    assert speedup.main(argv) == 2
    assert one_line(capsys) == (
        "pact_bench.speedup: error: argument --seq-samples: must be an integer >= 1, got '0'"
    )
