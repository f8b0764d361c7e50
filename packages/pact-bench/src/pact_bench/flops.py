"""FLOPs: active-position FLOPs of pact-vision models, dense FLOPs of any module, cell FLOPs.

* :func:`vision_flops` counts what the active masks of a pact-vision model need, with
  pact-vision's own counting (REFERENCE §2: conv1 on the dilated mask, conv2 on the mask,
  halting heads and the classifier included).
* :func:`dense_flops` counts any ``nn.Module`` call with
  :class:`torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add).
* :func:`cell_step_flops` is one step of a pact-seq layer's cell and halting head, per
  sequence; times the executed ponder steps it gives FLOPs per input.

``python -m pact_bench.flops --arch resnet110`` prints the dense count, 505775360. With
``--checkpoint C --data D`` it counts a trained model's own halting on ``D``'s test images;
a checkpoint trained on images of another shape (Fashion-MNIST against CIFAR-10) is
refused in one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from pact_core import HALTINGS
from pact_core.runs import COUNT, OneLineParser, UsageError, integer, run_main, to_json
from pact_vision import (
    AdaptiveResNet,
    ImageSet,
    build_model,
    evaluate_model,
    load_checkpoint,
    load_dataset,
    max_iterations_of,
    resnet,
)
from pact_vision.checkpoint import run_config
from pact_vision.datasets import DATASETS

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
        model: A pact-vision model set to the halting to count (``model.halting``: fixed,
            act, relaxed, discrete or thresholded; ``None`` follows its training mode).
        images: ``[B, C, H, W]``.

    Returns:
        int64 ``[B]``.
    """
    with torch.no_grad():
        flops: Tensor = model(images).flops
    return flops


def cell_step_flops(cell: nn.Module, head: nn.Module | None, state_size: int) -> int:
    """FLOPs of one iteration of a recurrent cell (and its halting head) for one sequence.

    Args:
        cell: ``nn.RNNCell``, ``nn.LSTMCell``, ``nn.GRUCell``, or a cell of your own
            with ``input_size`` and ``hidden_size`` attributes (and ``state_tensors = 2``
            if, like an LSTM, it takes and returns a pair of states), as a pact-seq
            layer's ``cell``.
        head: The halting head (a linear map of the packed state), or ``None``.
        state_size: Size of the packed state the head reads (``2H`` for an LSTM).

    Raises:
        ValueError: If ``cell`` lacks ``input_size`` or ``hidden_size``.
    """
    input_size = getattr(cell, "input_size", None)
    hidden = getattr(cell, "hidden_size", None)
    if not isinstance(input_size, int) or not isinstance(hidden, int):
        raise ValueError(
            f"the cell needs integer input_size and hidden_size, got {input_size!r}, {hidden!r}"
        )
    inputs = torch.zeros(1, input_size)
    pair = isinstance(cell, nn.LSTMCell) or getattr(cell, "state_tensors", 1) == 2
    state: Any = (
        (torch.zeros(1, hidden), torch.zeros(1, hidden)) if pair else torch.zeros(1, hidden)
    )
    flops = dense_flops(cell, inputs, state)
    if head is not None:
        flops += dense_flops(head, torch.zeros(1, state_size))
    return flops


PROG = "pact_bench.flops"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG, description="FLOPs per image of a CIFAR ResNet, as SACT counts them."
    )
    add = parser.add_argument
    add("--arch", default="resnet32", help="resnet<6n+2>: resnet32, resnet110, ...")
    add("--halting", "--mode", choices=HALTINGS, default="fixed",
        help=f"one of {', '.join(HALTINGS)} (fixed: every unit, a dense ResNet)")  # fmt: skip
    add("--checkpoint", type=Path, default=None, help="a pact_vision.train run")
    add("--data", choices=DATASETS, default=None, help="the data set (with --checkpoint)")
    add("--data-dir", type=Path, default=None)
    add("--batches", type=integer(COUNT), default=10, help="test batches of 100 to average")
    add("--json", action="store_true", help="print a JSON object instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print FLOPs per image; the fixed halting (a dense ResNet) needs no data.

    Returns:
        0; 2 on bad input, 1 on a missing, unreadable or mismatched checkpoint or data set
        (one line on stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    result = _count(args)
    print(to_json(result) if args.json else result["flops"])
    return 0


def _count(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoint is None:
        try:
            n = max_iterations_of(args.arch)
        except ValueError as error:
            raise UsageError(f"--arch: {error}") from None
        if args.halting != "fixed":
            raise UsageError(
                f"--halting {args.halting} depends on trained halting: give --checkpoint and --data"
            )
        model = resnet(n, "fixed").eval()
        flops = int(vision_flops(model, torch.zeros(1, 3, 32, 32))[0])
        return {"arch": args.arch, "halting": "fixed", "flops": flops, "images": None}
    if args.data is None:
        raise UsageError("--checkpoint needs --data (cifar10 or fashion-mnist) to count on")
    model = load_vision_model(args.checkpoint)  # a missing or foreign checkpoint: before the data
    try:
        halting = model.settings.check_halting(args.halting)
    except ValueError as error:
        raise UsageError(f"--halting: {error}") from None
    test = load_dataset(args.data, args.data_dir).test
    model = load_vision_model(
        args.checkpoint, data_shape=test.images.shape[1:], data_name=args.data
    )
    subset = ImageSet(test.images[: 100 * args.batches], test.labels[: 100 * args.batches])
    result = evaluate_model(model, subset, halting, batch_size=100)
    arch = f"resnet{6 * model.max_iterations + 2}"
    return {"arch": arch, "halting": halting, "flops": result.mean_flops, "images": result.images}


def load_vision_checkpoint(
    path: Path, *, data_shape: Sequence[int] | None = None, data_name: str | None = None
) -> tuple[AdaptiveResNet, dict[str, Any]]:
    """Rebuild a pact-vision model from a checkpoint file or a run directory holding one.

    Args:
        path: The checkpoint, or a run directory holding ``checkpoint.pt``.
        data_shape: ``[C, H, W]`` of the images the model is about to see, if known: a
            checkpoint trained on images of another shape is refused
            (:func:`pact_vision.load_checkpoint`).
        data_name: The data set's name, for the message.

    Returns:
        The model in eval mode, and the training configuration saved with it (empty if
        the checkpoint has none).

    Raises:
        CheckpointError: If the file is missing, not a pact-vision checkpoint, or trained
            on images of another shape (a :class:`~pact_core.runs.RunError`: one line).
    """
    if path.is_dir():
        path = path / "checkpoint.pt"
    payload = load_checkpoint(path, data_shape=data_shape, data_name=data_name)
    model = build_model(payload["model_config"])
    model.load_state_dict(payload["model"])
    return model.eval(), run_config(payload)


def load_vision_model(
    path: Path, *, data_shape: Sequence[int] | None = None, data_name: str | None = None
) -> AdaptiveResNet:
    """Rebuild a pact-vision model from a checkpoint (see :func:`load_vision_checkpoint`)."""
    return load_vision_checkpoint(path, data_shape=data_shape, data_name=data_name)[0]


if __name__ == "__main__":
    raise SystemExit(main())
