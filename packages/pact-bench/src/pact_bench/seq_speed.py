"""Training speed of pact-seq models, and the cost of their halting logic.

``python -m pact_bench.seq_speed`` times training steps on parity at the published
configuration (64 bits, a 128-unit tanh RNN, batch 128, at most 100 ponder steps) for
ACT, PACT, Repeat-RNN (rho 3) and a plain RNN. For each halting model it also times a
Repeat-RNN whose ``rho`` equals the number of cell iterations the halting model's loop
actually ran, and reports the halting overhead: how much slower the adaptive step is
than a plain cell doing the same number of cell steps. The target is under 25%.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from pact_bench.environment import describe_environment, resolve_device
from pact_seq.config import TrainConfig
from pact_seq.train import Trainer, train_step

__all__ = ["SpeedResult", "main", "measure_training_speed"]

MODELS = ("act", "pact", "repeat", "plain")


@dataclass(frozen=True)
class SpeedResult:
    """Training speed of one model.

    Attributes:
        model: The pact-seq model.
        steps_per_s: Training steps per second.
        loop_steps: Mean cell iterations the layer's loop ran per timestep.
        baseline_steps_per_s: Steps per second of Repeat-RNN with ``rho = loop_steps``
            (rounded), for halting models.
        overhead: ``baseline time / ... - 1``: the extra time of the halting logic.
    """

    model: str
    steps_per_s: float
    loop_steps: float
    baseline_steps_per_s: float | None = None
    overhead: float | None = None


def _trainer(model: str, repeats: int, args: argparse.Namespace, device: torch.device) -> Trainer:
    config = TrainConfig(
        task="parity",
        model=model,  # type: ignore[arg-type]
        tau=args.tau,
        repeats=repeats,
        bits=args.bits,
        hidden_size=args.hidden_size,
        batch_size=args.batch_size,
        max_ponder=args.max_ponder,
        seed=args.seed,
    )
    return Trainer.create(config, device)


def _time_steps(trainer: Trainer, steps: int, warmup: int) -> tuple[float, float]:
    """Seconds per training step and mean loop iterations per timestep."""
    loops: list[int] = []

    def run(n: int) -> None:
        for _ in range(n):
            batch = trainer.task.sample(trainer.config.batch_size, trainer.data)
            output, _ = train_step(
                trainer.model,
                trainer.optimizer,
                trainer.task,
                batch,
                tau=trainer.config.tau,
                baseline=trainer.baseline,
                generator=trainer.noise,
            )
            loops.extend(output.recurrent.loop_steps)

    run(warmup)
    loops.clear()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    start = time.perf_counter()
    run(steps)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    return (time.perf_counter() - start) / steps, sum(loops) / max(len(loops), 1)


def measure_training_speed(args: argparse.Namespace, device: torch.device) -> list[SpeedResult]:
    """Time every model in ``args.models``; see the module docstring."""
    results = []
    for model in args.models:
        repeats = 3 if model == "repeat" else 1
        seconds, loop = _time_steps(_trainer(model, repeats, args, device), args.steps, args.warmup)
        if model in ("repeat", "plain"):
            results.append(SpeedResult(model, 1 / seconds, loop))
            continue
        rho = max(1, round(loop))
        baseline, _ = _time_steps(_trainer("repeat", rho, args, device), args.steps, args.warmup)
        results.append(SpeedResult(model, 1 / seconds, loop, 1 / baseline, seconds / baseline - 1))
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pact_bench.seq_speed", description=__doc__)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-ponder", type=int, default=100)
    parser.add_argument("--tau", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=100, help="timed training steps per model")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print training speed and halting overhead per model beside the environment."""
    args = _parser().parse_args(argv)
    try:
        for name in ("bits", "hidden_size", "batch_size", "max_ponder", "steps"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if args.warmup < 0:
            raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be >= 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        device = resolve_device(args.device)
        results = measure_training_speed(args, device)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    environment = describe_environment(device)
    print(
        f"# Training speed on parity ({args.bits} bits, {args.hidden_size} units, "
        f"batch {args.batch_size}, tau {args.tau:g}, untrained weights)"
    )
    print(f"\n{environment.summary()}\n")
    print(
        "| model | steps/s | cell steps per input (loop) "
        "| plain cell, same steps: steps/s | halting overhead |"
    )
    print("|---|---|---|---|---|")
    for r in results:
        base = "-" if r.baseline_steps_per_s is None else f"{r.baseline_steps_per_s:.1f}"
        over = "-" if r.overhead is None else f"{r.overhead:+.0%}"
        print(f"| {r.model} | {r.steps_per_s:.1f} | {r.loop_steps:.2f} | {base} | {over} |")
    if args.json is not None:
        payload = {
            "environment": environment.as_dict(),
            "config": {k: v for k, v in vars(args).items() if k != "json"},
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
