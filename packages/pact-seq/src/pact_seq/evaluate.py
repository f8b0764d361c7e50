"""Evaluate a trained model on fresh samples, in any halting mode from the same weights.

Command line::

    python -m pact_seq.evaluate --checkpoint DIR/checkpoint.pt --mode thresholded

prints a JSON object with the accuracy (sequence accuracy for addition, plus the digit
accuracy) and the mean number of ponder steps per input.
"""

from __future__ import annotations

from dataclasses import asdict

from pact_core import EXECUTIONS, HALTINGS, resolve_execution
from pact_core.runs import (
    COUNT,
    OneLineParser,
    UsageError,
    integer,
    parse_device,
    run_main,
    to_json,
)
from pact_seq.config import build_task
from pact_seq.evaluation import EVAL_SEED_OFFSET, evaluate_model, load_model

__all__ = ["main"]


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="pact_seq.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt of a training run")
    parser.add_argument(
        "--halting",
        "--mode",
        choices=HALTINGS,
        default=None,
        help="halting at evaluation (default: the run's, thresholded for PACT, act for ACT)",
    )
    parser.add_argument("--samples", type=integer(COUNT), default=10_000, help="fresh examples")
    parser.add_argument("--batch-size", type=integer(COUNT), default=1000, help="examples per pass")
    parser.add_argument("--seed", type=integer(), default=None, help="data seed (default: run's)")
    parser.add_argument(
        "--device", type=parse_device, default="auto", help="auto, cpu, cuda, cuda:N"
    )
    parser.add_argument(
        "--execution",
        choices=EXECUTIONS,
        default=None,
        help="the same results in each: compact (the recurrent models' default: the cell "
        "runs only on rows that have not halted), early-exit, masked (the Transformer's "
        "default), unrolled",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Evaluate a checkpoint and print the result as JSON; 2 on a bad argument."""
    return run_main("pact_seq.evaluate", lambda: _evaluate(argv))


def _evaluate(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    config, model = load_model(args.checkpoint, args.device)
    halting = config.halting.eval_default if args.halting is None else args.halting
    try:
        config.halting.check_halting(halting)
    except ValueError as error:
        raise UsageError(f"--halting: {error}") from None
    if args.execution is not None:
        try:
            model.execution = resolve_execution(args.execution)
        except ValueError as error:  # a row-wise execution for the Transformer
            raise UsageError(f"--execution: {error}") from None
    seed = config.seed + EVAL_SEED_OFFSET if args.seed is None else args.seed
    result = evaluate_model(
        model,
        build_task(config),
        samples=args.samples,
        batch_size=args.batch_size,
        halting=halting,
        seed=seed,
        device=args.device,
    )
    record = {"checkpoint": str(args.checkpoint), "task": config.task}
    record.update({"method": config.halting.method, **asdict(result)})
    print(to_json(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
