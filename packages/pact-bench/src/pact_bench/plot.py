"""Dependency-free line and scatter plots written as PNG (numpy raster + a 5x7 font).

pact declares no plotting library, so results are drawn here: axes with 1-2-5 ticks (or
decades on a log axis), grid, lines, markers, a legend and labels, rendered into an RGB
array and written with :func:`pact_vision.write_png`.

Example::

    >>> from pact_bench.plot import Series, save_plot
    >>> save_plot(
    ...     "accuracy.png",
    ...     [Series("ACT", [1e4, 2e4, 3e4], [0.6, 0.9, 0.99])],
    ...     title="parity",
    ...     xlabel="training steps",
    ...     ylabel="accuracy",
    ... )  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pact_bench._font import GLYPH_HEIGHT, GLYPH_WIDTH, glyph
from pact_vision import write_png

__all__ = ["PALETTE", "Plot", "Series", "render_plot", "save_plot"]

Pixels = NDArray[np.uint8]

#: Series colours (the "tab10" palette).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
_BLACK = (0, 0, 0)
_GRID = (225, 225, 225)
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Series:
    """One labelled set of points.

    Attributes:
        label: Legend text.
        x: x values.
        y: y values (same length as ``x``); non-finite points are skipped.
        line: Join consecutive points with a line.
        markers: Draw a dot at each point.
        color: RGB colour; by default the next colour of :data:`PALETTE`.
    """

    label: str
    x: Sequence[float]
    y: Sequence[float]
    line: bool = True
    markers: bool = True
    color: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(
                f"series {self.label!r}: x and y must have the same length, "
                f"got {len(self.x)} and {len(self.y)}"
            )


@dataclass(frozen=True)
class _Axis:
    low: float
    high: float
    log: bool
    start: float  # pixel of low
    end: float  # pixel of high

    def to_pixel(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        data = np.log10(values) if self.log else values
        scale = (self.end - self.start) / (self.high - self.low)
        return np.asarray(self.start + (data - self.low) * scale, dtype=np.float64)


@dataclass(frozen=True)
class Plot:
    """A rendered plot: its pixels and the data-to-pixel mapping (for tests and overlays)."""

    pixels: Pixels
    _x: _Axis
    _y: _Axis

    def to_pixel(self, x: float, y: float) -> tuple[int, int]:
        """Column and row of the data point ``(x, y)``."""
        column = self._x.to_pixel(np.array([x], dtype=np.float64))[0]
        row = self._y.to_pixel(np.array([y], dtype=np.float64))[0]
        return round(column), round(row)


def render_plot(
    series: Sequence[Series],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    log_x: bool = False,
    log_y: bool = False,
    width: int = 960,
    height: int = 600,
) -> Plot:
    """Draw ``series`` into an RGB image ``[height, width, 3]``.

    Raises:
        ValueError: If no series has a finite point (positive, on a log axis), or the image
            is too small to hold the axes.
    """
    if width < 320 or height < 200:
        raise ValueError(f"a plot needs at least 320 x 200 pixels, got {width} x {height}")
    points = [_finite_points(s, log_x, log_y) for s in series]
    if not any(len(x) for x, _ in points):
        raise ValueError(
            "nothing to plot: no series has a finite point"
            + (" (log axes need positive values)" if log_x or log_y else "")
        )
    all_x = np.concatenate([x for x, _ in points])
    all_y = np.concatenate([y for _, y in points])
    legend_width = 16 + 12 * max((len(s.label) for s in series), default=0) + 40
    legend_width = min(legend_width, width // 3)
    left, right, top, bottom = 96, width - legend_width - 16, 48, height - 72
    x_axis = _axis(all_x, log_x, left, right)
    y_axis = _axis(all_y, log_y, bottom, top)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)

    label_end = -math.inf  # right edge of the last x tick label, to skip overlapping ones
    for tick in _ticks(x_axis):
        column = float(x_axis.to_pixel(np.array([tick]))[0])
        _segment(canvas, column, top, column, bottom, _GRID, 0)
        label = _format(tick)
        half = _text_width(label, 2) / 2
        if column - half > label_end + 8:
            _text(canvas, label, column, bottom + 10, scale=2, anchor="top")
            label_end = column + half
    for tick in _ticks(y_axis):
        row = float(y_axis.to_pixel(np.array([tick]))[0])
        _segment(canvas, left, row, right, row, _GRID, 0)
        _text(canvas, _format(tick), left - 8, row, scale=2, anchor="right")
    _segment(canvas, left, bottom, right, bottom, _BLACK, 0)
    _segment(canvas, left, top, left, bottom, _BLACK, 0)

    for index, ((x, y), s) in enumerate(zip(points, series, strict=True)):
        color = s.color if s.color is not None else PALETTE[index % len(PALETTE)]
        columns, rows = x_axis.to_pixel(x), y_axis.to_pixel(y)
        if s.line:
            for i in range(len(columns) - 1):
                _segment(canvas, columns[i], rows[i], columns[i + 1], rows[i + 1], color, 1)
        if s.markers:
            _dots(canvas, columns, rows, color, 4)
        legend_row = top + 10 + 24 * index
        _segment(canvas, right + 16, legend_row, right + 40, legend_row, color, 1)
        if s.markers:
            _dots(canvas, np.array([right + 28.0]), np.array([float(legend_row)]), color, 4)
        _text(canvas, s.label, right + 48, legend_row, scale=2, anchor="left")

    # The title is centred over the axes, shrunk and shifted as needed to stay in the image.
    title_scale = 3 if _text_width(title, 3) <= width - 16 else 2
    half = _text_width(title, title_scale) / 2
    centre = min(max((left + right) / 2, 8 + half), width - 8 - half)
    _text(canvas, title, centre, 14, scale=title_scale, anchor="top")
    _text(canvas, xlabel, (left + right) / 2, height - 28, scale=2, anchor="top")
    _text(canvas, ylabel, 18, (top + bottom) / 2, scale=2, anchor="left", vertical=True)
    return Plot(canvas, x_axis, y_axis)


def save_plot(path: str | Path, series: Sequence[Series], **options: object) -> Path:
    """Render with :func:`render_plot` (same keyword options) and write a PNG to ``path``."""
    plot = render_plot(series, **options)  # type: ignore[arg-type]
    path = Path(path)
    write_png(path, plot.pixels)
    return path


# ------------------------------------------------------------------------- helpers


def _finite_points(
    series: Series, log_x: bool, log_y: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(series.x, dtype=np.float64)
    y = np.asarray(series.y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    if log_x:
        keep &= x > 0
    if log_y:
        keep &= y > 0
    return x[keep], y[keep]


def _axis(values: NDArray[np.float64], log: bool, start: float, end: float) -> _Axis:
    data = np.log10(values) if log else values
    low, high = float(data.min()), float(data.max())
    if high - low < 1e-12 * max(1.0, abs(high)):
        pad = 0.5 if log else max(abs(high) * 0.1, 1.0)
        low, high = low - pad, high + pad
    else:
        pad = 0.05 * (high - low)
        low, high = low - pad, high + pad
    return _Axis(low, high, log, start, end)


def _ticks(axis: _Axis) -> list[float]:
    if axis.log:
        # Decades, else 1-2-5 or 1..9 times a decade, whichever first gives 3 ticks or more.
        decades = range(math.floor(axis.low), math.ceil(axis.high) + 1)
        for multiples in ((1,), (1, 2, 5), tuple(range(1, 10))):
            ticks = [
                m * 10.0**d
                for d in decades
                for m in multiples
                if axis.low <= math.log10(m) + d <= axis.high
            ]
            if 3 <= len(ticks) <= 12:
                return ticks
        return [10.0**v for v in _nice(axis.low, axis.high)]
    return _nice(axis.low, axis.high)


def _nice(low: float, high: float, count: int = 6) -> list[float]:
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step)
    ticks = []
    k = first
    while k * step <= high + 1e-9 * step:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def _format(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        mantissa, exponent = f"{value:.1e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}E{int(exponent)}"
    return f"{value:.6g}"


def _dots(
    canvas: Pixels,
    columns: NDArray[np.float64],
    rows: NDArray[np.float64],
    color: tuple[int, int, int],
    radius: int,
) -> None:
    offsets = [
        (dy, dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
        if dx * dx + dy * dy <= radius * radius
    ]
    height, width = canvas.shape[:2]
    base_r = np.round(rows).astype(np.int64)
    base_c = np.round(columns).astype(np.int64)
    for dy, dx in offsets:
        r, c = base_r + dy, base_c + dx
        keep = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        canvas[r[keep], c[keep]] = color


def _segment(
    canvas: Pixels,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    color: tuple[int, int, int],
    radius: int,
) -> None:
    steps = max(2, math.ceil(2 * math.hypot(x1 - x0, y1 - y0)) + 1)
    t = np.linspace(0.0, 1.0, steps)
    _dots(canvas, x0 + t * (x1 - x0), y0 + t * (y1 - y0), color, radius)


def _text_width(text: str, scale: int) -> int:
    return ((GLYPH_WIDTH + 1) * len(text) - 1) * scale


def _text(
    canvas: Pixels,
    text: str,
    x: float,
    y: float,
    *,
    scale: int,
    anchor: str,
    vertical: bool = False,
) -> None:
    """Draw ``text`` anchored at ``(x, y)``.

    ``"left"`` and ``"right"`` centre it vertically on ``y``; ``"top"`` centres it
    horizontally on ``x``. ``vertical`` turns it to read bottom-up.
    """
    if not text:
        return
    advance = GLYPH_WIDTH + 1
    bitmap = np.zeros((GLYPH_HEIGHT, advance * len(text) - 1), dtype=bool)
    for i, char in enumerate(text):
        bitmap[:, i * advance : i * advance + GLYPH_WIDTH] = glyph(char)
    bitmap = np.kron(bitmap, np.ones((scale, scale), dtype=bool))
    if vertical:
        bitmap = np.rot90(bitmap)
    rows, columns = bitmap.shape
    if anchor == "top":
        top, left = y, x - columns / 2
    elif anchor == "right":
        top, left = y - rows / 2, x - columns
    else:
        top, left = y - rows / 2, x
    top_i, left_i = round(top), round(left)
    height, width = canvas.shape[:2]
    r0, c0 = max(top_i, 0), max(left_i, 0)
    r1, c1 = min(top_i + rows, height), min(left_i + columns, width)
    if r0 >= r1 or c0 >= c1:
        return
    patch = bitmap[r0 - top_i : r1 - top_i, c0 - left_i : c1 - left_i]
    canvas[r0:r1, c0:c1][patch] = _BLACK
