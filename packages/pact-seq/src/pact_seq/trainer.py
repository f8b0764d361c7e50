"""Training an adaptive sequence model: the resumable, guarded loop behind ``pact_seq.train``.

:func:`train` runs a :class:`~pact_seq.config.TrainConfig` into a run directory: it
checks and creates the directory first (:func:`pact_core.runs.prepare_run_dir`),
resumes the checkpoint there when asked, trains with logging and atomic checkpoints,
stops with one line if the loss or a weight stops being finite (the last checkpoint is
then the last good one), and writes ``summary.json`` (strict JSON).

* ``log.jsonl``: every ``log_every`` steps the training-batch accuracy, mean ponder
  steps, loss, steps/s and the collapse diagnostic (share halting at the first
  iteration, mean ``h^1``);
* ``checkpoint.pt``: written atomically every ``checkpoint_every`` steps and at the end,
  with a header (kind ``pact-seq``, format version, config, input shape); resuming ends
  with bit-identical weights;
* ``summary.json``: the configuration, ``steps_to_solve`` (Savitzky-Golay smoothed
  accuracy reaching 98%), and accuracy and mean ponder on fresh samples.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pact_core import REPORT_HALTINGS, AdaptiveLoss, EMABaseline, Reduction, WarmUp
from pact_core.runs import (
    DivergedError,
    DivergenceGuard,
    ProgressBar,
    UsageError,
    changed_settings,
    checkpoint_header,
    prepare_run_dir,
    rng_state,
    save_atomic,
    set_rng_state,
    to_json,
    write_json,
    write_text_atomic,
)
from pact_seq.config import TrainConfig, build_model, build_task
from pact_seq.evaluation import (
    CHECKPOINT_KIND,
    CHECKPOINT_VERSIONS,
    EVAL_SEED_OFFSET,
    evaluate_model,
    load_seq_checkpoint,
)
from pact_seq.layer import DEFAULT_HALTING_BIAS
from pact_seq.model import ModelOutput, SequenceModel
from pact_seq.objective import training_loss
from pact_seq.smoothing import (
    DEFAULT_WINDOW,
    fojo_steps_to_solve,
    smoothing_window,
    steps_to_solve,
)
from pact_seq.task import Batch, Task
from pact_seq.transformer import AdaptiveTransformer

__all__ = [
    "CHECKPOINT",
    "COLLAPSE_SHARE",
    "LOG",
    "RESUMABLE_CHANGES",
    "RUN_FILES",
    "SUMMARY",
    "Trainer",
    "run_training",
    "train_step",
]

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
SUMMARY = "summary.json"
#: The files of a run directory (what ``--overwrite`` replaces).
RUN_FILES = (CHECKPOINT, LOG, SUMMARY)
#: Fields that may change when a run is resumed.
RESUMABLE_CHANGES = frozenset(
    {"steps", "checkpoint_every", "eval_samples", "halting.eval_halting", "stop_when_solved"}
)
#: A log point counts as collapsed when at least this share of the training batch's
#: inputs halts after the first iteration (ACT's trap at ``N = 1``).
COLLAPSE_SHARE = 0.99


def train_step(
    model: SequenceModel | AdaptiveTransformer,
    optimizer: torch.optim.Optimizer,
    task: Task,
    batch: Batch,
    *,
    tau: float,
    baseline: EMABaseline | None,
    generator: torch.Generator,
    reduction: Reduction = "mean",
    frozen: tuple[torch.nn.Parameter, ...] = (),
) -> tuple[ModelOutput, AdaptiveLoss]:
    """One Adam step on ``batch``; nothing is read back to the host.

    ``frozen`` parameters get no update (their gradients are dropped, so Adam does not
    touch them or their state).
    """
    output = model(batch.x, generator=generator)
    settings = model.settings
    loss = training_loss(
        output,
        batch,
        task,
        tau=tau,
        baseline=baseline,
        reduction=reduction,
        beta=settings.beta,
        lambda_p=settings.lambda_p,
    )
    optimizer.zero_grad(set_to_none=True)
    loss.total.backward()
    for parameter in frozen:
        parameter.grad = None
    optimizer.step()
    return output, loss


@dataclass
class Trainer:
    """The state of a training run: model, optimizer, baseline, generators, step, log.

    Build it with :meth:`create`; :meth:`state_dict` / :meth:`load_state_dict` hold
    everything a bit-identical resume needs.
    """

    config: TrainConfig
    device: torch.device
    task: Task
    model: SequenceModel | AdaptiveTransformer
    optimizer: torch.optim.Optimizer
    baseline: EMABaseline | None
    data: torch.Generator
    noise: torch.Generator
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    interval_loss: Tensor | None = None
    interval_steps: int = 0
    interval_seconds: float = 0.0
    train_seconds: float = 0.0

    @classmethod
    def create(cls, config: TrainConfig, device: torch.device) -> Trainer:
        """Initialise weights and generators from ``config.seed``."""
        torch.manual_seed(config.seed)
        task = build_task(config)
        model = build_model(config, task).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        baseline = None
        if config.halting.method == "pact-reinforce":
            baseline = EMABaseline(config.baseline_decay).to(device)
        data = torch.Generator(device).manual_seed(config.seed)
        noise = torch.Generator(device).manual_seed(config.seed + 1)
        return cls(config, device, task, model, optimizer, baseline, data, noise)

    @property
    def generators(self) -> dict[str, torch.Generator]:
        """The run's generators by name."""
        return {"data": self.data, "noise": self.noise}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run bit-identically."""
        return {
            **checkpoint_header(
                CHECKPOINT_KIND, CHECKPOINT_VERSIONS[-1], self.config.to_dict(), self.input_shape
            ),
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": None if self.baseline is None else self.baseline.state_dict(),
            "rng": rng_state(self.generators),
            "history": self.history,
            "interval_loss": self.interval_loss,
            "interval_steps": self.interval_steps,
            "interval_seconds": self.interval_seconds,
            "train_seconds": self.train_seconds,
        }

    @property
    def input_shape(self) -> list[int]:
        """The shape ``[T, I]`` of one input sequence of the task."""
        probe = self.task.sample(1, torch.Generator(self.device).manual_seed(0))
        return list(probe.x.shape[1:])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the configurations must agree (up to ``steps``).

        Raises:
            UsageError: Naming every changed setting and both its values.
        """
        saved = TrainConfig.from_dict(state["config"]).to_dict()
        changed = changed_settings(saved, self.config.to_dict(), safe=RESUMABLE_CHANGES)
        if changed:
            raise UsageError(f"the checkpoint was trained with other settings ({changed})")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.baseline is not None:
            self.baseline.load_state_dict(state["baseline"])
        set_rng_state(state["rng"], self.generators)
        self.step = int(state["step"])
        self.history = list(state["history"])
        loss = state["interval_loss"]
        self.interval_loss = None if loss is None else loss.to(self.device)
        self.interval_steps = int(state["interval_steps"])
        self.interval_seconds = float(state["interval_seconds"])
        self.train_seconds = float(state["train_seconds"])

    @property
    def tau(self) -> float:
        """The penalty weight of the next step (0 for Repeat/plain and in the warm-up)."""
        return self.config.tau_at(self.step)

    def log_record(self, output: ModelOutput, batch: Batch) -> dict[str, Any]:
        """The log point at the current step: reads the last batch back to the host."""
        with torch.no_grad():
            right = self.task.target_correct(output.logits, batch.y)
            assert self.interval_loss is not None
            record: dict[str, Any] = {
                "step": self.step,
                "accuracy": float(right.all(dim=-1).float().mean()),
                "digit_accuracy": float(right.float().mean()),
                "ponder": float(output.recurrent.iterations.double().mean()),
                "cost": float(output.recurrent.cost.double().mean()),
                "tau": self.config.tau_at(self.step - 1),
                "loss": float(self.interval_loss) / max(self.interval_steps, 1),
                "steps_per_s": (
                    self.interval_steps / self.interval_seconds if self.interval_seconds else None
                ),
                "seconds": round(self.train_seconds, 3),
            }
            first = output.recurrent.first_halting
            if first is not None:  # the collapse diagnostic (ACT's trap at N = 1)
                at_first = (output.recurrent.iterations == 1).double().mean()
                record["halt_at_first"] = float(at_first)
                record["h1"] = float(first.double().mean())
        return record

    def train_once(self) -> tuple[Batch, ModelOutput, AdaptiveLoss]:
        """Sample a training batch and take one optimizer step on it (no host sync)."""
        config = self.config
        batch = self.task.sample(config.batch_size, self.data)
        warmup = config.warmup
        model = self.model
        if warmup.recenters(self.step):
            self.recenter_halting(batch)
        frozen: tuple[torch.nn.Parameter, ...] = ()
        if warmup.active(self.step) and warmup.freeze_head and model.halting_head is not None:
            frozen = tuple(model.halting_head.parameters())
        model.settings = warmup.settings(config.halting, self.step)
        try:
            output, loss = train_step(
                self.model,
                self.optimizer,
                self.task,
                batch,
                tau=self.tau,
                baseline=self.baseline,
                generator=self.noise,
                reduction=config.penalty_reduction,
                frozen=frozen,
            )
        finally:
            model.settings = config.halting
        return batch, output, loss

    def recenter_halting(self, batch: Batch) -> None:
        """Shift the halting bias so that ``batch``'s mean ``logit(h^1)`` is the initial bias.

        The warm-up's ``recenter`` (:meth:`pact_core.WarmUp.recentring`), applied once,
        before the first training step after the warm-up. The probe pass draws its halting
        noise from a generator of its own, so the run's random streams are unchanged.
        """
        head = self.model.halting_head
        if head is None:
            return
        with torch.no_grad():
            probe = torch.Generator(self.device).manual_seed(0)
            first = self.model(batch.x, generator=probe).recurrent.first_halting
            if first is not None:
                initial = self.config.halting.resolved_bias(DEFAULT_HALTING_BIAS)
                head.bias.add_(WarmUp.recentring(first, initial))

    def run(self, out: Path, *, progress: bool = True) -> None:
        """Train to ``config.steps``, logging and checkpointing into ``out``."""
        config = self.config
        bar = ProgressBar(config.steps, initial=self.step, enabled=progress)
        guard = DivergenceGuard(self.device)
        self.model.train()
        tick = time.perf_counter()
        solved = config.stop_when_solved and self.settled_solve() is not None
        with (out / LOG).open("a", encoding="utf-8") as log:
            while self.step < config.steps and not solved:
                batch, output, loss = self.train_once()
                self.step += 1
                guard.observe(loss.total, self.step)  # on the device: no sync
                detached = loss.total.detach()
                self.interval_loss = (
                    detached if self.interval_loss is None else self.interval_loss + detached
                )
                self.interval_steps += 1
                last = self.step == config.steps
                logging = self.step % config.log_every == 0
                if logging or last or self.step % config.checkpoint_every == 0:
                    self._check(guard, log)
                if logging:
                    tick = self._clock(tick)
                    record = self.log_record(output, batch)
                    self.history.append(record)
                    log.write(to_json(record) + "\n")
                    log.flush()
                    self.interval_loss, self.interval_steps, self.interval_seconds = None, 0, 0.0
                    bar.update(self.step, {"acc": record["accuracy"], "ponder": record["ponder"]})
                    solved = config.stop_when_solved and self.settled_solve() is not None
                last = last or solved
                if self.step % config.checkpoint_every == 0 or last:
                    self._clock(tick)
                    save_atomic(self.state_dict(), out / CHECKPOINT)
                    tick = time.perf_counter()  # checkpoint time is not training time
                bar.update(self.step)
        bar.close()

    def _check(self, guard: DivergenceGuard, log: Any) -> None:
        """Stop with :class:`~pact_core.runs.DivergedError` if the run has diverged.

        The event goes to the log first; no checkpoint is written, so the last one is
        the last good one.
        """
        try:
            guard.check(self.model.parameters(), self.step)
        except DivergedError as error:
            log.write(to_json({"event": "diverged", "step": error.step, "reason": error.reason}))
            log.write("\n")
            log.flush()
            raise

    def curve(self) -> tuple[list[int], list[float]]:
        """The logged steps and their training-batch accuracies."""
        return [int(r["step"]) for r in self.history], [float(r["accuracy"]) for r in self.history]

    def collapse(self) -> dict[str, Any] | None:
        """Whether the run ended collapsed to one iteration per input, and since when.

        A log point is collapsed when at least :data:`COLLAPSE_SHARE` of its training
        batch halts at the first iteration. ``step`` is the first log point of the
        final unbroken collapsed stretch (``None`` if the last point is not collapsed).
        ``None`` for models without halting.
        """
        shares = [r.get("halt_at_first") for r in self.history]
        if not self.config.has_halting or not shares or shares[-1] is None:
            return None
        since = None
        for record, share in zip(self.history, shares, strict=True):
            if share is not None and share >= COLLAPSE_SHARE:
                since = record["step"] if since is None else since
            else:
                since = None
        return {"collapsed": since is not None, "step": since, "share": COLLAPSE_SHARE}

    def settled_solve(self) -> int | None:
        """The run's steps to solve once more training can no longer change them."""
        return steps_to_solve(*self.curve(), settled=True)

    def _clock(self, tick: float) -> float:
        """Add the training time since ``tick`` to the totals; return the new tick."""
        now = time.perf_counter()
        self.train_seconds += now - tick
        self.interval_seconds += now - tick
        return now

    def summary(self) -> dict[str, Any]:
        """Evaluate on fresh samples and assemble ``summary.json``."""
        config = self.config
        steps, accuracies = self.curve()
        seed = config.seed + EVAL_SEED_OFFSET
        main_eval = evaluate_model(
            self.model,
            self.task,
            samples=config.eval_samples,
            halting=config.halting.eval_default,
            seed=seed,
            device=self.device,
        )
        summary: dict[str, Any] = {
            "task": config.task,
            "method": config.halting.method,
            "max_iterations": config.halting.max_iterations,
            "tau": config.halting.tau if config.has_halting else None,
            "steps": self.step,
            "stopped_when_solved": config.stop_when_solved and self.step < config.steps,
            "seed": config.seed,
            "steps_to_solve": steps_to_solve(steps, accuracies),
            "steps_to_solve_fojo": fojo_steps_to_solve(steps, accuracies),
            "smoothing_window": smoothing_window(len(steps), DEFAULT_WINDOW),
            "accuracy": main_eval.accuracy,
            "mean_ponder": main_eval.mean_ponder,
            "mean_cost": main_eval.mean_cost,
            "eval_halting": main_eval.eval_halting,
            "eval_samples": config.eval_samples,
        }
        if self.task.num_targets > 1:  # addition, prefix parity
            summary["digit_accuracy"] = main_eval.digit_accuracy
            summary["ponder_by_position"] = main_eval.ponder_by_position
        if config.halting.method in ("pact", "pact-reinforce", "pondernet"):
            summary["evaluations"] = {
                mode: asdict(
                    evaluate_model(
                        self.model,
                        self.task,
                        samples=config.eval_samples,
                        halting=mode,
                        seed=seed,
                        device=self.device,
                    )
                )
                for mode in REPORT_HALTINGS[config.halting.method]
            }
        summary["collapse"] = self.collapse()
        final = self.history[-1] if self.history else {}
        summary["final_train_accuracy"] = final.get("accuracy")
        summary["train_seconds"] = round(self.train_seconds, 3)
        summary["steps_per_s"] = self.step / self.train_seconds if self.train_seconds else None
        summary["config"] = config.to_dict()
        summary["machine"] = {
            "device": str(self.device),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
        }
        return summary


def run_training(
    config: TrainConfig,
    out: str | Path,
    *,
    device: torch.device,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``config`` into the run directory ``out`` and write its summary.

    Args:
        config: The run.
        out: The run directory; checked and created before anything else
            (:func:`pact_core.runs.prepare_run_dir`).
        device: Where to train.
        resume: Continue the checkpoint in ``out`` (if there is one; the settings must
            agree, except those in :data:`RESUMABLE_CHANGES`).
        overwrite: Replace a run that ``out`` holds.
        progress: Show a progress bar on stderr.

    Returns:
        The summary (also written to ``out/summary.json``).

    Raises:
        UsageError: A bad ``out``, a run already there, or changed settings on resume.
        RunError: An unreadable or foreign checkpoint, or a diverged run
            (:class:`~pact_core.runs.DivergedError`).
    """
    directory = prepare_run_dir(out, resume=resume, overwrite=overwrite, run_files=RUN_FILES)
    trainer = Trainer.create(config, device)
    checkpoint = directory / CHECKPOINT
    if resume and checkpoint.exists():
        trainer.load_state_dict(load_seq_checkpoint(checkpoint))
    # The log holds exactly the checkpoint's history: drop points a crash left behind.
    write_text_atomic(directory / LOG, "".join(to_json(r) + "\n" for r in trainer.history))
    trainer.run(directory, progress=progress)
    summary = trainer.summary()
    write_json(directory / SUMMARY, summary)
    return summary
