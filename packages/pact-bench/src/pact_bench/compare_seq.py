"""The sequence half of the comparison: train pact-seq models on parity and tabulate them.

Each model is trained by :mod:`pact_seq.train` into its own run directory, so a
comparison that is interrupted resumes where it stopped, and one that is run again
with the same settings reuses the finished runs. The same reader tabulates run
directories that a user trained with ``python -m pact_seq.train``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pact_bench.flops import cell_step_flops
from pact_bench.plot import Series
from pact_bench.results import Row
from pact_seq.config import TrainConfig, build_model, build_task
from pact_seq.smoothing import SOLVED_ACCURACY, smoothed_accuracy
from pact_seq.train import main as train_main

__all__ = [
    "RunError",
    "SeqPreset",
    "SeqRun",
    "TrainingCurve",
    "accuracy_plot_series",
    "flops_per_step",
    "read_seq_run",
    "run_seq_comparison",
]

SUMMARY = "summary.json"
LOG = "log.jsonl"


class RunError(ValueError):
    """A run directory that cannot be read or trained; the message is one line."""


@dataclass(frozen=True)
class SeqRun:
    """One model of the comparison.

    Attributes:
        model: ``act``, ``pact``, ``pact-reinforce``, ``repeat`` or ``plain``.
        tau: Computation penalty of the halting models.
        repeats: ``rho`` of Repeat-RNN.
    """

    model: str
    tau: float | None = None
    repeats: int = 1

    @property
    def name(self) -> str:
        """Directory and row name, e.g. ``act-tau0.01`` or ``repeat-rho3``."""
        if self.tau is not None:
            return f"{self.model}-tau{self.tau:g}"
        if self.model == "repeat":
            return f"repeat-rho{self.repeats}"
        return self.model


@dataclass(frozen=True)
class SeqPreset:
    """The parity setting every model of the comparison is trained on."""

    bits: int
    hidden_size: int
    batch_size: int
    steps: int
    max_ponder: int
    log_every: int
    eval_samples: int
    runs: tuple[SeqRun, ...]


@dataclass(frozen=True)
class TrainingCurve:
    """Training-batch accuracy of one run, raw and Savitzky-Golay smoothed."""

    run: str
    steps: list[int]
    accuracy: list[float]
    smoothed: list[float]
    task: str = ""


def _train_argv(
    preset: SeqPreset, run: SeqRun, out: Path, seed: int, device: str, threads: int | None
) -> list[str]:
    argv = [
        "--task", "parity",
        "--model", run.model,
        "--steps", str(preset.steps),
        "--bits", str(preset.bits),
        "--hidden-size", str(preset.hidden_size),
        "--batch-size", str(preset.batch_size),
        "--max-ponder", str(preset.max_ponder),
        "--log-every", str(preset.log_every),
        "--checkpoint-every", str(max(preset.log_every, preset.steps // 4)),
        "--eval-samples", str(preset.eval_samples),
        "--seed", str(seed),
        "--device", device,
        "--out", str(out),
        "--quiet",
    ]  # fmt: skip
    if threads is not None:
        argv += ["--threads", str(threads)]
    if run.tau is not None:
        argv += ["--tau", repr(run.tau)]
    if run.model == "repeat":
        argv += ["--repeats", str(run.repeats)]
    if (out / "checkpoint.pt").exists():
        argv.append("--resume")
    return argv


def run_seq_comparison(
    preset: SeqPreset,
    out: Path,
    *,
    seed: int,
    device: str,
    status: Callable[[str], None],
    threads: int | None = None,
) -> tuple[list[Row], list[TrainingCurve]]:
    """Train (or reuse) every run of ``preset`` under ``out`` and tabulate them.

    Raises:
        RunError: If a run fails, or ``out`` holds a finished run with other settings.
    """
    rows: list[Row] = []
    curves: list[TrainingCurve] = []
    for index, run in enumerate(preset.runs, start=1):
        directory = out / run.name
        argv = _train_argv(preset, run, directory, seed, device, threads)
        wanted = {"steps": preset.steps, "bits": preset.bits, "seed": seed}
        if not _finished(directory, wanted):
            status(f"[seq {index}/{len(preset.runs)}] training {run.name} on parity")
            code = train_main(argv)
            if code != 0:
                raise RunError(f"training {run.name} failed (exit {code}); see the message above")
        else:
            status(f"[seq {index}/{len(preset.runs)}] {run.name}: reusing {directory}")
        run_rows, curve = read_seq_run(directory, source="trained here")
        rows += run_rows
        curves.append(curve)
    return rows, curves


def _finished(directory: Path, wanted: dict[str, Any]) -> bool:
    summary_path = directory / SUMMARY
    if not summary_path.exists():
        return False
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    config = summary.get("config", {})
    mismatched = {k: (config.get(k), v) for k, v in wanted.items() if config.get(k) != v}
    if mismatched:
        detail = ", ".join(f"{k} {old} (wanted {new})" for k, (old, new) in mismatched.items())
        raise RunError(
            f"{directory} holds a finished run with other settings: {detail}; "
            "use another --out or remove it"
        )
    return True


def _load_summary(directory: Path) -> dict[str, Any]:
    path = directory / SUMMARY
    if not directory.is_dir():
        raise RunError(f"run directory {directory} does not exist")
    if not path.is_file():
        raise RunError(f"{directory} is not a finished pact_seq.train run (no {SUMMARY})")
    try:
        summary: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RunError(f"{path} is unreadable: {error}") from None
    if "task" not in summary or "config" not in summary:
        raise RunError(f"{path} is not a pact_seq summary (no task/config)")
    return summary


def _setting(config: TrainConfig) -> str:
    if config.has_halting:
        return f"tau={config.tau:g}"
    if config.model == "repeat":
        return f"rho={config.repeats}"
    return ""


def flops_per_step(config: TrainConfig) -> int:
    """FLOPs of one cell iteration plus its halting head, per sequence, for ``config``."""
    with torch.random.fork_rng():
        model = build_model(config, build_task(config))
    layer = model.recurrent
    return cell_step_flops(layer.cell, layer.halting_head, layer.state_size)


def read_seq_run(
    directory: Path, *, source: str = "run directory"
) -> tuple[list[Row], TrainingCurve]:
    """Rows (one per evaluation mode) and the training curve of a pact_seq.train run.

    Raises:
        RunError: If ``directory`` is not a finished run.
    """
    summary = _load_summary(directory)
    config = TrainConfig.from_dict(summary["config"])
    per_step = flops_per_step(config)
    common: dict[str, Any] = {
        "part": "seq",
        "run": directory.name,
        "model": config.model,
        "setting": _setting(config),
        "source": source,
        "steps_to_solve": summary.get("steps_to_solve"),
        "steps_to_solve_fojo": summary.get("steps_to_solve_fojo"),
        "steps": summary.get("steps"),
        "steps_per_s": summary.get("steps_per_s"),
    }
    evaluations: dict[str, dict[str, Any]] = summary.get("evaluations") or {
        str(summary.get("eval_mode")): {
            "accuracy": summary["accuracy"],
            "mean_ponder": summary["mean_ponder"],
        }
    }
    addition = summary["task"] == "addition"
    rows = []
    for mode, result in evaluations.items():
        ponder = float(result["mean_ponder"])
        digits = result.get("digit_accuracy", summary.get("digit_accuracy")) if addition else None
        rows.append(
            Row(
                **common,
                eval_mode=None if mode == "None" else mode,
                accuracy=float(result["accuracy"]),
                digit_accuracy=None if digits is None else float(digits),
                mean_ponder=ponder,
                flops=per_step * ponder,
            )
        )
    return rows, _curve(directory, str(summary["task"]))


def _curve(directory: Path, task: str) -> TrainingCurve:
    steps: list[int] = []
    accuracy: list[float] = []
    log = directory / LOG
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                steps.append(int(record["step"]))
                accuracy.append(float(record["accuracy"]))
    smoothed = smoothed_accuracy(accuracy).tolist()
    return TrainingCurve(directory.name, steps, accuracy, smoothed, task)


def accuracy_plot_series(curves: Sequence[TrainingCurve]) -> list[Series]:
    """One smoothed-accuracy line per run, and the 98% "solved" line across them all.

    Raises:
        ValueError: If no run has a log point.
    """
    drawn = [c for c in curves if c.steps]
    if not drawn:
        raise ValueError("no run has a training log to plot")
    first = min(c.steps[0] for c in drawn)
    last = max(c.steps[-1] for c in drawn)
    series = [Series(c.run, c.steps, c.smoothed, markers=False) for c in drawn]
    series.append(
        Series("solved (98%)", [first, last], [SOLVED_ACCURACY] * 2, markers=False, color=(0, 0, 0))
    )
    return series
