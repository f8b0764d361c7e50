"""The figure data of the comparison and the reports, from their runs and rows.

Each function here turns what a command measured (:class:`pact_bench.results.Row`,
:class:`pact_bench.compare_seq.TrainingCurve`) into figure data for
:func:`pact_bench.plot.save_figure`, which draws it with matplotlib and writes the data
beside the figure, so that ``python -m pact_bench.plot FILE.json`` draws it again.

Several runs of one configuration (seeds) become one point at their median, with error
bars from their smallest to their largest value; timings carry their interquartile range.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pact_bench.compare_seq import TrainingCurve
from pact_bench.plot import FigureData, wide
from pact_bench.results import Row
from pact_seq import SOLVED_ACCURACY

__all__ = [
    "Point",
    "accuracy_flops_data",
    "latency_data",
    "points_series",
    "ponder_by_position_data",
    "ponder_curves_data",
    "training_curves_data",
]

#: The vision models of a latency figure, in drawing order, with their legend labels.
_LATENCY_MODELS = {
    "sact": "SACT (masked)",
    "psact": "PSACT (masked)",
    "psact-sparse": "PSACT (sparse)",
}


def training_curves_data(curves: Sequence[TrainingCurve], *, title: str) -> FigureData:
    """Figure data for :func:`pact_bench.plot.training_curves_figure`.

    Runs are grouped by configuration (their ``group``, e.g. ``repeat rho=2``; a run
    without one is its own group), in the order they first appear.

    Raises:
        ValueError: If no run has a log point.
    """
    drawn = [c for c in curves if c.steps]
    if not drawn:
        raise ValueError("no run has a training log to plot")
    groups = _grouped(drawn, lambda c: {"accuracy": list(c.accuracy), "smoothed": list(c.smoothed)})
    return {
        "kind": "training-curves",
        "title": title,
        "xlabel": "training steps",
        "ylabel": "smoothed training-batch accuracy",
        "threshold": SOLVED_ACCURACY,
        "note": "cubic Savitzky-Golay over 71 log points (fewer in shorter runs), "
        "clipped to each run's raw range",
        "groups": groups,
    }


def _grouped(
    curves: Sequence[TrainingCurve], values: Callable[[TrainingCurve], dict[str, list[float]]]
) -> list[dict[str, Any]]:
    """The runs of a training-curves figure, grouped by configuration in order of appearance.

    Each run has its name, steps, ``stopped_when_solved`` and what ``values`` gives.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for curve in curves:
        run: dict[str, Any] = {"run": curve.run, "steps": list(curve.steps), **values(curve)}
        run["stopped_when_solved"] = curve.stopped_when_solved
        groups.setdefault(curve.group or curve.run, []).append(run)
    return [{"label": label, "runs": runs} for label, runs in groups.items()]


def ponder_curves_data(curves: Sequence[TrainingCurve], *, title: str) -> FigureData:
    """Figure data of the training-batch ponder against training steps, per run.

    Drawn like the accuracy (:func:`pact_bench.plot.training_curves_figure`): runs of a
    configuration thin, their median bold, on a logarithmic axis, so that a collapse to
    one iteration and a climb to tens stand apart. The ponder is drawn as logged, not
    smoothed: it moves in steps (when a warm-up's cap lifts, when a run collapses), which
    a cubic fit would blur into waves. Runs without a logged ponder are left out.

    Raises:
        ValueError: If no run logged its ponder.
    """
    drawn = [c for c in curves if c.ponder]
    if not drawn:
        raise ValueError("no run logged its ponder (runs without halting log none)")
    groups = _grouped(drawn, lambda c: {"raw": list(c.ponder), "smoothed": list(c.ponder)})
    return {
        "kind": "training-curves",
        "title": title,
        "xlabel": "training steps",
        "ylabel": "mean iterations per input (training batch)",
        "threshold": None,
        "y_percent": False,
        "log_y": True,
        "note": "the training batch's mean at each log point, not smoothed",
        "groups": groups,
    }


@dataclass(frozen=True)
class Point:
    """One measured point of a configuration (one seed, one run).

    Attributes:
        series: The legend entry it belongs to.
        key: What tells configurations of one series apart (``tau=0.01``); points with
            the same series and key are seeds of one configuration.
        x: Its x value.
        y: Its y value.
        y_low: Lower end of its own error bar (a timing's quartile), if any.
        y_high: Upper end of its own error bar, if any.
    """

    series: str
    key: str
    x: float
    y: float
    y_low: float | None = None
    y_high: float | None = None


@dataclass
class _Gathered:
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    lows: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)


def points_series(points: Sequence[Point], *, style: str = "points") -> list[dict[str, Any]]:
    """One series per ``series`` name; one point per configuration, seeds merged.

    A configuration measured once is its point (with its own error bar, if it has one).
    One measured several times is drawn at the median of its x and of its y, with bars
    from the smallest to the largest value, and its note says how many runs it merges.
    Points of a series are sorted by x.
    """
    gathered: dict[str, dict[str, _Gathered]] = {}
    for p in points:
        slot = gathered.setdefault(p.series, {}).setdefault(p.key, _Gathered())
        slot.xs.append(p.x)
        slot.ys.append(p.y)
        if p.y_low is not None and p.y_high is not None:
            slot.lows.append(p.y_low)
            slot.highs.append(p.y_high)
    series = []
    for label, configurations in gathered.items():
        entries: list[dict[str, Any]] = []
        for key, slot in configurations.items():
            count = len(slot.xs)
            many = count > 1
            own = not many and slot.lows
            entries.append(
                {
                    "x": statistics.median(slot.xs),
                    "y": statistics.median(slot.ys),
                    "x_low": min(slot.xs) if many else None,
                    "x_high": max(slot.xs) if many else None,
                    "y_low": min(slot.ys) if many else (slot.lows[0] if own else None),
                    "y_high": max(slot.ys) if many else (slot.highs[0] if own else None),
                    "text": (f"{key} ({count} runs)" if many else key) or None,
                }
            )
        entries.sort(key=lambda e: e["x"])
        series.append(
            {
                "label": label,
                "style": style,
                "connect": len(entries) > 1,
                **{name: [e[name] for e in entries] for name in entries[0]},
            }
        )
    return series


def ponder_by_position_data(
    runs: Sequence[tuple[str, Sequence[float]]], *, title: str
) -> FigureData:
    """Mean iterations at each position (timestep or token), a line per configuration.

    Args:
        runs: ``(group, ponder_by_position)`` of each run; runs of one group are seeds,
            drawn as their median with bars from the smallest to the largest seed.
        title: The figure's title.

    Raises:
        ValueError: If ``runs`` is empty, or the runs of a group differ in length.
    """
    if not runs:
        raise ValueError("no run reports its ponder by position")
    groups: dict[str, list[Sequence[float]]] = {}
    for label, values in runs:
        groups.setdefault(label, []).append(values)
    series: list[dict[str, Any]] = []
    for label, seeds in groups.items():
        lengths = sorted({len(values) for values in seeds})
        if len(lengths) > 1:
            raise ValueError(f"{label!r}: runs of {lengths} positions; give one length")
        columns = list(zip(*seeds, strict=True))
        several = len(seeds) > 1
        series.append(
            {
                "label": f"{label} ({len(seeds)} seeds)" if several else label,
                "style": "line",
                "x": list(range(1, lengths[0] + 1)),
                "y": [statistics.median(c) for c in columns],
                "y_low": [min(c) for c in columns] if several else None,
                "y_high": [max(c) for c in columns] if several else None,
            }
        )
    merged = any(s["y_low"] is not None for s in series)
    return {
        "kind": "xy",
        "title": title,
        "xlabel": "position",
        "ylabel": "mean iterations at the position",
        "note": "line: median over seeds; bars: smallest to largest seed" if merged else None,
        "series": series,
    }


def accuracy_flops_data(rows: Sequence[Row], part: str) -> FigureData | None:
    """Accuracy against FLOPs of the ``part`` (``seq`` or ``vision``) rows that have both.

    One series per model and evaluation halting, a point per setting (seeds merged, see
    :func:`points_series`); the FLOP axis is logarithmic when it spans a factor of ten.
    ``None`` if no row has both.
    """
    unit = "input" if part == "seq" else "image"
    points = [
        Point(_model_label(r), r.setting, float(r.flops), float(r.accuracy))
        for r in rows
        if r.part == part and r.accuracy is not None and r.flops
    ]
    if not points:
        return None
    series = points_series(points)
    return {
        "kind": "xy",
        "title": f"{part}: accuracy against FLOPs",
        "xlabel": f"FLOPs per {unit}",
        "ylabel": "accuracy",
        "y_percent": True,
        "log_x": wide([p.x for p in points]),
        "note": "bars: smallest to largest over runs of a setting" if _merged(series) else None,
        "series": series,
    }


def latency_data(rows: Sequence[Row], batch: int) -> FigureData | None:
    """Latency against the share of residual units executed, at ``batch``.

    Masked SACT and PSACT and sparse PSACT as lines over the active fraction, dense as
    the reference line. Error bars (and dense's band) span the interquartile range of the
    timed blocks: the rows record its width, so the bar is that wide, centred on the
    median. The latency axis is logarithmic when it spans a factor of ten. ``None`` if
    no vision row at ``batch`` has a latency.
    """
    timed = [
        r for r in rows if r.part == "vision" and r.latency_ms is not None and r.batch == batch
    ]
    if not timed:
        return None
    series = [_reference(r, "dense") for r in timed if r.model == "dense"]
    for model, label in _LATENCY_MODELS.items():
        points = [
            Point(
                label,
                f"{r.active_fraction or 0.0:g}",
                r.active_fraction or 0.0,
                float(r.latency_ms or 0.0),
                *_quartiles(r),
            )
            for r in timed
            if r.model == model
        ]
        if points:
            for entry in points_series(points, style="line"):
                entry["text"] = None  # the x axis says the fraction
                series.append(entry)
    return {
        "kind": "xy",
        "title": f"latency against the share of units executed, batch {batch}",
        "xlabel": "share of residual units executed",
        "ylabel": "latency (ms)",
        "x_percent": True,
        "log_y": wide([float(r.latency_ms or 0.0) for r in timed]),
        "note": "bars and band: interquartile range of the timed blocks",
        "series": series,
    }


def _model_label(row: Row) -> str:
    """``act``, ``pact discrete``, ``repeat``: the model, and its halting if another."""
    if row.halting is None or row.halting == row.model:
        return row.model
    return f"{row.model} {row.halting}"


def _reference(row: Row, label: str) -> dict[str, Any]:
    low, high = _quartiles(row)
    return {
        "label": label,
        "style": "reference",
        "x": [row.active_fraction if row.active_fraction is not None else 1.0],
        "y": [row.latency_ms],
        "y_low": [low],
        "y_high": [high],
    }


def _quartiles(row: Row) -> tuple[float | None, float | None]:
    """The ends of a bar as wide as the row's latency IQR, centred on its median."""
    if row.latency_ms is None or row.latency_iqr_ms is None:
        return None, None
    half = row.latency_iqr_ms / 2
    return row.latency_ms - half, row.latency_ms + half


def _merged(series: Sequence[dict[str, Any]]) -> bool:
    return any(low is not None for s in series for low in s.get("x_low", []))
