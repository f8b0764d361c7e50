"""Tiny real runs and data sets, made once per session for the tests that need them."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from pact_seq import train as seq_train
from pact_vision import train as vision_train
from pact_vision.datasets import DataSplits, ImageSet, save_cifar10


@dataclass(frozen=True)
class TinyRuns:
    """Finished runs of both packages and the data sets they need, all tiny.

    Attributes:
        fashion: A Fashion-MNIST directory (IDX files) of 16 training and 8 test images.
        cifar: A CIFAR-10 directory (``cifar-10-batches-py``) of 10 and 2 images.
        seq_run: A ``pact_seq.train`` run directory: PACT on 4-bit parity, 2 steps.
        vision_run: A ``pact_vision.train`` run directory: a dense ResNet-8 trained on
            ``fashion`` for one step.
    """

    fashion: Path
    cifar: Path
    seq_run: Path
    vision_run: Path


def write_fashion(root: Path, train: int = 16, test: int = 8) -> Path:
    """Write a tiny random Fashion-MNIST as gzipped IDX files under ``root``."""
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        arrays = {
            "images-idx3-ubyte": rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8),
            "labels-idx1-ubyte": rng.integers(0, 10, size=count, dtype=np.uint8),
        }
        for name, array in arrays.items():
            header = struct.pack(">HBB", 0, 0x08, array.ndim)
            header += struct.pack(f">{array.ndim}I", *array.shape)
            raw = header + array.tobytes()
            (root / f"{prefix}-{name}.gz").write_bytes(gzip.compress(raw))
    return root


def write_cifar(root: Path, train: int = 10, test: int = 2) -> Path:
    """Write a tiny random CIFAR-10 in the ``cifar-10-batches-py`` layout under ``root``."""
    generator = torch.Generator().manual_seed(0)

    def split(count: int) -> ImageSet:
        images = torch.randint(0, 256, (count, 3, 32, 32), generator=generator)
        return ImageSet(images.to(torch.uint8), torch.randint(0, 10, (count,), generator=generator))

    save_cifar10(root, DataSplits(split(train), split(test), tuple(f"c{i}" for i in range(10))))
    return root


def train_seq_run(out: Path) -> Path:
    """A finished PACT run on 4-bit parity: 2 steps of an 8-unit RNN."""
    argv = ["--model", "pact", "--tau", "0.01", "--bits", "4", "--hidden-size", "8",
            "--batch-size", "8", "--max-iterations", "3", "--steps", "2", "--log-every", "1",
            "--eval-samples", "8", "--threads", "1", "--quiet", "--out", str(out)]  # fmt: skip
    assert seq_train.main(argv) == 0
    return out


def train_vision_run(fashion: Path, out: Path) -> Path:
    """A finished dense ResNet-8 run: one step on the first 16 Fashion-MNIST images."""
    argv = ["--arch", "resnet8", "--data", "fashion-mnist", "--data-dir", str(fashion),
            "--train-limit", "16", "--eval-limit", "8", "--steps", "1", "--batch-size", "8",
            "--device", "cpu", "--log-every", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    assert vision_train.main(argv) == 0
    return out


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyRuns:
    """The session's tiny runs and data sets (read them; copy before changing them)."""
    root = tmp_path_factory.mktemp("tiny")
    fashion = write_fashion(root / "fashion")
    return TinyRuns(
        fashion=fashion,
        cifar=write_cifar(root / "cifar"),
        seq_run=train_seq_run(root / "seq-run"),
        vision_run=train_vision_run(fashion, root / "vision-run"),
    )
