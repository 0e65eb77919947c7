"""The only place that reads the wall clock.

Every component takes a :class:`Clock` so tests step through minutes without sleeping
(ruff's banned-api rule forbids ``datetime.now``/``time.time`` elsewhere).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time (timezone-aware UTC)."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when told to, for deterministic tests and backfills.

    >>> clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC)); clock.advance(minutes=5)
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        self._now += step
        self._mono += step.total_seconds()
        return self._now

    def set(self, when: datetime) -> None:
        self._mono += (when - self._now).total_seconds()
        self._now = when


def as_utc(when: datetime) -> datetime:
    """``when`` with UTC as its zone when it has none (a hand-edited or stored time that lost
    its offset); an aware time as it is."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def to_epoch_ms(when: datetime) -> int:
    """Milliseconds since the epoch, the time unit of every stored row."""
    return int(when.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
