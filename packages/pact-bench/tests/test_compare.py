"""End-to-end: ``python -m pact_bench.compare --quick`` and its output files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas
import pytest

from pact_bench.compare import main
from pact_bench.plot import load_figure_data
from pact_bench.results import COLUMNS


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("compare")
    capture = tmp_path_factory.mktemp("stdout") / "stdout.md"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["--quick", "--threads", "1", "--out", str(out)]) == 0
    capture.write_text(buffer.getvalue())
    return out, buffer.getvalue()


def test_quick_comparison_writes_every_file(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    for name in (
        "results.json",
        "results_table.json",
        "results.csv",
        "seq_accuracy_vs_steps.png",
        "seq_accuracy_vs_steps_prefix-parity.png",
        "seq_accuracy_vs_flops.png",
        "vision_latency_vs_active_batch1.png",
        "vision_latency_vs_active_batch8.png",
    ):
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert load_figure_data(png.with_suffix(".json"))["kind"] in ("xy", "training-curves")
    latency = load_figure_data(out / "vision_latency_vs_active_batch8.json")
    labels = [s["label"] for s in latency["series"]]
    assert labels == ["dense", "SACT (masked)", "PSACT (masked)", "PSACT (sparse)"]
    sparse = latency["series"][-1]
    assert sparse["x"] == sorted(sparse["x"]) and len(sparse["x"]) == 2  # 1 and 2 of 2 units
    assert all(low <= y <= high for low, y, high in
               zip(sparse["y_low"], sparse["y"], sparse["y_high"], strict=True))  # fmt: skip
    curves = load_figure_data(out / "seq_accuracy_vs_steps.json")
    assert [g["label"] for g in curves["groups"]] == [
        "act tau=0.01", "pact tau=0.01", "pondernet beta=0.01 lambda_p=0.2", "repeat rho=2",
        "plain",
    ]  # fmt: skip
    transformer = load_figure_data(out / "seq_accuracy_vs_steps_prefix-parity.json")
    assert transformer["title"].startswith("prefix-parity")
    assert [g["label"] for g in transformer["groups"]] == [
        "ut-act tau=0.01", "ut-fixed L=2", "ut-fixed L=4",
    ]  # fmt: skip


def test_results_json_schema(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    payload = json.loads((out / "results.json").read_text())
    assert set(payload) == {"environment", "preset", "runs", "wall_seconds", "rows", "curves"}
    assert {"cpu", "torch", "device", "threads"} <= set(payload["environment"])
    assert payload["environment"]["threads"] == 1
    rows = payload["rows"]
    assert all(set(row) == set(COLUMNS) for row in rows)
    seq = [r for r in rows if r["part"] == "seq"]
    vision = [r for r in rows if r["part"] == "vision"]
    assert {r["model"] for r in seq} == {
        "act", "pact", "pondernet", "repeat", "plain", "ut-act", "ut-fixed"
    }  # fmt: skip
    assert {r["halting"] for r in seq if r["model"] == "pact"} == {
        "discrete",
        "thresholded",
        "relaxed",
    }
    assert {r["halting"] for r in seq if r["model"] == "pondernet"} == {
        "discrete",
        "thresholded",
        "median",
    }
    for row in seq:
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["mean_ponder"] >= 1.0
        assert row["flops"] > 0 and row["steps_per_s"] > 0
    assert {r["model"] for r in vision} == {"dense", "sact", "psact", "psact-sparse"}
    # Sparse execution needs the FLOPs masked execution does (it only skips the rest).
    flops = {(r["model"], r["active_fraction"], r["batch"]): r["flops"] for r in vision}
    for (model, fraction, batch), value in flops.items():
        if model == "psact-sparse":
            assert value == flops["psact", fraction, batch]
    assert {r["batch"] for r in vision} == {1, 8}
    for row in vision:
        assert row["latency_ms"] > 0 and row["peak_memory_mib"] >= 0 and row["flops"] > 0
    # Controlled halting at half the units needs fewer FLOPs than running them all.
    by_fraction = {
        r["active_fraction"]: r["flops"]
        for r in vision
        if r["model"] == "psact" and r["batch"] == 1
    }
    assert by_fraction[0.5] < by_fraction[1.0]
    # One learning curve per trained sequence run, each under its own name.
    names = [c["run"] for c in payload["curves"]]
    assert len(names) == 8 and len(set(names)) == 8


def test_results_csv_matches_json(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    with (out / "results.csv").open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    assert len(rows) == len(json.loads((out / "results.json").read_text())["rows"])


def test_finding_7_results_table_json_is_a_flat_table_pandas_reads(
    quick_run: tuple[Path, str],
) -> None:
    """Issue 14, finding 7: ``pd.read_json(results.json)`` failed on the nested record.

    ``results_table.json`` holds the rows as a list of flat objects (``orient="records"``),
    one key per column, scalars only; ``results.json`` stays the full nested record.
    """
    out, _ = quick_run
    table = json.loads(
        (out / "results_table.json").read_text(),
        parse_constant=lambda name: pytest.fail(f"non-strict JSON: {name}"),
    )
    nested = json.loads((out / "results.json").read_text())
    assert isinstance(table, list) and table == nested["rows"]
    for row in table:
        assert list(row) == list(COLUMNS)
        assert all(v is None or isinstance(v, str | int | float) for v in row.values())
    assert set(nested) >= {"environment", "rows", "curves"}  # the full record is kept
    frame = pandas.read_json(out / "results_table.json")
    assert list(frame.columns) == list(COLUMNS) and len(frame) == len(table)
    assert set(frame["part"]) == {"seq", "vision"}


def test_markdown_table_is_printed(quick_run: tuple[Path, str]) -> None:
    _, stdout = quick_run
    assert "### Sequence models" in stdout
    assert "### Vision models" in stdout
    assert "| pact-tau0.01 | thresholded |" in stdout
    assert "controlled halting" in stdout


def test_runs_directories_are_tabulated(quick_run: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = quick_run
    runs = sorted((out / "seq-runs").iterdir())
    assert main(["--runs", *map(str, runs), "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert {r["run"] for r in payload["rows"]} == {r.name for r in runs}
    assert all(r["source"] == "run directory" for r in payload["rows"])


def test_a_second_run_reuses_finished_training(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    summary = out / "seq-runs" / "plain" / "summary.json"
    before = summary.stat().st_mtime_ns
    assert main(["--quick", "--threads", "1", "--skip", "vision", "--out", str(out)]) == 0
    assert summary.stat().st_mtime_ns == before


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 2) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_bad_runs_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["--runs", str(tmp_path / "missing"), "--out", str(tmp_path)]
    err = _one_line_error(capsys, argv, status=1)
    assert "neither a pact_seq.train run" in err


def test_unknown_arch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _one_line_error(capsys, ["--quick", "--arch", "resnet33", "--out", str(tmp_path)])
    assert "resnet33" in err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_unwritable_out(capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing can create directories in /proc, not even root (as CI runs).
    err = _one_line_error(capsys, ["--quick", "--out", "/proc/pact-results"])
    assert "--out /proc/pact-results cannot be created" in err


def test_out_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    err = _one_line_error(capsys, ["--quick", "--out", str(target)])
    assert f"--out {target} exists and is not a directory" in err
    assert target.read_text() == "x"


def test_paper_preset_is_the_published_scale() -> None:
    from pact_bench.compare import PRESETS

    paper = PRESETS["paper"]
    seq = paper.seq
    assert (seq.bits, seq.hidden_size, seq.batch_size, seq.max_iterations) == (64, 128, 128, 100)
    assert seq.steps == 200_000 and seq.log_every == 1000 and seq.eval_samples == 10_000
    names = {run.name for run in seq.runs}
    assert {"act-tau0.01", "act-tau0.001", "repeat-rho2", "repeat-rho8", "plain"} <= names
    assert paper.vision.arch == "resnet110"
