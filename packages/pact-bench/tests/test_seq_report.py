"""``python -m pact_bench.seq_report`` and the published table it quotes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pact_bench.compare_seq import read_seq_run
from pact_bench.figures import ponder_by_position_data
from pact_bench.plot import draw, median_curve
from pact_bench.plot import main as replot
from pact_bench.published import FOJO_2018, figure_steps, format_published, published_row
from pact_bench.results import Row
from pact_bench.seq_report import main, seed_table
from pact_seq import smoothed_accuracy
from pact_seq.train import main as train_main

TINY = ["--steps", "30", "--log-every", "5", "--eval-samples", "64", "--hidden-size", "8",
        "--max-iterations", "3", "--threads", "1", "--quiet"]  # fmt: skip


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
    data = json.loads(plot.with_suffix(".json").read_text())  # the figure's data beside it
    assert data["kind"] == "training-curves"
    labels = [g["label"] for g in data["groups"]]
    assert labels == ["act tau=0.01", "pact tau=0.001", "repeat rho=2"]
    (act,) = data["groups"][0]["runs"]
    assert act["steps"] == [5, 10, 15, 20, 25, 30]


def test_mixed_tasks_are_refused(
    parity_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    addition = tmp_path / "addition"
    assert train_main(["--task", "addition", "--numbers", "2", "--digits", "1", *TINY,
                       "--model", "plain", "--out", str(addition)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["--runs", str(parity_runs[0]), str(addition)]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err == "pact_bench.seq_report: error: --runs mixes tasks (addition, parity); give one task"
    )
    # Alone, the addition run is tabulated with its digit accuracy beside sequence accuracy.
    assert main(["--runs", str(addition)]) == 0
    header, _, row = capsys.readouterr().out.splitlines()[:3]
    assert header.startswith("| run | eval | accuracy | digit accuracy | ponder steps |")
    summary = json.loads((addition / "summary.json").read_text())
    assert row.split(" | ")[3] == f"{100 * summary['digit_accuracy']:.1f}%"


def test_missing_runs_are_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = "pact_bench.seq_report: error:"
    assert main(["--runs", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.strip() == f"{error} --runs: no such directory: {tmp_path}/nope"
    (tmp_path / "commands.txt").write_text("")
    assert main(["--runs", str(tmp_path / "commands.txt")]) == 1
    assert capsys.readouterr().err.strip() == f"{error} none of --runs is a directory"
    assert main(["--runs", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "is not a finished pact_seq.train run" in err and "\n" not in err


#: A training configuration as the previous release saved it (``model``, ``repeats``,
#: ``max_ponder`` and the halting constants at the top level).
PREVIOUS_CONFIG = {
    "task": "parity", "model": "repeat", "tau": 0.001, "repeats": 2, "steps": 30, "seed": 0,
    "cell": "rnn", "hidden_size": 8, "batch_size": 32, "lr": 0.001, "max_ponder": 3,
    "bits": 4, "random_positions": False, "numbers": 5, "digits": 5,
    "temperature": 2 / 3, "eps": 0.01, "delta": 0.01, "halting_bias": 1.0,
    "baseline_decay": 0.99, "log_every": 5, "checkpoint_every": 7, "eval_samples": 64,
    "eval_mode": None, "init": "tf", "stop_when_solved": False, "penalty_reduction": "mean",
    "warmup_steps": 0, "ramp_steps": 0, "warmup_freeze": True, "warmup_max_ponder": None,
}  # fmt: skip


def _previous_release_run(
    root: Path, model: str, *, tau: float = 0.001, repeats: int = 1, eval_mode: str | None = None
) -> Path:
    """A finished run directory as the previous release's ``pact_seq.train`` wrote it."""
    directory = root / model
    directory.mkdir()
    config = {**PREVIOUS_CONFIG, "model": model, "tau": tau, "repeats": repeats}
    evaluation = {"accuracy": 0.75, "digit_accuracy": 0.75, "mean_ponder": 1.5,
                  "mean_cost": 1.5, "samples": 64}  # fmt: skip
    summary = {
        "task": "parity", "model": model, "tau": None if eval_mode is None else tau,
        "repeats": None if eval_mode is not None else repeats, "steps": 30, "seed": 0,
        "steps_to_solve": None, "steps_to_solve_fojo": None, "accuracy": 0.75,
        "mean_ponder": 1.5 if eval_mode is not None else float(repeats), "mean_cost": 1.5,
        "eval_mode": eval_mode, "eval_samples": 64, "steps_per_s": 500.0, "config": config,
    }  # fmt: skip
    if model == "pact":
        summary["evaluations"] = {
            mode: {**evaluation, "eval_mode": mode}
            for mode in ("discrete", "thresholded", "relaxed")
        }
    (directory / "summary.json").write_text(json.dumps(summary))
    log = [{"step": step, "accuracy": 0.5 + step / 100} for step in range(5, 35, 5)]
    (directory / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    return directory


def test_runs_of_the_previous_release_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [
        _previous_release_run(tmp_path, "act", tau=0.01, eval_mode="act"),
        _previous_release_run(tmp_path, "pact", eval_mode="thresholded"),
        _previous_release_run(tmp_path, "repeat", repeats=2),
        _previous_release_run(tmp_path, "plain"),
    ]
    assert main(["--runs", *map(str, runs)]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert [(r[0], r[1], r[3], r[6]) for r in rows] == [
        ("act", "act", "1.50", "53k (1.81)"),
        ("pact", "discrete", "1.50", "-"),
        ("pact", "thresholded", "1.50", "-"),
        ("pact", "relaxed", "1.50", "-"),
        ("repeat", "-", "2.00", "22k"),
        ("plain", "-", "1.00", "no"),
    ]
    # The FLOPs per input come from the configuration: the cell, and the halting head
    # of the halting models only.
    rows_by_run: dict[str, list[Row]] = {}
    for run in runs:
        rows_by_run[run.name] = read_seq_run(run)[0]
    cell = 2 * (5 * 8 + 8 * 8)  # 4 bits + the first-step flag, 8 hidden units
    assert rows_by_run["repeat"][0].flops == 2 * cell
    assert rows_by_run["plain"][0].flops == cell
    assert rows_by_run["act"][0].flops == 1.5 * (cell + 2 * 8)
    assert (
        rows_by_run["repeat"][0].setting == "rho=2" and rows_by_run["act"][0].setting == "tau=0.01"
    )


def _seq_row(
    run: str,
    steps_to_solve: int | None,
    setting: str = "rho=2",
    *,
    fojo: int | None = None,
    model: str = "repeat",
    ponder: float | None = None,
    collapse_step: int | None = None,
) -> Row:
    return Row(part="seq", run=run, model=model, setting=setting, steps_to_solve=steps_to_solve,
               steps_to_solve_fojo=fojo, mean_ponder=ponder,
               collapse_step=collapse_step)  # fmt: skip


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_seed_table_gathers_runs_and_counts_unsolved_as_slowest() -> None:
    assert seed_table("parity", [_seq_row("a", 5000)]) is None  # one run per setting
    rows = [_seq_row("s0", 55000, fojo=58000, ponder=2.0),
            _seq_row("s1", None, ponder=2.0),
            _seq_row("s2", 44000, fojo=61000, ponder=2.0),
            _seq_row("other", 9000, setting="rho=3")]  # fmt: skip
    table = seed_table("parity", rows)
    assert table is not None
    header = _cells(table.splitlines()[0])
    (line,) = [_cells(ln) for ln in table.splitlines() if ln.startswith("| repeat | rho=2")]
    cells = dict(zip(header[:6], line[:6], strict=True))
    assert cells == {"model": "repeat", "setting": "rho=2", "eval": "-", "runs": "3",
                     "solved": "2", "collapsed": "0"}  # fmt: skip
    # ours, each and median; Fojo's statistic, each and median (sorted separately)
    assert line[6:10] == ["44k, 55k, no", "55k", "58k, 61k, no", "61k"]
    # mean ponder; the published table's cell; the step where the paper's figure crosses 98%
    assert line[10:] == ["2.00", "22k", "183k"]
    assert "rho=3" not in table
    even = seed_table("parity", [_seq_row("a", 40000), _seq_row("b", 60000)])
    assert even is not None and _cells(even.splitlines()[-1])[7] == "50k"
    unsolved = seed_table("parity", [_seq_row("a", 40000), _seq_row("b", None)])
    assert unsolved is not None and _cells(unsolved.splitlines()[-1])[7] == "no"


def test_seed_table_counts_collapsed_runs_and_keeps_warm_up_runs_apart() -> None:
    def act(run: str, steps: int | None, setting: str, collapse: int | None = None) -> Row:
        return _seq_row(run, steps, setting, model="act", ponder=1.5, collapse_step=collapse)

    warmed = "tau=0.01 warm-up=10k"
    rows = [act("a0", None, "tau=0.01", collapse=9000), act("a1", 120000, "tau=0.01"),
            act("w0", 90000, warmed), act("w1", 80000, warmed)]  # fmt: skip
    table = seed_table("parity", rows)
    assert table is not None
    published, warm = (_cells(line) for line in table.splitlines()[2:])
    assert published[:6] == ["act", "tau=0.01", "-", "2", "1", "1"]
    assert warm[:6] == ["act", "tau=0.01 warm-up=10k", "-", "2", "2", "0"]
    # Both are set beside the published row of their tau.
    assert published[11:] == warm[11:] == ["53k (1.81)", "354k"]
    assert figure_steps("parity", "act", "tau=1e-3") == 348_000
    assert figure_steps("addition", "act", "tau=0.01") is None
    assert figure_steps("parity", "pact", "tau=0.01") is None


def _seed_run(root: Path, name: str, repeats: int, seed: int, rise: int, *, stopped: bool) -> Path:
    """A finished Repeat-RNN run whose accuracy rises from 50% to 100% at log point ``rise``."""
    (root / name).mkdir()
    directory = _previous_release_run(root / name, "repeat", repeats=repeats)
    summary = json.loads((directory / "summary.json").read_text())
    summary["config"]["seed"] = summary["seed"] = seed
    summary["stopped_when_solved"] = stopped
    (directory / "summary.json").write_text(json.dumps(summary))
    points = rise + 40 if stopped else 120
    log = [{"step": 1000 * (i + 1), "accuracy": 0.5 if i < rise else 1.0} for i in range(points)]
    (directory / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    return directory


def test_plot_draws_seeds_thin_with_their_median_and_records_its_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [
        _seed_run(tmp_path, "rho2_s0", 2, 0, 30, stopped=True),
        _seed_run(tmp_path, "rho2_s1", 2, 1, 50, stopped=True),
        _seed_run(tmp_path, "rho2_s2", 2, 2, 200, stopped=False),  # never solved
        _seed_run(tmp_path, "rho3_s0", 3, 0, 60, stopped=False),
    ]
    figure = tmp_path / "seeds.svg"
    assert main(["--runs", *map(str, runs), "--plot", str(figure), "--title", "seeds"]) == 0
    assert "median" in capsys.readouterr().out  # the seed table
    assert figure.read_text().lstrip().startswith("<?xml")
    data = json.loads(figure.with_suffix(".json").read_text())
    assert data["title"] == "seeds" and data["threshold"] == 0.98
    rho2, rho3 = data["groups"]
    assert (rho2["label"], rho3["label"]) == ("repeat rho=2", "repeat rho=3")
    assert [r["run"] for r in rho2["runs"]] == ["repeat", "repeat", "repeat"]
    assert [r["stopped_when_solved"] for r in rho2["runs"]] == [True, True, False]
    first = rho2["runs"][0]
    assert first["smoothed"] == pytest.approx(smoothed_accuracy(first["accuracy"]).tolist())
    assert max(first["smoothed"]) > 1.0  # the overshoot that the figure clips
    # The median runs to the end of the unsolved run: the solved ones count as solved.
    steps, median = median_curve(rho2["runs"])
    assert steps[-1] == 120_000 and len(steps) == 120
    last = [min(max(r["smoothed"][-1], 0.5), 1.0) for r in rho2["runs"][:2]]  # clipped
    assert median[-1] == pytest.approx(sorted([*last, 0.5])[1])  # seed 2 is still at 50%
    assert median[10] == pytest.approx(0.5)
    drawn = draw(data).axes[0]
    widths = sorted(line.get_linewidth() for line in drawn.get_lines())
    assert widths == [0.7, 0.7, 0.7, 0.9, 1.8, 2.2]  # 3 seeds, 98% line, rho 3, median
    # Drawn again from the data alone.
    assert replot([str(figure.with_suffix(".json")), "--out", str(tmp_path / "again.pdf")]) == 0
    assert (tmp_path / "again.pdf").read_bytes()[:5] == b"%PDF-"


def test_a_figure_in_an_unknown_format_is_refused_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--runs", str(tmp_path), "--plot", str(tmp_path / "p.gif")]) == 2
    assert "cannot write a figure as 'gif'" in capsys.readouterr().err


def test_ponder_plot_draws_each_position_from_the_summaries(
    tmp_path: Path, parity_runs: list[Path]
) -> None:
    root = tmp_path / "ut"
    for seed in (0, 1):
        argv = ["--task", "prefix-parity", "--arch", "transformer", "--length", "4",
                "--hidden-size", "8", "--heads", "2", "--model", "act", "--steps", "6",
                "--log-every", "2", "--eval-samples", "32", "--max-iterations", "3",
                "--seed", str(seed), "--threads", "1", "--quiet",
                "--out", str(root / f"act_s{seed}")]  # fmt: skip
        assert train_main(argv) == 0
    runs = sorted(root.iterdir())
    figure = tmp_path / "ponder.png"
    assert main(["--runs", *map(str, runs), "--ponder-plot", str(figure)]) == 0
    data = json.loads(figure.with_suffix(".json").read_text())
    (series,) = data["series"]
    assert series["label"].endswith("(2 seeds)") and series["x"] == [1, 2, 3, 4]
    seeds = [json.loads((r / "summary.json").read_text())["ponder_by_position"] for r in runs]
    for t in range(4):
        values = [s[t] for s in seeds]
        assert series["y_low"][t] == min(values) and series["y_high"][t] == max(values)
        assert series["y"][t] == pytest.approx(sum(values) / 2)  # the median of two
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Parity has one target: its summaries report no ponder by position.
    assert main(["--runs", *map(str, parity_runs), "--ponder-plot", str(figure)]) == 1


def test_ponder_by_position_data_refuses_mixed_lengths() -> None:
    with pytest.raises(ValueError, match="runs of \\[2, 3\\] positions"):
        ponder_by_position_data([("act", [1.0, 2.0]), ("act", [1.0, 2.0, 3.0])], title="t")
    with pytest.raises(ValueError, match="no run reports"):
        ponder_by_position_data([], title="t")
    single = ponder_by_position_data([("pact", [1.0, 3.0])], title="t")
    assert single["series"][0]["y_low"] is None and single["note"] is None


def test_a_run_read_back_carries_its_warm_up_and_its_collapse(tmp_path: Path) -> None:
    """A warm-up and a summed penalty are settings of their own; step-1 halting is collapse."""
    common = ["--task", "parity", "--bits", "4", *TINY, "--model", "act", "--tau", "0.01"]
    assert train_main([*common, "--warmup-steps", "10", "--out", str(tmp_path / "warm")]) == 0
    assert train_main([*common, "--halting-bias", "20", "--out", str(tmp_path / "trap")]) == 0
    recentred = ["--warmup-steps", "10", "--warmup-recenter", "--out", str(tmp_path / "rc")]
    assert train_main([*common, *recentred]) == 0
    (rc,), _ = read_seq_run(tmp_path / "rc")
    assert rc.setting == "tau=0.01 warm-up=10 re-centred"  # a setting of its own
    summed = ["--task", "addition", "--numbers", "2", "--digits", "1", *TINY, "--model", "act"]
    summed += ["--penalty-reduction", "sum"]
    assert train_main([*summed, "--out", str(tmp_path / "sum")]) == 0
    (total,), _ = read_seq_run(tmp_path / "sum")
    assert total.setting == "tau=0.01 penalty=sum"  # not pooled with the published mean
    (warm,), _ = read_seq_run(tmp_path / "warm")
    (trap,), _ = read_seq_run(tmp_path / "trap")
    assert warm.setting == "tau=0.01 warm-up=10" and warm.collapse_step is None
    assert trap.setting == "tau=0.01" and trap.collapse_step == 5  # the first log point
    assert trap.mean_ponder == 1.0


def test_ponder_curves_draw_each_runs_logged_ponder(
    parity_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figure = tmp_path / "ponder.png"
    assert main(["--runs", *map(str, parity_runs), "--ponder-curve", str(figure)]) == 0
    data = json.loads(figure.with_suffix(".json").read_text())
    assert data["kind"] == "training-curves" and data["log_y"] and not data["y_percent"]
    assert data["threshold"] is None
    groups = {g["label"]: g["runs"] for g in data["groups"]}
    (act,) = groups["act tau=0.01"]
    log = [json.loads(line) for line in (parity_runs[0] / "log.jsonl").read_text().splitlines()]
    assert act["raw"] == act["smoothed"] == [r["ponder"] for r in log]  # as logged
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    draw(data)  # the data alone draws it again
