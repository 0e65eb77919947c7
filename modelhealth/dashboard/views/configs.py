"""Configs page: the YAML alert configs with validation status, and a backtest button."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd
import streamlit as st

from modelhealth.dashboard import charts
from modelhealth.dashboard.backtest import replay, tick_plan
from modelhealth.dashboard.context import RANGES, PageContext, TimeWindow, current
from modelhealth.dashboard.learned import band_frame, learned_rules
from modelhealth.dashboard.quality import quality
from modelhealth.dashboard.sources import config_files, load_configs
from modelhealth.dashboard.text import counted, plain
from modelhealth.errors import ModelHealthError
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.metrics import PERFORMANCE_PREFIX


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
    listed = files if len(files) <= MAX_EXPANDERS else [f for f in files if issues.get(str(f))]
    for f in listed[:MAX_EXPANDERS]:
        _file_expander(f, issues.get(str(f), []), len(rules_by_file[str(f)]))
    if len(files) > MAX_EXPANDERS:
        _file_index(ctx, files, issues, rules_by_file, len(listed) - MAX_EXPANDERS)
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
    end_ms = ctx.window.data_end_ms  # the scheduler never ticked after now
    plan = tick_plan(ctx.window.start_ms, end_ms, by_model[model])
    st.caption(
        f"Replays {counted(len(by_model[model]), 'rule')} over {ctx.window.label()}: {plan.note()}"
    )
    key = backtest_key(model, ctx.window)
    if st.button("Backtest on the plotted range", key="bt_run"):
        with st.spinner("Replaying the rules over the history…"):
            firings = ctx.handle.run(
                lambda store: replay(
                    by_model[model], store, ctx.references, ctx.window.start_ms, end_ms
                )
            )
        firings.attrs["replayed"] = f"{ctx.window.label()}, replayed at {ctx.now:%H:%M} UTC"
        st.session_state["bt_result"] = (key, firings)
    backtest_results(ctx, model, key, by_model[model])
    learned_section(ctx, by_model[model])


# Config files drawn one expander each at most: a fleet's folder of 1,000 files was a page of
# 1,000 expanders to scroll through for one model's file. Past this, the files with issues
# keep their expanders (up to this many), every file is a row of a sortable table, and one
# file (the sidebar model's) is shown. (A comment: Streamlit's magic writes bare strings.)
MAX_EXPANDERS = 20


def _file_expander(f: Path, problems: list[str], n_rules: int, expanded: bool = False) -> None:
    status = f"❌ {counted(len(problems), 'issue')}" if problems else "✅ valid"
    with st.expander(f"{f.name} — {status} — {counted(n_rules, 'rule')}", expanded=expanded):
        for p in problems:
            st.warning(plain(p))
        st.code(f.read_text(), language="yaml")


def _file_index(
    ctx: PageContext,
    files: list[Path],
    issues: dict[str, list[str]],
    rules_by_file: dict[str, list[RuleSpec]],
    more_bad: int,
) -> None:
    """Every config file as a table row (issues first), and one file's text on demand."""
    if more_bad > 0:
        st.caption(f"{counted(more_bad, 'more file')} with issues: see the table below.")
    root = ctx.settings.rules_dir
    label = {str(f.relative_to(root)) if root and root.is_dir() else f.name: f for f in files}
    table = pd.DataFrame(
        {
            "file": list(label),
            "issues": [len(issues.get(str(f), [])) for f in files],
            "rules": [len(rules_by_file[str(f)]) for f in files],
            "models": [", ".join(sorted({r.model for r in rules_by_file[str(f)]})) for f in files],
        }
    ).sort_values(["issues", "file"], ascending=[False, True], ignore_index=True)
    st.dataframe(table, hide_index=True, width="stretch", key="config_files")
    names = list(table["file"])
    mine = [n for n in names if any(r.model == ctx.model for r in rules_by_file[str(label[n])])]
    default = names.index(mine[0]) if mine else 0
    shown = label[st.selectbox("Show config file", names, index=default, key="config_file")]
    _file_expander(shown, issues.get(str(shown), []), len(rules_by_file[str(shown)]), True)


def backtest_key(model: str, window: TimeWindow) -> tuple[object, ...]:
    """What a backtest result is shown for: its model and its range, a rolling "Last …"
    range by its span alone.

    Keyed on the store snapshot and the window's ends, the result vanished at the next
    rerun: the demo publishes a snapshot every 15 s, a live store turns its token every
    30 s and a "Last 24 hours" range moves every 5 minutes, so a replay that took a minute
    was thrown away before it was shown, and any click on the page later dropped it too.
    The caption says which range it replayed and when."""
    choice = st.session_state.get("range")
    if choice in RANGES:
        return ("bt", model, choice, window.step_ms)
    return ("bt", model, window)


def backtest_results(
    ctx: PageContext, model: str, key: tuple[object, ...], rules: list[RuleSpec] | None = None
) -> None:
    """The last backtest's firing spans over the metric of a rule that fired, if it is of
    this view (p99 latency when no rule fired, or the rule's metric cannot be drawn)."""
    stored = st.session_state.get("bt_result")
    if not stored or stored[0] != key:
        return
    firings = stored[1]
    if replayed := firings.attrs.get("replayed"):
        st.caption(f"Backtest of {plain(replayed)}: click again to replay newer data.")
    errors = firings.attrs.get("errors", {})
    if errors:
        listed = "; ".join(f"{plain(k)}: {plain(v)}" for k, v in sorted(errors.items())[:5])
        st.warning(f"{len(errors)} rule(s) could not be replayed, so their firings are missing: "
                   f"{listed}")  # fmt: skip
    by_name = {r.name: r for r in rules or []}
    fired = [r for r in dict.fromkeys(firings["rule"]) if r in by_name] if len(firings) else []
    rule = None
    if fired:
        fired.sort(key=lambda name: (_draw_order(by_name[name].metric), name))
        if st.session_state.get("bt_metric_rule") not in fired:  # another model's backtest
            st.session_state["bt_metric_rule"] = fired[0]
        rule = by_name[st.selectbox("Plot the metric of", fired, key="bt_metric_rule")]
    frame, column, note = overlay_series(ctx, model, rule)
    if note:
        st.caption(note)
    st.plotly_chart(
        charts.backtest_overlay(
            frame, column, firings, f"{model}: where its rules would have fired"
        ),
        width="stretch",
        key="bt_chart",
    )
    st.metric("Firing spans", len(firings))
    st.dataframe(firings, hide_index=True, width="stretch", key="bt_table")


def _draw_order(metric: str) -> int:
    """Which fired rule is drawn first: quality, then latency, then what can be drawn."""
    if metric.startswith(PERFORMANCE_PREFIX):
        return 0
    if metric.startswith("latency."):
        return 1
    return 2 if _model_level(metric) else 3


def _model_level(metric: str) -> bool:
    return metric.startswith(("latency.", "score.", PERFORMANCE_PREFIX)) or metric in (
        "qps", "count", "error_rate",
    )  # fmt: skip


def overlay_series(
    ctx: PageContext, model: str, rule: RuleSpec | None
) -> tuple[pd.DataFrame, str, str]:
    """(frame, column, note): the per-bucket values of ``rule``'s metric over the plotted
    range; p99 latency (and a note saying why) when it has no single per-bucket line."""
    w, q = ctx.window, ctx.queries
    metric = rule.metric if rule is not None else "latency.p99"
    scope = w.scope(model, version=rule.version if rule is not None else None)
    if metric.startswith(PERFORMANCE_PREFIX) and rule is not None:
        found = quality(
            q.score(scope, step_ms=w.step_ms), q.outcomes(scope, step_ms=w.step_ms), scope,
            w.step_ms, ctx.now, label_delay=rule.label_delay,
        )  # fmt: skip
        frame = found.series(metric)
        note = f"{metric} per {w.step_ms // 60_000} min bucket ({found.task} labels)"
        if not found.has_labels:
            note += f": {plain(model)} has no labels in this range"
        return frame, frame.columns[-1], note + "."
    if metric.startswith("score.") and not metric.startswith("score.drift."):
        col = metric.split(".", 1)[1]
        score = q.score(scope, step_ms=w.step_ms)
        if col in score or score.empty:
            return score, col, ""
    lat = q.latency(scope, step_ms=w.step_ms)
    if metric.startswith("latency.") and (metric.split(".", 1)[1] in lat or lat.empty):
        return lat, metric.split(".", 1)[1], ""
    if metric in ("count", "qps", "error_rate") and len(lat):
        if metric == "count":
            values = lat["count"]
        elif metric == "qps":
            values = charts.per_second(lat, w.step_ms, w.start_ms, w.data_end_ms)
        else:
            values = lat["errors"] / lat["count"].where(lat["count"] > 0)
        return pd.DataFrame({"ts": lat["ts"], metric: values}), metric, ""
    note = (
        ""
        if rule is None
        else f"{plain(rule.name)}'s {plain(metric)} has a value per feature or against a "
        "baseline, not one line: p99 latency is drawn instead."
    )
    return lat, "p99", note


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
        st.warning(f"{plain(rule.name)}: {plain(exc)}")
        return
    except Exception as exc:  # e.g. LightGBM's own error: one rule's band, not the page
        st.warning(
            f"{plain(rule.name)}: cannot compute its band: {type(exc).__name__}: {plain(exc)}"
        )
        return
    if band.empty:
        st.info(f"No {plain(rule.metric)} data for {plain(rule.name)} in this range.")
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
