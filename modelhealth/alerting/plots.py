"""Small PNG plots for incident emails, drawn with matplotlib's object API (no pyplot state,
so it is thread-safe and never opens a window)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

_SIZE = (5.6, 2.2)
_DPI = 90


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def latency_png(
    ts_ms: Sequence[int] | np.ndarray,
    percentiles: Mapping[str, Sequence[float] | np.ndarray],
    title: str = "latency (ms)",
) -> bytes:
    """Line plot of latency percentiles over time, e.g. ``{"p50": [...], "p99": [...]}``."""
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    when = [datetime.fromtimestamp(t / 1000, UTC) for t in np.asarray(ts_ms).tolist()]
    for name, values in percentiles.items():
        ax.plot(when, np.asarray(values, dtype=float), label=name, linewidth=1.4)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncols=max(1, len(percentiles)))
    return _png(fig)


def histogram_png(
    bin_labels: Sequence[str],
    current: Sequence[float] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
    title: str,
) -> bytes:
    """Side-by-side bars of the current vs reference share of each bin (both normalised)."""
    cur = np.asarray(current, dtype=float)
    ref = np.asarray(reference, dtype=float)
    cur = cur / cur.sum() if cur.sum() > 0 else cur
    ref = ref / ref.sum() if ref.sum() > 0 else ref
    x = np.arange(len(bin_labels))
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    ax.bar(x - 0.2, ref, width=0.4, label="reference", color="#9aa5b1")
    ax.bar(x + 0.2, cur, width=0.4, label="current", color="#d0312d")
    ax.set_xticks(x, [str(b) for b in bin_labels], rotation=35, ha="right", fontsize=6)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
