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
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from modelhealth.alerting import groupstore
from modelhealth.alerting.config import RoutingConfig
from modelhealth.alerting.grouping import AggregationGroup, needs_update
from modelhealth.alerting.groupstore import GroupChange
from modelhealth.alerting.inhibition import Inhibitor
from modelhealth.alerting.notifiers.base import NotificationBatch, Notifier
from modelhealth.alerting.outbox import DeliveryReport, Outbox
from modelhealth.alerting.report import features_of, incident_context
from modelhealth.alerting.routing import group_key, group_labels, match_routes
from modelhealth.alerting.silences import SilenceStore
from modelhealth.clock import Clock, SystemClock
from modelhealth.ingestion.reference import ModelReference
from modelhealth.store.backend import QueryBackend
from modelhealth.types import Alert, AlertState

log = logging.getLogger(__name__)

ContextFn = Callable[[AggregationGroup], Mapping[str, Any]]


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
    ) -> None:
        self.routing = routing
        self.notifiers = dict(notifiers)
        self.clock = clock or SystemClock()
        self.outbox = Outbox(outbox, routing.delivery, rng)
        # Silences live in the same file by default, so `modelhealth silence --db` reaches them.
        self.silences = silences if silences is not None else SilenceStore(outbox, self.clock)
        self.inhibitor = Inhibitor(routing.inhibit_rules)
        self.store = store
        self.references = references or {}
        self.context = context
        self.groups: dict[str, AggregationGroup] = {}
        self._firing: dict[str, Alert] = {}
        self._resumed = False
        self._lock = threading.RLock()
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
        return self.outbox.deliver_due(self.notifiers, now)

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

    def _time_out(self, now: datetime, report: FlushReport) -> dict[str, set[str]]:
        """Resolve alerts the rules engine stopped reporting; group key -> changed fingerprints."""
        changed: dict[str, set[str]] = {}
        for key, group in self.groups.items():
            for a in group.time_out(now, self.routing.resolve_timeout):
                if self._firing.pop(a.fingerprint, None) is not None:
                    report.timed_out.append(a.fingerprint)
                    log.info(
                        "%s not reported for %s: resolved", a.labels, self.routing.resolve_timeout
                    )
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
