"""Ponder maps like the paper's fig. 6: each test image beside its map of executed units.

Usage::

    python -m pact_vision.ponder_maps --checkpoint runs/psact/checkpoint.pt --out maps
    python -m pact_vision.ponder_maps --from-data maps/ponder_00000.json --format pdf

For every image the map shows, per pixel, the residual units executed at that position
summed over the three blocks (lower-resolution blocks upsampled), from ``3`` (first
units only) to ``3n`` (every unit), with a colour bar, beside the image itself. Figures
are drawn with matplotlib (its non-interactive backends: no display is needed), as PNG
or, with ``--format``, SVG or PDF. Beside each figure the command writes its data as
JSON (the image, the map, the scale, label and prediction), from which ``--from-data``
draws it again without the checkpoint or the data set; ``maps.json`` lists the files,
labels, predictions and mean units.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from pact_core import HALTINGS, Halting, Interval
from pact_core.runs import (
    COUNT,
    WHOLE,
    OneLineParser,
    RunError,
    UsageError,
    check_output_dir,
    integer,
    parse_device,
    run_main,
    write_json,
)
from pact_vision.augment import standardize
from pact_vision.checkpoint import CheckpointError, build_model, load_checkpoint, run_config
from pact_vision.datasets import DATASETS, DataError, load_dataset
from pact_vision.models import AdaptiveResNet
from pact_vision.output import ResNetOutput

__all__ = [
    "FORMATS",
    "executed_units_map",
    "main",
    "ponder_data",
    "ponder_figure",
    "save_ponder_map",
]

#: The figure formats ``--format`` offers.
FORMATS = ("png", "svg", "pdf")
#: The colour map of executed units (black, red, yellow, white: few to many).
COLORMAP = "inferno"
#: Largest ``--scale``: the figure's resolution is ``40 * scale`` dots per inch.
MAX_SCALE = 16
_NO_DATES: dict[str, dict[str, Any]] = {
    "png": {},
    "svg": {"Date": None},
    "pdf": {"CreationDate": None, "ModDate": None},
}


def executed_units_map(out: ResNetOutput, height: int, width: int) -> Tensor:
    """``[B, H, W]``: units executed per pixel, summed over blocks (nearest upsampling)."""
    total = torch.zeros(
        (out.logits.shape[0], height, width), dtype=torch.float32, device=out.logits.device
    )
    for executed in out.executed:
        up = F.interpolate(executed.unsqueeze(1).float(), size=(height, width), mode="nearest")
        total = total + up.squeeze(1)
    return total


def ponder_data(
    image: Tensor,
    units: Tensor,
    *,
    low: float,
    high: float,
    index: int,
    label: int,
    prediction: int,
    halting: str,
) -> dict[str, Any]:
    """The data of one ponder map, JSON-ready: everything :func:`ponder_figure` draws.

    Args:
        image: uint8 ``[C, H, W]`` with ``C`` 1 or 3.
        units: ``[H, W]`` units executed per pixel.
        low: Units at the dark end of the colour scale (the first unit of every block).
        high: Units at the bright end (every unit of every block).
        index: The image's index in the test set.
        label: Its true class.
        prediction: The model's class.
        halting: The halting the model ran with.
    """
    pixels = image.permute(1, 2, 0).cpu().numpy()
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return {
        "kind": "ponder-map",
        "index": index,
        "label": label,
        "prediction": prediction,
        "halting": halting,
        "low": low,
        "high": high,
        "mean_units": float(units.float().mean()),
        "image": pixels.astype(int).tolist(),
        "units": units.cpu().float().numpy().tolist(),
    }


def ponder_figure(data: Mapping[str, Any]) -> Figure:
    """The image beside its map of executed units, with a colour bar of the units.

    The map's colours run from ``low`` (dark) to ``high`` (bright) on the ``inferno``
    colour map; pixels are drawn as squares (no interpolation).

    Args:
        data: What :func:`ponder_data` returns (or its JSON file holds).

    Raises:
        ValueError: If the image and the map differ in size.
    """
    image = np.asarray(data["image"], dtype=np.uint8)
    units = np.asarray(data["units"], dtype=np.float64)
    if image.shape[:2] != units.shape:
        raise ValueError(f"image {image.shape[:2]} and map {units.shape} differ in size")
    figure = Figure(figsize=(6.4, 3.1), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255,
                interpolation="nearest")  # fmt: skip
    left.set_title(f"test image {data['index']}: class {data['label']}", fontsize="medium")
    shown = right.imshow(units, cmap=COLORMAP, vmin=data["low"], vmax=data["high"],
                         interpolation="nearest")  # fmt: skip
    right.set_title(
        f"{data['halting']}: {data['mean_units']:.2f} units, predicted {data['prediction']}",
        fontsize="medium",
    )
    for axes in (left, right):
        axes.set_xticks([])
        axes.set_yticks([])
    bar = figure.colorbar(shown, ax=right, shrink=0.9)
    bar.set_label("residual units executed")
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    return figure


def save_ponder_map(
    data: Mapping[str, Any],
    path: str | Path,
    *,
    format: str = "png",
    dpi: float = 160,
    write_data: bool = True,
) -> Path:
    """Draw ``data`` (:func:`ponder_figure`) to ``path`` with ``format``'s extension.

    Args:
        data: One map's data (:func:`ponder_data`).
        path: The figure's file; its extension is replaced by ``format``'s.
        format: ``"png"``, ``"svg"`` or ``"pdf"``.
        dpi: Resolution of a PNG (and of the images inside an SVG or PDF).
        write_data: Also write ``data`` as JSON beside the figure (same name, ``.json``).

    Returns:
        The figure's file.

    Raises:
        ValueError: For a format not in :data:`FORMATS`, or data that cannot be drawn.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    target = Path(path).with_suffix(f".{format}")
    with rc_context({"svg.hashsalt": "pact"}):
        figure = ponder_figure(data)
        figure.savefig(target, format=format, dpi=dpi, metadata=_NO_DATES[format])
    if write_data:
        write_json(target.with_suffix(".json"), dict(data), indent=None)
    return target


PROG = "python -m pact_vision.ponder_maps"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="Draw test images beside their maps of executed units (matplotlib).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="the model to draw the maps of")
    source.add_argument(
        "--from-data", type=Path, nargs="+", metavar="JSON",
        help="draw these maps again from their .json data (written beside each figure)",
    )  # fmt: skip
    parser.add_argument("--out", help="output directory (with --checkpoint)")
    parser.add_argument(
        "--halting",
        "--mode",
        choices=HALTINGS,
        default=None,
        help="the halting to draw (default: thresholded, fixed for a dense model)",
    )
    parser.add_argument("--count", type=integer(COUNT), default=8, help="number of test images")
    parser.add_argument(
        "--first", type=integer(WHOLE), default=0, help="index of the first test image"
    )
    parser.add_argument(
        "--scale", type=integer(Interval(1.0, MAX_SCALE, integer=True)), default=4,
        help=f"resolution: 40 x SCALE dots per inch (1-{MAX_SCALE}; default 4)",
    )  # fmt: skip
    parser.add_argument("--format", choices=FORMATS, default="png", help="figure file format")
    parser.add_argument("--data", choices=DATASETS)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument(
        "--device", type=parse_device, default="auto", help="auto, cpu, cuda or cuda:N"
    )
    parser.add_argument("--seed", type=integer(), default=0, help="seed for sampling haltings")
    return parser


def _redraw(files: Sequence[Path], format: str, dpi: float) -> int:
    """Draw each data file's map beside it; returns the exit status."""
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("kind") != "ponder-map":
                raise ValueError("not the data of a ponder map")
            written = save_ponder_map(data, file, format=format, dpi=dpi, write_data=False)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RunError(f"{file}: {error}") from None
        print(f"wrote {written}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2: bad arguments, 1: failed run)."""
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    dpi = 40.0 * args.scale
    if args.from_data is not None:
        return _redraw(args.from_data, args.format, dpi)
    if args.out is None:
        raise UsageError("--checkpoint needs --out")
    directory = check_output_dir(args.out, "--out", files=["maps.json"])  # before any work
    device: torch.device = args.device
    try:
        payload = load_checkpoint(args.checkpoint)
        model: AdaptiveResNet = build_model(payload["model_config"])
        model.load_state_dict(payload["model"])
        mode: Halting = args.halting or "thresholded"
        if not model.settings.has_halting:
            mode = "fixed"
        model.halting = mode
        train_config = run_config(payload)
        name = args.data or train_config.get("data", "cifar10")
        test = load_dataset(name, args.data_dir or train_config.get("data_dir")).test
        load_checkpoint(args.checkpoint, data_shape=test.images.shape[1:], data_name=name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except (CheckpointError, DataError) as exc:
        raise RunError(str(exc)) from None
    images = test.images[args.first : args.first + args.count]
    labels = test.labels[args.first : args.first + args.count]
    if len(images) == 0:
        raise UsageError(f"--first {args.first} is past the {len(test)} test images")
    model = model.to(device).eval()
    torch.manual_seed(args.seed)
    with torch.no_grad():
        out = model(standardize(images.to(device)))
    height, width = images.shape[2:]
    units = executed_units_map(out, height, width)
    n = model.max_iterations
    low, high = float(len(out.executed)), float(len(out.executed) * n)
    entries = []
    predictions = out.logits.argmax(dim=1).tolist()
    for i in range(len(images)):
        data = ponder_data(
            images[i], units[i], low=low, high=high, index=args.first + i,
            label=int(labels[i]), prediction=int(predictions[i]), halting=mode,
        )  # fmt: skip
        file = save_ponder_map(
            data, directory / f"ponder_{args.first + i:05d}", format=args.format, dpi=dpi
        )
        entries.append(
            {
                "file": file.name,
                "data": file.with_suffix(".json").name,
                "index": args.first + i,
                "label": int(labels[i]),
                "prediction": predictions[i],
                "mean_units": float(units[i].mean()),
                "flops": int(out.flops[i]),
            }
        )
    summary = {"checkpoint": str(args.checkpoint), "halting": mode, "scale": [low, high]}
    write_json(directory / "maps.json", {**summary, "images": entries})
    print(f"wrote {len(entries)} ponder maps ({mode}) to {directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
