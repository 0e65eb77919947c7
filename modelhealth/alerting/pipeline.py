"""The Dispatcher: the rules engine's ``notify`` callable, from alerts to delivered messages.

Stages, in Alertmanager's order: route (alert -> groups) -> wait/interval timers -> mute
(silences, inhibition) -> dedup against the notification log -> write to the outbox ->
deliver with retry. Every stage takes the tick's ``now``; nothing here reads the clock.

Groups (their alerts, timers and when each alert was last reported) live in the outbox's
SQLite file (:mod:`~modelhealth.alerting.groupstore`) and a flush commits its outbox rows, the
notification log and the new group state in one transaction, so a dispatcher restarted on the
same file resumes exactly: a resolve reported before a crash is still sent, and nothing the
receiver already has is sent again.

As in Alertmanager, a resolved alert stays in its group until a resolve for it was delivered
to the group's receiver: a resolve that expires or is refused for good goes out again with the
group's next flush (and survives a restart like any group state).

A running dispatcher takes a reloaded routing file with :meth:`Dispatcher.reconfigure` (``rules
run`` does so when the file changes, on SIGHUP and on ``POST /-/reload``), as Alertmanager
reloads its config without dropping its alerts or its notification log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from modelhealth.alerting import groupstore
from modelhealth.alerting.config import RouteSpec, RoutingConfig
from modelhealth.alerting.grouping import AggregationGroup, needs_update
from modelhealth.alerting.groupstore import GroupChange
from modelhealth.alerting.inhibition import Inhibitor
from modelhealth.alerting.notifiers import NOTIFIERS
from modelhealth.alerting.notifiers.base import NotificationBatch, Notifier, Outcome
from modelhealth.alerting.outbox import OUTCOMES, DeliveryReport, Outbox
from modelhealth.alerting.report import features_of, incident_context
from modelhealth.alerting.routing import group_key, group_labels, group_route, match_routes
from modelhealth.alerting.silences import SilenceStore
from modelhealth.clock import Clock, SystemClock
from modelhealth.errors import ConfigError, ConfigIssue
from modelhealth.ingestion.reference import ModelReference
from modelhealth.store.backend import QueryBackend
from modelhealth.types import Alert, AlertState

log = logging.getLogger(__name__)

ContextFn = Callable[[AggregationGroup], Mapping[str, Any]]
ReceiverSettings = tuple[str, tuple[tuple[str, Any], ...], tuple[tuple[str, str], ...]]
"""What a notifier was built from: the receiver's kind, its options, and a digest of each
environment variable it read (so that a secret is never kept twice in memory)."""


class _RecordingEnv(Mapping[str, str]):
    """The environment as a notifier sees it, noting each variable it asks for."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.read: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        value = self._env.get(name)
        self.read[name] = "" if value is None else _digest(value)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        # a notifier that lists the environment depends on all of it
        self.read["*"] = _digest(repr(sorted(self._env.items())))
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Receivers:
    """The notifiers of a routing file's receivers, each with the settings it was built from
    (:data:`ReceiverSettings`), so a reload can tell which receivers did not change."""

    notifiers: dict[str, Notifier]
    settings: dict[str, ReceiverSettings]


def build_receivers(routing: RoutingConfig, env: Mapping[str, str] | None = None) -> Receivers:
    """A notifier per receiver of ``routing``, configured from its options and ``env``
    (default: the process environment, read now: a reload reads the variables the file
    names afresh). Raises ConfigError naming each receiver whose settings are unusable
    (e.g. ``MODELHEALTH_SMTP_PORT=25x``) at its place in the file."""
    env = env if env is not None else os.environ
    notifiers: dict[str, Notifier] = {}
    settings: dict[str, ReceiverSettings] = {}
    issues: list[ConfigIssue] = []
    for name, spec in routing.receivers.items():
        seen = _RecordingEnv(env)
        try:
            notifiers[name] = NOTIFIERS[spec.kind](spec.options, seen)
        except ValueError as exc:
            issues.append(ConfigIssue(spec.source, str(exc), spec.kind, f'receiver "{name}"'))
            continue
        options = tuple(sorted(spec.options.items()))
        settings[name] = (spec.kind, options, tuple(sorted(seen.read.items())))
    if issues:
        raise ConfigError(issues)
    return Receivers(notifiers, settings)


@dataclass(frozen=True)
class RemovedReceiver:
    """Stands in for a receiver a reload removed from the routing file, so that its queued
    notifications fail for good, each with this reason, instead of going out.

    Why dropped, not delivered by the old notifier: removing a receiver is how an owner stops
    notifications going somewhere (the wrong team, an endpoint being retired); the old
    notifier would keep trying for up to ``expire_after`` (a day) against that wish. It is
    also what a restart with the same file does (the outbox has no notifier for the name), so
    a reload and a restart agree. Nothing is silenced by it: the alerts go on to the
    receivers the reloaded routing names, from the next tick. A delivery already under way
    when the file is reloaded finishes with the old notifier. The drop is reported: the rows
    are marked ``failed`` with the reason below (``modelhealth silence``'s database, the
    ``modelhealth_notifications{status="failed"}`` metric) and logged.
    """

    name: str
    file: str

    def notify(self, batch: NotificationBatch) -> Outcome:
        return Outcome(
            False,
            False,
            f"receiver {self.name!r} was removed from {self.file} by a reload: notification"
            " dropped (its alerts go to the receivers the reloaded routing names)",
        )


@dataclass(frozen=True)
class RoutingChange:
    """What :meth:`Dispatcher.reconfigure` changed, for the reload's log line."""

    added: tuple[str, ...] = ()  # receivers new in the file
    rebuilt: tuple[str, ...] = ()  # receivers whose settings changed: a new notifier
    kept: tuple[str, ...] = ()  # receivers unchanged: their running notifier goes on
    removed: tuple[str, ...] = ()  # receivers gone from the file
    groups_kept: int = 0  # open groups whose route is still there
    groups_orphaned: tuple[str, ...] = ()  # open groups whose route is gone (root timers)
    groups_dropped: tuple[str, ...] = ()  # open groups of removed receivers
    dropped_notifications: int = 0  # queued notifications to removed receivers

    def describe(self) -> str:
        parts = [
            f"{len(self.added)} receiver(s) added, {len(self.rebuilt)} changed,"
            f" {len(self.kept)} unchanged, {len(self.removed)} removed",
            f"{self.groups_kept} open group(s) kept",
        ]
        if self.groups_orphaned:
            parts.append(
                f"{len(self.groups_orphaned)} whose route is gone stay under the root's timers"
                " until their alerts resolve"
            )
        if self.groups_dropped:
            parts.append(f"{len(self.groups_dropped)} of removed receivers closed")
        if self.dropped_notifications:
            parts.append(
                f"{self.dropped_notifications} queued notification(s) to removed receivers"
                " dropped (marked failed)"
            )
        return "; ".join(parts)


@dataclass
class ReceiverHealth:
    """How one configured receiver's deliveries went (``rules run``'s ``/metrics``): whether
    its latest attempt reached it, and notifications per outcome in this process.

    ``reachable`` is None while nothing is known of the receiver with its current settings:
    no attempt has contacted it (one that failed before contacting it, e.g. a missing routing
    key, says nothing of the endpoint), in this process or, kept in the outbox's file, in the
    previous one. ``/metrics`` then has no sample for it rather than a guess."""

    reachable: bool | None = None
    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass
class FlushReport:
    """What one flush did: notifications queued (with their reasons), muted alerts, delivery."""

    queued: list[tuple[int, str, str]] = field(default_factory=list)  # (row id, receiver, why)
    muted: dict[str, str] = field(default_factory=dict)  # fingerprint -> silenced|inhibited
    timed_out: list[str] = field(default_factory=list)  # fingerprints resolved by resolve_timeout
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


@dataclass(frozen=True)
class _Planned:
    """A notification decided outside the write transaction (plots can take a while)."""

    batch: NotificationBatch | None
    receiver: str
    reason: str
    firing: tuple[str, ...]
    resolved: tuple[str, ...]


REPORTS_MISSED = 4
"""Report intervals a firing alert may miss before it times out (Prometheus' factor)."""


class Dispatcher:
    """Groups, mutes, dedups and durably delivers alerts; call it once per evaluation tick.

    >>> from modelhealth.alerting.config import RoutingConfig
    >>> d = Dispatcher(RoutingConfig.default(email_to=["oncall@example.com"]), {})
    >>> d([], d.clock.now())  # the rules engine's notify callable
    """

    def __init__(
        self,
        routing: RoutingConfig,
        notifiers: Mapping[str, Notifier],
        outbox: str | Path = ":memory:",
        clock: Clock | None = None,
        *,
        silences: SilenceStore | None = None,
        store: QueryBackend | None = None,
        references: Mapping[str, ModelReference] | None = None,
        context: ContextFn | None = None,
        rng: random.Random | None = None,
        receiver_settings: Mapping[str, ReceiverSettings] | None = None,
    ) -> None:
        self.routing = routing
        self.notifiers = dict(notifiers)
        # what each notifier was built from (build_receivers); unknown ones are rebuilt at a
        # reload
        self.receiver_settings = dict(receiver_settings or {})
        self.clock = clock or SystemClock()
        self.outbox = Outbox(outbox, routing.delivery, rng)
        # Silences live in the same file by default, so `modelhealth silence --db` reaches them.
        self.silences = silences if silences is not None else SilenceStore(outbox, self.clock)
        self.inhibitor = Inhibitor(routing.inhibit_rules)
        self.store = store
        self.references = references or {}
        self.context = context
        self.groups: dict[str, AggregationGroup] = {}
        self.report_interval = timedelta(0)
        """How often the rules engine re-reports firing alerts (``rules run --interval``);
        see :attr:`resolve_timeout`."""
        self._firing: dict[str, Alert] = {}
        self._resumed = False
        self._lock = threading.RLock()
        self._health_lock = threading.Lock()
        self._health = self._restored_health()
        self._restore()

    def __call__(self, alerts: Sequence[Alert], now: datetime) -> None:
        """Take this tick's changed/firing alerts, then send whatever is due."""
        self.ingest(alerts, now)
        self.flush(now)

    def ingest(self, alerts: Sequence[Alert], now: datetime) -> None:
        """Route alerts into their aggregation groups (pending alerts are not notified)."""
        with self._lock:
            self._resume(now)
            touched: dict[str, set[str]] = {}
            for alert in alerts:
                if alert.is_resolved:
                    self._firing.pop(alert.fingerprint, None)
                elif alert.state == AlertState.FIRING:
                    self._firing[alert.fingerprint] = alert
                else:
                    continue
                for route in match_routes(self.routing.route, alert.labels):
                    key = group_key(route, alert.labels)
                    group = self.groups.get(key)
                    if group is None:
                        if alert.is_resolved and not self._ever_notified(key, route.receiver):
                            continue  # nobody was told it fired; nothing to resolve
                        group = AggregationGroup(
                            key=key,
                            route=route,
                            labels=group_labels(route, alert.labels),
                            next_flush_at=now + route.group_wait,
                        )
                        self.groups[key] = group
                    prev, due_at = group.alerts.get(alert.fingerprint), group.next_flush_at
                    group.add(alert, now)
                    if _material(prev, alert) or group.next_flush_at != due_at:
                        touched.setdefault(key, set()).add(alert.fingerprint)
            if touched:
                # Persisted before returning: once the rules engine handed over a resolve, a
                # crash can no longer lose it. A mere re-report (same state, fresher value) is
                # not written: a restarted dispatcher restarts every resolve_timeout anyway, and
                # the rules engine's next tick brings the fresh values.
                with self.outbox.transaction() as con:
                    groupstore.save(
                        con, [GroupChange(k, self.groups[k], tuple(f)) for k, f in touched.items()]
                    )

    def reconfigure(
        self, routing: RoutingConfig, receivers: Receivers, now: datetime
    ) -> RoutingChange:
        """Take a reloaded routing file (``receivers`` built from it) from now on, keeping
        the alerts, open groups, outbox and notification log, as Alertmanager's reload does.

        Every open group follows :func:`~modelhealth.alerting.routing.group_route`, the rule a
        restart applies: a route whose group key is unchanged keeps its group (and so its
        PagerDuty dedup key, and what the notification log says its receiver was told: no
        second page for an open incident), with the timers the file now gives it (a timer
        already running is re-based on the new duration); a group whose route is gone stays
        under the root's timers until its alerts resolve; a group of a removed receiver is
        closed. Receivers are known by name: one whose settings (options and the environment
        variables it reads) did not change keeps its notifier object; a changed one gets a new
        notifier, used for its queued notifications too, which are due at once (not after
        the backoff the old settings earned); a removed one's queued notifications
        are dropped (see :class:`RemovedReceiver`). A delivery under way finishes with the
        notifier it started with (a delivery pass holds the notifiers it was given), but what
        it records does not push back the changed or removed receivers' queues (see
        :meth:`Outbox.make_due`). New alerts, and new groups, follow the new routes,
        inhibition rules and timers.
        """
        with self._lock:
            notifiers, change = self._next_notifiers(routing, receivers)
            homes = {
                key: group_route(routing, g.route.identity, g.route.receiver, key)
                for key, g in self.groups.items()
            }
            groups = {
                key: _rehomed(self.groups[key], route)
                for key, route in homes.items()
                if route is not None
            }
            dropped = tuple(sorted(k for k, r in homes.items() if r is None))
            with self.outbox.transaction() as con:
                groupstore.save(
                    con,
                    [GroupChange(k, None) for k in dropped]
                    + [GroupChange(k, g) for k, g in groups.items()],
                )
                hurried = Outbox.make_due(con, change.removed, now)
                # a changed receiver's queue waited out backoffs its old settings earned (a
                # refused URL, a wrong host): its new settings are tried at once
                Outbox.make_due(con, change.rebuilt, now)
                Outbox.forget_reachability(con, change.removed + change.rebuilt)
            self.routing = routing
            with self._health_lock:  # after self.notifiers: see _note_delivery
                self.notifiers = notifiers
                self.receiver_settings = dict(receivers.settings)
                self._health = _next_health(self._health, change)
            self.groups = groups
            self.inhibitor = Inhibitor(routing.inhibit_rules)
            self.outbox.delivery = routing.delivery
        orphaned = tuple(sorted(k for k, g in groups.items() if not g.route.key))
        return replace(
            change,
            groups_kept=len(groups) - len(orphaned),
            groups_orphaned=orphaned,
            groups_dropped=dropped,
            dropped_notifications=hurried,
        )

    def _next_notifiers(
        self, routing: RoutingConfig, receivers: Receivers
    ) -> tuple[dict[str, Notifier], RoutingChange]:
        """The notifiers after a reload: running ones whose settings are unchanged, the
        fresh ones otherwise, and a :class:`RemovedReceiver` for each removed receiver."""
        notifiers: dict[str, Notifier] = {}
        added, rebuilt, kept = [], [], []
        for name in routing.receivers:
            running = self.notifiers.get(name)
            settings = receivers.settings.get(name)
            if name not in self.routing.receivers or running is None:
                added.append(name)
            elif settings is not None and settings == self.receiver_settings.get(name):
                kept.append(name)
                notifiers[name] = running
                continue
            else:
                rebuilt.append(name)
            notifiers[name] = receivers.notifiers[name]
        removed = sorted(set(self.routing.receivers) - set(routing.receivers))
        for name in removed:
            notifiers[name] = RemovedReceiver(name, routing.source.file)
        change = RoutingChange(
            added=tuple(added), rebuilt=tuple(rebuilt), kept=tuple(kept), removed=tuple(removed)
        )
        return notifiers, change

    def _resume(self, now: datetime) -> None:
        if self._resumed:
            self._resumed = False
            for g in self.groups.values():
                for fp, seen in g.seen_at.items():
                    g.seen_at[fp] = max(seen, now)

    def _ever_notified(self, key: str, receiver: str) -> bool:
        return self.outbox.last_notified(key, receiver) is not None

    def flush(self, now: datetime) -> FlushReport:
        """Queue notifications for groups whose timers elapsed, then deliver what is due."""
        report = self.flush_groups(now)
        report.delivery = self.run_due(now)
        return report

    def run_due(self, now: datetime) -> DeliveryReport:
        """Deliver due outbox rows (first attempts and retries whose backoff elapsed)."""
        notifiers = self.notifiers
        report = self.outbox.deliver_due(notifiers, now)
        self._note_delivery(report, notifiers)
        return report

    def receiver_health(self) -> dict[str, ReceiverHealth]:
        """A copy of each configured receiver's :class:`ReceiverHealth` (the receivers of the
        routing in force: a reload's removed receivers are gone, its added and changed ones
        start unknown, the added ones with no outcomes)."""
        with self._health_lock:
            return {
                name: ReceiverHealth(h.reachable, Counter(h.outcomes))
                for name, h in self._health.items()
            }

    def _note_delivery(self, report: DeliveryReport, notifiers: Mapping[str, Notifier]) -> None:
        """Count a pass's outcomes per configured receiver, and mark the receivers it found
        unreachable (0) or reached (1; a receiver both reached and then found unreachable in
        one pass is unreachable: that was its latest attempt). A changed reachability is kept
        in the outbox's file too, with the digest of the receiver's settings, for the next
        process to start from (:meth:`_restored_health`).

        Reachability is taken only from a receiver's notifier still in force: a pass that
        started before a reload changed the receiver's settings says nothing of the new
        endpoint (a reload updates ``self.notifiers`` and the settings under the same lock)."""
        changed: dict[str, tuple[bool, str]] = {}
        with self._health_lock:
            for outcome in OUTCOMES:
                for row in getattr(report, outcome):
                    health = self._health.get(report.receiver_of.get(row, ""))
                    if health is not None:
                        health.outcomes[outcome] += 1
            for name in report.reached | report.unreachable.keys():
                health = self._health.get(name)
                if health is not None and self.notifiers.get(name) is notifiers.get(name):
                    reachable = name not in report.unreachable
                    digest = self._settings_digest(name)
                    if health.reachable is not reachable and digest:
                        changed[name] = (reachable, digest)
                    health.reachable = reachable
        try:
            self.outbox.note_reachability(changed, self.clock.now())
        except sqlite3.Error as exc:  # the gauge's memory must not fail a delivery pass
            log.warning("could not keep receivers' reachability in %s: %s", self.outbox.path, exc)

    def _settings_digest(self, name: str) -> str:
        """A digest of what the receiver's notifier was built from; "" when unknown (a
        dispatcher given no ``receiver_settings``: then nothing is kept or restored)."""
        settings = self.receiver_settings.get(name)
        return _digest(repr(settings)) if settings is not None else ""

    def _restored_health(self) -> dict[str, ReceiverHealth]:
        """Each receiver's reachability as the outbox's file last knew it, when it was found
        so with the settings the receiver has now (unknown otherwise: None).

        A receiver whose settings changed while no process ran (the file knows it with
        other ones) is handled as a reload handles it: its queue is due at once, not after
        the backoff the old settings earned, and what was known of it is dropped."""
        known = self.outbox.reachability()
        health: dict[str, ReceiverHealth] = {}
        changed: list[str] = []
        for name in self.routing.receivers:
            reachable, digest = known.get(name, (False, ""))
            current = self._settings_digest(name)
            same = bool(digest) and digest == current
            if digest and current and not same:
                changed.append(name)
            health[name] = ReceiverHealth(reachable if same else None)
        if changed:
            with self.outbox.transaction() as con:
                Outbox.make_due(con, changed, self.clock.now())
                Outbox.forget_reachability(con, changed)
            log.info("receiver(s) %s changed since the last run: queues due now", changed)
        return health

    def flush_groups(self, now: datetime) -> FlushReport:
        """Queue a notification for every group whose timer elapsed (one transaction)."""
        report = FlushReport()
        with self._lock:
            try:
                self._flush_groups(now, report)
            except BaseException:
                # Nothing was committed: forget the in-memory flush so the next one redoes it.
                report.queued.clear()
                self._restore()
                raise
        return report

    def _flush_groups(self, now: datetime, report: FlushReport) -> None:
        self._resume(now)
        changed = self._time_out(now, report)
        self.inhibitor.update(self._firing.values())
        silences = self.silences.active(now)
        due = [g for g in self.groups.values() if g.due(now)]
        plans = [(g, self._plan(g, now, silences, report)) for g in due]
        with self.outbox.transaction() as con:
            changes: list[GroupChange] = []
            for group, plan in plans:
                if plan is not None:
                    self._enqueue(group, plan, now, report)
                # decided inside the transaction: a delivery thread giving up on a resolve
                # meanwhile either lands before (kept, re-sent) or after it (still pending)
                changes.append(self._settle(group, now, changed))
            changes.extend(GroupChange(k, self.groups[k], tuple(f)) for k, f in changed.items())
            groupstore.save(con, changes)

    def _settle(
        self, group: AggregationGroup, now: datetime, changed: dict[str, set[str]]
    ) -> GroupChange:
        """Restart a flushed group's timer and drop the resolved alerts nobody is owed.

        As in Alertmanager, a resolved alert stays in its group until its resolve was
        delivered: while the receiver may still believe it is firing (its resolve not queued
        yet, or given up on, which puts it back in the notification log) or a pending
        notification carries the resolve, the group's next flush sends the resolve again.
        A receiver that does not take resolves is owed nothing.
        """
        group.flushed_at(now)
        before = set(group.alerts)
        resolved = {fp for fp, a in group.alerts.items() if a.is_resolved}
        receiver = self.routing.receivers.get(group.route.receiver)
        if resolved and receiver is not None and receiver.send_resolved:
            owed = self.outbox.unsettled(group.key, receiver.name)
            resolved = set() if owed is None else resolved - owed
        group.drop_resolved(resolved)
        upsert = tuple(changed.pop(group.key, set()) & set(group.alerts))
        if not group.alerts:
            del self.groups[group.key]
            return GroupChange(group.key, None)
        return GroupChange(group.key, group, upsert, tuple(before - set(group.alerts)))

    def _restore(self) -> None:
        """(Re)load the groups from the database, as a freshly started process would."""
        with self.outbox.transaction() as con:
            groupstore.create_tables(con)
            self.groups = groupstore.load(con, self.routing)
        self._firing = {
            fp: a for g in self.groups.values() for fp, a in g.alerts.items() if not a.is_resolved
        }
        # A restarted process grants its restored alerts a full resolve_timeout, counted from
        # its first call, for the rules engine to report them again (downtime is not silence).
        self._resumed = bool(self.groups)

    @property
    def resolve_timeout(self) -> timedelta:
        """How long a firing alert may go unreported before it counts as resolved: the
        routing's ``resolve_timeout``, but at least :data:`REPORTS_MISSED` report intervals.

        The rules engine re-reports firing alerts once a tick; with ``--interval 10m`` and
        the default 5m, every firing alert timed out between two ticks, so each tick paged
        again and resolved 5 minutes later. Prometheus avoids it the same way: its alerts
        end (``endsAt``) 4 evaluation intervals after they were last sent."""
        return max(self.routing.resolve_timeout, REPORTS_MISSED * self.report_interval)

    def _time_out(self, now: datetime, report: FlushReport) -> dict[str, set[str]]:
        """Resolve alerts the rules engine stopped reporting; group key -> changed fingerprints."""
        changed: dict[str, set[str]] = {}
        timeout = self.resolve_timeout
        for key, group in self.groups.items():
            for a in group.time_out(now, timeout):
                if self._firing.pop(a.fingerprint, None) is not None:
                    report.timed_out.append(a.fingerprint)
                    log.info("%s not reported for %s: resolved", a.labels, timeout)
                changed.setdefault(key, set()).add(a.fingerprint)
        return changed

    def _plan(
        self, group: AggregationGroup, now: datetime, silences: list[Any], report: FlushReport
    ) -> _Planned | None:
        receiver = self.routing.receivers[group.route.receiver]
        entry = self.outbox.last_notified(group.key, receiver.name)
        told = entry.firing if entry else frozenset()
        firing: dict[str, Alert] = {}
        resolved: dict[str, Alert] = {}
        for fp, a in group.alerts.items():
            if a.is_resolved:
                if fp in told:  # only resolve what this receiver was told was firing
                    resolved[fp] = a
                continue
            why = (
                "silenced"
                if any(s.mutes(a.labels, now) for s in silences)
                else "inhibited"
                if self.inhibitor.mutes(a.labels, now)
                else ""
            )
            if why:
                report.muted[fp] = why
            else:
                firing[fp] = a
        if not firing and not resolved:
            return None  # all muted (or never announced): like Alertmanager, tell nobody
        told_now = {key for fp, a in firing.items() for key in _told_keys(fp, a)}
        reason = needs_update(
            entry, told_now, set(resolved), now, group.route, receiver.send_resolved
        )
        if not reason:
            return None
        if reason == "repeat_interval" and self.outbox.pending(group.key, receiver.name):
            # The last notification is still queued (its receiver down): it says the same.
            # Queued anew at every repeat_interval of an outage, the receiver got one copy
            # per interval back to back when it returned; Alertmanager, logging only what was
            # sent, repeats nothing while its send keeps failing.
            return None
        shown = list(firing.values()) + (list(resolved.values()) if receiver.send_resolved else [])
        batch = None
        if firing or receiver.send_resolved:
            batch = self._batch(group, receiver.name, shown, reason, now)
        return _Planned(batch, receiver.name, reason, tuple(sorted(told_now)), tuple(resolved))

    def _enqueue(
        self, group: AggregationGroup, plan: _Planned, now: datetime, report: FlushReport
    ) -> None:
        row = self.outbox.enqueue(
            plan.batch, now, group_key=group.key, receiver=plan.receiver,
            firing=plan.firing, resolved=plan.resolved,
        )  # fmt: skip
        if row is not None:
            report.queued.append((row, plan.receiver, plan.reason))
            log.info("queued notification %d to %s (%s): %s", row, plan.receiver, plan.reason,
                     group.key)  # fmt: skip

    def _batch(
        self,
        group: AggregationGroup,
        receiver: str,
        alerts: list[Alert],
        reason: str,
        now: datetime,
    ) -> NotificationBatch:
        context: dict[str, Any] = {}
        if getattr(self.notifiers.get(receiver), "wants_context", False):
            try:
                context = incident_context(alerts, now, self.store, self.references)
            except Exception as exc:  # plots are decoration; the alert must still go out
                context = {"plots": [], "notes": [f"report unavailable: {exc}"]}
            if self.context is not None:
                try:
                    context.update(self.context(group))
                except Exception as exc:
                    context.setdefault("notes", []).append(f"context hook failed: {exc}")
        return NotificationBatch(
            receiver=receiver,
            group_key=group.key,
            dedup_key=group.dedup_key,
            status="firing" if any(not a.is_resolved for a in alerts) else "resolved",
            reason=reason,
            group_labels=dict(group.labels),
            alerts=[a.to_dict() for a in sorted(alerts, key=_order)],
            created_at=now.isoformat(),
            context=context,
            dashboard_url=self.routing.dashboard_url,
        )

    def close(self) -> None:
        self.outbox.close()
        self.silences.close()


def _next_health(
    health: Mapping[str, ReceiverHealth], change: RoutingChange
) -> dict[str, ReceiverHealth]:
    """The receivers' health after a reload: an unchanged receiver keeps its own; a changed
    or added one counts on from its counts (none if new) and its reachability is unknown
    until an attempt with its new settings contacts it; a removed one is no longer
    reported."""
    out = {name: health.get(name) or ReceiverHealth() for name in change.kept}
    for name in (*change.rebuilt, *change.added):
        old = health.get(name)
        out[name] = ReceiverHealth(None, Counter(old.outcomes) if old else Counter())
    return out


def _rehomed(group: AggregationGroup, route: RouteSpec) -> AggregationGroup:
    """``group`` on ``route`` (its reloaded version), its running timer re-based on the new
    duration: a group that flushed at 12:00 with a 5m ``group_interval`` now set to 1m
    flushes at 12:01, not at 12:05."""
    old, new = group.route, route
    if group.flushed:
        shift = new.group_interval - old.group_interval
    else:
        shift = new.group_wait - old.group_wait
    return replace(group, route=route, next_flush_at=group.next_flush_at + shift)


def _told_keys(fp: str, alert: Alert) -> set[str]:
    """What the notification log records a receiver was told about ``alert``: its
    fingerprint, plus ``fp/feature`` for each feature of a per-feature incident.

    The rules engine merges a rule's per-feature alerts into one alert per (rule, model)
    whose fingerprint does not change as features join, so the log would see nothing new
    when a second and a third feature start drifting. With a key per feature, a feature
    joining is "new_alerts" (the receiver hears of it at the next flush, as it would of a
    new alert); one leaving changes nothing until the incident resolves.
    """
    return {fp, *(f"{fp}/{name}" for name in features_of(alert))}


def _material(prev: Alert | None, new: Alert) -> bool:
    """Whether ``new`` changes what a restarted dispatcher must know (membership or state)."""
    if prev is None:
        return True
    return (prev.state, prev.resolved_at, prev.fired_at, prev.active_at) != (
        new.state, new.resolved_at, new.fired_at, new.active_at,
    )  # fmt: skip


def _order(a: Alert) -> tuple[int, str, str]:
    sev = {"critical": 0, "warning": 1}.get(a.labels.get("severity", ""), 2)
    return (sev, a.name, a.labels.get("feature", ""))
