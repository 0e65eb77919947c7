"""Fleet page: every model's health at a glance (status, QPS, p99, worst drift, last data)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import streamlit as st

from modelhealth.clock import from_epoch_ms
from modelhealth.dashboard import charts
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.fleetdata import fleet_latency, worst_drift
from modelhealth.dashboard.sources import (
    AMBER,
    GREEN,
    RED,
    STATUS_ICON,
    model_status,
    open_alerts,
)
from modelhealth.dashboard.sparks import COLUMN_WIDTH, spark_svg
from modelhealth.dashboard.text import MISSING, counted
from modelhealth.types import Alert

DRIFT_METRIC = "psi"

# The "worst drift" cell of a model none of whose features moved (every PSI 0). Two words,
# so it cannot be a feature's name (names hold no spaces: ``names.check_name``).
NO_DRIFT = "no drift"

# Models drawn in each fleet chart: the worst ones by the plotted value, as a Grafana topk
# panel draws them; 1,000 lines made one unreadable tangle and a legend no one can scroll.
# (A comment, not a docstring: Streamlit's magic writes a page's bare strings.)
TOP_LINES = 10

# Row order of the table: what needs a look first (red, then amber), then by name.
STATUS_ORDER = {RED: 0, AMBER: 1, GREEN: 2}


def trend_step(ctx: PageContext) -> int:
    w = ctx.window
    return max(w.step_ms, (w.end_ms - w.start_ms) // 48)


def trends(ctx: PageContext, models: list[str]) -> pd.DataFrame:
    """Latency per (model, trend bucket), every bucket of every model present: one fleet
    query, its empty buckets filled at once (``charts.fill_buckets`` per model took 10 ms
    each). Counts are 0 and percentiles NaN where a model had no requests."""
    w, step = ctx.window, trend_step(ctx)
    if not models:
        return pd.DataFrame(columns=["count", "p99"])
    every = fleet_latency(ctx.queries, models, w.start_ms, w.end_ms, step_ms=step)
    buckets = np.union1d(w.buckets(step), every["ts"].to_numpy(dtype=np.int64))
    grid = pd.MultiIndex.from_product([models, buckets], names=["model", "ts"])
    out = every.set_index(["model", "ts"]).reindex(grid)
    for col in charts.COUNT_COLUMNS:
        if col in out:
            out[col] = out[col].fillna(0).astype(np.int64)
    return out


def model_trend(per_model: pd.DataFrame, model: str) -> pd.DataFrame:
    """One model's rows of :func:`trends` as ``latency(step_ms=...)`` gives them, filled;
    empty when the model had no request in the window (nothing to draw)."""
    one = per_model.xs(model, level="model").reset_index()
    return one if one["count"].any() else one.iloc[:0]


def fleet_table(ctx: PageContext, per_model: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per model, red first, then amber, then green (tests assert on this frame).

    Three store queries on a store with the fleet queries (``dashboard.fleetdata``),
    however many models; ``per_model`` is :func:`trends`, when the caller has it already."""
    q, w = ctx.queries, ctx.window
    alerts = open_alerts(ctx.settings.alerts_json)
    by_model: dict[str, list[tuple[str, Alert]]] = defaultdict(list)
    for item in alerts:
        by_model[item[1].labels.get("model", "")].append(item)
    seen = q.last_seen()
    last = {str(m): int(t) for m, t in zip(seen["model"], seen["last_ts"], strict=True)}
    models = q.models()
    totals = fleet_latency(q, models, w.start_ms, w.end_ms).set_index("model")
    per_model = trends(ctx, models) if per_model is None else per_model
    p99s = per_model["p99"].unstack("model") if len(per_model) else pd.DataFrame()
    judged = [m for m in models if m in ctx.references and _count(totals, m)]
    drift = worst_drift(
        q, ctx.references, ctx.reference_keys, judged, w.start_ms, w.end_ms, DRIFT_METRIC
    ).set_index("model")
    rows = []
    for model in models:
        count = _count(totals, model)
        status, why = model_status(
            model, by_model[model], last.get(model), ctx.now, ctx.settings.stale_after
        )
        rows.append(
            {
                "status": f"{STATUS_ICON[status]} {status}",
                "model": model,
                "why": why,
                "open alerts": len(by_model[model]),
                "qps": count / w.elapsed_s if w.elapsed_s > 0 else float("nan"),
                "p99 ms": float(totals.at[model, "p99"]) if count else float("nan"),
                "p99 trend": spark_svg(p99s[model].tolist() if model in p99s else []),
                "worst drift": drift_label(drift.loc[model]) if model in drift.index else "",
                f"{DRIFT_METRIC}": float(drift.at[model, "value"])
                if model in drift.index
                else float("nan"),
                "last data (UTC)": from_epoch_ms(last[model]).strftime("%Y-%m-%d %H:%M:%S")
                if model in last
                else "never",
                "_order": STATUS_ORDER[status],
            }
        )
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).sort_values(["_order", "model"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def drift_label(worst: pd.Series) -> str:
    """The "worst drift" cell of a model's :func:`fleetdata.worst_drift` row: the feature,
    with how many others share its value on a tie; :data:`NO_DRIFT` when its worst value is
    no drift at all (the page named the first of features that all read PSI 0, as if it had
    drifted); "" when no feature has a value."""
    feature, tied = str(worst["feature"]), int(worst["tied"])
    if feature:
        return f"{feature} (+{tied} tied)" if tied else feature
    return NO_DRIFT if pd.notna(worst["value"]) else ""


def _count(totals: pd.DataFrame, model: str) -> int:
    return int(totals.at[model, "count"]) if model in totals.index else 0


def top_models(table: pd.DataFrame, column: str, n: int = TOP_LINES) -> list[str]:
    """The ``n`` models with the largest ``column`` (NaN last, ties by name)."""
    ranked = table.sort_values([column, "model"], ascending=[False, True], na_position="last")
    return [str(m) for m in ranked["model"].head(n)]


def not_drawn(shown: int, total: int, what: str) -> str:
    """The caption under a top-N chart: how many models it leaves out, and where they are."""
    return (
        f"The {shown} {what} of {total:,} models; {counted(total - shown, 'more model')} not "
        "drawn: the table above lists every model (click a header to sort)."
    )


def render(ctx: PageContext) -> None:
    st.title("Fleet")
    st.caption(f"Health of every model over {ctx.window.label()}")
    per_model = trends(ctx, ctx.queries.models())
    table = fleet_table(ctx, per_model)
    if table.empty:
        st.info("The store holds no inferences yet.")
        return
    counts = table["status"].str.split(" ").str[1].value_counts()
    cols = st.columns(4)
    cols[0].metric("Models", len(table))
    cols[1].metric("🔴 red", int(counts.get("red", 0)))
    cols[2].metric("🟠 amber", int(counts.get("amber", 0)))
    cols[3].metric("🟢 green", int(counts.get("green", 0)))
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "qps": st.column_config.NumberColumn("QPS", format="%.2f"),
            "p99 ms": st.column_config.NumberColumn("p99 (ms)", format="%.1f"),
            "p99 trend": st.column_config.ImageColumn(
                "p99 trend",
                help="A gap is a time bucket without requests",
                width=COLUMN_WIDTH,
            ),
            DRIFT_METRIC: st.column_config.NumberColumn(f"drift ({DRIFT_METRIC})", format="%.3f"),
        },
        placeholder=MISSING,
        key="fleet_table",
    )
    w, step = ctx.window, trend_step(ctx)
    slowest = top_models(table, "p99 ms")
    busiest = top_models(table, "qps")
    # one colour per model on both charts (slowest first, then the busiest not among them)
    colours = charts.model_colours(list(dict.fromkeys([*slowest, *busiest])))
    left, right = st.columns(2)
    left.plotly_chart(
        charts.fleet_lines({m: model_trend(per_model, m) for m in slowest}, "p99",
                           _title("p99 latency by model (ms)", slowest, table), colours),
        width="stretch", key="fleet_p99",
    )  # fmt: skip
    if len(table) > len(slowest):
        left.caption(not_drawn(len(slowest), len(table), "slowest by p99"))
    drawn = {m: model_trend(per_model, m) for m in busiest}
    qps = {
        m: df.assign(qps=charts.per_second(df, step, w.start_ms, w.data_end_ms))
        for m, df in drawn.items()
        if not df.empty
    }
    right.plotly_chart(
        charts.fleet_lines(
            qps, "qps", _title("Requests per second by model", busiest, table), colours
        ),
        width="stretch", key="fleet_qps",
    )  # fmt: skip
    if len(table) > len(busiest):
        right.caption(not_drawn(len(busiest), len(table), "busiest"))


def _title(title: str, shown: list[str], table: pd.DataFrame) -> str:
    return title if len(shown) == len(table) else f"{title}, top {len(shown)}"


if __name__ == "__main__":
    render(current())
