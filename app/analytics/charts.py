"""Geometry of the dashboard's server-side SVG charts (lines or grouped columns); the template draws it.

No script and no inline style: shapes carry classes (app/static/css/analytics.css) and SVG attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 40  # plot margins
MAX_X_LABELS = 12


@dataclass
class Series:
    name: str
    values: list[int]
    css: str  # series-1 … series-3


@dataclass
class Chart:
    chart_id: str
    caption: str
    kind: str  # "line" or "columns"
    labels: list[str]  # full bucket labels (for the table)
    shorts: list[str]  # short axis labels
    series: list[Series]
    top: int = 0
    ticks: list[tuple[float, int]] = field(default_factory=list)  # (y, value)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    shapes: list[dict[str, Any]] = field(default_factory=list)  # per series: rects or a polyline

    width: int = WIDTH
    height: int = HEIGHT

    @property
    def plot_bottom(self) -> int:
        return HEIGHT - BOTTOM

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return WIDTH - RIGHT

    @property
    def summary(self) -> str:
        """A one-line text alternative: each series' total and peak."""
        from flask_babel import gettext as _

        return "、".join(_("%(name)s 合計%(total)s・最大%(peak)s", name=s.name, total=f"{sum(s.values):,}",
                           peak=f"{max(s.values, default=0):,}") for s in self.series)


def nice_top(value: int) -> int:
    """The smallest 1/2/5×10^n at or above `value` (at least 1), so the axis reads in round numbers."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return max(step * factor, 1)
        step *= 10


def build(chart_id: str, caption: str, kind: str, labels: list[str], shorts: list[str],
          series: list[tuple[str, list[int]]]) -> Chart:
    chart = Chart(chart_id, caption, kind, labels, shorts,
                  [Series(name, values, f"series-{n}") for n, (name, values) in enumerate(series, start=1)])
    chart.top = nice_top(max((max(s.values, default=0) for s in chart.series), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(labels), 1)
    slot = plot_w / count

    def y_of(value: int) -> float:
        return round(TOP + plot_h - value / chart.top * plot_h, 1)

    chart.ticks = [(y_of(chart.top * n // 4), chart.top * n // 4) for n in range(5)]
    every = max(1, -(-count // MAX_X_LABELS))
    chart.x_labels = [(round(LEFT + slot * (i + 0.5), 1), short) for i, short in enumerate(shorts)
                      if i % every == 0]
    for index, s in enumerate(chart.series):
        if kind == "line":
            points = " ".join(f"{round(LEFT + slot * (i + 0.5), 1)},{y_of(v)}" for i, v in enumerate(s.values))
            dots = [{"x": round(LEFT + slot * (i + 0.5), 1), "y": y_of(v)} for i, v in enumerate(s.values)]
            chart.shapes.append({"css": s.css, "points": points, "dots": dots if count <= 31 else []})
        else:
            bar_w = slot * 0.8 / len(chart.series)
            rects = [{"x": round(LEFT + slot * i + slot * 0.1 + bar_w * index, 1), "y": y_of(v),
                      "w": round(max(bar_w - 1, 1), 1), "h": round(TOP + plot_h - y_of(v), 1)}
                     for i, v in enumerate(s.values)]
            chart.shapes.append({"css": s.css, "rects": rects})
    return chart
