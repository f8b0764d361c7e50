"""Train an adaptive RNN on parity or addition, resumably, and write a summary.

Command line::

    python -m pact_seq.train --task parity --model pact --tau 1e-3 --out runs/pact

Defaults are the published settings (Graves 2016; Fojo et al. 2018): parity with a
128-unit tanh RNN, batch 128 and at most 100 ponder steps; addition with a 512-unit LSTM,
batch 32 and at most 20 ponder steps; Adam with learning rate 1e-3. The run writes to
``--out``:

* ``log.jsonl``: every ``--log-every`` steps the training-batch accuracy, mean ponder
  steps, loss and steps/s;
* ``checkpoint.pt``: written atomically every ``--checkpoint-every`` steps and at the
  end; ``--resume`` continues from it and ends with bit-identical weights;
* ``summary.json``: the configuration, ``steps_to_solve`` (Savitzky-Golay smoothed
  accuracy reaching 98%), and accuracy and mean ponder on 10,000 fresh samples.

``--stop-when-solved`` ends the run before ``--steps`` once ``steps_to_solve`` can no
longer change (35 log points after the smoothed accuracy reaches 98%, at the earliest
at the 71st log point; see
:func:`pact_seq.smoothing.steps_to_solve`), with the same ``steps_to_solve`` as
the full run. ``steps_to_solve_fojo`` then covers only the steps run.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pact_core import (
    METHODS,
    REDUCTIONS,
    AdaptiveLoss,
    EMABaseline,
    Halting,
    Interval,
    Reduction,
    WarmUp,
)
from pact_core.runs import (
    ProgressBar,
    add_halting_arguments,
    halting_fields,
    integer,
    load_checkpoint,
    number,
    retain_freed_memory,
    rng_state,
    save_atomic,
    set_rng_state,
    write_text_atomic,
)
from pact_seq._cli import Parser, parse_device, report
from pact_seq.config import (
    DEFAULT_REPEATS,
    TASK_DEFAULTS,
    TASKS,
    ConfigError,
    TrainConfig,
    build_model,
    build_task,
    settings_for,
)
from pact_seq.evaluate import EVAL_SEED_OFFSET, evaluate
from pact_seq.model import ModelOutput, SequenceModel
from pact_seq.objective import training_loss
from pact_seq.smoothing import (
    DEFAULT_WINDOW,
    fojo_steps_to_solve,
    smoothing_window,
    steps_to_solve,
)
from pact_seq.task import Batch, Task

__all__ = ["CHECKPOINT", "LOG", "SUMMARY", "Trainer", "main", "parse_config", "train_step"]

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
SUMMARY = "summary.json"
#: Fields that may change when a run is resumed.
RESUMABLE_CHANGES = frozenset(
    {"steps", "checkpoint_every", "eval_samples", "halting.eval_halting", "stop_when_solved"}
)
#: A log point counts as collapsed when at least this share of the training batch's
#: inputs halts after the first iteration (ACT's trap at ``N = 1``).
COLLAPSE_SHARE = 0.99
#: Halting modes a PACT model is evaluated in for the summary, from the same weights.
PACT_EVAL_MODES: tuple[Halting, ...] = ("discrete", "thresholded", "relaxed")


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as ``{"halting.tau": ..., "steps": ...}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def train_step(
    model: SequenceModel,
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
    loss = training_loss(output, batch, task, tau=tau, baseline=baseline, reduction=reduction)
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
    model: SequenceModel
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
            "format": "pact-seq/1",
            "config": self.config.to_dict(),
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

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the configurations must agree (up to ``steps``)."""
        saved = _flat(TrainConfig.from_dict(state["config"]).to_dict())
        current = _flat(self.config.to_dict())
        changed = sorted(
            k for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]
        )
        if changed:
            detail = ", ".join(f"{k}: {saved.get(k)!r} -> {current[k]!r}" for k in changed)
            raise ConfigError(f"the checkpoint was trained with other settings ({detail})")
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
        layer = self.model.recurrent
        frozen: tuple[torch.nn.Parameter, ...] = ()
        if warmup.active(self.step) and warmup.freeze_head and layer.halting_head is not None:
            frozen = tuple(layer.halting_head.parameters())
        layer.settings = warmup.settings(config.halting, self.step)
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
            layer.settings = config.halting
        return batch, output, loss

    def run(self, out: Path, *, progress: bool = True) -> None:
        """Train to ``config.steps``, logging and checkpointing into ``out``."""
        config = self.config
        bar = ProgressBar(config.steps, initial=self.step, enabled=progress)
        self.model.train()
        tick = time.perf_counter()
        solved = config.stop_when_solved and self.settled_solve() is not None
        with (out / LOG).open("a", encoding="utf-8") as log:
            while self.step < config.steps and not solved:
                batch, output, loss = self.train_once()
                self.step += 1
                detached = loss.total.detach()
                self.interval_loss = (
                    detached if self.interval_loss is None else self.interval_loss + detached
                )
                self.interval_steps += 1
                if self.step % config.log_every == 0:
                    tick = self._clock(tick)
                    record = self.log_record(output, batch)
                    self.history.append(record)
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    self.interval_loss, self.interval_steps, self.interval_seconds = None, 0, 0.0
                    bar.update(self.step, {"acc": record["accuracy"], "ponder": record["ponder"]})
                    solved = config.stop_when_solved and self.settled_solve() is not None
                last = self.step == config.steps or solved
                if self.step % config.checkpoint_every == 0 or last:
                    self._clock(tick)
                    save_atomic(self.state_dict(), out / CHECKPOINT)
                    tick = time.perf_counter()  # checkpoint time is not training time
                bar.update(self.step)
        bar.close()

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
        main_eval = evaluate(
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
        if config.task == "addition":
            summary["digit_accuracy"] = main_eval.digit_accuracy
        if config.halting.method in ("pact", "pact-reinforce"):
            summary["evaluations"] = {
                mode: asdict(
                    evaluate(
                        self.model,
                        self.task,
                        samples=config.eval_samples,
                        halting=mode,
                        seed=seed,
                        device=self.device,
                    )
                )
                for mode in PACT_EVAL_MODES
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


#: ``--model`` choices: the methods, and Fojo et al.'s two baselines (``repeat`` is the
#: fixed method with ``L = --repeats``, ``plain`` the fixed method with ``L = 1``).
MODEL_CHOICES = (*METHODS, "repeat", "plain")
_COUNT = Interval(1.0, integer=True)
_STEPS = Interval(0.0, integer=True)


def _parser() -> Parser:
    parser = Parser(prog="pact_seq.train", description=__doc__.splitlines()[0])
    add = parser.add_argument
    count, whole = integer(_COUNT), integer(_STEPS)
    add("--task", choices=TASKS, default="parity", help="parity or addition")
    add("--model", choices=MODEL_CHOICES, required=True,
        help="act, pact, pact-reinforce, fixed; repeat (Repeat-RNN) or plain")  # fmt: skip
    add("--repeats", type=count, default=None, help=f"Repeat-RNN rho (default {DEFAULT_REPEATS})")
    add_halting_arguments(parser, defaults={"max_iterations": "100 parity, 20 addition"})
    add("--steps", type=count, default=None, help="training steps (default: 200k / 1M)")
    add("--seed", type=integer(), default=0, help="seed of weights, data and noise")
    add("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    add("--out", required=True, help="output directory")
    add("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    add("--log-every", type=count, default=1000, help="steps between log points")
    add("--checkpoint-every", type=count, default=5000, help="steps between checkpoints")
    add("--cell", choices=("rnn", "lstm", "gru"), default=None, help="cell (task default)")
    add("--hidden-size", type=count, default=None, help="hidden units (task default)")
    add("--batch-size", type=count, default=None, help="batch size (task default)")
    add("--lr", type=number(Interval(0.0, low_closed=False)), default=1e-3,
        help="Adam learning rate")  # fmt: skip
    add("--bits", type=count, default=64, help="parity input length")
    add("--random-positions", action="store_true", help="parity nonzeros anywhere")
    add("--numbers", type=integer(Interval(2.0, integer=True)), default=5,
        help="addition sequence length")  # fmt: skip
    add("--digits", type=count, default=5, help="addition max digits per number")
    add("--penalty-reduction", choices=REDUCTIONS, default="mean",
        help="cost over timesteps: mean (Fojo et al.'s code) or sum (pact < 0.2)")  # fmt: skip
    add("--warmup-steps", type=whole, default=0,
        help="halting warm-up (a deviation from the papers): tau 0, head frozen")  # fmt: skip
    add("--ramp-steps", type=whole, default=0, help="linear tau ramp after the warm-up")
    add("--warmup-freeze", action=argparse.BooleanOptionalAction, default=True,
        help="freeze the halting head during the warm-up")  # fmt: skip
    add("--warmup-max-iterations", "--warmup-max-ponder", type=count, default=None,
        help="cap L during the warm-up")  # fmt: skip
    add("--eval-samples", type=count, default=10_000, help="fresh evaluation samples")
    add("--init", choices=("tf", "torch"), default="tf", help="weight init (tf: published code)")
    add("--stop-when-solved", action="store_true",
        help="end once steps_to_solve is settled (35 log points after 98%%)")  # fmt: skip
    add("--threads", type=count, default=None, help="torch CPU threads")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


def parse_config(argv: list[str] | None) -> tuple[TrainConfig, argparse.Namespace]:
    """Parse the command line into a :class:`TrainConfig`; raises :class:`ConfigError`."""
    args = _parser().parse_args(argv)
    defaults = TASK_DEFAULTS[args.task]

    def pick(value: Any, name: str) -> Any:
        return defaults[name] if value is None else value

    fields = halting_fields(args)
    fields.setdefault("max_iterations", defaults["max_iterations"])
    halting = settings_for(args.model, repeats=args.repeats, **fields)
    config = TrainConfig(
        task=args.task,
        halting=halting,
        steps=pick(args.steps, "steps"),
        seed=args.seed,
        cell=pick(args.cell, "cell"),
        hidden_size=pick(args.hidden_size, "hidden_size"),
        batch_size=pick(args.batch_size, "batch_size"),
        lr=args.lr,
        bits=args.bits,
        random_positions=args.random_positions,
        numbers=args.numbers,
        digits=args.digits,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        eval_samples=args.eval_samples,
        init=args.init,
        stop_when_solved=args.stop_when_solved,
        penalty_reduction=args.penalty_reduction,
        warmup=WarmUp(
            steps=args.warmup_steps,
            ramp_steps=args.ramp_steps,
            freeze_head=args.warmup_freeze,
            max_iterations=args.warmup_max_iterations,
        ),
    )
    return config, args


def main(argv: list[str] | None = None) -> int:
    """Train, write ``OUT/summary.json`` and return 0; 2 on a bad argument."""
    retain_freed_memory()  # no page faults per step (pact_core.runs); results unchanged
    try:
        config, args = parse_config(argv)
        run_device = parse_device(args.device)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a directory")
        trainer = Trainer.create(config, run_device)
        checkpoint = out / CHECKPOINT
        if checkpoint.exists():
            if not args.resume:
                raise ConfigError(
                    f"{out} already holds a checkpoint; pass --resume or choose another --out"
                )
            try:
                state = load_checkpoint(checkpoint)
            except (FileNotFoundError, ValueError) as error:
                raise ConfigError(f"cannot resume: {error}") from None
            trainer.load_state_dict(state)
        elif (out / LOG).exists() and not args.resume:
            raise ConfigError(f"{out} already holds a log; choose another --out")
    except ConfigError as error:
        return report("pact_seq.train", error)
    out.mkdir(parents=True, exist_ok=True)
    # The log holds exactly the checkpoint's history: drop points a crash left behind.
    write_text_atomic(out / LOG, "".join(json.dumps(r) + "\n" for r in trainer.history))
    trainer.run(out, progress=not args.quiet)
    summary = trainer.summary()
    write_text_atomic(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
    if not args.quiet:
        keys = ("steps_to_solve", "accuracy", "mean_ponder", "eval_halting")
        print(json.dumps({k: summary[k] for k in keys}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
