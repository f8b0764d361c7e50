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

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_core import HALTINGS, REPORT_HALTINGS, Halting
from pact_core.runs import OneLineParser, report_error, resolve_device, retain_freed_memory
from pact_vision.augment import standardize
from pact_vision.checkpoint import CheckpointError, build_model, load_checkpoint
from pact_vision.datasets import DATASETS, DataError, ImageSet, load_dataset
from pact_vision.models import AdaptiveResNet

__all__ = ["EvalResult", "evaluate_model", "main"]


@dataclass(frozen=True)
class EvalResult:
    """Test metrics of one halting.

    Attributes:
        halting: The halting evaluated.
        accuracy: Top-1 accuracy in ``[0, 1]``.
        loss: Mean cross-entropy.
        mean_flops: Mean FLOPs per image needed by the active masks.
        units_per_block: Mean units executed per position, per block.
        cost: Mean of ``sum_k N_k`` (PSACT) or of the summed ponder costs (SACT).
        images: Number of images evaluated.
    """

    halting: str
    accuracy: float
    loss: float
    mean_flops: float
    units_per_block: list[float]
    cost: float
    images: int


@torch.no_grad()
def evaluate_model(
    model: AdaptiveResNet,
    data: ImageSet,
    halting: Halting,
    *,
    batch_size: int = 500,
    device: torch.device | None = None,
    generator_seed: int = 0,
) -> EvalResult:
    """Evaluate ``model`` with ``halting`` on ``data`` (standardised, no augmentation).

    The model is put in eval mode and its halting is restored afterwards. Discrete and
    relaxed halting sample from the global RNG, seeded with ``generator_seed`` inside a
    forked RNG state, so the caller's random stream is left as it was.
    """
    device = device if device is not None else next(model.parameters()).device
    previous, was_training = model.halting, model.training
    model.halting = halting
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    flops = torch.zeros((), dtype=torch.float64, device=device)
    cost = torch.zeros((), dtype=torch.float64, device=device)
    units: Tensor | None = None
    devices = [device.index or 0] if device.type == "cuda" else []
    stem = model.stem.weight  # feed images in the layout the model's weights are in
    channels_last = stem.is_contiguous(memory_format=torch.channels_last)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(generator_seed)
            for start in range(0, len(data), batch_size):
                images = data.images[start : start + batch_size].to(device)
                labels = data.labels[start : start + batch_size].to(device)
                out = model(standardize(images).contiguous(memory_format=layout))
                logits = out.logits.float()
                correct += (logits.argmax(dim=1) == labels).sum()
                loss += F.cross_entropy(logits, labels, reduction="sum").double()
                flops += out.flops.double().sum()
                cost += out.cost.double().sum()
                batch_units = out.units_executed.double().sum(dim=0)
                units = batch_units if units is None else units + batch_units
    finally:
        model.halting = previous
        model.train(was_training)
    count = max(len(data), 1)
    return EvalResult(
        halting=halting,
        accuracy=float(correct) / count,
        loss=float(loss) / count,
        mean_flops=float(flops) / count,
        units_per_block=[float(u) / count for u in units] if units is not None else [],
        cost=float(cost) / count,
        images=len(data),
    )


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m pact_vision.evaluate",
        description="Test accuracy and mean FLOPs of a checkpoint in several modes.",
    )
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint .pt file")
    parser.add_argument(
        "--haltings",
        "--modes",
        default=None,
        help=f"comma-separated haltings from {','.join(HALTINGS)} (default: the run's "
        "report haltings)",
    )
    parser.add_argument("--data", choices=DATASETS, help="data set (default: the training one)")
    parser.add_argument("--data-dir", type=Path, help="data directory (default: the training one)")
    parser.add_argument("--limit", type=int, default=0, help="evaluate the first N test images")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="seed for the sampling modes")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    retain_freed_memory()  # no page faults per batch (pact_core.runs); results unchanged
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.limit < 0:
        parser.error(f"--limit must be >= 0, got {args.limit}")
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        payload = load_checkpoint(args.checkpoint)
        model = build_model(payload["model_config"])
        model.load_state_dict(payload["model"])
        settings = model.settings
        modes: Sequence[Halting] = REPORT_HALTINGS[settings.method]
        if args.haltings:
            modes = [settings.check_halting(m.strip()) for m in args.haltings.split(",")]
        train_args = payload.get("train_config", {})
        name = args.data or train_args.get("data", "cifar10")
        root = args.data_dir or train_args.get("data_dir")
        test = load_dataset(name, root).test
    except ValueError as exc:
        parser.error(str(exc))
    except (CheckpointError, DataError) as exc:
        return report_error(parser.prog, str(exc))
    if args.limit:
        test = ImageSet(test.images[: args.limit], test.labels[: args.limit])
    model = model.to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    results = [
        evaluate_model(
            model, test, mode, batch_size=args.batch_size, device=device, generator_seed=args.seed
        )
        for mode in modes
    ]
    print(f"{'halting':<12} {'accuracy':>9} {'MFLOPs':>9} {'cost':>7}  units per block")
    for r in results:
        units = " ".join(f"{u:.2f}" for u in r.units_per_block)
        print(
            f"{r.halting:<12} {100 * r.accuracy:>8.2f}% {r.mean_flops / 1e6:>9.2f} "
            f"{r.cost:>7.3f}  {units}"
        )
    if args.json:
        report = {
            "checkpoint": str(args.checkpoint),
            "step": payload.get("step"),
            "results": [asdict(r) for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
