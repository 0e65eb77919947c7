"""Slack mrkdwn links and text, posted to a real HTTP receiver on loopback: every link stays
one link with its whole URL, and label values cannot add markup."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from modelhealth.alerting.notifiers.base import NotificationBatch
from modelhealth.alerting.notifiers.slack import SlackConfig, SlackNotifier

from .conftest import Receiver

AT = "2026-03-01T12:00:00+00:00"
LINK = re.compile(r"<([^<>|\s]*)\|([^<>]*)>")
"""A mrkdwn link as Slack reads it: the URL ends at the first ``|`` and holds no whitespace,
the link ends at ``>``."""


def _batch(
    annotations: dict[str, str], model: str = "fraud", dashboard: str = ""
) -> NotificationBatch:
    alert: dict[str, Any] = {
        "labels": {"alertname": "p99", "model": model, "severity": "critical"},
        "annotations": {"summary": f"p99 of {model} is high", **annotations},
        "fired_at": AT,
        "active_at": AT,
        "resolved_at": None,
        "fingerprint": "f" * 16,
        "value": 1.0,
    }
    return NotificationBatch(
        receiver="chat", group_key="k", dedup_key="d" * 32, status="firing", reason="new_alerts",
        group_labels={"model": model}, alerts=[alert], created_at=AT, dashboard_url=dashboard,
    )  # fmt: skip


def _post(receiver: Receiver, batch: NotificationBatch) -> str:
    """The attachment text Slack would render, as the receiver got it."""
    outcome = SlackNotifier(SlackConfig(url=receiver.url, timeout=5)).notify(batch)
    assert outcome.ok, outcome.reason
    (body,) = receiver.bodies
    attachments: list[dict[str, str]] = body["attachments"]  # type: ignore[assignment]
    return attachments[0]["text"]


def _links(text: str) -> list[tuple[str, str]]:
    return [(unquote(url), label) for url, label in LINK.findall(text)]


def test_a_pipe_or_angle_bracket_in_a_url_keeps_the_whole_link(receiver: Receiver) -> None:
    """``|``, ``<``, ``>`` and spaces in a URL are percent-encoded: Slack shows one link
    to the whole URL with its own label, and no stray text after it."""
    runbook = "https://wiki.example/run book?q=a|b&x=<1>"
    dash = "https://dash.example/d?panel=p>q"
    text = _post(receiver, _batch({"runbook_url": runbook, "dashboard_url": dash}))
    assert _links(text) == [(dash, "Dashboard"), (runbook, "Runbook")]
    last = text.splitlines()[-1]
    assert LINK.sub("", last) == " · "  # nothing of the URLs leaks out as text
    assert "<https://wiki.example/run%20book?q=a%7Cb&x=%3C1%3E|Runbook>" in text


def test_a_line_break_in_a_url_does_not_break_the_link(receiver: Receiver) -> None:
    """A URL holding a line break or tab is still one link (they are percent-encoded)."""
    text = _post(receiver, _batch({"runbook_url": "https://wiki.example/a\nb\tc"}))
    assert _links(text) == [("https://wiki.example/a\nb\tc", "Runbook")]


def test_the_incident_link_from_the_dashboard_url_is_one_link(receiver: Receiver) -> None:
    """The deep link built from ``dashboard_url`` (a model label with ``|`` and ``>``) is one
    link whose ``&`` separated query stays as Slack accepts it."""
    text = _post(receiver, _batch({}, model="a|b>c", dashboard="http://dash.example"))
    ((url, label),) = _links(text)
    assert label == "Dashboard" and url.startswith("http://dash.example/model?model=a")
    assert "&from=" in url and "&to=" in url


def test_label_values_cannot_add_markup(receiver: Receiver) -> None:
    """``&``, ``<`` and ``>`` in label values are sent as entities: no mention, no link."""
    text = _post(receiver, _batch({"summary": "a<b & <!channel> <https://evil.example|docs>"}))
    assert "a&lt;b &amp; &lt;!channel&gt; &lt;https://evil.example|docs&gt;" in text
    assert _links(text) == []
