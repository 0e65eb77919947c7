"""Silences: label matchers with a time window that mute notifications, kept in SQLite.

Created from the CLI (``modelhealth silence add model=fraud --for 2h -c "deploying"``) or the
dashboard; the dispatcher asks :meth:`SilenceStore.mutes` at every group flush, so expiring a
silence restores notifications at the next flush without any other signal.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from modelhealth.alerting.config import parse_duration
from modelhealth.alerting.matchers import Matcher, matches_all, parse_matcher
from modelhealth.alerting.sqlite import UnreadableDatabase, connect, from_ms, to_ms
from modelhealth.cliargs import file_problem
from modelhealth.clock import Clock, SystemClock

DEFAULT_DB = "state/alerts.db"
"""Where ``silence`` and ``rules run``/``eval`` keep silences and the outbox by default: the
file ``rules run`` puts beside its default ``--state state/alerts.json``, so a silence added
without options mutes what a scheduler started without options sends."""


DB_EXPECTED = f"a SQLite file path, e.g. {DEFAULT_DB}"
"""What ``silence --db`` expects, as its errors say it."""


def default_alert_db() -> str:
    """``$MODELHEALTH_ALERT_DB``, else :data:`DEFAULT_DB`."""
    return os.environ.get("MODELHEALTH_ALERT_DB") or DEFAULT_DB


_DDL = """CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL,
    created_at INTEGER NOT NULL)"""


@dataclass(frozen=True, kw_only=True)
class Silence:
    """Mutes every alert whose labels match all ``matchers`` while starts_at <= now < ends_at."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active(now) and matches_all(self.matchers, labels)


class SilenceStore:
    """Silences in a SQLite file (or ``:memory:``); safe to share between threads.

    >>> store = SilenceStore(":memory:")
    """

    def __init__(self, path: str | Path = ":memory:", clock: Clock | None = None) -> None:
        self._con = connect(path)
        self._con.execute(_DDL)
        self._lock = threading.Lock()
        self._clock = clock or SystemClock()

    def add(
        self,
        matchers: Sequence[Matcher | str],
        starts: datetime,
        ends: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """Store a silence and return its id; at least one matcher and ends > starts."""
        parsed = tuple(m if isinstance(m, Matcher) else parse_matcher(m) for m in matchers)
        if not parsed:
            raise ValueError("a silence needs at least one matcher, e.g. model=fraud")
        if all(m.matches({}) for m in parsed):
            # as Alertmanager: it would mute every alert, MonitoringBlind included
            raise ValueError(
                f"{' '.join(map(str, parsed))} also matches alerts without those labels, so it"
                " would mute every alert; add a matcher that needs a value, e.g. model=fraud"
            )
        if ends <= starts:
            raise ValueError(f"silence ends ({ends.isoformat()}) must be after it starts")
        if not comment.strip():
            raise ValueError("a silence needs a comment saying why (-c 'deploying v4')")
        sid = uuid.uuid4().hex[:12]
        with self._lock:
            self._con.execute(
                "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    sid,
                    json.dumps([m.to_json() for m in parsed]),
                    to_ms(starts),
                    to_ms(ends),
                    created_by,
                    comment,
                    to_ms(self._clock.now()),
                ),
            )
        return sid

    def expire(self, silence_id: str, now: datetime | None = None) -> bool:
        """End a silence now; False if no such silence or it had already ended."""
        at = to_ms(now or self._clock.now())
        with self._lock:
            cur = self._con.execute(
                "UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?",
                (at, silence_id, at),
            )
        return cur.rowcount == 1

    def list(self, now: datetime | None = None, include_expired: bool = False) -> list[Silence]:
        """Silences that have not ended (or all of them), oldest first."""
        sql = "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences"
        params: tuple[int, ...] = ()
        if not include_expired:
            sql += " WHERE ends_at > ?"
            params = (to_ms(now or self._clock.now()),)
        with self._lock:
            rows = self._con.execute(sql + " ORDER BY starts_at, id", params).fetchall()
        return [
            Silence(
                id=r[0],
                matchers=tuple(Matcher(*m) for m in json.loads(r[1])),
                starts_at=from_ms(r[2]),
                ends_at=from_ms(r[3]),
                created_by=r[4],
                comment=r[5],
            )
            for r in rows
        ]

    def active(self, now: datetime) -> list[Silence]:
        return [s for s in self.list(now) if s.active(now)]

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return any(s.mutes(labels, now) for s in self.active(now))

    def close(self) -> None:
        with self._lock:
            self._con.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelhealth silence", description="Manage alert silences.")
    db_help = (
        "alerting SQLite database: the --alerts-db of `rules run` (default"
        f" $MODELHEALTH_ALERT_DB or {DEFAULT_DB}, beside `rules run`'s default --state)"
    )
    p.add_argument("--db", default=default_alert_db(), help=db_help)
    # also after the subcommand (`silence list --db X` was "unrecognized arguments")
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="silence alerts matching LABEL=VALUE ...", parents=[after])
    add.add_argument("matchers", nargs="+", help="e.g. model=fraud severity=~warning|info")
    add.add_argument("--for", dest="duration", default="1h", help="e.g. 30m, 2h (default 1h)")
    add.add_argument("-c", "--comment", required=True, help="why (shown to on-call)")
    add.add_argument("--by", default=os.environ.get("USER", "cli"), help="who (default $USER)")
    lst = sub.add_parser("list", help="list current silences", parents=[after])
    lst.add_argument("--all", action="store_true", help="include expired silences")
    exp = sub.add_parser("expire", help="end a silence now", parents=[after])
    exp.add_argument("id", help="the silence id that `silence add` printed")
    return p


def _for(text: str) -> timedelta:
    """``--for`` as a positive duration; a ValueError names the option (``--for 99999999w``
    used to end in an OverflowError traceback, now it is too long: at most 520w)."""
    try:
        hold = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"--for {text!r}: {exc}") from None
    if hold <= timedelta(0):  # said "silence ends (<now>) must be after it starts"
        raise ValueError(f"--for {text!r}: a silence must last longer than 0, e.g. 30m or 2h")
    return hold


def shown(when: datetime) -> str:
    """A silence's time as the CLI prints it: to the millisecond, the precision the
    database keeps (``add`` printed the end it was asked for to the microsecond, and
    ``list`` then showed the same silence ending at another time)."""
    return when.isoformat(timespec="milliseconds")


def silence_main(argv: list[str], *, clock: Clock | None = None, out: TextIO | None = None) -> int:
    """``modelhealth silence add|list|expire``; returns the process exit code."""
    out = out or sys.stdout
    clock = clock or SystemClock()
    args = _parser().parse_args(argv)
    if args.cmd == "add":  # checked before the database is touched: a typo creates nothing
        try:
            hold = _for(args.duration)
            matchers = [parse_matcher(m) for m in args.matchers]
        except ValueError as exc:  # MatcherError is a ValueError too
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.db != ":memory:":
        if args.cmd != "add" and not Path(args.db).exists():
            print(f"error: no alerting database at {args.db} (see --db)", file=sys.stderr)
            return 1
        # as `rules run` checks its --alerts-db: a directory was sqlite's "unable to open
        # database file" traceback, a file it may not read or write a bare sqlite error.
        # `list` writes too: opening the store sets WAL and creates its table
        problem = file_problem(args.db, DB_EXPECTED, writes=True)
        if problem:
            print(f"error: --db {problem}", file=sys.stderr)
            return 2
        try:
            Path(args.db).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # changed since the check (file_problem says why first)
            print(f"error: --db {args.db}: cannot make its folder ({exc.strerror or exc})",
                  file=sys.stderr)  # fmt: skip
            return 2
    try:
        store = SilenceStore(args.db, clock)
    except UnreadableDatabase as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.OperationalError as exc:  # e.g. a folder it may not write in
        print(f"error: alerting database {args.db} cannot be opened ({exc})", file=sys.stderr)
        return 1
    try:
        now = clock.now()
        if args.cmd == "add":
            try:
                sid = store.add(matchers, now, now + hold, args.by, args.comment)
            except ValueError as exc:  # MatcherError is a ValueError too
                print(f"error: {exc}", file=sys.stderr)
                return 2
            until = shown(from_ms(to_ms(now + hold)))  # as stored, so as `list` shows it
            print(f"{sid}  until {until}  (in {args.db})", file=out)
        elif args.cmd == "list":
            listed = store.list(now, include_expired=args.all)
            if not listed:
                print("no silences" if args.all else "no active or pending silences", file=out)
            for s in listed:
                state = (
                    "active" if s.active(now) else ("expired" if s.ends_at <= now else "pending")
                )
                ms = ",".join(str(m) for m in s.matchers)
                print(
                    f"{s.id}  {state:7s}  {ms}  until {shown(s.ends_at)}  "
                    f"by {s.created_by}: {s.comment}",
                    file=out,
                )
        elif not store.expire(args.id, now):
            print(f"error: no active silence with id {args.id!r}", file=sys.stderr)
            return 1
        else:
            print(f"expired {args.id}", file=out)
        return 0
    finally:
        store.close()
