"""Email reports through a real aiosmtpd server: one per incident, with inline plots."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from modelhealth.alerting.config import RoutingConfig, parse_routing
from modelhealth.alerting.mailbox import LocalMailbox, free_port
from modelhealth.alerting.notifiers.email import EmailConfig, EmailNotifier, SmtpSettings
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion.reference import build_reference
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

from .conftest import T0, firing, resolved

ROUTING = """
route:
  receiver: mail
  group_by: [model]
  group_wait: 30s
  group_interval: 1m
receivers:
  - name: mail
    email: {to: [oncall@example.com]}
"""


def email_notifier(port: int) -> EmailNotifier:
    env = {
        "MODELHEALTH_SMTP_HOST": "127.0.0.1",
        "MODELHEALTH_SMTP_PORT": str(port),
        "MODELHEALTH_SMTP_FROM": "alerts@example.com",
        "MODELHEALTH_SMTP_TIMEOUT": "2",
    }
    return EmailNotifier(EmailConfig(to=("oncall@example.com",)), SmtpSettings.from_env(env))


def drifted_store(clock: FakeClock):
    rng = np.random.default_rng(0)
    ref = build_reference("fraud", pd.DataFrame({"amount": rng.normal(50, 10, 5000)}))
    store = DuckDBStore(":memory:")
    mon = Monitor(DuckDBSink(store), {"fraud": ref}, clock=clock)
    n = 3000
    start = to_epoch_ms(T0) - 3 * 3600 * 1000
    mon.log_batch(
        model="fraud",
        version="v1",
        features={"amount": rng.normal(70, 10, n)},  # shifted: drift
        score=rng.random(n),
        latency_ms=rng.gamma(2, 10, n),
        ts_ms=np.linspace(start, to_epoch_ms(T0) - 1000, n).astype(np.int64),
    )
    mon.flush()
    return store, ref


def _drift_dispatcher(mailbox: LocalMailbox, clock: FakeClock) -> Dispatcher:
    """Emails to ``mailbox`` about a store whose fraud features drifted (plots have data)."""
    store, ref = drifted_store(clock)
    return Dispatcher(
        parse_routing(ROUTING),
        {"mail": email_notifier(mailbox.port)},
        ":memory:",
        clock,
        store=store,
        references={"fraud": ref},
    )


def test_one_email_per_incident_with_inline_plots(mailbox: LocalMailbox, clock: FakeClock) -> None:
    d = _drift_dispatcher(mailbox, clock)
    alerts = [
        firing("feature_drift", severity="warning", feature="amount", value=0.42),
        firing("feature_drift", severity="warning", feature="country", value=0.25),
        firing("latency_p99", severity="warning", metric="latency_p99", value=180.0),
    ]
    other = firing("feature_drift", model="ranker", severity="warning", feature="q")
    for _ in range(10):
        d([*alerts, other], clock.advance(seconds=30))
    msgs = mailbox.messages()
    assert len(msgs) == 2  # one per incident (model), not one per alert or per tick
    (fraud,) = [m for m in msgs if "fraud" in m["Subject"]]
    assert fraud["Subject"] == "[modelhealth] [FIRING:3] fraud (warning)"
    html = fraud.get_body(("html",)).get_content()
    text = fraud.get_body(("plain",)).get_content()
    for needle in ("amount", "country", "latency_p99", "0.42", "https://runbooks.example/drift"):
        assert needle in html and needle in text
    images = [p for p in fraud.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2  # latency percentiles + amount histogram vs reference
    for img in images:
        cid = img["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        data = img.get_content()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 2_000 < len(data) < 150_000
    # resolved incidents are not re-announced by email (send_resolved defaults to false)
    d([resolved(a, clock.now()) for a in alerts], clock.advance(minutes=1))
    for _ in range(5):
        d([other], clock.advance(minutes=1))
    assert len(mailbox.messages()) == 2


def test_plot_failure_is_not_fatal(mailbox: LocalMailbox, clock: FakeClock) -> None:
    class Broken:
        def latency(self, *a, **k):
            raise RuntimeError("store down")

        def feature_histograms(self, *a, **k):
            raise RuntimeError("store down")

    d = Dispatcher(
        parse_routing(ROUTING),
        {"mail": email_notifier(mailbox.port)},
        ":memory:",
        clock,
        store=Broken(),
    )  # type: ignore[arg-type]
    a = firing(feature="amount")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    (msg,) = mailbox.messages()
    assert "unavailable: store down" in msg.get_body(("html",)).get_content()


def test_smtp_down_then_up_delivers_every_email_once(tmp_path, clock: FakeClock) -> None:
    port = free_port()
    d = Dispatcher(parse_routing(ROUTING), {"mail": email_notifier(port)}, ":memory:", clock)
    models = [f"model_{i}" for i in range(5)]
    alerts = [firing(model=m) for m in models]
    d(alerts, clock.now())
    for _ in range(20):  # SMTP is down for 10 minutes
        d(alerts, clock.advance(seconds=30))
    counts = d.outbox.counts()
    assert counts == {"pending": 5}
    # one outage, one failed attempt per delivery pass: the oldest mail is tried, the other
    # four are deferred with it (not attempted, no attempt counted)
    attempts = [r.attempts for r in d.outbox.rows()]
    attempts_while_down = sum(attempts)
    assert attempts[0] >= 5 and attempts[1:] == [0] * 4, attempts
    assert (
        "Connection" in d.outbox.rows()[0].last_error or "refused" in d.outbox.rows()[0].last_error
    )
    box = LocalMailbox(tmp_path / "mail", port=port).start()  # SMTP comes back
    try:
        for _ in range(30):
            d(alerts, clock.advance(seconds=30))
        subjects = sorted(m["Subject"] for m in box.messages())
        assert subjects == sorted(
            f"[modelhealth] [FIRING:1] feature_drift {m} (warning)" for m in models
        )
        assert d.outbox.counts() == {"sent": 5}
        print(f"SMTP outage: {attempts_while_down} failed attempts, then 5/5 delivered once")
    finally:
        box.stop()


def test_default_routing_email_and_auth_settings_from_env() -> None:
    cfg = RoutingConfig.default(email_to=["x@example.com"])
    s = SmtpSettings.from_env(
        {
            "MODELHEALTH_SMTP_STARTTLS": "true",
            "MODELHEALTH_SMTP_USER": "u",
            "MODELHEALTH_SMTP_PASSWORD": "pw",
        }
    )
    assert (s.port, s.starttls, s.user, s.password) == (587, True, "u", "pw")
    assert SmtpSettings.from_env({"MODELHEALTH_SMTP_SSL": "1"}).port == 465
    assert not cfg.receivers["email"].send_resolved and cfg.receivers["pager"].send_resolved


class _Greylisting:
    """An aiosmtpd handler that answers RCPT with 451 (greylisted) ``times`` times."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.received: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if self.times > 0:
            self.times -= 1
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(envelope.content)
        return "250 OK"


def test_a_greylisted_recipient_is_retried_not_given_up(clock: FakeClock) -> None:
    """451 to RCPT is transient like every 4xx reply; it used to fail the mail for good."""
    from aiosmtpd.controller import Controller

    handler = _Greylisting(times=2)
    server = Controller(handler, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        d = Dispatcher(
            parse_routing(ROUTING), {"mail": email_notifier(server.port)}, ":memory:", clock
        )
        alert = firing()
        d([alert], clock.now())
        for _ in range(20):
            d([alert], clock.advance(seconds=30))
    finally:
        server.stop()
    (row,) = d.outbox.rows()
    assert (row.status, row.attempts) == ("sent", 3)
    assert len(handler.received) == 1 and b"feature_drift" in handler.received[0]


def test_a_grouped_per_feature_incident_email_plots_its_top_feature(
    mailbox: LocalMailbox, clock: FakeClock
) -> None:
    """The rules engine hands one alert per (rule, model) without a ``feature`` label; the
    email looked for that label and so never showed the histogram it promises."""
    from modelhealth.rules.grouping import group_alerts

    d = _drift_dispatcher(mailbox, clock)
    drift = [
        firing("feature_drift", feature="country", value=0.25),
        firing("feature_drift", feature="amount", value=0.42),
    ]
    drift = [replace(a, annotations={**a.annotations, "score": str(a.value)}) for a in drift]
    for _ in range(3):
        d(group_alerts(drift), clock.advance(seconds=30))
    (mail,) = mailbox.messages()
    html = mail.get_body(("html",)).get_content()
    titles = [p["Content-ID"] for p in mail.walk() if p.get_content_type() == "image/png"]
    assert any("hist-fraud-amount" in t for t in titles), titles
    assert "fraud / amount: current vs reference" in html
    assert "Features, most severe first" in html and "Drifted" not in html
    assert str(mail["Date"]).endswith("+0000")  # UTC, not -0000 ("zone unknown")


def test_a_quality_alert_email_names_the_window_it_judged_and_why_it_resolved() -> None:
    """An accuracy alert with label_delay said "since 10:30" for predictions of 07:30-08:30,
    and a not-judged resolve showed only the stale comparison."""
    from modelhealth.alerting.notifiers.base import NotificationBatch
    from modelhealth.alerting.notifiers.email import EmailConfig, EmailNotifier, SmtpSettings

    def alert(resolved: str | None, detail: str) -> dict:
        return {
            "labels": {"alertname": "accuracy-drop", "model": "fraud", "severity": "critical",
                       "metric": "performance.accuracy"},
            "annotations": {"value": "0.45", "threshold": "0.8", "detail": detail,
                            "judged_from": "2026-11-26T07:30:00+00:00",
                            "judged_to": "2026-11-26T08:30:00+00:00"},
            "value": 0.45, "fired_at": "2026-11-26T10:30:00+00:00", "resolved_at": resolved,
            "fingerprint": "f",
        }  # fmt: skip

    batch = NotificationBatch(
        receiver="mail", group_key="g", dedup_key="d", status="resolved", reason="resolved",
        group_labels={"model": "fraud"},
        alerts=[alert("2026-11-26T11:50:00+00:00", "fewer than 20 labels: resolved as not judged")],
        created_at="2026-11-26T11:50:00+00:00",
    )  # fmt: skip
    msg = EmailNotifier(EmailConfig(to=("a@b.c",)), SmtpSettings()).render(batch)
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "judged 2026-11-26" in body and "08:30" in body and "labels are in" in body
        assert "resolved as not judged" in body
