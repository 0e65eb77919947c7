"""The Streamlit entry point: ``streamlit run app.py -- --db FILE --rules DIR --state-dir DIR``.

Runs on every interaction: parses the arguments, follows the store snapshot, draws the shared
sidebar (time range, model, auto-refresh) and runs the chosen page with a fresh
:class:`~modelhealth.dashboard.context.PageContext`. Start it with ``modelhealth dashboard``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from modelhealth.dashboard.context import (
    DEFAULT_RANGE,
    RANGES,
    PageContext,
    Settings,
    TimeWindow,
    make_clock,
    parse_settings,
    set_current,
)
from modelhealth.dashboard.data import Queries, StoreHandle
from modelhealth.dashboard.links import DeepLink, link_params, parse_link
from modelhealth.dashboard.sources import load_configs
from modelhealth.dashboard.text import plain
from modelhealth.errors import StoreUnavailable
from modelhealth.names import check_name

HERE = Path(__file__).parent
PAGES = (
    ("views/fleet.py", "Fleet", ":material/dashboard:"),
    ("views/model.py", "Model", ":material/monitoring:"),
    ("views/drift.py", "Drift heatmap", ":material/grid_on:"),
    ("views/canary.py", "Canary", ":material/compare_arrows:"),
    ("views/alerts.py", "Alerts", ":material/notifications:"),
    ("views/configs.py", "Configs", ":material/tune:"),
)
REFRESH = {"off": None, "30 s": 30, "1 min": 60, "5 min": 300}
DEFAULT_REFRESH = "1 min"
LINK_RANGE = "From link"


@st.cache_resource(show_spinner=False)
def _handle(db: str) -> StoreHandle:
    """One handle per database file, shared by every session of this server."""
    return StoreHandle.duckdb(db)


@st.cache_resource(show_spinner=False)
def _pinot_handle(broker_url: str, namespace: str) -> StoreHandle:
    """One Pinot connection per broker and table namespace, shared by every session."""
    from modelhealth.store.pinot import PinotStore

    return StoreHandle.live(PinotStore(broker_url, namespace=namespace))


def _store_handle(settings: Settings) -> StoreHandle:
    if settings.pinot:
        return _pinot_handle(settings.pinot, settings.namespace)
    return _handle(str(settings.db))


def _followed_link(models: list[str]) -> DeepLink | None:
    """The deep link this session arrived with (``links.py``), applied to the sidebar once.

    Streamlit drops the query parameters when the user changes page, so the link is kept in
    the session: its range stays selectable as "From link" until the user picks another.
    A link's model is opened even when the link has no range, or a broken one."""
    if "_mh_link_seen" not in st.session_state:
        st.session_state["_mh_link_seen"] = True
        params = st.query_params.to_dict()  # parse_link repairs a decoded "+" offset
        wanted = (params.pop("model", "") or "").strip() or None
        if wanted is not None:
            try:
                params["model"] = check_name(wanted, "model")
            except ValueError as exc:  # the range may still be good: follow that
                st.warning(f"link: {plain(exc)}; the model is not changed.")
                wanted = None
        try:
            link = parse_link(params)
        except ValueError as exc:
            fallback = "time range" if wanted in models else "view"
            st.warning(f"{plain(exc)}; showing the default {fallback} instead.")
            link = None
        if link is not None:
            st.session_state["_mh_link"] = link
            st.session_state["range"] = LINK_RANGE
        if wanted in models:
            st.session_state["model"] = wanted
        elif wanted:
            st.warning(f"The link's model {plain(repr(wanted))} has no data in this store.")
    return st.session_state.get("_mh_link")


def _keep_in_url(model: str | None) -> None:
    """Write the sidebar's model (and the link's range while it is chosen) into the URL.

    Streamlit drops the query string when the user changes page, so a reload of the next
    page, or its URL pasted into the incident channel, opened the default model and range
    instead of the incident a notification linked to. Written only when it differs: each
    write is a message to the browser."""
    chosen = st.session_state.get("range") == LINK_RANGE
    wanted = link_params(model, st.session_state.get("_mh_link") if chosen else None)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def _window(ctx_now: datetime, link: DeepLink | None) -> TimeWindow:
    options = [*RANGES, "Custom", *([LINK_RANGE] if link else [])]
    st.session_state.setdefault("range", DEFAULT_RANGE)  # set here, not by index=: a link sets it
    choice = st.sidebar.selectbox("Time range", options, key="range")
    if choice == LINK_RANGE and link is not None:
        return TimeWindow.between(link.start, link.end, now=ctx_now)
    if choice != "Custom":
        return TimeWindow.ending(ctx_now, RANGES[choice])
    today = ctx_now.date()
    picked = st.sidebar.date_input(
        "From / to (UTC)", (today - timedelta(days=1), today), key="custom_range"
    )
    lo, hi = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (today, today)
    start = datetime.combine(lo, time(), UTC)
    end = datetime.combine(hi, time(), UTC) + timedelta(days=1)
    until = min(end, ctx_now) if end > start + timedelta(hours=1) else end
    return TimeWindow.between(start, until, now=ctx_now)


def _auto_refresh(seconds: int | None) -> None:
    """Re-run the whole app every ``seconds`` (new snapshot, moving time range)."""
    st.session_state["_mh_full_run"] = True

    @st.fragment(run_every=seconds)
    def tick() -> None:
        if st.session_state.get("_mh_full_run"):
            st.session_state["_mh_full_run"] = False  # this fragment run is part of a full run
            return
        st.rerun(scope="app")

    if seconds:
        tick()


def main(argv: list[str]) -> None:
    st.set_page_config(page_title="modelhealth", page_icon="🩺", layout="wide")
    settings: Settings = parse_settings(argv)
    pages = [
        st.Page(str(HERE / path), title=title, icon=icon, default=i == 0)
        for i, (path, title, icon) in enumerate(PAGES)
    ]
    nav = st.navigation(pages)
    if settings.db is None and not settings.pinot:
        st.error(
            "No store configured: start with `modelhealth dashboard --db FILE.duckdb` "
            "or `--pinot http://BROKER:8099`."
        )
        st.stop()
    st.session_state["_mh_refresh_on"] = False  # _run_page starts it once the sidebar is drawn
    try:
        _run_page(settings, nav)
    except StoreUnavailable as exc:
        _store_down(exc)


def _run_page(settings: Settings, nav: StreamlitPage) -> None:
    """Draw the sidebar and run the chosen page; any store query may raise StoreUnavailable."""
    queries = Queries(_store_handle(settings))
    clock = make_clock(settings)
    now = clock.now()
    st.sidebar.caption(f"now: {now.strftime('%Y-%m-%d %H:%M')} UTC")
    models = queries.models()
    window = _window(now, _followed_link(models))
    model = st.sidebar.selectbox("Model", models, key="model") if models else None
    choices = list(REFRESH)
    refresh = st.sidebar.selectbox(
        "Auto-refresh", choices, index=choices.index(DEFAULT_REFRESH), key="refresh"
    )
    configs = load_configs(settings.rules_dir)
    for problem in configs.problems:  # one bad side file must not take the pages down
        st.warning(plain(problem))
    ctx = PageContext(
        settings=settings,
        handle=_store_handle(settings),
        queries=queries,
        clock=clock,
        window=window,
        model=model,
        references=configs.references,
        reference_keys=configs.reference_keys,
        reference_paths=configs.paths,
        rules=configs.result.rules,
    )
    set_current(ctx)
    st.sidebar.caption(window.label())
    _keep_in_url(model)
    _auto_refresh(REFRESH[refresh])
    st.session_state["_mh_refresh_on"] = True
    nav.run()


def _store_down(exc: StoreUnavailable) -> None:
    """A store that cannot be opened or queried (DuckDB file missing or locked, Pinot broker
    down) is an outage to wait out, not a bug: say so instead of a traceback, whichever
    query of whichever page failed, and keep the auto-refresh going so the page does retry."""
    st.warning(f"{plain(exc)}. This page retries on the next refresh.")
    if not st.session_state["_mh_refresh_on"]:  # failed before _run_page started it
        _auto_refresh(REFRESH.get(st.session_state.get("refresh", DEFAULT_REFRESH)))
    st.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
