"""Charts drawn on the server (pure): bar geometry for an SVG the templates render element by
element, so a chart needs no script and carries no markup built from strings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

CHART_WIDTH = 600
CHART_HEIGHT = 120
AXIS_MARGIN = 18  # room under the bars for the first and last labels


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the tooltip: "2026-12-01: 4"
    marked: bool  # drawn in the accent colour (a day of unusual growth)


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    first_label: str
    last_label: str
    peak: int


def bar_chart(
    labels: Sequence[str],
    counts: Sequence[int],
    marked: Sequence[bool] | None = None,
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
) -> BarChart:
    """Bars scaled to the largest count (an all-zero series draws empty slots)."""
    peak = max(counts, default=0)
    plot = height - AXIS_MARGIN
    slot = width / max(len(counts), 1)
    flags = marked if marked is not None else [False] * len(counts)
    bars = tuple(
        Bar(
            x=round(i * slot + slot * 0.1, 2),
            y=round(plot - (plot * count / peak if peak else 0), 2),
            width=round(slot * 0.8, 2),
            height=round(plot * count / peak if peak else 0, 2),
            label=f"{label}: {count}",
            marked=bool(flag),
        )
        for i, (label, count, flag) in enumerate(zip(labels, counts, flags, strict=True))
    )
    return BarChart(
        width, height, bars, labels[0] if labels else "", labels[-1] if labels else "", peak
    )


def hour_buckets(times: Sequence[datetime]) -> tuple[list[str], list[int]]:
    """Times counted per hour from the first to the last (per day when that spans over 72 hours)."""
    if not times:
        return [], []
    first, last = min(times), max(times)
    per_day = (last - first).total_seconds() > 72 * 3600
    step = 86_400 if per_day else 3_600
    start = first.replace(minute=0, second=0, microsecond=0)
    if per_day:
        start = start.replace(hour=0)
    slots = int((last - start).total_seconds() // step) + 1
    counts = [0] * slots
    for t in times:
        counts[int((t - start).total_seconds() // step)] += 1
    fmt = "%Y-%m-%d" if per_day else "%m-%d %H:00"
    labels = [
        datetime.fromtimestamp(start.timestamp() + i * step, tz=start.tzinfo).strftime(fmt)
        for i in range(slots)
    ]
    return labels, counts


@dataclass(frozen=True, slots=True)
class Sparkline:
    """A small line chart: one polyline, with dots on the marked points."""

    width: int
    height: int
    points: str  # "x,y x,y …" for <polyline points>
    marks: tuple[tuple[float, float, str], ...]  # (x, y, tooltip) of each marked point
    peak: int


def sparkline(
    labels: Sequence[str],
    counts: Sequence[int],
    marked: Sequence[bool],
    width: int = 300,
    height: int = 60,
) -> Sparkline:
    """Counts as a line scaled to the largest, leaving a pixel of margin for the stroke."""
    peak = max(counts, default=0)
    step = (width - 2) / max(len(counts) - 1, 1)

    def point(i: int, count: int) -> tuple[float, float]:
        y = height - 1 - ((height - 2) * count / peak if peak else 0)
        return round(1 + i * step, 1), round(y, 1)

    coords = [point(i, c) for i, c in enumerate(counts)]
    marks = tuple(
        (*coords[i], f"{labels[i]}: {counts[i]}") for i, flag in enumerate(marked) if flag
    )
    return Sparkline(width, height, " ".join(f"{x},{y}" for x, y in coords), marks, peak)
