"""Building a contract from the reference (training) data: one profile per column.

:func:`read_table` reads the reference file (CSV or Parquet), :func:`build_contract` profiles
it into a :class:`~modelhealth.contracts.datamodel.DataContract`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.contracts.datamodel import ColumnContract, DataContract
from modelhealth.contracts.dtypes import is_text_column
from modelhealth.contracts.specials import INF_LABEL, _special_label, beyond_huge, special_mask
from modelhealth.ingestion.reference import DEFAULT_SPECIAL_VALUES, build_feature_reference
from modelhealth.names import check_name


def build_column(
    name: str,
    column: pd.Series,
    special_values: tuple[float, ...] = DEFAULT_SPECIAL_VALUES,
    bins: int = 10,
    max_categories: int = 50,
) -> ColumnContract:
    """Profile one reference column (bins via ``build_feature_reference``)."""
    n = max(len(column), 1)
    ref = build_feature_reference(name, column, bins, max_categories, special_values)
    nulls = column.isna()
    special: dict[str, float] = {}
    lo = hi = None
    domain: tuple[str, ...] = ()
    if ref.kind == "numeric":
        v = column.to_numpy(dtype=np.float64, na_value=np.nan)
        for s in special_values:
            special[_special_label(s)] = float(np.sum(v == s)) / n
        n_inf = int(beyond_huge(v).sum())
        if n_inf and INF_LABEL not in special:
            special[INF_LABEL] = n_inf / n  # so a window's nulls + specials match the rate
        valid = v[~special_mask(v, special_values)]
        if valid.size:
            lo, hi = float(valid.min()), float(valid.max())
    else:
        text = column[~nulls].astype(str)
        special["empty"] = float((text == "").sum()) / n
        values = text[text != ""].unique()
        if len(values) <= max_categories and column.dtype.kind != "M":  # dates move on
            domain = tuple(sorted(str(x) for x in values))
    present = column[~nulls]
    unique_rate = float(present.nunique()) / max(len(present), 1)
    return ColumnContract(
        name=name,
        dtype=str(column.dtype),
        kind=ref.kind,
        null_rate=float(nulls.sum()) / n,
        special_rates=special,
        min=lo,
        max=hi,
        # identifiers only: continuous floats are almost always distinct, and that is no key
        unique=bool(len(present) > 1 and unique_rate == 1.0 and column.dtype.kind not in "fc"),
        unique_rate=unique_rate,
        domain=domain,
        edges=ref.edges,
        categories=ref.categories,
        counts=ref.counts,
    )


def build_contract(
    model: str,
    frame: pd.DataFrame,
    *,
    special_values: Sequence[float] = DEFAULT_SPECIAL_VALUES,
    bins: int = 10,
    max_categories: int = 50,
    created_from: str = "",
    contract_version: int = 1,
) -> DataContract:
    """Profile a reference DataFrame into a contract (one ColumnContract per column)."""
    check_name(model, "model")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive whole number of quantile bins, got {bins!r}")
    if frame.empty:
        # a contract of no rows has null rates of 0/0, no ranges and no bins: every batch
        # would pass or fail it by accident (a header-only export made one, exit 0)
        raise ValueError(
            f"the reference has no rows ({len(frame.columns)} columns, 0 rows): a contract "
            "profiles the training data, so give it a file that holds some"
        )
    specials = tuple(float(s) for s in special_values)
    cols = {
        str(c): build_column(check_name(str(c), "column"), frame[c], specials, bins, max_categories)
        for c in frame.columns
    }
    return DataContract(
        model=model,
        columns=cols,
        row_count=len(frame),
        contract_version=contract_version,
        created_from=created_from,
        special_values=specials,
    )


ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?P<zone>Z|[+-]\d{2}:?\d{2})?)?"
)
"""An ISO-8601 date or date-time, as a CSV cell holds one (matched against the whole cell)."""


def iso_datetimes(column: pd.Series) -> pd.Series | None:
    """``column`` as datetimes when every value is an ISO-8601 date or date-time, else None.

    Strict: text only, every non-null cell a whole ISO date (``2026-02-30``, ``20260101``,
    ``1.5`` or one junk cell among dates leave the column text), zoned and naive times not
    mixed (they have no one time line); zoned times are converted to UTC."""
    present = column[column.notna()]
    if present.empty or not isinstance(first := present.iloc[0], str):
        return None
    if not ISO_DATETIME.fullmatch(first):  # most text columns end here, before a full scan
        return None
    if pd.api.types.infer_dtype(present, skipna=True) != "string":
        return None
    parts = present.str.extract(f"^(?P<whole>{ISO_DATETIME.pattern})$")
    if parts["whole"].isna().any():
        return None
    zoned = parts["zone"].notna()
    if zoned.any() and not zoned.all():
        return None
    try:
        return pd.to_datetime(column, format="ISO8601", errors="raise", utc=bool(zoned.all()))
    except (ValueError, OverflowError):  # 2026-13-01, year 9999 (out of bounds)
        return None


def _csv_dates(frame: pd.DataFrame, text: set[str]) -> pd.DataFrame:
    """A CSV frame with its ISO date columns (:func:`iso_datetimes`) as datetimes, but for
    the columns in ``text`` (a contract's text columns: read as written)."""
    for name in frame.columns:
        if frame[name].dtype == object and str(name) not in text:
            dates = iso_datetimes(frame[name])
            if dates is not None:
                frame[name] = dates
    return frame


def read_table(path: str | Path, contract: DataContract | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension) with a clear error for anything else.

    A CSV cell has no type: the parser guesses one per file, and two guesses misled a
    contract. Dates stayed text, so a contract built from a CSV reference profiled its
    ``day`` column as categories of training dates and read every later batch's new dates as
    out of the domain and drift (Parquet keeps the dtype and got the datetime treatment,
    type and null checks only); so a CSV column of ISO dates only (:func:`iso_datetimes`) is
    read as datetimes, the reference's and a batch's alike. And digits read as numbers, so
    with ``contract`` given (a batch to validate) the columns it holds as text categories
    (:func:`~modelhealth.contracts.dtypes.is_text_column`) are read as text: ``7`` there is
    the category "7", not a critical change to ``int64`` (or "7.0" beside a blank)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.suffix == ".parquet":
        kind, read = "Parquet", pd.read_parquet
    elif p.suffix in (".csv", ".txt") or p.name.endswith(".csv.gz"):
        # CSV cannot tell "" from a missing cell: both are read as null (Parquet can)
        kind, read = "CSV", pd.read_csv
    else:
        raise ValueError(f"{p}: expected a .csv or .parquet file")
    text = {n for n, c in contract.columns.items() if is_text_column(c)} if contract else set()
    try:
        if kind == "Parquet":
            return read(p)
        return _csv_dates(read(p, dtype=dict.fromkeys(text, str)), text)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{p}: the file is empty (expected a header row of column names)"
        ) from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        # pandas/pyarrow messages ("No columns to parse from file") do not name the file
        raise ValueError(f"{p}: cannot read it as {kind}: {exc}") from exc
