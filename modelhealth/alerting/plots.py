"""Small PNG plots for incident emails, drawn with matplotlib's object API (no pyplot state,
so it is thread-safe and never opens a window).

Each plot has a ``*_figure`` builder (the figure before it is saved, which tests inspect) and
a ``*_png`` wrapper. Times are UTC, as everywhere in the email, and the axis says so."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

from modelhealth.clock import as_utc

_SIZE = (5.6, 2.2)
_DPI = 90
MAX_BIN_LABELS = 14
"""Bins a histogram labels at most; with more, every k-th bin is labelled (all are drawn)."""
PARTIAL_NOTE = "dashed end: bucket still filling"


@dataclass(frozen=True)
class LatencyMark:
    """What a latency (or score) alert adds to its plot: the rule's line on ``column``
    (``p99``…), when the alert began (``active_at``), fired and resolved, and its value."""

    column: str
    threshold: float | None = None
    value: float | None = None
    active_at: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def human_span(span: timedelta) -> str:
    """``timedelta(hours=1)`` -> ``"1 h"``, 90 min -> ``"90 min"``, 2 days -> ``"2 d"``.

    >>> [human_span(timedelta(minutes=m)) for m in (60, 90, 2880)]
    ['1 h', '90 min', '2 d']
    """
    s = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and s % size == 0:
            return f"{s // size} {unit}"
    return f"{s} s"


def latency_figure(
    ts_ms: Sequence[int] | np.ndarray,
    percentiles: Mapping[str, Sequence[float] | np.ndarray],
    title: str = "latency",
    *,
    step_ms: int | None = None,
    end_ms: int | None = None,
    marks: Sequence[LatencyMark] = (),
    ylabel: str = "latency (ms)",
    unit: str = " ms",
    from_zero: bool = True,
) -> Figure:
    """Latency percentiles over time, e.g. ``{"p50": [...], "p99": [...]}`` (ms); with
    ``ylabel``/``unit`` any bucketed metric (the model score, unit ``""``).

    ``ts_ms`` are bucket starts; a last bucket that ends after ``end_ms`` is still filling
    (it holds fewer requests, so its percentiles are not comparable): its segment is dashed
    with a hollow point. ``marks`` draw each latency alert's threshold line and when it began.
    """
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    ts = np.asarray(ts_ms, dtype=np.int64)
    when = [datetime.fromtimestamp(t / 1000, UTC) for t in ts.tolist()]
    partial = bool(
        step_ms and end_ms is not None and len(ts) and int(ts[-1]) + int(step_ms) > end_ms
    )
    alerting = {m.column for m in marks}
    colors: dict[str, str] = {}
    for name, values in percentiles.items():
        v = np.asarray(values, dtype=float)
        width = 2.0 if name in alerting else 1.2
        full = len(v) - 1 if partial else len(v)
        (line,) = ax.plot(when[:full], v[:full], label=name, linewidth=width)
        colors[name] = line.get_color()
        if partial and len(v) >= 1:
            seg = slice(max(0, full - 1), len(v))
            ax.plot(
                when[seg],
                v[seg],
                linestyle="--",
                linewidth=width,
                color=line.get_color(),
                marker="o",
                markevery=[len(v[seg]) - 1],
                markerfacecolor="white",
                markersize=4,
            )
    for m in marks:
        color = colors.get(m.column, "#d0312d")
        if m.threshold is not None and np.isfinite(m.threshold):
            now = (
                f" (now {m.value:.4g}{unit})"
                if m.value is not None and np.isfinite(m.value)
                else ""
            )
            ax.axhline(
                m.threshold,
                color=color,
                linestyle=":",
                linewidth=1.4,
                label=f"{m.column} threshold {m.threshold:.4g}{unit}{now}",
            )
        began = m.active_at or m.fired_at
        if began is not None:
            began = as_utc(began)
            ax.axvline(began, color="#d0312d", linewidth=1.0, alpha=0.8)
            ax.axvspan(
                began,
                as_utc(m.resolved_at) if m.resolved_at else when[-1] if when else began,
                color="#d0312d",
                alpha=0.07,
                linewidth=0,
            )
            ax.annotate(
                f"since {began:%H:%M}",
                (began, 0.02),
                xycoords=("data", "axes fraction"),
                xytext=(3, 0),
                textcoords="offset points",
                va="bottom",
                fontsize=7,
                color="#d0312d",
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        if m.resolved_at is not None:
            ended = as_utc(m.resolved_at)
            ax.axvline(ended, color="#2e8b57", linewidth=1.0)
            ax.annotate(
                f"resolved {ended:%H:%M}",
                (ended, 0.98),
                xycoords=("data", "axes fraction"),
                xytext=(-3, 0),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize=7,
                color="#2e8b57",
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            )
    if marks and when:  # keep an alert's start in view even if it predates the data
        starts = [as_utc(m.active_at or m.fired_at) for m in marks if m.active_at or m.fired_at]
        lo = min([when[0], *starts])
        ax.set_xlim(lo, when[-1] + timedelta(milliseconds=int(step_ms or 0)))
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=7)
    ax.set_xlabel("time (UTC)" + (f"; {PARTIAL_NOTE}" if partial else ""), fontsize=7)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=UTC))
    if from_zero:  # latency is never negative (a model score may be)
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    # below the plot, so it never hides the data (or the threshold) it explains
    ax.legend(
        fontsize=6,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        frameon=False,
        ncols=max(1, min(4, len(ax.get_legend_handles_labels()[0]))),
    )
    return fig


def latency_png(
    ts_ms: Sequence[int] | np.ndarray,
    percentiles: Mapping[str, Sequence[float] | np.ndarray],
    title: str = "latency",
    **kw: object,
) -> bytes:
    """:func:`latency_figure` as PNG bytes."""
    return png_bytes(latency_figure(ts_ms, percentiles, title, **kw))  # type: ignore[arg-type]


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf"


def _g(text: str) -> str:
    """3 significant digits, small numbers as ``1.61e-4`` (not ``0.000161``)."""
    x = float(text)
    short = f"{x:.3g}"
    if "e" not in short and x != 0 and abs(x) < 1e-3:
        mantissa, exp = f"{x:.2e}".split("e")
        short = f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"
    return short


def short_bin_label(label: str, limit: int = 14) -> str:
    """A bin label readable under a bar: numbers to 3 significant digits, ``[a,b)`` as
    ``a–b``; other (categorical) labels cut to ``limit`` characters.

    >>> [short_bin_label(t) for t in ("[0.00043,0.01711)", ">=59.39123", "x" * 20)]
    ['4.3e-4–0.0171', '≥59.4', 'xxxxxxxxxxxxx…']
    """
    m = re.fullmatch(rf"\[({_NUM}),({_NUM})\)", label)
    if m:
        return f"{_g(m[1])}–{_g(m[2])}"
    m = re.fullmatch(rf"(<|>=|>|=)({_NUM})", label)
    if m:
        return {">=": "≥"}.get(m[1], m[1]) + _g(m[2])
    return label if len(label) <= limit else label[: limit - 1] + "…"


def histogram_figure(
    bin_labels: Sequence[str],
    current: Sequence[float] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
    title: str,
) -> Figure:
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
    every = max(1, -(-len(x) // MAX_BIN_LABELS))
    shown = x[::every]
    ax.set_xticks(
        shown,
        [short_bin_label(str(bin_labels[i])) for i in shown],
        rotation=40,
        ha="right",
        rotation_mode="anchor",
        fontsize=6,
    )
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("share of values", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return fig


def histogram_png(
    bin_labels: Sequence[str],
    current: Sequence[float] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
    title: str,
) -> bytes:
    """:func:`histogram_figure` as PNG bytes."""
    return png_bytes(histogram_figure(bin_labels, current, reference, title))
