"""PagerDuty Events API v2: ``trigger`` while the group fires, ``resolve`` once it is clear.

The dedup_key is the group's stable key, so retries and post-crash duplicates land on the same
incident. The URL is configurable so tests and self-hosted receivers can stand in for PagerDuty.

Events v2 refuses an event over 512 KB with a 400, which is final: the page would be lost (and
the group's next flush would be refused the same way). So an event is fitted to the limit
before it is sent: the first firing alerts stay whole in ``custom_details`` and the rest are
counted with a link to the dashboard, where every one of them is shown.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelhealth.alerting.notifiers.base import (
    NotificationBatch,
    Outcome,
    encode_json,
    post_json,
)
from modelhealth.alerting.notifiers.limits import ellipsize

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
ROUTING_KEY_ENV = "MODELHEALTH_PAGERDUTY_ROUTING_KEY"
MAX_EVENT_BYTES = 512_000
"""Events v2's 512 KB event limit, read as 512,000 bytes so it holds whichever KB is meant."""
MAX_SUMMARY = 1024
"""Events v2 cuts ``payload.summary`` here; cutting it ourselves shows that it was cut."""
_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


@dataclass(frozen=True, kw_only=True)
class PagerDutyConfig:
    url: str = EVENTS_URL
    routing_key_env: str = ROUTING_KEY_ENV
    timeout: float = 10.0
    source: str = "modelhealth"


class PagerDutyNotifier:
    """Sends one Events v2 event per batch; the routing key is read from the environment.

    >>> PagerDutyNotifier(PagerDutyConfig(url="http://127.0.0.1:9/"), env={}).config.timeout
    10.0
    """

    def __init__(self, config: PagerDutyConfig, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._routing_key = (env if env is not None else os.environ).get(config.routing_key_env, "")

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> PagerDutyNotifier:
        keys = {"url", "routing_key_env", "timeout", "source"}
        return cls(PagerDutyConfig(**{k: v for k, v in options.items() if k in keys}), env)

    def payload(self, batch: NotificationBatch) -> dict[str, Any]:
        action = "trigger" if batch.status == "firing" else "resolve"
        event: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": action,
            "dedup_key": batch.dedup_key,
            "client": "modelhealth",
        }
        if batch.incident_url:
            event["client_url"] = batch.incident_url
        if action == "resolve":
            return event  # Events v2 ignores the payload of resolve events
        labels = batch.common_labels
        ann = batch.common_annotations
        summary = ann.get("summary") or batch.title
        event["payload"] = {
            "summary": ellipsize(summary, MAX_SUMMARY),
            "source": labels.get("model", self.config.source),
            "severity": _SEVERITY.get(batch.severity, "error"),
            "component": labels.get("model", ""),
            "group": labels.get("team", ""),
            "class": labels.get("alertname", ""),
            "custom_details": {
                "firing": [_detail(a) for a in batch.firing],
                "num_firing": len(batch.firing),
                "num_resolved": len(batch.resolved),
                "group_labels": dict(batch.group_labels),
            },
        }
        links = [
            {"href": href, "text": text}
            for key, text in (("dashboard_url", "Dashboard"), ("runbook_url", "Runbook"))
            if (href := ann.get(key))
        ]
        if batch.incident_url and not ann.get("dashboard_url"):
            links.insert(0, {"href": batch.incident_url, "text": "Incident in modelhealth"})
        if links:
            event["links"] = links
        return fit(event, batch.incident_url or ann.get("dashboard_url", ""))

    def missing(self) -> list[str]:
        """Environment variables this receiver needs and does not have (checked at start)."""
        return [] if self._routing_key else [self.config.routing_key_env]

    def notify(self, batch: NotificationBatch) -> Outcome:
        if not self._routing_key:
            return Outcome(False, False, f"no routing key: set ${self.config.routing_key_env}")
        return post_json(
            self.config.url,
            self.payload(batch),
            timeout=self.config.timeout,
            secrets=(self._routing_key,),
        )


_COMPARED = ("threshold", "expected", "baseline")
"""Annotations that say what an alert's value is measured against, shown beside it."""


def _detail(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One firing alert as the pager shows it: its value as the rule wrote it (``351.588``,
    not the float's 17 digits), beside the threshold, expectation or baseline it broke.

    A value that is not a finite number is ``null``: ``json.dumps`` wrote ``NaN``, which is
    not JSON, so a strict receiver refused the whole event (a 400, final: the page lost).
    """
    ann = alert["annotations"]
    return {
        "labels": alert["labels"],
        "value": _number(ann.get("value"), alert.get("value")),
        **{k: _number(ann[k], ann[k]) for k in _COMPARED if ann.get(k)},
        "since": alert.get("fired_at") or alert.get("active_at"),
        **{k: v for k, v in ann.items() if k in ("description", "features")},
    }


def _number(text: Any, fallback: Any) -> Any:
    """``text`` (an annotation like ``"351.588"``) as a JSON number, else ``fallback`` cut to
    6 significant digits; ``None`` for NaN or infinity, a string that is not a number as is
    (a baseline may be ``reference``)."""
    for candidate in (text, fallback):
        if candidate is None or isinstance(candidate, bool):
            continue
        try:
            x = float(candidate)
        except (TypeError, ValueError):
            if candidate is text and isinstance(text, str) and text:
                return text
            continue
        if not math.isfinite(x):
            return None
        return int(x) if x.is_integer() and abs(x) < 2**53 else float(f"{x:.6g}")
    return None


def fit(event: dict[str, Any], see: str, limit: int = MAX_EVENT_BYTES) -> dict[str, Any]:
    """``event`` with its JSON body at most ``limit`` bytes (as :func:`post_json` encodes it).

    Keeps as many of the first firing alerts whole as fit and replaces the rest by
    ``not_shown`` ("N more alerts not shown, see <see>"). If not even the counts fit (huge
    label values), every text is cut shorter until they do: a short page beats a lost one.
    """
    if _size(event) <= limit:
        return event
    alerts = list(event["payload"]["custom_details"]["firing"])
    if _size(_first(event, alerts, 0, see)) > limit:
        return _clipped(_first(event, alerts, 0, see), limit)
    lo, hi = 0, len(alerts) - 1  # the most alerts that fit: _first(lo) fits, all of them not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if _size(_first(event, alerts, mid, see)) <= limit else (lo, mid - 1)
    return _first(event, alerts, lo, see)


def _first(event: dict[str, Any], alerts: list[Any], k: int, see: str) -> dict[str, Any]:
    """``event`` showing only the first ``k`` of ``alerts``, the others counted."""
    rest = len(alerts) - k
    note = f"{rest} more alert{'s' if rest != 1 else ''} not shown"
    note += f", see {see}" if see else ""
    details = {**event["payload"]["custom_details"], "firing": alerts[:k], "not_shown": note}
    return {**event, "payload": {**event["payload"], "custom_details": details}}


def _clipped(event: dict[str, Any], limit: int) -> dict[str, Any]:
    """Last resort: every text of the payload and links cut to ever fewer characters, and
    at the end the details reduced to their counts."""
    keep = {k: event[k] for k in ("routing_key", "event_action", "dedup_key", "client")}
    for n in (1024, 256, 64, 16):
        cut = {**event, **_clip({k: v for k, v in event.items() if k not in keep}, n), **keep}
        if _size(cut) <= limit:
            return cut
    details = cut["payload"]["custom_details"]
    counts = {k: details[k] for k in ("num_firing", "num_resolved", "not_shown")}
    return {**cut, "payload": {**cut["payload"], "custom_details": counts}}


def _clip(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return ellipsize(value, n)
    if isinstance(value, dict):
        return {k: _clip(v, n) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip(v, n) for v in value]
    return value


def _size(event: Mapping[str, Any]) -> int:
    return len(encode_json(event))
