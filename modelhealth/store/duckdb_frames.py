"""Shaping DuckDB's answers: integer columns, the ``ts`` bucket, a row per model of a fleet.

Used by :mod:`modelhealth.store.duckdb_sql`'s queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def _ints(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    if "bucket" in df.columns:
        df = df.rename(columns={"bucket": "ts"})
    for c in (*cols, "ts"):
        if c in df.columns:
            df[c] = df[c].astype("int64")
    return df


def _each_model(
    df: pd.DataFrame, models: Sequence[str], one_row_each: bool, zero: tuple[str, ...]
) -> pd.DataFrame:
    """Give every model its row when the per-model query would (an aggregate with no GROUP
    BY answers one row, count 0, even over no data); grouped queries simply omit models."""
    if not one_row_each:
        return df
    wanted = sorted(set(models))
    out = df.set_index("model").reindex(wanted)
    for c in zero:
        out[c] = out[c].fillna(0).astype("int64")
    return out.rename_axis("model").reset_index()
