"""Parsing of durations written in configs (``30s``, ``15m``, ``2h``, ``7d``, ``1w``)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: object) -> timedelta:
    """``"15m"`` -> 15 minutes; raises ValueError naming the accepted form."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(seconds=float(text))
    m = _PATTERN.match(str(text))
    if not m:
        raise ValueError(f"expected a duration like 30s, 15m, 2h, 7d or 1w, got {text!r}")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
