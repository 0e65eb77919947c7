"""`modelhealth rules eval --once --email-to` hands firing alerts to a real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from modelhealth.alerting.mailbox import LocalMailbox
from modelhealth.clock import FakeClock
from modelhealth.demo.fleet import fleet
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor
from modelhealth.rules.cli import rules_main
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0

RULES = """
model: fraud
owners: [fraud-oncall@example.com]
rules:
  - name: p99-latency
    metric: latency.p99
    window: 30m
    group_by: [version]
    detector: {type: threshold, above: 100}
    severity: warning
"""


def _fraud_store(tmp_path: Path, fleet_refs, days: float) -> Path:
    """A DuckDB file with ``days`` of the demo's fraud traffic up to T0, and the rule file."""
    db = tmp_path / "h.duckdb"
    store = DuckDBStore(db)
    monitor = Monitor(DuckDBSink(store), fleet_refs, clock=FakeClock(T0))
    backfill(monitor, {"fraud": fleet()["fraud"]}, T0, days=days)
    store.close()
    (tmp_path / "fraud.yaml").write_text(RULES)
    return db


def test_eval_once_emails_the_firing_alert(tmp_path: Path, fleet_refs, monkeypatch) -> None:
    db = _fraud_store(tmp_path, fleet_refs, days=0.25)
    mailbox = LocalMailbox(tmp_path / "mail")
    mailbox.start()
    try:
        monkeypatch.setenv("MODELHEALTH_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("MODELHEALTH_SMTP_PORT", str(mailbox.port))
        code = rules_main(
            [
                "eval",
                "--once",
                "--db",
                str(db),
                "--at",
                T0.isoformat(),
                "--state",
                str(tmp_path / "state" / "alerts.json"),
                "--email-to",
                "oncall@example.com",
                str(tmp_path / "fraud.yaml"),
            ]
        )
        assert code == 0
        mails = mailbox.messages()
    finally:
        mailbox.stop()
    assert len(mails) == 1
    assert "p99-latency" in str(mails[0]["Subject"]) and "fraud" in str(mails[0]["Subject"])
    assert mails[0]["To"] == "oncall@example.com"
    assert (tmp_path / "state" / "alerts.db").exists()  # the durable outbox beside the state


def test_eval_without_routing_only_prints(tmp_path: Path, fleet_refs, capsys) -> None:
    db = _fraud_store(tmp_path, fleet_refs, days=0.5)
    state = tmp_path / "state" / "alerts.json"
    args = ["eval", "--once", "--db", str(db), "--state", str(state), str(tmp_path / "fraud.yaml")]
    assert rules_main([*args, "--at", (T0 - timedelta(hours=6)).isoformat()]) == 0
    assert "0 firing" in capsys.readouterr().out  # before the incident
    assert rules_main([*args, "--at", T0.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "FIRING" in out and "version=v3" in out
    assert not (tmp_path / "state" / "alerts.db").exists()  # no routing: nothing queued
