from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pngdecode import decode_png

from pact_vision.png import write_png


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (4, 3, 3), (9, 2, 3)])
def test_written_png_decodes_to_the_same_pixels(tmp_path: Path, shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path / "x.png"
    write_png(path, pixels)
    assert np.array_equal(decode_png(path), pixels)


def test_bad_pixels_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_png(tmp_path / "a.png", np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        write_png(tmp_path / "b.png", np.zeros((2, 2, 4), dtype=np.uint8))
