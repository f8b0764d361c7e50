"""Small builders shared by the tests: tiny models, and data sets written to disk."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from pact_core import Halting, HaltingSettings
from pact_vision import AdaptiveResNet
from pact_vision.datasets import DataSplits, ImageSet, save_cifar10


def tiny_model(
    halting: Halting = "fixed", n: int = 3, *, group: int = 1, **settings: float
) -> AdaptiveResNet:
    """A ``6n + 2``-layer PSACT ResNet with narrow blocks, forced to ``halting``.

    ``settings`` are :class:`pact_core.HaltingSettings` fields (temperature, delta, ...).
    """
    torch.manual_seed(0)
    fields = HaltingSettings("pact", max_iterations=n).replace(**settings)
    return AdaptiveResNet(fields, widths=(4, 8, 8), halting=halting, group=group)


def set_head_bias(model: AdaptiveResNet, value: float) -> None:
    """Set every halting head's bias, e.g. to -50 (never halt) or +50 (halt at once)."""
    with torch.no_grad():
        for block in model.stages:
            for head in block.halting_heads:
                head.bias.fill_(value)


def write_cifar(root: Path, per_batch: int = 4, seed: int = 0) -> Path:
    """Write a tiny random data set in the ``cifar-10-batches-py`` layout under ``root``."""
    generator = torch.Generator().manual_seed(seed)

    def split(count: int) -> ImageSet:
        images = torch.randint(0, 256, (count, 3, 32, 32), generator=generator)
        labels = torch.randint(0, 10, (count,), generator=generator)
        return ImageSet(images.to(torch.uint8), labels)

    classes = tuple(f"class{i}" for i in range(10))
    return save_cifar10(root, DataSplits(split(5 * per_batch), split(per_batch), classes))


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """Write a uint8 array as an IDX file (``.gz`` if ``compress``)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def write_fashion(root: Path, train: int = 16, test: int = 8, compress: bool = True) -> Path:
    """Write a tiny Fashion-MNIST in IDX format under ``root``."""
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return root
