"""Configs page: the YAML alert configs with validation status, and a backtest button."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import streamlit as st

from modelhealth.dashboard import charts
from modelhealth.dashboard.backtest import replay
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.learned import band_frame, learned_rules
from modelhealth.dashboard.sources import config_files, load_configs
from modelhealth.errors import ModelHealthError
from modelhealth.rules.config import RuleSpec


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
    backtest_results(ctx, model, key)
    learned_section(ctx, by_model[model])


def backtest_results(ctx: PageContext, model: str, key: tuple[object, ...]) -> None:
    """The last backtest's firing spans over the p99 latency, if it is of this view."""
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


def learned_section(ctx: PageContext, rules: list[RuleSpec]) -> None:
    """The band each learned rule of the model expected over the plotted range, its alerts
    and the rule inside the detector that raised each one."""
    learned = learned_rules(rules)
    if not learned:
        return
    st.subheader("Learned detector")
    names = [r.name for r in learned]
    rule = learned[names.index(st.selectbox("Learned rule", names, key="learned_rule"))]
    try:
        band = ctx.handle.run(
            lambda store: band_frame(rule, store, ctx.window.start_ms, ctx.window.end_ms)
        )
    except (ValueError, OSError, ModelHealthError) as exc:  # e.g. its model broke since
        st.warning(f"{rule.name}: {exc}")
        return
    except Exception as exc:  # e.g. LightGBM's own error: one rule's band, not the page
        st.warning(f"{rule.name}: cannot compute its band: {type(exc).__name__}: {exc}")
        return
    if band.empty:
        st.info(f"No {rule.metric} data for {rule.name} in this range.")
        return
    per_instance = band.groupby("instance")["alert"].sum()
    instances = sorted(per_instance.index, key=lambda i: (-int(per_instance[i]), i))
    instance = st.selectbox("Instance (most alerts first)", instances, key="learned_instance")
    one = band[band["instance"] == instance]
    st.plotly_chart(
        charts.learned_band(one, f"{rule.model} {rule.metric} ({instance}): {rule.name}"),
        width="stretch",
        key="learned_chart",
    )
    alerts = one[one["alert"].astype(bool)]
    st.metric("Learned alerts", len(alerts))
    if len(alerts):
        shown = alerts.assign(time=charts.to_time(alerts["ts"]))
        st.dataframe(
            shown[["time", "value", "expected", "why"]],
            hide_index=True,
            width="stretch",
            key="learned_table",
        )


if __name__ == "__main__":
    render(current())
