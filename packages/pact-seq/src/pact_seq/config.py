"""The configuration of a training run, with the published defaults of each task."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from pact_core import (
    HaltingSettings,
    Interval,
    Reduction,
    WarmUp,
    check_choice,
    parse_method,
)
from pact_core.objective import REDUCTIONS
from pact_core.runs import UsageError
from pact_seq.addition import AdditionTask
from pact_seq.layer import CELL_TYPES, CellType
from pact_seq.model import INITS, Init, SequenceModel
from pact_seq.parity import ParityTask
from pact_seq.prefix_parity import PrefixParityTask
from pact_seq.task import Task
from pact_seq.transformer import AdaptiveTransformer

__all__ = [
    "ARCHS",
    "DEFAULT_REPEATS",
    "TASKS",
    "TASK_DEFAULTS",
    "ConfigError",
    "TrainConfig",
    "build_model",
    "build_task",
    "settings_for",
]

TASKS = ("parity", "addition", "prefix-parity")
#: The model families: a recurrent cell per timestep, or a per-token Universal
#: Transformer encoder.
ARCHS = ("recurrent", "transformer")

#: Published settings (REFERENCE §3; Graves 2016, Fojo et al. 2018) per task.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "parity": {
        "cell": "rnn",
        "hidden_size": 128,
        "batch_size": 128,
        "max_iterations": 100,
        "steps": 200_000,
        "log_every": 1000,  # Fojo et al. log every 1000 steps; the smoothing assumes it
    },
    "addition": {
        "cell": "lstm",
        "hidden_size": 512,
        "batch_size": 32,
        "max_iterations": 20,
        "steps": 1_000_000,
        "log_every": 1000,
    },
    # Not a published task: the per-token depth benchmark of the Transformer encoder.
    "prefix-parity": {
        "cell": "rnn",
        "hidden_size": 32,
        "batch_size": 64,
        "max_iterations": 8,
        "steps": 5_000,
        "log_every": 100,  # 50 log points over the 5,000 steps
    },
}
#: Repeat-RNN's ``rho`` when ``--model repeat`` is given without ``--repeats``.
DEFAULT_REPEATS = 2

_COUNT = Interval(1.0, integer=True)


class ConfigError(UsageError):
    """A bad setting of a run, reported by the command lines as one line."""


def settings_for(model: str, *, repeats: int | None = None, **fields: Any) -> HaltingSettings:
    """Halting settings for a ``--model`` name, its aliases included.

    ``repeat`` is the fixed method with ``L = repeats`` (default :data:`DEFAULT_REPEATS`),
    ``plain`` the fixed method with ``L = 1``; other names are methods, whose cap comes
    from ``fields``.
    """
    method = parse_method(model)
    if model == "plain":
        if repeats not in (None, 1):
            raise ConfigError(f"the plain model runs each input once; got --repeats {repeats}")
        fields["max_iterations"] = 1
    elif method == "fixed":
        fields["max_iterations"] = DEFAULT_REPEATS if repeats is None else repeats
    elif repeats is not None:
        raise ConfigError(f"--repeats is for the repeat model, not {model!r}")
    try:
        return HaltingSettings(method, **fields)
    except ValueError as error:
        raise ConfigError(str(error)) from None


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved in every checkpoint.

    Attributes:
        task: ``"parity"`` or ``"addition"``.
        halting: The method, the cap ``L`` (Repeat-RNN's ``rho`` for the fixed method),
            ``tau`` and the halting constants.
        steps: Training steps.
        seed: Seed of the weights, the data and the halting noise.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        hidden_size: Hidden units.
        batch_size: Training batch size.
        lr: Adam learning rate.
        bits: Parity input length.
        random_positions: Parity nonzeros at random positions.
        numbers: Addition sequence length.
        digits: Addition maximum digits per number.
        baseline_decay: EMA decay of the REINFORCE baseline.
        log_every: Steps between log points.
        checkpoint_every: Steps between checkpoints.
        eval_samples: Fresh samples for the final evaluation.
        init: Weight initialisation, ``"tf"`` (the published code's) or ``"torch"``.
        stop_when_solved: End the run before ``steps`` once its steps to solve are
            settled (``steps_to_solve(..., settled=True)``): half a smoothing window
            (35 log points) after the smoothed accuracy reaches 98%, and not before the
            71st log point.
        penalty_reduction: ``"mean"`` (Fojo et al.'s code) or ``"sum"`` of the cost over
            timesteps; the same for parity (one timestep).
        warmup: The halting warm-up (:class:`pact_core.WarmUp`; off by default).
        arch: ``"recurrent"`` (a cell per timestep) or ``"transformer"`` (a per-token
            Universal Transformer encoder of width ``hidden_size``).
        heads: Attention heads of the Transformer.
        length: Sequence length of the prefix-parity task.
    """

    #: Integer fields and what they may be.
    COUNTS: ClassVar[tuple[str, ...]] = (
        "steps",
        "hidden_size",
        "batch_size",
        "bits",
        "digits",
        "log_every",
        "checkpoint_every",
        "eval_samples",
        "heads",
        "length",
    )

    task: str
    halting: HaltingSettings
    steps: int = 200_000
    seed: int = 0
    cell: CellType = "rnn"
    hidden_size: int = 128
    batch_size: int = 128
    lr: float = 1e-3
    bits: int = 64
    random_positions: bool = False
    numbers: int = 5
    digits: int = 5
    baseline_decay: float = 0.99
    log_every: int = 1000
    checkpoint_every: int = 5000
    eval_samples: int = 10_000
    init: Init = "tf"
    stop_when_solved: bool = False
    penalty_reduction: Reduction = "mean"
    warmup: WarmUp = field(default_factory=WarmUp)
    arch: str = "recurrent"
    heads: int = 4
    length: int = 8

    def __post_init__(self) -> None:
        try:
            check_choice("task", self.task, TASKS)
            check_choice("arch", self.arch, ARCHS)
            check_choice("cell", self.cell, CELL_TYPES)
            check_choice("init", self.init, INITS)
            check_choice("penalty_reduction", self.penalty_reduction, REDUCTIONS)
            for name in self.COUNTS:
                _COUNT.check(name, getattr(self, name))
            Interval(2.0, integer=True).check("numbers", self.numbers)
            Interval(0.0, low_closed=False).check("lr", self.lr)
            Interval(0.0, 1.0, high_closed=False).check("baseline_decay", self.baseline_decay)
        except ValueError as error:
            raise ConfigError(str(error)) from None

    @property
    def has_halting(self) -> bool:
        """Whether the model has a halting head."""
        return self.halting.has_halting

    def tau_at(self, step: int) -> float:
        """The penalty weight for the 0-based training step ``step`` (warm-up and ramp)."""
        return self.warmup.tau(self.halting.tau, step) if self.has_halting else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for checkpoints and summaries)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict`, ignoring unknown keys.

        Also reads the flat configuration of checkpoints written before the halting
        engine (``model``, ``tau``, ``max_ponder``, ..., ``warmup_steps`` at the top).
        """
        if "halting" not in data and "model" in data:
            data = _from_flat(data)
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["halting"] = HaltingSettings(**data["halting"])
        values["warmup"] = WarmUp(**data.get("warmup", {}))
        return cls(**values)


def _from_flat(data: dict[str, Any]) -> dict[str, Any]:
    """A pre-engine flat configuration in the nested form :meth:`TrainConfig.to_dict` has."""
    model = data["model"]
    constants = {"tau": data.get("tau"), "halting_bias": data.get("halting_bias")}
    constants |= {k: data[k] for k in ("temperature", "eps", "delta") if k in data}
    if parse_method(model) != "fixed":
        constants["max_iterations"] = data["max_ponder"]
        constants["eval_halting"] = data.get("eval_mode")
    repeats = data.get("repeats") if model == "repeat" else None
    halting = settings_for(model, repeats=repeats, **{
        k: v for k, v in constants.items() if v is not None
    })  # fmt: skip
    warmup = {
        "steps": data.get("warmup_steps", 0),
        "ramp_steps": data.get("ramp_steps", 0),
        "freeze_head": data.get("warmup_freeze", True),
        "max_iterations": data.get("warmup_max_ponder"),
    }
    return {**data, "halting": asdict(halting), "warmup": warmup}


def build_task(config: TrainConfig) -> Task:
    """The task that ``config`` names."""
    if config.task == "parity":
        return ParityTask(config.bits, random_positions=config.random_positions)
    if config.task == "prefix-parity":
        return PrefixParityTask(config.length)
    return AdditionTask(config.numbers, config.digits)


def build_model(config: TrainConfig, task: Task) -> SequenceModel | AdaptiveTransformer:
    """A freshly initialised model for ``config`` (uses torch's global generator)."""
    if config.arch == "transformer":
        return AdaptiveTransformer(
            task.input_size,
            task.output_size,
            config.hidden_size,
            config.halting,
            max_length=task.sequence_length,
            nhead=config.heads,
        )
    return SequenceModel(
        task.input_size,
        task.output_size,
        config.hidden_size,
        config.halting,
        cell=config.cell,
        init=config.init,
    )
