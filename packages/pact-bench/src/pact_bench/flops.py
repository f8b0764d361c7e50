"""FLOPs: active-position FLOPs of pact-vision models, dense FLOPs of any module, cell FLOPs.

* :func:`vision_flops` counts what the active masks of a pact-vision model need, with
  pact-vision's own counting (REFERENCE §2: conv1 on the dilated mask, conv2 on the mask,
  halting heads and the classifier included).
* :func:`dense_flops` counts any ``nn.Module`` call with
  :class:`torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add).
* :func:`cell_step_flops` is one step of a pact-seq layer's cell and halting head, per
  sequence; times the executed ponder steps it gives FLOPs per input.

``python -m pact_bench.flops --arch resnet110`` prints the dense count, 505775360.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from pact_vision import MODES, AdaptiveResNet, resnet, units_per_block
from pact_vision.checkpoint import CheckpointError, build_model, load_checkpoint
from pact_vision.datasets import DataError, ImageSet, load_dataset
from pact_vision.evaluate import evaluate_model

__all__ = [
    "cell_step_flops",
    "dense_flops",
    "load_vision_checkpoint",
    "load_vision_model",
    "main",
    "vision_flops",
]


def dense_flops(module: nn.Module | Callable[..., Any], *inputs: Any) -> int:
    """FLOPs of ``module(*inputs)`` as :class:`~torch.utils.flop_counter.FlopCounterMode` counts.

    Masked convolutions count as dense: this is what the hardware does without sparse
    execution.
    """
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*inputs)
    return int(counter.get_total_flops())


def vision_flops(model: AdaptiveResNet, images: Tensor) -> Tensor:
    """FLOPs per image that the active masks of ``model`` need on ``images``.

    Args:
        model: A pact-vision model in the mode to count (dense, act, relaxed, discrete or
            thresholded).
        images: ``[B, C, H, W]``.

    Returns:
        int64 ``[B]``.
    """
    with torch.no_grad():
        flops: Tensor = model(images).flops
    return flops


def cell_step_flops(
    cell: nn.RNNCell | nn.LSTMCell | nn.GRUCell, head: nn.Module | None, state_size: int
) -> int:
    """FLOPs of one iteration of a recurrent cell (and its halting head) for one sequence.

    Args:
        cell: ``nn.RNNCell``, ``nn.LSTMCell`` or ``nn.GRUCell``.
        head: The halting head (a linear map of the packed state), or ``None``.
        state_size: Size of the packed state the head reads (``2H`` for an LSTM).
    """
    inputs = torch.zeros(1, int(cell.input_size))
    hidden = int(cell.hidden_size)
    if isinstance(cell, nn.LSTMCell):
        state: Any = (torch.zeros(1, hidden), torch.zeros(1, hidden))
    else:
        state = torch.zeros(1, hidden)
    flops = dense_flops(cell, inputs, state)
    if head is not None:
        flops += dense_flops(head, torch.zeros(1, state_size))
    return flops


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pact_bench.flops",
        description="FLOPs per image of a CIFAR ResNet, as SACT counts them.",
    )
    parser.add_argument("--arch", default="resnet32", help="resnet<6n+2>: resnet32, resnet110, ...")
    parser.add_argument("--mode", default="dense", help=f"one of {', '.join(MODES)}")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a pact_vision.train run")
    parser.add_argument("--data", default=None, help="cifar10 or fashion-mnist (with --checkpoint)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--batches", type=int, default=10, help="test batches of 100 to average")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print FLOPs per image; dense mode needs no data."""
    args = _parser().parse_args(argv)
    try:
        result = _count(args)
    except (ValueError, OSError, CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(result["flops"])
    return 0


def _count(args: argparse.Namespace) -> dict[str, Any]:
    if args.mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {args.mode!r}")
    if args.checkpoint is None:
        if args.mode != "dense":
            raise ValueError(
                f"--mode {args.mode} depends on trained halting: give --checkpoint and --data"
            )
        n = units_per_block(args.arch)
        model = resnet(n, halting=False).eval()
        flops = int(vision_flops(model, torch.zeros(1, 3, 32, 32))[0])
        return {"arch": args.arch, "mode": "dense", "flops": flops, "images": None}
    if args.data is None:
        raise ValueError("--checkpoint needs --data (cifar10 or fashion-mnist) to count on")
    if args.batches < 1:
        raise ValueError(f"--batches must be >= 1, got {args.batches}")
    model = load_vision_model(args.checkpoint)
    test = load_dataset(args.data, args.data_dir).test
    subset = ImageSet(test.images[: 100 * args.batches], test.labels[: 100 * args.batches])
    result = evaluate_model(model, subset, args.mode, batch_size=100)
    arch = f"resnet{6 * model.units_per_block + 2}"
    return {"arch": arch, "mode": args.mode, "flops": result.mean_flops, "images": result.images}


def load_vision_checkpoint(path: Path) -> tuple[AdaptiveResNet, dict[str, Any]]:
    """Rebuild a pact-vision model from a checkpoint file or a run directory holding one.

    Returns:
        The model in eval mode, and the training configuration saved with it (empty if
        the checkpoint has none).
    """
    if path.is_dir():
        path = path / "checkpoint.pt"
    payload = load_checkpoint(path)
    model = build_model(payload["model_config"])
    model.load_state_dict(payload["model"])
    return model.eval(), dict(payload.get("train_config", {}))


def load_vision_model(path: Path) -> AdaptiveResNet:
    """Rebuild a pact-vision model from a checkpoint file or a run directory holding one."""
    return load_vision_checkpoint(path)[0]


if __name__ == "__main__":
    raise SystemExit(main())
