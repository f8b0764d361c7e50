"""``python -m pact_bench.seq_report`` and the published table it quotes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pact_bench.published import FOJO_2018, format_published, published_row
from pact_bench.results import Row
from pact_bench.seq_report import main, seed_table
from pact_seq.train import main as train_main

TINY = ["--steps", "30", "--log-every", "5", "--eval-samples", "64", "--hidden-size", "8",
        "--max-ponder", "3", "--threads", "1", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def parity_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("parity")
    runs = {
        "act": ["--model", "act", "--tau", "0.01"],
        "pact": ["--model", "pact", "--tau", "0.001"],
        "repeat": ["--model", "repeat", "--repeats", "2"],
    }
    for name, args in runs.items():
        assert train_main(["--task", "parity", "--bits", "4", *TINY, *args,
                           "--out", str(root / name)]) == 0  # fmt: skip
    return [root / name for name in runs]


def test_published_lookup_matches_reference_table() -> None:
    assert format_published(published_row("parity", "act", "tau=0.01")) == "53k (1.81)"
    assert format_published(published_row("parity", "act", "tau=1e-3")) == "55k (2.04)"
    assert format_published(published_row("parity", "act", "tau=0.1")) == "no (1.00)"
    assert format_published(published_row("parity", "repeat", "rho=2")) == "22k"
    assert format_published(published_row("parity", "plain", "")) == "no"
    assert format_published(published_row("addition", "repeat", "rho=5")) == "514k"
    assert format_published(published_row("addition", "act", "tau=0.001")) == "no (11.91)"
    assert published_row("parity", "pact", "tau=0.01") is None
    assert published_row("parity", "repeat", "rho=4") is None
    assert format_published(None) == "-"
    # Every published cell of REFERENCE §3: 4 ACT + 4 repeat + plain, per task.
    assert len(FOJO_2018) == 18


def test_report_rows_and_plot(
    parity_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "parity.png"
    assert main(["--runs", *map(str, parity_runs), "--plot", str(plot)]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    body = [line for line in table[2:] if line.startswith("| ")]
    by_run: dict[str, list[list[str]]] = {}
    for line in body:
        cells = [c.strip() for c in line.strip("|").split("|")]
        by_run.setdefault(cells[0], []).append(cells)
    # PACT is evaluated in all three modes; ACT once; Repeat-RNN has no halting.
    assert sorted(c[1] for c in by_run["pact"]) == ["discrete", "relaxed", "thresholded"]
    assert [c[1] for c in by_run["act"]] == ["act"]
    assert by_run["repeat"][0][1] == "-"
    assert by_run["repeat"][0][3] == "2.00"  # rho cell steps per input
    assert by_run["act"][0][6] == "53k (1.81)"
    assert by_run["repeat"][0][6] == "22k"
    assert by_run["pact"][0][6] == "-"
    assert all(c[7] == "0.03k" for cells in by_run.values() for c in cells)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mixed_tasks_are_refused(
    parity_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    addition = tmp_path / "addition"
    assert train_main(["--task", "addition", "--numbers", "2", "--digits", "1", *TINY,
                       "--model", "plain", "--out", str(addition)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["--runs", str(parity_runs[0]), str(addition)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --runs mixes tasks (addition, parity); give one task"
    # Alone, the addition run is tabulated with its digit accuracy beside sequence accuracy.
    assert main(["--runs", str(addition)]) == 0
    header, _, row = capsys.readouterr().out.splitlines()[:3]
    assert header.startswith("| run | eval | accuracy | digit accuracy | ponder steps |")
    summary = json.loads((addition / "summary.json").read_text())
    assert row.split(" | ")[3] == f"{100 * summary['digit_accuracy']:.1f}%"


def test_missing_runs_are_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--runs", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --runs: no such directory: {tmp_path}/nope"
    (tmp_path / "commands.txt").write_text("")
    assert main(["--runs", str(tmp_path / "commands.txt")]) == 2
    assert capsys.readouterr().err.strip() == "error: none of --runs is a directory"
    assert main(["--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a finished pact_seq.train run" in err and "\n" not in err


def _seq_row(run: str, steps_to_solve: int | None, setting: str = "rho=2") -> Row:
    return Row(part="seq", run=run, model="repeat", setting=setting, steps_to_solve=steps_to_solve)


def test_seed_table_gathers_runs_and_counts_unsolved_as_slowest() -> None:
    assert seed_table("parity", [_seq_row("a", 5000)]) is None  # one run per setting
    rows = [_seq_row("s0", 55000), _seq_row("s1", None), _seq_row("s2", 44000),
            _seq_row("other", 9000, setting="rho=3")]  # fmt: skip
    table = seed_table("parity", rows)
    assert table is not None
    (line,) = [ln for ln in table.splitlines() if ln.startswith("| repeat | rho=2")]
    assert line == "| repeat | rho=2 | - | 3 | 2 | 44k, 55k, no | 55k | 22k |"
    assert "rho=3" not in table
    even = seed_table("parity", [_seq_row("a", 40000), _seq_row("b", 60000)])
    assert even is not None and "| 50k |" in even
    unsolved = seed_table("parity", [_seq_row("a", 40000), _seq_row("b", None)])
    assert unsolved is not None and unsolved.splitlines()[-1].split(" | ")[6] == "no"
