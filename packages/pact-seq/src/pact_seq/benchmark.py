"""Training speed of a configuration, and the overhead of its halting logic.

The overhead compares an adaptive model with a plain cell that runs *the same number of
cell steps*: the adaptive run records how many iterations its loop ran at every
timestep of every batch, and the baseline replays exactly those counts with the same
cell, readout, loss and Adam step but no halting head, stream or freezing. With batch
compaction (the default; ``--execution early-exit`` turns it off) the adaptive cell runs only the
rows that have not halted, fewer row-steps than the replay (``mean_ponder`` against
``cell_steps``), so part of the halting overhead is paid for by skipped cell work.

Command line (prints one JSON object per model)::

    python -m pact_seq.benchmark --models act pact repeat plain --steps 200
"""

from __future__ import annotations

import copy
import platform
import statistics
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_core import EXECUTIONS, HaltingSettings, resolve_execution
from pact_core.runs import (
    COUNT,
    WHOLE,
    OneLineParser,
    allocator_description,
    integer,
    number,
    parse_device,
    retain_freed_memory,
    run_main,
    to_json,
)
from pact_seq.config import TASK_DEFAULTS, TrainConfig, settings_for
from pact_seq.model import SequenceModel
from pact_seq.train import MODEL_CHOICES
from pact_seq.trainer import Trainer

__all__ = ["SpeedResult", "main", "measure_training_speed"]


@dataclass(frozen=True)
class SpeedResult:
    """Training speed of one configuration.

    Attributes:
        model: The ``--model`` name (a method, ``repeat`` or ``plain``).
        execution: The adaptive layer's execution (``compact``: batch compaction).
        max_iterations: The cap ``L`` (``rho`` for Repeat-RNN).
        steps: Timed training steps.
        rounds: Rounds the timed steps were split into, each timing the model and then
            the replay of the same steps.
        steps_per_s: Training steps per second of the model.
        cell_steps: Mean loop iterations per timestep (what the replay runs per input).
        mean_ponder: Mean iterations each input actually ran (compaction's row-steps).
        plain_steps_per_s: Steps per second of a plain cell replaying the same iterations.
        overhead: The median over rounds of ``model time / replay time - 1``: the extra
            time of halting.
        overhead_range: The smallest and largest per-round overhead: how far the
            machine's noise moves the figure.
    """

    model: str
    execution: str
    max_iterations: int
    steps: int
    rounds: int
    steps_per_s: float
    cell_steps: float
    mean_ponder: float
    plain_steps_per_s: float
    overhead: float
    overhead_range: tuple[float, float]


def _synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so a host clock measures them (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_model(trainer: Trainer, steps: int) -> tuple[float, list[tuple[int, ...]], list[float]]:
    """Seconds for ``steps`` training steps, their loop steps and mean iterations."""
    loops: list[tuple[int, ...]] = []
    ponders: list[Tensor] = []
    trainer.model.train()
    _synchronize(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        _, output, _ = trainer.train_once()
        loops.append(output.recurrent.loop_steps)  # known on the host: the loop ran them
        ponders.append(output.recurrent.iterations.double().mean())
    _synchronize(trainer.device)
    seconds = time.perf_counter() - start
    return seconds, loops, [float(p) for p in ponders]


class _PlainReplay:
    """A plain cell trained on given loop counts: same cell, readout, loss and Adam step.

    It trains a copy of the model's cell and readout on batches from its own generator,
    so timing it between the model's rounds leaves the model's run untouched.
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        if not isinstance(trainer.model, SequenceModel):
            raise ValueError("the replay times recurrent models, not the transformer")
        self.model = copy.deepcopy(trainer.model)
        layer, readout = self.model.recurrent, self.model.readout
        params = list(layer.cell.parameters()) + list(readout.parameters())
        self.optimizer = torch.optim.Adam(params, lr=trainer.config.lr)
        self.data = torch.Generator(trainer.device).manual_seed(trainer.config.seed + 2)

    def time(self, loops: list[tuple[int, ...]]) -> float:
        """Seconds to train one step on each ``loops[i]`` (cell steps per timestep)."""
        trainer = self.trainer
        layer, readout, task = self.model.recurrent, self.model.readout, trainer.task
        _synchronize(trainer.device)
        start = time.perf_counter()
        for counts in loops:
            batch = task.sample(trainer.config.batch_size, self.data)
            x = batch.x
            u = layer.initial_state(x.shape[0], x)
            flags = (x.new_ones(x.shape[0], 1), x.new_zeros(x.shape[0], 1))
            outputs = []
            for t, count in enumerate(counts):
                first = torch.cat([x[:, t], flags[0]], dim=-1)
                later = torch.cat([x[:, t], flags[1]], dim=-1)
                for r in range(count):
                    u = layer._cell_step(first if r == 0 else later, u)
                outputs.append(u[:, : layer.hidden_size])
            logits = F.linear(torch.stack(outputs, dim=1), readout.weight, readout.bias)
            loss = task.nll(logits, batch.y).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        _synchronize(trainer.device)
        return time.perf_counter() - start


def measure_training_speed(
    config: TrainConfig,
    *,
    steps: int = 200,
    warmup: int = 20,
    rounds: int = 5,
    device: torch.device | str = "cpu",
    execution: str = "compact",
    model: str | None = None,
) -> SpeedResult:
    """Time ``steps`` training steps of ``config`` and of a plain cell doing the same work.

    The timed steps are split into ``rounds``; each round times a run of model steps
    and then the plain replay of exactly those loop counts, so drift in the machine's
    speed (other jobs, frequency changes) hits both sides of each ratio alike. The
    overhead is the median ratio.

    Args:
        config: The run to time (its ``steps`` field is ignored).
        steps: Timed training steps (after ``warmup`` untimed ones).
        warmup: Untimed steps of the model and of the replay first.
        rounds: Rounds ``>= 1`` (at most ``steps``: fewer steps give fewer rounds).
        device: Where to run.
        execution: The adaptive layer's execution (``compact``, ``early-exit``, ``masked``).
        model: The name to report (default: the method).

    Returns:
        A :class:`SpeedResult`.

    Raises:
        ValueError: If ``steps < 1``, ``warmup < 0`` or ``rounds < 1``.
    """
    if steps < 1 or warmup < 0 or rounds < 1:
        raise ValueError(
            f"need steps >= 1, warmup >= 0 and rounds >= 1; "
            f"got steps={steps}, warmup={warmup}, rounds={rounds}"
        )
    rounds = min(rounds, steps)
    device = torch.device(device)
    trainer = Trainer.create(config, device)
    trainer.model.execution = resolve_execution(execution)
    replay = _PlainReplay(trainer)
    if warmup:
        _, warm_loops, _ = _time_model(trainer, warmup)
        replay.time(warm_loops)
    model_seconds, replay_seconds = [], []
    loops: list[tuple[int, ...]] = []
    ponders: list[float] = []
    for index in range(rounds):
        chunk = steps * (index + 1) // rounds - steps * index // rounds
        seconds, chunk_loops, chunk_ponders = _time_model(trainer, chunk)
        model_seconds.append(seconds)
        replay_seconds.append(replay.time(chunk_loops))
        loops += chunk_loops
        ponders += chunk_ponders
    overheads = [m / r - 1.0 for m, r in zip(model_seconds, replay_seconds, strict=True)]
    cell_steps = sum(sum(counts) / len(counts) for counts in loops) / len(loops)
    return SpeedResult(
        model=config.halting.method if model is None else model,
        execution=execution,
        max_iterations=config.halting.max_iterations,
        steps=steps,
        rounds=rounds,
        steps_per_s=steps / sum(model_seconds),
        cell_steps=cell_steps,
        mean_ponder=sum(ponders) / len(ponders),
        plain_steps_per_s=steps / sum(replay_seconds),
        overhead=statistics.median(overheads),
        overhead_range=(min(overheads), max(overheads)),
    )


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="pact_seq.benchmark", description=__doc__.splitlines()[0])
    count = integer(COUNT)
    add = parser.add_argument
    add("--task", choices=tuple(TASK_DEFAULTS), default="parity")
    add("--models", nargs="+", choices=MODEL_CHOICES,
        default=["act", "pact", "pact-reinforce", "repeat", "plain"])  # fmt: skip
    add("--repeats", type=count, default=3, help="rho for repeat")
    add("--tau", type=number(HaltingSettings.CONSTRAINTS["tau"]), default=1e-3)
    add("--steps", type=count, default=200, help="timed steps per model")
    add("--warmup", type=integer(WHOLE), default=20)
    add("--rounds", type=count, default=5, help="alternate model and replay timing in N rounds")
    add("--seed", type=integer(), default=0)
    add("--device", type=parse_device, default="auto")
    add("--threads", type=count, default=1, help="torch CPU threads")
    add("--execution", choices=EXECUTIONS, default="compact",
        help="the adaptive layer's execution (default: compact)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line per model: steps/s, cell steps, and halting overhead."""
    return run_main("pact_seq.benchmark", lambda: _benchmark(argv))


def _benchmark(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    retain_freed_memory()  # time the computation, not page faults (pact_core.runs)
    defaults = TASK_DEFAULTS[args.task]
    configs = {
        model: TrainConfig(
            task=args.task,
            halting=settings_for(
                model,
                repeats=args.repeats if model == "repeat" else None,
                tau=args.tau,
                max_iterations=defaults["max_iterations"],
            ),
            seed=args.seed,
            cell=defaults["cell"],
            hidden_size=defaults["hidden_size"],
            batch_size=defaults["batch_size"],
        )
        for model in args.models
    }
    torch.set_num_threads(args.threads)
    machine = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "allocator": allocator_description(),
        "threads": torch.get_num_threads(),
        "device": str(args.device),
    }
    for model, config in configs.items():
        result = measure_training_speed(
            config,
            steps=args.steps,
            warmup=args.warmup,
            rounds=args.rounds,
            device=args.device,
            execution=args.execution,
            model=model,
        )
        print(to_json({"task": args.task, **asdict(result), "machine": machine}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
