"""Shaping the Pinot broker's answers as DuckDB's: column types, empty answers, fleet rows.

Pinot answers SUM and bucket arithmetic as DOUBLE, aggregates over no rows as +-Infinity and
omits a model a grouped fleet query found no rows of; :class:`~modelhealth.store.duckdb.DuckDBStore`
answers integers, NULL and a row per model. These helpers close the gap for
:mod:`modelhealth.store.pinot_sql`'s queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

_OUTCOME_DTYPES = {
    "ts": "int64",
    "request_id": "object",
    "score": "float64",
    "label": "float64",
    "ts_label": "int64",
}


TEXT_COLUMNS = frozenset({"model", "version", "host", "feature", "kind", "label", "request_id"})
"""Columns an empty answer types as strings; every other column is numeric."""


def _each_model(
    df: pd.DataFrame, models: Sequence[str], one_row_each: bool, zero: tuple[str, ...]
) -> pd.DataFrame:
    """Give every model its row when the per-model query would, as DuckDB's fleet queries
    do: an aggregate without GROUP BY answers one row (count 0) even over no data, while
    the fleet query's GROUP BY model leaves a model without rows out."""
    if not one_row_each:
        return df
    out = df.set_index("model").reindex(sorted(set(models)))
    for c in zero:
        out[c] = out[c].fillna(0).astype("int64")
    return out.rename_axis("model").reset_index()


def _ints(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Pinot answers SUM and bucket arithmetic as DOUBLE; DuckDB's columns are integers."""
    df = df.rename(columns={"bucket": "ts"})
    for c in (*cols, "ts", "nulls", "specials", "valid"):
        if c in df.columns:
            df[c] = df[c].astype("float64").astype("int64")
    return df


def _empty_stats(df: pd.DataFrame) -> pd.DataFrame:
    """Pinot reports aggregates over zero rows as +-Infinity; DuckDB says NULL (NaN)."""
    for c in df.columns:
        if c not in ("ts", "count", "errors") and c not in TEXT_COLUMNS and len(df):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
            if "count" in df.columns:
                df.loc[df["count"] == 0, c] = float("nan")
    return df
