"""A restarted dispatcher resumes its groups exactly: no lost resolve, no duplicate trigger.

The crash tests run the dispatcher in a real child process that SIGKILLs itself, then open a
new Dispatcher on the same SQLite file, as a restarted service would.
"""

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

from .conftest import T0, Receiver, firing
from .test_pager import pager_routing

ROOT = Path(__file__).resolve().parents[2]


def run_child(*args: str) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "tests.alerting.restart_child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def restart(receiver: Receiver, db: str, clock: FakeClock) -> Dispatcher:
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=receiver.url), env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": "k-123456"}
    )
    return Dispatcher(parse_routing(pager_routing(receiver.url)), {"pager": pager}, db, clock)


def actions(receiver: Receiver) -> list[str]:
    return [str(b["event_action"]) for b in receiver.bodies]


def test_resolve_reported_just_before_a_crash_is_sent_once_after_restart(
    receiver: Receiver, tmp_path: Path
) -> None:
    db = str(tmp_path / "alerts.db")
    run_child("resolve", db, receiver.url, pager_routing(receiver.url))
    assert actions(receiver) == ["trigger"]  # the child died holding the resolve

    # Restarted 10s later. The rules engine will not report the alert again: its own state
    # already recorded the resolve, so only the dispatcher's database still knows.
    clock = FakeClock(T0 + timedelta(seconds=60))
    d = restart(receiver, db, clock)
    (group,) = d.groups.values()
    assert [a.is_resolved for a in group.alerts.values()] == [True]
    d([], clock.now())
    assert actions(receiver) == ["trigger"]  # the persisted group_interval timer still runs
    sent_at = None
    for _ in range(12):
        d([], clock.advance(seconds=10))
        if sent_at is None and len(receiver.bodies) == 2:
            sent_at = clock.now()
    assert actions(receiver) == ["trigger", "resolve"]
    assert receiver.bodies[0]["dedup_key"] == receiver.bodies[1]["dedup_key"]
    assert sent_at == T0 + timedelta(seconds=90)  # flushed at T0+30s, group_interval 1m
    assert d.outbox.counts() == {"sent": 2} and d.groups == {}
    d.close()

    d2 = restart(receiver, db, clock)  # a second restart owes nobody anything
    for _ in range(5):
        d2([], clock.advance(minutes=1))
    assert actions(receiver) == ["trigger", "resolve"] and d2.groups == {}


def test_group_wait_timer_survives_a_restart(receiver: Receiver, tmp_path: Path) -> None:
    db = str(tmp_path / "alerts.db")
    clock = FakeClock(T0)
    d = restart(receiver, db, clock)
    a = firing(severity="critical")
    d([a], clock.now())  # group_wait 30s: due at T0+30s
    d.close()  # the process goes away without flushing

    d = restart(receiver, db, clock)
    clock.advance(seconds=20)
    d([a], clock.now())
    assert receiver.bodies == []
    d([a], clock.advance(seconds=10))  # T0+30s: the original timer, not restart + group_wait
    assert actions(receiver) == ["trigger"]
    for _ in range(3):
        d.close()
        d = restart(receiver, db, clock)  # restarts while firing: no duplicate trigger
        for _ in range(5):
            d([a], clock.advance(minutes=1))
    assert actions(receiver) == ["trigger"]


@pytest.mark.parametrize(("every", "duplicates"), [(100, 3), (2, 1)])
def test_killed_before_a_batched_commit_loses_nothing(
    receiver: Receiver, tmp_path: Path, every: int, duplicates: int
) -> None:
    """Outcomes are committed in chunks: dying mid-chunk re-sends that chunk, loses nothing."""
    db = str(tmp_path / "alerts.db")
    run_child("batch", db, receiver.url, pager_routing(receiver.url), "3", str(every))
    assert len(receiver.bodies) == 3  # three pages left the process before it died

    clock = FakeClock(T0 + timedelta(seconds=30))
    d = restart(receiver, db, clock)
    committed = {"sent": 3 - duplicates} if duplicates < 3 else {}
    assert d.outbox.counts() == {**committed, "pending": 2 + duplicates}
    alerts = [firing(severity="critical", model=f"m{i}") for i in range(5)]
    for _ in range(5):
        d(alerts, clock.advance(minutes=1))
    assert d.outbox.counts() == {"sent": 5}
    keys = [b["dedup_key"] for b in receiver.bodies]
    assert len(set(keys)) == 5  # every incident paged
    assert len(keys) == 5 + duplicates  # only the uncommitted chunk was sent twice
    # the duplicates are exactly the sends whose "sent" had not been committed yet
    assert {k for k in keys if keys.count(k) == 2} == set(keys[3 - duplicates : 3])
