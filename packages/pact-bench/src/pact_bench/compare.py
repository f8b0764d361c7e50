"""``python -m pact_bench.compare``: what adaptive computation buys, at a glance.

With no arguments it runs an embedded comparison that needs no data set and finishes in
minutes on a laptop CPU:

* **sequence models**: ACT, PACT (trained relaxed, evaluated discrete, thresholded and
  relaxed), Repeat-RNN and a plain RNN, trained on a small parity task, with accuracy,
  ponder steps, training speed and FLOPs per input;
* **vision models**: ResNet-32 dense (the ``fixed`` halting), SACT and thresholded PSACT,
  with FLOPs, latency
  (batch 1 and 64) and peak evaluation memory, under *controlled* halting (every
  position runs a fixed share of the units), or a trained checkpoint's own halting.

Given run directories (``--runs DIR ...``) from ``pact_seq.train`` or
``pact_vision.train``, it tabulates their real results instead. It prints Markdown
tables and writes to ``--out`` (checked and created before any work; what it already
holds is kept, and finished training runs in ``seq-runs/`` are reused):

* ``results.json``: the full record, nested: the environment, the preset (or the run
  directories), the wall time, every row (``rows``) and every training curve
  (``curves``);
* ``results_table.json``: the rows alone as a flat table, a JSON list with one object
  per row and one key per column (:class:`pact_bench.results.Row`), the layout
  ``pandas.DataFrame.to_json(orient="records")`` writes, so that
  ``pandas.read_json("results_table.json")`` reads it as it is;
* ``results.csv``: the same table as CSV;
* figures: matplotlib PNGs (``--format svg`` or ``pdf`` for vector files), each with the
  JSON data it was drawn from beside it (``python -m pact_bench.plot FILE.json`` draws it
  again).

Every JSON file is strict: a number that is not finite is written as ``null`` (with a
``"nulls"`` entry saying which, in ``results.json``). Bad input fails in one line before
any work (exit status 2); a missing or mismatched run, checkpoint or data set in one
line too (exit status 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from pact_bench.compare_seq import (
    SeqPreset,
    SeqRun,
    TrainingCurve,
    read_seq_run,
    run_seq_comparison,
)
from pact_bench.compare_vision import (
    SPARSE_NAME,
    VisionPreset,
    read_vision_run,
    run_vision_comparison,
)
from pact_bench.environment import describe_environment
from pact_bench.figures import accuracy_flops_data, latency_data, training_curves_data
from pact_bench.flops import load_vision_model
from pact_bench.plot import FIGURE_FORMATS, FigureData, save_figure
from pact_bench.results import Row, markdown_tables, write_csv, write_json, write_table
from pact_core.runs import (
    COUNT,
    OneLineParser,
    RunError,
    UsageError,
    check_output_dir,
    integer,
    parse_device,
    retain_freed_memory,
    run_main,
)
from pact_vision import load_dataset, max_iterations_of
from pact_vision.datasets import DATASETS

__all__ = ["PRESETS", "Preset", "main"]


@dataclass(frozen=True)
class Preset:
    """A named comparison: the parity setting and the vision measurements."""

    name: str
    description: str
    seq: SeqPreset
    vision: VisionPreset


def _runs(
    act: tuple[float, ...], pact: tuple[float, ...], rho: tuple[int, ...]
) -> tuple[SeqRun, ...]:
    return (
        *(SeqRun("act", tau=t) for t in act),
        *(SeqRun("pact", tau=t) for t in pact),
        SeqRun("pondernet"),
        *(SeqRun("repeat", repeats=r) for r in rho),
        SeqRun("plain"),
        # Per-token depth: the Universal Transformer, adaptive and at two fixed depths.
        SeqRun("act", tau=0.01, transformer=True),
        SeqRun("repeat", repeats=2, transformer=True),
        SeqRun("repeat", repeats=4, transformer=True),
    )


PRESETS: dict[str, Preset] = {
    "default": Preset(
        "default",
        "parity on 8 bits (64 hidden units, 3000 steps); ResNet-32 at batch 1 and 64",
        SeqPreset(
            bits=8, hidden_size=64, batch_size=128, steps=3000, max_iterations=20, log_every=50,
            eval_samples=4000, runs=_runs((0.01,), (0.01,), (3,)),
        ),
        VisionPreset("resnet32", batches=(1, 64), units=(1, 3, 5), min_run_time=0.5),
    ),
    "quick": Preset(
        "quick",
        "a smoke run: parity on 4 bits for 150 steps; ResNet-14 at batch 1 and 8",
        SeqPreset(
            bits=4, hidden_size=16, batch_size=32, steps=150, max_iterations=5, log_every=10,
            eval_samples=256, runs=_runs((0.01,), (0.01,), (2,)),
        ),
        VisionPreset("resnet14", batches=(1, 8), units=(1, 2), min_run_time=0.02),
    ),
    "paper": Preset(
        "paper",
        "the published scales: parity on 64 bits (128 units, 200k steps); ResNet-110",
        SeqPreset(
            bits=64, hidden_size=128, batch_size=128, steps=200_000, max_iterations=100,
            log_every=1000, eval_samples=10_000,
            runs=_runs((1e-2, 1e-3), (1e-2, 1e-3), (2, 3, 5, 8)),
        ),
        VisionPreset("resnet110", batches=(1, 128), units=(6, 12, 18), min_run_time=1.0),
    ),
}  # fmt: skip


PROG = "pact_bench.compare"
#: The files ``--out`` receives beside the figures.
RESULT_FILES = ("results.json", "results_table.json", "results.csv")


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="Compare ACT, PACT, Repeat-RNN and SACT/PSACT: accuracy, FLOPs, time, memory.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--quick", action="store_true", help="the quick preset (under a minute)")
    parser.add_argument(
        "--runs",
        type=Path,
        nargs="+",
        default=None,
        metavar="DIR",
        help="tabulate these pact_seq.train / pact_vision.train runs instead",
    )
    parser.add_argument(
        "--out",
        default="pact-results",
        help="output directory (results.json, results_table.json, results.csv, figures)",
    )
    parser.add_argument("--arch", default=None, help="vision architecture (resnet<6n+2>)")
    parser.add_argument(
        "--vision-checkpoint",
        type=Path,
        default=None,
        help="measure this pact_vision checkpoint's own halting",
    )
    parser.add_argument("--data", choices=DATASETS, default=None, help="for vision checkpoints")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--skip",
        choices=("seq", "vision"),
        action="append",
        default=[],
        help="leave out one half of the comparison",
    )
    parser.add_argument(
        "--device", type=parse_device, default="auto", help="auto, cpu, cuda or cuda:N"
    )
    parser.add_argument(
        "--threads",
        type=integer(COUNT),
        default=None,
        help="torch CPU threads (default: 1 to train the small sequence models, which "
        "gain nothing from more and lose much on a busy machine; all for vision)",
    )
    parser.add_argument("--seed", type=integer(), default=0)
    parser.add_argument(
        "--format",
        choices=FIGURE_FORMATS,
        default="png",
        help="file format of the figures (each with its .json data)",
    )
    return parser


def _status(start: float) -> Any:
    def status(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

    return status


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; print Markdown tables and write results to ``--out``.

    Returns:
        0; 2 on bad input, 1 on a missing or mismatched run, checkpoint or data set (one
        line on stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    status = _status(start)
    preset = PRESETS["quick" if args.quick else args.preset]
    if args.arch is not None:
        try:
            n = max_iterations_of(args.arch)  # unknown arch: one-line error before any work
        except ValueError as error:
            raise UsageError(f"--arch: {error}") from None
        units = tuple(sorted({1, max(1, n // 2), n}))
        preset = Preset(
            preset.name, preset.description, preset.seq,
            VisionPreset(args.arch, preset.vision.batches, units, preset.vision.min_run_time),
        )  # fmt: skip
    out = check_output_dir(args.out, "--out", files=RESULT_FILES)
    _check_inputs(args)
    retain_freed_memory()  # time the computation, not page faults (pact_core.runs)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device: torch.device = args.device
    args.out = out
    rows, curves = _collect(args, preset, device, status)
    wall = time.perf_counter() - start
    environment = describe_environment(device)
    _write(
        out, rows, curves, preset, environment.as_dict(), wall, runs=args.runs,
        format=args.format,
    )  # fmt: skip
    print(_report(rows, preset, environment.summary(), wall, args.runs is not None))
    print(f"\nwrote {', '.join(RESULT_FILES)} and figures to {out}/", file=sys.stderr)
    return 0


def _check_inputs(args: argparse.Namespace) -> None:
    """Refuse runs, checkpoints and data that cannot be used, before any work.

    Raises:
        UsageError: For a vision run or checkpoint without ``--data``.
        RunError: For a directory that holds no run, missing data, or a vision checkpoint
            (of a run or ``--vision-checkpoint``) that is missing, foreign, or trained on
            images of another shape than ``--data``'s.
    """
    if args.runs is not None:
        args.kinds = {directory: _run_kind(directory, args.data) for directory in args.runs}
        vision = [directory for directory, kind in args.kinds.items() if kind == "vision"]
        if vision:
            shape = load_dataset(args.data, args.data_dir).test.images.shape[1:]
            for directory in vision:
                load_vision_model(directory, data_shape=shape, data_name=args.data)
        return
    checkpoint = args.vision_checkpoint
    if checkpoint is None or "vision" in args.skip:
        return
    if args.data is None:
        raise UsageError("--vision-checkpoint needs --data (cifar10 or fashion-mnist)")
    load_vision_model(checkpoint)  # a missing or foreign checkpoint: before the data
    shape = load_dataset(args.data, args.data_dir).test.images.shape[1:]
    load_vision_model(checkpoint, data_shape=shape, data_name=args.data)


def _run_kind(directory: Path, data: str | None) -> str:
    """``"seq"`` or ``"vision"``; raises a one-line error before any work is done."""
    if (directory / "summary.json").is_file():
        return "seq"
    if (directory / "checkpoint.pt").is_file() or directory.is_file():
        if data is None:
            raise UsageError(f"the vision run {directory} needs --data (cifar10 or fashion-mnist)")
        load_vision_model(directory)  # a missing or foreign checkpoint: one line, now
        return "vision"
    raise RunError(
        f"{directory} is neither a pact_seq.train run (no summary.json) nor a "
        "pact_vision.train run (no checkpoint.pt)"
    )


def _collect(
    args: argparse.Namespace, preset: Preset, device: torch.device, status: Any
) -> tuple[list[Row], list[TrainingCurve]]:
    rows: list[Row] = []
    curves: list[TrainingCurve] = []
    if args.runs is not None:
        for directory, kind in args.kinds.items():
            if kind == "seq":
                run_rows, curve = read_seq_run(directory)
                rows += run_rows
                curves.append(curve)
            else:
                status(f"[runs] evaluating {directory} on {args.data}")
                rows += read_vision_run(directory, args.data, args.data_dir, device)
        return rows, curves
    if "seq" not in args.skip:
        threads = torch.get_num_threads()
        try:
            seq_rows, curves = run_seq_comparison(
                preset.seq,
                args.out / "seq-runs",
                seed=args.seed,
                device=str(device),
                status=status,
                threads=args.threads if args.threads is not None else 1,
            )
        finally:
            torch.set_num_threads(threads)  # training set its own count
        rows += seq_rows
    if "vision" not in args.skip:
        rows += run_vision_comparison(
            preset.vision,
            device=device,
            seed=args.seed,
            status=status,
            checkpoint=args.vision_checkpoint,
            data=args.data,
            data_dir=args.data_dir,
        )
    return rows, curves


def _write(
    out: Path,
    rows: list[Row],
    curves: list[TrainingCurve],
    preset: Preset,
    environment: dict[str, Any],
    wall: float,
    *,
    runs: list[Path] | None,
    format: str = "png",
) -> None:
    payload = {
        "environment": environment,
        "preset": None if runs is not None else asdict(preset),
        "runs": None if runs is None else [str(r) for r in runs],
        "wall_seconds": round(wall, 2),
        "rows": [r.as_dict() for r in rows],
        "curves": [asdict(c) for c in curves],
    }
    write_json(out / "results.json", payload)
    write_table(out / "results_table.json", rows)
    write_csv(out / "results.csv", rows)
    for name, data in _figures(rows, curves):
        save_figure(data, out / name, format=format)


def _figures(rows: list[Row], curves: list[TrainingCurve]) -> list[tuple[str, FigureData]]:
    """The comparison's figures: their file names (no extension) and data."""
    figures: list[tuple[str, FigureData]] = []
    # One figure per task: the Transformer rows train on prefix parity, whose accuracy
    # (every position right) is not comparable with parity's.
    tasks = sorted({c.task or "parity" for c in curves if c.steps}, key=lambda t: t != "parity")
    for task in tasks:
        chosen = [c for c in curves if (c.task or "parity") == task]
        name = "seq_accuracy_vs_steps" + ("" if task == "parity" else f"_{task}")
        title = f"{task}: smoothed training-batch accuracy"
        figures.append((name, training_curves_data(chosen, title=title)))
    for part in ("seq", "vision"):
        scored = accuracy_flops_data(rows, part)
        if scored is not None:
            figures.append((f"{part}_accuracy_vs_flops", scored))
    batches = {r.batch for r in rows if r.part == "vision" and r.latency_ms is not None}
    for batch in sorted(b for b in batches if b is not None):
        timed = latency_data(rows, batch)
        if timed is not None:
            figures.append((f"vision_latency_vs_active_batch{batch}", timed))
    return figures


def _report(rows: list[Row], preset: Preset, machine: str, wall: float, from_runs: bool) -> str:
    lines = ["## pact comparison", ""]
    if from_runs:
        lines.append("Results of the given run directories.")
    else:
        lines.append(f"Preset `{preset.name}`: {preset.description}.")
    lines += [f"Machine: {machine}.", f"Wall time: {wall:.0f} s.", "", markdown_tables(rows)]
    if any(r.source == "controlled halting" for r in rows):
        lines += [
            "",
            "Vision rows marked *controlled halting* have their halting heads set by hand so "
            "that every position runs the stated share of units; they measure the cost of "
            "execution, not a trained model. Masked execution (sact, psact) computes every "
            "position, so its latency does not fall with the active fraction; "
            f"{SPARSE_NAME} computes only the tiles with an active position "
            '(`execution="sparse"`). FLOPs count only what the masks need.',
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
