"""Test accuracy and mean FLOPs of a model, with any halting its weights support."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_core import Halting
from pact_vision.augment import standardize
from pact_vision.datasets import ImageSet
from pact_vision.models import AdaptiveResNet

__all__ = ["EvalResult", "evaluate_model"]


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
