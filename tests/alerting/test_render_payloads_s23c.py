"""QA pass: unusual label values in email, Slack, PagerDuty and webhook output."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest

from modelhealth.alerting.notifiers.base import NotificationBatch
from modelhealth.alerting.notifiers.email import EmailConfig, EmailNotifier, SmtpSettings
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.notifiers.slack import SlackConfig, SlackNotifier
from modelhealth.alerting.notifiers.webhook import WebhookNotifier

AT = "2026-03-01T12:00:00+00:00"


def _batch(model: str, summary: str = "", *, resolved: bool = False) -> NotificationBatch:
    labels = {"alertname": "p99", "model": model, "severity": "critical"}
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": summary or f"p99 of {model} is high"},
        "fired_at": AT,
        "active_at": AT,
        "resolved_at": AT if resolved else None,
        "fingerprint": "f" * 16,
        "value": 1.0,
    }
    status = "resolved" if resolved else "firing"
    return NotificationBatch(
        receiver="r", group_key="k", dedup_key="d" * 32, status=status, reason="new_alerts",
        group_labels={"model": model}, alerts=[alert], created_at=AT,
    )  # fmt: skip


def _mail(batch: NotificationBatch) -> email.message.EmailMessage:
    msg = EmailNotifier(EmailConfig(to=("a@example.com",)), SmtpSettings()).render(batch)
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def test_line_break_in_a_label_does_not_make_the_email_unsendable() -> None:
    # before: ValueError "Header values may not contain linefeed or carriage return
    # characters" -> notify() returned a permanent "cannot render email"
    back = _mail(_batch("fraud\r\nBcc: victim@example.com"))
    want = "[modelhealth] [FIRING:1] p99 fraud Bcc: victim@example.com (critical)"
    assert back["Subject"] == want
    assert back["Bcc"] is None


@pytest.mark.parametrize("model", ["ünïcødé-模型-🚨", "x" * 3000, "é" * 3000])
def test_unicode_and_long_subjects_fold_and_round_trip(model: str) -> None:
    batch = _batch(model)
    raw = EmailNotifier(EmailConfig(to=("a@example.com",)), SmtpSettings()).render(batch)
    assert max(len(line) for line in raw.as_bytes().splitlines()) <= 998  # RFC 5322
    got, full = _mail(batch)["Subject"], "[modelhealth] " + batch.title
    if len(full) <= 200:
        assert got == full
    else:  # cut to 200 characters, keeping its severity (the full title is in the body)
        assert len(got) <= 200 and got.endswith("… (critical)") and got.startswith(full[:100])


def test_html_special_characters_are_escaped_in_the_email_html() -> None:
    back = _mail(_batch("<script>x</script>", summary="a < b & c"))
    html = back.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "a &lt; b &amp; c" in html


def test_slack_escapes_control_characters_in_label_values() -> None:
    batch = _batch("a<b>&c", summary="p99 high <!channel> see <https://evil.example|docs>")
    msg = SlackNotifier(SlackConfig(url="http://127.0.0.1:9/s")).payload(batch)
    att = msg["attachments"][0]
    # before: "<!channel>" pinged the whole channel and "<https://...|docs>" was a link
    assert "<!channel>" not in att["text"] and "&lt;!channel&gt;" in att["text"]
    assert "&lt;https://evil.example|docs&gt;" in att["text"]
    assert msg["text"] == "[FIRING:1] p99 a&lt;b&gt;&amp;c (critical)" == att["title"]
    resolved = SlackNotifier(SlackConfig(url="http://x/y")).payload(_batch("<m>", resolved=True))
    assert "p99 on &lt;m&gt; resolved" in resolved["attachments"][0]["text"]


def test_slack_links_stay_links() -> None:
    batch = _batch("m", summary="s")
    batch.alerts[0]["annotations"]["runbook_url"] = "https://wiki.example/rb?a=1&b=2"
    msg = SlackNotifier(SlackConfig(url="http://x/y")).payload(batch)
    assert "<https://wiki.example/rb?a=1&b=2|Runbook>" in msg["attachments"][0]["text"]


def test_pagerduty_limits() -> None:
    batch = _batch("m" * 3000, summary="s" * 5000)
    env = {"MODELHEALTH_PAGERDUTY_ROUTING_KEY": "k"}
    event = PagerDutyNotifier(PagerDutyConfig(), env=env).payload(batch)
    assert len(event["payload"]["summary"]) == 1024  # Events v2: summary at most 1024
    assert len(event["dedup_key"]) <= 255  # Events v2: dedup_key at most 255


def test_webhook_matches_alertmanager_shape() -> None:
    body = WebhookNotifier.payload(_batch("m"))
    assert body["version"] == "4" and body["truncatedAlerts"] == 0
    for key in ("groupKey", "status", "receiver", "groupLabels", "commonLabels",
                "commonAnnotations", "externalURL", "alerts"):  # fmt: skip
        assert key in body
    alert = body["alerts"][0]
    # before: "endsAt": None, which Alertmanager never sends (Go's zero time instead)
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["startsAt"] == AT and alert["status"] == "firing"
    done = WebhookNotifier.payload(_batch("m", resolved=True))["alerts"][0]
    assert done["endsAt"] == AT and done["status"] == "resolved"
