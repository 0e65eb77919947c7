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

DRIFT_COLUMNS = ["model", "feature", "value", "tied"]

NO_DRIFT_TOLERANCE = 1e-12
"""How far from its no-drift value (:func:`no_drift_value`) a worst value may be and still
read as no drift at all: identical distributions give exactly 0, proportional counts (the
same shares over twice the rows) a rounding error of ~1e-17."""


def no_drift_value(metric: str) -> float:
    """What ``metric`` reads when nothing changed: 1 for a p-value (``LOWER_IS_DRIFT``),
    0 for every distance and statistic."""
    return 1.0 if metric in LOWER_IS_DRIFT else 0.0


def shows_no_drift(values: pd.Series, metric: str) -> pd.Series:
    """Which ``values`` of ``metric`` are its no-drift value (NaN is not: it has no value)."""
    return (values - no_drift_value(metric)).abs() <= NO_DRIFT_TOLERANCE


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
    """``model feature value tied``: the most drifted feature of each of ``models`` (all
    with a reference in ``refs``) over ``[start_ms, end_ms)``, as :func:`pick_worst` picks
    it; a model without feature rows in the window has no row, one whose features have no
    value has ``""`` and NaN, and one whose worst value is no drift at all ``""`` and that
    value.

    >>> worst_drift(q, refs, keys, ["churn"], lo, hi, "psi")"""
    keyed = tuple((m, ref_keys.get(m, m)) for m in models)
    if q.has("fleet_feature_histograms"):
        return _cached_worst_drift(
            q.token, keyed, int(start_ms), int(end_ms), metric, q.handle, refs
        )  # type: ignore[no-any-return]
    tables = []
    for model, key in keyed:
        table = q.drift_table(Scope(model, start_ms, end_ms), refs[model], key, [metric])
        if len(table):
            tables.append(table[["feature", "value"]].assign(model=model))
    if not tables:
        return pd.DataFrame(columns=DRIFT_COLUMNS)
    return pick_worst(pd.concat(tables, ignore_index=True), metric)


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
    """``model feature value tied``: each model's most drifted feature (:func:`pick_worst`),
    from fleet histograms (``model feature bin label count``) and the models' references,
    in ONE drift table.

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
    return pick_worst(table, metric)


def pick_worst(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``model feature value tied``, one row per model of ``table`` (``model feature value``,
    a row per feature): the feature with the most drift in ``metric``'s direction.

    Both ways of asking (the fleet query, model by model) pick here, so they name the same
    feature. Ties go to the first feature by name (as the drift table ranks them, whatever
    order the rows come in), and ``tied`` counts the other features with exactly that
    value, for the page to say it is a tie. A model whose worst value is :func:`no_drift_value`
    (every PSI 0: nothing moved) has feature ``""``: naming the first of features that all
    read 0 made it look like the one that drifted. NaN values are not ranked; a model
    without any has ``""`` and NaN."""
    if table.empty:
        return pd.DataFrame(columns=DRIFT_COLUMNS)
    valued = table[table["value"].notna()]
    drifted_first = metric not in LOWER_IS_DRIFT
    top = valued.sort_values(
        ["model", "value", "feature"], ascending=[True, not drifted_first, True], kind="stable"
    ).drop_duplicates("model")
    level = valued["model"].map(top.set_index("model")["value"])
    tied = (valued["value"] == level).groupby(valued["model"]).sum() - 1
    out = pd.DataFrame({"model": sorted(set(table["model"]))})
    out = out.merge(top[["model", "feature", "value"]], on="model", how="left")
    out["feature"] = out["feature"].fillna("")
    out["tied"] = out["model"].map(tied).fillna(0).astype("int64")
    calm = shows_no_drift(out["value"], metric)
    out.loc[calm, "feature"] = ""
    out.loc[calm, "tied"] = 0
    return out[DRIFT_COLUMNS].astype({"value": "float64"})


def clear_fleet_caches() -> None:
    """Drop this module's cached answers (``data.clear_caches`` calls it)."""
    _cached_worst_drift.clear()
