"""One SQLite connection helper for the outbox, notification log and silences.

They may share one file (the default ``state/alerts.db``); WAL lets the CLI add a
silence while the dispatcher process holds the database open.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path


def connect(path: str | Path) -> sqlite3.Connection:
    """Autocommit connection usable from any thread (callers serialise with their own lock)."""
    con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    if str(path) != ":memory:":
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
    return con


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
