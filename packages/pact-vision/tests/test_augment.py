from __future__ import annotations

import torch

from pact_vision.augment import augment, random_crop, random_flip, standardize


def test_shapes_and_dtypes() -> None:
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    out = augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert out.dtype == torch.float32
    gray = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    assert augment(gray).shape == (5, 1, 28, 28)


def test_standardize_gives_zero_mean_unit_std_per_image() -> None:
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    out = standardize(images).flatten(1)
    torch.testing.assert_close(out.mean(1), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(1, unbiased=False), torch.ones(8), atol=1e-5, rtol=0)
    constant = torch.full((1, 3, 4, 4), 7, dtype=torch.uint8)
    assert torch.all(standardize(constant) == 0)  # the std floor avoids 0 / 0


def test_crop_is_a_shifted_window_of_the_padded_image() -> None:
    images = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    generator = torch.Generator().manual_seed(1)
    crops = random_crop(images, 2, generator)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for b in range(2):
        windows = [padded[b, :, i : i + 6, j : j + 6] for i in range(5) for j in range(5)]
        assert any(torch.equal(crops[b], w) for w in windows)


def test_crop_offsets_and_flips_are_uniform() -> None:
    n = 20000
    ones = torch.ones(n, 1, 1, 1)
    crops = random_crop(ones, 4, torch.Generator().manual_seed(2))  # a 1x1 image
    # the single pixel survives only at the centre offset: probability 1/81
    kept = crops.mean().item()
    assert abs(kept - 1 / 81) < 4 * (1 / 81 / n) ** 0.5
    ramp = torch.arange(2.0).view(1, 1, 1, 2).expand(n, 1, 1, 2)
    flipped = random_flip(ramp, torch.Generator().manual_seed(3))[..., 0].mean().item()
    assert abs(flipped - 0.5) < 4 * (0.25 / n) ** 0.5


def test_augmentation_statistics() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    out = augment(images, torch.Generator().manual_seed(4)).flatten(1)
    torch.testing.assert_close(out.mean(1), torch.zeros(256), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(1, unbiased=False), torch.ones(256), atol=1e-4, rtol=0)
    again = augment(images, torch.Generator().manual_seed(4)).flatten(1)
    assert torch.equal(out, again)  # seeded generators reproduce the batch
