"""Training speed of a configuration, and the overhead of its halting logic.

The overhead compares an adaptive model with a plain cell that runs *the same number of
cell steps*: the adaptive run records how many iterations its loop ran at every
timestep of every batch, and the baseline replays exactly those counts with the same
cell, readout, loss and Adam step but no halting head, stream or freezing. With batch
compaction (the default; ``--no-compact`` turns it off) the adaptive cell runs only the
rows that have not halted, fewer row-steps than the replay (``mean_ponder`` against
``cell_steps``), so part of the halting overhead is paid for by skipped cell work.

Command line (prints one JSON object per model)::

    python -m pact_seq.benchmark --models act pact repeat plain --steps 200
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from pact_core.runs import allocator_description, retain_freed_memory
from pact_seq._cli import Parser, parse_device, report
from pact_seq.config import TASK_DEFAULTS, ConfigError, TrainConfig
from pact_seq.layer import MODES
from pact_seq.train import Trainer

__all__ = ["SpeedResult", "main", "measure_training_speed"]


@dataclass(frozen=True)
class SpeedResult:
    """Training speed of one configuration.

    Attributes:
        model: The layer mode.
        compact: Whether the adaptive layer ran with batch compaction.
        repeats: ``rho`` for Repeat-RNN (1 otherwise).
        steps: Timed training steps.
        steps_per_s: Training steps per second of the model.
        cell_steps: Mean loop iterations per timestep (what the replay runs per input).
        mean_ponder: Mean iterations each input actually ran (compaction's row-steps).
        plain_steps_per_s: Steps per second of a plain cell replaying the same iterations.
        overhead: ``plain_steps_per_s / steps_per_s - 1``: the extra time of halting.
    """

    model: str
    compact: bool
    repeats: int
    steps: int
    steps_per_s: float
    cell_steps: float
    mean_ponder: float
    plain_steps_per_s: float
    overhead: float


def _time_model(
    trainer: Trainer, steps: int, warmup: int
) -> tuple[float, list[tuple[int, ...]], float]:
    """Seconds for ``steps`` training steps after ``warmup``, their loop steps, mean ponder."""
    loops: list[tuple[int, ...]] = []
    ponders: list[float] = []
    start = 0.0
    trainer.model.train()
    for index in range(warmup + steps):
        if index == warmup:
            start = time.perf_counter()
        _, output, _ = trainer.train_once()
        if index >= warmup:
            loops.append(output.recurrent.loop_steps)
            ponders.append(float(output.recurrent.iterations.double().mean()))
    return time.perf_counter() - start, loops, sum(ponders) / len(ponders)


def _time_plain_replay(trainer: Trainer, loops: list[tuple[int, ...]], warmup: int) -> float:
    """Seconds for a plain cell to train on ``loops[i][t]`` cell steps per timestep."""
    config = trainer.config
    layer = trainer.model.recurrent
    readout = trainer.model.readout
    params = list(layer.cell.parameters()) + list(readout.parameters())
    optimizer = torch.optim.Adam(params, lr=config.lr)
    task = trainer.task
    start = 0.0
    schedule = loops[:warmup] + loops
    for index, counts in enumerate(schedule):
        if index == warmup:
            start = time.perf_counter()
        batch = task.sample(config.batch_size, trainer.data)
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
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def measure_training_speed(
    config: TrainConfig,
    *,
    steps: int = 200,
    warmup: int = 20,
    device: torch.device | str = "cpu",
    compact: bool = True,
) -> SpeedResult:
    """Time ``steps`` training steps of ``config`` and of a plain cell doing the same work.

    Args:
        config: The run to time (its ``steps`` field is ignored).
        steps: Timed training steps (after ``warmup`` untimed ones).
        warmup: Untimed steps first.
        device: Where to run.
        compact: Batch compaction in the adaptive layer.

    Returns:
        A :class:`SpeedResult`.
    """
    device = torch.device(device)
    trainer = Trainer.create(config, device)
    trainer.model.recurrent.compact = compact
    seconds, loops, mean_ponder = _time_model(trainer, steps, warmup)
    plain_seconds = _time_plain_replay(trainer, loops, min(warmup, len(loops)))
    cell_steps = sum(sum(counts) / len(counts) for counts in loops) / len(loops)
    return SpeedResult(
        model=config.model,
        compact=compact,
        repeats=config.repeats,
        steps=steps,
        steps_per_s=steps / seconds,
        cell_steps=cell_steps,
        mean_ponder=mean_ponder,
        plain_steps_per_s=steps / plain_seconds,
        overhead=seconds / plain_seconds - 1.0,
    )


def _parser() -> Parser:
    parser = Parser(prog="pact_seq.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=tuple(TASK_DEFAULTS), default="parity")
    parser.add_argument("--models", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeats", type=int, default=3, help="rho for repeat")
    parser.add_argument("--tau", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--compact", action=argparse.BooleanOptionalAction, default=True,
                        help="batch compaction in the adaptive layer (default on)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line per model: steps/s, cell steps, and halting overhead."""
    retain_freed_memory()  # time the computation, not page faults (pact_core.runs)
    try:
        args = _parser().parse_args(argv)
        if args.steps < 1 or args.warmup < 0 or args.threads < 1 or args.repeats < 1:
            raise ConfigError("--steps, --threads and --repeats must be >= 1, --warmup >= 0")
        run_device = parse_device(args.device)
        defaults = TASK_DEFAULTS[args.task]
        base = TrainConfig(
            task=args.task,
            model="plain",
            tau=args.tau,
            seed=args.seed,
            cell=defaults["cell"],
            hidden_size=defaults["hidden_size"],
            batch_size=defaults["batch_size"],
            max_ponder=defaults["max_ponder"],
        )
    except ConfigError as error:
        return report("pact_seq.benchmark", error)
    torch.set_num_threads(args.threads)
    machine = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "allocator": allocator_description(),
        "threads": torch.get_num_threads(),
        "device": str(run_device),
    }
    for model in args.models:
        config = replace(base, model=model, repeats=args.repeats if model == "repeat" else 1)
        result = measure_training_speed(
            config, steps=args.steps, warmup=args.warmup, device=run_device, compact=args.compact
        )
        print(json.dumps({"task": args.task, **asdict(result), "machine": machine}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
