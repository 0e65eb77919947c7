"""Model page: latency percentiles, QPS, score distribution and the feature table of a model.

The walking skeleton's first page grew into this one; every chart is one aggregate query over
the chosen range (cached), and the feature table is two queries however many features: the
summary, and one bucketed histogram scan that feeds both the drift column and its sparklines.
The Quality section adds one query (predictions joined to labels) to the score chart's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import streamlit as st

from modelhealth.dashboard import charts
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.quality import FEW_LABELS, SCORED, WAITING, label_delay_of, quality
from modelhealth.dashboard.sources import load_configs
from modelhealth.dashboard.sparks import COLUMN_WIDTH, spark_svg, trend_values
from modelhealth.dashboard.text import MISSING, plain
from modelhealth.drift.metrics import DRIFT_METRICS, LOWER_IS_DRIFT
from modelhealth.ingestion.reference import FeatureReference, ModelReference
from modelhealth.rules.durations import format_duration
from modelhealth.rules.metrics import MIN_LABELS
from modelhealth.store.backend import Scope

ALL = "(all)"
SPARK_POINTS = 24


@dataclass(frozen=True)
class Filters:
    version: str | None
    host: str | None


def filters(ctx: PageContext, model: str) -> Filters:
    c1, c2, c3 = st.columns([1, 1, 2])
    versions = ctx.queries.versions(model)
    version = c1.selectbox("Version", [ALL, *versions], key="model_version")
    hosts = ctx.queries.hosts(model)
    if hosts:
        host = c2.selectbox("Host", [ALL, *hosts], key="model_host")
    else:
        host = c2.text_input("Host (exact name)", "", key="model_host_text").strip() or ALL
    c3.caption(f"{ctx.window.label()}")
    return Filters(None if version == ALL else version, None if host == ALL else host)


def feature_table(
    ctx: PageContext, scope: Scope, ref: ModelReference | None, metric: str
) -> pd.DataFrame:
    """Per feature: drift vs the reference, null rate, min/max/mean, drift sparkline.

    min/max/mean are numeric statistics: a categorical feature has none (NaN), which the
    table shows as its placeholder, not as "None". The sparkline is an SVG ``data:`` URL
    (:mod:`modelhealth.dashboard.sparks`) with a gap at each complete bucket without data."""
    q, w = ctx.queries, ctx.window
    summary = q.feature_summary(scope)
    if summary.empty:
        return pd.DataFrame()
    out = pd.DataFrame(
        {
            "feature": summary["feature"],
            "kind": summary["kind"],
            "count": summary["count"],
            "null rate": summary["nulls"] / summary["count"].where(summary["count"] > 0),
            "min": summary["min"],
            "max": summary["max"],
            "mean": summary["mean"],
        }
    )
    if ref is None:
        out["drift"] = np.nan
        out["drift trend"] = None
        return out.sort_values("feature", ignore_index=True)
    key = ctx.reference_keys.get(scope.model, scope.model)
    step = max(w.step_ms, (w.end_ms - w.start_ms) // SPARK_POINTS)
    table, series = q.profile_drift(scope, ref, key, metric, step)
    drift = table.set_index("feature")["value"]  # the whole window: more data, no distortion
    out["drift"] = out["feature"].map(drift).astype("float64")
    kept = charts.complete_buckets(series, step, w.start_ms, w.data_end_ms)
    spark = trend_values(kept, w.complete_buckets(step))
    out["drift trend"] = out["feature"].map(lambda f: spark_svg(spark.get(f, [])))
    ascending = metric in LOWER_IS_DRIFT
    return out.sort_values("drift", ascending=ascending, na_position="last", ignore_index=True)


@dataclass(frozen=True)
class HistogramSides:
    """A feature's bars over the reference's, and the store bins the reference lacks."""

    labels: list[str]
    sides: dict[str, np.ndarray]
    unknown_bins: list[int]


def reference_sides(hist: pd.DataFrame, fref: FeatureReference) -> HistogramSides:
    """The current counts per bin beside the reference's, over every bin either one holds.

    A store bin at or past the reference's bin count (a reference file older than the SDK's
    binning, which now adds an overflow bin above the training max) is kept, labelled from
    the store, with a reference share of 0: dropping it hid exactly the data that drifted."""
    grouped = hist.groupby("bin", as_index=False).agg(
        count=("count", "sum"), label=("label", "first")
    )
    top = int(grouped["bin"].max()) + 1 if len(grouped) else 0
    n = max(fref.n_bins, top)
    cur = np.zeros(n)
    np.add.at(cur, grouped["bin"].to_numpy(dtype=np.int64), grouped["count"].to_numpy(dtype=float))
    ref = np.zeros(n)
    ref[: len(fref.counts)] = np.asarray(fref.counts, dtype=float)
    store_labels = dict(zip(grouped["bin"], grouped["label"], strict=True))
    labels = fref.bin_labels() + [
        str(store_labels[b]) if pd.notna(store_labels.get(b)) else f"bin {b}"
        for b in range(fref.n_bins, n)
    ]
    unknown = [int(b) for b in grouped["bin"] if b >= fref.n_bins]
    return HistogramSides(labels, {"current": cur, "baseline (reference)": ref}, unknown)


def bin_mismatch_warning(
    feature: str, fref: FeatureReference, unknown: list[int], path: str
) -> str:
    """Why the histogram has bars the reference does not, and what to do about it."""
    return (
        f"{feature}: the store holds bin(s) {', '.join(map(str, unknown))} but the reference "
        f"{path} defines {fref.n_bins} bins (0-{fref.n_bins - 1}); they are shown with a "
        "reference share of 0. The reference is probably older than the SDK's binning: "
        "regenerate it so drift compares like with like."
    )


def feature_detail(
    ctx: PageContext, scope: Scope, ref: ModelReference | None, feature: str
) -> None:
    hist = ctx.queries.feature_histograms(scope, [feature])
    fref = ref.features.get(feature) if ref is not None else None
    if fref is not None:
        shown = reference_sides(hist, fref)
        labels, sides = shown.labels, shown.sides
        if shown.unknown_bins:
            path = ctx.reference_paths.get(scope.model, f"of model {scope.model}")
            st.warning(plain(bin_mismatch_warning(feature, fref, shown.unknown_bins, path)))
    else:
        grouped = hist.groupby(["bin", "label"], as_index=False)["count"].sum()
        labels = list(grouped["label"])
        sides = {"current": grouped["count"].to_numpy(dtype=float)}
    st.plotly_chart(
        charts.histogram_vs(labels, sides, f"{feature}: current distribution over baseline"),
        width="stretch",
        key="feature_hist",
    )


def quality_section(ctx: PageContext, scope: Scope) -> None:
    """Real-world quality per bucket from the labels that came back (``Monitor.log_outcome``):
    the score per bucket (cached: the score chart's own query) and one ``outcomes`` query."""
    st.subheader("Quality")
    w, q = ctx.window, ctx.queries
    rules = load_configs(ctx.settings.rules_dir).result.rules
    delay = label_delay_of(rules, scope.model)
    found = quality(
        q.score(scope, step_ms=w.step_ms), q.outcomes(scope, step_ms=w.step_ms), scope,
        w.step_ms, ctx.now, label_delay=delay,
    )  # fmt: skip
    if not found.has_labels:
        st.info(
            f"No labels for {plain(scope.model)} in this range: quality (accuracy, AUC, MAE …) "
            "needs the true outcomes sent with `Monitor.log_outcome(model=..., "
            "request_id=..., label=...)`."
        )
        return
    table = found.table
    scored = table[table["status"] == SCORED]
    waiting = int((table["status"] == WAITING).sum())
    few = int((table["status"] == FEW_LABELS).sum())
    cols = st.columns(4)
    cols[0].metric("Labels", f"{int(table['labelled'].sum()):,}")
    for col, name in zip(cols[1:3], found.plotted, strict=True):
        values = scored[name].dropna()
        col.metric(f"{name} (latest scored)", f"{values.iloc[-1]:.3f}" if len(values) else "–")
    cols[3].metric("Buckets waiting for labels", waiting)
    st.plotly_chart(
        charts.quality_lines(
            table, found.plotted, w.step_ms,
            f"Quality ({found.task}) per bucket, and labels in",
        ),
        width="stretch",
        key="quality",
    )  # fmt: skip
    notes = [
        f"{found.task.capitalize()}: labels are "
        + ("all 0/1." if found.task == "classification" else "not all 0/1."),
        f"A bucket is judged {_delay_text(delay)}, with at least {MIN_LABELS} labels (as the "
        "`performance.*` rules judge their windows).",
    ]
    if few:
        notes.append(f"{few} bucket(s) have too few labels to judge.")
    st.caption(" ".join(notes))


def _delay_text(delay: timedelta) -> str:
    if not delay:
        return "once it ends"
    return f"{format_duration(delay)} after it ends (the longest `label_delay:` of its rules)"


def render(ctx: PageContext) -> None:
    st.title(f"Model: {plain(ctx.model)}" if ctx.model else "Model")
    if ctx.model is None:
        st.info("The store holds no models yet.")
        return
    model, w, q = ctx.model, ctx.window, ctx.queries
    f = filters(ctx, model)
    scope = w.scope(model, version=f.version, host=f.host)
    lat = charts.fill_buckets(q.latency(scope, step_ms=w.step_ms), w.buckets())
    total = q.latency(scope)
    n = int(total["count"].iloc[0]) if len(total) else 0
    cols = st.columns(5)
    cols[0].metric("Requests", f"{n:,}")
    cols[1].metric("QPS", f"{n / w.elapsed_s:.2f}" if w.elapsed_s > 0 else "–")
    for col, stat in zip(cols[2:], ("p50", "p90", "p99"), strict=True):
        v = float(total[stat].iloc[0]) if n else float("nan")
        col.metric(f"{stat} latency", f"{v:.1f} ms" if n else "–")
    left, right = st.columns(2)
    left.plotly_chart(charts.latency_lines(lat), width="stretch", key="latency")
    right.plotly_chart(
        charts.qps_line(lat, w.step_ms, w.start_ms, w.data_end_ms), width="stretch", key="qps"
    )
    feat_scope = w.scope(model, version=f.version)  # feature stats carry no host
    ref = ctx.references.get(model)
    left, right = st.columns(2)
    left.plotly_chart(
        charts.score_band(charts.fill_buckets(q.score(scope, step_ms=w.step_ms), w.buckets())),
        width="stretch",
        key="score",
    )
    if ref is not None and ref.score_edges:
        sh = q.score_histogram(scope, ref.score_edges)
        cur = np.zeros(len(ref.score_edges) + 1)
        np.add.at(cur, sh["bin"].to_numpy(), sh["count"].to_numpy())
        labels = charts.score_labels(ref.score_edges)
        right.plotly_chart(
            charts.histogram_vs(
                labels, {"current": cur, "reference": np.asarray(ref.score_counts, float)},
                "Score histogram over the reference",
            ),
            width="stretch",
            key="score_hist",
        )  # fmt: skip
    quality_section(ctx, scope)
    st.subheader("Features")
    if f.host:
        st.caption("Feature statistics are recorded per model version, not per host.")
    metric = st.selectbox("Drift metric", list(DRIFT_METRICS), key="model_drift_metric")
    if ref is None:
        st.caption("No reference profile for this model (set `reference:` in its config).")
    table = feature_table(ctx, feat_scope, ref, metric)
    if table.empty:
        st.info("No feature statistics in this range.")
        return
    event = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "drift": st.column_config.NumberColumn(f"drift ({metric})", format="%.4f"),
            "null rate": st.column_config.NumberColumn(format="percent"),
            "drift trend": st.column_config.ImageColumn(
                "drift trend",
                help="Complete buckets only: the one still filling is left out; a gap is a "
                "bucket without data",
                width=COLUMN_WIDTH,
            ),
        },
        placeholder=MISSING,
        key="feature_table",
    )
    picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    features = list(table["feature"])
    if picked and picked != st.session_state.get("_model_feature_pick"):
        st.session_state["model_feature"] = features[picked[0]]  # a newly clicked row wins
    st.session_state["_model_feature_pick"] = picked
    if st.session_state.get("model_feature") not in features:
        st.session_state["model_feature"] = features[0]
    feature = st.selectbox("Feature", features, key="model_feature")
    feature_detail(ctx, feat_scope, ref, feature)


if __name__ == "__main__":
    render(current())
