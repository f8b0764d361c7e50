from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from pact_bench._font import glyph
from pact_bench.plot import PALETTE, Series, render_plot, save_plot


def test_points_land_where_the_axes_say() -> None:
    series = [
        Series("a", [1.0, 2.0, 3.0], [10.0, 30.0, 20.0]),
        Series("b", [1.5, 2.5], [15.0, 25.0], line=False),
    ]
    plot = render_plot(series, title="t", xlabel="x", ylabel="y")
    assert plot.pixels.shape == (600, 960, 3)
    assert plot.pixels.dtype == np.uint8
    for index, s in enumerate(series):
        for x, y in zip(s.x, s.y, strict=True):
            column, row = plot.to_pixel(x, y)
            assert tuple(plot.pixels[row, column]) == PALETTE[index]


def test_a_series_can_set_its_colour() -> None:
    grey = (120, 120, 120)
    plot = render_plot([Series("a", [0.0, 1.0], [0.0, 1.0]), Series("b", [0.5], [0.5], color=grey)])
    column, row = plot.to_pixel(0.5, 0.5)
    assert tuple(plot.pixels[row, column]) == grey


def test_log_axis_maps_decades_evenly() -> None:
    plot = render_plot([Series("s", [1.0, 10.0, 100.0], [1.0, 2.0, 3.0])], log_x=True)
    (c1, _), (c10, _), (c100, _) = (plot.to_pixel(x, 1.0) for x in (1.0, 10.0, 100.0))
    assert abs((c10 - c1) - (c100 - c10)) <= 1


def test_non_finite_points_are_skipped_and_all_missing_is_an_error() -> None:
    render_plot([Series("s", [1.0, float("nan"), 3.0], [1.0, 2.0, float("inf")])])
    with pytest.raises(ValueError, match="nothing to plot"):
        render_plot([Series("s", [float("nan")], [1.0])])
    with pytest.raises(ValueError, match="log axes need positive values"):
        render_plot([Series("s", [0.0, -1.0], [1.0, 2.0])], log_x=True)
    with pytest.raises(ValueError, match="same length"):
        Series("s", [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 320 x 200"):
        render_plot([Series("s", [1.0], [1.0])], width=100)


def test_labels_are_drawn() -> None:
    bare = render_plot([Series("", [0.0, 1.0], [0.0, 1.0])]).pixels
    titled = render_plot([Series("", [0.0, 1.0], [0.0, 1.0])], title="PARITY").pixels
    changed = np.any(bare != titled, axis=-1)
    assert changed[:40].any()  # the title band
    assert not changed[60:].any()  # nothing else moved


def test_a_long_title_stays_inside_the_image() -> None:
    # Centred over the axes (left of the legend), a long title would start left of column 0.
    title = "FASHION-MNIST, RESNET-32: ACCURACY AGAINST FLOPS"
    series = [Series("a long legend entry", [0.0, 1.0], [0.0, 1.0])]
    pixels = render_plot(series, title=title).pixels
    band = np.any(pixels[:40] != 255, axis=-1)
    columns = np.flatnonzero(band.any(axis=0))
    assert columns.min() >= 8 and columns.max() <= pixels.shape[1] - 8


def test_font_has_the_characters_of_labels() -> None:
    box = glyph("\u2603")  # an unknown character draws a box
    for char in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:-+=/%()E":
        assert glyph(char).shape == (7, 5)
        assert not np.array_equal(glyph(char), box) or char == "\u2603"
    assert np.array_equal(glyph("a"), glyph("A"))


def test_save_plot_writes_a_png(tmp_path: Path) -> None:
    path = save_plot(
        tmp_path / "p.png", [Series("s", [0.0, 1.0], [0.0, 1.0])], width=400, height=300
    )
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (400, 300)
