"""Parsing of durations written in configs (``30s``, ``15m``, ``2h``, ``7d``, ``1w``)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = r"\d+(?:\.\d+)?\s*[smhdw]"
_PATTERN = re.compile(rf"^\s*(?:{_PART}\s*)+$")
_PARTS = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(weeks=520)
"""The longest duration a config may give (about 10 years): ``99999999w`` overflowed
``timedelta`` (an OverflowError traceback) and ``9999999w`` overflowed the first ``now + d``
(a dispatcher crash at the first alert), so larger values are refused where they are parsed."""


def parse_duration(text: object) -> timedelta:
    """``"15m"`` -> 15 minutes, also ``1.5h``, ``1w`` and Prometheus' ``1h30m``; raises
    ValueError naming the accepted form.

    One grammar for every duration a user writes (rule windows, routing timers, ``silence
    --for``, command-line options): routing and silences used to reject ``1w`` and ``1.5h``
    that rules accept. A bare number other than 0 has no unit and is refused: ``window: 30``
    was read as 30 seconds where 30 minutes was meant. More than :data:`MAX_DURATION` is a
    ValueError too (never an OverflowError), naming the value and the maximum.
    """
    if isinstance(text, timedelta):
        return text
    if (text == 0 and not isinstance(text, bool)) or text == "0":  # "none": no unit needed
        return timedelta(0)
    if isinstance(text, bool) or not isinstance(text, str) or not _PATTERN.match(text):
        raise ValueError(
            f"invalid duration {text!r}: expected a number with a unit s, m, h, d or w,"
            " like 30s, 15m, 1.5h, 7d, 1w or 1h30m"
        )
    seconds = sum(float(number) * _SECONDS[unit] for number, unit in _PARTS.findall(text))
    if not seconds <= MAX_DURATION.total_seconds():  # also inf, from thousands of digits
        shown = text.strip() if len(text.strip()) <= 40 else text.strip()[:37] + "..."
        raise ValueError(
            f"too long: {shown!r} is more than the maximum duration"
            f" {format_duration(MAX_DURATION)} (about 10 years)"
        )
    total = timedelta(0)
    for number, unit in _PARTS.findall(text):
        total += timedelta(**{_UNITS[unit]: float(number)})
    return total


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
