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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from pact_bench.flops import cell_step_flops, dense_flops
from pact_bench.results import Row
from pact_core import WarmUp
from pact_core.runs import RunError, resolve_device
from pact_seq import (
    AdaptiveTransformer,
    TrainConfig,
    build_model,
    build_task,
    run_training,
    settings_for,
    smoothed_accuracy,
)

__all__ = [
    "SeqPreset",
    "SeqRun",
    "TrainingCurve",
    "flops_per_step",
    "read_ponder_by_position",
    "read_seq_run",
    "run_seq_comparison",
    "seq_config",
]

#: The per-token Transformer rows: prefix parity of 8 bits, a 32-wide encoder layer
#: applied at most 8 times, 600 training steps (fewer when the preset runs fewer).
TRANSFORMER: dict[str, int] = {
    "length": 8,
    "d_model": 32,
    "heads": 4,
    "batch_size": 32,
    "max_iterations": 8,
    "steps": 600,
}
#: The files of a run directory, as ``python -m pact_seq.train`` names them.
SUMMARY = "summary.json"
LOG = "log.jsonl"
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class SeqRun:
    """One model of the comparison.

    Attributes:
        model: ``act``, ``pact``, ``pact-reinforce``, ``pondernet``, ``repeat`` or
            ``plain``, as ``python -m pact_seq.train --model`` and
            :func:`pact_seq.settings_for` name it.
        tau: Computation penalty of the halting models.
        repeats: ``rho`` of Repeat-RNN (its ``max_iterations``); for the Transformer,
            the fixed depth.
        transformer: A per-token Universal Transformer on prefix parity instead of an
            RNN on parity.
    """

    model: str
    tau: float | None = None
    repeats: int = 1
    transformer: bool = False

    @property
    def name(self) -> str:
        """Directory and row name, e.g. ``act-tau0.01``, ``repeat-rho3``, ``ut-act-tau0.01``."""
        prefix = "ut-" if self.transformer else ""
        if self.tau is not None:
            return f"{prefix}{self.model}-tau{self.tau:g}"
        if self.model == "repeat":
            return (
                f"{prefix}fixed-L{self.repeats}"
                if self.transformer
                else f"repeat-rho{self.repeats}"
            )
        return f"{prefix}{self.model}"


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
    """Training-batch accuracy of one run, raw and Savitzky-Golay smoothed.

    Attributes:
        run: The run's name (its directory's).
        steps: The logged steps.
        accuracy: Training-batch accuracy at each (raw).
        smoothed: The same, smoothed (:func:`pact_seq.smoothed_accuracy`, not clipped).
        task: ``parity`` or ``addition``.
        group: Its configuration, e.g. ``repeat rho=2``: runs of one group are seeds.
        stopped_when_solved: The run ended early because it was solved.
        ponder: Mean iterations per input of the training batch at each logged step
            (empty if the log has none, e.g. a run of the previous release).
    """

    run: str
    steps: list[int]
    accuracy: list[float]
    smoothed: list[float]
    task: str = ""
    group: str = ""
    stopped_when_solved: bool = False
    ponder: list[float] = field(default_factory=list)


def seq_config(preset: SeqPreset, run: SeqRun, seed: int) -> TrainConfig:
    """The training configuration of ``run``: parity as ``preset`` sets it, else defaults.

    It is what ``python -m pact_seq.train --task parity --model MODEL`` builds from the
    same flags (``--tau``, ``--repeats``, ``--max-iterations``, ...).
    """
    halting: dict[str, Any] = {"max_iterations": preset.max_iterations}
    if run.tau is not None:
        halting["tau"] = run.tau
    repeats = run.repeats if run.model == "repeat" else None
    if run.transformer:
        halting["max_iterations"] = TRANSFORMER["max_iterations"]
        return TrainConfig(
            task="prefix-parity",
            arch="transformer",
            halting=settings_for(run.model, repeats=repeats, **halting),
            steps=TRANSFORMER["steps"] if preset.steps >= TRANSFORMER["steps"] else preset.steps,
            seed=seed,
            hidden_size=TRANSFORMER["d_model"],
            heads=TRANSFORMER["heads"],
            length=TRANSFORMER["length"],
            batch_size=TRANSFORMER["batch_size"],
            log_every=preset.log_every,
            checkpoint_every=max(preset.log_every, preset.steps // 4),
            eval_samples=preset.eval_samples,
        )
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
        wanted = {"task": config.task, "steps": config.steps, "seed": seed}
        if not _finished(directory, wanted):
            status(f"[seq {index}/{len(preset.runs)}] training {run.name} on {config.task}")
            run_training(config, directory, device=run_device, resume=True)
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


def read_ponder_by_position(directory: Path) -> list[float] | None:
    """The mean iterations at each position of a finished run's main evaluation.

    ``None`` for runs whose summary does not report it (one-target tasks, or runs
    written before it was recorded).

    Raises:
        RunError: If ``directory`` is not a finished run.
    """
    values = _load_summary(directory).get("ponder_by_position")
    return None if values is None else [float(v) for v in values]


def _model_name(config: TrainConfig) -> str:
    """``act``, ``pact``, ``pact-reinforce``; ``repeat`` or ``plain`` for the fixed method.

    Fojo et al.'s names, which :mod:`pact_bench.published` looks up: the fixed method is
    Repeat-RNN with ``rho = max_iterations``, or the plain RNN when that is 1.
    """
    halting = config.halting
    if config.arch == "transformer":
        return f"ut-{halting.method}"
    if halting.has_halting:
        return halting.method
    return "plain" if halting.max_iterations == 1 else "repeat"


def _setting(config: TrainConfig, model: str) -> str:
    halting = config.halting
    if halting.method == "pondernet":
        return f"beta={halting.beta:g} lambda_p={halting.lambda_p:g}"
    if config.has_halting:
        steps = config.warmup.steps
        warmup = f" warm-up={steps / 1000:g}k" if steps >= 1000 else f" warm-up={steps}"
        if config.warmup.recenter:
            warmup += " re-centred"
        # The published code averages the penalty over timesteps; a summed one is a
        # setting of its own (``tau`` counts T times over).
        summed = " penalty=sum" if config.penalty_reduction == "sum" else ""
        return f"tau={halting.tau:g}{warmup if steps else ''}{summed}"
    if model in ("repeat", "ut-fixed"):
        return f"{'L' if config.arch == 'transformer' else 'rho'}={halting.max_iterations}"
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
    """FLOPs of one iteration plus its halting head, per sequence, for ``config``.

    For a recurrent model one cell step; for the Transformer one application of the
    encoder layer to the whole sequence (every token), so that the mean iterations per
    token times this is the FLOPs per sequence.
    """
    with torch.random.fork_rng():
        task = build_task(config)
        model = build_model(config, task)
    if isinstance(model, AdaptiveTransformer):  # one layer and head over the sequence
        states = torch.zeros(1, task.sequence_length, config.hidden_size)
        flops = dense_flops(model.layer, states)
        head = model.halting_head
        return flops + (0 if head is None else dense_flops(head, states))
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
        "collapse_step": _collapse_step(summary),
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
    curve = _curve(directory, str(summary["task"]))
    group = f"{model} {common['setting']}".strip()
    stopped = bool(summary.get("stopped_when_solved", False))
    return rows, replace(curve, group=group, stopped_when_solved=stopped)


def _collapse_step(summary: dict[str, Any]) -> int | None:
    """The step since which the run stayed collapsed to one iteration, if it ended so.

    Summaries before the collapse diagnostic (and runs without halting) give ``None``.
    """
    collapse = summary.get("collapse")
    if not isinstance(collapse, dict) or not collapse.get("collapsed"):
        return None
    step = collapse.get("step")
    return None if step is None else int(step)


def _curve(directory: Path, task: str) -> TrainingCurve:
    steps: list[int] = []
    accuracy: list[float] = []
    ponder: list[float] = []
    log = directory / LOG
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                steps.append(int(record["step"]))
                accuracy.append(float(record["accuracy"]))
                if record.get("ponder") is not None:
                    ponder.append(float(record["ponder"]))
    smoothed = smoothed_accuracy(accuracy).tolist()
    ponder = ponder if len(ponder) == len(steps) else []
    return TrainingCurve(directory.name, steps, accuracy, smoothed, task, ponder=ponder)
