"""Canary page: a candidate version's latency, score and features beside the serving one's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from modelhealth.clock import from_epoch_ms
from modelhealth.dashboard import charts
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.fleetdata import fleet_latency
from modelhealth.dashboard.text import MISSING, plain
from modelhealth.drift.metrics import DRIFT_METRICS
from modelhealth.store.backend import Scope

# The recent columns of the version table cover the window the model's latency.p99 rules
# judge (the longest, when several judge the two versions: a 5-minute p99 of a 20% canary is
# the worst of 60 requests), else this much: a whole-range p99 hid a candidate at 350 ms for
# its last half hour behind 22.7 ms over 24 h.
RECENT_DEFAULT = timedelta(hours=1)
P99_METRIC = "latency.p99"
# A candidate is flagged when its recent p99 is at least this many times the serving one's,
# both over at least MIN_RECENT_REQUESTS requests (the p99 of a handful is their maximum).
REGRESSION_RATIO = 1.5
MIN_RECENT_REQUESTS = 50
PERCENTILES = ("p50", "p90", "p99")
RECENT_COLUMNS = ("recent count", *(f"recent {p}" for p in PERCENTILES))


@dataclass(frozen=True)
class Recent:
    """The end of the range the version table's recent columns cover, and why that long."""

    start_ms: int
    end_ms: int
    rule: str | None = None  # the latency.p99 rule whose window this is; None: the default

    @property
    def span(self) -> str:
        return span_text(self.end_ms - self.start_ms)

    def why(self) -> str:
        """Where the span comes from, for the caption under the table."""
        if self.rule is None:
            return f"the default (no {P99_METRIC} rule of this model judges these versions)"
        return f"the window of {P99_METRIC} rule {plain(self.rule)}"


def span_text(ms: int) -> str:
    """A duration as a header says it: "30 min", "1 h", "1.5 h", "24 h", "7 d"."""
    minutes = ms / 60_000
    if minutes < 60:
        return f"{minutes:g} min"
    hours = minutes / 60
    return f"{hours:g} h" if hours <= 48 else f"{hours / 24:g} d"


def recent_window(ctx: PageContext, versions: Sequence[str]) -> Recent:
    """The last stretch of the range: the longest window of the model's ``latency.p99``
    rules judging any of ``versions`` (``version:`` unset or one of them), else
    :data:`RECENT_DEFAULT`; never longer than the range. It ends at the minute after now
    (or the range's end), so the query stays cached for a minute."""
    w = ctx.window
    judging = [
        r
        for r in ctx.rules
        if r.model == ctx.model
        and r.metric == P99_METRIC
        and (r.version is None or r.version in versions)
    ]
    rule = max(judging, key=lambda r: (r.window, r.name), default=None)
    span_ms = int((rule.window if rule else RECENT_DEFAULT).total_seconds() * 1000)
    end = min(w.end_ms, -(-w.data_end_ms // 60_000) * 60_000)
    return Recent(max(w.start_ms, end - span_ms), end, rule.name if rule else None)


def version_table(ctx: PageContext, versions: list[str], recent: Recent) -> pd.DataFrame:
    """Per version over the range: requests, share, latency percentiles, score mean; and
    requests and latency percentiles over ``recent`` (``recent count``, ``recent p99`` …;
    no value where the version served nothing then). One latency query more than before."""
    assert ctx.model is not None
    lat = ctx.queries.latency(ctx.window.scope(ctx.model), by_version=True)
    lat = lat[lat["version"].isin(versions)].copy()
    lat["share"] = lat["count"] / lat["count"].sum()
    score = {
        v: ctx.queries.score(ctx.window.scope(ctx.model, version=v))["mean"].iloc[0]
        for v in lat["version"]
    }
    lat["score mean"] = lat["version"].map(score)
    cols = ["version", "count", "share", "errors", *PERCENTILES, "score mean"]
    table = lat[cols].merge(_recent_latency(ctx, recent), on="version", how="left")
    table["recent count"] = table["recent count"].fillna(0).astype("int64")
    table = table[[*table.columns[:1], *RECENT_COLUMNS, *cols[1:]]]  # recent first: on screen
    return table.sort_values("count", ascending=False, ignore_index=True)


def _recent_latency(ctx: PageContext, recent: Recent) -> pd.DataFrame:
    """``version recent count recent p50 recent p90 recent p99`` over ``recent``; a version
    without requests in it has no row (or a count of 0 and no percentiles)."""
    assert ctx.model is not None
    scope = Scope(ctx.model, recent.start_ms, recent.end_ms)
    lat = ctx.queries.latency(scope, by_version=True)
    cols = ["count", *PERCENTILES]
    out = lat[["version", *cols]].rename(columns={c: f"recent {c}" for c in cols})
    return out.astype({f"recent {p}": "float64" for p in PERCENTILES})


def version_columns(range_span: str, recent_span: str) -> dict[str, Any]:
    """Headers of the version table, each with the time it covers and its unit.

    The latency percentiles are milliseconds, and a bare "p99" beside "count" and "share"
    left the reader to guess (seconds? ms?); with two spans in one table each header also
    says which. The data keeps its column names."""
    whole, last = range_span, f"last {recent_span}"
    return {
        "count": st.column_config.NumberColumn(f"requests, {whole}", format="%d"),
        "share": st.column_config.NumberColumn(f"share of requests, {whole}", format="percent"),
        "errors": st.column_config.NumberColumn(f"errors, {whole}", format="%d"),
        **_latency_columns("", whole),
        "score mean": st.column_config.NumberColumn(f"score mean, {whole}", format="%.4f"),
        "recent count": st.column_config.NumberColumn(f"requests, {last}", format="%d"),
        **_latency_columns("recent ", last),
    }


def _latency_columns(prefix: str, span: str) -> dict[str, Any]:
    """The p50/p90/p99 latency headers of one span: "p99, 24 h (ms)"."""
    return {
        f"{prefix}{stat}": st.column_config.NumberColumn(f"{stat}, {span} (ms)", format="%.1f")
        for stat in PERCENTILES
    }


def regression(table: pd.DataFrame, serving: str, candidate: str, recent: Recent) -> str:
    """A warning when ``candidate``'s recent p99 is :data:`REGRESSION_RATIO` times the
    serving version's or more, both over :data:`MIN_RECENT_REQUESTS` requests; else ""."""
    rows = table.set_index("version")
    s, c = rows.loc[serving], rows.loc[candidate]
    if min(s["recent count"], c["recent count"]) < MIN_RECENT_REQUESTS:
        return ""
    if not (pd.notna(s["recent p99"]) and pd.notna(c["recent p99"]) and s["recent p99"] > 0):
        return ""
    ratio = c["recent p99"] / s["recent p99"]
    if ratio < REGRESSION_RATIO:
        return ""
    return (
        f"{plain(candidate)}'s p99 latency over the last {recent.span} is "
        f"{c['recent p99']:.1f} ms, {ratio:.1f}× {plain(serving)}'s {s['recent p99']:.1f} ms "
        f"(over the whole range: {c['p99']:.1f} ms vs {s['p99']:.1f} ms)."
    )


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
    versions = q.versions(model)
    recent = recent_window(ctx, versions)
    table = version_table(ctx, versions, recent)
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
    if warning := regression(table, serving, candidate, recent):
        st.warning(warning)
    st.dataframe(
        table[table["version"].isin([serving, candidate])],
        hide_index=True,
        width="stretch",
        column_config=version_columns(span_text(w.end_ms - w.start_ms), recent.span),
        placeholder=MISSING,
        key="canary_versions",
    )
    st.caption(
        f"Latency percentiles p50/p90/p99 in ms. Last {recent.span}: "
        f"{from_epoch_ms(recent.start_ms):%H:%M} to {from_epoch_ms(recent.end_ms):%H:%M} UTC, "
        f"{recent.why()}."
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
