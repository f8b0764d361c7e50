"""``python -m pact_bench.variance_report``: REINFORCE against the relaxation (PACT fig. 4).

PACT fig. 4 trains PSACT two ways, relaxed (eq. 27) and discrete with REINFORCE (eq. 26,
with the moving-average baseline), for a number of latent variables ``M`` that the
spatial grouping sets, and shows ``log10`` of the parameters' gradient variance over
training (left) and the test accuracy and FLOPs at the end, evaluated discrete (right).
The claim: REINFORCE's variance grows with ``M`` and its accuracy falls behind, the
relaxation's does not.

This command reads ``pact_vision.train`` run directories trained with
``--grad-variance`` (each log point then holds ``grad_variance_log10``, measured the same
way for both estimators: :class:`pact_vision.gradients.GradientVariance`) and prints one
Markdown row per run: estimator, patch side ``g``, ``M``, the gradient variance (the
mean of the last ``--last`` log points, and its range over the run), and the test
accuracy and MFLOPs of the run's final evaluation. ``--plot FILE`` draws the variance
against the training step (one line per run: a colour per ``M``, relaxed solid and
REINFORCE dashed), and ``--accuracy-plot FILE`` the final accuracy against MFLOPs
(one series per estimator, a labelled point per ``M``); each figure's data is written beside it.

``M`` counts the latent variables per image: one per ``g x g`` patch of every block's
map (:func:`pact_core.grouping.grouped_shape`), the maps being the input side ``S``,
``ceil(S / 2)`` and ``ceil(S / 4)``: 1029 for a 28x28 Fashion-MNIST image ungrouped (784
+ 196 + 49), 1344 for CIFAR-10.

Example::

    python -m pact_bench.variance_report --runs runs/fig4/* --plot fig4_variance.png
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pact_bench.plot import FigureData, check_figure_path, save_figure
from pact_core.grouping import grouped_shape
from pact_core.runs import COUNT, OneLineParser, RunError, integer, run_main

__all__ = ["VarianceRun", "latent_variables", "main", "read_variance_run", "report_table"]

#: Input side of the data sets pact_vision trains on.
IMAGE_SIDE = {"cifar10": 32, "fashion-mnist": 28}
#: How the table and plots name the training methods of fig. 4.
ESTIMATORS = {"pact": "relaxed", "pact-reinforce": "REINFORCE"}


@dataclass(frozen=True)
class VarianceRun:
    """One run of fig. 4.

    Attributes:
        run: The run directory's name.
        estimator: ``"relaxed"`` or ``"REINFORCE"``.
        group: Patch side ``g``.
        latent: ``M``, latent variables per image.
        steps: The logged steps that carry a variance.
        log10_variance: ``log10`` of the gradient variance at those steps.
        accuracy: Test accuracy of the final evaluation (``None`` if the run has none).
        mflops: Test MFLOPs per image of that evaluation.
        halting: The halting of that evaluation.
    """

    run: str
    estimator: str
    group: int
    latent: int
    steps: list[int]
    log10_variance: list[float]
    accuracy: float | None
    mflops: float | None
    halting: str | None


def latent_variables(side: int, group: int, blocks: int = 3) -> int:
    """``M`` for a square ``side x side`` input: patches of every block's map, summed."""
    total = 0
    for _ in range(blocks):
        height, width = grouped_shape(side, side, group)
        total += height * width
        side = -(-side // 2)
    return total


def read_variance_run(directory: Path) -> VarianceRun:
    """Read a ``pact_vision.train`` run trained with ``--grad-variance``.

    Raises:
        RunError: If ``directory`` has no log, is not a PSACT run of either estimator,
            or logged no gradient variance.
    """
    log = directory / "log.jsonl"
    if not log.is_file():
        raise RunError(f"{directory} is not a pact_vision.train run (no log.jsonl)")
    config: dict[str, Any] | None = None
    steps: list[int] = []
    variance: list[float] = []
    final: dict[str, Any] | None = None
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else {}
        event = record.get("event")
        if event == "start" and config is None:
            config = record.get("config")
        elif event == "train" and record.get("grad_variance_log10") is not None:
            steps.append(int(record["step"]))
            variance.append(float(record["grad_variance_log10"]))
        elif event == "eval":
            final = record
    if not isinstance(config, dict) or "halting" not in config:
        raise RunError(f"{directory}: its log does not start with a pact_vision.train config")
    method = str(config["halting"].get("method"))
    if method not in ESTIMATORS:
        raise RunError(f"{directory}: method {method!r} is not PSACT (pact or pact-reinforce)")
    if not steps:
        raise RunError(f"{directory}: no gradient variance logged (train with --grad-variance)")
    side = IMAGE_SIDE.get(str(config.get("data")))
    if side is None:
        raise RunError(f"{directory}: unknown data set {config.get('data')!r}")
    group = int(config.get("group", 1))
    return VarianceRun(
        run=directory.name,
        estimator=ESTIMATORS[method],
        group=group,
        latent=latent_variables(side, group),
        steps=steps,
        log10_variance=variance,
        accuracy=None if final is None else float(final["test_accuracy"]),
        mflops=None if final is None else float(final["test_mflops"]),
        halting=None if final is None else str(final.get("halting")),
    )


def report_table(runs: Sequence[VarianceRun], last: int) -> str:
    """One Markdown row per run, sorted by estimator and ``M``."""
    lines = [
        f"| estimator | g | M | log10 grad variance, last {last} | range over the run "
        "| steps | test accuracy | MFLOPs / image | evaluated |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in sorted(runs, key=lambda r: (r.estimator, r.latent)):
        tail = run.log10_variance[-last:]
        cells = [
            run.estimator, str(run.group), str(run.latent), f"{sum(tail) / len(tail):.2f}",
            f"{min(run.log10_variance):.2f} to {max(run.log10_variance):.2f}",
            str(run.steps[-1]),
            "-" if run.accuracy is None else f"{100 * run.accuracy:.2f}%",
            "-" if run.mflops is None else f"{run.mflops:.1f}", run.halting or "-",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def variance_figure_data(runs: Sequence[VarianceRun]) -> FigureData:
    """``log10`` gradient variance against the training step, a line per run."""
    ordered = sorted(runs, key=lambda r: (r.latent, r.estimator))
    return {
        "kind": "xy",
        "title": "PACT fig. 4: gradient variance during training",
        "xlabel": "training step",
        "ylabel": "log10 of the gradient variance",
        "series": [
            {
                "label": f"{r.estimator}, M = {r.latent}",
                "x": r.steps,
                "y": r.log10_variance,
                "style": "line",
                "colour_group": f"M = {r.latent}",
                "dashed": r.estimator == "REINFORCE",
            }
            for r in ordered
        ],
    }


def accuracy_figure_data(runs: Sequence[VarianceRun]) -> FigureData | None:
    """Final test accuracy against MFLOPs, a series per estimator and a point per ``M``.

    ``None`` if no run has a final evaluation.
    """
    series = []
    for estimator in ESTIMATORS.values():
        done = sorted(
            (r for r in runs if r.estimator == estimator and r.accuracy is not None),
            key=lambda r: r.latent,
        )
        if done:
            series.append({
                "label": estimator, "style": "points",
                "x": [r.mflops for r in done], "y": [r.accuracy for r in done],
                "text": [f"M = {r.latent}" for r in done],
            })  # fmt: skip
    if not series:
        return None
    return {
        "kind": "xy",
        "title": "PACT fig. 4: test accuracy and FLOPs at the end",
        "xlabel": "MFLOPs per image",
        "ylabel": "test accuracy",
        "y_percent": True,
        "series": series,
    }


PROG = "pact_bench.variance_report"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="Gradient variance, accuracy and FLOPs of relaxed and REINFORCE PSACT "
        "runs for a range of latent variables M (PACT fig. 4).",
    )
    add = parser.add_argument
    add("--runs", type=Path, nargs="+", required=True, metavar="DIR",
        help="pact_vision.train run directories trained with --grad-variance")  # fmt: skip
    add("--last", type=integer(COUNT), default=3,
        help="log points averaged for the variance column (3)")  # fmt: skip
    add("--plot", default=None, metavar="FILE",
        help="draw the variance over training to FILE (.png, .svg or .pdf)")  # fmt: skip
    add("--accuracy-plot", default=None, metavar="FILE",
        help="draw the final accuracy against MFLOPs to FILE")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the table (and write the plots).

    Returns:
        0; 2 on bad input, 1 on a missing or unsuitable run (one line on stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    plot = check_figure_path(args.plot, "--plot")
    accuracy_plot = check_figure_path(args.accuracy_plot, "--accuracy-plot")
    missing = [str(d) for d in args.runs if not d.is_dir()]
    if missing:
        raise RunError(f"--runs: not a directory: {', '.join(missing)}")
    runs = [read_variance_run(d) for d in args.runs]
    print(report_table(runs, args.last))
    if plot is not None:
        written = save_figure(variance_figure_data(runs), plot)
        print(f"\nwrote {written} and {written.with_suffix('.json')}", file=sys.stderr)
    if accuracy_plot is not None:
        data = accuracy_figure_data(runs)
        if data is None:
            raise RunError("--accuracy-plot: no run has a final evaluation")
        written = save_figure(data, accuracy_plot)
        print(f"wrote {written} and {written.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
