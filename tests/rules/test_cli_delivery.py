"""`modelhealth rules eval --once --email-to` hands firing alerts to a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

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


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalMailbox]:
    """A real SMTP server on loopback, and the SMTP settings that point at it."""
    box = LocalMailbox(tmp_path / "mail")
    box.start()
    monkeypatch.setenv("MODELHEALTH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MODELHEALTH_SMTP_PORT", str(box.port))
    try:
        yield box
    finally:
        box.stop()


def test_eval_once_emails_the_firing_alert(
    tmp_path: Path, fleet_refs, monkeypatch, mailbox: LocalMailbox
) -> None:
    db = _fraud_store(tmp_path, fleet_refs, days=0.25)
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


def test_a_silence_added_with_defaults_mutes_what_eval_sends_with_defaults(
    tmp_path: Path, fleet_refs, monkeypatch, mailbox: LocalMailbox
) -> None:
    """`silence add` and `rules run/eval` used to default to different databases, so a
    silence made the way the README shows muted nothing."""
    from modelhealth.alerting.silences import silence_main

    db = _fraud_store(tmp_path, fleet_refs, days=0.25)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELHEALTH_ALERT_DB", raising=False)
    made = FakeClock(T0 - timedelta(minutes=1))  # the evaluation below is --at T0
    assert silence_main(["add", "model=fraud", "--for", "2h", "-c", "v4"], clock=made) == 0
    args = ["eval", "--db", str(db), "--email-to", "o@example.com", "fraud.yaml"]
    args += ["--state", "state/alerts.json"]
    assert rules_main([*args, "--at", T0.isoformat()]) == 0
    assert mailbox.messages() == []  # muted
    assert silence_main(["expire", _only_silence_id()], clock=made) == 0
    assert rules_main([*args, "--at", (T0 + timedelta(minutes=10)).isoformat()]) == 0
    assert len(mailbox.messages()) == 1


def _only_silence_id() -> str:
    from modelhealth.alerting.silences import DEFAULT_DB, SilenceStore

    (silence,) = SilenceStore(DEFAULT_DB).list(T0)
    return silence.id


def test_a_broken_file_is_skipped_and_the_others_still_run(
    tmp_path: Path, fleet_refs, capsys
) -> None:
    db = _fraud_store(tmp_path, fleet_refs, days=0.25)
    (tmp_path / "broken.yaml").write_text("model: search\nrules:\n  - name: x\n    metric: nope\n")
    code = rules_main(["eval", "--db", str(db), "--at", T0.isoformat(), str(tmp_path)])
    out = capsys.readouterr()
    assert "FIRING" in out.out and "version=v3" in out.out  # fraud.yaml still ran
    assert "broken.yaml:4:13" in out.err and "those rules are skipped" in out.err
    assert code == 1  # but the run says something was wrong


def test_command_line_mistakes_are_one_line_errors(tmp_path: Path, fleet_refs, capsys) -> None:
    db = _fraud_store(tmp_path, fleet_refs, days=0.1)
    rules = str(tmp_path / "fraud.yaml")
    typo = tmp_path / "typo.duckdb"
    try:
        rules_main(["run", "--db", str(typo), "--max-ticks", "1", "--state", "s/a.json", rules])
    except SystemExit as exc:
        assert str(exc) == f"rules: no DuckDB database at {typo}"
    else:
        raise AssertionError("a mistyped --db must not become an empty, all-clear store")
    assert not typo.exists()
    cases = {
        ("eval", "--db", str(db), "--at", "yesterday"): "--at 'yesterday': expected an ISO time",
        ("run", "--db", str(db), "--interval", "0s"): "--interval '0s': must be positive",
        ("run", "--db", str(db), "--interval", "1x"): "--interval '1x':",
        ("backtest", "--db", str(db), "--since", "3days"): "--since '3days':",
    }
    for argv, message in cases.items():
        assert rules_main([*argv, rules]) == 2, argv
        assert message in capsys.readouterr().err, argv
    # a time without a zone is UTC, for backtest as for eval
    assert rules_main(["backtest", "--db", str(db), "--until", "2026-03-01T12:00", rules]) == 0


def test_missing_or_bad_receiver_settings_are_reported_at_start(
    tmp_path: Path, fleet_refs, monkeypatch, caplog
) -> None:
    db = _fraud_store(tmp_path, fleet_refs, days=0.1)
    args = ["eval", "--db", str(db), "--email-to", "o@example.com", str(tmp_path / "fraud.yaml")]
    args += ["--alerts-db", str(tmp_path / "a.db"), "--at", (T0 - timedelta(hours=6)).isoformat()]
    monkeypatch.delenv("MODELHEALTH_PAGERDUTY_ROUTING_KEY", raising=False)
    assert rules_main(args) == 0
    assert "receiver pager cannot deliver: set $MODELHEALTH_PAGERDUTY_ROUTING_KEY" in caplog.text
    monkeypatch.setenv("MODELHEALTH_SMTP_PORT", "25x")
    try:
        rules_main(args)
    except SystemExit as exc:
        assert "MODELHEALTH_SMTP_PORT must be a port number, got '25x'" in str(exc)
    else:
        raise AssertionError("a bad SMTP port must stop the command with its reason")


def test_an_unreadable_state_file_stops_with_what_to_do(tmp_path: Path, fleet_refs) -> None:
    db = _fraud_store(tmp_path, fleet_refs, days=0.1)
    state = tmp_path / "alerts.json"
    state.write_text("[{")
    try:
        rules_main(["eval", "--db", str(db), "--state", str(state), str(tmp_path / "fraud.yaml")])
    except SystemExit as exc:
        assert f"alert state {state} is unreadable" in str(exc) and "move it away" in str(exc)
    else:
        raise AssertionError("a corrupt state file must stop the command with its reason")


def test_a_rule_that_matches_no_data_is_pointed_out(tmp_path: Path, fleet_refs, capsys) -> None:
    """A misspelt model or feature used to give 0 instances, exit 0 and no word about it."""
    db = _fraud_store(tmp_path, fleet_refs, days=0.1)
    (tmp_path / "typo.yaml").write_text(RULES.replace("model: fraud", "model: fruad"))
    assert rules_main(["eval", "--db", str(db), "--at", T0.isoformat(), str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "note: model fruad has no rows in the store: 1 rule(s) have nothing to judge" in err
    assert "check the model name" in err
    assert "fraud/p99-latency" not in err.replace("fruad/p99-latency", "")


def test_eval_shows_pending_alerts_and_why_they_never_fire_without_state(
    tmp_path: Path, fleet_refs, capsys
) -> None:
    """The README's eval without --state printed "0 firing" at every call: each call forgot
    the last, so a rule with for: stayed pending, and pending alerts were not printed."""
    db = _fraud_store(tmp_path, fleet_refs, days=0.25)
    (tmp_path / "fraud.yaml").write_text(RULES.replace("severity: warning", "for: 10m"))
    args = ["eval", "--db", str(db), str(tmp_path / "fraud.yaml")]
    for minute in (0, 15):
        at = (T0 + timedelta(minutes=minute - 30)).isoformat()
        assert rules_main([*args, "--at", at]) == 0
        captured = capsys.readouterr()
        assert "0 firing, 1 pending" in captured.out
        assert "pending: alertname=p99-latency" in captured.out and "version=v3" in captured.out
        assert "without --state FILE each eval starts afresh" in captured.err
    state = ["--state", str(tmp_path / "s" / "alerts.json")]
    for minute in (0, 15):
        at = (T0 + timedelta(minutes=minute - 30)).isoformat()
        assert rules_main([*args, *state, "--at", at]) == 0
    out = capsys.readouterr().out
    assert "1 firing, 0 pending" in out and "FIRING" in out


def test_eval_once_delivers_through_a_child_route_that_waits_longer_than_the_root(
    tmp_path: Path, fleet_refs, monkeypatch, mailbox: LocalMailbox
) -> None:
    """A one-shot eval flushed after the root route's group_wait only: a child route with a
    longer one (2m here) never delivered in that run."""
    db = _fraud_store(tmp_path, fleet_refs, days=0.25)
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "route:\n  receiver: mail\n  group_wait: 10s\n  routes:\n"
        "    - matchers: [model=fraud]\n      receiver: mail\n      group_wait: 2m\n"
        "receivers:\n  - name: mail\n    email:\n      to: [oncall@example.com]\n"
    )
    code = rules_main(
        ["eval", "--db", str(db), "--at", T0.isoformat(), "--routing", str(routing),
         "--state", str(tmp_path / "state" / "alerts.json"), str(tmp_path / "fraud.yaml")]
    )  # fmt: skip
    mails = mailbox.messages()
    assert code == 0 and len(mails) == 1


def test_the_pinot_backend_defaults_to_the_local_broker() -> None:
    """`--backend pinot` without `--broker` refused to run, though the store (and the
    README's services) default to the local broker."""
    import argparse

    from modelhealth.rules.cli import open_store
    from modelhealth.services import ports

    store = open_store(argparse.Namespace(backend="pinot", db=None, broker=None))
    try:
        assert store.broker_url == ports.PINOT_BROKER_URL
    finally:
        store.close()
