"""Figures with matplotlib, and re-plotting them from the data written beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

from pact_bench import plot
from pact_bench.compare_seq import TrainingCurve
from pact_bench.figures import Point, points_series, training_curves_data
from pact_seq import smoothed_accuracy


def run(
    name: str, values: list[float], *, stopped: bool = False, every: int = 1000
) -> dict[str, Any]:
    return {
        "run": name,
        "steps": [every * (i + 1) for i in range(len(values))],
        "accuracy": values,
        "smoothed": values,
        "stopped_when_solved": stopped,
    }


def test_median_is_taken_where_every_run_has_a_value() -> None:
    runs = [run("a", [0.5, 0.6, 0.7, 0.8]), run("b", [0.5, 0.7, 0.9]), run("c", [0.6, 0.8])]
    steps, median = plot.median_curve(runs)
    assert steps.tolist() == [1000, 2000]  # c ends at 2000 without being solved
    np.testing.assert_allclose(median, [0.5, 0.7])


def test_a_run_stopped_when_solved_keeps_its_last_value() -> None:
    runs = [
        run("fast", [0.5, 0.99], stopped=True),
        run("slow", [0.5, 0.6, 0.7, 0.8]),
        run("mid", [0.5, 0.6, 0.95, 0.97]),
    ]
    steps, median = plot.median_curve(runs)
    assert steps.tolist() == [1000, 2000, 3000, 4000]
    np.testing.assert_allclose(median, [0.5, 0.6, 0.95, 0.97])  # fast counts as 0.99
    # Log points at other steps are read linearly between a run's own points.
    coarse = [run("a", [0.5, 0.7], every=2000), run("b", [0.5, 0.6, 0.7, 0.8])]
    steps, median = plot.median_curve(coarse)
    assert steps.tolist() == [2000, 3000, 4000]  # a's first log point is at 2000
    np.testing.assert_allclose(median, [0.55, 0.65, 0.75])  # a is 0.6 at 3000


def test_finding_7_smoothed_curves_are_drawn_within_the_raw_range() -> None:
    """Issue 14, finding 7: the smoothed curves rose above 1.0 (the edge overshoot)."""
    # A sharp rise to 100%: the cubic's edge overshoots above 1.
    raw = [0.5] * 60 + [1.0] * 90
    smoothed = smoothed_accuracy(raw)
    assert smoothed.max() > 1.0 and smoothed.min() < 0.5
    steps = [100 * (i + 1) for i in range(len(raw))]
    curves = [
        TrainingCurve(f"repeat_s{seed}", steps, raw, smoothed.tolist(), "parity", "repeat rho=2")
        for seed in range(2)
    ] + [TrainingCurve("act_s0", steps, raw, smoothed.tolist(), "parity", "act tau=0.01")]
    data = training_curves_data(curves, title="t")
    assert [g["label"] for g in data["groups"]] == ["repeat rho=2", "act tau=0.01"]
    figure = plot.draw(data)
    lines = figure.axes[0].get_lines()
    # Two thin seeds and their bold median, one bold single run, the 98% line.
    widths = sorted(line.get_linewidth() for line in lines)
    assert len(lines) == 5 and widths[:2] == [0.7, 0.7]
    for line in lines:
        assert np.min(line.get_ydata()) >= 0.5 and np.max(line.get_ydata()) <= 1.0
    legend = figure.axes[0].get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["repeat rho=2 (median of 2)", "act tau=0.01", "solved (98%)"]


def test_xy_figure_axes_error_bars_and_reference() -> None:
    data = {
        "kind": "xy",
        "title": "t",
        "log_x": True,
        "series": [
            {"label": "dense", "style": "reference", "x": [1.0], "y": [10.0],
             "y_low": [9.0], "y_high": [12.0]},
            {"label": "sparse", "style": "line", "x": [0.2, 1.0], "y": [3.0, 11.0],
             "y_low": [2.0, None], "y_high": [5.0, None]},
        ],
    }  # fmt: skip
    figure = plot.draw(data)
    axes = figure.axes[0]
    assert axes.get_xscale() == "log" and axes.get_yscale() == "linear"
    bars = [c for c in axes.collections if isinstance(c, LineCollection)]
    assert len(bars) == 1  # one error bar: the point with a spread, none for the other
    (segment,) = bars[0].get_segments()
    np.testing.assert_allclose(segment, [[0.2, 2.0], [0.2, 5.0]])
    (band,) = axes.patches  # the reference's band, from 9 to 12
    assert isinstance(band, Rectangle)
    assert (band.get_y(), band.get_height()) == pytest.approx((9.0, 3.0))


def test_seeds_of_a_setting_become_one_point_with_a_range() -> None:
    points = [Point("act", "tau=0.01", 20.0, 0.9), Point("act", "tau=0.01", 22.0, 0.96),
              Point("act", "tau=0.01", 21.0, 0.92), Point("act", "tau=0.1", 10.0, 0.6),
              Point("pact", "", 40.0, 0.99, 0.98, 1.0)]  # fmt: skip
    act, pact = points_series(points)
    assert act["x"] == [10.0, 21.0] and act["y"] == [0.6, 0.92]
    assert act["y_low"] == [None, 0.9] and act["y_high"] == [None, 0.96]
    assert act["x_low"] == [None, 20.0] and act["x_high"] == [None, 22.0]
    assert act["text"] == ["tau=0.1", "tau=0.01 (3 runs)"]
    assert pact["y_low"] == [0.98] and pact["y_high"] == [1.0]  # its own error bar
    assert pact["text"] == [None]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "pie", "series": []}, "unknown figure kind 'pie'"),
        ({"kind": "xy", "series": [{"label": "s", "x": [float("nan")], "y": [1.0]}]},
         "nothing to plot"),
        ({"kind": "xy", "log_y": True, "series": [{"label": "s", "x": [1.0], "y": [-1.0]}]},
         "log axes need positive values"),
        ({"kind": "xy", "series": [{"label": "s", "x": [1.0], "y": [1.0, 2.0]}]},
         "series 's': y has 2 values for 1 x"),
        ({"kind": "training-curves", "groups": [{"label": "g", "runs": []}]},
         "no run has a training log"),
    ],
)  # fmt: skip
def test_data_that_cannot_be_drawn(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plot.draw(data)


def _curves_data() -> dict[str, Any]:
    values = [0.5, 0.6, 0.9, 1.0]
    runs = [run("a", values), run("b", values[::-1])]
    return {"kind": "training-curves", "title": "t", "threshold": 0.98,
            "groups": [{"label": "g", "runs": runs}]}  # fmt: skip


def test_save_writes_the_figure_and_its_data_and_replots_the_same_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _curves_data()
    written = plot.save_figure(data, tmp_path / "curves.png")
    assert written == tmp_path / "curves.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    recorded = json.loads((tmp_path / "curves.json").read_text())
    assert recorded == {"pact_figure": plot.DATA_VERSION, **data}
    # Drawn again from the data file alone: the same PNG, byte for byte.
    assert plot.main([str(tmp_path / "curves.json"), "--out", str(tmp_path / "again.png")]) == 0
    assert (tmp_path / "again.png").read_bytes() == written.read_bytes()
    assert not (tmp_path / "again.json").exists()  # re-plotting writes no second data file
    # Vector formats by extension or --format, with no date inside: the same bytes twice.
    assert plot.main([str(tmp_path / "curves.json"), "--format", "svg"]) == 0
    svg = (tmp_path / "curves.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<dc:date>" not in svg
    pdf = plot.save_figure(data, tmp_path / "a.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert plot.save_figure(data, tmp_path / "b", format="pdf").read_bytes() == pdf.read_bytes()
    assert (tmp_path / "b.json").is_file()
    capsys.readouterr()


def test_formats_and_bad_data_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plot.figure_path("a") == (Path("a.png"), "png")
    assert plot.figure_path("a.PDF") == (Path("a.PDF"), "pdf")
    assert plot.figure_path("a.png", "svg") == (Path("a.svg"), "svg")
    with pytest.raises(ValueError, match="cannot write a figure as 'jpg'"):
        plot.figure_path("a.jpg")
    with pytest.raises(ValueError, match="cannot write a figure as 'jpg'"):
        plot.save_figure(_curves_data(), tmp_path / "x.jpg")
    assert not list(tmp_path.iterdir())  # nothing written
    (tmp_path / "plain.json").write_text(json.dumps({"kind": "xy"}))
    assert plot.main([str(tmp_path / "plain.json")]) == 1
    assert "not a pact figure data file" in capsys.readouterr().err
    assert plot.main([str(tmp_path / "missing.json")]) == 1
    assert "cannot read figure data" in capsys.readouterr().err
    assert plot.main([str(tmp_path / "plain.json"), "--out", str(tmp_path / "x.gif")]) == 2
    assert "--out: cannot write a figure as 'gif'" in capsys.readouterr().err


def test_wide() -> None:
    assert plot.wide([1.0, 10.0]) and not plot.wide([1.0, 9.9])
    assert not plot.wide([0.0, -5.0, float("nan")])
