"""Builds the data behind an incident email: latency and feature-histogram plots from the store.

Computed once, when the notification is written to the outbox, and stored with it, so every
retry (and a re-send after a crash) carries the same report. Failures become a note in the
email instead of blocking delivery: an alert without a plot beats no alert.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from modelhealth.alerting.plots import histogram_png, latency_png
from modelhealth.clock import to_epoch_ms
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
    """``{"plots": [{cid, title, png(base64)}], "notes": [...]}`` for one group's alerts."""
    plots: list[dict[str, Any]] = []
    notes: list[str] = []
    if store is None:
        return {"plots": plots, "notes": notes}
    # one latency plot per alerting (model, version): a canary's regression is invisible in
    # the model-wide percentiles when the canary takes a small share of the traffic
    targets = sorted(
        {
            (a.labels.get("model", ""), a.labels.get("version"))
            for a in alerts
            if a.labels.get("model")
        },
        key=lambda t: (t[0], t[1] or ""),
    )
    for model, version in targets[:2]:
        what = f"{model} {version}" if version else model
        try:
            png = _latency(store, model, now, latency_window, version)
            if png:
                name = f"latency-{model}-{version}" if version else f"latency-{model}"
                plots.append(_plot(name, f"{what}: latency percentiles", png))
        except Exception as exc:  # plotting must never block a page
            log.warning("latency plot for %s failed: %s", what, exc)
            notes.append(f"latency plot for {what} unavailable: {exc}")
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
                plots.append(_plot(f"hist-{model}-{feature}", title, png))
        except Exception as exc:
            log.warning("histogram for %s/%s failed: %s", model, feature, exc)
            notes.append(f"histogram of {feature} unavailable: {exc}")
    return {"plots": plots, "notes": notes}


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


def _latency(
    store: QueryBackend, model: str, now: datetime, window: timedelta, version: str | None = None
) -> bytes | None:
    end = to_epoch_ms(now)
    start = end - int(window.total_seconds() * 1000)
    step = max(60_000, (end - start) // 60)
    scope = Scope(model=model, start_ms=start, end_ms=end, version=version)
    df = store.latency(scope, step_ms=step)
    if df.empty:
        return None
    cols = {c: df[c].to_numpy() for c in ("p50", "p90", "p99") if c in df.columns}
    title = f"{model} {version} latency (ms)" if version else f"{model} latency (ms)"
    return latency_png(df["ts"].to_numpy(), cols, title=title)


def _histogram(
    store: QueryBackend,
    references: Mapping[str, ModelReference],
    model: str,
    feature: str,
    now: datetime,
    window: timedelta,
) -> bytes | None:
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
    return histogram_png(labels, current, reference, f"{feature} (last {window})")
