"""Durable outbox and notification log in SQLite: written before sending, marked sent once.

Each notification is a row committed before any delivery attempt. An attempt first *claims*
the row (attempts + 1 and a lease until the next retry time), then calls the notifier, then
marks the row sent. A crash between the send and the mark leaves the row pending, so it is
re-sent after restart with the same payload and dedup key: at-least-once delivery that the
pager dedups. Rows of one (group, receiver) are delivered strictly in order, so a resolve
never overtakes its trigger.

Outcomes of one delivery pass are committed together, in chunks of ``commit_every``, and only
after each of those sends returned: a crash before the chunk commits leaves its rows pending
(re-sent, same dedup key), so batching widens the duplicate window but never loses anything.
Enqueues can join the caller's :meth:`Outbox.transaction`, so the dispatcher commits a whole
flush (outbox rows, notification log, group state) at once.

Each receiver's rows are delivered by a worker thread of their own (one per receiver with due
rows), so a receiver that hangs until its timeout delays only its own notifications: a pass
takes about as long as its slowest receiver, not the sum of all of them.

A receiver that cannot be reached at all (timeout, refused connection: an Outcome marked
``unreachable``) is tried once per pass, not once per due row (a circuit breaker that lasts
one pass). Its other due rows are *deferred*: left pending as if never claimed (their attempt
count is not raised) and due again together with the failed row, after its backoff. Six
queued pages to a pager that hangs for 5 s used to cost a pass 30 s and each page an attempt
and a longer backoff, for what is one outage; Alertmanager too counts an unreachable endpoint
as one failure.

The notification log (Alertmanager's nflog) records what each receiver was last told per
group, in the same transaction as the outbox row, so a restarted dispatcher does not re-send
an incident the receiver already has. Beside it the log keeps what the receiver was last told
*successfully* (the newest notification marked sent, or one that needed no sending). A row
that fails for good or expires turns the log back to that, so the group's next flush tells the
receiver again: the failed update again, and a resolve to every receiver that got the trigger.

Finished rows (sent, failed, expired) older than a retention (7 days by default) are deleted,
at most once an hour, during :meth:`Outbox.deliver_due`, as Alertmanager's nflog has one.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from modelhealth.alerting.config import DeliverySpec
from modelhealth.alerting.notifiers.base import NotificationBatch, Notifier, Outcome
from modelhealth.alerting.sqlite import connect, from_ms, to_ms

log = logging.getLogger(__name__)

_DDL = (
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, receiver TEXT NOT NULL, group_key TEXT NOT NULL,
        dedup_key TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', payload TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
        sent_at INTEGER)""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
    # the "oldest pending row of this (group, receiver)" check in _claim_due: without it the
    # claim is quadratic in the number of pending rows
    "CREATE INDEX IF NOT EXISTS outbox_chain ON outbox (group_key, receiver, status, id)",
    """CREATE TABLE IF NOT EXISTS nflog (
        group_key TEXT NOT NULL, receiver TEXT NOT NULL, firing TEXT NOT NULL,
        resolved TEXT NOT NULL, notified_at INTEGER NOT NULL,
        PRIMARY KEY (group_key, receiver))""",
    # each receiver's latest known reachability (Dispatcher.receiver_health), with a digest of
    # the settings it was found with: a restarted process reports it, not a guess
    """CREATE TABLE IF NOT EXISTS receiver_state (
        receiver TEXT PRIMARY KEY, reachable INTEGER NOT NULL, settings TEXT NOT NULL,
        at INTEGER NOT NULL)""",
)
# Columns added after the first release, so files written by an older version are upgraded in
# place. outbox.firing/resolved: what the row tells (NULL on older rows); outbox.made_due: how
# often a reload made the row due at once (Outbox.make_due), so a delivery pass that claimed
# it before can tell; nflog.told_*: what the receiver was last told successfully (NULL:
# nothing yet).
_COLUMNS = {
    "outbox": (
        ("firing", "TEXT"),
        ("resolved", "TEXT"),
        ("made_due", "INTEGER NOT NULL DEFAULT 0"),
    ),
    "nflog": (("told_firing", "TEXT"), ("told_resolved", "TEXT"), ("told_at", "INTEGER")),
}

DEFAULT_RETENTION = timedelta(days=7)
"""How long finished outbox rows are kept (the dashboard's notifications view reads them)."""
PRUNE_EVERY = timedelta(hours=1)
"""Pruning runs at most this often (per Outbox), so a busy delivery loop does not pay for it."""


@dataclass(frozen=True)
class LogEntry:
    """What a receiver was last told about a group (fingerprints) and when."""

    firing: frozenset[str]
    resolved: frozenset[str]
    notified_at: datetime


@dataclass(frozen=True)
class OutboxRow:
    id: int
    receiver: str
    dedup_key: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    sent_at: datetime | None
    payload: str


@dataclass
class DeliveryReport:
    """What one :meth:`Outbox.deliver_due` pass did (for logs, metrics and tests)."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    deferred: list[int] = field(default_factory=list)
    """Rows not attempted because their receiver was found unreachable earlier in the pass
    (still pending, attempts unchanged, due with the row that found it so)."""
    unreachable: dict[str, datetime] = field(default_factory=dict)
    """Receivers found unreachable in this pass, and when their rows are due again."""
    reached: set[str] = field(default_factory=set)
    """Receivers an attempt of this pass reached: delivered, or answered with an error (an
    HTTP status, an SMTP reply; see ``Outcome.answered``). One may also be in
    ``unreachable``: its last attempt of the pass found it so."""
    receiver_of: dict[int, str] = field(default_factory=dict)
    """The receiver of every row listed above (sent, retrying, failed, expired, deferred)."""


OUTCOMES = ("sent", "retrying", "failed", "expired", "deferred")
"""What became of a row in a delivery pass (the :class:`DeliveryReport` lists): sent;
retrying (failed, tried again after a backoff); failed (for good); expired (given up on at
``expire_after``); deferred (not attempted: its receiver was found unreachable earlier in
the pass)."""


# (status, last_error, sent_at, not_before, id, made_due): one row's outcome, waiting for its
# chunk to commit; not_before (its backoff, or a later Retry-After) may only postpone the next
# attempt, and only while no reload made the row due since it was claimed (made_due unchanged).
_Update = tuple[str, str, int | None, int | None, int, int]
_GAVE_UP = ("failed", "expired")
# (id, receiver, payload, attempts, expires_at, next_attempt_at, made_due): a row leased for
# one delivery attempt (attempts already counts it; next_attempt_at is the lease's end;
# made_due as claimed)
_Claimed = tuple[int, str, str, int, int, int, int]
# the log entry of the row's (group, receiver), if that row or an earlier one wrote it
_WRITTEN_BY_ROW = (
    "EXISTS (SELECT 1 FROM outbox o WHERE o.id = ? AND o.group_key = nflog.group_key"
    " AND o.receiver = nflog.receiver AND nflog.notified_at <= o.created_at)"
)


def _forget_undelivered(con: sqlite3.Connection, row_ids: list[int]) -> None:
    """Turn the log entries rows given up on (``failed``/``expired``) wrote back to what the
    receiver was last told successfully (or drop them when it was told nothing yet).

    The log is written when a notification is queued, so that a queued one is not queued
    again. If it then never arrives, the log would claim the receiver knows: the group's next
    flush would see nothing new and the page would be lost until ``repeat_interval``. Merely
    dropping the entry is not enough either: after a failed update the receiver still has the
    trigger it got before, and without that in the log it would never get the resolve.
    Alertmanager logs only successful sends; the ``told_*`` columns are that log. An entry
    written by a later notification of the same group stays: that one is on its way.
    """
    if row_ids:
        params = [(i,) for i in row_ids]
        con.executemany(
            "UPDATE nflog SET firing = told_firing, resolved = told_resolved,"
            f" notified_at = told_at WHERE told_at IS NOT NULL AND {_WRITTEN_BY_ROW}",
            params,
        )
        con.executemany(f"DELETE FROM nflog WHERE told_at IS NULL AND {_WRITTEN_BY_ROW}", params)


def _remember_delivered(con: sqlite3.Connection, row_ids: list[int]) -> None:
    """Record sent rows as what their receiver was last told successfully (newest row wins).

    Each update finds its log entry by the primary key: a correlated ``EXISTS`` over the
    outbox scanned the whole log once per sent row (a third of a 2,000-notification flush)."""
    told = []
    for chunk in range(0, len(row_ids), 500):
        ids = row_ids[chunk : chunk + 500]
        told += con.execute(
            "SELECT firing, resolved, created_at, group_key, receiver, sent_at FROM outbox"
            f" WHERE firing IS NOT NULL AND id IN ({','.join('?' * len(ids))}) ORDER BY id",
            ids,
        ).fetchall()
    con.executemany(
        "UPDATE nflog SET told_firing = ?1, told_resolved = ?2, told_at = ?3"
        " WHERE group_key = ?4 AND receiver = ?5 AND coalesce(told_at, 0) <= ?3",
        [row[:5] for row in told],
    )
    # repeat_interval counts from delivery, as Alertmanager's log of sends does: a
    # notification that waited out an outage is followed by a repeat one interval after it
    # arrived, not at once. Only an entry this row wrote (none queued since) moves.
    con.executemany(
        "UPDATE nflog SET notified_at = ?6 WHERE group_key = ?4 AND receiver = ?5"
        " AND notified_at = ?3 AND ?6 > ?3",
        told,
    )


def _add_columns(con: sqlite3.Connection) -> None:
    """Upgrade a file written by an older version (a reader that opens an upgraded file, such
    as the dashboard, takes no write lock)."""
    for table, columns in _COLUMNS.items():
        have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name in have:
                continue
            try:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:  # another process upgraded it first
                if "duplicate column" not in str(exc):
                    raise


def _merge(into: DeliveryReport, part: DeliveryReport) -> None:
    into.sent += part.sent
    into.retrying += part.retrying
    into.failed += part.failed
    into.expired += part.expired
    into.errors.update(part.errors)
    into.deferred += part.deferred
    into.unreachable.update(part.unreachable)
    into.reached |= part.reached
    into.receiver_of.update(part.receiver_of)


@dataclass
class _Unreachable:
    """A receiver found unreachable in this delivery pass (the pass's circuit breaker).

    ``until`` (ms): when the row whose attempt found it so is due again; the receiver's other
    rows of the pass are deferred to the same time, unless a reload made them due at once
    meanwhile (:meth:`Outbox.make_due`). ``ids``: those rows (the failed one and the ones
    deferred), to read back when they are really due (:meth:`Outbox._due_again`)."""

    reason: str
    until: int
    ids: list[int] = field(default_factory=list)
    deferred: int = 0
    expired: int = 0


def _warn_unreachable(receiver: str, why: _Unreachable, due: int) -> None:
    """The pass's one warning for a receiver it found unreachable, naming when its deferred
    rows are really tried again (``due``, ms): an operator who just fixed the receiver's URL
    must not read "deferred to" a backoff a reload has since cancelled."""
    done = []
    if why.deferred:
        when = f"{why.deferred} notifications deferred to {from_ms(due).isoformat()}"
        if due < why.until:
            when += " (due at once: a reload of the receiver during this pass made them due)"
        done.append(when)
    if why.expired:
        done.append(f"{why.expired} expired unattempted")
    if done:
        log.warning("receiver %s unreachable: %s (%s)", receiver, "; ".join(done), why.reason)


class Outbox:
    """Notifications waiting to be delivered, in a SQLite file or ``:memory:``.

    >>> Outbox(":memory:").counts()
    {}
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        delivery: DeliverySpec | None = None,
        rng: random.Random | None = None,
        *,
        commit_every: int = 100,
        retention: timedelta | None = None,
    ) -> None:
        self.path = str(path)
        self.delivery = delivery or DeliverySpec()
        self.commit_every = max(1, commit_every)
        # a routing file's delivery settings may carry it one day; until then the default
        self.retention = retention or getattr(self.delivery, "retention", None) or DEFAULT_RETENTION
        self._rng = rng or random.Random()
        self._con = connect(path)
        self._lock = threading.RLock()
        self._pruned_at: datetime | None = None
        self.stopping = threading.Event()
        """Set while the process stops: a delivery pass attempts no further row (those it
        claimed and did not attempt are released, due at once), so stopping waits for the
        attempts under way only, not for a whole queue behind a slow receiver."""
        with self._lock:
            for ddl in _DDL:
                self._con.execute(ddl)
            _add_columns(self._con)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the outbox's connection; nested calls join the outer one.

        Other state kept in the same file (the dispatcher's groups) writes through the
        connection it yields, so it commits or rolls back together with the outbox rows.
        """
        with self._lock:
            if self._con.in_transaction:
                yield self._con
                return
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    # -- notification log ---------------------------------------------------------------
    def last_notified(self, group_key: str, receiver: str) -> LogEntry | None:
        with self._lock:
            row = self._con.execute(
                "SELECT firing, resolved, notified_at FROM nflog WHERE group_key=? AND receiver=?",
                (group_key, receiver),
            ).fetchone()
        if row is None:
            return None
        return LogEntry(
            frozenset(json.loads(row[0])), frozenset(json.loads(row[1])), from_ms(row[2])
        )

    # -- writing --------------------------------------------------------------------------
    def enqueue(
        self,
        batch: NotificationBatch | None,
        now: datetime,
        *,
        group_key: str,
        receiver: str,
        firing: Iterable[str],
        resolved: Iterable[str],
    ) -> int | None:
        """Record what the receiver is told and queue ``batch`` (None: log only), atomically.

        A log-only entry needs no delivery, so it also counts as told successfully at once.
        Inside an open :meth:`transaction` it joins that transaction.
        """
        told_firing, told_resolved = json.dumps(sorted(firing)), json.dumps(sorted(resolved))
        at = to_ms(now)
        with self.transaction() as con:
            con.execute(
                "INSERT INTO nflog (group_key, receiver, firing, resolved, notified_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_key, receiver) DO UPDATE SET"
                " firing = excluded.firing, resolved = excluded.resolved,"
                " notified_at = excluded.notified_at",
                (group_key, receiver, told_firing, told_resolved, at),
            )
            if batch is None:
                con.execute(
                    "UPDATE nflog SET told_firing = firing, told_resolved = resolved,"
                    " told_at = notified_at WHERE group_key = ? AND receiver = ?",
                    (group_key, receiver),
                )
                return None
            cur = con.execute(
                "INSERT INTO outbox (receiver, group_key, dedup_key, payload, created_at,"
                " expires_at, next_attempt_at, firing, resolved)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    receiver,
                    group_key,
                    batch.dedup_key,
                    batch.to_json(),
                    at,
                    to_ms(now + self.delivery.expire_after),
                    at,
                    told_firing,
                    told_resolved,
                ),
            )
            return cur.lastrowid

    def _queued(self, group_key: str, receiver: str) -> list[str | None]:
        """What each notification of ``group_key`` to ``receiver`` still queued resolves
        (its ``resolved`` column: JSON, or None on a row older than that bookkeeping).

        One query, so :meth:`pending` and :meth:`unsettled` cannot disagree on what "still
        queued" means. A (group, receiver) has few queued rows (a repeat is not queued
        while one is, see ``Dispatcher``), so reading them all where one would do is cheap."""
        with self._lock:
            rows = self._con.execute(
                "SELECT resolved FROM outbox WHERE group_key = ? AND receiver = ?"
                " AND status = 'pending'",
                (group_key, receiver),
            ).fetchall()
        return [resolved for (resolved,) in rows]

    def pending(self, group_key: str, receiver: str) -> bool:
        """Whether a notification of ``group_key`` to ``receiver`` is still queued."""
        return bool(self._queued(group_key, receiver))

    def unsettled(self, group_key: str, receiver: str) -> frozenset[str] | None:
        """Fingerprints of ``group_key`` the receiver may still need a resolve for.

        Those the log says it was told are firing (a resolve not queued yet, or given up on),
        plus those a pending notification is resolving (it may still fail). None when a
        pending row predates that bookkeeping: then nothing can be ruled out. The dispatcher
        keeps a resolved alert in its group while it is listed here.
        """
        entry = self.last_notified(group_key, receiver)
        out = set(entry.firing) if entry else set()
        for resolved in self._queued(group_key, receiver):
            if resolved is None:
                return None
            out.update(json.loads(resolved))
        return frozenset(out)

    # -- delivery -------------------------------------------------------------------------
    @staticmethod
    def make_due(con: sqlite3.Connection, receivers: Sequence[str], now: datetime) -> int:
        """Make the pending notifications of ``receivers`` due at ``now`` (inside the caller's
        :meth:`transaction`); returns how many there are. A reload does so for a removed
        receiver (its drop is reported by the next pass rather than after a retry's backoff)
        and for one whose settings changed (tried at once with them).

        This wins over a delivery pass already under way (``rules run`` reloads from its
        scheduler loop while the delivery thread may be waiting on the receiver): each row's
        ``made_due`` stamp goes up, and a pass that claimed the row before records its
        attempt's outcome but not its backoff or Retry-After (nor its deferral), which the
        old settings earned. The attempt itself still counts."""
        count = 0
        for name in receivers:
            cur = con.execute(
                "UPDATE outbox SET next_attempt_at = ?, made_due = made_due + 1"
                " WHERE receiver = ? AND status = 'pending'",
                (to_ms(now), name),
            )
            count += cur.rowcount
        return count

    # -- receivers' reachability -------------------------------------------------------------
    def reachability(self) -> dict[str, tuple[bool, str]]:
        """Each receiver's latest known reachability and the digest of the settings it was
        found with (:meth:`note_reachability`), as kept in the file."""
        with self._lock:
            rows = self._con.execute("SELECT receiver, reachable, settings FROM receiver_state")
            return {r: (bool(ok), digest) for r, ok, digest in rows.fetchall()}

    def note_reachability(self, states: Mapping[str, tuple[bool, str]], now: datetime) -> None:
        """Keep receivers' latest reachability (receiver -> (reachable, settings digest))."""
        if states:
            with self.transaction() as con:
                con.executemany(
                    "INSERT INTO receiver_state (receiver, reachable, settings, at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (receiver) DO UPDATE SET"
                    " reachable = excluded.reachable, settings = excluded.settings,"
                    " at = excluded.at",
                    [(r, int(ok), d, to_ms(now)) for r, (ok, d) in states.items()],
                )

    @staticmethod
    def forget_reachability(con: sqlite3.Connection, receivers: Sequence[str]) -> None:
        """Drop what is known of ``receivers`` (inside the caller's :meth:`transaction`): a
        reload removed them or changed their settings."""
        con.executemany("DELETE FROM receiver_state WHERE receiver = ?", [(r,) for r in receivers])

    def backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with equal jitter: a random delay in [d/2, d], d doubling."""
        d = self.delivery
        base = min(d.max_backoff, d.min_backoff * (2 ** max(0, attempts - 1)))
        return base * (0.5 + 0.5 * self._rng.random())

    def _claim_due(self, now: datetime, limit: int) -> list[_Claimed]:
        """Pick due rows (oldest pending per group+receiver only) and lease them."""
        at = to_ms(now)
        with self.transaction() as con:
            rows = con.execute(
                "SELECT o.id, o.receiver, o.payload, o.attempts, o.expires_at, o.made_due"
                " FROM outbox o"
                " WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND NOT EXISTS ("
                "  SELECT 1 FROM outbox p WHERE p.group_key = o.group_key"
                "  AND p.receiver = o.receiver AND p.status = 'pending' AND p.id < o.id)"
                " ORDER BY o.id LIMIT ?",
                (at, limit),
            ).fetchall()
            # a lease ends after ``now`` even at a zero backoff (``min_backoff: 0s``): a row
            # still due at ``now`` would be claimed again by the pass's next batch, forever
            leases = [at + max(1, int(self.backoff(r[3] + 1).total_seconds() * 1000)) for r in rows]
            con.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                [(lease, r[0]) for r, lease in zip(rows, leases, strict=True)],
            )
        return [
            (r[0], r[1], r[2], r[3] + 1, r[4], lease, r[5])
            for r, lease in zip(rows, leases, strict=True)
        ]

    def deliver_due(
        self, notifiers: Mapping[str, Notifier], now: datetime, limit: int = 1000
    ) -> DeliveryReport:
        """Attempt every due notification once (in batches of ``limit``); report each outcome.

        Each receiver's rows go out from a thread of their own, so a receiver that hangs until
        its timeout delays only its own notifications (rows of one group and receiver are
        still delivered strictly in order: only the oldest pending one is ever claimed).

        Once a receiver's attempt comes back ``unreachable``, its remaining rows of the pass
        (also those of later batches) are not attempted: each would only wait out the same
        timeout and be charged an attempt, and a longer backoff, for the same outage. They
        are reported ``deferred``: still pending, their claim undone (attempts unchanged) and
        due again when the failed row is, so the receiver is tried again as a whole. Groups
        keep their order: a deferred row is still its group's oldest pending one.

        A deferred row already past ``expires_at`` expires instead, as it would have had it
        been attempted (its receiver just failed): the deadline is when the page stops being
        worth sending, whether or not the outbox got to try it, and expiring it lets the
        group's next flush queue it afresh (see :func:`_forget_undelivered`). A row whose
        deadline passes while it waits is attempted at its next due time like any other.
        One warning per unreachable receiver and pass says how many rows it deferred and
        when they are due again, read back at the end of the pass: a reload during the pass
        may have made them due at once (:meth:`make_due`).
        """
        self.prune(now)
        report = DeliveryReport()
        down: dict[str, _Unreachable] = {}
        while not self.stopping.is_set():
            claimed = self._claim_due(now, limit)
            by_receiver: dict[str, list[_Claimed]] = {}
            for row in claimed:
                by_receiver.setdefault(row[1], []).append(row)
            self._deliver_parallel(list(by_receiver.values()), notifiers, now, report, down)
            if len(claimed) < limit:
                break
        for receiver, why in down.items():
            due = self._due_again(why)
            report.unreachable[receiver] = from_ms(due)
            _warn_unreachable(receiver, why, due)
        return report

    def _due_again(self, why: _Unreachable) -> int:
        """When the rows of an unreachable receiver are really due again (ms), read back at
        the end of the pass: the backoff ``why.until``, or earlier when a reload made them
        due at once during the pass (:meth:`make_due`), which the pass then kept. The
        failed row expired and nothing deferred: ``why.until``."""
        due = None
        with self._lock:
            for chunk in range(0, len(why.ids), 500):
                ids = why.ids[chunk : chunk + 500]
                (earliest,) = self._con.execute(
                    "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'"
                    f" AND id IN ({','.join('?' * len(ids))})",
                    ids,
                ).fetchone()
                if earliest is not None and (due is None or earliest < due):
                    due = earliest
        return why.until if due is None else min(due, why.until)

    def _deliver_parallel(
        self,
        per_receiver: list[list[_Claimed]],
        notifiers: Mapping[str, Notifier],
        now: datetime,
        report: DeliveryReport,
        down: dict[str, _Unreachable],
    ) -> None:
        """One worker per receiver (inline when there is only one); merge their reports.

        ``down`` (receivers found unreachable in this pass) is shared: each worker writes only
        its own receiver's entry."""
        if len(per_receiver) <= 1:
            for rows in per_receiver:
                self._deliver(rows, notifiers, now, report, down)
            return
        reports = [DeliveryReport() for _ in per_receiver]
        errors: list[BaseException] = []

        def work(rows: list[_Claimed], into: DeliveryReport) -> None:
            try:
                self._deliver(rows, notifiers, now, into, down)
            except BaseException as exc:  # re-raised in the caller's thread below
                errors.append(exc)

        threads = [
            threading.Thread(target=work, args=(rows, into), name=f"outbox-{rows[0][1]}")
            for rows, into in zip(per_receiver, reports, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in reports:
            _merge(report, r)
        if errors:
            raise errors[0]

    def _deliver(
        self,
        claimed: list[_Claimed],
        notifiers: Mapping[str, Notifier],
        now: datetime,
        report: DeliveryReport,
        down: dict[str, _Unreachable],
    ) -> None:
        """Attempt one receiver's claimed rows in order, until one finds it unreachable.

        A failed row's backoff counts from the end of its attempt, not from the claim at the
        start of the pass: a receiver that hangs for its whole timeout (10 s) would otherwise
        be due again at once after a shorter backoff (5 s), and be hammered back to back. So
        does a receiver's Retry-After: "wait 2 s" after a 1 s answer is 3 s after the start."""
        updates: list[_Update] = []
        deferred: list[_Claimed] = []
        released: list[_Claimed] = []
        started = time.monotonic()
        at = to_ms(now)
        try:
            for i, row in enumerate(claimed):
                row_id, receiver, payload, lease = row[0], row[1], row[2], row[5]
                if self.stopping.is_set():  # the process is stopping: attempt no more
                    released = claimed[i:]
                    break
                if receiver in down:  # found so earlier in this pass: do not try again now
                    deferred = claimed[i:]
                    break
                notifier = notifiers.get(receiver)
                if notifier is None:
                    outcome = Outcome(False, False, f"no notifier configured for {receiver!r}")
                else:
                    batch = NotificationBatch.from_json(payload, id=row_id)
                    try:
                        outcome = notifier.notify(batch)
                    except Exception as exc:  # a notifier bug must not stall the whole outbox
                        outcome = Outcome(
                            False, True, f"notifier raised {type(exc).__name__}: {exc}"
                        )
                # the attempt's end, on the pass's clock (``now`` is when the pass started)
                took_ms = int((time.monotonic() - started) * 1000)
                update = self._record(
                    row, outcome, now, report, ended=at + took_ms, backoff_end=lease + took_ms
                )
                updates.append(update)
                if notifier is not None and outcome.reached:
                    report.reached.add(receiver)
                if not outcome.ok and outcome.unreachable:
                    # due again when this row is (its backoff from the attempt's end, or a
                    # later Retry-After; the lease when the row expired instead)
                    down[receiver] = _Unreachable(outcome.reason, update[3] or lease, [row_id])
                if len(updates) >= self.commit_every:
                    self._commit(updates)
                    updates = []
        finally:
            # Also on KeyboardInterrupt: whatever was sent is marked sent before unwinding.
            self._commit(updates)
            self._release(released, at)
        if deferred:
            self._defer(deferred, down[deferred[0][1]], now, report)

    def _release(self, rows: list[_Claimed], at: int) -> None:
        """Undo the claim of rows a stopping pass did not attempt: still pending, their
        attempt not counted, due at ``at`` (the next start sends them at once)."""
        if rows:
            with self.transaction() as con:
                con.executemany(
                    "UPDATE outbox SET attempts = attempts - 1, next_attempt_at = ?"
                    " WHERE id = ? AND status = 'pending'",
                    [(at, r[0]) for r in rows],
                )

    def _defer(
        self, rows: list[_Claimed], why: _Unreachable, now: datetime, report: DeliveryReport
    ) -> None:
        """Undo the claim of rows not attempted because their receiver is unreachable: they
        stay pending, due with the row that found it so (or when a reload since made them
        due: see :meth:`make_due`); those past their expiry expire."""
        at = to_ms(now)
        note = f"not attempted: receiver unreachable ({why.reason})"
        waiting = [r for r in rows if at < r[4]]
        expired = [r[0] for r in rows if at >= r[4]]
        with self.transaction() as con:
            con.executemany(
                "UPDATE outbox SET attempts = attempts - 1, last_error = ?2,"
                " next_attempt_at = CASE WHEN made_due = ?4 THEN ?1 ELSE next_attempt_at END"
                " WHERE id = ?3 AND status = 'pending'",
                [(why.until, note, r[0], r[6]) for r in waiting],
            )
            con.executemany(
                "UPDATE outbox SET attempts = attempts - 1, status = 'expired', last_error = ?"
                " WHERE id = ? AND status = 'pending'",
                [(note, i) for i in expired],
            )
            _forget_undelivered(con, expired)
        report.deferred += [r[0] for r in waiting]
        why.ids += [r[0] for r in waiting]
        report.expired += expired
        report.receiver_of.update((r[0], r[1]) for r in rows)
        report.errors.update((i, note) for i in expired)
        why.deferred += len(waiting)
        why.expired += len(expired)

    def _commit(self, updates: list[_Update]) -> None:
        """Mark a chunk of attempts in one transaction (every one of them already returned)."""
        if updates:
            with self.transaction() as con:
                con.executemany(
                    "UPDATE outbox SET status = ?1, last_error = ?2, sent_at = ?3,"
                    " next_attempt_at = CASE WHEN made_due = ?6"
                    " THEN max(next_attempt_at, coalesce(?4, 0)) ELSE next_attempt_at END"
                    " WHERE id = ?5",
                    updates,
                )
                _remember_delivered(con, [u[4] for u in updates if u[0] == "sent"])
                _forget_undelivered(con, [u[4] for u in updates if u[0] in _GAVE_UP])

    def _record(
        self,
        row: _Claimed,
        outcome: Outcome,
        now: datetime,
        report: DeliveryReport,
        *,
        ended: int,
        backoff_end: int,
    ) -> _Update:
        """The update of one attempt of ``row``. ``ended`` (ms): when the attempt ended;
        ``backoff_end`` (ms): the earliest next attempt of a row left pending (its backoff
        counted from ``ended``). A Retry-After counts from ``ended`` too; the later wins."""
        row_id, receiver, _, attempts, expires_at, _, made_due = row
        report.receiver_of[row_id] = receiver
        if outcome.ok:
            status = "sent"
            report.sent.append(row_id)
        elif not outcome.retryable:
            status = "failed"
            report.failed.append(row_id)
        elif to_ms(now) >= expires_at:
            status = "expired"
            report.expired.append(row_id)
        else:
            status = "pending"
            report.retrying.append(row_id)
        if not outcome.ok:
            report.errors[row_id] = outcome.reason
            log.warning(
                "notification %d to %s attempt %d: %s (%s)",
                row_id, receiver, attempts, outcome.reason, status,
            )  # fmt: skip
        sent_at = to_ms(now) if outcome.ok else None
        not_before = None
        if status == "pending":
            # A 429/503's Retry-After, counted from the answer that asked for it (the end of
            # the attempt, as the backoff): the next attempt comes no earlier than either.
            retry_after = getattr(outcome, "retry_after", None)
            wait = int(retry_after.total_seconds() * 1000) if retry_after else 0
            not_before = max(ended + wait, backoff_end)
        reason = "" if outcome.ok else outcome.reason
        return (status, reason, sent_at, not_before, row_id, made_due)

    def prune(self, now: datetime, *, force: bool = False) -> int:
        """Delete finished rows older than :attr:`retention` (at most every ``PRUNE_EVERY``).

        Pending rows are never touched. Log entries go too once they say nothing is firing
        and have nothing in flight: such an entry means exactly what no entry means, so the
        dispatcher's dedup is unchanged; an entry of an open incident stays, however old.
        Returns the number of outbox rows deleted.
        """
        if not force and self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        cutoff = to_ms(now - self.retention)
        with self.transaction() as con:
            n = con.execute(
                "DELETE FROM outbox WHERE status IN ('sent', 'failed', 'expired')"
                " AND coalesce(sent_at, created_at) < ?",
                (cutoff,),
            ).rowcount
            con.execute(
                "DELETE FROM nflog WHERE firing = '[]' AND coalesce(told_firing, '[]') = '[]'"
                " AND notified_at < ? AND NOT EXISTS (SELECT 1 FROM outbox o"
                " WHERE o.group_key = nflog.group_key AND o.receiver = nflog.receiver"
                " AND o.status = 'pending')",
                (cutoff,),
            )
        if n:
            log.info("pruned %d notifications finished before %s", n, now - self.retention)
        return n

    def expire(self, now: datetime) -> int:
        """Give up on pending rows past their expiry (they would otherwise wait for a claim)."""
        with self.transaction() as con:
            ids = [
                r[0]
                for r in con.execute(
                    "SELECT id FROM outbox WHERE status = 'pending' AND expires_at <= ?",
                    (to_ms(now),),
                ).fetchall()
            ]
            con.executemany(
                "UPDATE outbox SET status = 'expired' WHERE id = ?", [(i,) for i in ids]
            )
            _forget_undelivered(con, ids)
        return len(ids)

    # -- inspection -----------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._con.execute("SELECT status, count(*) FROM outbox GROUP BY status")
            return {s: int(n) for s, n in rows.fetchall()}

    def counts_by_receiver(self) -> dict[tuple[str, str], int]:
        """Rows per (receiver, status): the scheduler's ``modelhealth_notifications``."""
        with self._lock:
            rows = self._con.execute(
                "SELECT receiver, status, count(*) FROM outbox GROUP BY receiver, status"
            )
            return {(r, s): int(n) for r, s, n in rows.fetchall()}

    def rows(self, status: str | None = None) -> list[OutboxRow]:
        sql = (
            "SELECT id, receiver, dedup_key, status, attempts, last_error, created_at, sent_at,"
            " payload FROM outbox"
        )
        params: tuple[str, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        with self._lock:
            got = self._con.execute(sql + " ORDER BY id", params).fetchall()
        return [
            OutboxRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                from_ms(r[6]),
                from_ms(r[7]) if r[7] is not None else None,
                r[8],
            )
            for r in got
        ]

    def next_due(self) -> datetime | None:
        """When the earliest pending row becomes due (lets a loop sleep exactly that long)."""
        with self._lock:
            row = self._con.execute(
                "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'"
            ).fetchone()
        return from_ms(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        with self._lock:
            self._con.close()
