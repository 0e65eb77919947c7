"""The events ``log()`` buffered -> the columns of a batch, at most :data:`CHUNK_ROWS` events
per step.

Why chunks: the flush runs in the same process as the request threads calling
``log()`` (on the background flusher, or on the request thread that found it due), and
CPython runs one thread's Python at a time. A C-level call holds the GIL for its whole
length: ``np.array`` of a 50,000-event batch's feature tuples held it 40 ms, and every
``log()`` called meanwhile on another thread waited that long (benchmarks/sdk_outage.py:
14-80 ms calls). Each conversion here reads at most :data:`CHUNK_ROWS` events, straight from
the buffered tuples and dicts (``np.fromiter`` over a C ``map``: no tuple or list per
event), and :func:`pause` between chunks lets a waiting thread run (at most every 2 ms).
The columns are then joined whole, so the batch, its aggregates and what the sink stores
are what one call over the whole buffer made.

Nothing here holds state or a lock.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter, methodcaller

import numpy as np

from modelhealth.ingestion.validate import ValidEvent

CHUNK_ROWS = 4096
"""Events read per C-level call of a flush. The longest call of a 50,000-event flush then
takes about 1.5 ms of CPU on a loaded 2-core box (34 ms when the whole batch was read at
once); smaller chunks cost throughput (a Python step per chunk and column)."""

_FIELD = {name: i for i, name in enumerate(ValidEvent._fields)}
"""Position of each field in the plain tuples ``Monitor.log`` buffers (``event[:-1]``)."""

Rows = Sequence[tuple[object, ...]]
Group = tuple[Rows, Sequence[Mapping[str, object]], Sequence[int]]


def field(name: str) -> itemgetter:
    """Reads field ``name`` of a buffered event tuple."""
    return itemgetter(_FIELD[name])


_GROUP_KEY = itemgetter(_FIELD["model"], _FIELD["version"], _FIELD["host"])
_BOOL_TYPES = frozenset({bool, np.bool_})
_FLOAT_TYPES = frozenset({float, np.float64})  # the same str(): "101.0", "1e+200"


PAUSE_EVERY_S = 0.002
"""Least time between two releases of the GIL by :func:`pause`. A release is a system call
that, on a busy box, gives the core away (0.9 ms a call on a loaded 2-core box): one per
chunk of each column cost a flush of 10,000 events 80 of them."""
_paused_at = 0.0


def pause() -> None:
    """Between chunks: release the GIL (``time.sleep(0)``) so a thread waiting for it, a
    request thread inside ``log()``, runs now rather than at the next switch interval (5 ms);
    at most once per :data:`PAUSE_EVERY_S`. (Without it the interpreter still hands the GIL
    over between two chunks' calls, after the switch interval.)"""
    global _paused_at
    if time.perf_counter() - _paused_at >= PAUSE_EVERY_S:
        time.sleep(0)
        _paused_at = time.perf_counter()


def spans(n: int) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` of the chunks of ``n`` rows, at most :data:`CHUNK_ROWS` each, with a
    :func:`pause` between two."""
    size = max(int(CHUNK_ROWS), 1)
    for lo in range(0, n, size):
        if lo:
            pause()
        yield lo, min(lo + size, n)


def group_events(
    events: Rows, features: Sequence[Mapping[str, object]], seen_counts: Sequence[int]
) -> dict[tuple[object, ...], Group]:
    """Buffered events per (model, version, host), in logged order: their tuples, features
    dicts and seen counts. One key for all (the usual case: one model version per server)
    hands the buffers on as they are; no object per event is made (see ValidEvent: the GC
    would walk them all)."""
    keys: set[tuple[object, ...]] = set()
    for lo, hi in spans(len(events)):
        keys.update(map(_GROUP_KEY, events[lo:hi]))
        if len(keys) > 1:
            break
    if len(keys) <= 1:
        return {key: (events, features, seen_counts) for key in keys}
    groups: dict[tuple[object, ...], tuple[list[tuple[object, ...]], list, list[int]]] = {}
    for row, feats, count in zip(events, features, seen_counts, strict=True):
        key = _GROUP_KEY(row)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ([], [], [])
        group[0].append(row)
        group[1].append(feats)
        group[2].append(count)
    return groups  # type: ignore[return-value]


def row_columns(rows: Rows) -> dict[str, np.ndarray]:
    """The per-row fields of buffered events as arrays: ts (int64), latency_ms and score
    (float64), request_id (object) and is_error (int32)."""
    dtypes = {
        "ts": np.int64,
        "latency_ms": np.float64,
        "score": np.float64,
        "request_id": object,
        "is_error": np.int32,
    }
    n = len(rows)
    out = {name: np.empty(n, dtype) for name, dtype in dtypes.items()}
    getters = [(out[name], field(name), dtype) for name, dtype in dtypes.items()]
    for lo, hi in spans(n):
        chunk = rows[lo:hi]
        for arr, get, dtype in getters:
            arr[lo:hi] = np.fromiter(map(get, chunk), dtype, hi - lo)
    return out


def feature_columns(
    rows: Sequence[Mapping[str, object]],
    seen_counts: Sequence[int],
    seen: Mapping[str, int],
    reference: Iterable[str] = (),
) -> list[tuple[int, dict[str, np.ndarray]]]:
    """Row dicts of one model version (in the order they were logged) -> one array per
    feature, grouped by the row each feature is counted from: ``[(0, {...}), (row, {...})]``.

    From that row on, a row lacking the feature holds a null (None) of it. A feature of the
    model's ``reference`` counts from the first row; one the Monitor has seen (``seen``:
    feature -> the order the version first logged it in; ``seen_counts``: per row, how many
    features the version had been seen with when the row was logged, non-decreasing) from
    the first row logged once it was seen; any other (beyond
    :data:`~modelhealth.ingestion.sdk.MAX_SEEN_FEATURES`) from the first row that has it. So a
    feature's null count does not depend on where flushes fall: a row logged before the
    feature was first seen never counts for it, whichever flush holds the two. (Counted
    over the rows of one flush, a missing key was a null only where another row of the same
    flush had the feature: 1 coupon in 8 events read 50% nulls as 2 flushes, 87.5% as one.)
    """
    n = len(rows)
    first = rows[0].keys()
    same = all(r.keys() == first for r in rows)  # the usual case: one schema per version
    start: dict[str, int] = dict.fromkeys(first, 0)
    if not same:
        for i, r in enumerate(rows):
            for k in r:
                start.setdefault(k, i)
    lo, hi = int(seen_counts[0]), int(seen_counts[-1])  # rows are in logged order
    for k, order in seen.items():
        if order < lo:
            start[k] = 0
        elif order < hi:  # seen while these rows were logged (a row that has it: from there)
            start[k] = bisect_right(seen_counts, order)
    start.update(dict.fromkeys(reference, 0))  # known before any row, seen or not
    parts: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
    if same and first:
        parts[0] = {k: _column(rows, itemgetter(k), 0) for k in first}
    for k in sorted(start):
        at = start[k]
        if k in parts[at]:
            continue
        if same:  # in no row at all
            parts[at][k] = np.full(n - at, None, dtype=object)
        else:
            parts[at][k] = _column(rows, methodcaller("get", k), at)
    return [(at, cols) for at, cols in sorted(parts.items()) if cols]


def _column(
    rows: Sequence[Mapping[str, object]], get: Callable[[Mapping[str, object]], object], at: int
) -> np.ndarray:
    """``get`` of every row from ``at`` on as one array, a chunk at a time: a typed array when
    every value has one kind of number type (bools stay bools, ints int64, floats float64),
    else the object array.

    A value keeps the text the reference gave it, for features that are categorical there:
    ints cast to float64 were "101.0", not the reference's "101" (every value __other__,
    PSI 17 on identical data), and bools 1.0, not "True". Mixed number types stay objects
    for the same reason (1 and 1.0 are "1" and "1.0"); numeric aggregation reads them at C
    speed too. A string stays a string even if it looks like a number: "01234" is a zip
    code (kinds come from types, as in ``log_batch``); in a numeric feature (by its
    reference, or the kind it was stored as) every string is a special value, "1.5" as
    "abc" (see ``aggregate._numeric_values``).
    """
    n = len(rows) - at
    values = np.empty(n, dtype=object)
    types: set[type] = set()
    for lo, hi in spans(n):
        chunk = np.fromiter(map(get, rows[at + lo : at + hi]), object, hi - lo)
        types.update(map(type, chunk))
        values[lo:hi] = chunk
    if types <= _BOOL_TYPES:
        dtype: type = bool
    elif types <= _FLOAT_TYPES:
        dtype = np.float64
    elif all(map(_is_int_type, types)):
        dtype = np.int64
    else:
        return values
    typed = np.empty(n, dtype=dtype)
    try:
        for lo, hi in spans(n):
            typed[lo:hi] = values[lo:hi].astype(dtype)
    except OverflowError:  # beyond int64: keep the exact Python ints
        return values
    return typed


def _is_int_type(t: type) -> bool:
    """Python and signed numpy ints (bool is an int to Python, not here; a uint64 beyond
    int64 would wrap)."""
    return (t is int or issubclass(t, np.signedinteger)) and not issubclass(t, bool)
