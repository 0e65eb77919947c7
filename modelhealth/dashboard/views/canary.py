"""Canary page: a candidate version's latency, score and features beside the serving one's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from modelhealth.dashboard import charts
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.fleetdata import fleet_latency
from modelhealth.dashboard.text import MISSING, plain
from modelhealth.drift.metrics import DRIFT_METRICS


def version_table(ctx: PageContext, versions: list[str]) -> pd.DataFrame:
    """Per version over the range: requests, share, latency percentiles, score mean."""
    assert ctx.model is not None
    lat = ctx.queries.latency(ctx.window.scope(ctx.model), by_version=True)
    lat = lat[lat["version"].isin(versions)].copy()
    lat["share"] = lat["count"] / lat["count"].sum()
    score = {
        v: ctx.queries.score(ctx.window.scope(ctx.model, version=v))["mean"].iloc[0]
        for v in lat["version"]
    }
    lat["score mean"] = lat["version"].map(score)
    cols = ["version", "count", "share", "errors", "p50", "p90", "p99", "score mean"]
    return lat[cols].sort_values("count", ascending=False, ignore_index=True)


# Headers of the version table: the latency percentiles are milliseconds, and a bare "p99"
# beside "count" and "share" left the reader to guess (seconds? ms?). The data keeps its
# column names; only the headers carry the unit.
VERSION_COLUMNS = {
    "count": st.column_config.NumberColumn("requests", format="%d"),
    "share": st.column_config.NumberColumn("share of requests", format="percent"),
    "errors": st.column_config.NumberColumn("errors", format="%d"),
    **{
        stat: st.column_config.NumberColumn(f"{stat} latency (ms)", format="%.1f")
        for stat in ("p50", "p90", "p99")
    },
}


# Models the single-version hint names at most; the rest are counted. At 1,000 models the
# hint was a paragraph of names. Without the fleet query (Pinot) it asks at most
# MAX_MODELS_ASKED models, one cached query each. (Comments, not docstrings: Streamlit's
# magic writes a page's bare strings.)
MAX_NAMED = 10
MAX_MODELS_ASKED = 200


def canary_models(ctx: PageContext, exclude: str) -> list[str]:
    """The models but ``exclude`` that served two or more versions in the range, sorted.

    One store query for the fleet (it asked one ``versions`` query per model), and versions
    that served in the range, not ever: a model whose canary ended last week opened on the
    same "a canary needs two" note."""
    q, w = ctx.queries, ctx.window
    others = [m for m in q.models() if m != exclude]
    if not q.has("fleet_latency"):
        others = others[:MAX_MODELS_ASKED]
    if not others:
        return []
    lat = fleet_latency(q, others, w.start_ms, w.end_ms, by_version=True)
    served = lat[lat["count"] > 0].groupby("model")["version"].nunique()
    return sorted(str(m) for m in served[served >= 2].index)


def _elsewhere(ctx: PageContext, model: str) -> str:
    """ " Models with two or more versions in this range: ...", or "": the page opens on the
    sidebar's model, often one that never had a canary, and said only that, leaving the user
    to try every model in turn."""
    shown = canary_models(ctx, model)
    if not shown:
        return ""
    named = ", ".join(shown[:MAX_NAMED])
    if len(shown) > MAX_NAMED:
        named += f" and {len(shown) - MAX_NAMED:,} more"
    return (
        f" Models with two or more versions in this range: {plain(named)}"
        " (pick one under Model in the sidebar)."
    )


def render(ctx: PageContext) -> None:
    st.title(f"Canary: {plain(ctx.model)}" if ctx.model else "Canary")
    if ctx.model is None:
        st.info("The store holds no models yet.")
        return
    model, w, q = ctx.model, ctx.window, ctx.queries
    table = version_table(ctx, q.versions(model))
    if len(table) < 2:
        st.info(
            f"{plain(model)} served a single version in this range "
            f"({plain(', '.join(table['version']) or 'none')}); a canary needs two."
            + _elsewhere(ctx, model)
        )
        return
    by_traffic = list(table["version"])
    c1, c2, c3 = st.columns(3)
    serving = c1.selectbox("Serving version", by_traffic, index=0, key="canary_serving")
    others = [v for v in by_traffic if v != serving]
    candidate = c2.selectbox("Candidate version", others, index=0, key="canary_candidate")
    metric = c3.selectbox("Drift metric", list(DRIFT_METRICS), key="canary_metric")
    st.dataframe(
        table[table["version"].isin([serving, candidate])],
        hide_index=True,
        width="stretch",
        column_config=VERSION_COLUMNS,
        placeholder=MISSING,
        key="canary_versions",
    )
    lat = q.latency(w.scope(model), step_ms=w.step_ms, by_version=True)
    st.plotly_chart(
        charts.canary_latency(lat, serving, candidate, w.buckets()),
        width="stretch",
        key="canary_lat",
    )
    ref = ctx.references.get(model)
    left, right = st.columns(2)
    if ref is not None and ref.score_edges:
        sides = {}
        for v in (serving, candidate):
            sh = q.score_histogram(w.scope(model, version=v), ref.score_edges)
            counts = np.zeros(len(ref.score_edges) + 1)
            np.add.at(counts, sh["bin"].to_numpy(), sh["count"].to_numpy())
            sides[v] = counts
        labels = charts.score_labels(ref.score_edges)
        left.plotly_chart(
            charts.histogram_vs(labels, sides, "Score distribution (reference score bins)"),
            width="stretch",
            key="canary_score",
        )
    drift = q.version_drift(w.scope(model, version=candidate), serving, metric)
    drift = drift.sort_values("rank")[["feature", "value", "drifted"]]
    right.markdown(f"**Feature drift of {candidate} vs {serving}** ({metric})")
    right.dataframe(drift, hide_index=True, width="stretch", key="canary_drift")
    if drift.empty:
        return
    feature = st.selectbox("Feature", list(drift["feature"]), key="canary_feature")
    hist = q.feature_histograms(w.scope(model), [feature], by_version=True)
    hist = hist[hist["version"].isin([serving, candidate])]
    bins = sorted(hist["bin"].unique())
    labels_by_bin = dict(zip(hist["bin"], hist["label"], strict=False))
    sides = {
        v: hist[hist["version"] == v].set_index("bin")["count"].reindex(bins, fill_value=0)
        .to_numpy(dtype=float)
        for v in (serving, candidate)
    }  # fmt: skip
    st.plotly_chart(
        charts.histogram_vs([labels_by_bin[b] for b in bins], sides, f"{feature} by version"),
        width="stretch",
        key="canary_feature_hist",
    )


if __name__ == "__main__":
    render(current())
