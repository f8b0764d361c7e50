"""The configuration of a training run, with the published defaults of each task."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from pact_core import HaltingMode
from pact_seq.addition import AdditionTask
from pact_seq.layer import EVAL_HALTING, MODES, TRAIN_HALTING, CellType, Mode
from pact_seq.model import INITS, Init, SequenceModel
from pact_seq.objective import PENALTY_REDUCTIONS, PenaltyReduction
from pact_seq.parity import ParityTask
from pact_seq.task import Task

__all__ = ["TASKS", "ConfigError", "TrainConfig", "build_model", "build_task"]

TASKS = ("parity", "addition")

#: Published settings (REFERENCE §3; Graves 2016, Fojo et al. 2018) per task.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "parity": {
        "cell": "rnn",
        "hidden_size": 128,
        "batch_size": 128,
        "max_ponder": 100,
        "steps": 200_000,
    },
    "addition": {
        "cell": "lstm",
        "hidden_size": 512,
        "batch_size": 32,
        "max_ponder": 20,
        "steps": 1_000_000,
    },
}
DEFAULT_REPEATS = 2


class ConfigError(ValueError):
    """A bad command-line setting, reported as one line."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved in every checkpoint.

    Attributes:
        task: ``"parity"`` or ``"addition"``.
        model: Layer mode (``act``, ``pact``, ``pact-reinforce``, ``repeat``, ``plain``).
        tau: Computation penalty ``> 0`` (used by the halting modes only).
        repeats: ``rho`` of Repeat-RNN (1 for plain).
        steps: Training steps.
        seed: Seed of the weights, the data and the halting noise.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        hidden_size: Hidden units.
        batch_size: Training batch size.
        lr: Adam learning rate.
        max_ponder: Cap ``L`` on iterations per timestep.
        bits: Parity input length.
        random_positions: Parity nonzeros at random positions.
        numbers: Addition sequence length.
        digits: Addition maximum digits per number.
        temperature: Concrete temperature of relaxed PACT.
        eps: ACT's ``epsilon``.
        delta: Relaxed PACT clipping threshold.
        halting_bias: Initial halting-head bias.
        baseline_decay: EMA decay of the REINFORCE baseline.
        log_every: Steps between log points.
        checkpoint_every: Steps between checkpoints.
        eval_samples: Fresh samples for the final evaluation.
        eval_mode: Halting at evaluation (``None``: the mode's default).
        init: Weight initialisation, ``"tf"`` (the published code's) or ``"torch"``.
        stop_when_solved: End the run before ``steps`` once its steps to solve are
            settled (``steps_to_solve(..., settled=True)``): half a smoothing window
            (35 log points) after the smoothed accuracy reaches 98%, and not before the
            71st log point.
        penalty_reduction: ``"mean"`` (Fojo et al.'s code) or ``"sum"`` of the cost over
            timesteps; the same for parity (one timestep).
        warmup_steps: Halting warm-up, a documented deviation from the papers (off at
            0): for this many steps the penalty is 0 and (``warmup_freeze``) the halting
            head is not updated.
        ramp_steps: After the warm-up, ``tau`` grows linearly from 0 over this many
            steps (0: it switches on at once).
        warmup_freeze: Freeze the halting head during the warm-up.
        warmup_max_ponder: Cap ``L`` during the warm-up (``None``: ``max_ponder``), so
            that a low initial bias cannot make the relaxed loop run for long.
    """

    task: str
    model: Mode
    tau: float = 1e-3
    repeats: int = 1
    steps: int = 200_000
    seed: int = 0
    cell: CellType = "rnn"
    hidden_size: int = 128
    batch_size: int = 128
    lr: float = 1e-3
    max_ponder: int = 100
    bits: int = 64
    random_positions: bool = False
    numbers: int = 5
    digits: int = 5
    temperature: float = 2.0 / 3.0
    eps: float = 0.01
    delta: float = 0.01
    halting_bias: float = 1.0
    baseline_decay: float = 0.99
    log_every: int = 1000
    checkpoint_every: int = 5000
    eval_samples: int = 10_000
    eval_mode: HaltingMode | None = None
    init: Init = "tf"
    stop_when_solved: bool = False
    penalty_reduction: PenaltyReduction = "mean"
    warmup_steps: int = 0
    ramp_steps: int = 0
    warmup_freeze: bool = True
    warmup_max_ponder: int | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; choose from {', '.join(TASKS)}")
        if self.model not in MODES:
            raise ConfigError(f"unknown model {self.model!r}; choose from {', '.join(MODES)}")
        if not self.tau > 0:
            raise ConfigError(f"--tau must be > 0, got {self.tau}")
        if self.repeats < 1:
            raise ConfigError(f"--repeats must be >= 1, got {self.repeats}")
        if self.model == "plain" and self.repeats != 1:
            raise ConfigError(f"the plain model runs each input once; got --repeats {self.repeats}")
        if self.bits < 1:
            raise ConfigError(f"--bits must be >= 1, got {self.bits}")
        if self.numbers < 2:
            raise ConfigError(f"--numbers must be >= 2, got {self.numbers}")
        if self.digits < 1:
            raise ConfigError(f"--digits must be >= 1, got {self.digits}")
        for name in ("steps", "hidden_size", "batch_size", "max_ponder", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
        if self.checkpoint_every < 1 or self.eval_samples < 1:
            raise ConfigError("--checkpoint-every and --eval-samples must be >= 1")
        if not self.lr > 0 or not self.temperature > 0:
            raise ConfigError("--lr and --temperature must be > 0")
        if self.init not in INITS:
            raise ConfigError(f"unknown init {self.init!r}; choose from {', '.join(INITS)}")
        if self.penalty_reduction not in PENALTY_REDUCTIONS:
            raise ConfigError(
                f"unknown penalty reduction {self.penalty_reduction!r}; "
                f"choose from {', '.join(PENALTY_REDUCTIONS)}"
            )
        for name in ("warmup_steps", "ramp_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0")
        if self.warmup_max_ponder is not None and self.warmup_max_ponder < 1:
            raise ConfigError(f"--warmup-max-ponder must be >= 1, got {self.warmup_max_ponder}")
        if self.eval_mode is not None and TRAIN_HALTING[self.model] is None:
            raise ConfigError(f"the {self.model} model has no halting to evaluate in a mode")

    @property
    def has_halting(self) -> bool:
        """Whether the model has a halting head."""
        return TRAIN_HALTING[self.model] is not None

    @property
    def resolved_eval_mode(self) -> HaltingMode | None:
        """``eval_mode`` or the mode's default evaluation halting."""
        return self.eval_mode if self.eval_mode is not None else EVAL_HALTING[self.model]

    def tau_at(self, step: int) -> float:
        """The penalty weight for the 0-based training step ``step`` (warm-up and ramp)."""
        if not self.has_halting or step < self.warmup_steps:
            return 0.0
        if self.ramp_steps:
            return self.tau * min(1.0, (step - self.warmup_steps + 1) / self.ramp_steps)
        return self.tau

    def in_warmup(self, step: int) -> bool:
        """Whether the 0-based training step ``step`` is part of the halting warm-up."""
        return self.has_halting and step < self.warmup_steps

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for checkpoints and summaries)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict`, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def build_task(config: TrainConfig) -> Task:
    """The task that ``config`` names."""
    if config.task == "parity":
        return ParityTask(config.bits, random_positions=config.random_positions)
    return AdditionTask(config.numbers, config.digits)


def build_model(config: TrainConfig, task: Task) -> SequenceModel:
    """A freshly initialised model for ``config`` (uses torch's global generator)."""
    return SequenceModel(
        task.input_size,
        task.output_size,
        config.hidden_size,
        mode=config.model,
        cell=config.cell,
        max_ponder=config.max_ponder,
        repeats=config.repeats,
        temperature=config.temperature,
        eps=config.eps,
        delta=config.delta,
        halting_bias=config.halting_bias,
        eval_halting=config.eval_mode,
        init=config.init,
    )
