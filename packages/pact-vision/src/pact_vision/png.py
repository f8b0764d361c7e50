"""A minimal PNG encoder (8-bit grayscale or RGB, no filtering), with only zlib and struct."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["encode_png", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode ``pixels`` as a PNG file.

    Args:
        pixels: uint8 ``[H, W]`` (grayscale) or ``[H, W, 3]`` (RGB).

    Returns:
        The bytes of the PNG file.
    """
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {pixels.dtype}")
    if pixels.ndim == 2:
        color_type, channels = 0, 1
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ValueError(f"pixels must have shape [H, W] or [H, W, 3], got {pixels.shape}")
    height, width = pixels.shape[:2]
    if height < 1 or width < 1:
        raise ValueError(f"an image needs at least one pixel, got {height}x{width}")
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter 0
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write ``pixels`` (see :func:`encode_png`) to ``path``."""
    Path(path).write_bytes(encode_png(pixels))
