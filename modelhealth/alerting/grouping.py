"""Aggregation groups: alerts of one route sharing their group_by values, with their timers.

As in Alertmanager's dispatcher: a new group waits ``group_wait`` before its first
notification (so related alerts arrive together), then re-evaluates every ``group_interval``;
whether anything is actually sent is decided by :func:`needs_update` against the
notification log, which also applies ``repeat_interval``.

Each alert also remembers when the rules engine last reported it (``seen_at``): one not
reported for ``resolve_timeout`` is treated as resolved (Alertmanager's ``resolve_timeout``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from modelhealth.alerting.config import RouteSpec
from modelhealth.alerting.outbox import LogEntry
from modelhealth.types import Alert, AlertState


@dataclass
class AggregationGroup:
    """The latest version of each alert in one (route, group labels) group."""

    key: str
    route: RouteSpec
    labels: Mapping[str, str]
    next_flush_at: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)
    flushed: bool = False
    seen_at: dict[str, datetime] = field(default_factory=dict)  # fingerprint -> last reported

    @property
    def dedup_key(self) -> str:
        """Stable across retries, restarts and processes: a hash of the group key."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:32]

    def add(self, alert: Alert, now: datetime) -> None:
        """Insert or update an alert; an old alert in a fresh group flushes at once.

        The "old alert" rule is what lets a restarted dispatcher catch up immediately: the
        notification log then decides whether the receiver already knows.
        """
        self.alerts[alert.fingerprint] = alert
        self.seen_at[alert.fingerprint] = now
        started = alert.fired_at or alert.active_at
        if not self.flushed and started is not None and started + self.route.group_wait <= now:
            self.next_flush_at = min(self.next_flush_at, now)

    def due(self, now: datetime) -> bool:
        return now >= self.next_flush_at

    def flushed_at(self, now: datetime) -> None:
        self.flushed = True
        self.next_flush_at = now + self.route.group_interval

    def drop_resolved(self, fingerprints: set[str]) -> None:
        """Forget resolved alerts once they were handled (unless they fired again since)."""
        for fp in fingerprints:
            a = self.alerts.get(fp)
            if a is not None and a.is_resolved:
                del self.alerts[fp]
                self.seen_at.pop(fp, None)

    def time_out(self, now: datetime, resolve_timeout: timedelta) -> list[Alert]:
        """Resolve firing alerts not reported for ``resolve_timeout``; return the new versions.

        The resolve time is when the timeout elapsed (last report + timeout), as Alertmanager
        sets ``EndsAt``, not when this check happened to run.
        """
        out = []
        for fp, a in list(self.alerts.items()):
            seen = self.seen_at.get(fp, now)
            if not a.is_resolved and now - seen >= resolve_timeout:
                gone = replace(a, state=AlertState.INACTIVE, resolved_at=seen + resolve_timeout)
                self.alerts[fp] = gone
                out.append(gone)
        return out


def needs_update(
    entry: LogEntry | None,
    firing: set[str],
    resolved: set[str],
    now: datetime,
    route: RouteSpec,
    send_resolved: bool,
) -> str:
    """Why this receiver must be told again, or "" (Alertmanager's ``DedupStage.needsUpdate``).

    >>> from datetime import UTC; t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> needs_update(None, {"a"}, set(), t, RouteSpec(id="r", receiver="x"), True)
    'new_alerts'
    """
    if entry is None:
        return "new_alerts" if firing else ""
    if not firing <= entry.firing:
        return "new_alerts"
    if not firing:
        # Everything resolved: close the incident if the receiver was ever told it was open.
        return "resolved" if entry.firing else ""
    if send_resolved and not resolved <= entry.resolved:
        return "resolved"
    if now - entry.notified_at >= route.repeat_interval:
        return "repeat_interval"
    return ""
