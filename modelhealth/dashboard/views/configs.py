"""Configs page: the YAML alert configs with validation status, and a backtest button."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import streamlit as st

from modelhealth.dashboard import charts
from modelhealth.dashboard.backtest import replay
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.sources import config_files, load_configs


def render(ctx: PageContext) -> None:
    st.title("Alert configs")
    rules_dir = ctx.settings.rules_dir
    files = config_files(rules_dir)
    if not files:
        st.info("No configs: start the dashboard with `--rules DIR` (a folder of YAML files).")
        return
    configs = load_configs(rules_dir)
    issues = defaultdict(list)
    for issue in configs.result.issues:
        issues[str(Path(issue.pos.file))].append(str(issue))
    rules_by_file = defaultdict(list)
    for rule in configs.result.rules:
        rules_by_file[str(Path(rule.source.file))].append(rule)
    n_bad = sum(1 for f in files if issues.get(str(f)))
    c1, c2, c3 = st.columns(3)
    c1.metric("Config files", len(files))
    c2.metric("Valid", len(files) - n_bad)
    c3.metric("Rules loaded", len(configs.result.rules))
    for f in files:
        problems = issues.get(str(f), [])
        status = f"❌ {len(problems)} issue(s)" if problems else "✅ valid"
        with st.expander(f"{f.name} — {status} — {len(rules_by_file[str(f)])} rules"):
            for p in problems:
                st.warning(p)
            st.code(f.read_text(), language="yaml")
    st.subheader("Backtest")
    by_model = defaultdict(list)
    for rule in configs.result.rules:
        by_model[rule.model].append(rule)
    if not by_model:
        st.info("No valid rules to backtest.")
        return
    models = sorted(by_model)
    default = models.index(ctx.model) if ctx.model in models else 0
    model = st.selectbox("Config of model", models, index=default, key="bt_model")
    st.caption(f"Replays {len(by_model[model])} rules over {ctx.window.label()}")
    key = ("bt", model, ctx.window, ctx.queries.token)
    if st.button("Backtest on the plotted range", key="bt_run"):
        with st.spinner("Replaying the rules over the history…"):
            st.session_state["bt_result"] = (
                key,
                ctx.handle.run(
                    lambda store: replay(
                        by_model[model], store, ctx.references,
                        ctx.window.start_ms, ctx.window.end_ms,
                    )
                ),
            )  # fmt: skip
    stored = st.session_state.get("bt_result")
    if not stored or stored[0] != key:
        return
    firings = stored[1]
    lat = ctx.queries.latency(ctx.window.scope(model), step_ms=ctx.window.step_ms)
    st.plotly_chart(
        charts.backtest_overlay(lat, "p99", firings, f"{model}: where its rules would have fired"),
        width="stretch",
        key="bt_chart",
    )
    st.metric("Firing spans", len(firings))
    st.dataframe(firings, hide_index=True, width="stretch", key="bt_table")


if __name__ == "__main__":
    render(current())
