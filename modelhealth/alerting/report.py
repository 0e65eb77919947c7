"""Builds the data behind an incident email: latency and feature-histogram plots from the store.

Computed once, when the notification is written to the outbox, and stored with it, so every
retry (and a re-send after a crash) carries the same report. Failures become a note in the
email instead of blocking delivery: an alert without a plot beats no alert.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from modelhealth.alerting.plots import (
    LatencyMark,
    histogram_figure,
    human_span,
    latency_figure,
    png_bytes,
)
from modelhealth.clock import as_utc, to_epoch_ms
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.grouping import FEATURE_NAMES
from modelhealth.store.backend import QueryBackend, Scope
from modelhealth.types import Alert

log = logging.getLogger(__name__)
MAX_FEATURE_PLOTS = 3


def incident_context(
    alerts: Sequence[Alert],
    now: datetime,
    store: QueryBackend | None,
    references: Mapping[str, ModelReference] | None = None,
    *,
    latency_window: timedelta = timedelta(hours=6),
    feature_window: timedelta = timedelta(hours=1),
) -> dict[str, Any]:
    """``{"plots": [{cid, title, png(base64)}], "notes": [...]}`` for one group's alerts.

    The plots about the alerts' own metric come first (a drift alert's histogram before the
    model's latency), the most severe alert's first: see :func:`plot_order`."""
    plots: list[dict[str, Any]] = []
    notes: list[str] = []
    if store is None:
        return {"plots": plots, "notes": notes}
    order = plot_order(alerts)
    # one latency plot per alerting (model, version): a canary's regression is invisible in
    # the model-wide percentiles when the canary takes a small share of the traffic
    targets = sorted(
        {
            (a.labels.get("model", ""), a.labels.get("version"))
            for a in alerts
            if a.labels.get("model")
        },
        key=lambda t: (order.get(("latency", *t), _LAST), t[0], t[1] or ""),
    )
    for model, version in targets[:2]:
        what = f"{model} {version}" if version else model
        try:
            png = _latency(store, model, now, latency_window, version, alerts)
            if png:
                name = f"latency-{model}-{version}" if version else f"latency-{model}"
                plot = _plot(name, f"{what}: latency percentiles", png)
                plots.append({**plot, "_rank": order.get(("latency", model, version), _LAST)})
        except Exception as exc:  # plotting must never block a page
            log.warning("latency plot for %s failed: %s", what, exc)
            notes.append(f"latency plot for {what} unavailable: {exc}")
    # a score alert's own plot: the model score over time with the rule's line
    scored = sorted(
        {(a.labels.get("model", ""), a.labels.get("version")) for a in alerts if score_column(a)},
        key=lambda t: (order.get(("score", *t), _LAST), t[0], t[1] or ""),
    )
    for model, version in scored[:2]:
        what = f"{model} {version}" if version else model
        try:
            fig = score_plot_figure(store, model, now, latency_window, version, alerts)
            if fig is not None:
                name = f"score-{model}-{version}" if version else f"score-{model}"
                plot = _plot(name, f"{what}: model score", png_bytes(fig))
                plots.append({**plot, "_rank": order.get(("score", model, version), _LAST)})
        except Exception as exc:
            log.warning("score plot for %s failed: %s", what, exc)
            notes.append(f"score plot for {what} unavailable: {exc}")
    seen: set[tuple[str, str]] = set()
    ranked = sorted(alerts, key=lambda a: -_finite(a.value))
    pairs = [(a.labels.get("model", ""), f) for a in ranked for f in features_of(a)]
    for model, feature in pairs:
        if not model or (model, feature) in seen:
            continue
        if len(seen) >= MAX_FEATURE_PLOTS:
            break
        seen.add((model, feature))
        try:
            png = _histogram(store, references or {}, model, feature, now, feature_window)
            if png:
                title = f"{model} / {feature}: current vs reference"
                plot = _plot(f"hist-{model}-{feature}", title, png)
                plots.append({**plot, "_rank": order.get(("feature", model, feature), _LAST)})
        except Exception as exc:
            log.warning("histogram for %s/%s failed: %s", model, feature, exc)
            notes.append(f"histogram of {feature} unavailable: {exc}")
    plots.sort(key=lambda p: p.pop("_rank"))  # stable: ties keep the order above
    return {"plots": plots, "notes": notes}


_LAST = (99, 1 << 30)
_SEVERITY = {"critical": 0, "error": 0, "page": 0, "warning": 1, "info": 2}


def plot_order(alerts: Sequence[Alert]) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Rank of each plot an alert is about, lower first: ``("latency", model, version)`` for
    a latency alert, ``("feature", model, feature)`` for a feature alert. A firing alert
    before a resolved one, then by severity, then in the group's order; a plot no alert is
    about (the model's latency beside a drift alert) comes after all of these."""
    ranks: dict[tuple[Any, ...], tuple[int, int]] = {}
    for i, a in enumerate(alerts):
        rank = (
            (2 if a.resolved_at else 0) * 10 + _SEVERITY.get(a.labels.get("severity", ""), 3),
            i,
        )
        model = a.labels.get("model", "")
        keys: list[tuple[Any, ...]] = []
        if latency_column(a):
            keys.append(("latency", model, a.labels.get("version")))
        if score_column(a):
            keys.append(("score", model, a.labels.get("version")))
        keys += [("feature", model, f) for f in features_of(a)]
        for k in keys:
            ranks[k] = min(ranks.get(k, _LAST), rank)
    return ranks


_LATENCY_METRIC = re.compile(r"latency[._](p50|p75|p90|p99|mean)")


def latency_column(alert: Alert) -> str | None:
    """The store's latency column a latency alert is about (``latency.p99`` -> ``p99``);
    None for other alerts."""
    m = _LATENCY_METRIC.fullmatch(alert.labels.get("metric", ""))
    return m[1] if m else None


_SCORE_METRIC = re.compile(r"score\.(mean|std|p50|p90|min|max)")


def score_column(alert: Alert) -> str | None:
    """The store's score column a score alert is about (``score.mean`` -> ``mean``)."""
    m = _SCORE_METRIC.fullmatch(alert.labels.get("metric", ""))
    return m[1] if m else None


def _number(text: str | None) -> float | None:
    try:
        x = float(text) if text is not None else None
    except ValueError:
        return None
    return x if x is not None and np.isfinite(x) else None


def features_of(alert: Alert) -> list[str]:
    """The features an alert is about, most severe first: its ``feature`` label, or for the
    rules engine's one-alert-per-(rule, model) incident (which has no such label) the
    ``top_feature`` and then the rest of ``feature_names`` (``rules.grouping``)."""
    if alert.labels.get("feature"):
        return [alert.labels["feature"]]
    top = alert.annotations.get("top_feature", "")
    rest = [f for f in alert.annotations.get(FEATURE_NAMES, "").split(",") if f and f != top]
    return [top, *rest] if top else rest


def _finite(x: float) -> float:
    return x if np.isfinite(x) else float("-inf")


def _plot(name: str, title: str, png: bytes) -> dict[str, Any]:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return {"cid": f"{safe}@modelhealth", "title": title, "png": base64.b64encode(png).decode()}


_STEPS_MIN = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
MAX_LATENCY_POINTS = 72
MAX_LATENCY_WINDOW = timedelta(hours=24)
"""How far back a latency plot reaches to show when a long-running alert began."""


def latency_buckets(now: datetime, window: timedelta) -> tuple[int, int, int]:
    """``(start_ms, end_ms, step_ms)`` of a latency plot: a round step (5 min for 6 h) giving
    at most :data:`MAX_LATENCY_POINTS` buckets, and a start on the store's bucket grid, so
    only the newest bucket (the one still filling at ``now``) is partial."""
    end = to_epoch_ms(now)
    span = int(window.total_seconds() * 1000)
    step = next(
        (m * 60_000 for m in _STEPS_MIN if span / (m * 60_000) <= MAX_LATENCY_POINTS),
        _STEPS_MIN[-1] * 60_000,
    )
    start = ((end - span) // step) * step
    return start, end, step


def latency_marks(
    alerts: Sequence[Alert], model: str, version: str | None, column_of: Any = None
) -> list[LatencyMark]:
    """The threshold lines and start markers of ``model``'s (``version``'s) latency alerts
    (with ``column_of=score_column``: its score alerts)."""
    marks = []
    for a in alerts:
        column = (column_of or latency_column)(a)
        if column is None or a.labels.get("model") != model or a.labels.get("version") != version:
            continue
        marks.append(
            LatencyMark(
                column=column,
                threshold=_number(a.annotations.get("threshold")),
                value=_number(a.annotations.get("value")) or _number(str(a.value)),
                active_at=a.active_at,
                fired_at=a.fired_at,
                resolved_at=a.resolved_at,
            )
        )
    return marks


def latency_plot_figure(
    store: QueryBackend,
    model: str,
    now: datetime,
    window: timedelta,
    version: str | None = None,
    alerts: Sequence[Alert] = (),
) -> Figure | None:
    """The latency plot of an incident, before it is saved (None when there is no data)."""
    marks = latency_marks(alerts, model, version)
    window = _reach_back(window, now, marks)  # to show when the alerts began
    start, end, step = latency_buckets(now, window)
    scope = Scope(model=model, start_ms=start, end_ms=end, version=version)
    df = store.latency(scope, step_ms=step)
    if df.empty:
        return None
    wanted = ["p50", "p90", "p99", *sorted({m.column for m in marks} - {"p50", "p90", "p99"})]
    cols = {c: df[c].to_numpy() for c in wanted if c in df.columns}
    what = f"{model} {version}" if version else model
    title = f"{what} latency, last {human_span(window)}"
    return latency_figure(
        df["ts"].to_numpy(), cols, title=title, step_ms=step, end_ms=end, marks=marks
    )


def _reach_back(window: timedelta, now: datetime, marks: Sequence[LatencyMark]) -> timedelta:
    """``window``, widened (in whole hours, up to a day) to show when the alerts began."""
    began = [as_utc(b) for m in marks if (b := m.active_at or m.fired_at) is not None]
    if not began:
        return window
    hours = -(-(as_utc(now) - min(began)) * 1.15 // timedelta(hours=1))  # rounded up
    return min(max(window, timedelta(hours=hours)), MAX_LATENCY_WINDOW)


def score_plot_figure(
    store: QueryBackend,
    model: str,
    now: datetime,
    window: timedelta,
    version: str | None = None,
    alerts: Sequence[Alert] = (),
) -> Figure | None:
    """A score alert's plot: the score statistics its rules watch, over time, with their
    lines and start markers (None when there is no data)."""
    marks = latency_marks(alerts, model, version, score_column)
    window = _reach_back(window, now, marks)
    start, end, step = latency_buckets(now, window)
    df = store.score(Scope(model=model, start_ms=start, end_ms=end, version=version), step)
    if df.empty:
        return None
    wanted = sorted({m.column for m in marks}) or ["mean"]
    cols = {c: df[c].to_numpy() for c in wanted if c in df.columns}
    what = f"{model} {version}" if version else model
    return latency_figure(
        df["ts"].to_numpy(),
        cols,
        title=f"{what} score, last {human_span(window)}",
        step_ms=step,
        end_ms=end,
        marks=marks,
        ylabel="model score",
        unit="",
        from_zero=False,
    )


def _latency(
    store: QueryBackend,
    model: str,
    now: datetime,
    window: timedelta,
    version: str | None = None,
    alerts: Sequence[Alert] = (),
) -> bytes | None:
    fig = latency_plot_figure(store, model, now, window, version, alerts)
    return png_bytes(fig) if fig is not None else None


def histogram_plot_figure(
    store: QueryBackend,
    references: Mapping[str, ModelReference],
    model: str,
    feature: str,
    now: datetime,
    window: timedelta,
) -> Figure | None:
    """A feature's histogram over the last ``window`` vs its reference, before it is saved."""
    ref = references.get(model)
    fref = ref.features.get(feature) if ref else None
    end = to_epoch_ms(now)
    start = end - int(window.total_seconds() * 1000)
    df = store.feature_histograms(Scope(model=model, start_ms=start, end_ms=end), [feature])
    if df.empty:
        return None
    if fref is not None:
        labels = fref.bin_labels()
        reference = fref.distribution()
    else:  # no reference known: plot the current window alone over its own labels
        n = int(df["bin"].max()) + 1
        labels = [str(i) for i in range(n)]
        for b, lab in zip(df["bin"], df["label"], strict=False):
            labels[int(b)] = str(lab)
        reference = np.zeros(n)
    current = np.zeros(len(labels))
    for b, c in zip(df["bin"], df["count"], strict=False):
        if 0 <= int(b) < len(current):
            current[int(b)] += float(c)
    title = f"{feature}, last {human_span(window)} ({int(current.sum()):,} values)"
    return histogram_figure(labels, current, reference, title)


def _histogram(
    store: QueryBackend,
    references: Mapping[str, ModelReference],
    model: str,
    feature: str,
    now: datetime,
    window: timedelta,
) -> bytes | None:
    fig = histogram_plot_figure(store, references, model, feature, now, window)
    return png_bytes(fig) if fig is not None else None
