"""``python -m pact_bench.seq_report``: our parity/addition runs beside Fojo et al.'s table.

Reads finished ``pact_seq.train`` run directories (of this release or the previous one)
and prints one Markdown table row per run and evaluation halting, with the published
steps to solve (and ACT's mean ponder) of the same model and setting from
:mod:`pact_bench.published`. ``--plot FILE`` also draws, with matplotlib, the smoothed
training accuracy of every run against training steps, with the 98% line that counts as
solved: the seeds of one model and setting thin in one colour and their median bold
(:func:`pact_bench.plot.training_curves_figure`). The figure is a PNG, or an SVG or PDF
by ``FILE``'s extension, and its data (every run's raw and smoothed curve) is written
beside it as JSON (``parity.png``, ``parity.json``); ``python -m pact_bench.plot
parity.json`` draws it again without the runs. ``--ponder-plot FILE`` draws the mean
iterations at each position (timestep or token) of the runs whose summaries report it
(tasks with a target per position: addition, prefix parity), the seeds of a setting as
their median with bars from the smallest to the largest. ``--ponder-curve FILE`` draws
the training-batch ponder (mean iterations per input) of every run against training
steps, as logged, on a log axis: where a run collapsed to one iteration, or climbed to
tens, is seen at a glance.

Example::

    python -m pact_bench.seq_report --runs runs/parity/* --plot docs/results/parity.png
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from pact_bench.compare_seq import TrainingCurve, read_ponder_by_position, read_seq_run
from pact_bench.figures import (
    ponder_by_position_data,
    ponder_curves_data,
    training_curves_data,
)
from pact_bench.plot import check_figure_path, save_figure
from pact_bench.published import figure_steps, format_published, published_row
from pact_bench.results import Row
from pact_core.runs import OneLineParser, RunError, run_main

__all__ = ["main", "report_table", "seed_table"]


def _steps(value: int | None) -> str:
    return "no" if value is None else f"{value / 1000:g}k"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def report_table(task: str, rows: Sequence[Row]) -> str:
    """A Markdown table of ``rows`` with the published result of each model and setting.

    For addition, ``accuracy`` is sequence accuracy and a digit-accuracy column follows.

    "Steps to solve" is the first log point whose smoothed accuracy reaches 98% ("no" if
    none within the run's steps); "Fojo statistic" is what the authors' script computed
    (:func:`pact_seq.smoothing.fojo_steps_to_solve`); "published" is their table's cell.
    """
    digits = task == "addition"
    lines = [
        "| run | eval | accuracy | " + ("digit accuracy | " if digits else "")
        + "ponder steps | steps to solve | Fojo statistic | published (Fojo) | steps run "
        "| train steps/s |",
        "|---|---|---|" + ("---|" if digits else "") + "---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in rows:
        published = format_published(published_row(task, row.model, row.setting))
        ponder = "-" if row.mean_ponder is None else f"{row.mean_ponder:.2f}"
        speed = "-" if row.steps_per_s is None else f"{row.steps_per_s:.0f}"
        cells = [row.run, row.halting or "-", _percent(row.accuracy)]
        if digits:
            cells.append(_percent(row.digit_accuracy))
        cells += [
            ponder, _steps(row.steps_to_solve), _steps(row.steps_to_solve_fojo), published,
            "-" if row.steps is None else f"{row.steps / 1000:g}k", speed,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_table(task: str, rows: Sequence[Row]) -> str | None:
    """Runs of the same model, setting and evaluation halting gathered across seeds.

    The three measures of "steps to solve" stand side by side: ours (the first log point
    whose smoothed accuracy reaches 98%), the statistic of the authors' script applied
    to our logs (:func:`pact_seq.smoothing.fojo_steps_to_solve`), and, for parity, the
    step where the paper's own figure crosses 98% (:func:`pact_bench.published.figure_steps`)
    beside its table's number. Each list is sorted, "no" for a run that did not solve,
    and its median counts an unsolved run as slower than every solved one (so the
    median is "no" when half or more did not solve). "Collapsed" counts the runs that
    ended collapsed to one iteration per input; "ponder" is the mean over the runs of
    their mean iterations per input at evaluation.

    Returns:
        ``None`` if no setting has more than one run.
    """
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.model, row.setting, row.halting or "-"), []).append(row)
    repeated = {key: group for key, group in groups.items() if len(group) > 1}
    if not repeated:
        return None
    lines = [
        "| model | setting | eval | runs | solved | collapsed | steps to solve, each | median "
        "| Fojo statistic, each | median | ponder | published table (Fojo) "
        "| published figure, 98% |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (model, setting, evaluation), group in repeated.items():
        ours = _sorted_steps([r.steps_to_solve for r in group])
        fojo = _sorted_steps([r.steps_to_solve_fojo for r in group])
        ponders = [r.mean_ponder for r in group if r.mean_ponder is not None]
        ponder = f"{sum(ponders) / len(ponders):.2f}" if ponders else "-"
        figure = figure_steps(task, model, setting)
        cells = [
            model, setting or "-", evaluation, str(len(group)),
            str(sum(v is not None for v in ours)),
            str(sum(r.collapse_step is not None for r in group)),
            ", ".join(_steps(v) for v in ours), _steps(_median(ours)),
            ", ".join(_steps(v) for v in fojo), _steps(_median(fojo)), ponder,
            format_published(published_row(task, model, setting)),
            "-" if figure is None else _steps(figure),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sorted_steps(steps: Sequence[int | None]) -> list[int | None]:
    """``steps`` sorted, the unsolved (``None``) last."""
    return sorted(steps, key=lambda v: (v is None, v or 0))


def _median(steps: Sequence[int | None]) -> int | None:
    """The median of sorted ``steps``; ``None`` if it falls on an unsolved run."""
    middle = steps[(len(steps) - 1) // 2 : len(steps) // 2 + 1]
    if any(v is None for v in middle):
        return None
    return sum(v for v in middle if v is not None) // len(middle)


PROG = "pact_bench.seq_report"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG, description="Tabulate pact_seq.train runs beside Fojo et al.'s published table."
    )
    parser.add_argument(
        "--runs", type=Path, nargs="+", required=True, metavar="DIR",
        help="finished pact_seq.train run directories of one task (files are skipped)",
    )  # fmt: skip
    parser.add_argument(
        "--plot", default=None, metavar="FILE",
        help="draw the accuracy curves to FILE (.png, .svg or .pdf) and their data to FILE.json",
    )  # fmt: skip
    parser.add_argument(
        "--ponder-curve", default=None, metavar="FILE",
        help="draw the training-batch ponder against training steps to FILE and its data "
        "to FILE.json",
    )  # fmt: skip
    parser.add_argument(
        "--ponder-plot", default=None, metavar="FILE",
        help="draw the mean iterations at each position to FILE and its data to FILE.json",
    )  # fmt: skip
    parser.add_argument(
        "--title", default=None,
        help="title of the plot (default: TASK: smoothed training-batch accuracy)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the table (and write the plot).

    Returns:
        0; 2 on bad input, 1 on missing or unreadable runs (one line on stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    plot = check_figure_path(args.plot, "--plot")  # bad format or place: before any reading
    ponder_plot = check_figure_path(args.ponder_plot, "--ponder-plot")
    ponder_curve = check_figure_path(args.ponder_curve, "--ponder-curve")
    missing = [str(d) for d in args.runs if not d.exists()]
    if missing:
        raise RunError(f"--runs: no such directory: {', '.join(missing)}")
    runs = [d for d in args.runs if d.is_dir()]  # a shell glob also matches files
    if not runs:
        raise RunError("none of --runs is a directory")
    rows: list[Row] = []
    curves: list[TrainingCurve] = []
    tasks: set[str] = set()
    by_position: list[tuple[str, list[float]]] = []
    for directory in runs:
        run_rows, curve = read_seq_run(directory)
        rows += run_rows
        curves.append(curve)
        tasks.add(curve.task)
        ponder = read_ponder_by_position(directory)
        if ponder:
            by_position.append((curve.group or curve.run, ponder))
    if len(tasks) > 1:
        raise RunError(f"--runs mixes tasks ({', '.join(sorted(tasks))}); give one task")
    task = tasks.pop()
    print(report_table(task, rows))
    seeds = seed_table(task, rows)
    if seeds is not None:
        print("\n" + seeds)
    if plot is not None:
        title = args.title or f"{task}: smoothed training-batch accuracy"
        try:
            written = save_figure(training_curves_data(curves, title=title), plot)
        except ValueError as error:
            raise RunError(f"cannot draw the plot: {error}") from None
        print(f"\nwrote {written} and {written.with_suffix('.json')}", file=sys.stderr)
    if ponder_curve is not None:
        try:
            data = ponder_curves_data(curves, title=f"{task}: iterations per input in training")
        except ValueError as error:
            raise RunError(f"--ponder-curve: {error}") from None
        written = save_figure(data, ponder_curve)
        print(f"wrote {written} and {written.with_suffix('.json')}", file=sys.stderr)
    if ponder_plot is not None:
        if not by_position:
            raise RunError("--ponder-plot: no run's summary reports its ponder by position")
        data = ponder_by_position_data(by_position, title=f"{task}: iterations by position")
        written = save_figure(data, ponder_plot)
        print(f"wrote {written} and {written.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
