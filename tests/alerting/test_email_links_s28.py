"""The email's link line has no dangling separator when there is no dashboard link.

With a runbook but no dashboard link (no ``global: dashboard_url``, no ``dashboard_url``
annotation) the HTML read "· Runbook", a separator before nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from modelhealth.alerting.notifiers.base import NotificationBatch
from modelhealth.alerting.notifiers.email import EmailConfig, EmailNotifier, SmtpSettings

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _html(annotations: dict[str, str], incident_url: str = "") -> str:
    alert: dict[str, Any] = {
        "labels": {"alertname": "p99", "model": "fraud", "severity": "critical"},
        "annotations": {"summary": "p99 of fraud is high", **annotations},
        "fired_at": AT,
        "active_at": AT,
        "resolved_at": None,
        "fingerprint": "f" * 16,
        "value": 1.0,
    }
    batch = NotificationBatch(
        receiver="mail", group_key="k", dedup_key="d" * 32, status="firing", reason="new_alerts",
        group_labels={"model": "fraud"}, alerts=[alert], created_at=AT,
        dashboard_url=incident_url,
    )  # fmt: skip
    notifier = EmailNotifier(EmailConfig(to=("oncall@example.com",)), SmtpSettings())
    msg = notifier.render(batch)
    html = msg.get_body(("html",))
    assert html is not None
    return str(html.get_content())


def _link_line(html: str) -> str:
    (line,) = re.findall(r'<p style="font-size: 14px;">(.*?)</p>', html, re.S)
    return " ".join(line.split())


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"runbook_url": "https://rb.example/p99"}, '<a href="https://rb.example/p99">Runbook</a>'),
        (
            {"runbook_url": "https://rb.example/p99", "dashboard_url": "http://dash.example/f"},
            '<a href="http://dash.example/f">Open dashboard</a> · '
            '<a href="https://rb.example/p99">Runbook</a>',
        ),
        (
            {"dashboard_url": "http://dash.example/f"},
            '<a href="http://dash.example/f">Open dashboard</a>',
        ),
    ],
    ids=["runbook-only", "both", "dashboard-only"],
)
def test_the_link_line_separates_only_two_links(annotations: dict[str, str], expected: str) -> None:
    assert _link_line(_html(annotations)) == expected
