"""Helpers every detector shares: finite-value extraction, directions, duration parameters."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import numpy as np

from modelhealth.errors import EmptyWindow
from modelhealth.rules.durations import MAX_DURATION, format_duration, parse_duration
from modelhealth.types import Series

DIRECTIONS = ("up", "down", "both")


def newest(current: Series, who: str) -> tuple[float, np.ndarray]:
    """The newest finite value and the finite values before it (the detector's history)."""
    ok = np.isfinite(current.values)
    if not ok.any():
        raise EmptyWindow(f"{who}: no finite value in the current window")
    last = int(np.flatnonzero(ok)[-1])
    before = current.values[:last]
    return float(current.values[last]), before[np.isfinite(before)]


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"'direction' must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return direction


def signed_excess(deviation: float, direction: str) -> float:
    """The part of ``deviation`` that counts in ``direction`` (never negative)."""
    if direction == "up":
        return max(deviation, 0.0)
    if direction == "down":
        return max(-deviation, 0.0)
    return abs(deviation)


def duration(value: object, key: str) -> timedelta:
    try:
        d = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"'{key}': {exc}") from None
    if d < timedelta(0):
        raise ValueError(f"'{key}' must not be negative")
    return d


def seasons_back(season: timedelta, count: int, key: str) -> timedelta:
    """``count`` seasons of history (a seasonal detector's lookback), refused with a
    ValueError naming ``key`` when longer than any duration a config may give: a count such
    as ``periods: 100000000000`` overflowed ``timedelta`` (an OverflowError naming no
    parameter), and a merely huge one queried ten thousand years of store at every tick."""
    if season.total_seconds() * count > MAX_DURATION.total_seconds():
        raise ValueError(
            f"'{key}': {count} seasons of {format_duration(season)} are more than the longest"
            f" lookback {format_duration(MAX_DURATION)}; use fewer {key} or a shorter season"
        )
    return season * count


def positive_duration(value: object, key: str, example: str) -> timedelta:
    d = duration(value, key)
    if d <= timedelta(0):
        raise ValueError(f"'{key}' must be positive, e.g. {example}")
    return d


_EXPONENT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")
"""Numbers YAML 1.1 (PyYAML) reads as text: ``1e-3``, ``-1e9``, ``1.5e3`` (it wants a dot
and a signed exponent, ``1.0e-3``); YAML 1.2 and JSON read them as numbers."""


def yaml_number(value: object) -> object:
    """``value``, or the float an exponent-notation string such as ``'1e-3'`` spells (so
    ``above: 1e-3`` is a number, as its author meant); any other value is returned as is."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        as_float = float(value)
        return int(as_float) if as_float.is_integer() and abs(as_float) < 2**53 else as_float
    return value


def integer(value: object, key: str, minimum: int) -> int:
    value = yaml_number(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"'{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def number(value: object, key: str, positive: bool = False) -> float:
    value = yaml_number(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{key}' must be a number, got {value!r}")
    try:
        x = float(value)
    except OverflowError:  # an int past the float range (`above: 1e400` written as digits)
        raise ValueError(
            f"'{key}' must be a finite number (at most about 1.8e308), got an integer of"
            f" {len(str(abs(value)))} digits"
        ) from None
    if not math.isfinite(x):  # `above: .nan` compares false with everything: never fires
        raise ValueError(f"'{key}' must be a finite number, got {value!r}")
    if positive and x <= 0:
        raise ValueError(f"'{key}' must be positive, got {value!r}")
    return x


def step_seconds(series: Series) -> int:
    """The series' bucket length: the median gap between timestamps (60 s if unknown)."""
    if len(series) < 2:
        return 60
    gaps = np.diff(series.timestamps)
    gaps = gaps[gaps > 0]
    return int(np.median(gaps)) if gaps.size else 60
