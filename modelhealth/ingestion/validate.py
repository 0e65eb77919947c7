"""Validation of inference events and batch columns; a bad event is parked with a reason.

Everything that can fail on user input fails here, at ``log()`` time, never later in a flush:
a value that passed validation must aggregate and serialise without error, or one bad event
would fail the flush of everything buffered with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from numbers import Real
from typing import NamedTuple

import numpy as np
import pandas as pd

from modelhealth.names import NAME_RULE, VERSION_RULE, is_valid_name, is_valid_version

Scalar = float | int | str | bool | None

MAX_TS_MS = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp() * 1000)
"""Latest accepted event time. Far beyond any real event, far below what int64 ms, DuckDB and
Pinot timestamps hold: a wild ``ts`` (1e19) is parked instead of overflowing the flush."""
TS_RULE = (
    "ts must be epoch seconds or milliseconds, a timezone-aware datetime, or a numpy/pandas"
    " datetime64 or pd.Timestamp (tz-naive read as UTC), between 1970-01-01 and 2200-01-01"
)
"""Every form an event time may take, as a rejected one's reason says."""
SECONDS_BELOW = 1e11
"""An epoch number below this is seconds, at or above it milliseconds (1e11 s is the year
5138, 1e11 ms 1973-03-03): ``log(ts=)`` and ``log_batch(ts_ms=)`` read numbers alike."""

MAX_REQUEST_ID = 256
"""Longest request id, in characters (Python code points). Pinot cuts STRING values to its
default ``maxLength`` of 512, counted in Java chars (UTF-16 units); 256 code points are at
most 512 of those (and 1024 UTF-8 bytes), so both stores keep every accepted id whole."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Control characters (Unicode category Cc). Pinot cuts a string at its first NUL, so "k\x00a"
and "k\x00b" were both stored as "k" there (and kept whole by DuckDB): their predictions were
joined to each other's labels. Request ids holding any control character are parked instead."""

REQUEST_ID_RULE = (
    f"request_id must be None or a string of <= {MAX_REQUEST_ID} characters"
    " without control characters (NUL, tab, newline, ...)"
)


def request_id_problem(value: object) -> str | None:
    """Why ``value`` (a str, or anything else a caller passed) is no request id, or None."""
    if not isinstance(value, str):
        return f"request_id must be a string, got {type(value).__name__}"
    if len(value) > MAX_REQUEST_ID:
        return f"request_id must be <= {MAX_REQUEST_ID} characters, got {len(value)}"
    bad = _CONTROL.search(value)
    if bad is not None:
        return (
            f"request_id must not contain control characters (stores disagree on them),"
            f" got {bad.group()!r} at position {bad.start()}"
        )
    return None


class ValidEvent(NamedTuple):
    """One checked ``log()`` event.

    A named tuple so the Monitor can buffer it in a form the garbage collector stops
    tracking (see :meth:`~modelhealth.ingestion.sdk.Monitor.log`): ``event[:-1]``, a plain
    tuple of numbers and strings, which CPython untracks at its first collection, and
    ``features``, a dict of scalars, never tracked. (A tuple holding a dict, or an instance
    of this subclass, stays tracked.) Buffered as dataclass instances, the events kept while
    Kafka was down (up to ``max_buffered``, 500,000) were all tracked, and every full
    collection walked them while the request thread that triggered it waited inside
    ``log()``: 170 ms with 150,000 events buffered (benchmarks/sdk_outage.py), growing with
    the buffer. ``features`` stays the last field."""

    ts: int
    model: str
    version: str
    host: str
    request_id: str
    score: float
    latency_ms: float
    is_error: int
    features: Mapping[str, Scalar]


class EventRejected(ValueError):
    """Raised internally with a reason code and a human message; the SDK parks the event."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _number(value: object, field: str, *, minimum: float | None = None) -> float:
    if (
        type(value) is not float
        and type(value) is not int
        and (isinstance(value, bool) or not isinstance(value, Real))
    ):
        raise EventRejected(f"bad_{field}", f"{field} must be a number, got {shown(value)}")
    f = _float(value)
    if not math.isfinite(f):
        raise EventRejected(f"bad_{field}", f"{field} must be finite, got {shown(value)}")
    if minimum is not None and f < minimum:
        raise EventRejected(f"bad_{field}", f"{field} must be >= {minimum}, got {shown(value)}")
    return f


MAX_SHOWN_CHARS = 200
"""Longest text of a rejected value in its parked reason (the event itself is kept apart)."""


def shown(value: object) -> str:
    """``repr(value)`` for a parked reason, cut to :data:`MAX_SHOWN_CHARS`; never raises.
    A plain ``!r`` raised out of ``log()`` for an int of more than 4,300 digits (Python's
    int-to-text limit) or an object whose ``__repr__`` fails, and put a 10 MB string into
    the reason whole."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} without a printable repr>"
    if len(text) > MAX_SHOWN_CHARS:
        text = f"{text[:MAX_SHOWN_CHARS]}... ({len(text)} characters)"
    return text


def _float(value: object) -> float:
    """``float(value)``, or infinity (not finite: parked) for a number beyond any float: a
    Python int such as ``10**400`` raised OverflowError out of ``log()`` into the model
    server."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf


_GOOD_NAMES: set[str] = set()
"""Names already validated: model servers repeat the same few hundred names forever."""
_GOOD_VERSIONS: set[str] = set()
"""Versions already validated; separate from names, which may not start with a digit."""
_CACHE_LIMIT = 100_000


def _known(name: object, *, version: bool = False) -> bool:
    if not isinstance(name, str):  # also keeps unhashable values (lists, dicts) out of the sets
        return False
    cache = _GOOD_VERSIONS if version else _GOOD_NAMES
    if name in cache:
        return True
    if is_valid_version(name) if version else is_valid_name(name):
        if len(cache) < _CACHE_LIMIT:
            cache.add(name)
        return True
    return False


def valid_name(value: object, field: str) -> str:
    """``value`` if it is a valid model/host/feature name, else EventRejected(bad_<field>)."""
    if field == "version":
        return valid_version(value)
    if not _known(value):
        raise EventRejected(f"bad_{field}", f"{field} must be {NAME_RULE}, got {shown(value)}")
    return value  # type: ignore[return-value]


def valid_version(value: object) -> str:
    """Versions are values (``1.0.3``, ``2024-06-01``): a leading digit is fine."""
    if not _known(value, version=True):
        raise EventRejected("bad_version", f"version must be {VERSION_RULE}, got {shown(value)}")
    return value  # type: ignore[return-value]


def valid_label(value: object) -> float:
    """An outcome label: any finite real number; bools and numpy scalars count as numbers,
    as they do for feature values (``labels["y"].iloc[0]`` is an ``np.int64``)."""
    if not isinstance(value, (Real, np.bool_)):
        raise EventRejected("bad_label", f"label must be a number, got {shown(value)}")
    f = _float(value)
    if not math.isfinite(f):
        raise EventRejected("bad_label", f"label must be finite, got {shown(value)}")
    return f


def valid_ts_ms(value: object, default_ms: int) -> int:
    """Epoch ms of an event time (see :data:`TS_RULE`); ``None`` means now. A number below
    1e11 is epoch seconds, else milliseconds. Read as ``log_batch`` reads a column (see
    :func:`batch_ts_ms`): an ``np.datetime64`` or a tz-naive ``pd.Timestamp`` (a row of a
    pandas datetime column) is UTC. A naive Python ``datetime`` is refused: it is what
    ``datetime.now()`` returns, local time. NaT, or out of range -> EventRejected(bad_ts)."""
    if value is None:
        return default_ms
    if _naive_datetime(value):
        raise EventRejected(
            "bad_ts",
            "ts datetime must be timezone-aware (e.g. tzinfo=UTC): a naive one is ambiguous"
            f" (datetime.now() is local time); got {shown(value)}",
        )
    f = _datetime_ms(value)
    if f is None:
        try:
            f = _number(value, "ts", minimum=0)
        except EventRejected:  # say every form a ts may take, not just "a number"
            raise EventRejected("bad_ts", f"{TS_RULE}; got {shown(value)}") from None
        f = f * 1000 if f < SECONDS_BELOW else f  # seconds or milliseconds since the epoch
    if not 0 <= f < MAX_TS_MS:  # NaN (NaT) too
        raise EventRejected("bad_ts", f"{TS_RULE}; got {shown(value)}")
    return int(f)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def _naive_datetime(value: object) -> bool:
    """A Python ``datetime`` without a UTC offset (not a pd.Timestamp, nor NaT): refused."""
    if value is pd.NaT or isinstance(value, pd.Timestamp) or not isinstance(value, datetime):
        return False
    return value.utcoffset() is None


def _datetime_ms(value: object) -> float | None:
    """Epoch ms (floored) of a datetime-like ``value``, NaN for NaT; None if it is none
    (a number, a string). A tz-naive ``pd.Timestamp`` or ``np.datetime64`` is UTC; the
    caller refuses a naive Python ``datetime`` first."""
    if value is pd.NaT:
        return math.nan
    if isinstance(value, np.datetime64):
        return float(datetime64_ms(np.array([value]))[0])
    if isinstance(value, datetime):
        if value.tzinfo is None:  # a pd.Timestamp (see the caller)
            value = pd.Timestamp(value).tz_localize(UTC)
        return float((value - _EPOCH) // _ONE_MS)
    return None


def validate_event(
    *,
    model: object,
    version: object,
    features: object,
    score: object,
    latency_ms: object,
    request_id: object,
    host: object,
    ts: object,
    is_error: object,
    default_ts_ms: int,
) -> ValidEvent:
    """Check one event; raise EventRejected naming the field and what was expected."""
    if not isinstance(features, Mapping):
        raise EventRejected(
            "bad_features", f"features must be a mapping, got {type(features).__name__}"
        )
    clean: dict[str, Scalar] = dict(features)
    # fast path, all in C: every name already seen and every value a plain scalar
    if not (_GOOD_NAMES.issuperset(clean) and _SCALAR_TYPES.issuperset(map(type, clean.values()))):
        _check_features(clean)
    rid = "" if request_id is None else request_id
    problem = request_id_problem(rid)
    if problem is not None:
        raise EventRejected("bad_request_id", f"{problem}: {shown(rid)}")
    return ValidEvent(
        ts=valid_ts_ms(ts, default_ts_ms),
        model=valid_name(model, "model"),
        version=valid_version(version),
        host=valid_name(host, "host"),
        request_id=rid,
        score=_number(score, "score"),
        latency_ms=_number(latency_ms, "latency_ms", minimum=0.0),
        is_error=_flag(is_error),
        features=clean,
    )


def _flag(value: object) -> int:
    try:
        return 1 if value else 0
    except (TypeError, ValueError) as exc:  # e.g. a numpy array: truth value is ambiguous
        raise EventRejected("bad_is_error", f"is_error must be a bool, got {shown(value)}") from exc


_SCALAR_TYPES = {float, int, str, bool, type(None)}
_FEATURE_TYPES = (int, float, str, bool, np.integer, np.floating, np.bool_)
_NULL_TYPES = frozenset({type(None), type(pd.NA)})
"""Types of feature values that are nulls: None and ``pd.NA`` (see :func:`_check_features`)."""


def _check_features(features: Mapping[str, object]) -> None:
    """The slow path: find the offending feature and say what was expected. ``pd.NA`` is a
    null like None: it is what a row of a nullable (Int64, boolean, string) frame holds, and
    it parked the whole event, though ``log_batch`` and references count it as a null."""
    for key, val in features.items():
        if not _known(key):
            raise EventRejected(
                "bad_feature_name", f"feature name must be {NAME_RULE}, got {shown(key)}"
            )
        if type(val) not in _NULL_TYPES and not isinstance(val, _FEATURE_TYPES):
            raise EventRejected(
                "bad_feature_value",
                f"feature {key!r} must be a number, string, bool or None, got {type(val).__name__}",
            )
        problem = unreadable_value(val)
        if problem is not None:
            raise EventRejected("bad_feature_value", f"feature {shown(key)} value {problem}")


def unreadable_value(value: object) -> str | None:
    """Why the aggregation could not read ``value`` (what it raised), or None.

    A value of a type of the caller's own that passes as a number or string (a ``str``
    subclass whose ``__hash__`` or ``__eq__`` raises, a ``float`` subclass whose
    ``__float__`` does) was accepted by ``log()`` and failed the flush of every event
    buffered with it (all parked as ``aggregate_error``). So such a value is read here the
    ways the aggregation reads it: hashed and compared (categories), as text and as a
    float. Built-in and numpy types are not probed: they cannot fail, and the fast path
    never gets here for them."""
    kind = type(value)
    if kind in _TRUSTED_TYPES or kind.__module__ == "numpy":
        return None
    try:
        hash(value)
        bool(value == value)
        str(value)
        if not isinstance(value, str):
            float(value)  # type: ignore[arg-type]
    except Exception as exc:
        return f"of type {kind.__name__} raised {_exception_text(exc)} when read"
    return None


_TRUSTED_TYPES = frozenset({float, int, str, bool, type(None), type(pd.NA)})
"""Feature value types whose hash, comparison, text and float never raise (and numpy's)."""


def _exception_text(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, cut to :data:`MAX_SHOWN_CHARS`; never raises."""
    try:
        text = str(exc)
    except Exception:
        text = "<str() failed>"
    return f"{type(exc).__name__}: {text}"[:MAX_SHOWN_CHARS]


# -- batch columns (Monitor.log_batch): the same rules as above, one boolean mask per check --
_CASTABLE = ("1900-01-01", "2300-01-01")
"""Dates around the accepted 1970..2200 (checked exactly later, in ms) that any datetime64
unit holds and a cast to ms cannot overflow from."""
_COARSE_UNITS = frozenset({"Y", "M", "W", "D", "h", "m", "s"})
"""datetime64 units coarser than ms: a cast to ms multiplies, and numpy wraps an overflow."""


def datetime64_ms(values: np.ndarray) -> np.ndarray:
    """Float epoch ms of a datetime64 array, floored (numpy rounds a finer unit down), NaN at
    NaT. Read as UTC: numpy's datetime64 has no time zone, and a tz-naive pandas column
    holds the times as given (a tz-aware one is converted to UTC before, see
    :func:`utc_datetime64`). In a unit coarser than ms a value far outside 1970..2200 is NaN
    (parked as any such time is): numpy's own cast would wrap it around, maybe into
    1970..2200."""
    out = np.full(values.shape, np.nan)
    unit, _ = np.datetime_data(values.dtype)
    if unit == "generic":  # only NaT has no unit
        return out
    ok = ~np.isnat(values)
    if unit in _COARSE_UNITS:  # far values would wrap: leave them out before the cast
        lo, hi = (np.datetime64(day, "D").astype(values.dtype) for day in _CASTABLE)
        ok &= (values >= lo) & (values < hi)
    out[ok] = values[ok].astype("datetime64[ms]").view(np.int64)
    return out


def utc_datetime64(values: object) -> object:
    """A pandas column of tz-aware datetimes (Series, DatetimeIndex, array) as numpy
    datetime64 in UTC, so :func:`batch_ts_ms` reads it in C; numpy made it an object array
    of Timestamps, read one by one. Anything else is returned as it is."""
    if isinstance(getattr(values, "dtype", None), pd.DatetimeTZDtype):
        return pd.DatetimeIndex(values).tz_convert(UTC).tz_localize(None).to_numpy()
    return values


def batch_ts_ms(values: np.ndarray) -> np.ndarray:
    """``log_batch``'s ``ts_ms`` as float epoch ms, NaN where a row holds no time (the
    caller parks it as ``bad_ts``), read as ``log(ts=)`` reads one value
    (:func:`valid_ts_ms`): a number below :data:`SECONDS_BELOW` is epoch seconds (the same
    seconds were stored in 1970 by ``log_batch`` and today by ``log``), a datetime64 column
    is UTC when tz-naive (:func:`datetime64_ms`: never seconds, 1970-01-02 is a day), and a
    column of objects may mix numbers and datetimes (a list of aware Timestamps)."""
    if values.dtype.kind == "M":
        return datetime64_ms(values)
    ts = batch_numbers(values)
    secs = ts < SECONDS_BELOW  # NaN compares false; negatives stay negative and are parked
    if secs.any():
        ts = np.where(secs, ts * 1000, ts)
    if values.dtype.kind == "O":
        for i in np.flatnonzero(np.isnan(ts)):
            ts[i] = _batch_datetime_ms(values[i])
    return ts


def _batch_datetime_ms(value: object) -> float:
    """One row of an object ``ts_ms`` column that is no number: its epoch ms if it is a
    time ``log(ts=)`` would take, else NaN (parked)."""
    if _naive_datetime(value):
        return math.nan  # ambiguous, as in valid_ts_ms
    f = _datetime_ms(value)
    return math.nan if f is None else f


def batch_numbers(values: np.ndarray) -> np.ndarray:
    """Float64 copy of a column with NaN wherever an entry is not a real number; as in
    :func:`_number`, strings and bools are not numbers (a NaN then fails the caller's check)."""
    if values.dtype.kind in "iuf":
        return values.astype(np.float64, copy=False)
    if values.dtype.kind != "O":
        return np.full(values.shape, np.nan)
    return np.fromiter(
        (
            _float_or_nan(v)
            if isinstance(v, Real) and not isinstance(v, (bool, np.bool_))
            else np.nan
            for v in values
        ),
        np.float64,
        values.size,
    )


def _float_or_nan(value: object) -> float:
    """:func:`_float` of one value of an object column, NaN (its row parked) if its
    ``__float__`` raised: one such value made ``log_batch`` fail as a whole."""
    try:
        return _float(value)
    except Exception:
        return math.nan


def batch_request_ids(values: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Request ids as an object array ("" for None: never joinable) and the mask of bad ones
    (see :func:`request_id_problem`: not a str, too long, or holding a control character)."""
    if values is None:
        return np.full(n, "", dtype=object), np.zeros(n, dtype=bool)
    if set(map(type, values)) <= {str}:  # the usual case, without a Python-level loop body
        bad = np.fromiter(map(len, values), np.int64, values.size) > MAX_REQUEST_ID
        joined = "".join(values)  # one C scan when all are clean (printable has no Cc)
        if not joined.isprintable() and _CONTROL.search(joined) is not None:
            bad |= np.fromiter((_CONTROL.search(v) is not None for v in values), bool, values.size)
        return values, bad
    ids = np.array(["" if v is None else v for v in values], dtype=object)
    bad = np.fromiter((request_id_problem(v) is not None for v in ids), bool, ids.size)
    return ids, bad


_PLAIN_KINDS = frozenset(
    {"string", "empty", "integer", "floating", "boolean", "mixed-integer-float"}
)
"""``pandas.api.types.infer_dtype`` answers (NaN/None skipped) that hold only allowed values."""


def batch_feature_bad(values: np.ndarray) -> np.ndarray | None:
    """Mask of feature values that are not a number, string, bool or None (None if all fine:
    typed numpy columns always are; only object columns can hold a dict or a list)."""
    if values.dtype.kind in "biufUS":
        return None
    if values.dtype.kind != "O":  # datetime64, complex, ...: no value of it is allowed
        return np.ones(values.size, dtype=bool)
    if pd.api.types.infer_dtype(values, skipna=True) in _PLAIN_KINDS:  # C loop: the usual case
        return None
    if all(t in _NULL_TYPES or issubclass(t, _FEATURE_TYPES) for t in set(map(type, values))):
        return None
    return np.fromiter(
        (type(v) not in _NULL_TYPES and not isinstance(v, _FEATURE_TYPES) for v in values),
        bool,
        values.size,
    )
