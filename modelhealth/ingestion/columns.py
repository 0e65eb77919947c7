"""The feature and per-row columns of what a Monitor was given, as numpy arrays.

The arguments of one ``log_batch`` call (checked for shape by :func:`batch_columns`, row by
row by :func:`check_rows`); the events ``log()`` buffered become columns in
:mod:`modelhealth.ingestion.batching`. Kept apart from the Monitor so that its buffering and
flushing read as such; nothing here holds state or a lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modelhealth.ingestion.validate import (
    MAX_TS_MS,
    REQUEST_ID_RULE,
    EventRejected,
    batch_feature_bad,
    batch_numbers,
    batch_request_ids,
    batch_ts_ms,
    shown,
    utc_datetime64,
)
from modelhealth.ingestion.validate import unreadable_value as _unreadable
from modelhealth.names import is_valid_name

_ROW_RULES = {
    "bad_ts": (
        "ts_ms must be epoch seconds or milliseconds, a numpy/pandas datetime64 (tz-naive"
        " read as UTC; NaT is no time) or a timezone-aware datetime, between 1970-01-01 and"
        " 2200-01-01"
    ),
    "bad_latency_ms": "latency_ms must be a finite number >= 0",
    "bad_score": "score must be a finite number",
    "bad_request_id": REQUEST_ID_RULE,
}
"""What each per-row check of ``log_batch`` requires, as its parked reason says."""


_BOOL_TYPES = frozenset({bool, np.bool_})


@dataclass(frozen=True)
class BatchColumns:
    """The arguments of one ``log_batch`` call as 1-D arrays of one length."""

    latency_ms: np.ndarray
    score: np.ndarray
    ts_ms: np.ndarray | None
    request_ids: np.ndarray | None
    is_error: np.ndarray | None
    features: dict[str, np.ndarray]

    def row_values(self) -> dict[str, np.ndarray]:
        """The per-row columns a parked row reports (features only when they are the reason)."""
        cols = {"ts_ms": self.ts_ms, "latency_ms": self.latency_ms, "score": self.score}
        cols["request_id"] = self.request_ids
        return {k: v for k, v in cols.items() if v is not None}


@dataclass(frozen=True)
class CheckedRows:
    """What :func:`check_rows` read of a batch: the values as numbers, and per row 0 (good)
    or 1 + the index in ``checks`` of the first check it failed."""

    ts: np.ndarray
    lat: np.ndarray
    sc: np.ndarray
    rids: np.ndarray
    err: np.ndarray
    reason: np.ndarray
    checks: list[tuple[str, np.ndarray, str, str]]
    bad_names: frozenset[str]


def check_rows(cols: BatchColumns, now_ms: int) -> CheckedRows:
    """Every per-row check of a batch, with no side effect: each value of the caller's is
    read here, so whatever it raises (see :meth:`~modelhealth.ingestion.sdk.Monitor.log_batch`)
    happens before any row is counted, parked or reserved, and the whole batch can be parked
    without counting a row twice."""
    n = cols.latency_ms.size
    lat, sc = batch_numbers(cols.latency_ms), batch_numbers(cols.score)
    ts = np.full(n, float(now_ms)) if cols.ts_ms is None else batch_ts_ms(cols.ts_ms)
    rids, bad_rid = batch_request_ids(cols.request_ids, n)
    ok_lat = np.isfinite(lat) & (lat >= 0)
    checks = [
        ("bad_ts", ~((ts >= 0) & (ts < MAX_TS_MS)), _ROW_RULES["bad_ts"], ""),
        ("bad_latency_ms", ~ok_lat, _ROW_RULES["bad_latency_ms"], ""),
        ("bad_score", ~np.isfinite(sc), _ROW_RULES["bad_score"], ""),
        ("bad_request_id", bad_rid, _ROW_RULES["bad_request_id"], ""),
    ]
    for k, v in cols.features.items():
        bad = batch_feature_bad(v)
        if bad is not None:
            msg = f"feature {shown(k)} must be a number, string, bool or None"
            checks.append(("bad_feature_value", bad, msg, k))
    reason = np.zeros(n, np.int16)  # 0: good, else 1 + index of the first failed check
    for i, (_, mask, _, _) in enumerate(checks, 1):
        reason[(reason == 0) & mask] = i
    err = np.zeros(n, np.int32) if cols.is_error is None else _flags(cols.is_error)
    bad_names = frozenset(k for k in cols.features if not is_valid_name(k))
    return CheckedRows(ts, lat, sc, rids, err, reason, checks, bad_names)


def unreadable_rows(feats: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Rows holding a feature value the aggregation cannot read (see
    :func:`~modelhealth.ingestion.validate.unreadable_value`), or None if there is none.
    Only object columns can hold one; called only after an aggregation failed."""
    bad: np.ndarray | None = None
    for values in feats.values():
        if values.dtype.kind != "O":
            continue
        mask = np.fromiter((_unreadable(v) is not None for v in values), bool, values.size)
        if mask.any():
            bad = mask if bad is None else bad | mask
    return bad


def batch_columns(
    features: object,
    score: object,
    latency_ms: object,
    ts_ms: object,
    request_ids: object,
    is_error: object,
) -> BatchColumns:
    """Shape checks of a batch: raise EventRejected(bad_batch) naming the argument."""
    lat = _vector(latency_ms, "latency_ms", None, numbers=True)
    n = lat.size
    if not isinstance(features, Mapping):
        raise EventRejected(
            "bad_features",
            f"features must map feature names to columns, got {type(features).__name__}",
        )
    return BatchColumns(
        latency_ms=lat,
        score=_vector(score, "score", n, numbers=True),
        ts_ms=None if ts_ms is None else _vector(utc_datetime64(ts_ms), "ts_ms", n, numbers=True),
        request_ids=None
        if request_ids is None
        else _vector(request_ids, "request_ids", n, dtype=object),
        is_error=None if is_error is None else _vector(is_error, "is_error", n),
        features={k: _vector(_plain(v), f"features[{shown(k)}]", n) for k, v in features.items()},
    )


def _plain(values: object) -> object:
    """A pandas column of an extension dtype (Int64, boolean, string, Categorical) as Python
    objects, missing values kept missing and values kept as they are: numpy made Int64's
    missing values NaN (a special value, where the reference counts a null) and a Categorical
    of ints floats ("101.0", where the reference has the category "101")."""
    if isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray) and not (
        isinstance(values.dtype, np.dtype)
    ):
        return np.asarray(values.astype(object), dtype=object)
    return values


def _vector(
    values: object, arg: str, n: int | None, *, dtype: object = None, numbers: bool = False
) -> np.ndarray:
    """``values`` as a 1-D array of ``n`` entries. A list holding strings becomes an object
    array, not numpy strings: those turn a list mixing numbers and strings into all strings
    (numbers columns are checked per row) and drop trailing NULs ("DE\x00" became "DE",
    merging a category with its prefix).

    For a column of ``numbers`` (score, latency, event time) a list holding bools becomes
    an object array too: numpy read ``[True, False, 0.3]`` as ``[1.0, 0.0, 0.3]``, so its
    bools were accepted where ``log(score=True)`` and a bool array are parked (per row, by
    :func:`~modelhealth.ingestion.validate.batch_numbers`). Only a Python container (no
    ``dtype``) is scanned for them, one ``type()`` per value in C (about a third of the
    cost of ``np.asarray`` of a float list); an array's dtype already says it."""
    try:
        try:
            arr = np.asarray(values, dtype=dtype)  # type: ignore[call-overload]
        except TypeError:
            raise  # not a sequence at all: said below
        except Exception:  # ragged ([2.0, [1]]), or a value whose __float__ raised: per row
            arr = np.asarray(values, dtype=object)
        strings = arr.dtype.kind in "US" and not isinstance(values, np.ndarray)
        if strings or (numbers and _bools_in_numbers(values, arr)):
            arr = np.asarray(values, dtype=object)
    except (TypeError, ValueError) as exc:
        raise EventRejected("bad_batch", f"{arg} must be a 1-D sequence: {exc}") from exc
    if arr.ndim != 1:
        raise EventRejected(
            "bad_batch", f"{arg} must be a 1-D sequence (one value per row), got shape {arr.shape}"
        )
    if n is not None and arr.size != n:
        raise EventRejected(
            "bad_batch", f"{arg} has {arr.size} values, expected {n} (one per row of latency_ms)"
        )
    return arr


def _bools_in_numbers(values: object, arr: np.ndarray) -> bool:
    """Whether numpy made numbers of bools in a Python container (see :func:`_vector`)."""
    return (
        arr.dtype.kind in "iuf"
        and arr.ndim == 1
        and not hasattr(values, "dtype")
        and not _BOOL_TYPES.isdisjoint(map(type, values))  # type: ignore[call-overload]
    )


def rows_given(latency_ms: object) -> int:
    """How many rows a rejected batch had, for the parked count (1 if not even that is known,
    whatever ``len()`` raised)."""
    try:
        return max(len(latency_ms), 1)  # type: ignore[arg-type]
    except Exception:
        return 1


def _flags(values: np.ndarray) -> np.ndarray:
    """is_error as 0/1 with the truthiness ``log()`` uses."""
    if values.dtype.kind in "biuf":
        return (values != 0).astype(np.int32)
    return np.fromiter((1 if v else 0 for v in values), np.int32, values.size)


def parked_value(value: object) -> object:
    """A numpy scalar of a parked row as plain JSON: a datetime64 as its text ("NaT", or
    ISO), which ``.item()`` made an int of nanoseconds."""
    if isinstance(value, np.datetime64):
        return str(value)
    return value.item() if isinstance(value, np.generic) else value


def take(arr: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    return arr if keep is None else arr[keep]
