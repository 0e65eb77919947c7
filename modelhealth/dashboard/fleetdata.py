"""The Fleet page's numbers for every model at once: latency and each model's worst drift.

Why a module of its own: the page used to ask three queries per model (latency, its trend,
a histogram scan for drift), 3,000 store queries at 1,000 models, most of them scans of the
whole feature table (``benchmarks/dashboard_fleet.py``). On a store with the fleet queries
(DuckDB and Pinot: ``fleet_latency``, ``fleet_feature_histograms``, as the rules engine
uses) the page now makes three queries whatever the fleet's size; on one without it asks
model by model, each answer cached, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from modelhealth.dashboard.data import CACHE_TTL_S, Queries, StoreHandle
from modelhealth.drift.compare import drift_table_from_histograms, profile_histograms
from modelhealth.drift.metrics import LOWER_IS_DRIFT
from modelhealth.ingestion.reference import ModelReference
from modelhealth.store.backend import Scope

DRIFT_COLUMNS = ["model", "feature", "value"]


def fleet_latency(
    q: Queries,
    models: Sequence[str],
    start_ms: int,
    end_ms: int,
    step_ms: int | None = None,
    by_version: bool = False,
) -> pd.DataFrame:
    """``latency`` of many models: ``model [ts] [version] count errors mean p50 p75 p90 p99``.

    Without ``step_ms`` and ``by_version`` every model has its row (count 0 over no data),
    as ``latency`` answers one row for a model.

    >>> fleet_latency(q, ["churn", "fraud"], lo, hi, step_ms=300_000)"""
    if q.has("fleet_latency"):
        return q.fleet(
            "fleet_latency", models, start_ms, end_ms, step_ms=step_ms, by_version=by_version
        )
    frames = [
        q.latency(Scope(m, start_ms, end_ms), step_ms=step_ms, by_version=by_version).assign(
            model=m
        )
        for m in models
    ]
    if not frames:
        return pd.DataFrame(columns=["model", "count", "errors", "p99"])
    out = pd.concat(frames, ignore_index=True)
    return out[["model", *[c for c in out.columns if c != "model"]]]


def worst_drift(
    q: Queries,
    refs: Mapping[str, ModelReference],
    ref_keys: Mapping[str, str],
    models: Sequence[str],
    start_ms: int,
    end_ms: int,
    metric: str,
) -> pd.DataFrame:
    """``model feature value``: the most drifted feature of each of ``models`` (all with a
    reference in ``refs``) over ``[start_ms, end_ms)``; a model without feature rows in the
    window has no row, and one whose features have no value has ``""`` and NaN.

    >>> worst_drift(q, refs, keys, ["churn"], lo, hi, "psi")"""
    keyed = tuple((m, ref_keys.get(m, m)) for m in models)
    if q.has("fleet_feature_histograms"):
        return _cached_worst_drift(
            q.token, keyed, int(start_ms), int(end_ms), metric, q.handle, refs
        )  # type: ignore[no-any-return]
    rows = []
    for model, key in keyed:
        table = q.drift_table(Scope(model, start_ms, end_ms), refs[model], key, [metric])
        if len(table):
            rows.append((model, *top_feature(table)))
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=64, show_spinner=False)
def _cached_worst_drift(
    token: str,
    ref_keys: tuple[tuple[str, str], ...],
    start_ms: int,
    end_ms: int,
    metric: str,
    _h: StoreHandle,
    _refs: Mapping[str, ModelReference],
) -> pd.DataFrame:
    """:func:`worst_drift` from ONE histogram query over every model (keyed on each
    model's reference file, so an edited reference is read afresh)."""
    models = [m for m, _ in ref_keys]
    hist = _h.run(lambda store: store.fleet_feature_histograms(models, start_ms, end_ms))  # type: ignore[attr-defined]
    return fleet_drift(hist, {m: _refs[m] for m in models}, metric)


SEP = "\x1f"
"""Joins a model and a feature into one name: no model or feature name can hold it
(``names.check_name``), so ``m.a`` + ``b`` and ``m`` + ``a.b`` stay apart."""


def fleet_drift(
    hist: pd.DataFrame, refs: Mapping[str, ModelReference], metric: str
) -> pd.DataFrame:
    """``model feature value``: each model's most drifted feature, from fleet histograms
    (``model feature bin label count``) and the models' references, in ONE drift table.

    Each (model, feature) is a row of the drift module's matrix, as each feature is for one
    model: a table per model took 58 ms of pandas each, a minute at 1,000 models. A bin empty
    on both sides adds nothing to any metric, so a model's rows padded to another model's
    bin count give the values a table of its own gives. Models with a reference but no
    feature rows in the window have no row."""
    if hist.empty or not refs:
        return pd.DataFrame(columns=DRIFT_COLUMNS)
    hist = hist[hist["model"].isin(list(refs))]
    current = hist.assign(feature=hist["model"] + SEP + hist["feature"]).drop(columns="model")
    base = pd.concat(
        [profile_histograms(ref).assign(model=m) for m, ref in refs.items()], ignore_index=True
    )
    base["feature"] = base.pop("model") + SEP + base["feature"]
    joint = ModelReference(
        model="fleet",
        features={m + SEP + n: f for m, ref in refs.items() for n, f in ref.features.items()},
    )
    table = drift_table_from_histograms(current, base, joint, (metric,))
    parts = table["feature"].str.split(SEP, n=1, expand=True)
    table = table.assign(model=parts[0], feature=parts[1])
    table = table[table["model"].isin(set(hist["model"]))]
    valued = table[table["value"].notna()]
    drifted_first = metric not in LOWER_IS_DRIFT  # ties: the first feature by name, as rank
    top = valued.sort_values(
        ["model", "value", "feature"], ascending=[True, not drifted_first, True], kind="stable"
    ).drop_duplicates("model")
    out = pd.DataFrame({"model": sorted(set(table["model"]))})
    out = out.merge(top[["model", "feature", "value"]], on="model", how="left")
    out["feature"] = out["feature"].fillna("")
    return out[DRIFT_COLUMNS].astype({"value": "float64"})


def top_feature(table: pd.DataFrame) -> tuple[str, float]:
    """(feature, value) of a drift table's rank-1 row; ("", NaN) when none has a value."""
    top = table[table["rank"] == 1]
    if len(top) and pd.notna(top["value"].iloc[0]):
        return str(top["feature"].iloc[0]), float(top["value"].iloc[0])
    return "", float("nan")


def clear_fleet_caches() -> None:
    """Drop this module's cached answers (``data.clear_caches`` calls it)."""
    _cached_worst_drift.clear()
