"""The record of a rejected event: what the caller passed, as strict JSON of bounded size."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

MAX_PARKED_CHARS = 10_000
"""A parked event's JSON is cut to this: a 10 MB feature value must not make the parked
record itself too big for the sink (a Kafka message), which would fail every retry."""


def log_args(
    model: object,
    version: object,
    features: object,
    score: object,
    latency_ms: object,
    request_id: object,
    host: object,
    ts: object,
) -> dict[str, object]:
    """What a parked ``log()`` event shows: its arguments as given (built only for an event
    that is parked, never on the hot path)."""
    return {
        "model": model,
        "version": version,
        "features": features,
        "score": score,
        "latency_ms": latency_ms,
        "request_id": request_id,
        "host": host,
        "ts": ts,
    }


def event_json(event: Mapping[str, object]) -> str:
    """JSON of a rejected event, whatever it holds (non-str keys, objects that fail repr);
    strict JSON: NaN and ±inf become strings (a bare ``NaN`` broke strict parsers of the
    parked topic)."""
    try:
        text = json.dumps(_finite_json(event), default=repr, allow_nan=False)
    except Exception:  # e.g. a dict with tuple keys, or a repr that raises
        try:
            text = json.dumps({"repr": repr(event)})
        except Exception:
            text = json.dumps({"unprintable": type(event).__name__})
    if len(text) > MAX_PARKED_CHARS:
        text = json.dumps({"truncated": text[:MAX_PARKED_CHARS], "chars": len(text)})
    return text


def _finite_json(value: object) -> object:
    """``value`` with non-finite floats as their text ("nan", "inf"), containers walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_json(v) for v in value]
    return value
