"""The process is SIGKILLed mid-send and restarted: nothing is lost, duplicates share the key."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock

from .conftest import T0, Receiver, firing, resolved
from .test_pager import pager_routing

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_mid_send_then_restarted(receiver: Receiver, tmp_path: Path, when: str) -> None:
    db = str(tmp_path / "alerts.db")
    routing = pager_routing(receiver.url)
    child = subprocess.run(
        [sys.executable, "-m", "tests.alerting.crash_child", db, receiver.url, routing, when],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    sent_before_crash = len(receiver.bodies)
    assert sent_before_crash == (1 if when == "after" else 0)

    clock = FakeClock(T0 + timedelta(seconds=30))
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=receiver.url), env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": "k-123456"}
    )
    d = Dispatcher(parse_routing(routing), {"pager": pager}, db, clock)
    (row,) = d.outbox.rows()
    assert row.status == "pending" and row.attempts == 1  # claimed, never marked sent
    a = firing(severity="critical")
    for _ in range(5):  # the rules engine keeps reporting the alert after restart
        d([a], clock.advance(minutes=1))
    triggers = [b for b in receiver.bodies if b["event_action"] == "trigger"]
    assert len(triggers) == sent_before_crash + 1  # delivered; at most one duplicate
    assert len({b["dedup_key"] for b in triggers}) == 1
    assert d.outbox.counts() == {"sent": 1}
    d([resolved(a, clock.now())], clock.advance(minutes=1))
    d([], clock.advance(minutes=1))
    assert receiver.bodies[-1]["event_action"] == "resolve"
    assert receiver.bodies[-1]["dedup_key"] == triggers[0]["dedup_key"]
