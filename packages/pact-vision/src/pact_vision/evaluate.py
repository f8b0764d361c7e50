r"""Evaluate a checkpoint in several modes: test accuracy and mean FLOPs per image.

Usage::

    python -m pact_vision.evaluate --checkpoint runs/psact/checkpoint.pt \\
        --haltings relaxed,discrete,thresholded

Every halting runs with the same weights, so a SACT checkpoint can be evaluated as
thresholded PSACT (the paper's fig. 8 check). The default is the haltings the run's
method is reported with (:data:`pact_core.REPORT_HALTINGS`). Prints a table and, with ``--json``,
writes the numbers as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from pact_core import HALTINGS, REPORT_HALTINGS, Halting
from pact_core.runs import (
    COUNT,
    WHOLE,
    OneLineParser,
    UsageError,
    check_output_file,
    integer,
    parse_device,
    retain_freed_memory,
    run_main,
    write_json,
)
from pact_vision.checkpoint import build_model, load_checkpoint, run_config
from pact_vision.datasets import DATASETS, ImageSet, load_dataset
from pact_vision.evaluation import evaluate_model

__all__ = ["main"]


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog="pact_vision.evaluate",
        description="Test accuracy and mean FLOPs of a checkpoint with several haltings.",
    )
    add = parser.add_argument
    add("--checkpoint", required=True, type=Path, help="checkpoint .pt file")
    add("--haltings", "--modes", default=None,
        help=f"comma-separated haltings from {','.join(HALTINGS)} (default: the run's "
        "report haltings)")  # fmt: skip
    add("--data", choices=DATASETS, help="data set (default: the training one)")
    add("--data-dir", type=Path, help="data directory (default: the training one)")
    add("--limit", type=integer(WHOLE), default=0, help="evaluate the first N test images")
    add("--batch-size", type=integer(COUNT), default=500)
    add("--device", type=parse_device, default="auto", help="auto, cpu, cuda or cuda:N")
    add("--seed", type=integer(), default=0, help="seed for the sampling haltings")
    add("--json", type=Path, help="also write the results to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Evaluate a checkpoint; 2 on bad input, 1 on a missing or mismatched checkpoint."""
    return run_main("pact_vision.evaluate", lambda: _evaluate(argv))


def _evaluate(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    json_path = check_output_file(args.json, "--json")  # before any work
    retain_freed_memory()  # no page faults per batch (pact_core.runs); results unchanged
    payload = load_checkpoint(args.checkpoint)
    model = build_model(payload["model_config"])
    model.load_state_dict(payload["model"])
    settings = model.settings
    haltings: Sequence[Halting] = REPORT_HALTINGS[settings.method]
    if args.haltings:
        try:
            haltings = [settings.check_halting(m.strip()) for m in args.haltings.split(",")]
        except ValueError as error:
            raise UsageError(f"--haltings: {error}") from None
    config = run_config(payload)
    name = args.data or config.get("data", "cifar10")
    test = load_dataset(name, args.data_dir or config.get("data_dir")).test
    load_checkpoint(args.checkpoint, data_shape=test.images.shape[1:], data_name=name)
    if args.limit:
        test = ImageSet(test.images[: args.limit], test.labels[: args.limit])
    model = model.to(args.device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    results = [
        evaluate_model(
            model,
            test,
            halting,
            batch_size=args.batch_size,
            device=args.device,
            generator_seed=args.seed,
        )
        for halting in haltings
    ]
    print(f"{'halting':<12} {'accuracy':>9} {'MFLOPs':>9} {'cost':>7}  units per block")
    for r in results:
        units = " ".join(f"{u:.2f}" for u in r.units_per_block)
        print(
            f"{r.halting:<12} {100 * r.accuracy:>8.2f}% {r.mean_flops / 1e6:>9.2f} "
            f"{r.cost:>7.3f}  {units}"
        )
    if json_path is not None:
        report = {
            "checkpoint": str(args.checkpoint),
            "step": payload.get("step"),
            "results": [asdict(r) for r in results],
        }
        write_json(json_path, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
