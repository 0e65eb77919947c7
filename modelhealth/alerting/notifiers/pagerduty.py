"""PagerDuty Events API v2: ``trigger`` while the group fires, ``resolve`` once it is clear.

The dedup_key is the group's stable key, so retries and post-crash duplicates land on the same
incident. The URL is configurable so tests and self-hosted receivers can stand in for PagerDuty.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelhealth.alerting.notifiers.base import NotificationBatch, Outcome, post_json

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
ROUTING_KEY_ENV = "MODELHEALTH_PAGERDUTY_ROUTING_KEY"
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
            "summary": summary[:1024],
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
        return event

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


def _detail(alert: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "labels": alert["labels"],
        "value": alert.get("value"),
        "since": alert.get("fired_at") or alert.get("active_at"),
        **{k: v for k, v in alert["annotations"].items() if k in ("description", "features")},
    }
