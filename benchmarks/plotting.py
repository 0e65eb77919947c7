"""Shared figure output for the benchmarks: one PNG per run under ``artifacts/benchmarks/``.

Numbers people compare at a glance (throughput of us vs a peer, F1 per detector) are easier
to read as bars than as a table, so each benchmark prints its table *and* saves a chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

OUT = Path("artifacts") / "benchmarks"


def bar_chart(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    ylabel: str = "",
    log: bool = False,
) -> Path:
    """Grouped bars: one group per label, one bar per series; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    OUT.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(labels) + 2), 3.6), dpi=110)
    x = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for i, (key, values) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=key)
        ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
    ax.set_xticks(x, labels, rotation=15, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=8)
    if log:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend(fontsize=7, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = OUT / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
