"""Plotly figure builders: pure functions from query results to figures.

No Streamlit and no store here, so each chart is unit-tested on a hand-made DataFrame and the
pages stay thin. Time columns arrive as epoch milliseconds and are shown in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from modelhealth.dashboard.text import bin_label
from modelhealth.ingestion.reference import FeatureReference

LATENCY_LINES: tuple[str, ...] = ("mean", "p50", "p75", "p90", "p99")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
SEVERITY_COLOURS = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320, "hovermode": "x unified"}
COUNT_COLUMNS: tuple[str, ...] = ("count", "errors")
"""Columns that are 0 in a bucket without rows; every other statistic has no value there."""
FROM_ZERO = {"rangemode": "tozero"}
"""The y axis of a quantity that cannot be negative (requests per second, latency, error
rates, label counts): plotly's autoscale pads a flat line by 1 either side, so steady
traffic of 0.5 req/s drew an axis from -0.5, and an idle model's 0s one from -1. "tozero"
starts such an axis at 0 (an all-zero line: 0 to 1). Charts whose values can be negative
(a score, a metric's backtest line, a drift change) keep plotly's own range."""
NON_NEGATIVE: frozenset[str] = frozenset({*LATENCY_LINES, "qps", "count", "errors"})
"""The latency and traffic statistics :func:`fleet_lines` draws from :data:`FROM_ZERO`.
:func:`backtest_overlay` and :func:`learned_band` keep plotly's range: their line is any
rule's metric (a score's mean, a predicted band's lower edge) and may be negative."""


def to_time(ms: pd.Series | np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ms, dtype=np.int64), unit="ms", utc=True)


# -- buckets: what the store leaves out (empty buckets) or cannot know yet (the newest) ------


def fill_buckets(df: pd.DataFrame, buckets: np.ndarray) -> pd.DataFrame:
    """One row per bucket start in ``buckets``: the store returns no row for a bucket without
    requests, and a line drawn through the missing rows hides an outage. Counts become 0 there;
    percentiles and means become NaN, which plotly draws as a gap (never interpolated)."""
    if df.empty or "ts" not in df:
        return df
    grid = np.union1d(np.asarray(buckets, dtype=np.int64), df["ts"].to_numpy(dtype=np.int64))
    out = df.set_index("ts").reindex(grid)
    for col in COUNT_COLUMNS:
        if col in out:
            out[col] = out[col].fillna(0).astype(np.int64)
    return out.rename_axis("ts").reset_index()


def covered_seconds(
    ts: pd.Series | np.ndarray, step_ms: int, start_ms: int, end_ms: int
) -> np.ndarray:
    """Seconds of each bucket ``[ts, ts + step_ms)`` inside ``[start_ms, end_ms)``, where
    ``end_ms`` is *now* for a window still filling: the newest bucket has lived only part of
    its length, and an unaligned trend step can cut the oldest one at the window start."""
    t = np.asarray(ts, dtype=np.int64)
    lo, hi = np.maximum(t, start_ms), np.minimum(t + step_ms, end_ms)
    return np.clip(hi - lo, 0, None) / 1000


def per_second(df: pd.DataFrame, step_ms: int, start_ms: int, end_ms: int) -> pd.Series:
    """Requests per second of each bucket over the time it covers (NaN when it covers none).

    Dividing by the full bucket made every chart end in a dive toward 0: at 18:05 the
    18:05-18:10 bucket holds a few seconds of requests, not five minutes'."""
    secs = covered_seconds(df["ts"], step_ms, start_ms, end_ms)
    return df["count"] / pd.Series(secs, index=df.index).where(secs > 0)


def complete_buckets(
    series: pd.DataFrame, step_ms: int, start_ms: int, end_ms: int
) -> pd.DataFrame:
    """The rows whose bucket lies wholly inside ``[start_ms, end_ms)`` (``end_ms`` = now).

    Drift of a bucket still filling compares a handful of requests with the baseline: its
    sparkline point spikes and its heatmap cell counts as a drifted bucket, then both change
    once the bucket completes. As Grafana users know from "hide the incomplete last point",
    such a bucket is left out until it is complete rather than judged as if it were."""
    if series.empty:
        return series
    return series[whole(series["ts"], step_ms, start_ms, end_ms)].reset_index(drop=True)


def whole(ts: pd.Series | np.ndarray, step_ms: int, start_ms: int, end_ms: int) -> np.ndarray:
    """Mask of the buckets starting at ``ts`` that lie wholly inside ``[start_ms, end_ms)``
    (:func:`covered_seconds` gives them their full length)."""
    return covered_seconds(ts, step_ms, start_ms, end_ms) * 1000 >= step_ms


def score_labels(edges: Sequence[float]) -> list[str]:
    """Ranges of the score bins of ``edges``, labelled as a feature's bins are (the training
    max's own bin included), so score histograms read "[0.2,0.4)" rather than bin numbers."""
    return FeatureReference("score", "numeric", edges=tuple(edges)).bin_labels()


def _empty(title: str, note: str = "no data in this range") -> go.Figure:
    fig = go.Figure(layout={**_LAYOUT, "title": title})
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def latency_lines(df: pd.DataFrame, title: str = "Latency (ms)") -> go.Figure:
    """One line per statistic (mean, p50 … p99) over time buckets."""
    if df.empty:
        return _empty(title)
    t = to_time(df["ts"])
    fig = go.Figure(layout={**_LAYOUT, "title": title, "yaxis": {"title": "ms", **FROM_ZERO}})
    for i, col in enumerate(LATENCY_LINES):
        fig.add_scatter(x=t, y=df[col], name=col, mode="lines", line_color=PALETTE[i])
    return fig


MODEL_PALETTE = (*PALETTE, "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
"""Line colours of the fleet charts' models: :data:`PALETTE` and four more (plotly's D3)."""


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """A colour per model by its place in ``models``, for every chart of a page to share.

    The Fleet page's two charts list their models in their own orders (slowest, busiest)
    and coloured each line by its position, so on the demo fraud was red on the p99 chart
    and blue on the QPS chart beside it, where red was churn. Past
    :data:`MODEL_PALETTE`'s ten colours they repeat; the legend names each line."""
    return {m: MODEL_PALETTE[i % len(MODEL_PALETTE)] for i, m in enumerate(models)}


def fleet_lines(
    per_model: Mapping[str, pd.DataFrame],
    stat: str,
    title: str,
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """One line per model of ``stat`` (e.g. p99) over time buckets, coloured by ``colours``
    (default: :func:`model_colours` in ``per_model``'s order); the y axis starts at 0 for a
    statistic that cannot be negative (:data:`NON_NEGATIVE`)."""
    if not per_model or all(df.empty for df in per_model.values()):
        return _empty(title)
    colour = {**model_colours(list(per_model)), **(colours or {})}
    fig = go.Figure(layout={**_LAYOUT, "title": title})
    if stat in NON_NEGATIVE:
        fig.update_yaxes(**FROM_ZERO)
    for model, df in per_model.items():
        fig.add_scatter(
            x=to_time(df["ts"]), y=df[stat], name=model, mode="lines", line_color=colour[model]
        )
    return fig


def qps_line(
    df: pd.DataFrame, step_ms: int, start_ms: int, end_ms: int, title: str = "Requests per second"
) -> go.Figure:
    """Requests per second per bucket, with the error rate on a second axis when non-zero.

    ``[start_ms, end_ms)`` is the time the data can cover (``end_ms`` = now): see
    :func:`per_second`. Pass ``df`` through :func:`fill_buckets` so an outage reads 0."""
    if df.empty:
        return _empty(title)
    t = to_time(df["ts"])
    fig = go.Figure(layout={**_LAYOUT, "title": title, "yaxis": {"title": "req/s", **FROM_ZERO}})
    qps = per_second(df, step_ms, start_ms, end_ms)
    fig.add_scatter(x=t, y=qps, name="qps", mode="lines")
    if "errors" in df and df["errors"].sum() > 0:
        rate = df["errors"] / df["count"].where(df["count"] > 0)
        fig.add_scatter(x=t, y=rate, name="error rate", yaxis="y2", mode="lines")
        fig.update_layout(
            yaxis2={"overlaying": "y", "side": "right", "tickformat": ".1%", **FROM_ZERO}
        )
    return fig


def score_band(df: pd.DataFrame, title: str = "Score distribution") -> go.Figure:
    """Score median and 90th percentile with the min–max envelope, per bucket."""
    if df.empty:
        return _empty(title)
    t = to_time(df["ts"])
    fig = go.Figure(layout={**_LAYOUT, "title": title})
    fig.add_scatter(x=t, y=df["max"], name="max", mode="lines", line={"width": 0})
    fig.add_scatter(
        x=t, y=df["min"], name="min", mode="lines", line={"width": 0}, fill="tonexty",
        fillcolor="rgba(31,119,180,0.15)",
    )  # fmt: skip
    fig.add_scatter(x=t, y=df["p90"], name="p90", mode="lines", line_color=PALETTE[3])
    fig.add_scatter(x=t, y=df["p50"], name="p50", mode="lines", line_color=PALETTE[0])
    fig.add_scatter(x=t, y=df["mean"], name="mean", mode="lines", line={"dash": "dot"})
    return fig


def histogram_vs(
    labels: Sequence[str],
    sides: Mapping[str, np.ndarray],
    title: str,
) -> go.Figure:
    """Grouped bars of each side's share per bin (current over baseline, candidate over
    serving); counts are normalised so windows of different sizes compare.

    The bars keep the stored bin labels as their x values; the axis (and with it the hover
    label, which plotly takes from the tick text) shows them through :func:`bin_label`, so
    the rare-category bin reads "(other categories)" rather than the raw ``__other__``."""
    fig = go.Figure(layout={**_LAYOUT, "title": title, "barmode": "group", "hovermode": "x"})
    for i, (name, counts) in enumerate(sides.items()):
        c = np.asarray(counts, dtype=np.float64)
        total = c.sum()
        share = c / total if total > 0 else c
        fig.add_bar(x=list(labels), y=share, name=name, marker_color=PALETTE[i])
    fig.update_yaxes(tickformat=".0%", title="share")
    shown = [bin_label(label) for label in labels]
    if shown != [str(label) for label in labels]:
        fig.update_xaxes(tickmode="array", tickvals=list(labels), ticktext=shown)
    return fig


def drift_heatmap(
    series: pd.DataFrame,
    metric: str,
    features: Sequence[str],
    buckets: np.ndarray | None = None,
) -> go.Figure:
    """Features (rows, in the given order from the top) × time buckets, coloured by drift.

    The pages pass the most drifted feature first, as their tables list it: drawn bottom-up
    it sat under the least drifted, and with 40 rows it was below the fold.

    ``buckets`` (bucket starts) adds an empty column for each bucket without data, so an
    outage is a blank band rather than its neighbours' cells stretched over it. Cells the
    series marks ``few`` (``dashboard.cells``: fewer values than the drift rules judge) get
    no drift colour but a grey "too few rows" cell whose hover text says why."""
    title = f"Drift ({metric}) per feature and time bucket"
    if series.empty or not features:
        return _empty(title)
    few = series["few"].astype(bool) if "few" in series else pd.Series(False, series.index)
    cols = np.asarray(np.sort(series["ts"].unique()), dtype=np.int64)
    if buckets is not None:
        cols = np.union1d(np.asarray(buckets, dtype=np.int64), cols)
    grid = _cells(series.assign(value=series["value"].where(~few)), "value", features, cols)
    x, y = to_time(cols), list(grid.index)
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(), x=x, y=y, colorscale="YlOrRd", colorbar={"title": metric},
            hoverongaps=False, name=metric,
        ),
        layout={**_LAYOUT, "title": title, "height": max(320, 22 * len(features) + 120)},
    )  # fmt: skip
    if few.any():
        sparse = series[few].assign(one=1.0)
        fig.add_heatmap(
            z=_cells(sparse, "one", features, cols).to_numpy(), x=x, y=y,
            text=_cells(sparse, "why", features, cols).fillna("").to_numpy(),
            colorscale=[[0, FEW_FILL], [1, FEW_FILL]], showscale=False, hoverongaps=False,
            name=FEW_NAME, hovertemplate="%{y}<br>%{x}<br>%{text}<extra>" + FEW_NAME + "</extra>",
        )  # fmt: skip
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(autorange="reversed")  # plotly draws the first row at the bottom
    return fig


FEW_FILL = "#d9d9d9"
FEW_NAME = "too few rows"


def _cells(
    series: pd.DataFrame, column: str, features: Sequence[str], cols: np.ndarray
) -> pd.DataFrame:
    """``column`` of ``series`` as a ``features`` × ``cols`` (bucket starts) grid."""
    grid = series.pivot_table(
        index="feature", columns="ts", values=column, aggfunc="first", dropna=False
    )
    return grid.reindex(index=list(features), columns=cols)


def canary_latency(
    df: pd.DataFrame,
    serving: str,
    candidate: str,
    buckets: np.ndarray,
    stats: Sequence[str] = ("p50", "p99"),
) -> go.Figure:
    """Latency percentiles of the candidate (dashed) beside the serving version (solid).

    Each version's line breaks at the ``buckets`` where that version served nothing, as the
    Model page's does: a candidate taken out of rotation for an hour must not read as an hour
    at the latency of the buckets either side."""
    title = f"Latency: {candidate} (candidate) vs {serving} (serving)"
    if df.empty:
        return _empty(title)
    fig = go.Figure(layout={**_LAYOUT, "title": title, "yaxis": {"title": "ms", **FROM_ZERO}})
    parts = {
        v: fill_buckets(df[df["version"] == v].drop(columns="version"), buckets)
        for v in (serving, candidate)
    }
    for i, stat in enumerate(stats):
        for version, dash in ((serving, "solid"), (candidate, "dash")):
            part = parts[version]
            fig.add_scatter(
                x=to_time(part["ts"]), y=part[stat], name=f"{version} {stat}", mode="lines",
                line={"dash": dash, "color": PALETTE[i]},
            )  # fmt: skip
    return fig


def timeline_row(inc: pd.DataFrame) -> pd.Series:
    """Each incident's timeline row: ``model version / alert [feature]`` ("fraud v3 /
    p99-latency"), the version and feature only where the alert has them. Without the
    version two versions' alerts of a ``group_by: [version]`` rule shared one row, and the
    row did not say which version paged."""
    version = inc["version"].map(lambda v: f" {v}" if isinstance(v, str) and v else "")
    tag = inc["feature"].map(lambda f: f" [{f}]" if isinstance(f, str) and f else "")
    return inc["model"] + version + " / " + inc["alertname"] + tag


def incident_timeline(
    inc: pd.DataFrame, title: str = "Incidents", span: tuple[int, int] | None = None
) -> go.Figure:
    """One bar per alert episode (active → resolved or now), a row per alert and feature.

    ``span`` (epoch ms) is the page's time range: the x axis shows it, as every other
    chart does, with an episode that began before it cut at its left edge."""
    if inc.empty:
        return _empty(title, "no incidents in this range" if span else "no incidents recorded")
    rows = inc.assign(row=timeline_row(inc))
    fig = go.Figure(layout={**_LAYOUT, "title": title, "hovermode": "closest"})
    for sev, part in rows.groupby("severity", sort=True):
        duration_ms = (part["end"] - part["start"]).dt.total_seconds() * 1000
        fig.add_bar(
            base=part["start"], x=duration_ms.clip(lower=60_000), y=part["row"], orientation="h",
            name=str(sev), marker_color=SEVERITY_COLOURS.get(str(sev), PALETTE[4]),
            customdata=np.stack([part["state"], part["summary"]], axis=-1),
            hovertemplate="%{y}<br>%{base} for %{x}ms<br>%{customdata[0]}: %{customdata[1]}",
        )  # fmt: skip
    fig.update_xaxes(type="date")
    if span is not None:
        fig.update_xaxes(range=list(to_time(list(span))))
    fig.update_layout(height=max(320, 26 * rows["row"].nunique() + 120), barmode="overlay")
    return fig


def backtest_overlay(
    metric: pd.DataFrame, column: str, firings: pd.DataFrame, title: str
) -> go.Figure:
    """The plotted history of ``column`` with the spans where rules would have fired shaded.

    ``firings`` has columns ``rule start end`` (datetimes, end exclusive)."""
    fig = go.Figure(layout={**_LAYOUT, "title": title}) if not metric.empty else _empty(title)
    if not metric.empty:
        fig.add_scatter(x=to_time(metric["ts"]), y=metric[column], name=column, mode="lines")
    for i, (rule, part) in enumerate(firings.groupby("rule", sort=True)):
        colour = PALETTE[(i + 3) % len(PALETTE)]
        for _, r in part.iterrows():
            fig.add_vrect(x0=r["start"], x1=r["end"], fillcolor=colour, opacity=0.18, line_width=0)
        fig.add_scatter(
            x=[part["start"].iloc[0]], y=[None], name=f"fires: {rule}", mode="markers",
            marker={"color": colour, "symbol": "square"},
        )  # fmt: skip
    return fig


def learned_band(df: pd.DataFrame, title: str) -> go.Figure:
    """One learned-rule instance: value, the predicted band (lower–upper, expected dashed) and
    alert markers whose hover text names the rule that raised each.

    ``df`` has columns ``ts value expected lower upper alert why`` (``dashboard.learned``)."""
    if df.empty:
        return _empty(title)
    t = to_time(df["ts"])
    fig = go.Figure(layout={**_LAYOUT, "title": title})
    fig.add_scatter(x=t, y=df["upper"], name="upper", mode="lines", line_width=0, showlegend=False)
    fig.add_scatter(
        x=t, y=df["lower"], name="expected band", mode="lines", line_width=0, fill="tonexty",
        fillcolor="rgba(31,119,180,0.18)",
    )  # fmt: skip
    fig.add_scatter(
        x=t, y=df["expected"], name="expected", mode="lines",
        line={"color": PALETTE[0], "dash": "dash", "width": 1},
    )  # fmt: skip
    fig.add_scatter(x=t, y=df["value"], name="value", mode="lines", line_color=PALETTE[1])
    hits = df[df["alert"].astype(bool)]
    if len(hits):
        fig.add_scatter(
            x=to_time(hits["ts"]), y=hits["value"], name="alert", mode="markers",
            marker={"color": SEVERITY_COLOURS["critical"], "size": 9}, text=hits["why"],
            hovertemplate="%{text}<extra>alert</extra>",
        )  # fmt: skip
    return fig


WAITING_FILL = "rgba(128,128,128,0.15)"


def quality_lines(
    table: pd.DataFrame, metrics: Sequence[str], step_ms: int, title: str = "Quality"
) -> go.Figure:
    """Quality metrics per bucket (lines) over the labels that came back (bars, right axis).

    ``table`` is a :func:`modelhealth.dashboard.quality.quality` table (``ts labelled status``
    and the metric columns). Buckets still waiting for their labels are shaded grey and
    their metrics left out; buckets judged on too few labels have none either (a gap)."""
    if table.empty:
        return _empty(title)
    t = to_time(table["ts"])
    fig = go.Figure(layout={**_LAYOUT, "title": title})
    fig.add_bar(
        x=t, y=table["labelled"], name="labels", yaxis="y2", marker_color="rgba(31,119,180,0.25)",
        customdata=table["status"], hovertemplate="%{y} labels (%{customdata})<extra></extra>",
    )  # fmt: skip
    for i, metric in enumerate(metrics):
        if metric in table:
            fig.add_scatter(
                x=t, y=table[metric], name=metric, mode="lines+markers",
                line_color=PALETTE[(i + 1) % len(PALETTE)],
            )  # fmt: skip
    waiting = table[table["status"] == "waiting"]
    if len(waiting):
        lo, hi = int(waiting["ts"].min()), int(waiting["ts"].max()) + step_ms
        fig.add_vrect(
            x0=to_time([lo])[0], x1=to_time([hi])[0], fillcolor=WAITING_FILL, line_width=0,
            annotation_text="waiting for labels", annotation_position="top left",
        )  # fmt: skip
        fig.add_scatter(
            x=[t[0]], y=[None], name="waiting for labels", mode="markers",
            marker={"color": WAITING_FILL, "symbol": "square", "size": 12},
        )  # fmt: skip
    fig.update_layout(
        yaxis={"title": ", ".join(metrics)},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "title": "labels",
            "showgrid": False,
            **FROM_ZERO,
        },
        barmode="overlay",
    )
    return fig
