r"""``python -m pact_bench.vision_report``: accuracy against FLOPs of evaluated vision runs.

Reads the ``--json`` files that ``python -m pact_vision.evaluate`` wrote for each
checkpoint and prints one Markdown row per (checkpoint, halting) that the paper
compares (:data:`pact_core.REPORT_HALTINGS` of the run's method): a dense model
(method ``fixed``) with the ``fixed`` halting; SACT (``act``) as trained and as
thresholded PSACT (PACT fig. 8, with the accuracy drop); PSACT (``pact``) relaxed,
discrete and thresholded. ``--plot FILE`` draws, with matplotlib, test accuracy against
MFLOPs per image for every row (:func:`vision_figure_data`): one series per model and
halting, its settings of ``tau`` joined by a line, seeds of one setting merged into their
median with bars from the smallest to the largest. The figure is a PNG, or an SVG or PDF
by ``FILE``'s extension, with its data beside it as JSON (``python -m pact_bench.plot
FILE.json`` draws it again). Reports and checkpoints of the previous release (``mode``
instead of ``halting``, ``dense`` and ``relaxed`` as training modes) are read too.

Example::

    python -m pact_bench.vision_report --evals runs/fashion_mnist/*/eval.json \
        --plot docs/results/fashion_mnist.png
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pact_bench.figures import Point, points_series
from pact_bench.plot import FigureData, check_figure_path, save_figure, wide
from pact_core import REPORT_HALTINGS, Method, parse_method
from pact_core.runs import OneLineParser, RunError, run_main
from pact_vision import CheckpointError, load_checkpoint

__all__ = [
    "EvalRow",
    "drop_lines",
    "main",
    "read_evaluation",
    "report_table",
    "vision_figure_data",
]

#: What the plot calls the models trained by each method.
_LABEL: dict[str, str] = {
    "fixed": "dense",
    "act": "SACT",
    "pact": "PSACT",
    "pact-reinforce": "PSACT-R",
}
#: The previous release's name of the ``fixed`` halting, in its reports.
_LEGACY_HALTINGS = {"dense": "fixed"}


@dataclass(frozen=True)
class EvalRow:
    """One checkpoint evaluated with one halting.

    Attributes:
        run: The run directory's name.
        trained: The method the model was trained by (:data:`pact_core.METHODS`).
        tau: Its ponder penalty.
        evaluated: The halting it was evaluated with (:data:`pact_core.HALTINGS`).
        accuracy: Test accuracy.
        mflops: Mean MFLOPs per image.
        units_per_block: Mean units executed per position, per block.
    """

    run: str
    trained: str
    tau: float
    evaluated: str
    accuracy: float
    mflops: float
    units_per_block: tuple[float, ...]

    @property
    def label(self) -> str:
        """Series name, e.g. ``"PSACT thresholded"`` or ``"SACT as thresholded"``."""
        name = _LABEL.get(self.trained, self.trained)
        if self.trained == "act" and self.evaluated == "thresholded":
            return "SACT as thresholded"
        return name if self.evaluated in ("fixed", "act") else f"{name} {self.evaluated}"


def _trained(payload: dict[str, Any]) -> tuple[Method, float]:
    """The method and ``tau`` a checkpoint was trained with.

    From its training configuration's ``halting`` (or else its model's ``settings``), or,
    for a checkpoint of the previous release, its training ``mode`` and ``tau``.

    Raises:
        ValueError: For an unknown method.
    """
    train: dict[str, Any] = dict(payload.get("train_config") or {})
    halting = train.get("halting") or dict(payload.get("model_config") or {}).get("settings")
    if isinstance(halting, dict) and "method" in halting:
        return parse_method(str(halting["method"])), float(halting.get("tau", 0.0))
    return parse_method(str(train.get("mode", "dense"))), float(train.get("tau", 0.0))


def read_evaluation(path: Path) -> list[EvalRow]:
    """The rows of one ``pact_vision.evaluate --json`` file with its model's report haltings.

    The haltings are :data:`pact_core.REPORT_HALTINGS` of the method the checkpoint was
    trained by; other haltings in the file are left out.

    Raises:
        ValueError: If the file is unreadable or not such a report, or its checkpoint is
            gone (its method and tau are read from it).
    """
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        checkpoint = Path(report["checkpoint"])
        results = report["results"]
        evaluated = [_halting_of(r) for r in results]
    except (OSError, ValueError, KeyError, TypeError) as error:  # ValueError: bad JSON, UTF-8
        raise ValueError(f"{path} is not a pact_vision.evaluate --json report: {error}") from None
    try:
        method, tau = _trained(load_checkpoint(checkpoint))
    except (CheckpointError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    shown = REPORT_HALTINGS[method]
    return [
        EvalRow(
            run=checkpoint.parent.name,
            trained=method,
            tau=tau,
            evaluated=halting,
            accuracy=float(r["accuracy"]),
            mflops=float(r["mean_flops"]) / 1e6,
            units_per_block=tuple(float(u) for u in r["units_per_block"]),
        )
        for r, halting in zip(results, evaluated, strict=True)
        if halting in shown
    ]


def _halting_of(result: dict[str, Any]) -> str:
    """A result's halting: ``halting``, or the previous release's ``mode``."""
    name = str(result["halting"] if "halting" in result else result["mode"])
    return _LEGACY_HALTINGS.get(name, name)


def report_table(rows: list[EvalRow]) -> str:
    """A Markdown table of ``rows``, with the FLOPs saved against the densest row."""
    dense = max((r.mflops for r in rows), default=0.0)
    lines = [
        "| run | trained | tau | evaluated | accuracy | MFLOPs / image | FLOPs saved "
        "| units per block |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        units = " / ".join(f"{u:.2f}" for u in r.units_per_block)
        saved = f"{100 * (1 - r.mflops / dense):.0f}%" if dense else "-"
        tau = f"{r.tau:g}" if r.trained != "fixed" else "-"
        lines.append(
            f"| {r.run} | {r.trained} | {tau} | {r.evaluated} | {100 * r.accuracy:.2f}% "
            f"| {r.mflops:.1f} | {saved} | {units} |"
        )
    return "\n".join(lines)


def drop_lines(rows: list[EvalRow]) -> list[str]:
    """For each SACT run: accuracy and FLOPs as trained and as thresholded PSACT."""
    lines = []
    for run in sorted({r.run for r in rows if r.trained == "act"}):
        haltings = {r.evaluated: r for r in rows if r.run == run}
        if "act" in haltings and "thresholded" in haltings:
            act, thr = haltings["act"], haltings["thresholded"]
            lines.append(
                f"- {run}: {100 * act.accuracy:.2f}% as SACT, {100 * thr.accuracy:.2f}% as "
                f"thresholded PSACT (drop {100 * (act.accuracy - thr.accuracy):.2f} points; "
                f"{act.mflops:.1f} vs {thr.mflops:.1f} MFLOPs)"
            )
    return lines


def vision_figure_data(rows: list[EvalRow], title: str) -> FigureData:
    """Figure data of test accuracy against MFLOPs per image, for :mod:`pact_bench.plot`.

    One series per :attr:`EvalRow.label` (``PSACT thresholded``, ``SACT``, ...), a point
    per ``tau`` (noted beside it), rows of one label and ``tau`` (seeds) merged into their
    median with bars from the smallest to the largest value
    (:func:`pact_bench.figures.points_series`). The FLOP axis is logarithmic when it spans
    a factor of ten.
    """
    points = [
        Point(r.label, f"tau={r.tau:g}" if r.trained != "fixed" else "", r.mflops, r.accuracy)
        for r in rows
    ]
    series = points_series(points)
    merged = any(low is not None for s in series for low in s["x_low"])
    return {
        "kind": "xy",
        "title": title,
        "xlabel": "MFLOPs per image",
        "ylabel": "test accuracy",
        "y_percent": True,
        "log_x": wide([r.mflops for r in rows]),
        "note": "bars: smallest to largest over runs of a setting" if merged else None,
        "series": series,
    }


PROG = "pact_bench.vision_report"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="Tabulate pact_vision.evaluate --json reports: accuracy against FLOPs.",
    )
    parser.add_argument("--evals", type=Path, nargs="+", required=True, metavar="JSON",
                        help="pact_vision.evaluate --json files")  # fmt: skip
    parser.add_argument(
        "--plot", default=None, metavar="FILE",
        help="draw the plot to FILE (.png, .svg or .pdf) and its data to FILE.json",
    )  # fmt: skip
    parser.add_argument("--title", default="accuracy against FLOPs", help="plot title")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the table and the SACT-as-thresholded drops (and write the plot).

    Returns:
        0; 2 on bad input, 1 on reports or checkpoints that cannot be read (one line on
        stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    plot = check_figure_path(args.plot, "--plot")  # bad format or place: before any reading
    try:
        rows = [row for path in args.evals for row in read_evaluation(path)]
    except ValueError as error:
        raise RunError(str(error)) from None
    if not rows:
        raise RunError("the reports hold no halting this report shows")
    print(report_table(rows))
    drops = drop_lines(rows)
    if drops:
        print("\nSACT evaluated as thresholded PSACT (PACT fig. 8):\n" + "\n".join(drops))
    if plot is not None:
        try:
            save_figure(vision_figure_data(rows, args.title), plot)
        except ValueError as error:
            raise RunError(f"cannot draw the plot: {error}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
