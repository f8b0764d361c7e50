"""Ponder maps like the paper's fig. 6: each test image beside its map of executed units.

Usage::

    python -m pact_vision.ponder_maps --checkpoint runs/psact/checkpoint.pt --out maps

For every image the map shows, per pixel, the residual units executed at that position
summed over the three blocks (lower-resolution blocks upsampled), from ``3`` (first
units only) to ``3n`` (every unit), on a black-red-yellow-white scale. It writes one PNG
per image and ``maps.json`` with the files, labels, predictions and mean units.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pact_core import HALTINGS, Halting
from pact_core.runs import OneLineParser, report_error, resolve_device
from pact_vision.augment import standardize
from pact_vision.checkpoint import CheckpointError, build_model, load_checkpoint
from pact_vision.datasets import DATASETS, DataError, load_dataset
from pact_vision.models import AdaptiveResNet
from pact_vision.output import ResNetOutput
from pact_vision.png import write_png

__all__ = ["colorize", "executed_units_map", "main", "ponder_image"]


def executed_units_map(out: ResNetOutput, height: int, width: int) -> Tensor:
    """``[B, H, W]``: units executed per pixel, summed over blocks (nearest upsampling)."""
    total = torch.zeros(
        (out.logits.shape[0], height, width), dtype=torch.float32, device=out.logits.device
    )
    for executed in out.executed:
        up = F.interpolate(executed.unsqueeze(1).float(), size=(height, width), mode="nearest")
        total = total + up.squeeze(1)
    return total


def colorize(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``values: [H, W]`` in ``[low, high]`` to uint8 RGB ``[H, W, 3]``, black to white."""
    t = np.clip((values - low) / max(high - low, 1e-12), 0.0, 1.0)
    red = np.clip(3 * t, 0, 1)
    green = np.clip(3 * t - 1, 0, 1)
    blue = np.clip(3 * t - 2, 0, 1)
    return (np.stack([red, green, blue], axis=-1) * 255 + 0.5).astype(np.uint8)


def ponder_image(image: Tensor, units: Tensor, low: float, high: float, scale: int) -> np.ndarray:
    """The image and its colour map side by side, each upscaled ``scale`` times.

    Args:
        image: uint8 ``[C, H, W]`` with ``C`` 1 or 3.
        units: ``[H, W]`` units executed per pixel.
        low: Units at the black end of the scale.
        high: Units at the white end of the scale.
        scale: Integer upscaling factor.

    Returns:
        uint8 ``[scale * H, 2 * scale * W + scale, 3]``.
    """
    pixels = image.permute(1, 2, 0).cpu().numpy()
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    heat = colorize(units.cpu().numpy(), low, high)
    gap = np.full((pixels.shape[0], 1, 3), 255, dtype=np.uint8)
    row = np.concatenate([pixels.astype(np.uint8), gap, heat], axis=1)
    return np.repeat(np.repeat(row, scale, axis=0), scale, axis=1)


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m pact_vision.ponder_maps",
        description="Write PNGs of test images beside their maps of executed units.",
    )
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--halting",
        "--mode",
        choices=HALTINGS,
        default=None,
        help="the halting to draw (default: thresholded, fixed for a dense model)",
    )
    parser.add_argument("--count", type=int, default=8, help="number of test images")
    parser.add_argument("--first", type=int, default=0, help="index of the first test image")
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor of the PNGs")
    parser.add_argument("--data", choices=DATASETS)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("count", "scale"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.first < 0:
        parser.error(f"--first must be >= 0, got {args.first}")
    try:
        device = resolve_device(args.device)
        payload = load_checkpoint(args.checkpoint)
        model: AdaptiveResNet = build_model(payload["model_config"])
        model.load_state_dict(payload["model"])
        mode: Halting = args.halting or "thresholded"
        if not model.settings.has_halting:
            mode = "fixed"
        model.halting = mode
        train_config = payload.get("train_config", {})
        name = args.data or train_config.get("data", "cifar10")
        test = load_dataset(name, args.data_dir or train_config.get("data_dir")).test
    except ValueError as exc:
        parser.error(str(exc))
    except (CheckpointError, DataError) as exc:
        return report_error(parser.prog, str(exc))
    images = test.images[args.first : args.first + args.count]
    labels = test.labels[args.first : args.first + args.count]
    if len(images) == 0:
        parser.error(f"--first {args.first} is past the {len(test)} test images")
    model = model.to(device).eval()
    torch.manual_seed(args.seed)
    with torch.no_grad():
        out = model(standardize(images.to(device)))
    height, width = images.shape[2:]
    units = executed_units_map(out, height, width)
    n = model.max_iterations
    low, high = float(len(out.executed)), float(len(out.executed) * n)
    args.out.mkdir(parents=True, exist_ok=True)
    entries = []
    predictions = out.logits.argmax(dim=1).tolist()
    for i in range(len(images)):
        file = args.out / f"ponder_{args.first + i:05d}.png"
        write_png(file, ponder_image(images[i], units[i], low, high, args.scale))
        entries.append(
            {
                "file": file.name,
                "index": args.first + i,
                "label": int(labels[i]),
                "prediction": predictions[i],
                "mean_units": float(units[i].mean()),
                "flops": int(out.flops[i]),
            }
        )
    summary = {"checkpoint": str(args.checkpoint), "halting": mode, "scale": [low, high]}
    (args.out / "maps.json").write_text(json.dumps({**summary, "images": entries}, indent=2))
    print(f"wrote {len(entries)} ponder maps ({mode}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
