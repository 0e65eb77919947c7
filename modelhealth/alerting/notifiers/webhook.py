"""Generic JSON webhook in Alertmanager's payload shape (version 4), so existing receivers
written for Alertmanager can consume modelhealth notifications unchanged."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelhealth.alerting.notifiers.base import NotificationBatch, Outcome, post_json

ZERO_TIME = "0001-01-01T00:00:00Z"
"""``endsAt`` of a firing alert, as Alertmanager's webhook writes it."""


@dataclass(frozen=True, kw_only=True)
class WebhookConfig:
    url: str = ""
    url_env: str = ""
    bearer_token_env: str = ""
    timeout: float = 10.0


class WebhookNotifier:
    """POSTs the batch as JSON; URL and bearer token may come from the environment.

    >>> WebhookNotifier(WebhookConfig(url="http://127.0.0.1:9/hook")).url
    'http://127.0.0.1:9/hook'
    """

    def __init__(self, config: WebhookConfig, env: Mapping[str, str] | None = None) -> None:
        env = env if env is not None else os.environ
        self.config = config
        self.url = config.url or env.get(config.url_env, "")
        self._token = env.get(config.bearer_token_env, "") if config.bearer_token_env else ""

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> WebhookNotifier:
        keys = {"url", "url_env", "bearer_token_env", "timeout"}
        return cls(WebhookConfig(**{k: v for k, v in options.items() if k in keys}), env)

    @staticmethod
    def payload(batch: NotificationBatch) -> dict[str, Any]:
        return {
            "version": "4",
            "groupKey": batch.group_key,
            "dedupKey": batch.dedup_key,
            "status": batch.status,
            "reason": batch.reason,
            "receiver": batch.receiver,
            "groupLabels": dict(batch.group_labels),
            "commonLabels": batch.common_labels,
            "commonAnnotations": batch.common_annotations,
            "externalURL": batch.dashboard_url,
            "truncatedAlerts": 0,
            "alerts": [
                {
                    "status": "firing" if a.get("resolved_at") is None else "resolved",
                    "labels": a["labels"],
                    "annotations": a["annotations"],
                    "startsAt": a.get("fired_at") or a.get("active_at"),
                    # a firing alert has no end: Alertmanager sends Go's zero time, never
                    # null, which receivers with a typed timestamp field could not parse
                    "endsAt": a.get("resolved_at") or ZERO_TIME,
                    "fingerprint": a.get("fingerprint"),
                    "value": a.get("value"),
                    "generatorURL": batch.link_for([a]),
                }
                for a in batch.alerts
            ],
        }

    def missing(self) -> list[str]:
        """Environment variables this receiver needs and does not have (checked at start)."""
        return [] if self.url else [self.config.url_env or "url"]

    def notify(self, batch: NotificationBatch) -> Outcome:
        if not self.url:
            return Outcome(False, False, f"no webhook URL: set ${self.config.url_env}")
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        secrets = [self._token] if self._token else []
        if self.config.url_env:  # a URL kept in the environment is itself a secret
            secrets.append(self.url)
        return post_json(
            self.url, self.payload(batch), timeout=self.config.timeout, headers=headers,
            secrets=secrets,
        )  # fmt: skip
