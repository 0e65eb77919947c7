"""A RESOLVED mail threads with the FIRING mail it ends, through a real SMTP server.

Each mail had only its own Message-ID (``mh-<outbox row>-<dedup key>``) and no
``In-Reply-To``/``References``, so a mail client showed the RESOLVED follow-up as an
unrelated message, and at 3 a.m. nothing told which FIRING mail it ended.
"""

from __future__ import annotations

from email.message import EmailMessage

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.mailbox import LocalMailbox
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock

from .conftest import firing, resolved
from .test_email import email_notifier

ROUTING = """
route:
  receiver: mail
  group_by: [model]
  group_wait: 30s
  group_interval: 1m
receivers:
  - name: mail
    email: {to: [oncall@example.com], send_resolved: true}
"""


def _refs(msg: EmailMessage) -> set[str]:
    """The Message-IDs a mail refers to (In-Reply-To and References)."""
    text = f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}"
    return set(text.split())


def test_resolved_mail_threads_with_its_firing_mail(
    mailbox: LocalMailbox, clock: FakeClock
) -> None:
    d = Dispatcher(
        parse_routing(ROUTING), {"mail": email_notifier(mailbox.port)}, ":memory:", clock
    )
    drift = firing("feature_drift", feature="amount", value=0.42)
    latency = firing("latency_p99", severity="critical", metric="latency_p99", value=180.0)
    other = firing("feature_drift", model="ranker", feature="q")
    for _ in range(4):
        d([drift, latency, other], clock.advance(seconds=30))
    for _ in range(4):  # one of fraud's alerts ends: an update (one firing, one resolved)
        d([drift, resolved(latency, clock.now()), other], clock.advance(seconds=30))
    for _ in range(4):  # then the other: RESOLVED
        d([resolved(drift, clock.now()), other], clock.advance(seconds=30))
    msgs = mailbox.messages()
    fraud = [m for m in msgs if "fraud" in m["Subject"]]
    (ranker,) = [m for m in msgs if "ranker" in m["Subject"]]
    assert [m["X-Modelhealth-Status"] for m in fraud] == ["firing", "firing", "resolved"]
    first, update, done = fraud
    assert "[RESOLVED:1]" in done["Subject"]
    assert len({m["Message-ID"] for m in msgs}) == len(msgs)  # each mail is its own message
    # the update and the RESOLVED mail name an id the FIRING mail has or names itself
    thread = _refs(first) | {first["Message-ID"]}
    assert _refs(update) & thread, (update["References"], thread)
    assert _refs(done) & thread, (done["References"], thread)
    # another incident is not drawn into fraud's thread
    assert not (_refs(ranker) | {ranker["Message-ID"]}) & (_refs(done) | {done["Message-ID"]})
