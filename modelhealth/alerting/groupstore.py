"""Aggregation groups persisted next to the outbox, so a restarted dispatcher resumes exactly.

Alertmanager keeps its groups in memory and relies on Prometheus re-sending every alert. Our
rules engine reports a resolve once; if the process died after that report but before the
group's next flush, an in-memory group would forget the resolve. So every group (its timers)
and every alert in it (its latest version and when the rules engine last reported it) is a row
in the same SQLite file as the outbox, written through the outbox's connection: a flush commits
the outbox rows, the notification log and the new group state in one transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelhealth.alerting.config import RoutingConfig
from modelhealth.alerting.grouping import AggregationGroup
from modelhealth.alerting.routing import group_route
from modelhealth.alerting.sqlite import from_ms, to_ms
from modelhealth.types import Alert, AlertState

log = logging.getLogger(__name__)

_DDL = (
    """CREATE TABLE IF NOT EXISTS alert_groups (
        group_key TEXT PRIMARY KEY, route_id TEXT NOT NULL, receiver TEXT NOT NULL,
        labels TEXT NOT NULL, next_flush_at INTEGER NOT NULL, flushed INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS group_alerts (
        group_key TEXT NOT NULL, fingerprint TEXT NOT NULL, alert TEXT NOT NULL,
        seen_at INTEGER NOT NULL, PRIMARY KEY (group_key, fingerprint))""",
)


@dataclass(frozen=True)
class GroupChange:
    """What to write for one group: its row (None deletes it) and alert upserts/deletes."""

    key: str
    group: AggregationGroup | None
    upsert: tuple[str, ...] = ()  # fingerprints whose alert/seen_at changed
    delete: tuple[str, ...] = ()


def create_tables(con: sqlite3.Connection) -> None:
    for ddl in _DDL:
        con.execute(ddl)


def save(con: sqlite3.Connection, changes: Iterable[GroupChange]) -> None:
    """Apply ``changes`` on ``con`` (the caller owns the transaction)."""
    group_rows, gone, alert_rows, dropped = [], [], [], []
    for c in changes:
        g = c.group
        if g is None:
            gone.append((c.key,))
            continue
        group_rows.append(
            (
                g.key,
                g.route.identity,
                g.route.receiver,
                json.dumps(dict(g.labels), sort_keys=True),
                to_ms(g.next_flush_at),
                int(g.flushed),
            )
        )
        for fp in c.upsert:
            a = g.alerts.get(fp)
            if a is not None:
                alert_rows.append((g.key, fp, json.dumps(a.to_dict()), to_ms(g.seen_at[fp])))
        dropped.extend((g.key, fp) for fp in c.delete)
    con.executemany("DELETE FROM group_alerts WHERE group_key = ?", gone)
    con.executemany("DELETE FROM alert_groups WHERE group_key = ?", gone)
    con.executemany("INSERT OR REPLACE INTO alert_groups VALUES (?, ?, ?, ?, ?, ?)", group_rows)
    con.executemany("INSERT OR REPLACE INTO group_alerts VALUES (?, ?, ?, ?)", alert_rows)
    con.executemany("DELETE FROM group_alerts WHERE group_key = ? AND fingerprint = ?", dropped)


def load(con: sqlite3.Connection, routing: RoutingConfig) -> dict[str, AggregationGroup]:
    """Rebuild the groups a previous process left, resolving route ids against ``routing``.

    A route that no longer exists keeps its group under the root's timers (its alerts may still
    owe a resolve); a group whose receiver was removed from the config is dropped with a warning.
    """
    groups: dict[str, AggregationGroup] = {}
    # a group saved by an earlier version names its route by the bare matcher path
    # (``routing.find_route`` matches those by key and receiver)
    for key, route_id, receiver, labels, next_at, flushed in con.execute(
        "SELECT group_key, route_id, receiver, labels, next_flush_at, flushed FROM alert_groups"
    ):
        route = group_route(routing, route_id, receiver, key)  # as a reload re-homes groups
        if route is None:
            log.warning("dropping group %s: receiver %r is no longer configured", key, receiver)
            continue
        groups[key] = AggregationGroup(
            key=key,
            route=route,
            labels=json.loads(labels),
            next_flush_at=from_ms(next_at),
            flushed=bool(flushed),
        )
    for key, fp, alert, seen_at in con.execute(
        "SELECT group_key, fingerprint, alert, seen_at FROM group_alerts ORDER BY group_key"
    ):
        g = groups.get(key)
        if g is not None:
            g.alerts[fp] = alert_from_dict(json.loads(alert))
            g.seen_at[fp] = from_ms(seen_at)
    return {k: g for k, g in groups.items() if g.alerts}


def alert_from_dict(d: Mapping[str, Any]) -> Alert:
    """Inverse of :meth:`Alert.to_dict` (the fingerprint is recomputed from the labels)."""

    def ts(name: str) -> datetime | None:
        v = d.get(name)
        return datetime.fromisoformat(v) if v else None

    return Alert(
        labels=dict(d["labels"]),
        annotations=dict(d.get("annotations", {})),
        state=AlertState[str(d["state"]).upper()],
        value=float(d["value"]),
        active_at=ts("active_at"),
        fired_at=ts("fired_at"),
        resolved_at=ts("resolved_at"),
        last_sent_at=ts("last_sent_at"),
    )
