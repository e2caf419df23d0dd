"""Chart specs for static/charts.js: plain dicts, embedded in the page as JSON.

A spec is ``{"title", "kind": "line"|"bars", "time": bool, "x": [...],
"x_labels": [...] (bars), "series": [{"label", "values": [...]}], "y_label"}``;
every series has one value (or null) per x. charts.js draws it with uPlot and sets
the element's ``data-points`` to the number of points drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

Point = tuple[float, float | None]


def line_chart(
    title: str,
    series: Mapping[str, Iterable[Point]],
    *,
    time: bool = False,
    y_label: str = "",
    x_label: str = "",
) -> dict[str, Any]:
    """Series of (x, y) points on one x axis: the union of their x values, each
    series null where it has no point (uPlot draws across the gaps)."""
    by_label = {label: dict(points) for label, points in series.items()}
    xs = sorted({x for points in by_label.values() for x in points})
    return {
        "title": title,
        "kind": "line",
        "time": time,
        "x": xs,
        "x_label": x_label,
        "y_label": y_label,
        "series": [
            {"label": label, "values": [points.get(x) for x in xs]}
            for label, points in by_label.items()
        ],
    }


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_label: str = "",
) -> dict[str, Any]:
    """Grouped bars: one group per category along x, one bar per series in each.

    Each bar has its own x (the category's index, offset by the series' place in the
    group), and every other series is null there, so uPlot draws them side by side.
    """
    n = max(1, len(series))
    width = 0.8 / n
    offsets = [(i - (n - 1) / 2) * width for i in range(n)]
    xs = [c + off for c in range(len(categories)) for off in offsets]
    columns: list[dict[str, Any]] = []
    for i, (label, values) in enumerate(series.items()):
        column: list[float | None] = [None] * len(xs)
        for c, value in enumerate(values):
            column[c * n + i] = value
        columns.append({"label": label, "values": column})
    return {
        "title": title,
        "kind": "bars",
        "time": False,
        "x": xs,
        "x_labels": list(categories),
        "y_label": y_label,
        "series": columns,
    }


def epoch(value: datetime) -> float:
    """Seconds since the epoch: the x of a time chart."""
    return value.timestamp()


def points_of(spec: Mapping[str, Any]) -> int:
    """How many points the chart draws (non-null values): what charts.js reports."""
    return sum(v is not None for s in spec["series"] for v in s["values"])
