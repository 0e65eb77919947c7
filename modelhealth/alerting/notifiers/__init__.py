"""Receivers by kind; ``build_notifiers`` turns a routing config's receivers into notifiers."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from modelhealth.alerting.config import RoutingConfig
from modelhealth.alerting.notifiers.base import NotificationBatch, Notifier, Outcome
from modelhealth.alerting.notifiers.email import EmailNotifier
from modelhealth.alerting.notifiers.pagerduty import PagerDutyNotifier
from modelhealth.alerting.notifiers.slack import SlackNotifier
from modelhealth.alerting.notifiers.webhook import WebhookNotifier

NOTIFIERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, str] | None], Notifier]] = {
    "email": EmailNotifier.from_options,
    "pagerduty": PagerDutyNotifier.from_options,
    "webhook": WebhookNotifier.from_options,
    "slack": SlackNotifier.from_options,
}

__all__ = ["NOTIFIERS", "NotificationBatch", "Notifier", "Outcome", "build_notifiers"]


def build_notifiers(
    config: RoutingConfig, env: Mapping[str, str] | None = None
) -> dict[str, Notifier]:
    """One notifier per declared receiver, configured from its options and the environment."""
    env = env if env is not None else os.environ
    return {name: NOTIFIERS[r.kind](r.options, env) for name, r in config.receivers.items()}
