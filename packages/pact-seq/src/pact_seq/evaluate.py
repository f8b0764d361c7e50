"""Evaluate a trained model on fresh samples, in any halting mode from the same weights.

Command line::

    python -m pact_seq.evaluate --checkpoint DIR/checkpoint.pt --mode thresholded

prints a JSON object with the accuracy (sequence accuracy for addition, plus the digit
accuracy) and the mean number of ponder steps per input.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from pact_core import EXECUTIONS, HALTINGS, Halting, resolve_execution
from pact_core.runs import load_checkpoint
from pact_seq._cli import Parser, parse_device, report
from pact_seq.config import ConfigError, TrainConfig, build_model, build_task
from pact_seq.model import SequenceModel
from pact_seq.task import Task

__all__ = ["EVAL_SEED_OFFSET", "Evaluation", "evaluate", "load_model", "main"]

#: Evaluation data use seed ``seed + EVAL_SEED_OFFSET``, away from the training stream.
EVAL_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class Evaluation:
    """Results of :func:`evaluate`.

    Attributes:
        accuracy: Fraction of examples with every target right (sequence accuracy).
        digit_accuracy: Fraction of target positions right.
        mean_ponder: Mean cell iterations per input (per example and timestep).
        mean_cost: Mean computation cost per input (``N``, ACT ponder, or ``rho``).
        eval_halting: The halting used.
        samples: Number of examples.
    """

    accuracy: float
    digit_accuracy: float
    mean_ponder: float
    mean_cost: float
    eval_halting: Halting
    samples: int


@torch.no_grad()
def evaluate(
    model: SequenceModel,
    task: Task,
    *,
    samples: int = 10_000,
    batch_size: int = 1000,
    halting: Halting | None = None,
    seed: int = EVAL_SEED_OFFSET,
    device: torch.device | str = "cpu",
) -> Evaluation:
    """Score ``model`` in ``eval()`` mode on ``samples`` fresh examples.

    Args:
        model: The model (left in ``eval()`` mode).
        task: The task that generates and scores the examples.
        samples: Number of examples.
        batch_size: Examples per forward pass.
        halting: Halting mode (``None``: the model's evaluation default).
        seed: Seed of the data and of the halting noise (the same examples for every mode).
        device: Where to run.

    Returns:
        An :class:`Evaluation`.
    """
    model.eval()
    device = torch.device(device)
    data = torch.Generator(device).manual_seed(seed)
    noise = torch.Generator(device).manual_seed(seed + 1)
    correct = torch.zeros((), device=device)
    digits = torch.zeros((), device=device)
    ponder = torch.zeros((), device=device, dtype=torch.float64)
    cost = torch.zeros((), device=device, dtype=torch.float64)
    used: Halting = model.settings.halting_for(False) if halting is None else halting
    done = 0
    while done < samples:
        size = min(batch_size, samples - done)
        batch = task.sample(size, data)
        out = model(batch.x, halting=halting, generator=noise)
        right = task.target_correct(out.logits, batch.y)
        correct += right.all(dim=-1).sum()
        digits += right.float().mean(dim=-1).sum()
        ponder += out.recurrent.iterations.double().mean(dim=-1).sum()
        cost += out.recurrent.cost.double().mean(dim=-1).sum()
        used = out.recurrent.halting
        done += size
    return Evaluation(
        accuracy=float(correct) / samples,
        digit_accuracy=float(digits) / samples,
        mean_ponder=float(ponder) / samples,
        mean_cost=float(cost) / samples,
        eval_halting=used,
        samples=samples,
    )


def load_model(path: str | Path, device: torch.device) -> tuple[TrainConfig, SequenceModel]:
    """Rebuild the model saved in a training checkpoint."""
    data = load_checkpoint(path)
    config = TrainConfig.from_dict(data["config"])
    model = build_model(config, build_task(config))
    model.load_state_dict(data["model"])
    return config, model.to(device)


def _parser() -> Parser:
    parser = Parser(prog="pact_seq.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt of a training run")
    parser.add_argument(
        "--halting",
        "--mode",
        choices=HALTINGS,
        default=None,
        help="halting at evaluation (default: the run's, thresholded for PACT, act for ACT)",
    )
    parser.add_argument("--samples", type=int, default=10_000, help="fresh examples")
    parser.add_argument("--batch-size", type=int, default=1000, help="examples per pass")
    parser.add_argument("--seed", type=int, default=None, help="data seed (default: run's)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--execution",
        choices=EXECUTIONS,
        default="compact",
        help="compact (the default: the cell runs only on rows that have not halted), "
        "early-exit or masked; the same results",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Evaluate a checkpoint and print the result as JSON; 2 on a bad argument."""
    try:
        args = _parser().parse_args(argv)
        if args.samples < 1 or args.batch_size < 1:
            raise ConfigError("--samples and --batch-size must be >= 1")
        path = Path(args.checkpoint)
        if not path.is_file():
            raise ConfigError(f"checkpoint not found: {path}")
        run_device = parse_device(args.device)
        try:
            config, model = load_model(path, run_device)
        except (FileNotFoundError, ValueError, KeyError, RuntimeError) as error:
            raise ConfigError(f"cannot load checkpoint {path}: {error}") from None
        halting = config.halting.eval_default if args.halting is None else args.halting
        try:
            config.halting.check_halting(halting)
        except ValueError as error:
            raise ConfigError(f"--halting: {error}") from None
        model.recurrent.execution = resolve_execution(args.execution)
        seed = config.seed + EVAL_SEED_OFFSET if args.seed is None else args.seed
    except ConfigError as error:
        return report("pact_seq.evaluate", error)
    result = evaluate(
        model,
        build_task(config),
        samples=args.samples,
        batch_size=args.batch_size,
        halting=halting,
        seed=seed,
        device=run_device,
    )
    record = {"checkpoint": str(path), "task": config.task, "method": config.halting.method}
    record.update(asdict(result))
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
