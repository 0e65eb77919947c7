"""Alerts page: open alerts, the incident timeline, notifications sent, silences.

Open alerts are the rules engine's state now; the incidents (timeline and table) are the
episodes active in the sidebar's time range, as every other page shows that range only."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from modelhealth.dashboard import charts
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.sources import (
    history,
    incidents,
    notifications,
    open_alerts,
    overlapping,
)
from modelhealth.dashboard.text import MISSING, counted, plain

DURATIONS = {"1 hour": timedelta(hours=1), "4 hours": timedelta(hours=4),
             "1 day": timedelta(days=1), "1 week": timedelta(days=7)}  # fmt: skip


def _silences(ctx: PageContext) -> Any | None:
    """The alerting SilenceStore on --alerts-db, or None when unavailable (with a note)."""
    try:
        from modelhealth.alerting.silences import SilenceStore
    except ImportError:
        st.caption("Silences need `modelhealth.alerting.silences` (not installed here).")
        return None
    if ctx.settings.alerts_db is None:
        st.caption("Silences need `--alerts-db FILE` (or `--state-dir`).")
        return None
    ctx.settings.alerts_db.parent.mkdir(parents=True, exist_ok=True)
    return SilenceStore(ctx.settings.alerts_db, ctx.clock)


def open_alerts_table(ctx: PageContext, silences: Any | None) -> pd.DataFrame:
    rows = []
    for _, a in open_alerts(ctx.settings.alerts_json):
        labels = dict(a.labels)
        rows.append(
            {
                "state": a.state.name.lower(),
                "alertname": a.name,
                "model": labels.get("model", ""),
                "feature": labels.get("feature", ""),
                "version": labels.get("version", ""),
                "severity": labels.get("severity", ""),
                "value": a.value,
                "since": a.active_at,
                "silenced": bool(silences and silences.mutes(labels, ctx.now)),
                "summary": a.annotations.get("summary", ""),
                "matchers": " ".join(
                    f"{k}={labels[k]}" for k in ("alertname", "model", "feature") if k in labels
                ),
            }
        )
    return pd.DataFrame(rows)


# Session key of the outcome of the last silence change, shown after the rerun it causes.
# (A comment, not a docstring: Streamlit "magic" writes a bare string in a page onto the page.)
FLASH = "_silence_flash"


def _changed(silences: Any, message: str) -> None:
    """Rerun after a silence change: the open-alerts table and the silence list above were
    drawn before the change, so without a rerun they show the state before it."""
    st.session_state[FLASH] = message
    silences.close()  # st.rerun() skips render()'s close
    st.rerun()


def silence_panel(ctx: PageContext, silences: Any, suggestions: list[str]) -> None:
    st.subheader("Silences")
    if flash := st.session_state.pop(FLASH, None):
        st.success(plain(flash))
    active = silences.list(ctx.now)
    if not active:
        st.caption("No active silences.")
    for s in active:
        c1, c2 = st.columns([5, 1])
        matchers = " ".join(str(m) for m in s.matchers)
        c1.write(
            f"`{s.id}` {plain(matchers)} until {s.ends_at:%Y-%m-%d %H:%M} UTC — "
            f"{plain(s.created_by)}: {plain(s.comment)}"
        )
        if c2.button("Unsilence", key=f"expire_{s.id}"):
            silences.expire(s.id, ctx.now)
            _changed(silences, f"Unsilenced {' '.join(str(m) for m in s.matchers)} ({s.id})")
    with st.form("silence_form", clear_on_submit=True):
        st.markdown("**New silence**")
        matchers = st.selectbox("Alert", suggestions or ["model=..."], key="sil_matchers")
        extra = st.text_input("Or matchers (space separated, e.g. model=fraud)", key="sil_text")
        duration = st.selectbox("For", list(DURATIONS), key="sil_for")
        comment = st.text_input("Comment (why)", key="sil_comment")
        who = st.text_input("By", "dashboard", key="sil_by")
        if st.form_submit_button("Silence"):
            chosen = (extra or matchers).split()
            try:
                sid = silences.add(chosen, ctx.now, ctx.now + DURATIONS[duration], who, comment)
            except ValueError as exc:  # MatcherError is a ValueError too
                st.warning(f"Not silenced: {plain(exc)}")
            else:
                _changed(silences, f"Silenced {' '.join(chosen)} ({sid})")


# Rows (a model version's alert and feature) the incident timeline draws at most, 26 px each: a
# fleet's hundreds of alerts made it thousands of pixels tall. (A comment: Streamlit's
# magic writes a page's bare strings.)
MAX_TIMELINE_ROWS = 40


def timeline_rows(inc: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The incidents of the :data:`MAX_TIMELINE_ROWS` timeline rows whose latest episode
    began last (``inc`` is newest first), and how many rows are left out."""
    if inc.empty:
        return inc, 0
    row = charts.timeline_row(inc)
    kept = list(dict.fromkeys(row))[:MAX_TIMELINE_ROWS]
    return inc[row.isin(kept)], row.nunique() - len(kept)


# States of an episode still going on: ``sources.incidents`` ends it at now for the timeline.
OPEN_STATES = ("pending", "firing")


def incident_table(shown: pd.DataFrame, sent: pd.DataFrame) -> pd.DataFrame:
    """The Incidents table: ``shown`` with each episode's notifications counted, and no end
    for an episode still pending or firing. ``sources.incidents`` ends an open episode at
    now so the timeline draws it to the present; the table showed that time as its end, so
    every firing incident read as one that ended a moment ago."""
    view = shown.drop(columns=["labels", "fingerprint"]).copy()
    view["notifications"] = [
        int(sent["fingerprints"].str.contains(fp, regex=False).sum()) if len(sent) else 0
        for fp in shown["fingerprint"]
    ]
    view["end"] = view["end"].where(~view["state"].isin(OPEN_STATES))
    return view


def render(ctx: PageContext) -> None:
    st.title("Alerts")
    if ctx.settings.state_dir is None:
        st.info("Start the dashboard with `--state-dir DIR` (the rules engine's state folder).")
        return
    silences = _silences(ctx)
    table = open_alerts_table(ctx, silences)
    hist = history(ctx.settings.history_jsonl)
    every = incidents(hist, ctx.now)
    w = ctx.window
    inc = overlapping(every, w.start_ms, w.end_ms)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Firing", int((table["state"] == "firing").sum()) if len(table) else 0)
    c2.metric("Pending", int((table["state"] == "pending").sum()) if len(table) else 0)
    c3.metric("Incidents", len(inc), help="Alert episodes active in the chosen time range")
    c4.metric("Transitions", len(hist))
    models = sorted(set(inc["model"]) | set(table.get("model", [])))
    picked = st.multiselect(
        "Models", models, default=[], placeholder=f"All {counted(len(models), 'model')}",
        key="alerts_models", help="None picked shows every model's alerts",
    )  # fmt: skip
    chosen = picked or models  # every model selected by default was a wall of chips
    st.subheader("Open alerts")
    if table.empty:
        st.caption("Nothing pending or firing.")
    else:
        st.dataframe(
            table[table["model"].isin(chosen)].drop(columns=["matchers"]),
            hide_index=True, width="stretch", key="open_alerts",
        )  # fmt: skip
    shown = inc[inc["model"].isin(chosen)]
    drawn, rest = timeline_rows(shown)
    timeline = charts.incident_timeline(drawn, span=(w.start_ms, w.end_ms))
    st.plotly_chart(timeline, width="stretch", key="incident_timeline")
    if rest:
        st.caption(
            f"The timeline draws the {MAX_TIMELINE_ROWS} alerts that began last; "
            f"{counted(rest, 'more alert')} not drawn: the Incidents table below lists "
            "them all, or pick models above."
        )
    st.subheader("Incidents")
    if left_out := len(every) - len(inc):
        st.caption(
            f"{counted(left_out, 'incident')} outside the chosen time range "
            f"({w.label()}) not shown: pick a longer range to see them."
        )
    sent = notifications(ctx.settings.alerts_db)
    st.dataframe(
        incident_table(shown, sent), hide_index=True, width="stretch", placeholder=MISSING,
        column_config={"end": st.column_config.Column(help=f"{MISSING}: still open")},
        key="incidents",
    )  # fmt: skip
    st.subheader("Notifications sent")
    if sent.empty:
        st.caption("No notifications recorded (the dispatcher writes them to --alerts-db).")
    else:
        st.dataframe(sent, hide_index=True, width="stretch", key="notifications")
    if silences is not None:
        suggestions = list(dict.fromkeys(table["matchers"])) if len(table) else []
        suggestions += [
            " ".join(f"{k}={v}" for k, v in json.loads(lbl).items()
                     if k in ("alertname", "model", "feature"))
            for lbl in shown["labels"]
        ]  # fmt: skip
        silence_panel(ctx, silences, list(dict.fromkeys(suggestions)))
        silences.close()


if __name__ == "__main__":
    render(current())
