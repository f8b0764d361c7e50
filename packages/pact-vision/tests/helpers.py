"""Small builders shared by the tests: tiny models, and data sets written to disk."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from pact_vision import AdaptiveResNet, Mode, resnet


def tiny_model(mode: Mode = "dense", n: int = 3, **kwargs: float) -> AdaptiveResNet:
    """A ``6n + 2``-layer ResNet with narrow blocks, in ``mode``."""
    torch.manual_seed(0)
    model = resnet(n, widths=(4, 8, 8), mode=mode)
    for name, value in kwargs.items():
        setattr(model, name, value)
    return model


def set_head_bias(model: AdaptiveResNet, value: float) -> None:
    """Set every halting head's bias, e.g. to -50 (never halt) or +50 (halt at once)."""
    with torch.no_grad():
        for block in model.stages:
            for head in block.halting_heads:
                head.bias.fill_(value)


def write_cifar(root: Path, per_batch: int = 4, seed: int = 0) -> Path:
    """Write a tiny data set in the ``cifar-10-batches-py`` layout under ``root``."""
    rng = np.random.default_rng(seed)
    where = root / "cifar-10-batches-py"
    where.mkdir(parents=True)
    names = ["batch_1", "batch_2", "batch_3", "batch_4", "batch_5", "test"]
    for name in names:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        file = "test_batch" if name == "test" else f"data_{name}"
        with (where / file).open("wb") as f:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, f)
    meta = {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": per_batch}
    with (where / "batches.meta").open("wb") as f:
        pickle.dump(meta, f)
    return where


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
