"""Fleet page: every model's health at a glance (status, QPS, p99, worst drift, last data)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from modelhealth.clock import from_epoch_ms
from modelhealth.dashboard import charts
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.sources import STATUS_ICON, model_status, open_alerts
from modelhealth.dashboard.sparks import spark_svg
from modelhealth.dashboard.text import MISSING

DRIFT_METRIC = "psi"


def trend_step(ctx: PageContext) -> int:
    w = ctx.window
    return max(w.step_ms, (w.end_ms - w.start_ms) // 48)


def fleet_table(ctx: PageContext) -> pd.DataFrame:
    """One row per model: the numbers the page shows (tests assert on this frame)."""
    q, w = ctx.queries, ctx.window
    alerts = open_alerts(ctx.settings.alerts_json)
    seen = q.last_seen()
    last = {str(m): int(t) for m, t in zip(seen["model"], seen["last_ts"], strict=True)}
    rows = []
    for model in q.models():
        scope = w.scope(model)
        lat = q.latency(scope)
        count = int(lat["count"].iloc[0]) if len(lat) else 0
        p99 = float(lat["p99"].iloc[0]) if count else float("nan")
        step = trend_step(ctx)
        spark = charts.fill_buckets(q.latency(scope, step_ms=step), w.buckets(step))
        worst, worst_value = "", float("nan")
        ref = ctx.references.get(model)
        if ref is not None and count:
            table = q.drift_table(scope, ref, ctx.reference_keys.get(model, model), [DRIFT_METRIC])
            top = table[table["rank"] == 1]
            if len(top) and pd.notna(top["value"].iloc[0]):
                worst, worst_value = str(top["feature"].iloc[0]), float(top["value"].iloc[0])
        status, why = model_status(
            model, alerts, last.get(model), ctx.now, ctx.settings.stale_after
        )
        n_open = sum(1 for _, a in alerts if a.labels.get("model") == model)
        rows.append(
            {
                "status": f"{STATUS_ICON[status]} {status}",
                "model": model,
                "why": why,
                "open alerts": n_open,
                "qps": count / w.elapsed_s if w.elapsed_s > 0 else float("nan"),
                "p99 ms": p99,
                "p99 trend": spark_svg(spark["p99"].tolist() if "p99" in spark else []),
                "worst drift": worst,
                f"{DRIFT_METRIC}": worst_value,
                "last data (UTC)": from_epoch_ms(last[model]).strftime("%Y-%m-%d %H:%M:%S")
                if model in last
                else "never",
            }
        )
    return pd.DataFrame(rows)


def render(ctx: PageContext) -> None:
    st.title("Fleet")
    st.caption(f"Health of every model over {ctx.window.label()}")
    table = fleet_table(ctx)
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
                "p99 trend", help="A gap is a time bucket without requests"
            ),
            DRIFT_METRIC: st.column_config.NumberColumn(f"drift ({DRIFT_METRIC})", format="%.3f"),
        },
        placeholder=MISSING,
        key="fleet_table",
    )
    w, step = ctx.window, trend_step(ctx)
    trends = {
        m: charts.fill_buckets(ctx.queries.latency(w.scope(m), step_ms=step), w.buckets(step))
        for m in table["model"]
    }
    left, right = st.columns(2)
    left.plotly_chart(
        charts.fleet_lines(trends, "p99", "p99 latency by model (ms)"), width="stretch",
        key="fleet_p99",
    )  # fmt: skip
    qps = {
        m: df.assign(qps=charts.per_second(df, step, w.start_ms, w.data_end_ms))
        for m, df in trends.items()
        if not df.empty
    }
    right.plotly_chart(
        charts.fleet_lines(qps, "qps", "Requests per second by model"), width="stretch",
        key="fleet_qps",
    )  # fmt: skip


if __name__ == "__main__":
    render(current())
