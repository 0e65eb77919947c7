"""Drift heatmap page: features × time buckets coloured by the chosen drift metric."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pandas as pd
import streamlit as st

from modelhealth.dashboard import charts
from modelhealth.dashboard.cells import Floor, floors_of, mark_too_few
from modelhealth.dashboard.charts import FEW_NAME
from modelhealth.dashboard.context import PageContext, current
from modelhealth.dashboard.text import counted, plain
from modelhealth.drift.compare import Baseline
from modelhealth.drift.metrics import DEFAULT_THRESHOLDS, DRIFT_METRICS, LOWER_IS_DRIFT

HEATMAP_BUCKETS = 96
BASELINES = ("reference profile", "same time 1 day earlier", "same time 7 days earlier")


def heatmap_step(ctx: PageContext) -> int:
    w = ctx.window
    return max(w.step_ms, (w.end_ms - w.start_ms) // HEATMAP_BUCKETS)


def heatmap_data(
    ctx: PageContext, metric: str, baseline_name: str, version: str | None
) -> tuple[pd.DataFrame, list[str]]:
    """The drift series of complete buckets and its features ordered most-drifted first.

    The bucket still filling is left out (:func:`charts.complete_buckets`): a few minutes of
    requests against the baseline spike and would count as a drifted bucket. A bucket with
    fewer values than the drift rules judge is marked ``few`` (``dashboard.cells``) and does
    not count towards the order either, for the same reason; "fewer" by the ``min_count`` of
    the model's own drift rules on ``metric`` that judge the cell's feature in ``version``
    (``cells.floors_of``)."""
    assert ctx.model is not None
    w = ctx.window
    ref = ctx.references.get(ctx.model)
    key = ctx.reference_keys.get(ctx.model, ctx.model)
    if baseline_name == BASELINES[0]:
        if ref is None:
            return pd.DataFrame(), []
        baseline, bkey = Baseline.profile(ref), ("profile", key)
    else:
        days = 1 if baseline_name == BASELINES[1] else 7
        baseline, bkey = Baseline.shifted(timedelta(days=days), ref), ("shifted", days, key)
    step = heatmap_step(ctx)
    series = ctx.queries.drift_series(
        w.scope(ctx.model, version=version), baseline, bkey, metric, step
    )
    series = charts.complete_buckets(series, step, w.start_ms, w.data_end_ms)
    if series.empty:
        return series, []
    floors = floors_of(metric, series["feature"].unique(), ctx.rules, ctx.model, version)
    series = mark_too_few(series, floors)
    judged = series.assign(value=series["value"].where(~series["few"]))
    worst = judged.groupby("feature")["value"].agg("min" if metric in LOWER_IS_DRIFT else "max")
    order = worst.sort_values(ascending=metric in LOWER_IS_DRIFT, na_position="last")
    return series, [str(f) for f in order.index]


def _worst(series: pd.DataFrame, feature: str, metric: str) -> float:
    """A feature's most drifted bucket: the largest value, or the smallest for a metric whose
    small values mean drift (a p-value); the column took the largest p-value, the least
    drifted bucket."""
    judged = ~series["few"] if "few" in series else True  # few cells: not judged
    values = series.loc[(series["feature"] == feature) & judged, "value"]
    return float(values.min() if metric in LOWER_IS_DRIFT else values.max())


# Features a caption names per min_count before counting the rest.
MAX_NAMED = 5


def _named(features: list[str]) -> str:
    """Up to :data:`MAX_NAMED` feature names (escaped), then how many more."""
    named = ", ".join(plain(f) for f in features[:MAX_NAMED])
    more = len(features) - MAX_NAMED
    return f"{named} and {counted(more, 'more feature')}" if more > 0 else named


def few_caption(series: pd.DataFrame, floors: Mapping[str, Floor]) -> str:
    """What the grey cells of ``series`` are and which rule's ``min_count`` greyed them: one
    number when every such feature has the same floor, else each floor with its features
    (a rule with ``features:`` sets the floor of those features only)."""
    few = series[series["few"].astype(bool)]
    by_floor: dict[Floor, list[str]] = {}
    for feature in sorted(few["feature"].unique()):
        by_floor.setdefault(floors[str(feature)], []).append(str(feature))
    head = f"{counted(len(few), 'cell')} in grey: {FEW_NAME}, "
    tail = ", so not judged and not counted as drifted; hover a cell for its count and rule."
    if len(by_floor) == 1:
        floor = next(iter(by_floor))
        return (
            f"{head}fewer than {floor.count} values in the bucket or its baseline "
            f"({floor.source()}){tail}"
        )
    each = "; ".join(
        f"{floor.count} for {_named(feats)} ({floor.source()})"
        for floor, feats in sorted(by_floor.items(), key=lambda kv: (kv[0].count, kv[1]))
    )
    need = "fewer values in the bucket or its baseline than the feature's drift rules need"
    return f"{head}{need}: {each}{tail}"


def render(ctx: PageContext) -> None:
    st.title(f"Drift heatmap: {plain(ctx.model)}" if ctx.model else "Drift heatmap")
    if ctx.model is None:
        st.info("The store holds no models yet.")
        return
    c1, c2, c3, c4 = st.columns(4)
    metric = c1.selectbox("Drift metric", list(DRIFT_METRICS), key="heat_metric")
    baseline_name = c2.selectbox("Baseline", BASELINES, key="heat_baseline")
    versions = ctx.queries.versions(ctx.model)
    version = c3.selectbox("Version", ["(all)", *versions], key="heat_version")
    top = c4.number_input("Features shown", 1, 500, 40, key="heat_top")
    selected = None if version == "(all)" else version
    series, order = heatmap_data(ctx, metric, baseline_name, selected)
    if not order:
        st.info(
            "No drift to show: no feature data in this range, or no reference profile for "
            "this model (set `reference:` in its config) when comparing with the profile."
        )
        return
    shown = order[: int(top)]
    w, step = ctx.window, heatmap_step(ctx)
    complete = w.complete_buckets(step)
    st.plotly_chart(
        charts.drift_heatmap(series[series["feature"].isin(shown)], metric, shown, complete),
        width="stretch",
        key="heatmap",
    )
    if left_out := len(w.buckets(step)) - len(complete):
        st.caption(
            f"{left_out} incomplete bucket(s) left out (the one still filling, or one cut by "
            "the window start): drift over part of a bucket's requests is not judged."
        )
    drifted = series[series["drifted"]].groupby("feature").size()
    summary = pd.DataFrame(
        {
            "feature": order,
            "worst": [_worst(series, f, metric) for f in order],
            "drifted buckets": [int(drifted.get(f, 0)) for f in order],
        }
    )
    st.caption(f"Threshold for {metric}: {DEFAULT_THRESHOLDS[metric]} (default)")
    on_screen = series[series["feature"].isin(shown)]
    if on_screen["few"].any():
        floors = floors_of(metric, shown, ctx.rules, ctx.model, selected)
        st.caption(few_caption(on_screen, floors))
    st.dataframe(summary, hide_index=True, width="stretch", key="heat_summary")


if __name__ == "__main__":
    render(current())
