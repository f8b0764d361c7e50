"""The sequence half of the comparison: train pact-seq models on parity and tabulate them.

Each model is trained by :class:`pact_seq.Trainer` into its own run directory, which
then holds what ``python -m pact_seq.train`` writes (checkpoint, log and summary), so a
comparison that is interrupted resumes where it stopped, and one that is run again with
the same settings reuses the finished runs. The same reader tabulates run directories
that a user trained with ``python -m pact_seq.train``, also those of the previous
release, whose summaries name the model (``act``, ``repeat``, ...) instead of the
method and its cap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from pact_bench.flops import cell_step_flops
from pact_bench.plot import Series
from pact_bench.results import Row
from pact_core import WarmUp
from pact_core.runs import load_checkpoint, resolve_device, write_text_atomic
from pact_seq import (
    SOLVED_ACCURACY,
    TrainConfig,
    Trainer,
    build_model,
    build_task,
    settings_for,
    smoothed_accuracy,
)

__all__ = [
    "RunError",
    "SeqPreset",
    "SeqRun",
    "TrainingCurve",
    "accuracy_plot_series",
    "flops_per_step",
    "read_seq_run",
    "run_seq_comparison",
    "seq_config",
]

#: The files of a run directory, as ``python -m pact_seq.train`` names them.
SUMMARY = "summary.json"
LOG = "log.jsonl"
CHECKPOINT = "checkpoint.pt"


class RunError(ValueError):
    """A run directory that cannot be read or trained; the message is one line."""


@dataclass(frozen=True)
class SeqRun:
    """One model of the comparison.

    Attributes:
        model: ``act``, ``pact``, ``pact-reinforce``, ``repeat`` or ``plain``, as
            ``python -m pact_seq.train --model`` and :func:`pact_seq.settings_for` name it.
        tau: Computation penalty of the halting models.
        repeats: ``rho`` of Repeat-RNN (its ``max_iterations``).
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
    """The parity setting every model of the comparison is trained on.

    ``max_iterations`` is the cap ``L`` of the halting models.
    """

    bits: int
    hidden_size: int
    batch_size: int
    steps: int
    max_iterations: int
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


def seq_config(preset: SeqPreset, run: SeqRun, seed: int) -> TrainConfig:
    """The training configuration of ``run``: parity as ``preset`` sets it, else defaults.

    It is what ``python -m pact_seq.train --task parity --model MODEL`` builds from the
    same flags (``--tau``, ``--repeats``, ``--max-iterations``, ...).
    """
    halting: dict[str, Any] = {"max_iterations": preset.max_iterations}
    if run.tau is not None:
        halting["tau"] = run.tau
    repeats = run.repeats if run.model == "repeat" else None
    return TrainConfig(
        task="parity",
        halting=settings_for(run.model, repeats=repeats, **halting),
        steps=preset.steps,
        seed=seed,
        hidden_size=preset.hidden_size,
        batch_size=preset.batch_size,
        bits=preset.bits,
        log_every=preset.log_every,
        checkpoint_every=max(preset.log_every, preset.steps // 4),
        eval_samples=preset.eval_samples,
    )


def _train(config: TrainConfig, directory: Path, device: torch.device) -> None:
    """Train ``config`` into ``directory`` (resuming its checkpoint) and write the summary.

    Raises:
        RunError: If the checkpoint there cannot be read or holds another configuration.
    """
    trainer = Trainer.create(config, device)
    checkpoint = directory / CHECKPOINT
    if checkpoint.exists():
        try:
            trainer.load_state_dict(load_checkpoint(checkpoint))
        except KeyError as error:
            raise RunError(
                f"cannot resume {directory}: its checkpoint has no {error} (written by another "
                "pact_seq release?); remove it or use another --out"
            ) from None
        except ValueError as error:  # unreadable, or trained with other settings
            raise RunError(f"cannot resume {directory}: {error}") from None
    directory.mkdir(parents=True, exist_ok=True)
    # The log holds exactly the checkpoint's history: drop points a crash left behind.
    write_text_atomic(directory / LOG, "".join(json.dumps(r) + "\n" for r in trainer.history))
    trainer.run(directory, progress=False)
    summary = trainer.summary()
    write_text_atomic(directory / SUMMARY, json.dumps(summary, indent=2) + "\n")


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

    Args:
        preset: The runs and their parity setting.
        out: The directory of the run directories.
        seed: Seed of every run.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        status: Called with a progress line per run.
        threads: torch CPU threads to train with (``None``: leave the setting alone).

    Raises:
        RunError: If a run fails, or ``out`` holds a run with other settings.
    """
    run_device = resolve_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    rows: list[Row] = []
    curves: list[TrainingCurve] = []
    for index, run in enumerate(preset.runs, start=1):
        directory = out / run.name
        config = seq_config(preset, run, seed)
        wanted = {"steps": preset.steps, "bits": preset.bits, "seed": seed}
        if not _finished(directory, wanted):
            status(f"[seq {index}/{len(preset.runs)}] training {run.name} on parity")
            _train(config, directory, run_device)
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


def _model_name(config: TrainConfig) -> str:
    """``act``, ``pact``, ``pact-reinforce``; ``repeat`` or ``plain`` for the fixed method.

    Fojo et al.'s names, which :mod:`pact_bench.published` looks up: the fixed method is
    Repeat-RNN with ``rho = max_iterations``, or the plain RNN when that is 1.
    """
    halting = config.halting
    if halting.has_halting:
        return halting.method
    return "plain" if halting.max_iterations == 1 else "repeat"


def _setting(config: TrainConfig, model: str) -> str:
    if config.has_halting:
        return f"tau={config.halting.tau:g}"
    if model == "repeat":
        return f"rho={config.halting.max_iterations}"
    return ""


#: The previous release's ``TrainConfig`` fields that moved into ``halting``/``warmup``.
_LEGACY_HALTING = {
    "tau": "tau",
    "temperature": "temperature",
    "delta": "delta",
    "eps": "eps",
    "halting_bias": "halting_bias",
    "eval_mode": "eval_halting",
}
_LEGACY_WARMUP = {
    "warmup_steps": "steps",
    "ramp_steps": "ramp_steps",
    "warmup_freeze": "freeze_head",
    "warmup_max_ponder": "max_iterations",
}


def _train_config(data: dict[str, Any]) -> TrainConfig:
    """A summary's ``config`` as a :class:`pact_seq.TrainConfig`.

    Configurations of this release hold the method, the cap and the halting constants in
    ``halting``; those of the previous release held ``model``, ``repeats``,
    ``max_ponder``, ``tau``, ``eval_mode``, ... and the warm-up at the top level.

    Raises:
        RunError: If the configuration is incomplete or invalid.
    """
    try:
        if "halting" in data or "model" not in data:
            return TrainConfig.from_dict(data)
        model = str(data["model"])
        halting = {
            new: data[old] for old, new in _LEGACY_HALTING.items() if data.get(old) is not None
        }
        halting["max_iterations"] = data["max_ponder"]
        repeats = data.get("repeats") if model == "repeat" else None
        settings = settings_for(model, repeats=repeats, **halting)
        warmup = {new: data[old] for old, new in _LEGACY_WARMUP.items() if old in data}
        names = {f.name for f in fields(TrainConfig)}
        current = {k: v for k, v in data.items() if k in names}
        current.update(halting=asdict(settings), warmup=asdict(WarmUp(**warmup)))
        return TrainConfig.from_dict(current)
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"the run's config is not a pact_seq configuration: {error}") from None


def flops_per_step(config: TrainConfig) -> int:
    """FLOPs of one cell iteration plus its halting head, per sequence, for ``config``."""
    with torch.random.fork_rng():
        model = build_model(config, build_task(config))
    layer = model.recurrent
    return cell_step_flops(layer.cell, layer.halting_head, layer.state_size)


def read_seq_run(
    directory: Path, *, source: str = "run directory"
) -> tuple[list[Row], TrainingCurve]:
    """Rows (one per evaluation halting) and the training curve of a pact_seq.train run.

    Summaries of this release (``method``, ``max_iterations``, ``eval_halting``) and of
    the previous one (``model``, ``repeats``, ``eval_mode``) are both read. A model
    without halting (the fixed method: Repeat-RNN, the plain RNN) has one row, whose
    ``halting`` is ``None``.

    Raises:
        RunError: If ``directory`` is not a finished run.
    """
    summary = _load_summary(directory)
    config = _train_config(summary["config"])
    per_step = flops_per_step(config)
    model = str(summary["model"]) if "model" in summary else _model_name(config)
    common: dict[str, Any] = {
        "part": "seq",
        "run": directory.name,
        "model": model,
        "setting": _setting(config, model),
        "source": source,
        "steps_to_solve": summary.get("steps_to_solve"),
        "steps_to_solve_fojo": summary.get("steps_to_solve_fojo"),
        "steps": summary.get("steps"),
        "steps_per_s": summary.get("steps_per_s"),
    }
    main_halting = summary.get("eval_halting", summary.get("eval_mode"))
    evaluations: dict[str, dict[str, Any]] = summary.get("evaluations") or {
        str(main_halting): {
            "accuracy": summary["accuracy"],
            "mean_ponder": summary["mean_ponder"],
        }
    }
    addition = summary["task"] == "addition"
    rows = []
    for halting, result in evaluations.items():
        ponder = float(result["mean_ponder"])
        digits = result.get("digit_accuracy", summary.get("digit_accuracy")) if addition else None
        rows.append(
            Row(
                **common,
                halting=None if halting in ("None", "fixed") else halting,
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
