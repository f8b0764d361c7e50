"""``python -m pact_bench.halting_distribution``: why SACT does (not) lose accuracy thresholded.

PACT fig. 8 evaluates a SACT model, trained with ACT's halting, by thresholded halting
(Alg. 2) and reports a drop of at least five points on CIFAR-10: ACT stops a position at
the first unit whose *cumulative* halting probability reaches ``1 - eps`` (eq. 29),
thresholded halting at the first unit whose *own* probability reaches the threshold;
where the probabilities are spread out the two rules run different numbers of units.
Whether they do is a property of the trained halting heads, which this command
measures. For each checkpoint it runs every unit at every position (``"expected"``
halting, so that every head is evaluated) on the first ``--limit`` test images and
reports:

* the distribution of the halting probabilities ``h^l`` that ACT's rule reads (units up
  to the one where ACT stops; the last unit's ``h^L = 1`` is not a head output and is
  left out), as shares of ten bins of ``[0, 1]``;
* the share of those ``h^l`` that lie between 0.1 and 0.9 (the undecided ones);
* the mean units per position under each rule, and the share of positions where the
  two rules stop at different units (over all blocks and positions);
* among those, the share where thresholded halting stops earlier, and there the weight
  that ACT's output (eq. 29's ``sum_l p^l u^l``) puts on the units thresholding skips,
  ``1 - sum_{l <= t} h^l`` for a thresholded stop at unit ``t``.

It prints a Markdown table, and with ``--plot FILE`` draws the distributions (one line
per checkpoint, log scale) and writes the figure's data beside it as JSON.

Example::

    python -m pact_bench.halting_distribution --data fashion-mnist --plot h.png
        --checkpoint SACT=runs/fashion_mnist/sact_tau0.01
        --checkpoint PSACT=runs/fashion_mnist/psact_tau0.01

(one command line, broken here for width).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from pact_bench.flops import load_vision_checkpoint
from pact_bench.plot import check_figure_path, save_figure
from pact_core.runs import COUNT, OneLineParser, RunError, UsageError, integer, run_main
from pact_vision.augment import standardize
from pact_vision.datasets import DATASETS, DataError, load_dataset
from pact_vision.models import AdaptiveResNet

__all__ = ["HaltingDistribution", "halting_distribution", "main", "stopping_units"]

#: Bins of the histogram of halting probabilities.
BINS = 10


@dataclass(frozen=True)
class HaltingDistribution:
    """What :func:`halting_distribution` measures for one model.

    Attributes:
        shares: ``BINS`` shares (summing to 1) of the halting probabilities ACT's rule
            reads, by bin of ``[0, 1]``.
        undecided: Share of those probabilities in ``(0.1, 0.9)``.
        act_units: Mean units per position under ACT's rule (eq. 29).
        thresholded_units: Mean units per position under thresholded halting (Alg. 2).
        disagree: Share of positions (all blocks) where the two rules stop at different
            units.
        earlier: Share of those positions where thresholded halting stops earlier.
        skipped_weight: Mean, over the positions where thresholded halting stops earlier,
            of the weight ACT's output gives the units it skips (``None`` if none).
        positions: Positions counted (images times positions, summed over blocks).
    """

    shares: list[float]
    undecided: float
    act_units: float
    thresholded_units: float
    disagree: float
    earlier: float
    skipped_weight: float | None
    positions: int


def stopping_units(h: Tensor, eps: float, threshold: float) -> tuple[Tensor, Tensor]:
    """The unit at which ACT's rule and thresholded halting stop, per position.

    Args:
        h: ``[L - 1, *positions]`` halting probabilities of units ``1 .. L - 1`` (unit
            ``L`` always halts).
        eps: ACT's epsilon: ACT stops at the first ``l`` with ``sum_{i<=l} h^i >= 1 - eps``.
        threshold: Thresholded halting stops at the first ``l`` with ``h^l >= threshold``.

    Returns:
        Two int64 tensors ``[*positions]`` with values in ``1 .. L``: ACT's and the
        thresholded stopping unit.
    """

    def first(condition: Tensor) -> Tensor:
        always = torch.ones_like(condition[:1]) if len(condition) else condition.new_ones(1)
        hit = torch.cat([condition, always])  # unit L always halts
        return hit.to(torch.int64).argmax(dim=0) + 1

    return first(h.cumsum(dim=0) >= 1 - eps), first(h >= threshold)


def _head_probabilities(model: AdaptiveResNet, images: Tensor, batch_size: int) -> list[Tensor]:
    """Per block, ``[L - 1, N, H, W]``: every head's halting probability at every position."""
    outputs: list[Tensor] = []
    hooks = [
        head.register_forward_hook(lambda _m, _i, out: outputs.append(torch.sigmoid(out)))
        for stage in model.stages
        for head in stage.halting_heads
    ]
    per_block = [len(stage.halting_heads) for stage in model.stages]
    blocks: list[list[Tensor]] = [[] for _ in per_block]
    model.halting = "expected"
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                outputs.clear()
                model(standardize(images[start : start + batch_size]))
                offset = 0
                for k, count in enumerate(per_block):
                    if count:  # a block of one unit has no head
                        blocks[k].append(torch.stack(outputs[offset : offset + count]))
                    offset += count
    finally:
        for hook in hooks:
            hook.remove()
    return [torch.cat(parts, dim=1) for parts in blocks if parts]


def halting_distribution(
    model: AdaptiveResNet, images: Tensor, *, batch_size: int = 100
) -> HaltingDistribution:
    """Measure the halting probabilities of ``model`` on ``images: [N, C, H, W]``.

    The model's ``eps`` and ``threshold`` set the two rules. See the module docstring.

    Raises:
        ValueError: If the model has no halting heads.
    """
    if not model.settings.has_halting:
        raise ValueError("the model has no halting heads (a dense ResNet)")
    eps, threshold = model.settings.eps, model.settings.threshold
    counts = torch.zeros(BINS, dtype=torch.float64)
    undecided = read = 0.0
    act_total = thresholded_total = disagree = earlier = skipped = 0.0
    positions = 0
    for h in _head_probabilities(model, images, batch_size):
        act, thresholded = stopping_units(h, eps, threshold)
        units = torch.arange(1, h.shape[0] + 1).view(-1, *([1] * (h.dim() - 1)))
        reached = h[units <= act]  # the probabilities ACT's rule reads
        counts += torch.histc(reached.double(), bins=BINS, min=0.0, max=1.0)
        undecided += float(((reached > 0.1) & (reached < 0.9)).sum())
        read += reached.numel()
        act_total += float(act.sum())
        thresholded_total += float(thresholded.sum())
        disagree += float((act != thresholded).sum())
        stops_earlier = thresholded < act  # then thresholded stops at t <= L - 1
        reached_by_t = h.cumsum(dim=0).gather(0, (thresholded - 1).clamp(max=len(h) - 1)[None])
        skipped += float((1 - reached_by_t[0])[stops_earlier].sum())
        earlier += float(stops_earlier.sum())
        positions += act.numel()
    if positions == 0:
        raise ValueError("the model has no block with more than one unit")
    return HaltingDistribution(
        shares=(counts / max(read, 1.0)).tolist(),
        undecided=undecided / max(read, 1.0),
        act_units=act_total / positions,
        thresholded_units=thresholded_total / positions,
        disagree=disagree / positions,
        earlier=earlier / disagree if disagree else 0.0,
        skipped_weight=skipped / earlier if earlier else None,
        positions=positions,
    )


def markdown_table(results: Sequence[tuple[str, HaltingDistribution]]) -> str:
    """One row per model: the bins, the undecided share and the two rules' units."""
    bins = [f"{i / BINS:.1f}-{(i + 1) / BINS:.1f}" for i in range(BINS)]
    lines = [
        "| model | " + " | ".join(bins) + " | in (0.1, 0.9) | units, ACT rule "
        "| units, thresholded | positions where they differ | of those, thresholded earlier "
        "| ACT weight on the skipped units |",
        "|---|" + "---|" * (BINS + 6),
    ]
    for label, d in results:
        shares = [f"{100 * s:.1f}%" for s in d.shares]
        cells = [label, *shares, f"{100 * d.undecided:.1f}%", f"{d.act_units:.3f}",
                 f"{d.thresholded_units:.3f}", f"{100 * d.disagree:.2f}%",
                 f"{100 * d.earlier:.1f}%",
                 "-" if d.skipped_weight is None else f"{d.skipped_weight:.3f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure_data(results: Sequence[tuple[str, HaltingDistribution]]) -> dict[str, object]:
    """The distributions as an ``xy`` figure (:func:`pact_bench.plot.xy_figure`)."""
    centres = [(i + 0.5) / BINS for i in range(BINS)]
    return {
        "kind": "xy",
        "title": "halting probabilities read by ACT's rule",
        "xlabel": "halting probability h",
        "ylabel": "share of the probabilities read",
        "log_y": True,
        "note": "bins of width 0.1; h^L = 1 left out",
        "series": [
            {"label": label, "x": centres, "y": d.shares, "style": "line"} for label, d in results
        ],
    }


PROG = "pact_bench.halting_distribution"


def _labelled(value: str) -> tuple[str, Path]:
    label, sep, path = value.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {value!r}")
    return label, Path(path)


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG, description="The halting probabilities of adaptive ResNets, and the units "
        "ACT's rule and thresholded halting run on them (PACT fig. 8).",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoint", type=_labelled, action="append", required=True, metavar="LABEL=PATH",
        help="a pact_vision checkpoint or run directory, with its label (repeatable)",
    )  # fmt: skip
    parser.add_argument("--data", choices=DATASETS, required=True, help="the test set to use")
    parser.add_argument("--data-dir", type=Path, default=None, help="data directory")
    parser.add_argument(
        "--limit", type=integer(COUNT), default=2000, help="first test images used (2000)"
    )
    parser.add_argument("--plot", default=None, metavar="FILE",
                        help="draw the distributions to FILE (.png, .svg or .pdf)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the table (and write the plot).

    Returns:
        0; 2 on bad input, 1 on a missing checkpoint or data set (one line on stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    plot = check_figure_path(args.plot, "--plot")
    try:
        test = load_dataset(args.data, args.data_dir).test
    except DataError as error:
        raise RunError(str(error)) from None
    images = test.images[: args.limit]
    results = []
    for label, path in args.checkpoint:
        model, _ = load_vision_checkpoint(path, data_shape=images.shape[1:], data_name=args.data)
        try:
            results.append((label, halting_distribution(model, images)))
        except ValueError as error:
            raise UsageError(f"--checkpoint {label}={path}: {error}") from None
    print(f"{len(images)} test images of {args.data}\n")
    print(markdown_table(results))
    if plot is not None:
        written = save_figure(figure_data(results), plot)
        print(f"\nwrote {written} and {written.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
