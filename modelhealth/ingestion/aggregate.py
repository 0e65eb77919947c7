"""Vectorised per-bucket feature statistics: the SDK's hot path.

Rows are additive (counts and sums add, min/max combine), so a flush can emit partial rows for
a bucket at any time and the store still answers any window exactly with SUM/MIN/MAX.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from modelhealth.ingestion import batching
from modelhealth.ingestion.reference import (
    NUMERIC_INFERRED,
    FeatureReference,
    ModelReference,
    category_key,
    numeric_bin_index,
    object_nulls,
    special_mask,
)
from modelhealth.ingestion.schema import MISSING_MAX, MISSING_MIN, OTHER_CATEGORY, stored_label


class _Buckets:
    """Groups event indices by time bucket once, reused by every feature of the block."""

    def __init__(self, ts_ms: np.ndarray, bucket_ms: int) -> None:
        b = (ts_ms // bucket_ms) * bucket_ms
        self.single = bool(b.size == 0 or b.min() == b.max())
        if self.single:
            self.keys = b[:1].copy()
            self.order = None
            self.starts = np.zeros(1, dtype=np.int64)
            self.inverse = np.zeros(b.size, dtype=np.int64)
        else:
            # events usually arrive in time order: then no sort (and no copy) is needed
            in_order = bool(np.all(b[1:] >= b[:-1]))
            self.order = None if in_order else np.argsort(b, kind="stable")
            sorted_b = b if in_order else b[self.order]
            self.keys, self.starts, counts = np.unique(
                sorted_b, return_index=True, return_counts=True
            )
            self.inverse = np.repeat(np.arange(self.keys.size), counts)

    def arrange(self, values: np.ndarray) -> np.ndarray:
        return values if self.order is None else values[self.order]

    def sum(self, values: np.ndarray) -> np.ndarray:
        if self.single:
            return np.array([values.sum()])
        return np.add.reduceat(values, self.starts) if values.size else np.zeros(self.keys.size)


def _numeric_values(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float values and a null mask; None and pd.NA are nulls, NaN and ±inf special values
    (see :func:`modelhealth.ingestion.reference.object_nulls`, which references use too).

    A string is a special value (NaN here), never parsed: "1.5" counts as "abc" does. Kinds
    come from types (a string stays a string, see ``columns._column``), and a reference built
    from a column holding strings makes it categorical, never numeric. (``pd.to_numeric``
    read "1.5" as a valid 1.5 but "abc" as a special value.)
    """
    if raw.dtype.kind in "fiub":
        values = raw.astype(np.float64, copy=False)
        return values, np.zeros(values.shape, dtype=bool)
    if raw.dtype.kind != "O":  # numpy strings: every value special, none null
        return np.full(raw.shape, np.nan), np.zeros(raw.shape, dtype=bool)
    nulls = object_nulls(raw)
    filled = raw.copy()
    filled[pd.isna(raw)] = np.nan
    if pd.api.types.infer_dtype(raw, skipna=True) not in NUMERIC_INFERRED:
        # strings among the numbers (validation lets only numbers, bools, strings and nulls
        # through): one type check per value, then the same cast
        number = np.fromiter((isinstance(v, _NUMBER_TYPES) for v in filled), bool, raw.size)
        filled[~number] = np.nan
    try:
        return filled.astype(np.float64), nulls  # numbers, bools and NaN: a C-speed cast
    except OverflowError:  # a Python int beyond float: as big as a special value gets
        return np.array([_float(v) for v in filled], dtype=np.float64), nulls


_NUMBER_TYPES = (int, float, np.number, np.bool_)  # bool is an int: 0/1, as in a bool array


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]


def _factorize(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` with exact string equality; missing values get code -1.

    pandas hashes an object array of only strings as C strings, which end at the first NUL:
    one "DE\x00junk" ahead of 600 "DE" made every "DE" that value (binned __other__). One
    entry that is not a string makes it compare Python objects, so a None is appended.
    """
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    if arr.dtype != object:
        return pd.factorize(arr, use_na_sentinel=True)
    codes, uniques = pd.factorize(np.append(arr, None), use_na_sentinel=True)
    return codes[:-1], uniques


def _category_codes(arr: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """A code per value (-1 for a null) and the text each code is matched by: ``str`` of the
    value as the reference writes it ("101" for 101, "True" for True), NUL as U+FFFD.

    Factorized :data:`~modelhealth.ingestion.batching.CHUNK_ROWS` values at a time: one
    ``pd.factorize`` holds the GIL throughout (3 ms for a 50,000-row flush, growing with
    ``max_batch``) while request threads wait in ``log()``. A value's text depends on the
    value alone, so the chunks' codes join through their texts (the order of the codes
    differs; what each code is matched by does not)."""
    if arr.size <= batching.CHUNK_ROWS:
        return _chunk_codes(arr)
    codes = np.empty(arr.size, dtype=np.int64)
    number: dict[str, int] = {}  # text -> its code, in the order first met
    for lo, hi in batching.spans(arr.size):
        part, texts = _chunk_codes(arr[lo:hi])
        ours = np.fromiter((number.setdefault(t, len(number)) for t in texts), np.int64, len(texts))
        codes[lo:hi] = np.append(ours, -1)[part]  # -1 (a null) indexes the appended -1
    return codes, list(number)


def _chunk_codes(arr: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """:func:`_category_codes` of one chunk."""
    codes, uniques = _factorize(arr)
    if arr.dtype == object and not all(isinstance(u, str) for u in uniques):
        # 1, 1.0 and True are one value to factorize, but "1", "1.0" and "True" to the reference
        text = np.full(arr.size, None, dtype=object)
        present = codes >= 0
        text[present] = [str(v) for v in arr[present]]
        codes, uniques = _factorize(text)
    return codes, [category_key(u if isinstance(u, str) else str(u)) for u in uniques]


def aggregate_block(
    model: str,
    version: str,
    ts_ms: np.ndarray,
    features: Mapping[str, np.ndarray],
    reference: ModelReference | None,
    bucket_ms: int,
    kinds: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Summary rows and bin rows for events of one (model, version), columns already sorted
    out by feature. ``ts_ms`` is the events' epoch-ms times.

    A feature's kind is its reference's; without one, its values' (:func:`value_kind`);
    for a column with no value that tells (nulls and NaN only: rows that lacked the
    feature), its kind in ``kinds`` (what the caller stored it as before), else numeric if
    a NaN is among them and categorical if not. Without ``kinds`` a flush in which a
    categorical feature was only missing stored it as numeric (or the other way round).
    """
    buckets = _Buckets(np.asarray(ts_ms, dtype=np.int64), bucket_ms)
    refs = reference.features if reference is not None else {}
    known = kinds or {}

    def one(
        item: tuple[str, np.ndarray],
    ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        name, raw = item
        stats: list[dict[str, object]] = []
        bins: list[dict[str, object]] = []
        arr = buckets.arrange(np.asarray(raw))
        ref = refs.get(name)
        if ref is not None:
            kind = ref.kind
        else:
            kind = value_kind(arr) or known.get(name) or _kind_of_missing(arr)
        if kind == "categorical":
            _categorical(model, version, name, arr, ref, buckets, stats, bins)
        else:
            _numeric(model, version, name, arr, ref, buckets, stats, bins)
        return stats, bins

    items = list(features.items())
    # numpy releases the GIL in the per-feature kernels: big blocks use every core
    parts: list[tuple[list[dict[str, object]], list[dict[str, object]]]] | None = None
    if len(items) >= 4 and ts_ms.size >= PARALLEL_MIN_ROWS and _POOL_WORKERS > 1:
        # RuntimeError "cannot schedule new futures after interpreter shutdown": the exit
        # hook's flush of a big buffer (it was parked as an aggregate error) runs serially
        with contextlib.suppress(RuntimeError):
            parts = list(_pool().map(one, items))
    if parts is None:
        parts = [one(item) for item in items]
    return [r for p in parts for r in p[0]], [r for p in parts for r in p[1]]


PARALLEL_MIN_ROWS = 20_000
_POOL_WORKERS = min(4, os.cpu_count() or 1)
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_POOL_WORKERS, thread_name_prefix="modelhealth-aggregate")
    return _POOL


def value_kind(arr: np.ndarray) -> str | None:
    """The kind a feature's values say it is, "numeric" or "categorical", judged by its
    first value that is neither null nor NaN; None when there is no such value.

    Past every leading null: a flush that began with 20 nulls of a numeric feature was
    stored as categorical, so one feature had two kinds within one version. Booleans are
    numbers (0/1, their mean a rate), as in a bool array and in references: a flush of bools
    with one null was stored categorical, one without numeric. ``pd.NA`` is a null too, and
    a float NaN is passed over as well: it is how pandas writes a missing string in an
    object column, and a flush that began with one stored a string feature as numeric with
    every string a special value. A column of only nulls and NaN says nothing (see
    :func:`aggregate_block`)."""
    if arr.dtype.kind == "f":  # NaN is the only "missing" a float array can hold
        return None if arr.size == 0 or (np.isnan(arr[0]) and np.isnan(arr).all()) else "numeric"
    if arr.dtype.kind not in "OUS":
        return "numeric"
    if arr.dtype.kind in "US":
        return "categorical" if arr.size else None
    for v in arr:
        if v is None or v is pd.NA:
            continue
        if isinstance(v, (float, np.floating)) and v != v:
            continue
        return "numeric" if isinstance(v, (int, float, np.number, np.bool_)) else "categorical"
    return None


def _kind_of_missing(arr: np.ndarray) -> str:
    """The kind of a feature seen only missing, with no kind known for it: numeric when a NaN
    is among the values (a float column of NaN, or an object one), categorical for None
    and pd.NA alone (what a row lacking the feature holds)."""
    if arr.dtype.kind not in "OUS":
        return "numeric"
    if arr.dtype.kind == "O" and any(isinstance(v, (float, np.floating)) for v in arr):
        return "numeric"
    return "categorical"


def _numeric(
    model: str,
    version: str,
    name: str,
    arr: np.ndarray,
    ref: FeatureReference | None,
    buckets: _Buckets,
    stats: list[dict[str, object]],
    bins: list[dict[str, object]],
) -> None:
    values, nulls = _numeric_values(arr)
    # ±inf is special like NaN: as a valid value it would make the window's sum/mean NaN;
    # so is a finite value whose square overflows the sum of squares (|x| > HUGE)
    special = special_mask(values, ref.special_values if ref is not None else ()) & ~nulls
    valid = ~nulls & ~special
    v0 = np.where(valid, values, 0.0)
    n = buckets.sum(np.ones(values.size))
    n_null = buckets.sum(nulls.astype(np.float64))
    n_special = buckets.sum(special.astype(np.float64))
    n_valid = buckets.sum(valid.astype(np.float64))
    s1 = buckets.sum(v0)
    s2 = buckets.sum(v0 * v0)
    vmin = _reduce(np.minimum, np.where(valid, values, MISSING_MIN), buckets)
    vmax = _reduce(np.maximum, np.where(valid, values, MISSING_MAX), buckets)
    for i, key in enumerate(buckets.keys):
        stats.append(
            {
                "ts": int(key),
                "model": model,
                "version": version,
                "feature": name,
                "kind": "numeric",
                "count": int(n[i]),
                "nulls": int(n_null[i]),
                "specials": int(n_special[i]),
                "valid": int(n_valid[i]),
                "sum": float(s1[i]),
                "sum_sq": float(s2[i]),
                "min": float(vmin[i]),
                "max": float(vmax[i]),
            }
        )
    if ref is None:
        return
    edges = np.asarray(ref.edges)
    idx = numeric_bin_index(values, edges)
    labels = ref.bin_labels()
    _emit_bins(model, version, name, idx, valid, ref.n_bins, labels, buckets, bins)


def _categorical(
    model: str,
    version: str,
    name: str,
    arr: np.ndarray,
    ref: FeatureReference | None,
    buckets: _Buckets,
    stats: list[dict[str, object]],
    bins: list[dict[str, object]],
) -> None:
    # factorize once (hash-based, O(n)); then classify the few distinct values
    codes, texts = _category_codes(arr)
    categories = list(ref.categories) if ref is not None else []
    position: dict[str, int] = {}
    for i, c in enumerate(categories):  # keys as the reference builder writes them
        position.setdefault(category_key(c), i)
    other = len(categories)
    # per distinct value: bin index, or -1 for the empty-string special value
    lookup = np.empty(len(texts) + 1, dtype=np.int64)
    for i, text in enumerate(texts):
        lookup[i] = -1 if text == "" else position.get(text, other)
    lookup[-1] = -2  # nulls (factorize's -1 sentinel indexes the last slot)
    idx = lookup[codes]
    nulls = idx == -2
    empty = idx == -1
    valid = idx >= 0
    n = buckets.sum(np.ones(arr.size))
    n_null = buckets.sum(nulls.astype(np.float64))
    n_special = buckets.sum(empty.astype(np.float64))
    n_valid = buckets.sum(valid.astype(np.float64))
    for i, key in enumerate(buckets.keys):
        stats.append(
            {
                "ts": int(key),
                "model": model,
                "version": version,
                "feature": name,
                "kind": "categorical",
                "count": int(n[i]),
                "nulls": int(n_null[i]),
                "specials": int(n_special[i]),
                "valid": int(n_valid[i]),
                "sum": 0.0,
                "sum_sq": 0.0,
                "min": MISSING_MIN,
                "max": MISSING_MAX,
            }
        )
    # labels as both stores keep them (no NUL, <= MAX_LABEL_CHARS): see schema.stored_label
    labels = [*map(stored_label, categories), OTHER_CATEGORY]
    _emit_bins(model, version, name, idx, valid, other + 1, labels, buckets, bins)


def _reduce(op: np.ufunc, values: np.ndarray, buckets: _Buckets) -> np.ndarray:
    if buckets.single:
        return np.array([op.reduce(values)]) if values.size else np.array([np.nan])
    return op.reduceat(values, buckets.starts)


def _emit_bins(
    model: str,
    version: str,
    name: str,
    idx: np.ndarray,
    valid: np.ndarray,
    n_bins: int,
    labels: list[str],
    buckets: _Buckets,
    bins: list[dict[str, object]],
) -> None:
    if buckets.single:
        counts = np.bincount(idx[valid], minlength=n_bins)
    else:
        flat = buckets.inverse[valid] * n_bins + idx[valid]
        counts = np.bincount(flat, minlength=buckets.keys.size * n_bins)
    for pos in np.flatnonzero(counts):
        b, k = divmod(int(pos), n_bins)
        bins.append(
            {
                "ts": int(buckets.keys[b]),
                "model": model,
                "version": version,
                "feature": name,
                "bin": k,
                "label": labels[k],
                "count": int(counts[pos]),
            }
        )
