"""Evaluate a trained model on fresh samples, with any halting its weights support."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pact_core import Halting
from pact_core.runs import RunError, load_checkpoint
from pact_seq.config import TrainConfig, build_model, build_task
from pact_seq.model import SequenceModel
from pact_seq.task import Task
from pact_seq.transformer import AdaptiveTransformer

__all__ = [
    "CHECKPOINT_KIND",
    "CHECKPOINT_VERSIONS",
    "EVAL_SEED_OFFSET",
    "Evaluation",
    "evaluate_model",
    "load_model",
    "load_seq_checkpoint",
]

#: What pact-seq checkpoints say they are, and the format versions this code reads.
CHECKPOINT_KIND = "pact-seq"
CHECKPOINT_VERSIONS = (2,)
#: The marker of the format before headers (engine-era configs, ``"format": "pact-seq/1"``).
_FORMAT_1 = "pact-seq/1"

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
        ponder_by_position: Mean cell iterations at each timestep (recurrent models) or
            token (the Transformer), ``T`` values: where the model spends its compute.
    """

    accuracy: float
    digit_accuracy: float
    mean_ponder: float
    mean_cost: float
    eval_halting: Halting
    samples: int
    ponder_by_position: list[float]


@torch.no_grad()
def evaluate_model(
    model: SequenceModel | AdaptiveTransformer,
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
    by_position: Tensor | None = None  # [T], summed over examples
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
        summed = out.recurrent.iterations.double().sum(dim=0)
        by_position = summed if by_position is None else by_position + summed
        used = out.recurrent.halting
        done += size
    return Evaluation(
        accuracy=float(correct) / samples,
        digit_accuracy=float(digits) / samples,
        mean_ponder=float(ponder) / samples,
        mean_cost=float(cost) / samples,
        eval_halting=used,
        samples=samples,
        ponder_by_position=[] if by_position is None else (by_position / samples).tolist(),
    )


def load_seq_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a pact-seq training checkpoint (see :func:`pact_core.runs.checkpoint_header`).

    Raises:
        RunError: If the file is missing, unreadable, of another kind (a pact-vision
            checkpoint) or of another format version, in one line.
    """
    try:
        data = load_checkpoint(path, kind=CHECKPOINT_KIND, versions=CHECKPOINT_VERSIONS)
    except (FileNotFoundError, ValueError) as error:
        raise RunError(str(error)) from None
    if data.get("kind") == CHECKPOINT_KIND:
        return data
    config = data.get("config")
    if data.get("format") == _FORMAT_1 and isinstance(config, dict):
        return data  # written before checkpoints had headers (flat before the engine)
    raise RunError(f"{path} is not a {CHECKPOINT_KIND} checkpoint (it has no header)")


def load_model(
    path: str | Path, device: torch.device
) -> tuple[TrainConfig, SequenceModel | AdaptiveTransformer]:
    """Rebuild the model saved in a training checkpoint.

    Raises:
        RunError: See :func:`load_seq_checkpoint`.
    """
    data = load_seq_checkpoint(path)
    config = TrainConfig.from_dict(data["config"])
    model = build_model(config, build_task(config))
    model.load_state_dict(data["model"])
    return config, model.to(device)
