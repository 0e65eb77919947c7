"""What every notifier shares: the batch it is handed, the Outcome it returns, the HTTP
status -> retryable table, and secret redaction.

A notifier is one method (``notify``) and never retries, sleeps or dedups by itself: the
outbox owns retry and backoff, the dispatcher owns grouping, muting and dedup (as in
Alertmanager's stages), so an integration stays a small file.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from modelhealth.dashboard.links import incident_link

USER_AGENT = "modelhealth-alerting/0.1"


@dataclass(frozen=True, kw_only=True)
class NotificationBatch:
    """One notification for one aggregation group and receiver, as stored in the outbox.

    ``alerts`` are :meth:`modelhealth.types.Alert.to_dict` records; ``dedup_key`` is stable for
    the group, so a retried or duplicated send is harmless at the pager.
    """

    receiver: str
    group_key: str
    dedup_key: str
    status: str  # "firing" or "resolved"
    reason: str  # why it was sent: new_alerts | resolved | repeat_interval
    group_labels: Mapping[str, str]
    alerts: list[dict[str, Any]]
    created_at: str
    context: Mapping[str, Any] = field(default_factory=dict)
    dashboard_url: str = ""
    id: int = 0

    @property
    def incident_url(self) -> str:
        """``dashboard_url`` deep-linked to this group's model and time range (see
        :mod:`modelhealth.dashboard.links`); empty without a ``dashboard_url``."""
        return self.link_for(self.alerts)

    def link_for(self, alerts: list[dict[str, Any]]) -> str:
        """The dashboard deep link for some of this batch's alerts."""
        if not self.dashboard_url:
            return ""
        return incident_link(self.dashboard_url, alerts, datetime.fromisoformat(self.created_at))

    @property
    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("resolved_at") is None]

    @property
    def resolved(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("resolved_at") is not None]

    @property
    def common_labels(self) -> dict[str, str]:
        return _common(a["labels"] for a in self.alerts)

    @property
    def common_annotations(self) -> dict[str, str]:
        return _common(a["annotations"] for a in self.alerts)

    @property
    def severity(self) -> str:
        order = {"critical": 0, "warning": 1, "info": 2}
        sev = [a["labels"].get("severity", "info") for a in self.firing or self.alerts]
        return min(sev, key=lambda s: order.get(s, 3)) if sev else "info"

    @property
    def title(self) -> str:
        """``[FIRING:2] drift_psi fraud (critical)`` — the subject/summary line everywhere."""
        labels = self.common_labels
        what = " ".join(v for k in ("alertname", "model") if (v := labels.get(k, "")))
        what = what or " ".join(self.group_labels.values()) or "alerts"
        count = len(self.firing) if self.status == "firing" else len(self.resolved)
        return f"[{self.status.upper()}:{count}] {what} ({self.severity})"

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str, id: int = 0) -> NotificationBatch:
        raw = json.loads(text)
        raw["id"] = id
        return cls(**raw)


@dataclass(frozen=True)
class Outcome:
    """Result of one delivery attempt; ``retryable`` tells the outbox whether to try again."""

    ok: bool
    retryable: bool = False
    reason: str = ""

    @classmethod
    def success(cls, reason: str = "delivered") -> Outcome:
        return cls(True, False, reason)


class Notifier(Protocol):
    """Delivers one batch; must not raise for delivery failures (return an Outcome)."""

    def notify(self, batch: NotificationBatch) -> Outcome: ...


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    it = iter(maps)
    first = next(it, None)
    if first is None:
        return {}
    common = dict(first)
    for m in it:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


def retryable_status(status: int) -> bool:
    """Alertmanager's table: 5xx and 429 are worth retrying; other 4xx never will succeed."""
    return status >= 500 or status in (408, 429)


def outcome_for_status(status: int, body: str = "", secrets: Iterable[str] = ()) -> Outcome:
    if 200 <= status < 300:
        return Outcome.success(f"HTTP {status}")
    detail = redact(body[:200].strip(), secrets)
    reason = f"HTTP {status}" + (f": {detail}" if detail else "")
    return Outcome(False, retryable_status(status), reason)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (and its URL-quoted form) in ``text`` by ``<redacted>``."""
    from urllib.parse import quote

    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "<redacted>").replace(quote(s, safe=""), "<redacted>")
    return text


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> Outcome:
    """POST JSON and map the answer (or the failure) to an Outcome with secrets redacted."""
    secrets = tuple(secrets)
    body = json.dumps(payload, default=str).encode()
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", USER_AGENT)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return outcome_for_status(resp.status, "", secrets)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace") if exc.fp else ""
        return outcome_for_status(exc.code, text, secrets)
    except TimeoutError as exc:
        return Outcome(False, True, redact(f"timeout after {timeout}s: {exc}", secrets))
    except (urllib.error.URLError, OSError) as exc:
        return Outcome(False, True, redact(f"connection failed: {exc}", secrets))
    except ValueError as exc:  # malformed URL: retrying will not fix configuration
        return Outcome(False, False, redact(f"bad URL: {exc}", secrets))
