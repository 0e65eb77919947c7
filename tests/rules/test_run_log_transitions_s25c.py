"""``rules run`` logs an alert when it starts firing and when it resolves, and one summary
line per tick; it printed every firing alert again at every tick, so a daemon with alerts
open for days flooded its log with identical lines and buried the changes.
``rules eval`` (one tick) still prints every alert it found."""

from __future__ import annotations

import logging
import signal
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.rules.cli import rules_main
from modelhealth.types import Alert, AlertState
from tests.conftest import T0
from tests.rules.test_run_daemon import LOUD, QUIET, _metric, _rules_run, _until, write_live_store


def _alert(state: AlertState = AlertState.FIRING, **labels: str) -> Alert:
    return Alert(
        labels={"alertname": "p99", "model": "fraud", "severity": "warning", **labels},
        annotations={"summary": "p99 high"},
        state=state,
        value=1.0,
        active_at=T0,
        fired_at=T0 if state is AlertState.FIRING else None,
    )


def test_a_firing_alert_is_named_once_then_its_resolve() -> None:
    from modelhealth.rules.ticklog import Transitions

    log = Transitions()
    a, b = _alert(feature="x"), _alert(feature="y")
    assert log.changed([a]) == [a]  # starts firing
    assert log.changed([a]) == []  # re-reported: nothing new
    assert log.changed([a, b]) == [b]
    gone = replace(a, state=AlertState.INACTIVE, resolved_at=T0 + timedelta(minutes=5))
    assert log.changed([gone, b]) == [gone]
    assert log.changed([b]) == []
    assert log.changed([a, b]) == [a]  # fires again: named again


def test_an_alert_no_longer_reported_is_named_again_when_it_comes_back() -> None:
    from modelhealth.rules.ticklog import Transitions

    log = Transitions()
    a = _alert()
    assert log.changed([a]) == [a]
    assert log.changed([]) == []
    assert log.changed([a]) == [a]


def test_the_summary_counts_firing_and_pending() -> None:
    from modelhealth.rules.evaluator import TickReport
    from modelhealth.rules.ticklog import pending_count, tick_summary

    report = TickReport(at=T0, evaluated=2, instances=3, queries=4, firing=[_alert()])
    report.errors["fraud/x"] = "boom"
    alerts = [_alert(), _alert(AlertState.PENDING, feature="y")]
    assert tick_summary(report, pending_count(alerts), 0.123) == (
        f"tick {T0.isoformat()}: 2 rules, 3 instances, 4 queries, 1 firing, 1 pending,"
        " 1 errors in 0.12s"
    )


def test_run_prints_a_firing_alert_once_over_its_ticks(
    tmp_path: Path,
    fleet_refs,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = write_live_store(tmp_path / "live.duckdb", fleet_refs)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(LOUD)
    state = tmp_path / "state" / "alerts.json"
    argv = ["run", "--db", str(db), "--state", str(state), "--interval", "1s",
            "--max-ticks", "3", str(rules)]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="modelhealth.rules"):
        assert rules_main(argv) == 0
    out = capsys.readouterr().out
    assert len([ln for ln in out.splitlines() if " FIRING " in ln]) == 1, out
    ticks = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tick ")]
    assert len(ticks) == 3, ticks
    assert all("1 firing, 0 pending, 0 errors" in t for t in ticks), ticks
    # a restart names what is open at its first tick, once
    assert rules_main([*argv[:-2], "2", str(rules)]) == 0
    out = capsys.readouterr().out
    assert len([ln for ln in out.splitlines() if " FIRING " in ln]) == 1, out


def test_eval_still_prints_every_firing_alert(
    tmp_path: Path, fleet_refs, capsys: pytest.CaptureFixture[str]
) -> None:
    db = write_live_store(tmp_path / "live.duckdb", fleet_refs)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(LOUD)
    argv = ["eval", "--db", str(db), "--state", str(tmp_path / "alerts.json"), str(rules)]
    for _ in range(2):
        assert rules_main(argv) == 0
        out = capsys.readouterr().out
        assert len([ln for ln in out.splitlines() if " FIRING " in ln]) == 1, out


def test_a_daemon_logs_firing_and_resolved_once_across_a_reload(tmp_path: Path, fleet_refs) -> None:
    """Over many ticks, a reload and an edit that ends the alert: one FIRING line, one
    RESOLVED line, and the reload does not name the open alert again."""
    db = write_live_store(tmp_path / "live.duckdb", fleet_refs)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(LOUD)
    ticks = "modelhealth_rules_ticks_total"
    with _rules_run(tmp_path, db, rules, "--interval", "1s") as (proc, port):
        _until(lambda: _metric(port, ticks) >= 3, "three ticks")
        proc.send_signal(signal.SIGHUP)  # reload everything: the open alert stays open
        seen = _metric(port, ticks)
        _until(lambda: _metric(port, ticks) >= seen + 2, "two ticks after the reload")
        (rules / "fraud.yaml").write_text(QUIET)  # the alert's condition no longer holds
        firing = 'modelhealth_alerts{severity="warning",state="firing"}'
        _until(lambda: _metric(port, firing) == 0, "the alert to resolve")
        seen = _metric(port, ticks)
        _until(lambda: _metric(port, ticks) >= seen + 2, "two quiet ticks")
    log = (tmp_path / "run.log").read_text()
    assert "reloaded rule files" in log, log[-3000:]
    assert len([ln for ln in log.splitlines() if " FIRING " in ln]) == 1, log[-3000:]
    assert len([ln for ln in log.splitlines() if " RESOLVED " in ln]) == 1, log[-3000:]
    ticks = [ln for ln in log.splitlines() if " INFO tick " in ln]
    assert len(ticks) >= 7, log[-3000:]  # one summary line a tick, no more
    assert "1 firing, 0 pending, 0 errors" in ticks[0], ticks
    assert "0 firing, 0 pending, 0 errors" in ticks[-1], ticks
