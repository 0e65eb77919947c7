"""The one query interface every consumer (rules, dashboard, CLI) uses.

Two backends answer it: :mod:`modelhealth.store.duckdb` (embedded default) and
:mod:`modelhealth.store.pinot` (at scale). Each keeps all of its SQL in its own module; names
are validated with :func:`modelhealth.names.check_name` and values travel as parameters.

All times are epoch milliseconds (``int``) and windows are half-open ``[start, end)``.
Returned DataFrames use the column names documented on each method, so both backends can be
compared row for row in the parity tests.
"""

from __future__ import annotations

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

    def time_range(self, model: str | None = None) -> tuple[int, int] | None:
        """(first, last) inference ts in ms, or None when nothing is stored."""
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
    out["mean"] = mean.where(numeric)
    out["std"] = (var.clip(lower=0) ** 0.5).where(numeric)
    out["min"] = out["min"].where(out["min"] < MISSING_MIN / 10)
    out["max"] = out["max"].where(out["max"] > MISSING_MAX / 10)
    for c in ("count", "nulls", "specials", "valid"):
        out[c] = out[c].astype("int64")
    return out.drop(columns=["sum", "sum_sq", "numeric_valid"])


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
