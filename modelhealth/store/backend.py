"""The one query interface every consumer (rules, dashboard, CLI) uses.

Two backends answer it: :mod:`modelhealth.store.duckdb` (embedded default) and
:mod:`modelhealth.store.pinot` (at scale). Each keeps all of its SQL in its own module; names
are validated with :func:`modelhealth.names.check_name` and values travel as parameters.

All times are epoch milliseconds (``int``) and windows are half-open ``[start, end)``.
Returned DataFrames use the column names documented on each method, so both backends can be
compared row for row in the parity tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from modelhealth.names import check_name

LATENCY_QUANTILES: tuple[float, ...] = (0.5, 0.75, 0.9, 0.99)


@dataclass(frozen=True)
class Scope:
    """Which rows a query looks at: one model, optionally one version/host, a time window."""

    model: str
    start_ms: int
    end_ms: int
    version: str | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        check_name(self.model, "model")
        if self.version is not None:
            check_name(self.version, "version")
        if self.host is not None:
            check_name(self.host, "host")
        if self.end_ms <= self.start_ms:
            raise ValueError(f"empty window: end {self.end_ms} <= start {self.start_ms}")


class QueryBackend(Protocol):
    """Health queries over the stored tables; see module docstring for conventions."""

    def models(self) -> list[str]:
        """Every model with inference rows, sorted."""
        ...

    def versions(self, model: str) -> list[str]:
        """Every version of ``model`` seen, sorted."""
        ...

    def hosts(self, model: str) -> list[str]:
        """Every host that served ``model``, sorted (the dashboard's host filter)."""
        ...

    def time_range(
        self, model: str | None = None, version: str | None = None
    ) -> tuple[int, int] | None:
        """(first, last) inference ts in ms of ``model`` (every model when None) and, when
        given, its ``version``; None when nothing is stored. The rules read the first as
        "the store holds nothing older for this model": a baseline window before it is not
        a window without requests."""
        ...

    def latency(
        self, scope: Scope, step_ms: int | None = None, by_version: bool = False
    ) -> pd.DataFrame:
        """Columns: [ts] [version] count errors mean p50 p75 p90 p99 (latency in ms).

        With ``step_ms`` one row per time bucket (``ts`` = bucket start); else one row."""
        ...

    def score(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        """Columns: [ts] count mean std p50 p90 min max of the model score."""
        ...

    def score_histogram(self, scope: Scope, edges: Sequence[float]) -> pd.DataFrame:
        """Columns: bin count, bins as in FeatureReference (0 underflow … len(edges) overflow)."""
        ...

    def feature_summary(
        self,
        scope: Scope,
        features: Sequence[str] | None = None,
        step_ms: int | None = None,
        by_version: bool = False,
    ) -> pd.DataFrame:
        """Columns: [ts] [version] feature kind count nulls specials valid mean std min max."""
        ...

    def feature_histograms(
        self,
        scope: Scope,
        features: Sequence[str] | None = None,
        step_ms: int | None = None,
        by_version: bool = False,
    ) -> pd.DataFrame:
        """Columns: [ts] [version] feature bin label count (only non-empty bins)."""
        ...

    def outcomes(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        """Predictions joined to their labels: [ts] request_id score label ts_label."""
        ...

    def last_seen(self, until_ms: int | None = None) -> pd.DataFrame:
        """Columns: model last_ts (ms) — the newest inference per model (staleness), before
        ``until_ms`` when given (a backtest's tick must not see the data after it)."""
        ...

    def close(self) -> None: ...


def check_edges(edges: Sequence[float]) -> list[float]:
    """Histogram edges as floats, or ValueError naming what is wrong with them.

    Both backends bin a value as "the number of edges <= value", which is a bin index only for
    finite, strictly increasing edges: unsorted edges gave DuckDB and Pinot different answers
    (each internally inconsistent) and a NaN edge put everything in bin 0 on DuckDB. Every
    backend checks its edges here, before any query.
    """
    try:
        values = [float(e) for e in edges]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"histogram edges must be numbers, got {list(edges)!r}") from exc
    bad = [e for e in values if not math.isfinite(e)]
    if bad:
        raise ValueError(f"histogram edges must be finite, got {bad[0]} in {values}")
    for i in range(1, len(values)):
        if not values[i - 1] < values[i]:
            raise ValueError(
                "histogram edges must be strictly increasing, got "
                f"{values[i - 1]} before {values[i]} (edge {i}) in {values}"
            )
    return values


NO_HOST_FEATURES = "feature statistics are not kept per host; drop host from the scope"
"""Why a feature query refuses a Scope with a host: the feature tables have no host column."""


def check_feature_scope(scope: Scope) -> Scope:
    """``scope`` if the feature tables can answer it, else ValueError (both backends)."""
    if scope.host is not None:
        raise ValueError(f"{NO_HOST_FEATURES} (host={scope.host!r})")
    return scope


def check_model_filter(model: str | None) -> str | None:
    """``None`` means every model; anything else must be a valid model name. ``""`` used to
    mean "all models" on Pinot and "no model" on DuckDB; it is an invalid name on both."""
    return None if model is None else check_name(model, "model")


def check_version_filter(model: str | None, version: str | None) -> str | None:
    """A version filter (``time_range``): None, or a valid version name of a given model."""
    if version is None:
        return None
    if model is None:
        raise ValueError(f"version {version!r} needs its model")
    return check_name(version, "version")


LABEL_SKEW_MS = 86_400_000
"""How much earlier than its window a label may be timestamped and still join a prediction
(clock skew between the model server and the labelling job): ``outcomes()`` reads the labels
from ``start - LABEL_SKEW_MS`` on, so a tick does not read a model's whole label history."""


def check_features(features: Sequence[str] | None) -> list[str] | None:
    if features is None:
        return None
    return [check_name(f, "feature") for f in features]


SUMMARY_SUMS = ("count", "nulls", "specials", "valid", "sum", "sum_sq", "min", "max")
"""The per-row aggregates of ``feature_summary`` before :func:`finish_summary`."""


def finish_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Derive mean/std from sums and turn the missing-min/max sentinels into NaN.

    Both backends group on ``kind`` (Pinot has no ``any_value``), so a feature whose values
    changed kind inside one group (numeric in v1, strings in v2; or a flush of only nulls
    stored before the SDK saw a number) comes as several rows. They are merged here, the same
    way for every backend: counts add up, mean/std/min/max come from the numeric rows alone,
    and ``kind`` says ``mixed`` when both kinds held values, so neither the mean is diluted by
    strings nor the change hidden.
    """
    from modelhealth.ingestion.schema import MISSING_MAX, MISSING_MIN

    out = df.copy()
    out["numeric_valid"] = out["valid"].where(out["kind"] == "numeric", 0)
    keys = [c for c in out.columns if c not in (*SUMMARY_SUMS, "kind", "numeric_valid")]
    if len(out) and out.duplicated(keys).any():
        out = _merge_kinds(out, keys, MISSING_MIN, MISSING_MAX)
    valid = out["numeric_valid"].astype("float64")
    mean = out["sum"] / valid.where(valid > 0)
    var = (out["sum_sq"] / valid.where(valid > 0)) - mean * mean
    numeric = out["kind"].isin(NUMERIC_KINDS)
    out["min"] = out["min"].where(out["min"] < MISSING_MIN / 10)
    out["max"] = out["max"].where(out["max"] > MISSING_MAX / 10)
    out["mean"] = mean.where(numeric)
    out["std"] = std_from_moments(var, out["min"], out["max"]).where(numeric)
    for c in ("count", "nulls", "specials", "valid"):
        out[c] = out[c].astype("int64")
    return out.drop(columns=["sum", "sum_sq", "numeric_valid"])


def std_from_moments(var: pd.Series, lo: pd.Series, hi: pd.Series) -> pd.Series:
    """Population std from ``var = E[x^2] - E[x]^2``, kept within what min/max allow.

    The one-pass formula is all the stored sums (feature ``sum``/``sum_sq``) and Pinot 0.11
    (no ``STDDEV_POP``, for the score) offer. It cancels catastrophically when the values sit
    far from zero relative to their spread: the absolute error of ``var`` is about
    ``eps * E[x^2]`` (``eps`` = 2.2e-16, times a small factor for the additions over rows), so
    the std's relative error is about ``eps * (mean / std)^2 / 2`` and the answer is noise once
    ``|mean| / std`` nears 1e8 (a feature of 1.7e9 + N(0, 1), epoch seconds, gave 25 instead
    of 1). Exact to ~1e-9 only while ``|mean| / std`` stays below ~1e3, which holds for
    centred features and scores in [0, 1].

    What is cheap and always right is applied here: a window whose min equals its max has
    std 0 exactly (a constant feature at 1.7e9 is not "noisy"), and no std exceeds
    ``(max - min) / 2`` (Popoviciu's inequality), which caps the noise at the data's range.
    """
    std = var.clip(lower=0) ** 0.5
    half_range = (hi - lo) / 2
    return std.where(~(std > half_range), half_range)


NUMERIC_KINDS = ("numeric", "mixed")
"""Summary kinds whose mean/std/min/max describe numeric values."""


def _merge_kinds(
    df: pd.DataFrame, keys: list[str], missing_min: float, missing_max: float
) -> pd.DataFrame:
    numeric = df["kind"] == "numeric"
    held = df["valid"] > 0
    parts = df.assign(
        sum=df["sum"].where(numeric, 0.0),
        sum_sq=df["sum_sq"].where(numeric, 0.0),
        min=df["min"].where(numeric, missing_min),
        max=df["max"].where(numeric, missing_max),
        has_numeric=numeric & held,
        has_other=~numeric & held,
        any_numeric=numeric,
    )
    sums = {c: "sum" for c in ("count", "nulls", "specials", "valid", "numeric_valid")}
    merged = (
        parts.groupby(keys, sort=False, dropna=False)
        .agg(
            **{c: (c, how) for c, how in sums.items()},
            sum=("sum", "sum"),
            sum_sq=("sum_sq", "sum"),
            min=("min", "min"),
            max=("max", "max"),
            has_numeric=("has_numeric", "any"),
            has_other=("has_other", "any"),
            any_numeric=("any_numeric", "any"),
        )
        .reset_index()
    )
    both = merged["has_numeric"] & merged["has_other"]
    categorical = merged["has_other"] | ~merged["any_numeric"]
    merged["kind"] = np.select([both, categorical], ["mixed", "categorical"], "numeric")
    order = [c for c in df.columns if c in merged.columns]
    return merged[order].sort_values(keys, kind="stable").reset_index(drop=True)
