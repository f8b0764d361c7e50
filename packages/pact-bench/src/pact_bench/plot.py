"""Figures drawn with matplotlib, each reproducible from the data file written beside it.

A figure is described by its *figure data*: a JSON-ready dict with a ``kind``, the title
and axis labels, and every number drawn. :func:`save_figure` draws it and writes the
figure (PNG by default; SVG or PDF by the file's extension or ``format``) and, next to
it, the data as JSON (``parity.png`` and ``parity.json``). Re-plotting needs only that
file, for example to restyle a figure or to write it as a PDF for a paper::

    python -m pact_bench.plot docs/results/parity.json --out parity.pdf

Two kinds of figure are drawn:

* ``"training-curves"`` (:func:`training_curves_figure`): smoothed training accuracy of
  runs against training steps, grouped by configuration, each seed thin and the
  group's median bold, with the accuracy that counts as solved;
* ``"xy"`` (:func:`xy_figure`): labelled series of points, lines or horizontal
  reference lines, with optional error bars (``x_low``/``x_high``,
  ``y_low``/``y_high``) and log axes; accuracy against FLOPs and latency against the
  active fraction are drawn with it.

Figures are made with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``, so no interactive backend is loaded and no display is needed: PNGs are
rendered by Agg, SVG and PDF by matplotlib's vector backends. Dates are left out of SVG
and PDF files, so the same data gives the same file.

Example::

    >>> from pact_bench.plot import xy_figure
    >>> figure = xy_figure({
    ...     "kind": "xy", "title": "accuracy against FLOPs", "xlabel": "FLOPs",
    ...     "ylabel": "accuracy",
    ...     "series": [{"label": "PACT", "style": "points", "x": [2e4, 4e4], "y": [0.9, 0.99]}],
    ... })
    >>> [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    ['PACT']
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.typing import RcKeyType
from numpy.typing import NDArray

from pact_core.runs import (
    OneLineParser,
    RunError,
    UsageError,
    check_output_file,
    run_main,
    write_json,
)

__all__ = [
    "FIGURE_FORMATS",
    "FigureData",
    "check_figure_path",
    "draw",
    "figure_path",
    "load_figure_data",
    "main",
    "median_curve",
    "save_figure",
    "training_curves_figure",
    "wide",
    "xy_figure",
]

#: A figure's data: JSON-ready, with a ``kind`` of :data:`KINDS`.
FigureData = dict[str, Any]

#: The file formats :func:`save_figure` writes, by extension.
FIGURE_FORMATS = ("png", "svg", "pdf")
#: Version of the figure-data layout, written into every data file.
DATA_VERSION = 1

_STYLE: dict[RcKeyType, Any] = {
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": "medium",
    "legend.fontsize": "small",
    "legend.frameon": False,
    "savefig.dpi": 150,
    "svg.hashsalt": "pact",  # stable element ids: the same data gives the same SVG
}
#: Metadata left out of the files, so that they depend on the data alone.
_NO_DATES: dict[str, dict[str, Any]] = {
    "png": {},
    "svg": {"Date": None},
    "pdf": {"CreationDate": None, "ModDate": None},
}


# ----------------------------------------------------------------------- training curves


def median_curve(
    runs: Sequence[Mapping[str, Any]],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The median over ``runs`` of their clipped smoothed curves, step by step.

    Each run is read on the union of the runs' log steps (linearly between its own log
    points). A run that stopped because it was solved (``stopped_when_solved``) keeps
    its last value after its last step; any other run ends at its last step. The median
    is taken only at the steps where every run has a value, so that it is always the
    median of all of them.

    Args:
        runs: Runs of one configuration, each with ``steps``, raw values (``accuracy``,
            or ``raw`` for another quantity), ``smoothed`` and optionally
            ``stopped_when_solved``.

    Returns:
        The steps and the median there (both empty if the runs share no step).
    """
    grid = np.unique(np.concatenate([np.asarray(r["steps"], dtype=np.float64) for r in runs]))
    values = np.full((len(runs), grid.size), np.nan)
    for i, run in enumerate(runs):
        steps = np.asarray(run["steps"], dtype=np.float64)
        if steps.size == 0:
            continue
        curve = _clipped(run)
        inside = (grid >= steps[0]) & (grid <= steps[-1])
        values[i, inside] = np.interp(grid[inside], steps, curve)
        if run.get("stopped_when_solved"):
            values[i, grid > steps[-1]] = curve[-1]
    shared = ~np.isnan(values).any(axis=0)
    return grid[shared], np.median(values[:, shared], axis=0)


def _clipped(run: Mapping[str, Any]) -> NDArray[np.float64]:
    """A run's smoothed curve clipped to the range of its raw values."""
    raw = np.asarray(run["raw"] if "raw" in run else run["accuracy"], dtype=np.float64)
    smoothed = np.asarray(run["smoothed"], dtype=np.float64)
    if raw.size == 0:
        return smoothed
    return np.clip(smoothed, raw.min(), raw.max())


def training_curves_figure(data: Mapping[str, Any]) -> Figure:
    """Smoothed training accuracy against training steps, one colour per configuration.

    Each run's smoothed curve is drawn *clipped to the range of its raw accuracies*
    (``[min, max]`` of the logged values): the cubic Savitzky-Golay fit overshoots near
    a sharp rise and at the ends (above 100% for a run that reaches 100%), and a plot
    should not show accuracies that never occurred. The criteria
    (:func:`pact_seq.smoothing.steps_to_solve`) read the unclipped curve.

    A configuration with one run is drawn as one bold line. With several runs (seeds),
    each is a thin line and their median (:func:`median_curve`) the bold one. A dashed
    black line marks ``threshold``, the smoothed accuracy that counts as solved.

    The same figure draws another logged quantity (the ponder of
    :func:`pact_bench.figures.ponder_curves_data`): its runs give ``raw`` instead of
    ``accuracy``, and ``y_percent: false`` (the default is true) and ``log_y`` set the
    axis.

    Args:
        data: ``title``, ``xlabel``, ``ylabel``, ``threshold`` (or ``None``), an
            optional ``note``, ``y_percent`` and ``log_y``, and ``groups``: each a
            ``label`` and ``runs``, each run a ``run`` name, ``steps``, raw ``accuracy``
            (or ``raw``), ``smoothed`` and ``stopped_when_solved``.

    Raises:
        ValueError: If no run has a log point.
    """
    groups = [g for g in data["groups"] if any(len(r["steps"]) for r in g["runs"])]
    if not groups:
        raise ValueError("no run has a training log to plot")
    figure, axes = _figure(data)
    colours = _colours(len(groups))
    for group, colour in zip(groups, colours, strict=True):
        runs = [r for r in group["runs"] if len(r["steps"])]
        if len(runs) == 1:
            axes.plot(
                runs[0]["steps"], _clipped(runs[0]), color=colour, linewidth=1.8,
                label=group["label"],
            )  # fmt: skip
            continue
        for run in runs:
            axes.plot(run["steps"], _clipped(run), color=colour, linewidth=0.7, alpha=0.45)
        steps, median = median_curve(runs)
        axes.plot(steps, median, color=colour, linewidth=2.2,
                  label=f"{group['label']} (median of {len(runs)})")  # fmt: skip
    threshold = data.get("threshold")
    if threshold is not None:
        axes.axhline(threshold, color="black", linestyle="--", linewidth=0.9,
                     label=f"solved ({100 * threshold:g}%)")  # fmt: skip
    axes.xaxis.set_major_formatter(FuncFormatter(_steps_label))
    if data.get("log_y"):
        axes.set_yscale("log")
        plain = FuncFormatter(lambda value, _position: f"{value:g}")  # 2, not 2 x 10^0
        axes.yaxis.set_major_formatter(plain)
        axes.yaxis.set_minor_formatter(plain)
    if data.get("y_percent", True):
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_xlim(left=0)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside: curves fill the axes
    _note(axes, data.get("note"))
    return figure


def _steps_label(value: float, _position: int | None = None) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    return f"{value / 1e3:g}k" if abs(value) >= 1e3 else f"{value:g}"


# ---------------------------------------------------------------------------- xy figures


def xy_figure(data: Mapping[str, Any]) -> Figure:
    """Labelled series of points or lines, with error bars and optional log axes.

    Each series has ``label``, ``x``, ``y`` and a ``style``:

    * ``"points"``: markers only (with a thin line through them when ``connect`` is
      true, in the order given);
    * ``"line"``: a line with markers;
    * ``"reference"``: a horizontal line at ``y[0]`` across the whole plot (a dense
      baseline), its error range, if any, as a shaded band.

    Optional per-point lists ``x_low``/``x_high`` and ``y_low``/``y_high`` give the
    ends of error bars (absolute values, not offsets), and ``text`` a note beside each
    point. Series that share a ``colour_group`` share a colour (by default each series
    has its own), and ``dashed: true`` draws a series' line dashed, so that two
    measures of one configuration pair up. ``log_x``/``log_y`` make an axis
    logarithmic; ``x_percent``/``y_percent`` label it in percent of 1; ``note`` is
    printed small in a corner (say there what the error bars span).

    Raises:
        ValueError: If no series has a finite point (a positive one on a log axis), or a
            series' lists differ in length.
    """
    series = list(data["series"])
    for s in series:
        for key in ("y", "x_low", "x_high", "y_low", "y_high", "text"):
            if s.get(key) is not None and len(s[key]) != len(s["x"]):
                raise ValueError(
                    f"series {s['label']!r}: {key} has {len(s[key])} values for {len(s['x'])} x"
                )
    log_x, log_y = bool(data.get("log_x")), bool(data.get("log_y"))
    if not any(_finite(s, log_x, log_y).any() for s in series):
        raise ValueError(
            "nothing to plot: no series has a finite point"
            + (" (log axes need positive values)" if log_x or log_y else "")
        )
    figure, axes = _figure(data)
    if log_x:
        axes.set_xscale("log")
    if log_y:
        axes.set_yscale("log")
    groups = [str(s.get("colour_group", s["label"])) for s in series]
    distinct = list(dict.fromkeys(groups))
    palette = dict(zip(distinct, _colours(len(distinct)), strict=True))
    for s, group in zip(series, groups, strict=True):
        _draw_series(axes, s, palette[group], log_x, log_y)
    if data.get("x_percent"):
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    if data.get("y_percent"):
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    _legend(axes, len(series))
    _note(axes, data.get("note"))
    return figure


def _finite(s: Mapping[str, Any], log_x: bool, log_y: bool) -> NDArray[np.bool_]:
    x = np.asarray(s["x"], dtype=np.float64)
    y = np.asarray(s["y"], dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    if log_x and s.get("style") != "reference":
        keep &= x > 0
    if log_y:
        keep &= y > 0
    return keep


def _draw_series(axes: Axes, s: Mapping[str, Any], colour: str, log_x: bool, log_y: bool) -> None:
    keep = _finite(s, log_x, log_y)
    x = np.asarray(s["x"], dtype=np.float64)[keep]
    y = np.asarray(s["y"], dtype=np.float64)[keep]
    if x.size == 0:
        return
    style = s.get("style", "points")
    if style == "reference":
        axes.axhline(y[0], color=colour, linestyle="--", linewidth=1.4, label=s["label"])
        band = _offsets(s, "y", y, keep)
        if band is not None and band[:, 0].any():
            axes.axhspan(y[0] - band[0, 0], y[0] + band[1, 0], color=colour, alpha=0.15,
                         linewidth=0)  # fmt: skip
        return
    line = style == "line" or bool(s.get("connect"))
    axes.plot(
        x, y, color=colour, label=s["label"], marker="o", markersize=5,
        linestyle=("--" if s.get("dashed") else "-") if line else "none",
        linewidth=1.6 if style == "line" else 0.8,
    )  # fmt: skip
    xerr, yerr = _offsets(s, "x", x, keep), _offsets(s, "y", y, keep)
    barred = np.zeros(x.size, dtype=bool)
    for err in (xerr, yerr):
        if err is not None:
            barred |= err.any(axis=0)
    if barred.any():  # bars only where a point has a spread: no caps on single runs
        axes.errorbar(
            x[barred], y[barred],
            xerr=None if xerr is None else xerr[:, barred],
            yerr=None if yerr is None else yerr[:, barred],
            fmt="none", ecolor=colour, capsize=3, elinewidth=1.0,
        )  # fmt: skip
    for xi, yi, note in zip(x, y, _kept(s.get("text"), keep), strict=True):
        if note:
            axes.annotate(note, (xi, yi), xytext=(5, 4), textcoords="offset points",
                          fontsize="x-small", color=colour)  # fmt: skip


def _kept(values: Sequence[Any] | None, keep: NDArray[np.bool_]) -> list[Any]:
    if values is None:
        return [None] * int(keep.sum())
    return [v for v, k in zip(values, keep, strict=True) if k]


def _offsets(
    s: Mapping[str, Any], axis: str, centre: NDArray[np.float64], keep: NDArray[np.bool_]
) -> NDArray[np.float64] | None:
    """Error-bar lengths below and above ``centre`` (``[2, n]``), from absolute ends.

    A missing end (``None`` in the data) gives no bar on that side.
    """
    low, high = s.get(f"{axis}_low"), s.get(f"{axis}_high")
    if low is None or high is None:
        return None
    lows = np.asarray(low, dtype=np.float64)[keep]
    highs = np.asarray(high, dtype=np.float64)[keep]
    lengths = np.stack([centre - lows, highs - centre])
    return np.where(np.isfinite(lengths), np.maximum(lengths, 0.0), 0.0)


# ------------------------------------------------------------------------ shared pieces


def _figure(data: Mapping[str, Any]) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(7.5, 4.6), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(str(data.get("title", "")))
    axes.set_xlabel(str(data.get("xlabel", "")))
    axes.set_ylabel(str(data.get("ylabel", "")))
    return figure, axes


def _colours(count: int) -> list[str]:
    """``tab10`` colours, ``tab20`` beyond ten."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if count <= 10 else "tab20"]
    size = len(palette.colors)  # type: ignore[attr-defined]
    return [_hex(palette(i % size)) for i in range(count)]


def _hex(rgba: tuple[float, float, float, float]) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgba[:3])


def _legend(axes: Axes, entries: int) -> None:
    if entries > 5:  # many series: the legend goes beside the axes, where it hides none
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        axes.legend(loc="best")


def _note(axes: Axes, note: str | None) -> None:
    """A small grey note under the lower left corner (what the error bars are, ...).

    It sits below the x-axis label, outside the axes, so that it never covers a curve
    or a tick label.
    """
    if note:
        axes.annotate(note, xy=(0.0, 0.0), xycoords="axes fraction", xytext=(0, -38),
                      textcoords="offset points", ha="left", va="top", fontsize="x-small",
                      color="0.4")  # fmt: skip


#: The drawing function of each kind of figure data.
KINDS: dict[str, Callable[[Mapping[str, Any]], Figure]] = {
    "training-curves": training_curves_figure,
    "xy": xy_figure,
}


def draw(data: Mapping[str, Any]) -> Figure:
    """Draw figure data of any kind of :data:`KINDS`.

    Raises:
        ValueError: For an unknown kind, or data its drawing function rejects.
    """
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown figure kind {kind!r}; expected one of {', '.join(KINDS)}")
    with rc_context(_STYLE):
        return KINDS[str(kind)](data)


def figure_path(path: str | Path, format: str | None = None) -> tuple[Path, str]:
    """The figure's file and format: ``format``, else the extension, else PNG.

    ``figure_path("a", None)`` is ``a.png``; ``figure_path("a.png", "svg")`` is
    ``a.svg``.

    Raises:
        ValueError: For a format (or, with ``format=None``, an extension other than none)
            not in :data:`FIGURE_FORMATS`.
    """
    path = Path(path)
    extension = path.suffix.lower().lstrip(".")
    if format is None and not extension:
        return path.with_suffix(".png"), "png"
    wanted = (format or extension).lower()
    if wanted not in FIGURE_FORMATS:
        raise ValueError(
            f"cannot write a figure as {wanted!r} ({path}); use one of {', '.join(FIGURE_FORMATS)}"
        )
    if extension == wanted:
        return path, wanted
    return path.with_suffix(f".{wanted}"), wanted


def save_figure(
    data: Mapping[str, Any],
    path: str | Path,
    *,
    format: str | None = None,
    write_data: bool = True,
) -> Path:
    """Draw ``data`` and write the figure to ``path``, and its data beside it.

    Args:
        data: Figure data (see :data:`KINDS`).
        path: The figure's file; its extension gives the format unless ``format`` does.
        format: ``"png"``, ``"svg"`` or ``"pdf"`` (the extension of ``path`` is replaced).
        write_data: Also write ``data`` as JSON to the same path with ``.json`` (strict
            JSON, written atomically: :func:`pact_core.runs.write_json`).

    Returns:
        The figure's file.

    Raises:
        ValueError: For an unsupported format or data that cannot be drawn (nothing is
            written then).
    """
    target, kind = figure_path(path, format)
    figure = draw(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    with rc_context(_STYLE):
        figure.savefig(target, format=kind, metadata=_NO_DATES[kind])
    if write_data:  # strict JSON: a non-finite number is null, with a "nulls" entry
        write_json(target.with_suffix(".json"), {"pact_figure": DATA_VERSION, **data}, indent=1)
    return target


def load_figure_data(path: str | Path) -> FigureData:
    """Read a data file written by :func:`save_figure`.

    Raises:
        ValueError: If the file is not readable JSON figure data.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read figure data {path}: {error}") from None
    if not isinstance(data, dict) or "pact_figure" not in data or "kind" not in data:
        raise ValueError(f"{path} is not a pact figure data file (no pact_figure/kind)")
    return data


def check_figure_path(path: str | Path | None, flag: str, format: str | None = None) -> Path | None:
    """The figure file a flag names, checked and its directory created before any work.

    Both the figure (:func:`figure_path`) and its data file beside it must be writable.
    ``None`` (no figure requested) passes through.

    Raises:
        UsageError: For an empty name, a format other than :data:`FIGURE_FORMATS`, or a
            place that cannot be written; the message names ``flag``.
    """
    if path is None:
        return None
    if str(path).strip() == "":
        raise UsageError(f"{flag} must name a file, got ''")
    try:
        target, _ = figure_path(path, format)
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from None
    check_output_file(target, flag)
    check_output_file(target.with_suffix(".json"), flag)
    return target


PROG = "pact_bench.plot"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG, description="Re-plot a figure from the JSON data file written beside it."
    )
    parser.add_argument("data", type=Path, help="a figure's .json data file")
    parser.add_argument(
        "--out", default=None,
        help="the figure to write (default: the data file's name with --format's extension)",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=FIGURE_FORMATS, default=None,
        help="png, svg or pdf (default: the extension of --out, else png)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Re-plot one data file.

    Returns:
        0; 2 on bad input, 1 on a data file that cannot be read or drawn (one line on
        stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.out is not None:
        out = check_figure_path(args.out, "--out", args.format)
    else:
        out = check_figure_path(args.data.with_suffix(""), "--out", args.format or "png")
    assert out is not None
    try:
        data = load_figure_data(args.data)
        data.pop("pact_figure")
        data.pop("nulls", None)
        written = save_figure(data, out, write_data=False)
    except ValueError as error:
        raise RunError(str(error)) from None
    print(f"wrote {written}", file=sys.stderr)
    return 0


def wide(values: Sequence[float], ratio: float = 10.0) -> bool:
    """Whether positive ``values`` span a factor of ``ratio`` or more (worth a log axis)."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    return bool(positive) and max(positive) >= ratio * min(positive)


if __name__ == "__main__":
    raise SystemExit(main())
