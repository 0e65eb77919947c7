"""The shared notifier kit: retry table by HTTP status, timeouts retry, secrets never leak."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelhealth.alerting.mailbox import free_port
from modelhealth.alerting.notifiers.base import NotificationBatch, Notifier, redact
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.notifiers.slack import SlackConfig, SlackNotifier
from modelhealth.alerting.notifiers.webhook import WebhookConfig, WebhookNotifier

from .conftest import Receiver, firing

SECRET = "s3cr3t-T0KEN-value"
ANSWERED_S = 10.0
"""Client timeout where the receiver answers: a short one timed out on a busy box, and a
status test then saw a timeout instead of the status."""
STALLED_S = 0.3
"""Client timeout for the timeout test, far below the receiver's stall."""


def pager(url: str, timeout: float = ANSWERED_S) -> Notifier:
    return PagerDutyNotifier(
        PagerDutyConfig(url=url, timeout=timeout),
        env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": SECRET},
    )


def webhook(url: str, timeout: float = ANSWERED_S) -> Notifier:
    return WebhookNotifier(
        WebhookConfig(url=url, bearer_token_env="TOK", timeout=timeout), env={"TOK": SECRET}
    )


def slack(url: str, timeout: float = ANSWERED_S) -> Notifier:
    return SlackNotifier(
        SlackConfig(url_env="HOOK", timeout=timeout), env={"HOOK": url + "/" + SECRET}
    )


KINDS: dict[str, Callable[..., Notifier]] = {
    "pagerduty": pager,
    "webhook": webhook,
    "slack": slack,
}


def batch(status: str = "firing") -> NotificationBatch:
    a = firing(severity="critical", feature="amount")
    return NotificationBatch(
        receiver="r",
        group_key="root/r/[]",
        dedup_key="d" * 32,
        status=status,
        reason="new_alerts",
        group_labels={"model": "fraud"},
        alerts=[a.to_dict()],
        created_at="2026-01-01T00:00:00+00:00",
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, False),
        (202, True, False),
        (400, False, False),
        (403, False, False),
        (404, False, False),
        (408, False, True),
        (429, False, True),
        (500, False, True),
        (502, False, True),
        (503, False, True),
    ],
)
def test_retry_table(receiver: Receiver, kind: str, status: int, ok: bool, retryable: bool) -> None:
    receiver.default = status
    out = KINDS[kind](receiver.url).notify(batch())
    assert (out.ok, out.retryable) == (ok, retryable), out.reason
    assert SECRET not in out.reason


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_timeout_and_refused_are_retryable_and_redacted(receiver: Receiver, kind: str) -> None:
    receiver.script = [("sleep", STALLED_S + 3)]
    out = KINDS[kind](receiver.url, timeout=STALLED_S).notify(batch())
    assert not out.ok and out.retryable and "timeout" in out.reason.lower()
    dead = f"http://127.0.0.1:{free_port()}/x"
    out = KINDS[kind](dead).notify(batch())
    assert not out.ok and out.retryable and SECRET not in out.reason


def test_payload_shapes(receiver: Receiver) -> None:
    for make in KINDS.values():
        assert make(receiver.url).notify(batch()).ok
    pd_body, hook_body, slack_body = receiver.bodies
    assert pd_body["event_action"] == "trigger" and pd_body["dedup_key"] == "d" * 32
    assert set(pd_body["payload"]) >= {"summary", "source", "severity"}
    assert hook_body["version"] == "4" and hook_body["alerts"][0]["labels"]["feature"] == "amount"
    assert receiver.headers[1]["Authorization"] == f"Bearer {SECRET}"
    assert slack_body["text"].startswith("[FIRING:1]")
    assert pager(receiver.url).notify(batch("resolved")).ok
    assert receiver.bodies[-1] == {
        "routing_key": SECRET,
        "event_action": "resolve",
        "dedup_key": "d" * 32,
        "client": "modelhealth",
    }


def test_missing_secret_is_a_clear_non_retryable_error() -> None:
    out = PagerDutyNotifier(PagerDutyConfig(url="http://127.0.0.1:9/"), env={}).notify(batch())
    assert not out.ok and not out.retryable and "MODELHEALTH_PAGERDUTY_ROUTING_KEY" in out.reason


def test_redact_handles_url_quoting() -> None:
    assert redact("key=ab%2Fcd and ab/cd", ["ab/cd"]) == "key=<redacted> and <redacted>"
    assert redact("token s3cr3t!x here", ["s3cr3t!x", ""]) == "token <redacted> here"
