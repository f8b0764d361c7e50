from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_cifar, write_fashion

from pact_vision.datasets import (
    DataError,
    DataSplits,
    ImageSet,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
    save_cifar10,
)


def test_cifar_layout_loads_into_one_uint8_tensor(tmp_path: Path) -> None:
    where = write_cifar(tmp_path, per_batch=4)
    data = load_cifar10(tmp_path)
    assert data.train.images.shape == (20, 3, 32, 32)
    assert data.train.images.dtype == torch.uint8
    assert data.test.images.shape == (4, 3, 32, 32)
    assert data.train.labels.dtype == torch.int64
    assert len(data.train) == 20
    assert data.classes == tuple(f"class{i}" for i in range(10))
    with (where / "data_batch_2").open("rb") as f:
        batch = pickle.load(f)
    # row-major 3072 bytes: 1024 red, then green, then blue, each 32x32 row by row
    expected = torch.from_numpy(batch["data"][1].reshape(3, 32, 32))
    assert torch.equal(data.train.images[5], expected)
    assert data.train.labels[5] == batch["labels"][1]
    assert load_cifar10(where).train.images.shape == (20, 3, 32, 32)  # the inner folder too


def test_cifar_with_bytes_keys_as_in_the_original_pickles(tmp_path: Path) -> None:
    where = write_cifar(tmp_path, per_batch=2)
    for name in ("data_batch_1", "batches.meta"):
        with (where / name).open("rb") as f:
            content = pickle.load(f)
        encoded = {
            k.encode(): ([n.encode() for n in v] if k == "label_names" else v)
            for k, v in content.items()
        }
        with (where / name).open("wb") as f:
            pickle.dump(encoded, f)
    assert load_cifar10(tmp_path).classes[3] == "class3"


def test_missing_cifar_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path) in message
    assert "--download" in message


def test_corrupt_cifar_is_reported(tmp_path: Path) -> None:
    where = write_cifar(tmp_path)
    (where / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3 is corrupt"):
        load_cifar10(tmp_path)
    write_cifar(tmp_path / "b")
    with (tmp_path / "b" / "cifar-10-batches-py" / "test_batch").open("wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(DataError, match="test_batch is corrupt"):
        load_cifar10(tmp_path / "b")


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_idx(tmp_path: Path, compress: bool) -> None:
    write_fashion(tmp_path, train=6, test=3, compress=compress)
    data = load_fashion_mnist(tmp_path)
    assert data.train.images.shape == (6, 1, 28, 28)
    assert data.test.labels.shape == (3,)
    assert data.image_shape == (1, 28, 28)
    assert data.classes[9] == "Ankle boot"


def test_fashion_mnist_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset-fashion-mnist") as info:
        load_dataset("fashion-mnist", tmp_path)
    assert str(tmp_path) in str(info.value)
    write_fashion(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="corrupt"):
        load_fashion_mnist(tmp_path)


def test_download_needs_torchvision(tmp_path: Path) -> None:
    try:
        import torchvision  # noqa: F401
    except Exception:
        pass
    else:  # pragma: no cover - torchvision cannot be imported in this environment
        pytest.skip("torchvision is importable; a download would hit the network")
    with pytest.raises(DataError, match="--download needs torchvision"):
        load_dataset("cifar10", tmp_path, download=True)


def test_save_cifar10_is_the_loaders_inverse(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (13, 3, 32, 32), generator=generator).to(torch.uint8)
    labels = torch.randint(0, 10, (13,), generator=generator)
    classes = tuple(f"c{i}" for i in range(10))
    data = DataSplits(
        ImageSet(images[:11], labels[:11]), ImageSet(images[11:], labels[11:]), classes
    )
    loaded = load_cifar10(save_cifar10(tmp_path, data).parent)
    assert torch.equal(loaded.train.images, images[:11])
    assert torch.equal(loaded.train.labels, labels[:11])
    assert torch.equal(loaded.test.images, images[11:])
    assert loaded.classes == classes
    with pytest.raises(ValueError, match="uint8"):
        save_cifar10(
            tmp_path / "bad", DataSplits(ImageSet(images.float(), labels), data.test, classes)
        )
