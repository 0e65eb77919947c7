"""Validation of single inference events; a bad event is parked with a reason, never raised."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from numbers import Real

import numpy as np

from modelhealth.names import is_valid_name

Scalar = float | int | str | bool | None


@dataclass(frozen=True)
class ValidEvent:
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
        raise EventRejected(f"bad_{field}", f"{field} must be a number, got {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise EventRejected(f"bad_{field}", f"{field} must be finite, got {value!r}")
    if minimum is not None and f < minimum:
        raise EventRejected(f"bad_{field}", f"{field} must be >= {minimum}, got {value!r}")
    return f


_GOOD_NAMES: set[str] = set()
"""Names already validated: model servers repeat the same few hundred names forever."""


def _known(name: object) -> bool:
    if name in _GOOD_NAMES:
        return True
    if is_valid_name(name):
        if len(_GOOD_NAMES) < 100_000:
            _GOOD_NAMES.add(name)  # type: ignore[arg-type]
        return True
    return False


def _name(value: object, field: str) -> str:
    if not _known(value):
        raise EventRejected(
            f"bad_{field}",
            f"{field} must be 1-128 chars of letters, digits, '_', '.', '-', got {value!r}",
        )
    return str(value)


def _ts_ms(value: object, default_ms: int) -> int:
    if value is None:
        return default_ms
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EventRejected("bad_ts", "ts datetime must be timezone-aware")
        return int(value.timestamp() * 1000)
    f = _number(value, "ts", minimum=0)
    return int(f * 1000) if f < 1e11 else int(f)  # seconds or milliseconds since the epoch


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
    if not isinstance(rid, str) or len(rid) > 256:
        raise EventRejected(
            "bad_request_id", f"request_id must be a string <= 256 chars, got {rid!r}"
        )
    return ValidEvent(
        ts=_ts_ms(ts, default_ts_ms),
        model=_name(model, "model"),
        version=_name(version, "version"),
        host=_name(host, "host"),
        request_id=rid,
        score=_number(score, "score"),
        latency_ms=_number(latency_ms, "latency_ms", minimum=0.0),
        is_error=1 if is_error else 0,
        features=clean,
    )


_SCALAR_TYPES = {float, int, str, bool, type(None)}


def _check_features(features: Mapping[str, object]) -> None:
    """The slow path: find the offending feature and say what was expected."""
    for key, val in features.items():
        if not _known(key):
            raise EventRejected("bad_feature_name", f"invalid feature name {key!r}")
        if val is not None and not isinstance(val, (int, float, str, bool, np.number, np.bool_)):
            raise EventRejected(
                "bad_feature_value",
                f"feature {key!r} must be a number, string, bool or None, got {type(val).__name__}",
            )
