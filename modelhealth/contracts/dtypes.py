"""The ``dtype`` check of a batch column: has the type of its values changed since training?

A dtype name alone misleads for ``object`` columns. A bool column with one missing value is
``object`` to pandas (``read_csv`` of ``True,,False``; a DataFrame built from JSON records),
so a contract built from the Parquet training file (``bool``) read every CSV export with a
blank as a critical type change, and a contract built from that CSV read the clean ``bool``
batch the same way; the SDK sees the same bools either way. So an ``object`` column is typed
by its values (``pandas.api.types.infer_dtype``), and a contract's ``object`` column by how it
was profiled: numeric means it held numbers and bools only
(:func:`modelhealth.ingestion.reference.is_numeric_column`), anything else text.

A changed dtype within one family (``int64`` -> ``float64``, ``bool`` -> ``object`` holding
bools) is a warning; another family of values (numbers -> text) is critical.
"""

from __future__ import annotations

import pandas as pd

from modelhealth.contracts.datamodel import ColumnContract
from modelhealth.contracts.report import CheckResult, Status

_INFERRED: dict[str, str] = {
    "boolean": "bool",
    "integer": "number",
    "floating": "number",
    "mixed-integer-float": "number",
    "decimal": "number",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}
"""``infer_dtype`` answers (nulls skipped) of an ``object`` column -> its family; others text."""


def dtype_family(dtype: str) -> str:
    """``number``, ``bool``, ``datetime`` or ``text`` by a dtype's name (``Int64`` included)."""
    d = dtype.lower()
    if d.startswith(("int", "uint", "float")):
        return "number"
    if d.startswith("bool"):
        return "bool"
    if d.startswith("datetime"):
        return "datetime"
    return "text"


TIME_NOTE = "not judged: a date/time column (its values move on with time)"
"""Why a datetime column gets no domain or PSI verdict (see :func:`is_time_column`)."""


def is_time_column(col: ColumnContract) -> bool:
    """Whether a contract column holds dates or times: checked for type and nulls only.

    Profiled as categories, a training file's ``day`` column (30 dates) made every later
    batch critical, its dates all "outside the domain" and PSI 15: dates move on, and that
    is no drift."""
    return dtype_family(col.dtype) == "datetime"


def is_text_column(col: ColumnContract) -> bool:
    """Whether a contract column held text categories (not numbers, bools or times).

    Such a column of a CSV batch is read as text (:func:`modelhealth.contracts.build.read_table`
    with the contract): the CSV parser types each file by its cells, so a batch whose
    category codes happened to be all digits (``7``) read as ``int64`` (``7.0`` with a blank)
    and was a critical type change, where it is the category "7", in the domain or not."""
    return col.kind == "categorical" and contract_families(col) == frozenset({"text"})


def contract_families(col: ColumnContract) -> frozenset[str]:
    """The families a contract column's training values were of."""
    if col.dtype == "object" and col.kind == "numeric":
        return frozenset({"number", "bool"})  # profiled numeric: numbers and bools only
    return frozenset({dtype_family(col.dtype)})


def values_family(s: pd.Series) -> str | None:
    """The family of a batch column's values; None when it holds no value to tell by."""
    if not s.notna().any():
        return None
    if s.dtype != object:
        return dtype_family(str(s.dtype))
    return _INFERRED.get(pd.api.types.infer_dtype(s, skipna=True), "text")


def dtype_check(col: ColumnContract, s: pd.Series) -> CheckResult:
    """Healthy when the batch's values are of the contract's dtype; see the module docstring.

    An ``object`` column is judged by its values even when the contract's dtype is
    ``object`` too: bools where training had text are another type whatever pandas calls it.
    A column of nulls only has no type to judge: a differing dtype name is a warning (the
    ``null_rate`` check reports the nulls)."""
    dtype = str(s.dtype)
    family = values_family(s)
    expected = contract_families(col)
    if dtype == col.dtype and (dtype != "object" or family is None or family in expected):
        return CheckResult("dtype", col.name, Status.HEALTHY, float("nan"), None, dtype)
    if family is None:
        status, held = Status.WARNING, " (all null: no value to tell the type by)"
    else:
        status = Status.WARNING if family in expected else Status.CRITICAL
        held = f" holding {family} values" if dtype == "object" else ""
    wanted = " or ".join(sorted(expected))
    shown = f" ({wanted} values)" if col.dtype == "object" else ""
    msg = f"dtype {dtype}{held}, contract {col.dtype}{shown}"
    return CheckResult("dtype", col.name, status, float("nan"), None, msg)
