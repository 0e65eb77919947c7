"""One SQLite connection helper for the outbox, notification log and silences.

They may share one file (the default ``state/alerts.db``); WAL lets the CLI add a
silence while the dispatcher process holds the database open.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path


class UnreadableDatabase(sqlite3.DatabaseError):
    """The alerting database file is not a SQLite database (overwritten, truncated, another
    file under its name); the message names it and what moving it away costs."""


def connect(path: str | Path) -> sqlite3.Connection:
    """Autocommit connection usable from any thread (callers serialise with their own lock).

    A file that is not a database raises :class:`UnreadableDatabase`: the bare
    ``sqlite3.DatabaseError: file is not a database`` ended ``rules run`` and ``silence``
    with a traceback that named no file."""
    con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    if str(path) != ":memory:":
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            con.close()
            if isinstance(exc, sqlite3.OperationalError):  # e.g. locked: not the file's fault
                raise
            raise UnreadableDatabase(
                f"alerting database {path} is unreadable ({exc}); move it away to start with"
                " an empty one (its queued notifications, notification log and silences are"
                " lost)"
            ) from None
    return con


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
