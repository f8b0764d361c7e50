"""Image data sets held as one uint8 tensor each: CIFAR-10 and Fashion-MNIST.

* CIFAR-10 comes from the standard ``cifar-10-batches-py`` layout: pickled dicts
  ``data_batch_1..5`` and ``test_batch`` with ``data`` (uint8 ``N x 3072``, channel-major
  32x32 planes) and ``labels``, and ``batches.meta`` with ``label_names``. ``download``
  fetches it through torchvision, imported only then. The batches are pickles, so only
  load files from a source you trust.
* Fashion-MNIST comes from IDX files (``.gz`` or raw), by default Debian's
  ``dataset-fashion-mnist`` location.

A missing or corrupt data set raises :class:`DataError` with a one-line message that
says where the files were expected and how to get them.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from pact_core.runs import RunError

__all__ = [
    "CIFAR10_DIRNAME",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "DataError",
    "DataSplits",
    "DatasetName",
    "ImageSet",
    "download_cifar10",
    "load_cifar10",
    "load_dataset",
    "load_fashion_mnist",
    "save_cifar10",
]

DatasetName = Literal["cifar10", "fashion-mnist"]
DATASETS: tuple[DatasetName, ...] = get_args(DatasetName)

CIFAR10_DIRNAME = "cifar-10-batches-py"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_CIFAR_HINT = (
    "pass --download (needs torchvision and internet) or unpack cifar-10-python.tar.gz "
    "from https://www.cs.toronto.edu/~kriz/cifar.html there"
)
_FASHION_HINT = (
    "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or put "
    "the IDX files from https://github.com/zalandoresearch/fashion-mnist there"
)


class DataError(RunError):
    """A data set is missing or corrupt; the message is one line."""


@dataclass(frozen=True)
class ImageSet:
    """Images and labels of one split.

    Attributes:
        images: uint8 ``[N, C, H, W]``.
        labels: int64 ``[N]``.
    """

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> ImageSet:
        """The same split on ``device``."""
        return ImageSet(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True)
class DataSplits:
    """A data set: train and test splits and the class names."""

    train: ImageSet
    test: ImageSet
    classes: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)


# --------------------------------------------------------------------------- CIFAR-10


def _cifar_dir(root: Path) -> Path:
    """``root`` itself if it holds the batches, else ``root / cifar-10-batches-py``."""
    return root if (root / "batches.meta").exists() else root / CIFAR10_DIRNAME


def _unpickle(path: Path, where: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            raw = pickle.load(f, encoding="bytes")
    except FileNotFoundError:
        raise DataError(f"CIFAR-10 file {path.name} not found in {where}; {_CIFAR_HINT}") from None
    except Exception as exc:  # any unpickling failure means a corrupt file
        raise DataError(
            f"CIFAR-10 file {path} is corrupt ({type(exc).__name__}); {_CIFAR_HINT}"
        ) from None
    if not isinstance(raw, dict):
        raise DataError(f"CIFAR-10 file {path} is corrupt (not a dict); {_CIFAR_HINT}")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in raw.items()}


def _cifar_split(paths: list[Path], where: Path) -> ImageSet:
    images, labels = [], []
    for path in paths:
        batch = _unpickle(path, where)
        try:
            data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            label = np.asarray(batch["labels"], dtype=np.int64).reshape(-1)
        except (KeyError, ValueError) as exc:
            raise DataError(
                f"CIFAR-10 file {path} is corrupt (bad or missing {exc}); {_CIFAR_HINT}"
            ) from None
        if data.shape[0] != label.shape[0] or (
            label.size and not 0 <= label.min() <= label.max() < 10
        ):
            raise DataError(
                f"CIFAR-10 file {path} is corrupt (labels do not match data); {_CIFAR_HINT}"
            )
        images.append(data)
        labels.append(label)
    return ImageSet(
        torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))
    )


def load_cifar10(root: str | Path) -> DataSplits:
    """Load CIFAR-10 from ``root`` (or ``root / cifar-10-batches-py``).

    Returns:
        Splits with images uint8 ``[N, 3, 32, 32]`` (50000 and 10000 for the full set).

    Raises:
        DataError: If a file is missing or corrupt.
    """
    where = _cifar_dir(Path(root))
    meta = _unpickle(where / "batches.meta", where)
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DataError(
            f"CIFAR-10 file {where / 'batches.meta'} is corrupt (label_names); {_CIFAR_HINT}"
        )
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    train = _cifar_split([where / f"data_batch_{i}" for i in range(1, 6)], where)
    test = _cifar_split([where / "test_batch"], where)
    return DataSplits(train, test, classes)


def save_cifar10(root: str | Path, data: DataSplits) -> Path:
    """Write ``data`` in the ``cifar-10-batches-py`` layout under ``root`` (the loader's inverse).

    The training images are split over five ``data_batch_*`` files as evenly as their
    number allows. Useful to export a subset, or to make small test sets.

    Args:
        root: Parent directory; the batches go to ``root / cifar-10-batches-py``.
        data: Splits with uint8 ``[N, 3, 32, 32]`` images, labels in ``0..9`` and ten
            class names.

    Returns:
        The directory written.

    Raises:
        ValueError: If the images are not uint8 ``[N, 3, 32, 32]`` or there are not ten
            classes.
    """
    if len(data.classes) != 10:
        raise ValueError(f"CIFAR-10 has 10 classes, got {len(data.classes)}")
    where = Path(root) / CIFAR10_DIRNAME
    where.mkdir(parents=True, exist_ok=True)
    train_parts = zip(
        torch.tensor_split(data.train.images, 5),
        torch.tensor_split(data.train.labels, 5),
        strict=True,
    )
    files = [(f"data_batch_{i}", part) for i, part in enumerate(train_parts, start=1)]
    files.append(("test_batch", (data.test.images, data.test.labels)))
    for name, (images, labels) in files:
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != (3, 32, 32):
            raise ValueError(
                f"CIFAR-10 images must be uint8 [N, 3, 32, 32], got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        batch = {
            "data": images.reshape(-1, 3072).numpy(),
            "labels": labels.tolist(),
            "batch_label": name,
        }
        with (where / name).open("wb") as f:
            pickle.dump(batch, f)
    with (where / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": list(data.classes)}, f)
    return where


def download_cifar10(root: str | Path) -> None:
    """Download and unpack CIFAR-10 into ``root`` with torchvision (imported lazily).

    Raises:
        DataError: If torchvision cannot be imported or the download fails.
    """
    try:
        from torchvision.datasets import CIFAR10
    except Exception as exc:  # ImportError, or a torch/torchvision build mismatch
        raise DataError(
            f"--download needs torchvision ({type(exc).__name__}: {exc}); install "
            f"pact-vision[download] or fetch CIFAR-10 into {root} yourself"
        ) from None
    try:
        for train in (True, False):
            CIFAR10(str(root), train=train, download=True)
    except Exception as exc:
        raise DataError(f"downloading CIFAR-10 into {root} failed: {exc}") from None


# ----------------------------------------------------------------------- Fashion-MNIST

_IDX_DTYPES = {0x08: np.uint8}


def _read_idx(directory: Path, stem: str) -> np.ndarray:
    for name in (stem, stem + ".gz"):
        path = directory / name
        if path.exists():
            break
    else:
        raise DataError(f"Fashion-MNIST file {stem}[.gz] not found in {directory}; {_FASHION_HINT}")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        zero, kind, ndim = struct.unpack_from(">HBB", raw, 0)
        if zero != 0 or kind not in _IDX_DTYPES:
            raise ValueError("bad magic number")
        shape = struct.unpack_from(f">{ndim}I", raw, 4)
        data = np.frombuffer(raw, dtype=_IDX_DTYPES[kind], offset=4 + 4 * ndim)
        return data.reshape(shape).copy()
    except (OSError, EOFError, ValueError, struct.error) as exc:
        raise DataError(f"Fashion-MNIST file {path} is corrupt ({exc}); {_FASHION_HINT}") from None


def _fashion_split(directory: Path, prefix: str) -> ImageSet:
    images = _read_idx(directory, f"{prefix}-images-idx3-ubyte")
    labels = _read_idx(directory, f"{prefix}-labels-idx1-ubyte")
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(
            f"Fashion-MNIST {prefix} files in {directory} are corrupt (shapes {images.shape} "
            f"and {labels.shape}); {_FASHION_HINT}"
        )
    return ImageSet(
        torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
    )


def load_fashion_mnist(root: str | Path = FASHION_MNIST_DIR) -> DataSplits:
    """Load Fashion-MNIST from IDX files in ``root``.

    Returns:
        Splits with images uint8 ``[N, 1, 28, 28]`` (60000 and 10000 for the full set).

    Raises:
        DataError: If a file is missing or corrupt.
    """
    directory = Path(root)
    train = _fashion_split(directory, "train")
    test = _fashion_split(directory, "t10k")
    return DataSplits(train, test, FASHION_MNIST_CLASSES)


def load_dataset(
    name: DatasetName, root: str | Path | None = None, *, download: bool = False
) -> DataSplits:
    """Load ``name`` from ``root`` (default: ``./data`` for CIFAR-10, Debian's for Fashion-MNIST).

    Args:
        name: ``"cifar10"`` or ``"fashion-mnist"``.
        root: Directory of the files.
        download: Fetch CIFAR-10 with torchvision first if it is not there.

    Raises:
        DataError: If the data set is missing or corrupt, or ``download`` fails.
    """
    if name == "cifar10":
        directory = Path(root) if root is not None else Path("data")
        if download and not (_cifar_dir(directory) / "batches.meta").exists():
            download_cifar10(directory)
        return load_cifar10(directory)
    if name == "fashion-mnist":
        if download:
            raise DataError("--download is only for cifar10; Fashion-MNIST comes from IDX files")
        return load_fashion_mnist(root if root is not None else FASHION_MNIST_DIR)
    raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
