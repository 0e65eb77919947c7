"""Table sparklines drawn as small SVG images, so a bucket without data is a gap in the line.

Streamlit's ``LineChartColumn`` (1.67) cannot draw a gap: any null or NaN in a cell's list
replaces the whole sparkline with the raw numbers and an error marker, so the pages used to
write 0 for a bucket without data, and an outage read as "no drift" or "0 ms latency". An
``ImageColumn`` shows any image URL, a ``data:`` URL included: each cell's line is drawn here
as one polyline per run of values, broken where a value is missing, as the charts above the
tables break theirs.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

WIDTH, HEIGHT, PAD = 120.0, 28.0, 2.0
COLUMN_WIDTH = 140
"""Pixels of a table column showing these sparklines. The table draws an image at the row's
height and clips what does not fit the column: at Streamlit's default width only the left
two thirds of a line showed, so the latest hours (a latency spike at the right end) were cut
off and the trend read flat. A line is ``WIDTH`` wide at the row height; this leaves padding."""
COLOUR = "#ff4b4b"
"""Streamlit's own sparkline colour, so the column looks like the line charts it replaced."""


def trend_values(series: pd.DataFrame, buckets: np.ndarray) -> dict[str, list[float]]:
    """Each feature's drift value (``ts feature value`` rows) in every bucket of
    ``buckets``, NaN where it has none.

    A bucket the store has no row for (an outage) becomes a NaN, drawn as a break in the
    line: Streamlit's ``LineChartColumn`` (1.67) cannot draw a gap (a NaN shows an error
    marker), and writing 0 there drew an outage as "no drift"."""
    if series.empty:
        return {}
    grid = series.pivot_table(
        index="ts", columns="feature", values="value", aggfunc="first", dropna=False
    )
    grid = grid.reindex(np.union1d(np.asarray(buckets, dtype=np.int64), grid.index))
    return {str(f): grid[f].to_numpy(dtype=np.float64).tolist() for f in grid.columns}


def runs(values: Sequence[float]) -> list[list[tuple[int, float]]]:
    """The ``(index, value)`` runs of consecutive finite values: each is drawn unbroken."""
    out: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, v in enumerate(values):
        if v is not None and math.isfinite(v):
            current.append((i, float(v)))
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def spark_svg(values: Sequence[float]) -> str | None:
    """An SVG sparkline of ``values`` (NaN or None: a gap) as a ``data:`` URL, or None when
    no value is finite (the table shows its placeholder instead of an empty frame)."""
    parts = runs(values)
    if not parts:
        return None
    finite = [v for run in parts for _, v in run]
    lo, hi = min(finite), max(finite)
    span = hi - lo
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)

    def y(v: float) -> float:
        if span == 0:
            return HEIGHT / 2
        return HEIGHT - PAD - (v - lo) / span * (HEIGHT - 2 * PAD)

    shapes = []
    for run in parts:
        points = " ".join(f"{PAD + i * step:.1f},{y(v):.1f}" for i, v in run)
        if len(run) == 1:  # a lone bucket between two gaps: a dot, or it would not show
            i, v = run[0]
            shapes.append(f'<circle cx="{PAD + i * step:.1f}" cy="{y(v):.1f}" r="1.5" '
                          f'fill="{COLOUR}"/>')  # fmt: skip
        else:
            shapes.append(
                f'<polyline points="{points}" fill="none" stroke="{COLOUR}" '
                'stroke-width="1.5" stroke-linejoin="round"/>'
            )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0f}" height="{HEIGHT:.0f}" '
        f'viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}">{"".join(shapes)}</svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def svg_of(url: str) -> str:
    """The SVG text of a :func:`spark_svg` URL (tests and debugging read the drawn shapes)."""
    return base64.b64decode(url.split(",", 1)[1]).decode()
