"""E-mail subjects built from label values, sent through a real SMTP server on loopback: cut
to a readable length on a character boundary, validly encoded, and never more than one
header."""

from __future__ import annotations

import email
import email.policy
import unicodedata
from typing import Any

import pytest

from modelhealth.alerting.mailbox import LocalMailbox
from modelhealth.alerting.notifiers.base import NotificationBatch
from modelhealth.alerting.notifiers.email import EmailConfig, EmailNotifier, SmtpSettings

AT = "2026-03-01T12:00:00+00:00"
PREFIX = "[modelhealth] "


def _batch(model: str) -> NotificationBatch:
    alert: dict[str, Any] = {
        "labels": {"alertname": "p99", "model": model, "severity": "critical"},
        "annotations": {"summary": f"p99 of {model} is high"},
        "fired_at": AT,
        "active_at": AT,
        "resolved_at": None,
        "fingerprint": "f" * 16,
        "value": 1.0,
    }
    return NotificationBatch(
        receiver="mail", group_key="k", dedup_key="d" * 32, status="firing", reason="new_alerts",
        group_labels={"model": model}, alerts=[alert], created_at=AT,
    )  # fmt: skip


def _send(mailbox: LocalMailbox, model: str) -> tuple[email.message.EmailMessage, bytes]:
    """Send one alert on ``model`` to ``mailbox``; the message as received, and its bytes."""
    smtp = SmtpSettings(host="127.0.0.1", port=mailbox.port, timeout=5)
    outcome = EmailNotifier(EmailConfig(to=("oncall@example.com",)), smtp).notify(_batch(model))
    assert outcome.ok, outcome.reason
    (path,) = mailbox.paths()
    raw = path.read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg, raw


def _headers(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]


@pytest.mark.parametrize(
    "model",
    ["x" * 3000, "é" * 3000, "模型" * 1500, "🚨" * 3000, "👩‍👩‍👧" * 1000],
    ids=["ascii", "latin", "cjk", "emoji", "zwj-emoji"],
)
def test_a_long_subject_is_cut_to_200_characters_keeping_its_severity(
    mailbox: LocalMailbox, model: str
) -> None:
    """A subject longer than 200 characters is cut with an ellipsis before its severity,
    and its encoded header is valid: ASCII only, lines within RFC 5322's 998, no defects."""
    msg, raw = _send(mailbox, model)
    subject = msg["Subject"]
    assert len(subject) <= 200
    assert subject.startswith(PREFIX + "[FIRING:1] p99 " + model[:50])
    assert subject.endswith("… (critical)")
    assert not msg["Subject"].defects
    head = _headers(raw)
    assert head.isascii()
    assert max(len(line) for line in raw.splitlines()) <= 998
    assert sum(line.lower().startswith(b"subject:") for line in head.splitlines()) == 1
    full = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"[FIRING:1] p99 {model} (critical)" in full  # the whole title stays in the body


def test_the_cut_never_splits_a_letter_from_its_accent(mailbox: LocalMailbox) -> None:
    """Decomposed accents (``e`` + U+0301) stay with their letter where the subject is cut."""
    msg, _ = _send(mailbox, "e\u0301" * 500)
    head = msg["Subject"].split("…")[0]
    assert unicodedata.combining(head[-1])  # ends on an accent, not on a bare "e"


def test_a_subject_within_the_limit_is_unchanged(mailbox: LocalMailbox) -> None:
    """A subject of at most 200 characters is sent as it is."""
    msg, _ = _send(mailbox, "fraud-ü")
    assert msg["Subject"] == PREFIX + "[FIRING:1] p99 fraud-ü (critical)"


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r", "\u2028", "\x85", "\x0b", "\x0c", "\t"])
def test_no_label_value_can_add_a_header(mailbox: LocalMailbox, brk: str) -> None:
    """A line break of any kind in a label value becomes a space in the subject: the message
    is sent, with no header of the value's making."""
    msg, raw = _send(mailbox, f"fraud{brk}Bcc: victim@example.com{brk}X-Evil: 1")
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert (
        msg["Subject"]
        == PREFIX + "[FIRING:1] p99 fraud Bcc: victim@example.com X-Evil: 1 (critical)"
    )
    assert b"victim" not in raw.split(b"Subject:", 1)[0]
