"""Shared figure output for the benchmarks: one PNG per run under ``artifacts/benchmarks/``.

Numbers people compare at a glance (throughput of us vs a peer, F1 per detector) are easier
to read as bars than as a table, so each benchmark prints its table *and* saves a chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

OUT = Path("artifacts") / "benchmarks"


def _number(v: float) -> str:
    """A bar's label: three significant digits, thousands written out (12,345 not 1.23e+04)."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def bar_chart(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    ylabel: str = "",
    log: bool = False,
    spread: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> Path:
    """Grouped bars: one group per label, one bar per series; returns the PNG path.

    ``spread``, if given, maps a series to one (low, high) pair per label, drawn as an error
    bar (e.g. the min and max over repeats when the bar is their median).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    OUT.mkdir(parents=True, exist_ok=True)
    width_in = max(5.0, 1.2 * len(labels) + 2, 0.085 * len(title))  # room for the title
    fig, ax = plt.subplots(figsize=(width_in, 3.6), dpi=110)
    x = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for i, (key, values) in enumerate(series.items()):
        yerr = None
        if spread and key in spread:
            lo_hi = np.asarray(spread[key], dtype=float).reshape(-1, 2)
            v = np.asarray(values, dtype=float)
            yerr = np.vstack([v - lo_hi[:, 0], lo_hi[:, 1] - v]).clip(min=0)
        bars = ax.bar(
            x + (i - (len(series) - 1) / 2) * width, values, width, label=key, yerr=yerr, capsize=3
        )
        ax.bar_label(bars, fmt=_number, fontsize=7, padding=1)
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


def series_gallery(
    name: str,
    title: str,
    panels: Sequence[tuple[str, Sequence[float], Sequence[tuple[int, int]], Mapping[str, object]]],
) -> Path:
    """One small panel per series: its values, shaded labelled windows (index ranges) and a
    marker per alert, one colour per alert source; returns the PNG path.

    ``panels``: (panel title, values, windows, {source: alert index array}).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    OUT.mkdir(parents=True, exist_ok=True)
    cols = 2
    rows = max(1, (len(panels) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.1 * rows), dpi=100, squeeze=False)
    colours = ("tab:red", "tab:orange", "tab:purple", "tab:green")
    sources: list[str] = []
    for ax, (label, values, windows, alerts) in zip(axes.flat, panels, strict=False):
        y = np.asarray(values, dtype=float)
        ax.plot(y, lw=0.5, color="tab:blue")
        for a, b in windows:
            ax.axvspan(a, b, color="tab:green", alpha=0.15, lw=0)
        for source, idx in alerts.items():
            if source not in sources:
                sources.append(source)
            at = np.asarray(idx, dtype=int)
            c = colours[sources.index(source) % len(colours)]
            ax.scatter(at, y[at], s=14, color=c, zorder=3, label=source)
        ax.set_title(label, fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=colours[i % len(colours)], label=s)
        for i, s in enumerate(sources)
    ]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="tab:green", alpha=0.15, label="window"))
    fig.legend(handles=handles, loc="upper right", fontsize=7, frameon=False, ncol=len(handles))
    fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path = OUT / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
